//! Estimators on a spectrum: the peer-compatible power-law fit and layer
//! metrics, and the spectral-framework estimators (noise floor, rank-decay
//! exponent b, broken power law, saturating front, frontier k_*, density),
//! and the estimators on a series of snapshots (`series`: ρ, loss
//! exponent, Densing fit). Works on numbers only; never reads files.

pub mod broken;
pub mod diffract;
pub mod estimate;
pub mod framework;
pub mod layer;
pub mod noise;
pub mod powerlaw;
pub mod rankdecay;
pub mod saturation;
pub mod series;

pub use estimate::{Estimate, Estimated, Unavailable, Verdict, Window};
pub use framework::{Frontier, FrontierSource, ReadingB, SpectralFit, model_density, spectral_fit};
pub use layer::{AlphaWarning, FitStatus, LayerMetrics, layer_metrics};
pub use noise::{Dims, NoiseFloor, NoiseSource};
pub use powerlaw::{FitFailure, PowerLawFit};
