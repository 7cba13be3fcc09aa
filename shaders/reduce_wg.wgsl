// reduce_wg.wgsl — workgroup sum through workgroup memory: the reduction
// used when the adapter offers no subgroup operations (and the one the
// fallback test forces). A library fragment with the same interface as
// reduce_sg.wgsl: `Lane` (the entry point's per-invocation builtins) and
// `wg_sum`, which must be called in uniform control flow.
//
// Bindings: none.
// Workgroup size: WG = 256 invocations, 1-D (callers must use it).
// Precision: f32, pairwise tree over the 256 per-invocation values
//   (error ≈ ε·log2(256) relative to Σ|v|), deterministic.

const WG: u32 = 256u;

struct Lane {
    @builtin(local_invocation_index) lid: u32,
}

var<workgroup> red: array<f32, WG>;

fn wg_sum(v: f32, lane: Lane) -> f32 {
    red[lane.lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lane.lid < s) {
            red[lane.lid] = red[lane.lid] + red[lane.lid + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}
