//! The `validate` report of a language-model run (`simulate --model lm`):
//! every prediction of the last snapshot beside the validation-loss
//! increase measured by really compressing it, the scores the targets are
//! stated on, and the targets themselves.

use super::error::Result;
use super::fmt::fixed as num;
use super::series::TargetRow;
use super::{Tool, write_csv_rows};
use serde::Serialize;
use std::io::Write;

/// One matrix under one compression: predicted beside measured.
#[derive(Debug, Clone, Serialize)]
pub struct RefereeRow {
    /// `rank` or `bits`.
    pub kind: &'static str,
    pub value: u64,
    pub matrix: String,
    pub verdict: crate::fit::Verdict,
    /// Why the prediction is not valid (empty when it is).
    pub reason: String,
    /// Predicted ΔL in the loss's units (valid predictions only).
    pub dl_pred: Option<f64>,
    /// Measured ΔL (validation loss after minus before).
    pub dl_meas: f64,
    /// The baseline predictor: the relative weight error
    /// ‖W − W'‖²/‖W‖² (truncation energy, or predicted quantization noise).
    pub weight_error: f64,
}

/// The scores of one compression over the matrices.
#[derive(Debug, Clone, Serialize)]
pub struct RefereeScore {
    pub kind: &'static str,
    pub value: u64,
    pub matrices: usize,
    /// Matrices with a valid prediction (the rest have a named reason).
    pub predicted: usize,
    /// Spearman between predicted and measured ΔL over the predicted
    /// matrices, and between the weight error and measured ΔL over all.
    pub spearman: Option<f64>,
    pub spearman_weight_error: Option<f64>,
    /// Every matrix compressed at once: predicted and measured ΔL, ratio.
    pub model_pred: Option<f64>,
    pub model_meas: Option<f64>,
    pub model_ratio: Option<f64>,
    /// Matrices predicted loss-free (ΔL below 1% of L) whose measured ΔL
    /// exceeds 2% of L.
    pub false_loss_free: usize,
}

/// The `validate` report of a language-model run.
#[derive(Debug, Clone, Serialize)]
pub struct RefereeReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    pub run: String,
    pub model: String,
    /// The loss the predictions are calibrated on: the validation loss at
    /// the first and last rows of losses.csv.
    pub loss_first: f64,
    pub loss_last: f64,
    pub scores: Vec<RefereeScore>,
    pub targets: Vec<TargetRow>,
    pub rows: Vec<RefereeRow>,
    /// The run's dynamics as `compare` reads them: the model row.
    pub dynamics: Option<super::series::DynamicsRow>,
    pub notes: Vec<String>,
}

impl RefereeReport {
    pub fn write_json(&self, mut w: impl Write) -> Result<()> {
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    /// CSV: every prediction beside its measurement.
    pub fn write_csv(&self, w: impl Write) -> Result<()> {
        write_csv_rows(&self.rows, w)
    }

    pub fn write_table(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} run {}: validation loss {} → {} nats",
            self.model,
            self.run,
            num(Some(self.loss_first), 3),
            num(Some(self.loss_last), 3)
        )?;
        writeln!(w)?;
        writeln!(
            w,
            "{:<10}  {:>9}  {:>8}  {:>10}  {:>8}  {:>8}  {:>7}  {:>11}",
            "compress",
            "predicted",
            "spearman",
            "weight err",
            "model",
            "measured",
            "ratio",
            "false free"
        )?;
        for s in &self.scores {
            writeln!(
                w,
                "{:<10}  {:>9}  {:>8}  {:>10}  {:>8}  {:>8}  {:>7}  {:>11}",
                format!("{} {}", s.kind, s.value),
                format!("{}/{}", s.predicted, s.matrices),
                num(s.spearman, 2),
                num(s.spearman_weight_error, 2),
                num(s.model_pred, 3),
                num(s.model_meas, 3),
                num(s.model_ratio, 2),
                s.false_loss_free
            )?;
        }
        writeln!(w)?;
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            writeln!(w, "{met:<6}  {}: {}", t.target, t.detail)?;
        }
        for n in &self.notes {
            writeln!(w, "note: {n}")?;
        }
        Ok(())
    }
}
