//! Loading: safetensors files, sharded indexes, tensors already in memory
//! (`memory`), dtype decoding, the tensor → matrix rules, and the value
//! ranges and quantization grids of a matrix's weights (`quant`).
//! Everything here reads; nothing computes spectra.

mod checkpoint;
mod dtype;
mod error;
mod file;
mod matrix;
mod memory;
pub mod quant;
mod write;

pub use checkpoint::{Checkpoint, Tensor, natural_cmp};
pub use dtype::{DType, SUPPORTED, decode};
pub use error::LoadError;
pub use file::{SafetensorsFile, TensorHeader};
pub use matrix::{
    CONV_POOLED_SCALE, ConvMode, MatrixData, MatrixSpec, RuleKind, TensorPlan, View, is_conv1d,
    plan_tensor,
};
pub use memory::{BufferTensor, TensorBuffer};
pub use write::{EncodeError, TensorOut, write_safetensors};
