//! Estimators on a spectrum: the peer-compatible power-law fit and layer
//! metrics, and the spectral-framework estimators (noise floor, rank-decay
//! exponent b, broken power law, frontier k_*, density). Works on
//! eigenvalues only; never reads files.

pub mod broken;
pub mod estimate;
pub mod framework;
pub mod layer;
pub mod noise;
pub mod powerlaw;
pub mod rankdecay;

pub use estimate::{Estimate, Estimated, Unavailable, Window};
pub use framework::{Frontier, FrontierSource, ReadingB, SpectralFit, model_density, spectral_fit};
pub use layer::{LayerMetrics, layer_metrics};
pub use noise::{Dims, NoiseFloor, NoiseSource};
pub use powerlaw::{FitFailure, PowerLawFit};
