//! Eigen-solvers for the spectrum μ_k = σ_k(W)² of a weight matrix: the
//! exact f64 path (`exact`), and the Krylov methods (`krylov`) written once
//! against the backends' Gram operator.

pub mod exact;
pub mod krylov;
pub mod tridiagonal;
pub mod twostage;

pub use exact::{
    SpectrumError, check_trace, eigenvalues_desc, eigenvalues_desc_checked, exact_spectrum,
    exact_spectrum_observed, gram_lower, gram_lower_observed,
};
pub use krylov::{Density, KrylovOptions, PowerResult, TopK, lanczos, power, slq};
