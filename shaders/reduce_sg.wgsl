// reduce_sg.wgsl — workgroup sum with subgroup operations: one subgroupAdd
// per subgroup, then the per-subgroup totals summed in subgroup-id order.
// Used only when the adapter offers Features::SUBGROUP. Same interface as
// reduce_wg.wgsl (`Lane`, `wg_sum`, uniform control flow).
//
// Bindings: none.
// Workgroup size: WG = 256 invocations, 1-D (callers must use it).
// Precision: f32; the order of additions inside a subgroup is the
//   hardware's, then sequential over ≤ WG subgroup totals in subgroup-id
//   order, so results are deterministic on one adapter.
// Capabilities: SUBGROUP (subgroupAdd, subgroup_id, num_subgroups).

const WG: u32 = 256u;

struct Lane {
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) n_sg: u32,
}

var<workgroup> red: array<f32, WG>;

fn wg_sum(v: f32, lane: Lane) -> f32 {
    let s = subgroupAdd(v);
    if (lane.sg_lane == 0u) {
        red[lane.sg] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var i = 0u; i < lane.n_sg; i = i + 1u) {
        total = total + red[i];
    }
    workgroupBarrier();
    return total;
}
