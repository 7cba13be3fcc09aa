//! Loading: safetensors files, sharded indexes, tensors already in memory
//! (`memory`), dtype decoding, the tensor → matrix rules, and the value
//! ranges and quantization grids of a matrix's weights (`quant`).
//! Everything here reads; nothing computes spectra.

mod checkpoint;
mod dtype;
mod error;
mod file;
pub mod guard;
mod index;
mod matrix;
mod memory;
pub mod quant;
mod size;
mod write;

pub use checkpoint::{Checkpoint, OpenOptions, Tensor, natural_cmp};
pub use dtype::{DType, SUPPORTED, decode};
pub use error::LoadError;
pub use file::{SafetensorsFile, TensorHeader};
pub use index::{Index, MAX_INDEX_BYTES};
pub use matrix::{
    CONV_POOLED_SCALE, ConvMode, MatrixData, MatrixSpec, RuleKind, TensorPlan, View, is_conv1d,
    plan_tensor,
};
pub use memory::{BufferTensor, TensorBuffer};
pub use size::{
    MAX_MATRICES_PER_TENSOR, MAX_VIEWS_PER_MATRIX, MIN_EXPERT_ELEMENTS, SizeError, byte_len, numel,
    plan_counts,
};
pub use write::{EncodeError, TensorOut, write_safetensors};
