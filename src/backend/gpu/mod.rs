//! The GPU backend on wgpu: one [`GpuContext`] owns the device, the queue,
//! the compiled pipelines and reusable buffers; [`GpuContext::gram`] forms
//! a Gram for the exact path, [`GpuOperator`] applies it matrix-free for the
//! Krylov methods.
//!
//! Rules kept everywhere here: every buffer, pipeline and submission has a
//! label; limits are checked before an upload and a block larger than one
//! storage binding is split along the long side, never truncated; every
//! submission runs inside validation, out-of-memory and internal error
//! scopes, and a lost device is remembered, so a failure is a
//! [`BackendError`](crate::spectrum::BackendError) and never a zeroed result.

mod context;
mod gram;
mod operator;
pub mod shaders;
mod upload;

pub use context::{AdapterSummary, GpuContext, GpuOptions, list_adapters};
pub use gram::{GpuGram, GramSeconds};
pub use operator::GpuOperator;
