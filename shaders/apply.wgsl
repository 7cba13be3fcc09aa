// apply.wgsl — the two halves of the matrix-free Gram apply x ↦ Wᵀ(W x),
// on a row-major weight block B (R rows × C columns, B[r][c] at r·ld + c):
//   rowdot:  out[r] (+)= Σ_c B[r][c]·in[c]         (B·v, a dot per row)
//   coldot:  part[p][c] = Σ_{r in block p} B[r][c]·in[r]   (Bᵀ·v, partial
//            column sums over row blocks; sum.wgsl `sum_parts` adds them)
// A tall block (A = W rows) applies rowdot then coldot; a wide block (W =
// Aᵀ) applies coldot then rowdot, so every weight is read contiguously.
// Needs decode.wgsl and one of reduce_wg.wgsl / reduce_sg.wgsl before it.
//
// Bindings (group 0):
//   0  `weights`  (decode.wgsl)
//   1  `vin`      array<f32>, read-only storage (input vector at ap.in_off)
//   2  `vout`     array<f32>, read-write storage (output at ap.out_off)
//   3  `ap`       ApplyParams, uniform
// Workgroup size: 256, 1-D. rowdot: one workgroup per row (grid flattened
//   in 2-D), a workgroup reduction (`wg_sum`). coldot: one invocation per
//   column, workgroups (x) over 256 columns and (y) over blocks of
//   `rows_per_part` rows.
// Precision: f32 products and sums; rowdot sums C terms per invocation
//   stride then a tree (reduce_*), coldot sums ≤ rows_per_part terms.

struct ApplyParams {
    rows: u32,
    cols: u32,
    ld: u32,
    in_off: u32,
    out_off: u32,
    accumulate: u32,
    rows_per_part: u32,
    pad0: u32,
}

@group(0) @binding(1) var<storage, read> vin: array<f32>;
@group(0) @binding(2) var<storage, read_write> vout: array<f32>;
@group(0) @binding(3) var<uniform> ap: ApplyParams;

@compute @workgroup_size(256)
fn rowdot(
    lane: Lane,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = wid.y * nwg.x + wid.x;
    if (r >= ap.rows) {
        return;
    }
    var s = 0.0;
    let base = r * ap.ld;
    for (var c = lane.lid; c < ap.cols; c = c + WG) {
        s = fma(weight(base + c), vin[ap.in_off + c], s);
    }
    let total = wg_sum(s, lane);
    if (lane.lid == 0u) {
        if (ap.accumulate != 0u) {
            vout[ap.out_off + r] = vout[ap.out_off + r] + total;
        } else {
            vout[ap.out_off + r] = total;
        }
    }
}

@compute @workgroup_size(256)
fn coldot(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let c = wid.x * 256u + lid;
    if (c >= ap.cols) {
        return;
    }
    let r0 = wid.y * ap.rows_per_part;
    let r1 = min(r0 + ap.rows_per_part, ap.rows);
    var s = 0.0;
    for (var r = r0; r < r1; r = r + 1u) {
        s = fma(weight(r * ap.ld + c), vin[ap.in_off + r], s);
    }
    vout[ap.out_off + wid.y * ap.cols + c] = s;
}
