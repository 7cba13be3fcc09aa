//! specscope: eigen-spectra of neural-network weights, and what they predict.
//!
//! The entry point is [`analysis::analyze`]: it plans a checkpoint's
//! matrices, computes every spectrum once (CPU f64, or GPU through wgpu),
//! and returns typed per-matrix results — the peer-compatible metrics,
//! the spectral-framework estimates, the weights' quantization ranges.
//!
//! Layers, lowest first (a module never imports one above it; the
//! `layers` test enforces that there is no import cycle):
//! - `load`: safetensors files, indexes, dtypes, tensor → matrix rules,
//!   quantization grids and weight ranges;
//! - `fit`: estimators on eigenvalues (power law, layer metrics, noise
//!   floor, rank decay, frontier, Diffract's columns, series estimators);
//! - `spectrum`: the Gram operator and the solvers written against it;
//! - `backend`: its CPU and GPU implementations;
//! - `theory`: pruning and quantization predictions, real compression;
//! - `pipeline`: plans and parallel spectra under a memory budget;
//! - `analysis`: plan + spectra + metrics + estimates, typed results;
//! - `simulate`, `compare`, `predict`: ground-truth runs, snapshot series,
//!   compression predictions — consumers of typed analyses;
//! - `report`: projections of typed results (JSON, CSV, tables, plots,
//!   HTML) and saved reports read back by field name;
//! - `check`: CI rules over a report's named columns;
//! - `cli`: the command line, used only by the binary.
//!
//! `synth` makes seeded synthetic matrices for tests and fixtures.

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
pub mod shard;
pub mod simd;
pub mod simulate;
pub mod spectrum;
pub mod synth;
pub mod theory;
