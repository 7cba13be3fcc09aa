//! The `compare` report: a snapshot series and what it says about the
//! dynamics (docs/compare-and-validate.md). Flat rows of numbers, so that
//! JSON, CSV, the terminal table and the HTML report's `--attach` tables
//! all come from the same structs; `null`, never NaN, for what is
//! unavailable, with the reason in a `*_status`/`notes` field.

use super::fmt::fixed as num;
use super::{Backend, Tool};
pub use crate::fit::Verdict;
use serde::Serialize;
use std::io::Write;

/// One snapshot of the series.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRow {
    pub snapshot: usize,
    pub path: String,
    /// The time every fit uses.
    pub t: f64,
    pub step: Option<u64>,
    pub tokens: Option<u64>,
    pub lr_sum: Option<f64>,
    /// The loss at t (interpolated in ln t between loss rows), with losses.
    pub loss: Option<f64>,
}

/// One matrix at one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesRow {
    pub snapshot: usize,
    pub t: f64,
    pub name: String,
    /// Modes of the matrix (its short side).
    #[serde(rename = "M")]
    pub m: usize,
    /// The frontier from the matrix's one frontier source (chosen on the
    /// series: `k_star_source`, the same at every snapshot), and its error;
    /// `null` where that source has no value (never filled in from
    /// another).
    pub k_star: Option<f64>,
    pub k_star_err: Option<f64>,
    pub k_star_source: String,
    /// The theory's D = k_*/M.
    pub density: Option<f64>,
    /// μ_max (the largest eigenvalue), the peer-compatible tail exponent α,
    /// and the rank-decay exponent b (reading A) of `analyze`.
    pub mu_max: Option<f64>,
    pub alpha: Option<f64>,
    pub b: Option<f64>,
    /// The saturation fit (reading B, exact form): k_*, learned slope
    /// s₁ = a − b, front sharpness β (= b under p = 1), s₁ + β, residual.
    pub k_star_saturation: Option<f64>,
    pub s1: Option<f64>,
    pub beta: Option<f64>,
    pub a_saturation: Option<f64>,
    pub saturation_rms: Option<f64>,
    /// `ok` or why there is no saturation fit.
    pub saturation_status: String,
    /// `analyze`'s frontier (broken power law or noise floor, chosen per
    /// snapshot).
    pub k_star_fitter: Option<usize>,
    pub k_star_fitter_source: String,
    /// The candidates the series chooses from besides the saturation fit:
    /// the best break (and whether `analyze` accepts it) and the count
    /// above the noise floor.
    pub k_star_break: Option<f64>,
    pub k_star_break_accepted: Option<bool>,
    pub k_star_noise: Option<f64>,
    /// `--overlap K`: the top-k singular subspace overlap ‖U₁ᵀU₂‖²_F/k of
    /// the left (U) and right (V) vectors with the snapshot before and with
    /// the init, and the mean per-mode best match max_j |u_iᵀu_j|; empty
    /// without the flag (`overlap` in the JSON has the per-mode values).
    pub overlap_prev_left: Option<f64>,
    pub overlap_prev_right: Option<f64>,
    pub best_match_prev_left: Option<f64>,
    pub best_match_prev_right: Option<f64>,
    pub overlap_init_left: Option<f64>,
    pub overlap_init_right: Option<f64>,
    pub best_match_init_left: Option<f64>,
    pub best_match_init_right: Option<f64>,
}

/// The model at one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSeriesRow {
    pub snapshot: usize,
    pub t: f64,
    /// Parameters × t: the compute axis of the Densing fit.
    pub compute: f64,
    /// Σ D_i·P_i/Σ P_i over matrices with a frontier.
    pub density: Option<f64>,
    pub k_star_total: Option<f64>,
    pub mu_max: Option<f64>,
    /// Mean α over the matrices whose power-law fit succeeded.
    pub alpha: Option<f64>,
    /// Parameter-weighted mean of the rank-decay b.
    pub b: Option<f64>,
    pub loss: Option<f64>,
}

