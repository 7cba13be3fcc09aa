// sum.wgsl — elementwise sums: one level of the pairwise tree that combines
// partial Grams (`add_into`), and the sum of a stack of partial vectors
// (`sum_parts`, for the column sums of apply.wgsl).
//
// Bindings (group 0):
//   0  `dst`  array<f32>, read-write storage
//   1  `src`  array<f32>, read-only storage
//   2  `sp`   SumParams, uniform
// Workgroup size: 256, 1-D; the workgroup grid is 2-D and flattened
//   (id = (wid.y·nwg.x + wid.x)·256 + lid) so n may exceed 65535·256.
// Precision: f32. `add_into` adds one partial per element per tree level
//   (pairwise summation over slices); `sum_parts` adds ≤ `parts` values
//   sequentially (parts is small: the row blocks of one apply).

struct SumParams {
    n: u32,
    parts: u32,
    stride: u32,
    accumulate: u32,
    dst_off: u32,
    src_off: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> sp: SumParams;

fn flat_id(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn add_into(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = flat_id(lid, wid, nwg);
    if (i < sp.n) {
        dst[sp.dst_off + i] = dst[sp.dst_off + i] + src[sp.src_off + i];
    }
}

@compute @workgroup_size(256)
fn sum_parts(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = flat_id(lid, wid, nwg);
    if (i < sp.n) {
        var s = 0.0;
        for (var p = 0u; p < sp.parts; p = p + 1u) {
            s = s + src[sp.src_off + p * sp.stride + i];
        }
        if (sp.accumulate != 0u) {
            s = s + dst[sp.dst_off + i];
        }
        dst[sp.dst_off + i] = s;
    }
}
