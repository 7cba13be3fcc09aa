//! specscope: eigen-spectra of neural-network weights, and what they predict.
//!
//! The pipeline, in module order: `load` reads checkpoints and turns tensors
//! into matrices; `spectrum` computes their eigenvalues; `fit` estimates
//! power laws and the peer-compatible layer metrics; `report` writes JSON,
//! CSV and tables; `cli` is the thin command-line glue.

pub mod load;
pub mod pipeline;
pub mod spectrum;
