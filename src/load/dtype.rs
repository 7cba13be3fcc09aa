//! Element types of a safetensors tensor and their decoding to f64.
//!
//! Owns the byte → float conversion (little-endian, unaligned input allowed).
//! Knows nothing of files or matrices.

use half::{bf16, f16, slice::HalfFloatSliceExt};
use serde::Serialize;
use std::fmt;

/// A tensor's element type as written in the header. Only the four float
/// types can be decoded; every other type is carried by name so that
/// `inspect` can list it and `analyze` can say why it skipped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    /// Any other type: integers, booleans, 8/6/4-bit floats, complex, or an
    /// unknown string. `bits` is known for types the safetensors crate knows.
    Other {
        name: String,
        bits: Option<usize>,
    },
}

impl From<DType> for String {
    fn from(d: DType) -> String {
        d.to_string()
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DType::F64 => f.write_str("F64"),
            DType::F32 => f.write_str("F32"),
            DType::F16 => f.write_str("F16"),
            DType::BF16 => f.write_str("BF16"),
            DType::Other { name, .. } => f.write_str(name),
        }
    }
}

/// The types `analyze` decodes, for error messages.
pub const SUPPORTED: &str = "F16, BF16, F32, F64";

impl DType {
    /// Parses a header dtype string. Unknown strings are kept as `Other`.
    pub fn parse(s: &str) -> DType {
        match s {
            "F64" => DType::F64,
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            other => {
                let bits = serde_json::from_value::<safetensors::Dtype>(serde_json::Value::String(
                    other.to_string(),
                ))
                .ok()
                .map(|d| d.bitsize());
                DType::Other {
                    name: other.to_string(),
                    bits,
                }
            }
        }
    }

    pub fn from_safetensors(d: safetensors::Dtype) -> DType {
        DType::parse(&d.to_string())
    }

    /// Size of one element in bits, when known.
    pub fn bits(&self) -> Option<usize> {
        match self {
            DType::F64 => Some(64),
            DType::F32 => Some(32),
            DType::F16 | DType::BF16 => Some(16),
            DType::Other { bits, .. } => *bits,
        }
    }

    /// Bytes per element for the decodable types.
    pub fn size(&self) -> Option<usize> {
        match self {
            DType::F64 => Some(8),
            DType::F32 => Some(4),
            DType::F16 | DType::BF16 => Some(2),
            DType::Other { .. } => None,
        }
    }

    pub fn is_supported(&self) -> bool {
        self.size().is_some()
    }

    /// Integer and boolean tensors hold ids, masks or packed codes, not
    /// weights: `analyze` skips them without counting a failure. Floating
    /// types it cannot decode (8/6/4-bit floats, complex, unknown) are
    /// weights it could not analyse, which is a failure.
    pub fn is_non_float(&self) -> bool {
        match self {
            DType::Other { name, .. } => {
                name == "BOOL" || name.starts_with('I') || name.starts_with('U')
            }
            _ => false,
        }
    }
}

/// Decodes `out.len()` elements, starting at element `start` and `stride`
/// elements apart, from little-endian `bytes` of type `dtype` into f64.
/// Returns the number of non-finite values met. `bytes` need not be aligned.
///
/// Panics only on a programming error (a range outside `bytes`); callers
/// check ranges against the header first.
pub fn decode(bytes: &[u8], dtype: &DType, start: usize, stride: usize, out: &mut [f64]) -> usize {
    let size = dtype.size().expect("decode called on an unsupported dtype");
    let n = out.len();
    if n == 0 {
        return 0;
    }
    if stride == 1 {
        let src = &bytes[start * size..(start + n) * size];
        decode_contiguous(src, dtype, out);
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            let at = (start + i * stride) * size;
            *o = decode_one(&bytes[at..at + size], dtype);
        }
    }
    out.iter().filter(|v| !v.is_finite()).count()
}

