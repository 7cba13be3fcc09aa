// decode.wgsl — reads element i of the bound weight block as f32,
// whatever its stored type. A library fragment: prepended to every kernel
// that reads weights (gram.wgsl, apply.wgsl, unpack.wgsl).
//
// Bindings (group 0):
//   0  `weights`  array<u32>, read-only storage. The tensor's raw
//                 little-endian bytes; a 16-bit type packs two elements per
//                 word, element 2j in the low half. Uploads therefore stay at
//                 2 bytes per weight for F16/BF16.
// Workgroup size: none (no entry point).
// Precision: exact. F32 is bit-cast; BF16 is the high half of an f32 (NaN quieted); F16 is
//   widened exactly by integer operations (subnormals normalized, ±Inf kept,
//   NaN quieted with its payload shifted, as the `half` crate does), so the
//   result is bit-equal to `half`'s conversion (tested).
// DTYPE (pipeline-overridable): 0 = F32, 1 = F16, 2 = BF16.

override DTYPE: u32 = 0u;

@group(0) @binding(0) var<storage, read> weights: array<u32>;

fn f16_bits_to_f32_bits(h: u32) -> u32 {
    let sign = (h & 0x8000u) << 16u;
    let ex = (h >> 10u) & 0x1fu;
    let man = h & 0x3ffu;
    if (ex == 0x1fu) {
        if (man == 0u) {
            return sign | 0x7f800000u;
        }
        return sign | 0x7fc00000u | (man << 13u);
    }
    if (ex != 0u) {
        return sign | ((ex + 112u) << 23u) | (man << 13u);
    }
    if (man == 0u) {
        return sign;
    }
    // Subnormal: man · 2^-24. Move the leading one to bit 10.
    let shift = 10u - firstLeadingBit(man);
    return sign | ((113u - shift) << 23u) | (((man << shift) & 0x3ffu) << 13u);
}

// Element i of the weights, as the bits of an f32.
fn weight_bits(i: u32) -> u32 {
    if (DTYPE == 0u) {
        return weights[i];
    }
    let half = (weights[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
    if (DTYPE == 2u) {
        if ((half & 0x7fffu) > 0x7f80u) {
            return (half | 0x0040u) << 16u; // NaN: quieted, as `half` does
        }
        return half << 16u;
    }
    return f16_bits_to_f32_bits(half);
}

fn weight(i: u32) -> f32 {
    return bitcast<f32>(weight_bits(i));
}
