// gram.wgsl — tiled Gram of one slice of the long side:
//     G (+)= A[k0..k1, :]ᵀ · A[k0..k1, :]
// where A is the weight block in its tall orientation (long side × M).
// Only the lower-triangular TILE×TILE tiles (tile row ≥ tile column) are
// computed; the host reads the lower triangle. Needs decode.wgsl before it.
//
// Bindings (group 0):
//   0  `weights`  (decode.wgsl)
//   1  `gram`     array<f32>, read-write storage: M×M row-major partial Gram
//   2  `gp`       GramParams, uniform
// Workgroup size: 16×16 = 256 invocations per tile; one workgroup per tile
//   of the lower triangle, the tile index flattened over a 2-D grid. Each
//   invocation accumulates an 8×8 register block (rows ty + 16r, columns
//   tx + 16c) in 16 named vec4 accumulators (constant indices only); the
//   long side is staged BK = 8 rows at a time in workgroup memory (2 × BK × TILE f32 = 8 KiB, inside WebGPU's 16 KiB minimum).
// Precision: f32 products, f32 fused multiply-add accumulation over the
//   ≤ k1 − k0 rows of one slice; slices are summed pairwise (sum.wgsl).
// LAYOUT (pipeline-overridable): 0 = A[k][i] at k·ld + i (a tall matrix as
//   stored, rows contiguous); 1 = A[k][i] at i·ld + k (a wide matrix W = Aᵀ
//   as stored, so the long side is contiguous).

override LAYOUT: u32 = 0u;

struct GramParams {
    m: u32,
    k0: u32,
    k1: u32,
    ld: u32,
    accumulate: u32,
    tiles: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(1) var<storage, read_write> gram: array<f32>;
@group(0) @binding(2) var<uniform> gp: GramParams;

const TILE: u32 = 128u;
const BK: u32 = 8u;
const STAGE: u32 = 1024u; // BK × TILE

var<workgroup> sa: array<f32, STAGE>;
var<workgroup> sb: array<f32, STAGE>;

fn a_index(k: u32, i: u32) -> u32 {
    if (LAYOUT == 0u) {
        return k * gp.ld + i;
    }
    return i * gp.ld + k;
}

fn store_one(i: u32, j: u32, v: f32) {
    if (i < gp.m && j < gp.m) {
        let idx = i * gp.m + j;
        if (gp.accumulate != 0u) {
            gram[idx] = gram[idx] + v;
        } else {
            gram[idx] = v;
        }
    }
}

// Row i of the block: columns j0 + 16c, c = 0..7 (lo = c 0..3, hi = 4..7).
fn store_row(i: u32, j0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    store_one(i, j0, lo.x);
    store_one(i, j0 + 16u, lo.y);
    store_one(i, j0 + 32u, lo.z);
    store_one(i, j0 + 48u, lo.w);
    store_one(i, j0 + 64u, hi.x);
    store_one(i, j0 + 80u, hi.y);
    store_one(i, j0 + 96u, hi.z);
    store_one(i, j0 + 112u, hi.w);
}

@compute @workgroup_size(16, 16, 1)
fn gram_tiles(
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= gp.tiles * (gp.tiles + 1u) / 2u) {
        return;
    }
    // t = ti(ti+1)/2 + tj with tj ≤ ti; the float guess is corrected exactly.
    var ti = u32((sqrt(8.0 * f32(t) + 1.0) - 1.0) * 0.5);
    loop {
        if (ti * (ti + 1u) / 2u <= t) { break; }
        ti = ti - 1u;
    }
    loop {
        if ((ti + 1u) * (ti + 2u) / 2u > t) { break; }
        ti = ti + 1u;
    }
    let tj = t - ti * (ti + 1u) / 2u;
    let tx = lid3.x;
    let ty = lid3.y;
    let lid = ty * 16u + tx;
    let row0 = ti * TILE;
    let col0 = tj * TILE;
    let m = gp.m;