/// The dynamics of one matrix, or of the model (`name` = `(model)`).
/// Exponents: φ = d ln k_*/d ln t (frontier motion), ψ = d ln t_½/d ln k
/// (matched modes); ρ = φ·b and ρ = b/ψ. Each of a, b, ρ comes from the
/// route named in `route` (given b, losses, or spectra with p = 1); the
/// other routes' values follow with a suffix.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DynamicsRow {
    pub name: String,
    #[serde(rename = "M")]
    pub m: Option<usize>,
    pub params: u64,
    /// The one k_* source of the series: `saturation`, `break` or
    /// `noise_floor` (docs/compare-and-validate.md, "The frontier source");
    /// for the model, the sources of the pooled matrices.
    pub frontier_source: String,
    /// Snapshots holding the matrix where the source has no value; where
    /// its value is an unaccepted break; and where either happens between
    /// the first and last snapshot of the φ window (> 0 makes φ
    /// `inconsistent`).
    pub frontier_missing: Option<usize>,
    pub frontier_unaccepted: Option<usize>,
    pub frontier_gaps: Option<usize>,
    /// Why this source.
    pub frontier_reason: String,
    pub phi: Option<f64>,
    pub phi_err: Option<f64>,
    pub phi_points: Option<usize>,
    pub psi: Option<f64>,
    pub psi_err: Option<f64>,
    pub psi_modes: Option<usize>,
    /// φ·ψ (1 when frontier and modes agree; b-free) and its z-score,
    /// (φψ − 1)/σ.
    pub agreement: Option<f64>,
    pub agreement_err: Option<f64>,
    pub agreement_z: Option<f64>,
    /// The z the verdict uses: ln(φψ) over the statistical error and a
    /// systematic 0.03 in quadrature (`fit::series::log_ratio_z`).
    pub agreement_z_log: Option<f64>,
    pub s1: Option<f64>,
    pub s1_err: Option<f64>,
    pub beta: Option<f64>,
    pub beta_err: Option<f64>,
    /// Which route a, b and ρ below come from.
    pub route: String,
    pub a: Option<f64>,
    pub a_err: Option<f64>,
    pub b: Option<f64>,
    pub b_err: Option<f64>,
    pub rho_frontier: Option<f64>,
    pub rho_frontier_err: Option<f64>,
    pub rho_modes: Option<f64>,
    pub rho_modes_err: Option<f64>,
    pub rho: Option<f64>,
    pub rho_err: Option<f64>,
    /// The spectra-only route (p = 1): a = s₁ + β, b = β.
    pub a_spectra: Option<f64>,
    pub b_spectra: Option<f64>,
    pub rho_spectra: Option<f64>,
    pub rho_spectra_err: Option<f64>,
    /// ρ(a−1)/b from the spectra alone: the loss exponent they predict.
    pub alpha_t_predicted: Option<f64>,
    pub alpha_t_predicted_err: Option<f64>,
    /// The losses route: a = 1 + α_t/φ (or the tail fit's, see
    /// `a_losses_from`), b = a − s₁.
    pub a_losses: Option<f64>,
    pub a_losses_from: String,
    pub b_losses: Option<f64>,
    pub rho_losses: Option<f64>,
    pub rho_losses_err: Option<f64>,
    /// a from the finite tail fit L(t) = C·Σ_{k_*(t)<k≤M} k^(−a).
    pub a_tail: Option<f64>,
    pub a_tail_err: Option<f64>,
    pub a_tail_points: Option<usize>,
    /// α_t measured on the losses (the model's, same for every row).
    pub alpha_t: Option<f64>,
    pub alpha_t_err: Option<f64>,
    /// The model row: matrices pooled into its means (the valid ones; all
    /// when none is valid, and then the row is not valid).
    pub pooled: Option<usize>,
    /// The row's verdict (ρ and a of the headline route; the worst of
    /// `rho_verdict` and `a_verdict`) and its main reason.
    pub verdict: Verdict,
    pub verdict_reason: String,
    /// Per quantity: φ, ψ, the headline ρ (with φ's and ψ's checks), the
    /// headline a and b, and the spectra route (p = 1; its check against
    /// the headline does not enter `verdict`).
    pub phi_verdict: Verdict,
    pub psi_verdict: Verdict,
    pub rho_verdict: Verdict,
    pub a_verdict: Verdict,
    pub spectra_verdict: Verdict,
    /// Every reason behind the verdicts, `; `-separated, or `valid`.
    pub status: String,
}

