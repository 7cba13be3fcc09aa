//! `specscope check`: compressibility and health gates for CI. A TOML
//! rules file (`config`) is checked against an analyze report, and a
//! baseline report for drift (`eval`); the result is written for people,
//! for machines (JSON), for test dashboards (JUnit) and for GitHub
//! annotations (`output`). Compression-target rules are answered through
//! the `predict` seam. Reads reports by field name; never computes spectra.

pub mod config;
pub mod eval;
pub mod output;
pub mod predict;

pub use config::{Config, ConfigError, Rule};
pub use eval::{CheckReport, Inputs, Status, evaluate, resolve};
