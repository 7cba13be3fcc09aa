//! The seam between `check`'s compression-target rules (`predicted-loss`,
//! `surviving-modes`) and the theory that answers them. `check` asks a
//! [`Predictions`] implementation; this build has none ([`NotInThisBuild`]),
//! so a config that uses those rules is refused with a clear error instead
//! of passing silently. The fitter's prediction functions plug in by
//! implementing the trait and returning it from [`builtin`].

use super::config::Target;
use serde_json::Value;

/// One matrix as the predictions see it.
#[derive(Debug, Clone, Copy)]
pub struct MatrixInput<'a> {
    /// The report row (every field by name: `M`, `N`, `alpha`, and the
    /// fitter's fields once they exist).
    pub row: &'a Value,
    /// Its eigenvalues μ_k, descending, when `check` ran the analysis
    /// itself (`None` when it read a JSON report).
    pub evals: Option<&'a [f64]>,
}

/// Answers to compression-target rules.
pub trait Predictions: Sync {
    /// `None` when this build can answer; otherwise why not (shown with
    /// the rule's line as a config error).
    fn unavailable(&self) -> Option<String>;
    /// Predicted loss increase of one matrix at `target`.
    fn predicted_loss(&self, m: MatrixInput<'_>, target: Target) -> Result<f64, String>;
    /// Modes that survive `bits`-bit round-to-nearest quantization.
    fn surviving_modes(&self, m: MatrixInput<'_>, bits: u32) -> Result<f64, String>;
}

/// The predictions of a build without the fitter: none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotInThisBuild;

const WHY: &str = "not available in this build: the fitter's pruning and quantization predictions are not linked into `check` yet";

impl Predictions for NotInThisBuild {
    fn unavailable(&self) -> Option<String> {
        Some(WHY.to_string())
    }
    fn predicted_loss(&self, _: MatrixInput<'_>, _: Target) -> Result<f64, String> {
        Err(WHY.to_string())
    }
    fn surviving_modes(&self, _: MatrixInput<'_>, _: u32) -> Result<f64, String> {
        Err(WHY.to_string())
    }
}

/// The predictions this build offers to `check`.
pub fn builtin() -> &'static dyn Predictions {
    &NotInThisBuild
}
