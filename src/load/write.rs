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

impl TensorOut {
    /// Encodes `values` (row-major, `shape.product()` of them) as `dtype`,
    /// which must be one of the float types; rounding is to nearest.
    pub fn from_f64(name: &str, dtype: DType, shape: &[usize], values: &[f64]) -> TensorOut {
        assert_eq!(
            values.len(),
            shape.iter().product::<usize>(),
            "tensor `{name}`: shape/value count"
        );
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
            DType::Other { .. } => panic!("tensor `{name}`: cannot encode dtype {dtype}"),
        };
        TensorOut {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
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
    safetensors::serialize_to_file(tensors.iter().map(|t| (t.name.as_str(), t)), meta, path)
}