/// One matched mode of one matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ModeRow {
    pub name: String,
    pub k: usize,
    pub sigma_last: f64,
    pub t_half: Option<f64>,
    pub fraction_at_half_time: Option<f64>,
    pub used: bool,
}

/// One matrix's singular-vector overlap between two snapshots
/// (`compare --overlap K`; computed by `compare::overlap`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverlapRow {
    pub name: String,
    /// `previous` (the snapshot before) or `init`.
    pub against: &'static str,
    /// Index and t of the earlier snapshot (`null` for the init).
    pub from_snapshot: Option<usize>,
    pub from_t: Option<f64>,
    pub snapshot: usize,
    pub t: f64,
    /// Vectors compared (the smaller of the two bases).
    pub k: usize,
    /// ‖U₁ᵀU₂‖²_F / k and ‖V₁ᵀV₂‖²_F / k.
    pub left_subspace: f64,
    pub right_subspace: f64,
    /// Means of the per-mode best matches below.
    pub left_best_mean: f64,
    pub right_best_mean: f64,
    /// max_j |u_i(from)ᵀ u_j(to)| for each mode i = 1…k of the earlier
    /// snapshot, and the same for v.
    pub left_best: Vec<f64>,
    pub right_best: Vec<f64>,
}

/// The Densing fit: ln D = c + slope·ln C, with the slope the frontier
/// predicts (ρ/b = φ at fixed size).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DensingRow {
    pub slope: Option<f64>,
    pub slope_err: Option<f64>,
    pub intercept: Option<f64>,
    pub points: usize,
    pub compute_min: Option<f64>,
    pub compute_max: Option<f64>,
    /// φ of the model: what the slope should be.
    pub expected: Option<f64>,
    pub expected_err: Option<f64>,
    /// `valid` when the slope and the model's φ are both valid and agree
    /// (|z| ≤ 2 on their log ratio).
    pub verdict: Verdict,
    pub status: String,
}

/// The loss-vs-time fit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossFitRow {
    pub source: String,
    /// The loss column used (`--loss-column`, else the first of
    /// `val_loss`, `valid_loss`, `test_loss`, `loss`, `train_loss`
    /// present).
    pub column: Option<String>,
    /// `valid` when fitted with an error below the value and α_t > 0.
    pub verdict: Verdict,
    pub alpha_t: Option<f64>,
    pub alpha_t_err: Option<f64>,
    pub points: usize,
    pub t_min: Option<f64>,
    pub t_max: Option<f64>,
    pub status: String,
}

/// Complementarity at one snapshot for one matrix: L(t) + ΔL_c(t) for
/// keeping k_c modes, predicted (theory module's ΔL/C times C(t) from
/// tail dominance, C = L/Σ_{k_*<k≤M} k^(−a)) and measured (the run's
/// compression.csv).
#[derive(Debug, Clone, Serialize)]
pub struct ComplementarityRow {
    pub snapshot: usize,
    pub t: f64,
    pub name: String,
    pub k_c: usize,
    pub k_star: Option<f64>,
    /// k_* > k_c: the regime where the sum should be constant.
    pub in_regime: bool,
    pub loss: f64,
    /// The loss constant C(t).
    pub c: Option<f64>,
    pub dl_predicted: Option<f64>,
    pub sum_predicted: Option<f64>,
    pub dl_measured: Option<f64>,
    pub sum_measured: Option<f64>,
}

/// How constant the sums are over the in-regime snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct ComplementaritySummary {
    pub name: String,
    pub k_c: usize,
    pub snapshots: usize,
    /// max/min − 1 of L + ΔL_c.
    pub spread_predicted: Option<f64>,
    pub spread_measured: Option<f64>,
    /// The verdict of the matrix's a that the prediction uses (the
    /// prediction needs a > 1).
    pub a_verdict: Verdict,
}

