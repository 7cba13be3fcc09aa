//! Backends: the CPU and GPU implementations of the Gram operator
//! G = AᵀA (A the weight matrix in its tall orientation, so G is M×M with M
//! the smaller side) and of the vector operations a Krylov method needs on
//! a basis the backend stores. The algorithms (Lanczos, power iteration,
//! stochastic Lanczos quadrature) live once in `spectrum::krylov`, written
//! against [`GramOperator`]; a backend only says how to apply and reduce.
//!
//! Owns adapters, devices, buffers and shaders (under `gpu`). Must not
//! choose methods or know about reports.

pub mod cpu;
mod error;
pub mod gpu;

pub use cpu::CpuOperator;
pub use error::BackendError;
pub use gpu::{AdapterSummary, GpuContext, GpuGram, GpuOperator, GpuOptions};

/// What one Krylov expansion step returns: the Gram–Schmidt coefficients of
/// G·q_src against the basis (summed over both passes of CGS2), and the norm
/// of what remained before it was normalized into the next column.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub coeffs: Vec<f64>,
    pub norm: f64,
}

/// The Gram operator of one matrix and an orthonormal basis q_0, q_1, …
/// (columns) that the backend keeps where it applies the operator.
pub trait GramOperator {
    /// M, the side of the Gram.
    fn dim(&self) -> usize;
    /// ‖W‖²_F = tr G, computed on the host in f64 from the weights.
    fn frob2(&self) -> f64;
    /// Unit roundoff of the arithmetic the operator is applied in (2⁻²⁴
    /// for f32, 2⁻⁵³ for f64): the floor of any residual it can certify.
    fn unit_roundoff(&self) -> f64;
    /// Makes room for `cols` basis columns, keeping the existing ones.
    fn reserve(&mut self, cols: usize) -> Result<(), BackendError>;
    /// Writes column `col`.
    fn set_column(&mut self, col: usize, x: &[f64]) -> Result<(), BackendError>;
    /// Reads column `col`.
    fn column(&mut self, col: usize) -> Result<Vec<f64>, BackendError>;
    /// w = G·q_src; w ⟂ q_0..q_{cols−1} by classical Gram–Schmidt applied
    /// twice; q_cols = w/‖w‖ (zero if ‖w‖ = 0).
    fn expand(&mut self, src: usize, cols: usize) -> Result<Step, BackendError>;
    /// q_col ⟂ q_0..q_{col−1} (CGS2), then normalized; returns the norm
    /// after the projection (zero: q_col lay in the span, and is now zero).
    fn orthonormalize(&mut self, col: usize) -> Result<f64, BackendError>;
    /// q_c ← Σ_{j<m} S[j + c·m]·q_j for c < k (S column-major m×k).
    fn rotate(&mut self, s: &[f64], m: usize, k: usize) -> Result<(), BackendError>;
}
