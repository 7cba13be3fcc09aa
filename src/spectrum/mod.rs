//! Eigen-solvers for the spectrum μ_k = σ_k(W)² of a weight matrix.

pub mod exact;
pub mod tridiagonal;
pub mod twostage;

pub use exact::{SpectrumError, check_trace, eigenvalues_desc, exact_spectrum, gram_lower};
