//! The ground-truth trainer (THEORY.md §4): small models trained on a
//! teacher task whose spectrum is known, so that every estimator and every
//! compression prediction has a referee.
//!
//! Owns the teacher task (`task`), the three models and their gradient
//! steps (`model`), real compression of a trained model (`compress`), the
//! analytic laws and their direct measurement on the true mode trajectories
//! (`truth`), the training loop that writes a run directory (`train`), and
//! the typed reader of such a directory (`read`). It must not estimate
//! spectral exponents or frontiers from weights: that is `fit`'s job, and
//! `simulate` is what `fit` is checked against.
//!
//! A run directory holds `init.safetensors`, `snapshots/step-NNNNNNNN.safetensors`
//! (log-spaced), `losses.csv`, `modes.csv`, `compression.csv` and
//! `truth.json`; docs/simulate.md describes each file and derives the
//! analytic laws.
//!
//! `lm` is the real-data referee beside them: a character-level
//! transformer trained on real text, whose truth is the measured loss of
//! compressing each of its weight matrices (no analytic law).
//!
//! ```
//! use specscope::simulate::{ModelKind, Run, SimConfig, simulate};
//! # fn main() -> Result<(), specscope::simulate::SimError> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let dir = &tmp.path().join("run");
//! let cfg = SimConfig {
//!     dim: 64,
//!     outputs: 48,
//!     steps: 200,
//!     snapshots: 5,
//!     ..SimConfig::defaults(ModelKind::Linear, 2.5, 1.5)
//! };
//! simulate(&cfg, dir, &mut |_step, _total| {})?;
//!
//! let run = Run::open(dir)?; // checks the headers against truth.json
//! for s in &run.snapshots {
//!     // step order: index, path, step, tokens, lr_sum
//!     let net = run.weights(s)?; // f64 matrices, named as in the file
//!     let w_eff = net.effective(); // W, W₂W₁, or ½·W₂W₁
//!     assert_eq!(w_eff.shape(), (48, 64));
//!     assert!(run.compression_of(s.index.unwrap()).count() > 14);
//! }
//! let rho = run.truth.analytic.as_ref().unwrap().rho; // 1 for the linear model
//! let modes = run.modes()?; // true trajectories s_k(t), t_½, k_*(t)
//! assert_eq!(rho, 1.0);
//! assert_eq!(modes.frontier(modes.steps.len() - 1), run.truth.snapshots[4].k_star);
//! # Ok(())
//! # }
//! ```

mod compress;
pub mod lm;
mod model;
mod read;
mod task;
mod train;
mod truth;

pub use compress::{Compression, quantize_channel, quantize_tensor, rank_grid, truncate};
pub use model::{Net, Samples};
pub use read::{LossRow, ModeTrajectories, Run, SnapshotInfo};
pub use task::Task;
pub use train::{RunSummary, simulate};
pub use truth::{
    Analytic, CompressionRow, FitWindow, MIN_HALF_LEARNING_STEPS, Measured, SlopeFit,
    SnapshotTruth, Truth, frontier_count, half_learning_time,
};

use crate::load::{DType, LoadError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Version of the run-directory layout and of `truth.json`.
pub const SIM_FORMAT: &str = "specscope-simulate/1";

/// Which model is trained on the teacher task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// One weight matrix W (outputs × dim): kernel regime, g = ηλt.
    Linear,
    /// Two weight matrices, W₂·W₁: sequential mode learning from small init.
    DeepLinear,
    /// Two-layer ReLU network W₂·relu(W₁x), trained on a fixed sample set.
    Mlp,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::DeepLinear => "deep-linear",
            ModelKind::Mlp => "mlp",
        }
    }
}

/// Everything that determines a run. Two runs with equal configs write
/// identical files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub model: ModelKind,
    /// Loss-energy exponent: λ_k·w_k² = k^(−a).
    pub a: f64,
    /// Input-covariance exponent: λ_k = k^(−b).
    pub b: f64,
    /// Input dimension D (number of covariance modes).
    pub dim: usize,
    /// Output dimension K; the teacher has rank R = min(D, K).
    pub outputs: usize,
    /// Hidden width H of the two-layer models (ignored by `linear`).
    pub hidden: usize,
    /// Gradient steps T.
    pub steps: u64,
    /// Constant learning rate η.
    pub lr: f64,
    /// Number of log-spaced snapshots in [1, T].
    pub snapshots: usize,
    pub seed: u64,
    /// Initial weights are N(0, init_scale²/fan_in) per entry.
    pub init_scale: f64,
    /// Training samples (MLP only; the linear models train on the population loss).
    pub train_samples: usize,
    /// Test samples (MLP only).
    pub test_samples: usize,
    /// Storage type of the snapshots (`F32` or `F64`).
    pub dtype: String,
}

