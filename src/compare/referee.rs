//! The real-data referee: `validate` on a language-model run (`simulate
//! --model lm`). Every prediction `predict` makes for the last snapshot —
//! truncation to each measured rank, quantization to each measured bit
//! width, in the loss's units calibrated on the run's own loss curve — is
//! set beside the validation-loss increase the run measured by really
//! compressing that matrix (lm_truth.csv), and scored: rank correlation
//! across matrices (against the weight-error baseline), the model-level ΔL
//! of compressing every matrix at once, coverage, and false "loss-free"
//! calls. The run's dynamics come from `compare` on the same directory.

use super::{CompareError, CompareOptions, TimeAxis, compare_series, series};
use crate::analysis;
use crate::fit::Verdict;
use crate::fit::estimate::spearman;
use crate::load::Checkpoint;
use crate::load::quant::{DEFAULT_GROUP, Granularity, QuantSpec, Scheme};
use crate::pipeline::Progress;
use crate::predict::{Loss, PredictOptions, predict};
use crate::report::referee::{RefereeReport, RefereeRow, RefereeScore};
use crate::report::series::TargetRow;
use crate::report::{PredictReport, SCHEMA_VERSION, Tool};
use crate::simulate::lm::LmRun;
use crate::theory::{Keep, Request};
use std::collections::BTreeSet;
use std::path::Path;

/// Target: Spearman between predicted and measured per-matrix ΔL.
pub const SPEARMAN_TARGET: f64 = 0.8;
/// Target: the model-level ΔL within this factor of the measured one.
pub const MODEL_FACTOR: f64 = 2.0;
/// A prediction below this fraction of L calls the compression loss-free;
/// a measured ΔL above [`COSTLY_FRACTION`] of L makes that call false.
pub const FREE_FRACTION: f64 = 0.01;
pub const COSTLY_FRACTION: f64 = 0.02;
/// Compressions are scored where compressing every matrix at once costs
/// at least this fraction of L (below it, ΔL is too small to rank).
pub const SCORED_FRACTION: f64 = 0.01;

/// Whether `dir` holds a language-model run.
pub fn is_lm_run(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("truth.json")).is_ok_and(|t| {
        serde_json::from_str::<serde_json::Value>(&t)
            .is_ok_and(|v| v["model"] == crate::simulate::lm::LM_MODEL)
    })
}

/// The referee's report of a language-model run.
pub fn referee(
    dir: &Path,
    opts: &analysis::Options,
    progress: &dyn Progress,
) -> Result<RefereeReport, CompareError> {
    let run = LmRun::open(dir)?;
    let last = run
        .snapshots
        .last()
        .ok_or_else(|| CompareError::Input(format!("{}: no snapshots", dir.display())))?;
    let (first_loss, last_loss) = match (run.losses.first(), run.losses.last()) {
        (Some(a), Some(b)) => (a.test_loss, b.test_loss),
        _ => return Err(CompareError::Input(format!("{}: no losses", dir.display()))),
    };
    let ck = Checkpoint::open(&last.path).map_err(|source| CompareError::Load {
        path: last.path.clone(),
        source,
    })?;
    let opts = analysis::Options {
        init: Some(run.init.path.clone()),
        ..opts.clone()
    };
    let loss = Loss {
        first: first_loss,
        last: last_loss,
        source: format!("{} (column test_loss)", dir.join("losses.csv").display()),
    };
    let mut rows = Vec::new();
    let mut scores = Vec::new();
    for (kind, value) in compressions(&run) {
        let request = request(kind, value);
        let p = predict(
            &ck,
            &opts,
            &PredictOptions {
                request,
                verify: false,
                plots: false,
                loss: Some(loss.clone()),
            },
            progress,
        )
        .map_err(|e| CompareError::Input(e.to_string()))?;
        let these = referee_rows(&run, kind, value, &p.report);
        scores.push(score(&run, kind, value, &these, &p.report, last_loss));
        rows.extend(these);
    }
    let dynamics = dynamics(dir, &opts, progress)?;
    let targets = targets(&scores, &rows, dynamics.as_ref(), last_loss);
    Ok(RefereeReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        command: "validate",
        run: dir.display().to_string(),
        model: run.truth.model.clone(),
        loss_first: first_loss,
        loss_last: last_loss,
        scores,
        targets,
        rows,
        dynamics,
        notes: vec![
            "ΔL calibrated on the run's validation loss: ΔL = (L(0) − L(T))·ΔL/ΔL_max (docs/theory.md §4.3)".into(),
            format!(
                "scored where compressing every matrix at once costs ≥ {:.0}% of L",
                100.0 * SCORED_FRACTION
            ),
        ],
    })
}