fn decode_one(b: &[u8], dtype: &DType) -> f64 {
    match dtype {
        DType::F64 => f64::from_le_bytes(b.try_into().unwrap()),
        DType::F32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        DType::F16 => f16::from_bits(u16::from_le_bytes(b.try_into().unwrap())).to_f64(),
        DType::BF16 => bf16::from_bits(u16::from_le_bytes(b.try_into().unwrap())).to_f64(),
        DType::Other { .. } => unreachable!(),
    }
}

fn decode_contiguous(src: &[u8], dtype: &DType, out: &mut [f64]) {
    match dtype {
        DType::F64 => {
            for (o, c) in out.iter_mut().zip(src.chunks_exact(8)) {
                *o = f64::from_le_bytes(c.try_into().unwrap());
            }
        }
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes(c.try_into().unwrap()) as f64;
            }
        }
        DType::F16 | DType::BF16 => {
            // half's slice conversions want aligned 16-bit words; the data
            // section of a safetensors file need not be aligned, so copy
            // through an aligned buffer when the cast is refused.
            let owned;
            let words: &[u16] = match bytemuck::try_cast_slice::<u8, u16>(src) {
                Ok(w) if cfg!(target_endian = "little") => w,
                _ => {
                    owned = src
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect::<Vec<u16>>();
                    &owned
                }
            };
            if *dtype == DType::F16 {
                let h: &[f16] = bytemuck::cast_slice(words);
                h.convert_to_f64_slice(out);
            } else {
                let h: &[bf16] = bytemuck::cast_slice(words);
                h.convert_to_f64_slice(out);
            }
        }
        DType::Other { .. } => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_float_type_unaligned_and_strided() {
        let vals = [1.5f64, -2.25, 0.0, 65504.0, -0.000061035156];
        for dtype in [DType::F64, DType::F32, DType::F16, DType::BF16] {
            let mut bytes = vec![0xAAu8]; // force misalignment
            for v in vals {
                match dtype {
                    DType::F64 => bytes.extend(v.to_le_bytes()),
                    DType::F32 => bytes.extend((v as f32).to_le_bytes()),
                    DType::F16 => bytes.extend(f16::from_f64(v).to_bits().to_le_bytes()),
                    DType::BF16 => bytes.extend(bf16::from_f64(v).to_bits().to_le_bytes()),
                    _ => unreachable!(),
                }
            }
            let expect: Vec<f64> = vals
                .iter()
                .map(|&v| match dtype {
                    DType::F64 => v,
                    DType::F32 => v as f32 as f64,
                    DType::F16 => f16::from_f64(v).to_f64(),
                    DType::BF16 => bf16::from_f64(v).to_f64(),
                    _ => unreachable!(),
                })
                .collect();
            let mut out = vec![0.0; 5];
            assert_eq!(decode(&bytes[1..], &dtype, 0, 1, &mut out), 0);
            assert_eq!(out, expect, "{dtype}");
            let mut strided = vec![0.0; 2];
            decode(&bytes[1..], &dtype, 1, 2, &mut strided);
            assert_eq!(strided, vec![expect[1], expect[3]], "{dtype} strided");
        }
    }

    #[test]
    fn counts_non_finite() {
        let mut bytes = Vec::new();
        for v in [1.0f32, f32::NAN, f32::INFINITY, 2.0] {
            bytes.extend(v.to_le_bytes());
        }
        let mut out = vec![0.0; 4];
        assert_eq!(decode(&bytes, &DType::F32, 0, 1, &mut out), 2);
    }

    #[test]
    fn classifies_types() {
        assert!(DType::parse("BF16").is_supported());
        let i64 = DType::parse("I64");
        assert!(!i64.is_supported() && i64.is_non_float());
        assert_eq!(i64.bits(), Some(64));
        let f8 = DType::parse("F8_E4M3");
        assert!(!f8.is_supported() && !f8.is_non_float());
        assert_eq!(f8.bits(), Some(8));
        let q = DType::parse("Q4_K");
        assert_eq!(q.bits(), None);
        assert!(!q.is_non_float());
    }
}
