//! specscope: eigen-spectra of neural-network weights, and what they predict.
//!
//! The pipeline, in module order: `load` reads checkpoints and turns tensors
//! into matrices; `spectrum` computes their eigenvalues; `pipeline` plans
//! and schedules that work; `fit` estimates power laws and the
//! peer-compatible layer metrics; `report` writes JSON, CSV and tables;
//! `check` evaluates CI rules on reports; `cli` is the thin command-line
//! glue.

pub mod check;
pub mod cli;
pub mod fit;
pub mod load;
pub mod pipeline;
pub mod report;
pub mod spectrum;
pub mod synth;