/// One matrix in the ranking of what was learned.
#[derive(Debug, Clone, Serialize)]
pub struct LearnedRow {
    /// 1 = learned most, by `Answers::learned_most_by` (`null` without
    /// that quantity).
    pub rank: Option<usize>,
    pub name: String,
    pub params: u64,
    /// ‖W_T − W_0‖²_F/‖W_0‖²_F, W_0 the reference weights
    /// (`Answers::reference`).
    pub weight_change: Option<f64>,
    /// ‖W_T − W_0‖²_F/‖W_T‖²_F: the share of the final weights' energy
    /// that training added.
    pub weight_change_final: Option<f64>,
    /// ‖W_T − W_0‖²_F itself (not relative to either end).
    pub weight_change_abs: Option<f64>,
    /// Σ_k |μ_k(T) − μ_k(0)| / Σ_k μ_k(0), μ(0) the first snapshot's
    /// spectrum.
    pub spectral_change: Option<f64>,
    /// μ_1(T)/μ_1(0), the first snapshot's μ_1.
    pub top_growth: Option<f64>,
    /// The measured loss increase of resetting the matrix to its init
    /// (a `simulate --model lm` run's lm_truth.csv, kind `reset`), and its
    /// rank among the matrices that have one (1 = largest).
    pub reset_dl: Option<f64>,
    pub reset_rank: Option<usize>,
    /// Why the weight change is missing, or empty.
    pub status: String,
}

/// How well one quantity ranks the matrices like a measured truth.
#[derive(Debug, Clone, Serialize)]
pub struct RankCheckRow {
    pub quantity: String,
    pub truth: String,
    /// Matrices with both.
    pub matrices: usize,
    /// Spearman's rank correlation (1: the same order).
    pub spearman: Option<f64>,
}

/// When one matrix's frontier (or the model's) stopped moving.
#[derive(Debug, Clone, Serialize)]
pub struct SettledRow {
    pub name: String,
    pub frontier_source: String,
    /// The last k_* and its error, and the tolerance (2 standard errors of
    /// a difference, at least one mode).
    pub k_final: Option<f64>,
    pub k_final_err: Option<f64>,
    pub tolerance: Option<f64>,
    /// The first snapshot from which k_* stays within the tolerance of its
    /// final value: the frontier stopped moving in (t_before, t_settled].
    pub snapshot: Option<usize>,
    pub t_settled: Option<f64>,
    pub t_before: Option<f64>,
    /// Snapshots from `snapshot` to the last with a k_*.
    pub settled_snapshots: Option<usize>,
    /// `valid` when settled over at least 3 snapshots with a stable
    /// source; `unresolved` when still moving at the end (or no k_*);
    /// `inconsistent` when the source has gaps.
    pub verdict: Verdict,
    pub reason: String,
}

/// What a researcher asks of a run: which matrices learned most (and how
/// well that ranks the measured cost of undoing it, when the run has it),
/// and when the frontier stopped moving.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answers {
    /// The quantity `learned_most` is ranked by.
    pub learned_most_by: String,
    /// W_0 of the weight change: `init PATH` or `first snapshot PATH`.
    pub reference: String,
    pub learned_most: Vec<LearnedRow>,
    /// Each quantity's Spearman against the measured reset ΔL (lm runs).
    pub learned_most_vs_truth: Vec<RankCheckRow>,
    /// Per matrix, then `(model)`: the last of the matrices to settle.
    pub frontier_settled: Vec<SettledRow>,
}