/// The compressions lm_truth.csv measured per matrix, in file order.
fn compressions(run: &LmRun) -> Vec<(&'static str, u64)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in &run.rows {
        let kind = match r.kind.as_str() {
            "rank" => "rank",
            "bits" => "bits",
            _ => continue,
        };
        if seen.insert((kind, r.value)) {
            out.push((kind, r.value));
        }
    }
    out
}

/// The request `predict` gets for a measured compression: truncation to a
/// rank, or the run's quantizer (symmetric, per output channel).
fn request(kind: &str, value: u64) -> Request {
    match kind {
        "rank" => Request {
            keep: Some(Keep::Rank(value as usize)),
            quant: None,
        },
        _ => Request {
            keep: None,
            quant: QuantSpec::new(
                value as u32,
                Scheme::Sym,
                Granularity::Channel,
                DEFAULT_GROUP,
            )
            .ok(),
        },
    }
}

/// Predicted beside measured, for every matrix the truth has.
fn referee_rows(
    run: &LmRun,
    kind: &'static str,
    value: u64,
    rep: &PredictReport,
) -> Vec<RefereeRow> {
    run.rows
        .iter()
        .filter(|t| t.kind == kind && t.value == value)
        .filter_map(|t| {
            let name = t.matrix.strip_suffix(".weight").unwrap_or(&t.matrix);
            let r = rep.rows.iter().find(|r| r.name == name)?;
            Some(RefereeRow {
                kind,
                value,
                matrix: name.to_string(),
                verdict: r.verdict,
                reason: if r.verdict == Verdict::Valid {
                    String::new()
                } else if r.status != "ok" {
                    r.note.clone()
                } else {
                    r.model_status.clone()
                },
                dl_pred: r.dl_loss.filter(|_| r.verdict == Verdict::Valid),
                dl_meas: t.dl,
                weight_error: r.err_pred,
            })
        })
        .collect()
}

fn score(
    run: &LmRun,
    kind: &'static str,
    value: u64,
    rows: &[RefereeRow],
    rep: &PredictReport,
    loss: f64,
) -> RefereeScore {
    let valid: Vec<&RefereeRow> = rows.iter().filter(|r| r.dl_pred.is_some()).collect();
    let pred: Vec<f64> = valid.iter().filter_map(|r| r.dl_pred).collect();
    let meas: Vec<f64> = valid.iter().map(|r| r.dl_meas).collect();
    let all_meas: Vec<f64> = rows.iter().map(|r| r.dl_meas).collect();
    let weight: Vec<f64> = rows.iter().map(|r| r.weight_error).collect();
    let all_kind = format!("all-{kind}");
    let model_meas = run
        .rows
        .iter()
        .find(|t| t.kind == all_kind && t.value == value)
        .map(|t| t.dl);
    let model_pred = rep.summary.dl_loss;
    RefereeScore {
        kind,
        value,
        matrices: rows.len(),
        predicted: valid.len(),
        spearman: spearman(&pred, &meas),
        spearman_weight_error: spearman(&weight, &all_meas),
        model_pred,
        model_meas,
        model_ratio: match (model_pred, model_meas) {
            (Some(p), Some(m)) if m > 0.0 => Some(p / m),
            _ => None,
        },
        false_loss_free: valid
            .iter()
            .filter(|r| {
                r.dl_pred.is_some_and(|p| p < FREE_FRACTION * loss)
                    && r.dl_meas > COSTLY_FRACTION * loss
            })
            .count(),
    }
}

