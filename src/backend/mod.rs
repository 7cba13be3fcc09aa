//! Backends: the CPU and GPU implementations of the Gram operator
//! G = AᵀA (A the weight matrix in its tall orientation, so G is M×M with M
//! the smaller side) and of the vector operations a Krylov method needs on
//! a basis the backend stores. The algorithms (Lanczos, power iteration,
//! stochastic Lanczos quadrature) live once in `spectrum::krylov`, written
//! against `spectrum`'s [`GramOperator`] (re-exported here with its
//! errors); a backend only says how to apply and reduce.
//!
//! Owns adapters, devices, buffers and shaders (under `gpu`). Must not
//! choose methods or know about reports.

pub mod cpu;
pub mod gpu;

pub use crate::spectrum::{BackendError, GramOperator, Step};
pub use cpu::CpuOperator;
pub use gpu::{AdapterSummary, GpuContext, GpuGram, GpuOperator, GpuOptions};
