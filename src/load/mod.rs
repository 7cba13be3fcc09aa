//! Loading: safetensors files, sharded indexes, dtype decoding, and the
//! tensor → matrix rules. Everything here reads; nothing computes spectra.

mod checkpoint;
mod dtype;
mod error;
mod file;
mod matrix;

pub use checkpoint::{natural_cmp, Checkpoint, Tensor};
pub use dtype::{decode, DType, SUPPORTED};
pub use error::LoadError;
pub use file::{SafetensorsFile, TensorHeader};
pub use matrix::{is_conv1d, plan_tensor, ConvMode, MatrixData, MatrixSpec, RuleKind, TensorPlan, View};