/// The `compare` report.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    /// `step`, `tokens` or `lr_sum`.
    pub time: String,
    /// How the snapshots were ordered and what t is.
    pub order: String,
    pub backend: Option<Backend>,
    /// `init PATH` or `median`.
    pub noise: String,
    pub snapshots: Vec<SnapshotRow>,
    pub series: Vec<SeriesRow>,
    pub model_series: Vec<ModelSeriesRow>,
    pub dynamics: Vec<DynamicsRow>,
    pub loss_fit: LossFitRow,
    pub densing: DensingRow,
    pub modes: Vec<ModeRow>,
    pub complementarity: Vec<ComplementarityRow>,
    pub complementarity_summary: Vec<ComplementaritySummary>,
    pub answers: Answers,
    /// `--overlap K`: each matrix's top-k singular-vector overlap with the
    /// snapshot before and with the init (absent without the flag).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overlap: Vec<OverlapRow>,
    pub notes: Vec<String>,
}

/// `[x]` for a value whose verdict is not `valid` (a missing value, `-`,
/// stays as it is).
fn mark(text: String, v: Verdict) -> String {
    if v == Verdict::Valid || text == "-" {
        text
    } else {
        format!("[{text}]")
    }
}

/// `valid`, or `verdict: reason`.
fn verdict_text(v: Verdict, reason: &str) -> String {
    if v == Verdict::Valid {
        "valid".into()
    } else {
        format!("{v}: {reason}")
    }
}

impl Answers {
    /// The answers' part of the terminal table.
    fn write_table(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(w)?;
        writeln!(
            w,
            "learned most, by {} ({}):",
            self.learned_most_by, self.reference
        )?;
        let width = self
            .learned_most
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(6)
            .clamp(6, 48);
        writeln!(
            w,
            "{:>4}  {:<width$}  {:>13}  {:>15}  {:>10}  {:>8}",
            "rank", "matrix", "weight_change", "spectral_change", "top_growth", "reset dL"
        )?;
        let g = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4e}"));
        for r in &self.learned_most {
            writeln!(
                w,
                "{:>4}  {:<width$}  {:>13}  {:>15}  {:>10}  {:>8}",
                r.rank.map_or("-".into(), |k| k.to_string()),
                r.name,
                g(r.weight_change),
                g(r.spectral_change),
                g(r.top_growth),
                r.reset_dl.map_or("-".into(), |x| format!("{x:.3}")),
            )?;
        }
        for c in &self.learned_most_vs_truth {
            writeln!(
                w,
                "Spearman of {} against the {}: {} ({} matrices)",
                c.quantity,
                c.truth,
                num(c.spearman, 3),
                c.matrices
            )?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "frontier stopped moving (first snapshot from which k* stays within tolerance of its last value):"
        )?;
        writeln!(
            w,
            "{:<width$}  {:>11}  {:>14}  {:>26}  verdict",
            "matrix", "source", "k* final", "stopped in (t_before, t]"
        )?;
        for r in &self.frontier_settled {
            let t = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x}"));
            writeln!(
                w,
                "{:<width$}  {:>11}  {:>14}  {:>26}  {}",
                r.name,
                r.frontier_source,
                pm(r.k_final, r.k_final_err, 1),
                format!("({}, {}]", t(r.t_before), t(r.t_settled)),
                verdict_text(r.verdict, &r.reason),
            )?;
        }
        Ok(())
    }
}

fn pm(v: Option<f64>, e: Option<f64>, prec: usize) -> String {
    match (v, e) {
        (Some(v), Some(e)) => format!("{} ± {}", num(Some(v), prec), num(Some(e), prec)),
        (v, _) => num(v, prec),
    }
}