/// `compare`'s model dynamics row on the run.
fn dynamics(
    dir: &Path,
    opts: &analysis::Options,
    progress: &dyn Progress,
) -> Result<Option<crate::report::series::DynamicsRow>, CompareError> {
    let s = series(&[dir.to_path_buf()], TimeAxis::Step)?;
    let (cmp, _) = compare_series(&s, opts, &CompareOptions::default(), progress)?;
    Ok(cmp.dynamics.into_iter().find(|d| d.m.is_none()))
}

/// The referee's targets, each with the figure that decides it.
fn targets(
    scores: &[RefereeScore],
    rows: &[RefereeRow],
    dynamics: Option<&crate::report::series::DynamicsRow>,
    loss: f64,
) -> Vec<TargetRow> {
    let scored: Vec<&RefereeScore> = scores
        .iter()
        .filter(|s| s.model_meas.is_some_and(|m| m >= SCORED_FRACTION * loss))
        .collect();
    let list = |f: &dyn Fn(&RefereeScore) -> String| {
        scored.iter().map(|s| f(s)).collect::<Vec<_>>().join(", ")
    };
    let min_rho = scored
        .iter()
        .map(|s| s.spearman.unwrap_or(f64::NEG_INFINITY))
        .fold(f64::INFINITY, f64::min);
    let worst_factor = scored
        .iter()
        .filter_map(|s| s.model_ratio)
        .map(|r| r.max(1.0 / r))
        .fold(1.0, f64::max);
    let unexplained = rows
        .iter()
        .filter(|r| r.dl_pred.is_none() && r.reason.is_empty())
        .count();
    let false_free: usize = scores.iter().map(|s| s.false_loss_free).sum();
    let target =
        |name: &str, tol: &str, value: Option<f64>, met: Option<bool>, detail: String| TargetRow {
            target: name.into(),
            stated_for: "lm".into(),
            tolerance: tol.into(),
            value,
            count: scored.len(),
            met,
            detail,
        };
    let mut out = vec![
        target(
            "Spearman of predicted vs measured per-matrix ΔL, every scored rank and bit width",
            "≥ 0.8",
            min_rho.is_finite().then_some(min_rho),
            (!scored.is_empty()).then_some(min_rho >= SPEARMAN_TARGET),
            list(&|s| {
                format!(
                    "{} {}: {} (weight error {})",
                    s.kind,
                    s.value,
                    crate::report::fmt::fixed(s.spearman, 2),
                    crate::report::fmt::fixed(s.spearman_weight_error, 2)
                )
            }),
        ),
        target(
            "model-level ΔL (every matrix at once) within ×2",
            "×2",
            Some(worst_factor),
            (!scored.is_empty()).then_some(worst_factor <= MODEL_FACTOR),
            list(&|s| {
                format!(
                    "{} {}: ×{}",
                    s.kind,
                    s.value,
                    crate::report::fmt::fixed(s.model_ratio, 2)
                )
            }),
        ),
        target(
            "every matrix has a prediction or a named reason",
            "all",
            Some(unexplained as f64),
            Some(unexplained == 0),
            format!(
                "{} of {} predictions valid; {unexplained} without a reason",
                rows.iter().filter(|r| r.dl_pred.is_some()).count(),
                rows.len()
            ),
        ),
        target(
            "no matrix predicted loss-free (ΔL < 1% of L) whose real ΔL exceeds 2% of L",
            "0",
            Some(false_free as f64),
            Some(false_free == 0),
            format!("{false_free} false loss-free calls"),
        ),
    ];
    if let Some(d) = dynamics {
        let z = d.agreement_z_log.or(d.agreement_z);
        let agree = z.is_some_and(|z| z.abs() <= 2.0);
        let flagged = d.verdict != crate::fit::Verdict::Valid;
        out.push(target(
            "the ρ routes agree (|z| ≤ 2) or the model row is not called valid",
            "agree or flagged",
            z,
            Some(agree || flagged),
            format!(
                "model φ·ψ agreement z = {}; verdict {}: {}",
                crate::report::fmt::fixed(z, 2),
                d.verdict,
                d.verdict_reason
            ),
        ));
    }
    out
}
