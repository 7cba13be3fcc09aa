//! The real-data referee: a small character-level transformer language
//! model trained with AdamW on real text (`specscope simulate --model lm`),
//! whose run directory holds, beside the snapshots and losses, the
//! *measured* validation-loss increase of really compressing each weight
//! matrix of the last snapshot (docs/simulate.md, "The language model").
//!
//! Owns the corpus and its split (`corpus`), the transformer's forward and
//! backward passes (`net`), the optimizer and the training loop that
//! writes the run directory (`train`), the compression truth (`truth`) and
//! the typed reader of such a directory (`read`). Unlike the teacher
//! models there is no analytic law: the truth is only what was measured.
//! It must not estimate or predict anything from the spectra: `compare`
//! and `validate` do, and this is what they are scored against.
//!
//! ```no_run
//! use specscope::simulate::lm::{LmConfig, LmRun, simulate_lm};
//! # fn main() -> Result<(), specscope::simulate::SimError> {
//! let dir = std::path::Path::new("run-lm");
//! simulate_lm(&LmConfig::default(), dir, &mut |_step, _total| {})?;
//! let run = LmRun::open(dir)?;
//! let last = run.snapshots.last().unwrap();
//! let params = run.params(last)?; // every tensor, f32, as stored
//! for row in &run.rows {
//!     // matrix, kind (rank|bits|reset|all-rank|all-bits), value, dl, dl_rel
//!     println!("{} {} {} {:+.4}", row.matrix, row.kind, row.value, row.dl);
//! }
//! # let _ = params;
//! # Ok(())
//! # }
//! ```

pub mod corpus;
pub mod net;
mod read;
mod train;
pub mod truth;

pub use read::LmRun;
pub use train::{LmSummary, simulate_lm, validation_loss};
pub use truth::{LmTruth, LmTruthRow, SnapshotLoss};

use super::SimError;
use crate::load::DType;
use net::Dims;
use serde::{Deserialize, Serialize};

/// The value of `model` in the snapshots' metadata and in truth.json.
pub const LM_MODEL: &str = "lm";

/// Everything that determines a language-model run. Two runs with equal
/// configs write identical files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// Width of the residual stream.
    pub d_model: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads (d_model must be a multiple).
    pub heads: usize,
    /// Characters of context (and of each training window).
    pub context: usize,
    /// Windows per step; a step sees batch·context characters.
    pub batch: usize,
    /// AdamW steps T.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps, then a cosine decay to `lr·final_lr_fraction` at T.
    pub warmup: u64,
    pub final_lr_fraction: f64,
    /// Decoupled weight decay on the weight matrices (not on the norms).
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub adam_eps: f64,
    /// Global gradient-norm clip (0: none).
    pub clip: f64,
    /// Weight-matrix init std; residual outputs (W_o, W_down) get
    /// std/√(2·layers).
    pub init_std: f64,
    /// Number of log-spaced snapshots in [1, T].
    pub snapshots: usize,
    pub seed: u64,
    /// Validation windows used (at most; the held-out text has 319 at
    /// context 64). The same windows score every loss and compression.
    pub valid_windows: usize,
    /// Storage type of the snapshots (`F32` or `F64`); compute is f32.
    pub dtype: String,
}

impl Default for LmConfig {
    /// The documented default run (about 135 s of CPU time in a release
    /// build; docs/simulate.md has the measured figures).
    fn default() -> LmConfig {
        LmConfig {
            d_model: 64,
            layers: 2,
            heads: 4,
            context: 64,
            batch: 16,
            steps: 4000,
            lr: 3e-3,
            warmup: 100,
            final_lr_fraction: 0.1,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.99,
            adam_eps: 1e-8,
            clip: 1.0,
            init_std: 0.02,
            snapshots: 14,
            seed: 0,
            valid_windows: 320,
            dtype: "F32".into(),
        }
    }
}

impl LmConfig {
    /// The model's sizes for a vocabulary of `vocab` characters.
    pub fn dims(&self, vocab: usize) -> Dims {
        Dims {
            vocab,
            d: self.d_model,
            heads: self.heads,
            ctx: self.context,
            layers: self.layers,
            ff: 4 * self.d_model,
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

    /// Learning rate of step t (0-based): linear warm-up to `lr`, then a
    /// cosine to `lr·final_lr_fraction` at T.
    pub fn lr_at(&self, t: u64) -> f64 {
        if t < self.warmup {
            return self.lr * (t + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let x = ((t - self.warmup) as f64 / span).min(1.0);
        let floor = self.lr * self.final_lr_fraction;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * x).cos())
    }

    /// Checks every field; the message names the flag.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if self.d_model < 2 || self.d_model > 1024 {
            return bad(format!("--d-model {}: must lie in [2, 1024]", self.d_model));
        }
        if self.heads < 1 || !self.d_model.is_multiple_of(self.heads) {
            return bad(format!(
                "--heads {}: must divide --d-model {}",
                self.heads, self.d_model
            ));
        }
        if self.layers < 1 || self.layers > 16 {
            return bad(format!("--layers {}: must lie in [1, 16]", self.layers));
        }
        if self.context < 2 || self.context > 1024 {
            return bad(format!("--context {}: must lie in [2, 1024]", self.context));
        }
        if self.batch < 1 {
            return bad("--batch must be at least 1".into());
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
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr {}: must be positive", self.lr));
        }
        let unit = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        if !(unit(self.beta1) && unit(self.beta2) && unit(self.final_lr_fraction + 0.0)) {
            return bad("beta1, beta2 and final_lr_fraction must lie in [0, 1)".into());
        }
        if !(self.weight_decay >= 0.0 && self.clip >= 0.0 && self.adam_eps > 0.0) {
            return bad("weight_decay and clip must be ≥ 0, adam_eps > 0".into());
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return bad(format!("init_std {}: must be positive", self.init_std));
        }
        if self.valid_windows < 1 {
            return bad("valid_windows must be at least 1".into());
        }
        self.storage_dtype()?;
        Ok(())
    }
}
