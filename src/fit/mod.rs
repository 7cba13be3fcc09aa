//! Estimators on a spectrum: the peer-compatible power-law fit and layer
//! metrics. Works on eigenvalues only; never reads files.

pub mod layer;
pub mod powerlaw;

pub use layer::{LayerMetrics, layer_metrics};
pub use powerlaw::{FitFailure, PowerLawFit};
