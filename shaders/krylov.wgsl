// krylov.wgsl — vector operations of the Krylov methods on a basis kept on
// the GPU: classical Gram–Schmidt coefficients and update (applied twice by
// the host for CGS2), the norm, storing a normalized vector, and rotating
// the basis by a small host matrix (thick restart). Needs one of
// reduce_wg.wgsl / reduce_sg.wgsl before it.
//
// Bindings (group 0):
//   0  `basis`  array<f32>, read-write storage: column j at j·n, n = kp.n
//   1  `work`   array<f32>, read-write storage: the vector being
//               orthogonalized (n values)
//   2  `coef`   array<f32>, read-write storage: [0, cap) this pass's
//               coefficients, [cap, 2·cap) their sum over passes, [2·cap]
//               the norm of `work`
//   3  `kp`     KrylovParams, uniform
//   4  `rot`    array<f32>, read-only storage: S, m×k column-major
//   5  `tmp`    array<f32>, read-write storage: k rotated columns
// Workgroup size: 256, 1-D. coeffs: one workgroup per basis column
//   (reduction `wg_sum`); norm: one workgroup; update, store, rotate: one
//   invocation per vector entry (rotate: grid y = output column).
// Precision: f32 storage and arithmetic; dots reduced as in reduce_*.wgsl.

struct KrylovParams {
    n: u32,
    cols: u32,
    cap: u32,
    dst: u32,
    m: u32,
    k: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> basis: array<f32>;
@group(0) @binding(1) var<storage, read_write> work: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef: array<f32>;
@group(0) @binding(3) var<uniform> kp: KrylovParams;
@group(0) @binding(4) var<storage, read> rot: array<f32>;
@group(0) @binding(5) var<storage, read_write> tmp: array<f32>;

// coef[j] = basis_jᵀ work; coef[cap + j] += coef[j]   (j = workgroup)
@compute @workgroup_size(256)
fn coeffs(lane: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = wid.x;
    if (j >= kp.cols) {
        return;
    }
    var s = 0.0;
    for (var i = lane.lid; i < kp.n; i = i + WG) {
        s = fma(basis[j * kp.n + i], work[i], s);
    }
    let h = wg_sum(s, lane);
    if (lane.lid == 0u) {
        coef[j] = h;
        coef[kp.cap + j] = coef[kp.cap + j] + h;
    }
}

// work -= Σ_{j < cols} coef[j]·basis_j
@compute @workgroup_size(256)
fn update(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= kp.n) {
        return;
    }
    var s = 0.0;
    for (var j = 0u; j < kp.cols; j = j + 1u) {
        s = fma(basis[j * kp.n + i], coef[j], s);
    }
    work[i] = work[i] - s;
}

// coef[2·cap] = ‖work‖
@compute @workgroup_size(256)
fn norm(lane: Lane) {
    var s = 0.0;
    for (var i = lane.lid; i < kp.n; i = i + WG) {
        s = fma(work[i], work[i], s);
    }
    let t = wg_sum(s, lane);
    if (lane.lid == 0u) {
        coef[2u * kp.cap] = sqrt(t);
    }
}

// basis_dst = work / ‖work‖ (zero when the norm is zero: a breakdown the
// host sees in the norm and repairs)
@compute @workgroup_size(256)
fn store(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= kp.n) {
        return;
    }
    let nrm = coef[2u * kp.cap];
    var v = 0.0;
    if (nrm > 0.0) {
        v = work[i] / nrm;
    }
    basis[kp.dst * kp.n + i] = v;
}

// tmp_c = Σ_{j < m} S[j][c]·basis_j   (c = grid y < k)
@compute @workgroup_size(256)
fn rotate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let c = gid.y;
    if (i >= kp.n || c >= kp.k) {
        return;
    }
    var s = 0.0;
    for (var j = 0u; j < kp.m; j = j + 1u) {
        s = fma(basis[j * kp.n + i], rot[c * kp.m + j], s);
    }
    tmp[c * kp.n + i] = s;
}
