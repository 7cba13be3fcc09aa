//! Writing safetensors files: fixtures, and snapshots of simulated
//! training runs. Encodes f64 values into the requested float dtype.

use super::dtype::DType;
use half::{bf16, f16};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// A tensor to write: values in row-major order, stored as `dtype`.
#[derive(Debug, Clone)]
pub struct TensorOut {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Why values cannot be encoded as a tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("tensor `{tensor}`: cannot encode dtype {dtype}; supported: F16, BF16, F32, F64")]
    Dtype { tensor: String, dtype: String },
    #[error("tensor `{tensor}`: {values} values for shape {shape:?}, which holds {expected}")]
    Count {
        tensor: String,
        values: usize,
        shape: Vec<usize>,
        expected: String,
    },
}

impl TensorOut {
    /// Encodes `values` (row-major, `shape.product()` of them) as `dtype`,
    /// one of the float types; rounding is to nearest. Any other dtype, or
    /// a value count that does not fill the shape, is an error.
    pub fn from_f64(
        name: &str,
        dtype: DType,
        shape: &[usize],
        values: &[f64],
    ) -> Result<TensorOut, EncodeError> {
        let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if expected != Some(values.len()) {
            return Err(EncodeError::Count {
                tensor: name.to_string(),
                values: values.len(),
                shape: shape.to_vec(),
                expected: expected.map_or("more than usize::MAX".into(), |e| e.to_string()),
            });
        }
        let data: Vec<u8> = match dtype {
            DType::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F32 => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            DType::F16 => values
                .iter()
                .flat_map(|&v| f16::from_f64(v).to_le_bytes())
                .collect(),
            DType::BF16 => values
                .iter()
                .flat_map(|&v| bf16::from_f64(v).to_le_bytes())
                .collect(),
            DType::Other { .. } => {
                return Err(EncodeError::Dtype {
                    tensor: name.to_string(),
                    dtype: dtype.to_string(),
                });
            }
        };
        Ok(TensorOut {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        })
    }

    /// A tensor of raw little-endian bytes of any dtype the format knows.
    pub fn raw(name: &str, dtype: &str, shape: &[usize], data: Vec<u8>) -> TensorOut {
        TensorOut {
            name: name.to_string(),
            dtype: DType::parse(dtype),
            shape: shape.to_vec(),
            data,
        }
    }
}

impl safetensors::View for &TensorOut {
    fn dtype(&self) -> safetensors::Dtype {
        serde_json::from_value(serde_json::Value::String(self.dtype.to_string()))
            .expect("a dtype the safetensors format knows")
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` (and string metadata) to `path` in safetensors format.
/// The bytes depend only on the arguments: the metadata keys are written
/// sorted (the safetensors crate emits them in `HashMap` order, which
/// differs from one process to the next).
pub fn write_safetensors(
    path: &Path,
    tensors: &[TensorOut],
    metadata: &[(&str, String)],
) -> Result<(), safetensors::SafeTensorError> {
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let meta = if meta.is_empty() { None } else { Some(meta) };
    let mut bytes = safetensors::serialize(tensors.iter().map(|t| (t.name.as_str(), t)), meta)?;
    sort_metadata_keys(&mut bytes)?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Rewrites the header's `__metadata__` object with its keys sorted. Same
/// keys and values in compact JSON, so the header keeps its length and
/// padding and the data offsets stay valid.
fn sort_metadata_keys(bytes: &mut [u8]) -> Result<(), safetensors::SafeTensorError> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length")) as usize;
    let header = &bytes[8..8 + n];
    let text = std::str::from_utf8(header).expect("the crate writes UTF-8 JSON");
    let trimmed = text.trim_end_matches(' ');
    let mut value: serde_json::Value = serde_json::from_str(trimmed)?;
    let Some(serde_json::Value::Object(meta)) = value.get_mut("__metadata__") else {
        return Ok(());
    };
    meta.sort_keys();
    let sorted = serde_json::to_string(&value)?;
    assert_eq!(
        sorted.len(),
        trimmed.len(),
        "reordering keeps the header length"
    );
    bytes[8..8 + sorted.len()].copy_from_slice(sorted.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two writes in one process use two `HashMap`s with different random
    /// states; with eight keys an unsorted header differs between them
    /// with probability 1 − 1/8! per pair. The files must be identical and
    /// read back with every key.
    #[test]
    fn metadata_order_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let t =
            TensorOut::from_f64("w", DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!(TensorOut::from_f64("w", DType::F32, &[2, 3], &[1.0]).is_err());
        assert!(TensorOut::from_f64("w", DType::parse("I8"), &[1], &[1.0]).is_err());
        let meta: Vec<(&str, String)> = [
            "step", "tokens", "lr_sum", "a", "b", "seed", "model", "format",
        ]
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, format!("value-{i}")))
        .collect();
        let mut files = Vec::new();
        for i in 0..4 {
            let p = dir.path().join(format!("{i}.safetensors"));
            write_safetensors(&p, std::slice::from_ref(&t), &meta).unwrap();
            files.push(std::fs::read(&p).unwrap());
        }
        assert!(files.windows(2).all(|w| w[0] == w[1]));
        let f = crate::load::SafetensorsFile::open(&dir.path().join("0.safetensors")).unwrap();
        assert_eq!(f.metadata.len(), 8);
        assert_eq!(f.metadata["lr_sum"], "value-2");
        assert_eq!(f.tensors[0].shape, vec![2, 3]);
    }
}