impl CompareReport {
    pub fn write_json(&self, w: impl Write) -> super::error::Result<()> {
        let mut w = w;
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    /// CSV: the series, one row per snapshot and matrix.
    pub fn write_csv(&self, w: impl Write) -> super::error::Result<()> {
        super::write_csv_rows(&self.series, w)
    }

    pub fn write_table(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} snapshots, t = {} ({})",
            self.snapshots.len(),
            self.time,
            self.order
        )?;
        writeln!(w)?;
        writeln!(
            w,
            "{:>4}  {:>12}  {:>10}  {:>9}  {:>10}  {:>10}  {:>7}  {:>6}",
            "snap", "t", "loss", "D", "k*_total", "mu_max", "alpha", "b"
        )?;
        for r in &self.model_series {
            writeln!(
                w,
                "{:>4}  {:>12}  {:>10}  {:>9}  {:>10}  {:>10}  {:>7}  {:>6}",
                r.snapshot,
                format!("{}", r.t),
                r.loss.map_or("-".into(), |l| format!("{l:.3e}")),
                num(r.density, 4),
                num(r.k_star_total, 1),
                r.mu_max.map_or("-".into(), |l| format!("{l:.3e}")),
                num(r.alpha, 3),
                num(r.b, 3),
            )?;
        }
        writeln!(w)?;
        let width = self
            .dynamics
            .iter()
            .map(|d| d.name.len())
            .max()
            .unwrap_or(4)
            .clamp(7, 48);
        writeln!(
            w,
            "{:<width$}  {:>17}  {:>17}  {:>9}  {:>8}  {:>17}  {:>17}  {:>17}  {:>17}  verdict",
            "matrix", "phi", "psi", "phi*psi", "route", "a", "b", "rho (frontier)", "rho (modes)"
        )?;
        for d in &self.dynamics {
            writeln!(
                w,
                "{:<width$}  {:>17}  {:>17}  {:>9}  {:>8}  {:>17}  {:>17}  {:>17}  {:>17}  {}",
                d.name,
                mark(pm(d.phi, d.phi_err, 3), d.phi_verdict),
                mark(pm(d.psi, d.psi_err, 3), d.psi_verdict),
                mark(num(d.agreement, 3), d.rho_verdict),
                d.route,
                mark(pm(d.a, d.a_err, 3), d.a_verdict),
                mark(pm(d.b, d.b_err, 3), d.a_verdict),
                mark(pm(d.rho_frontier, d.rho_frontier_err, 3), d.rho_verdict),
                mark(pm(d.rho_modes, d.rho_modes_err, 3), d.rho_verdict),
                verdict_text(d.verdict, &d.verdict_reason),
            )?;
        }
        writeln!(
            w,
            "[...]: not valid (its verdict is in the row's last column; every reason in the JSON's `status`)"
        )?;
        writeln!(w)?;
        let lf = &self.loss_fit;
        writeln!(
            w,
            "loss exponent alpha_t: {} ({} points{}){}",
            mark(pm(lf.alpha_t, lf.alpha_t_err, 4), lf.verdict),
            lf.points,
            lf.column
                .as_ref()
                .map_or(String::new(), |c| format!(", column {c}")),
            if lf.verdict == Verdict::Valid {
                String::new()
            } else {
                format!(" — {}", verdict_text(lf.verdict, &lf.status))
            }
        )?;
        let d = &self.densing;
        writeln!(
            w,
            "Densing fit ln D on ln C: slope {} ({} points), frontier predicts {}{}",
            mark(pm(d.slope, d.slope_err, 4), d.verdict),
            d.points,
            pm(d.expected, d.expected_err, 4),
            if d.verdict == Verdict::Valid {
                String::new()
            } else {
                format!(" — {}", verdict_text(d.verdict, &d.status))
            }
        )?;
        for c in &self.complementarity_summary {
            writeln!(
                w,
                "complementarity {} (k_c = {}, {} snapshots with k* > k_c): L + dL spread {} predicted, {} measured{}",
                c.name,
                c.k_c,
                c.snapshots,
                c.spread_predicted
                    .map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
                c.spread_measured
                    .map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
                if c.a_verdict == Verdict::Valid {
                    String::new()
                } else {
                    format!(" — the a it uses is {}", c.a_verdict)
                }
            )?;
        }
        self.answers.write_table(&mut w)?;
        for n in &self.notes {
            writeln!(w, "note: {n}")?;
        }
        Ok(())
    }
}

/// One estimate beside the truth it should match.
#[derive(Debug, Clone, Serialize)]
pub struct EstimateRow {
    pub quantity: String,
    pub truth: Option<f64>,
    /// `analytic`, or `measured on the true modes` (the simulator's).
    pub truth_source: String,
    /// The model's analytic law for it, where it has one.
    pub analytic: Option<f64>,
    pub estimate: Option<f64>,
    pub estimate_err: Option<f64>,
    /// How it was estimated (route, fit).
    pub method: String,
    /// estimate − truth and (estimate − truth)/truth.
    pub diff: Option<f64>,
    pub rel_diff: Option<f64>,
}