impl SimConfig {
    /// The documented default sizes of each model; each finishes in well
    /// under two minutes on two cores (release build).
    pub fn defaults(model: ModelKind, a: f64, b: f64) -> SimConfig {
        let base = SimConfig {
            model,
            a,
            b,
            dim: 512,
            outputs: 512,
            hidden: 0,
            steps: 2000,
            lr: 0.5,
            snapshots: 20,
            seed: 0,
            init_scale: 1e-3,
            train_samples: 0,
            test_samples: 0,
            dtype: "F32".into(),
        };
        match model {
            ModelKind::Linear => base,
            ModelKind::DeepLinear => SimConfig {
                dim: 256,
                outputs: 256,
                hidden: 256,
                steps: 5000,
                ..base
            },
            ModelKind::Mlp => SimConfig {
                dim: 64,
                outputs: 64,
                hidden: 128,
                steps: 3000,
                lr: 1.0,
                train_samples: 2048,
                test_samples: 2048,
                ..base
            },
        }
    }

    /// Rank of the teacher, R = min(D, K): the number of modes.
    pub fn rank(&self) -> usize {
        self.dim.min(self.outputs)
    }

    /// Examples consumed by one step: the MLP's full batch, or 1 for the
    /// population-gradient models (one expected gradient per step).
    pub fn examples_per_step(&self) -> u64 {
        match self.model {
            ModelKind::Mlp => self.train_samples as u64,
            _ => 1,
        }
    }

    pub fn storage_dtype(&self) -> Result<DType, SimError> {
        match DType::parse(&self.dtype.to_ascii_uppercase()) {
            d @ (DType::F32 | DType::F64) => Ok(d),
            _ => Err(SimError::Config(format!(
                "snapshot dtype `{}`: supported F32, F64",
                self.dtype
            ))),
        }
    }

    /// Checks every field; the message names the flag.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if !(self.a.is_finite() && self.a > 1.0) {
            return bad(format!("--a {}: the theory needs a > 1", self.a));
        }
        if !(self.b.is_finite() && self.b > 1.0) {
            return bad(format!("--b {}: the theory needs b > 1", self.b));
        }
        if self.dim < 2 || self.outputs < 2 {
            return bad(format!(
                "--dim {} --outputs {}: both must be at least 2",
                self.dim, self.outputs
            ));
        }
        if self.dim > 8192 || self.outputs > 8192 || self.hidden > 8192 {
            return bad("--dim, --outputs and --hidden are limited to 8192".into());
        }
        if self.model != ModelKind::Linear && self.hidden < 1 {
            return bad(format!(
                "--hidden {}: a two-layer model needs a hidden width",
                self.hidden
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr {}: must be positive", self.lr));
        }
        if self.snapshots < 1 {
            return bad("--snapshots must be at least 1".into());
        }
        if self.steps < self.snapshots as u64 || self.steps > 99_999_999 {
            return bad(format!(
                "--steps {}: must lie in [--snapshots = {}, 99999999]",
                self.steps, self.snapshots
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return bad(format!(
                "--init-scale {}: must be positive",
                self.init_scale
            ));
        }
        if self.model == ModelKind::Mlp && (self.train_samples < 1 || self.test_samples < 1) {
            return bad("the MLP needs --train-samples and --test-samples ≥ 1".into());
        }
        self.storage_dtype()?;
        Ok(())
    }
}

/// Errors of the simulator; each names the file or the flag at fault.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot write snapshot: {source}", path.display())]
    Write {
        path: PathBuf,
        source: safetensors::SafeTensorError,
    },
    #[error("{}: not a simulator run file: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("training diverged at step {step} (loss {loss:e}); lower --lr (now {lr})")]
    Diverged { step: u64, loss: f64, lr: f64 },
    #[error("SVD of `{name}` at step {step} did not converge")]
    Svd { name: String, step: u64 },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Encode(#[from] crate::load::EncodeError),
}

impl SimError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SimError {
        SimError::Io {
            path: path.into(),
            source,
        }
    }
}

/// SplitMix64: independent seeds for the task, the init and the two sample
/// sets, so that e.g. the same seed gives the same teacher to every model.
pub(crate) fn stream_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(4)
        .wrapping_add(stream)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
