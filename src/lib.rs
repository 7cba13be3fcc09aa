//! specscope: eigen-spectra of neural-network weights, and what they predict.
//!
//! The pipeline, in module order: `load` reads checkpoints and turns tensors
//! into matrices; `spectrum` computes their eigenvalues on a `backend`
//! (CPU, or GPU through wgpu); `pipeline` plans
//! and schedules that work; `fit` estimates power laws and the
//! peer-compatible layer metrics and the spectral-framework estimators;
//! `theory` turns those into pruning and quantization predictions;
//! `report` writes JSON, CSV, tables, plots and HTML; `check` evaluates CI
//! rules on reports; `simulate` trains the ground-truth models; `compare`
//! reads the dynamics off a series of snapshots and `validate`s them
//! against a simulated run; `cli` is the thin command-line glue.

pub mod analysis;
pub mod backend;
pub mod check;
pub mod cli;
pub mod compare;
pub mod fit;
pub mod load;
pub mod pipeline;
pub mod predict;
pub mod report;
pub mod simulate;
pub mod spectrum;
pub mod synth;
pub mod theory;