/// One real compression of one snapshot: predicted beside measured.
#[derive(Debug, Clone, Serialize)]
pub struct CompressionCheckRow {
    pub snapshot: usize,
    pub step: u64,
    /// The simulator's k_* (true modes) and the estimate from the spectrum.
    pub k_star_true: usize,
    pub k_star_est: Option<f64>,
    /// The snapshot's test loss and the loss constant C(t) from tail
    /// dominance.
    pub loss: f64,
    pub c: Option<f64>,
    /// `rank`, `quant_tensor` or `quant_channel`.
    pub kind: String,
    /// Rank r or bits B.
    pub param: u64,
    pub predicted: Option<f64>,
    pub measured: f64,
    /// predicted/measured (when both are positive).
    pub ratio: Option<f64>,
    /// Modes kept by the prediction (r, or BBP survivors k_q).
    pub kept: Option<usize>,
}

/// One validation target, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub target: String,
    /// The model it is stated for (`linear`, `deep-linear`, `all`).
    pub stated_for: String,
    pub tolerance: String,
    /// The figure that decides it (worst case over the rows it covers).
    pub value: Option<f64>,
    /// Rows or snapshots it covers.
    pub count: usize,
    /// Met, missed, or `null` when nothing was left to check.
    pub met: Option<bool>,
    pub detail: String,
}

/// The `validate` report.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    pub run: String,
    pub model: String,
    pub a: f64,
    pub b: f64,
    /// What the estimates were computed on (the effective linear map).
    pub analysed: String,
    pub estimates: Vec<EstimateRow>,
    pub targets: Vec<TargetRow>,
    pub compression: Vec<CompressionCheckRow>,
    /// The comparison itself (series, dynamics, complementarity).
    pub compare: CompareReport,
    pub notes: Vec<String>,
}

/// A Markdown table cell: pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn opt_g(v: Option<f64>) -> String {
    match v {
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e-2 && x.abs() < 1e4 => format!("{x:.3}"),
        Some(x) => format!("{x:.2e}"),
        None => "—".into(),
    }
}

