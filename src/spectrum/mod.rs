//! Eigen-solvers for the spectrum μ_k = σ_k(W)² of a weight matrix: the
//! exact f64 path (`exact`), and the Krylov methods (`krylov`) written once
//! against the Gram operator (`operator`) that the backends implement.

pub mod exact;
pub mod krylov;
pub mod operator;
pub mod tridiagonal;
pub mod twostage;

pub use exact::{
    SpectrumError, check_trace, eigenvalues_desc, eigenvalues_desc_checked, exact_spectrum,
    exact_spectrum_observed, gram_lower, gram_lower_observed,
};
pub use krylov::{Density, KrylovOptions, PowerResult, TopK, lanczos, power, slq};
pub use operator::{BackendError, GramOperator, Step};
