//! Loading: safetensors files, sharded indexes, dtype decoding, and the
//! tensor → matrix rules. Everything here reads; nothing computes spectra.

mod checkpoint;
mod dtype;
mod error;
mod file;
mod index;
mod matrix;
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
pub use size::{
    MAX_MATRICES_PER_TENSOR, MAX_VIEWS_PER_MATRIX, MIN_EXPERT_ELEMENTS, SizeError, byte_len, numel,
    plan_counts,
};
pub use write::{TensorOut, write_safetensors};
