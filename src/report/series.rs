//! The `compare` report: a snapshot series and what it says about the
//! dynamics (docs/compare-and-validate.md). Flat rows of numbers, so that
//! JSON, CSV, the terminal table and the HTML report's `--attach` tables
//! all come from the same structs; `null`, never NaN, for what is
//! unavailable, with the reason in a `*_status`/`notes` field.

use super::fmt::fixed as num;
use super::{Backend, Tool};
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
    /// The frontier from the matrix's frontier source (see the matrix
    /// summary), and its error.
    pub k_star: Option<f64>,
    pub k_star_err: Option<f64>,
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
    /// `analyze`'s frontier (broken power law or noise floor).
    pub k_star_fitter: Option<usize>,
    pub k_star_fitter_source: String,
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
    /// `saturation`, `break`/`noise_floor` (analyze's), or mixed.
    pub frontier_source: String,
    pub phi: Option<f64>,
    pub phi_err: Option<f64>,
    pub phi_points: Option<usize>,
    pub psi: Option<f64>,
    pub psi_err: Option<f64>,
    pub psi_modes: Option<usize>,
    /// φ·ψ (1 when frontier and modes agree; b-free) and its z-score.
    pub agreement: Option<f64>,
    pub agreement_err: Option<f64>,
    pub agreement_z: Option<f64>,
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
    /// Why something above is missing (first reason), or `ok`.
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
    pub status: String,
}

/// The loss-vs-time fit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossFitRow {
    pub source: String,
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
    pub notes: Vec<String>,
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
            "{:<width$}  {:>15}  {:>15}  {:>7}  {:>8}  {:>15}  {:>15}  {:>15}  {:>15}",
            "matrix", "phi", "psi", "phi*psi", "route", "a", "b", "rho (frontier)", "rho (modes)"
        )?;
        for d in &self.dynamics {
            writeln!(
                w,
                "{:<width$}  {:>15}  {:>15}  {:>7}  {:>8}  {:>15}  {:>15}  {:>15}  {:>15}",
                d.name,
                pm(d.phi, d.phi_err, 3),
                pm(d.psi, d.psi_err, 3),
                num(d.agreement, 3),
                d.route,
                pm(d.a, d.a_err, 3),
                pm(d.b, d.b_err, 3),
                pm(d.rho_frontier, d.rho_frontier_err, 3),
                pm(d.rho_modes, d.rho_modes_err, 3),
            )?;
        }
        writeln!(w)?;
        let lf = &self.loss_fit;
        writeln!(
            w,
            "loss exponent alpha_t: {} ({} points){}",
            pm(lf.alpha_t, lf.alpha_t_err, 4),
            lf.points,
            if lf.status == "ok" {
                String::new()
            } else {
                format!(" — {}", lf.status)
            }
        )?;
        let d = &self.densing;
        writeln!(
            w,
            "Densing fit ln D on ln C: slope {} ({} points), frontier predicts {}{}",
            pm(d.slope, d.slope_err, 4),
            d.points,
            pm(d.expected, d.expected_err, 4),
            if d.status == "ok" {
                String::new()
            } else {
                format!(" — {}", d.status)
            }
        )?;
        for c in &self.complementarity_summary {
            writeln!(
                w,
                "complementarity {} (k_c = {}, {} snapshots with k* > k_c): L + dL spread {} predicted, {} measured",
                c.name,
                c.k_c,
                c.snapshots,
                c.spread_predicted
                    .map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
                c.spread_measured
                    .map_or("-".into(), |s| format!("{:.1}%", 100.0 * s)),
            )?;
        }
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
        writeln!(
            w,
            "{:<44}  {:>9}  {:>18}  {:>8}  method",
            "quantity", "truth", "estimate", "rel"
        )?;
        for e in &self.estimates {
            writeln!(
                w,
                "{:<44}  {:>9}  {:>18}  {:>8}  {}",
                e.quantity,
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
            "{:<56}  {:<11}  {:<22}  {:>9}  {:>5}  result",
            "target", "stated for", "tolerance", "value", "n"
        )?;
        for t in &self.targets {
            writeln!(
                w,
                "{:<56}  {:<11}  {:<22}  {:>9}  {:>5}  {}",
                t.target,
                t.stated_for,
                t.tolerance,
                opt_g(t.value),
                t.count,
                match t.met {
                    Some(true) => "met".to_string(),
                    Some(false) => "MISSED".to_string(),
                    None => "—".to_string(),
                }
            )?;
        }
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