impl ValidateReport {
    pub fn write_json(&self, w: impl Write) -> super::error::Result<()> {
        let mut w = w;
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    /// CSV: predicted beside measured, one row per snapshot and compression.
    pub fn write_csv(&self, w: impl Write) -> super::error::Result<()> {
        super::write_csv_rows(&self.compression, w)
    }

    pub fn write_table(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(
            w,
            "{} run {} (a = {}, b = {}); estimates on {}",
            self.model, self.run, self.a, self.b, self.analysed
        )?;
        writeln!(w)?;
        use super::table::{Col, Columns, TableView, render};
        let wide = TableView {
            width: usize::MAX,
            columns: Columns::Wide,
        };
        let col = |key, left| Col {
            key,
            left,
            compact: true,
        };
        let estimates: Vec<Vec<String>> = self
            .estimates
            .iter()
            .map(|e| {
                vec![
                    e.quantity.clone(),
                    opt_g(e.truth),
                    match (e.estimate, e.estimate_err) {
                        (Some(v), Some(s)) => format!("{} ± {}", opt_g(Some(v)), opt_g(Some(s))),
                        (v, _) => opt_g(v),
                    },
                    // Rounded first, then `+ 0.0`: no `-0.0%`.
                    e.rel_diff.map_or("—".into(), |r| {
                        format!("{:+.1}%", (1000.0 * r).round() / 10.0 + 0.0)
                    }),
                    e.method.clone(),
                ]
            })
            .collect();
        let cols = [
            col("quantity", true),
            col("truth", false),
            col("estimate", false),
            col("rel", false),
            col("method", true),
        ];
        render("validate", &cols, &estimates, &wide, &mut w)?;
        writeln!(w)?;
        let targets: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.target.clone(),
                    t.stated_for.clone(),
                    t.tolerance.clone(),
                    opt_g(t.value),
                    t.count.to_string(),
                    match t.met {
                        Some(true) => "met".to_string(),
                        Some(false) => "MISSED".to_string(),
                        None => "—".to_string(),
                    },
                ]
            })
            .collect();
        let cols = [
            col("target", true),
            col("stated for", true),
            col("tolerance", true),
            col("value", false),
            col("n", false),
            col("result", true),
        ];
        render("validate", &cols, &targets, &wide, &mut w)?;
        for n in &self.notes {
            writeln!(w, "note: {n}")?;
        }
        Ok(())
    }

    /// The Markdown tables of docs/compare-and-validate.md ("Does the
    /// theory hold?").
    pub fn write_markdown(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(w, "#### {} (a = {}, b = {})\n", self.model, self.a, self.b)?;
        writeln!(w, "| quantity | truth | estimate | rel. diff | method |")?;
        writeln!(w, "|---|---|---|---|---|")?;
        for e in &self.estimates {
            writeln!(
                w,
                "| {} | {} | {} | {} | {} |",
                cell(&e.quantity),
                opt_g(e.truth),
                match (e.estimate, e.estimate_err) {
                    (Some(v), Some(s)) => format!("{} ± {}", opt_g(Some(v)), opt_g(Some(s))),
                    (v, _) => opt_g(v),
                },
                e.rel_diff
                    .map_or("—".into(), |r| format!("{:+.1}%", 100.0 * r)),
                e.method
            )?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "| target | stated for | tolerance | value | n | result |"
        )?;
        writeln!(w, "|---|---|---|---|---|---|")?;
        for t in &self.targets {
            writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&t.target),
                t.stated_for,
                cell(&t.tolerance),
                opt_g(t.value),
                t.count,
                match t.met {
                    Some(true) => "met".to_string(),
                    Some(false) => "**missed**".to_string(),
                    None => "—".to_string(),
                }
            )?;
        }
        writeln!(w)?;
        // Predicted/measured by snapshot: medians over the target ranges.
        writeln!(
            w,
            "| step | k_* true | k_* est. | C(t) | pruning pred/meas (r ∈ [k_*/30, k_*/2]) | quant. pred/meas, tensor (B = 3…6) | quant. pred/meas, channel (B = 3…6) |"
        )?;
        writeln!(w, "|---|---|---|---|---|---|---|")?;
        let mut steps: Vec<u64> = self.compression.iter().map(|r| r.step).collect();
        steps.dedup();
        let med = |v: Vec<f64>| -> String {
            if v.is_empty() {
                return "—".into();
            }
            let mut v = v;
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (v[0], v[v.len() - 1]);
            format!(
                "{} ({}–{})",
                opt_g(Some(v[v.len() / 2])),
                opt_g(Some(lo)),
                opt_g(Some(hi))
            )
        };
        for st in steps {
            let rows: Vec<&CompressionCheckRow> =
                self.compression.iter().filter(|r| r.step == st).collect();
            let first = rows[0];
            if first.k_star_true < 5 {
                continue;
            }
            let k = first.k_star_true as f64;
            let ratios = |f: &dyn Fn(&CompressionCheckRow) -> bool| -> Vec<f64> {
                rows.iter()
                    .filter(|r| f(r))
                    .filter_map(|r| r.ratio)
                    .collect()
            };
            writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} | {} |",
                st,
                first.k_star_true,
                first.k_star_est.map_or("—".into(), |k| format!("{k:.1}")),
                opt_g(first.c),
                med(ratios(&|r| {
                    r.kind == "rank" && r.param as f64 >= k / 30.0 && r.param as f64 <= k / 2.0
                })),
                med(ratios(
                    &|r| r.kind == "quant_tensor" && (3..=6).contains(&r.param)
                )),
                med(ratios(
                    &|r| r.kind == "quant_channel" && (3..=6).contains(&r.param)
                )),
            )?;
        }
        writeln!(w)?;
        Ok(())
    }
}
