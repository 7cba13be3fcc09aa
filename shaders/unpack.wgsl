// unpack.wgsl — writes the f32 bits of every weight element: the check that
// in-shader F16/BF16 decoding is bit-equal to the `half` crate, and a
// diagnostic for a suspect upload. Needs decode.wgsl before it.
//
// Bindings (group 0):
//   0  `weights`  (decode.wgsl)
//   1  `bits`     array<u32>, read-write storage: f32 bits of element i
//   2  `up`       UnpackParams, uniform
// Workgroup size: 256, 1-D; grid 2-D, flattened.
// Precision: exact (integer operations only).

struct UnpackParams {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(1) var<storage, read_write> bits: array<u32>;
@group(0) @binding(2) var<uniform> up: UnpackParams;

@compute @workgroup_size(256)
fn unpack(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if (i < up.n) {
        bits[i] = weight_bits(i);
    }
}
