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
//   tx + 16c); the long side is staged BK = 8 rows at a time in workgroup
//   memory (2 × BK × TILE f32 = 8 KiB, inside WebGPU's 16 KiB minimum).
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

    var acc: array<array<f32, 8>, 8>;
    var a: array<f32, 8>;
    var b: array<f32, 8>;
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
            for (var r = 0u; r < 8u; r = r + 1u) {
                a[r] = sa[kk * TILE + ty + 16u * r];
                b[r] = sb[kk * TILE + tx + 16u * r];
            }
            for (var r = 0u; r < 8u; r = r + 1u) {
                for (var c = 0u; c < 8u; c = c + 1u) {
                    acc[r][c] = fma(a[r], b[c], acc[r][c]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 8u; r = r + 1u) {
        let i = row0 + ty + 16u * r;
        for (var c = 0u; c < 8u; c = c + 1u) {
            let j = col0 + tx + 16u * c;
            if (i < m && j < m) {
                let idx = i * m + j;
                if (gp.accumulate != 0u) {
                    gram[idx] = gram[idx] + acc[r][c];
                } else {
                    gram[idx] = acc[r][c];
                }
            }
        }
    }
}