    var c0l = vec4<f32>(0.0);
    var c0h = vec4<f32>(0.0);
    var c1l = vec4<f32>(0.0);
    var c1h = vec4<f32>(0.0);
    var c2l = vec4<f32>(0.0);
    var c2h = vec4<f32>(0.0);
    var c3l = vec4<f32>(0.0);
    var c3h = vec4<f32>(0.0);
    var c4l = vec4<f32>(0.0);
    var c4h = vec4<f32>(0.0);
    var c5l = vec4<f32>(0.0);
    var c5h = vec4<f32>(0.0);
    var c6l = vec4<f32>(0.0);
    var c6h = vec4<f32>(0.0);
    var c7l = vec4<f32>(0.0);
    var c7h = vec4<f32>(0.0);
    for (var k = gp.k0; k < gp.k1; k = k + BK) {
        for (var q = 0u; q < 4u; q = q + 1u) {
            let e = lid + q * 256u;
            var kk: u32;
            var ii: u32;
            if (LAYOUT == 0u) {
                kk = e / TILE;
                ii = e % TILE;
            } else {
                kk = e % BK;
                ii = e / BK;
            }
            let kg = k + kk;
            var va = 0.0;
            var vb = 0.0;
            if (kg < gp.k1) {
                if (row0 + ii < m) {
                    va = weight(a_index(kg, row0 + ii));
                }
                if (col0 + ii < m) {
                    vb = weight(a_index(kg, col0 + ii));
                }
            }
            sa[kk * TILE + ii] = va;
            sb[kk * TILE + ii] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            let ka = kk * TILE + ty;
            let kb = kk * TILE + tx;
            let bl = vec4<f32>(sb[kb], sb[kb + 16u], sb[kb + 32u], sb[kb + 48u]);
            let bh = vec4<f32>(sb[kb + 64u], sb[kb + 80u], sb[kb + 96u], sb[kb + 112u]);
            let a0 = vec4<f32>(sa[ka + 0u]);
            c0l = fma(a0, bl, c0l);
            c0h = fma(a0, bh, c0h);
            let a1 = vec4<f32>(sa[ka + 16u]);
            c1l = fma(a1, bl, c1l);
            c1h = fma(a1, bh, c1h);
            let a2 = vec4<f32>(sa[ka + 32u]);
            c2l = fma(a2, bl, c2l);
            c2h = fma(a2, bh, c2h);
            let a3 = vec4<f32>(sa[ka + 48u]);
            c3l = fma(a3, bl, c3l);
            c3h = fma(a3, bh, c3h);
            let a4 = vec4<f32>(sa[ka + 64u]);
            c4l = fma(a4, bl, c4l);
            c4h = fma(a4, bh, c4h);
            let a5 = vec4<f32>(sa[ka + 80u]);
            c5l = fma(a5, bl, c5l);
            c5h = fma(a5, bh, c5h);
            let a6 = vec4<f32>(sa[ka + 96u]);
            c6l = fma(a6, bl, c6l);
            c6h = fma(a6, bh, c6h);
            let a7 = vec4<f32>(sa[ka + 112u]);
            c7l = fma(a7, bl, c7l);
            c7h = fma(a7, bh, c7h);
        }
        workgroupBarrier();
    }
    // Named accumulators (no private arrays), so every index is a
    // compile-time constant and the block stays in registers.
    store_row(row0 + ty + 0u, col0 + tx, c0l, c0h);
    store_row(row0 + ty + 16u, col0 + tx, c1l, c1h);
    store_row(row0 + ty + 32u, col0 + tx, c2l, c2h);
    store_row(row0 + ty + 48u, col0 + tx, c3l, c3h);
    store_row(row0 + ty + 64u, col0 + tx, c4l, c4h);
    store_row(row0 + ty + 80u, col0 + tx, c5l, c5h);
    store_row(row0 + ty + 96u, col0 + tx, c6l, c6h);
    store_row(row0 + ty + 112u, col0 + tx, c7l, c7h);
}
