//! Snapshot series: the dynamics of THEORY.md §1–3 read off a training
//! run's checkpoints. Given each snapshot's analysis (computed once per
//! snapshot by the pipeline, whichever backend), the matched modes of
//! `modes`, and optionally the losses and the run's measured compression,
//! `assemble` writes the `compare` report: per matrix and per model
//! k_*(t), D(t), μ_max(t), α(t), b(t); φ, ψ and ρ both ways with their
//! agreement; a and b by the spectra (p = 1) and by the losses; the loss
//! exponent; the Densing fit; and the complementarity check. `validate`
//! holds a simulated run's truth beside it.
//!
//! Owns the ordering of snapshots (`order`), mode matching (`modes`) and
//! the assembly of the series; the estimators are `fit::saturation` and
//! `fit::series`, the predictions `theory`. Spectra come from the caller.

pub mod modes;
pub mod order;
mod run;
pub mod validate;

pub use order::{Series, SnapshotRef, series};
pub use run::{
    CompareOptions, SnapshotSource, analyse_snapshot, compare_series, compare_series_with,
    snapshot_options, validate_run,
};

use crate::analysis::{Analysis, MatrixResult};
use crate::fit::estimate::screen;
use crate::fit::noise::{Dims, noise_floor};
use crate::fit::saturation::{Saturation, saturation_fit};
use crate::fit::series::{
    self as fs, Dynamics, DynamicsInput, FRONTIER_K_MIN, FRONTIER_MAX_FRACTION,
    LOSS_WINDOW_DIVISOR, Route, Value, median, weighted_mean,
};
use crate::pipeline::SpectrumKind;
use crate::report::series::{
    CompareReport, ComplementarityRow, ComplementaritySummary, DensingRow, DynamicsRow, LossFitRow,
    ModeRow, ModelSeriesRow, SeriesRow, SnapshotRow,
};
use crate::report::{Backend, SCHEMA_VERSION, Tool};
use crate::theory::prune::LossModel;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The time axis of the fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TimeAxis {
    /// Optimizer steps (metadata `step`).
    Step,
    /// Examples or tokens seen (metadata `tokens`).
    Tokens,
    /// Σ of learning rates (metadata `lr_sum`).
    LrSum,
}

impl TimeAxis {
    /// The metadata key (and losses.csv column) of this axis.
    pub fn key(self) -> &'static str {
        match self {
            TimeAxis::Step => "step",
            TimeAxis::Tokens => "tokens",
            TimeAxis::LrSum => "lr_sum",
        }
    }
}

/// Errors of `compare` and `validate`; each names the file or input.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Input(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Load {
        path: PathBuf,
        source: crate::load::LoadError,
    },
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error(transparent)]
    Sim(#[from] crate::simulate::SimError),
    #[error("snapshot {}: {source}", path.display())]
    Snapshot {
        path: PathBuf,
        source: crate::analysis::AnalysisError,
    },
}

impl CompareError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> CompareError {
        CompareError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One snapshot and its analysis (kept whole, so `report` can show the
/// last snapshot without analysing it again).
#[derive(Debug, Clone)]
pub struct Analysed {
    pub snapshot: SnapshotRef,
    pub analysis: Analysis,
}

/// Matched modes of one matrix: `strength[j][i]` = s_{ranks[i]}(t[j]), at
/// the snapshots that were projected (every one up to the first at or past
/// half the last time, and the last: a mode the ψ fit can use has crossed
/// ½ by then, so later snapshots add nothing).
#[derive(Debug, Clone)]
pub struct Trajectories {
    pub name: String,
    pub ranks: Vec<usize>,
    pub sigma_last: Vec<f64>,
    pub t: Vec<f64>,
    pub strength: Vec<Vec<f64>>,
}

/// A loss curve over the same time axis.
#[derive(Debug, Clone)]
pub struct LossCurve {
    pub t: Vec<f64>,
    pub loss: Vec<f64>,
    /// File and column, for the report.
    pub source: String,
}

/// Measured pruning losses (a simulator run's compression.csv): for a
/// snapshot (by its position in the series), rank r → ΔL.
#[derive(Debug, Clone, Default)]
pub struct MeasuredPruning {
    pub rows: Vec<(usize, u64, f64)>,
}

impl MeasuredPruning {
    fn at(&self, snapshot: usize, rank: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.0 == snapshot && r.1 == rank as u64)
            .map(|r| r.2)
    }
    fn ranks(&self) -> Vec<u64> {
        let mut r: Vec<u64> = self.rows.iter().map(|r| r.1).collect();
        r.sort();
        r.dedup();
        r
    }
}

/// What the caller sets.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `step`, `tokens` or `lr_sum`.
    pub time: Option<TimeAxis>,
    pub order: String,
    pub noise: String,
    /// k_c of the complementarity check; default chosen from the data.
    pub rank: Option<usize>,
    /// A known operator exponent b (`--b`).
    pub b: Option<f64>,
    /// Half-learning times below this are not used for ψ (`validate`: the
    /// simulator's first steps are not a discretized flow).
    pub min_half_time: Option<f64>,
    pub backend: Option<Backend>,
    pub notes: Vec<String>,
}

/// The frontier estimates of one matrix at one snapshot.
#[derive(Debug, Clone)]
pub struct PointFit {
    pub saturation: Result<Saturation, String>,
    pub fitter_k_star: Option<usize>,
    pub fitter_source: String,
}

/// The saturation fit of one analysed matrix, over the same range the
/// fitter's rank-decay fits use (the clean range when it holds a decade,
/// else everything above the noise edge; docs/theory.md §3.1), with the
/// noise σ the analysis used.
pub fn point_fit(row: &MatrixResult) -> PointFit {
    let saturation = match &row.spectrum {
        Err(e) => Err(e.to_string()),
        Ok(s) if s.kind != SpectrumKind::Full => Err(format!(
            "{} spectrum (method {}): the saturation fit needs every eigenvalue",
            s.kind.as_str(),
            row.method.as_str()
        )),
        Ok(s) => match screen(&s.evals) {
            Err(e) => Err(e.to_string()),
            Ok(sc) => {
                let mu = &s.evals;
                let s = sc;
                let d = Dims::of(row.n(), row.m());
                let nf = noise_floor(mu, d, row.noise_sigma());
                let clean = nf.k_clean.min(s.rank);
                let cap = if clean >= crate::fit::estimate::MIN_EVALS {
                    clean
                } else {
                    nf.k_noise.min(s.rank)
                };
                saturation_fit(&s, cap).map_err(|e| e.to_string())
            }
        },
    };
    PointFit {
        saturation,
        fitter_k_star: row.k_star(),
        fitter_source: row.k_star_source().to_string(),
    }
}

/// Per matrix: which frontier estimate the series uses.
fn frontier_values(
    fits: &[Option<&PointFit>],
    m: usize,
) -> (Vec<Option<f64>>, Vec<Option<f64>>, String) {
    let hi = m as f64 * FRONTIER_MAX_FRACTION;
    let sat: Vec<Option<&Saturation>> = fits
        .iter()
        .map(|f| f.and_then(|f| f.saturation.as_ref().ok()))
        .collect();
    let in_window = sat
        .iter()
        .flatten()
        .filter(|s| s.k_star.value > FRONTIER_K_MIN && s.k_star.value < hi)
        .count();
    if in_window >= 3 {
        (
            sat.iter().map(|s| s.map(|s| s.k_star.value)).collect(),
            sat.iter().map(|s| s.map(|s| s.k_star.stderr)).collect(),
            "saturation".into(),
        )
    } else {
        let mut sources: Vec<&str> = fits
            .iter()
            .flatten()
            .filter(|f| f.fitter_k_star.is_some())
            .map(|f| f.fitter_source.as_str())
            .collect();
        sources.sort();
        sources.dedup();
        (
            fits.iter()
                .map(|f| f.and_then(|f| f.fitter_k_star.map(|k| k as f64)))
                .collect(),
            vec![None; fits.len()],
            if sources.is_empty() {
                "none".into()
            } else {
                sources.join("+")
            },
        )
    }
}

fn opt(v: Option<Value>) -> (Option<f64>, Option<f64>) {
    (v.map(|v| v.value), v.map(|v| v.stderr))
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The per-matrix inputs of the dynamics chain, and its row.
struct MatrixDyn {
    input: DynamicsInput,
    row: DynamicsRow,
}

fn dynamics_row(name: &str, m: Option<usize>, params: u64, input: &DynamicsInput) -> DynamicsRow {
    let d = Dynamics::estimate(input);
    let (route, route_name): (&Route, &str) = d.headline();
    let (a, a_err) = opt(route.a);
    let (b, b_err) = opt(route.b);
    let (rho_frontier, rho_frontier_err) = opt(route.rho_frontier);
    let (rho_modes, rho_modes_err) = opt(route.rho_modes);
    let (rho, rho_err) = opt(route.rho);
    let (phi, phi_err) = opt(input.phi);
    let (psi, psi_err) = opt(input.psi);
    let (s1, s1_err) = opt(input.s1);
    let (beta, beta_err) = opt(input.beta);
    let (agreement, agreement_err) = opt(d.agreement);
    let (rho_spectra, rho_spectra_err) = opt(d.spectra.rho);
    let (alpha_t_predicted, alpha_t_predicted_err) = opt(d.spectra.alpha_t_predicted);
    let (rho_losses, rho_losses_err) = opt(d.losses.rho);
    let (alpha_t, alpha_t_err) = opt(input.alpha_t);
    DynamicsRow {
        name: name.to_string(),
        m,
        params,
        frontier_source: String::new(),
        phi,
        phi_err,
        phi_points: None,
        psi,
        psi_err,
        psi_modes: None,
        agreement,
        agreement_err,
        agreement_z: d.agreement_z,
        s1,
        s1_err,
        beta,
        beta_err,
        route: if route_name == "losses" && d.losses_a == "tail fit" {
            "losses (tail fit)".into()
        } else {
            route_name.into()
        },
        a,
        a_err,
        b,
        b_err,
        rho_frontier,
        rho_frontier_err,
        rho_modes,
        rho_modes_err,
        rho,
        rho_err,
        a_spectra: d.spectra.a.map(|v| v.value),
        b_spectra: d.spectra.b.map(|v| v.value),
        rho_spectra,
        rho_spectra_err,
        alpha_t_predicted,
        alpha_t_predicted_err,
        a_losses: d.losses.a.map(|v| v.value),
        a_losses_from: if d.losses.a.is_some() {
            d.losses_a.into()
        } else {
            String::new()
        },
        a_tail: input.a_tail.map(|v| v.value),
        a_tail_err: input.a_tail.map(|v| v.stderr),
        a_tail_points: None,
        b_losses: d.losses.b.map(|v| v.value),
        rho_losses,
        rho_losses_err,
        alpha_t,
        alpha_t_err,
        status: String::new(),
    }
}

/// Assembles the report from the analysed snapshots (in time order), the
/// matched modes, and the optional losses and measured pruning.
pub fn assemble(
    analysed: &[Analysed],
    trajectories: &[Trajectories],
    losses: Option<&LossCurve>,
    measured: Option<&MeasuredPruning>,
    settings: &Settings,
) -> CompareReport {
    let mut notes = settings.notes.clone();
    let t: Vec<f64> = analysed.iter().map(|a| a.snapshot.t).collect();
    let last = analysed.last().expect("a series has snapshots");
    // Matrices in the last snapshot's order, matched by name.
    let names: Vec<&MatrixResult> = last.analysis.matrices.iter().collect();
    let index_of =
        |a: &Analysed, name: &str| a.analysis.matrices.iter().position(|r| r.name() == name);
    let fits: Vec<Vec<Option<PointFit>>> = names
        .par_iter()
        .map(|row| {
            analysed
                .iter()
                .map(|a| index_of(a, &row.name()).map(|i| point_fit(&a.analysis.matrices[i])))
                .collect()
        })
        .collect();
    let loss_at = |tt: f64| losses.and_then(|l| fs::at_time(&l.t, &l.loss, tt));

    let mut series = Vec::new();
    // Per matrix: chosen k_* series.
    let mut kstars: Vec<Vec<Option<f64>>> = Vec::new();
    let mut dyns: Vec<MatrixDyn> = Vec::new();
    let mut mode_rows = Vec::new();
    for (mi, row) in names.iter().enumerate() {
        let m = row.m();
        let f: Vec<Option<&PointFit>> = fits[mi].iter().map(|f| f.as_ref()).collect();
        let (ks, ks_err, source) = frontier_values(&f, m);
        for (j, a) in analysed.iter().enumerate() {
            let Some(i) = index_of(a, &row.name()) else {
                continue;
            };
            let r = &a.analysis.matrices[i];
            let pf = f[j].expect("fit exists where the row does");
            let sat = pf.saturation.as_ref().ok();
            series.push(SeriesRow {
                snapshot: j,
                t: t[j],
                name: row.name().to_string(),
                m,
                k_star: ks[j],
                k_star_err: ks_err[j],
                density: ks[j].map(|k| k / m as f64),
                mu_max: r.lambda_max(),
                alpha: r.alpha(),
                b: r.b(),
                k_star_saturation: sat.map(|s| s.k_star.value),
                s1: sat.map(|s| s.s1.value),
                beta: sat.map(|s| s.beta.value),
                a_saturation: sat.map(|s| s.a.value),
                saturation_rms: sat.map(|s| s.rms),
                saturation_status: match &pf.saturation {
                    Ok(_) => "ok".into(),
                    Err(e) => e.clone(),
                },
                k_star_fitter: r.k_star(),
                k_star_fitter_source: r.k_star_source().to_string(),
            });
        }
        let phi = fs::frontier_exponent(&t, &ks, m);
        // s₁ and β: medians over the snapshots whose saturation fit has its
        // front inside the frontier window (else over every accepted fit).
        let hi = m as f64 * FRONTIER_MAX_FRACTION;
        let sats: Vec<&Saturation> = f
            .iter()
            .filter_map(|p| p.and_then(|p| p.saturation.as_ref().ok()))
            .collect();
        let windowed: Vec<&&Saturation> = sats
            .iter()
            .filter(|s| s.k_star.value > FRONTIER_K_MIN && s.k_star.value < hi)
            .collect();
        let pick: Vec<&Saturation> = if windowed.is_empty() {
            sats.clone()
        } else {
            windowed.into_iter().copied().collect()
        };
        let s1 = median(&pick.iter().map(|s| s.s1.value).collect::<Vec<_>>());
        let beta = median(&pick.iter().map(|s| s.beta.value).collect::<Vec<_>>());
        // Mode-wise ψ.
        let traj = trajectories.iter().find(|tr| tr.name == row.name());
        let mode_fit = traj.map(|tr| {
            let fractions: Vec<Vec<f64>> = (0..tr.ranks.len())
                .map(|i| {
                    tr.strength
                        .iter()
                        .map(|s| s[i] / tr.sigma_last[i])
                        .collect()
                })
                .collect();
            fs::mode_exponent(&tr.t, &tr.ranks, &fractions, settings.min_half_time)
        });
        if let (Some(tr), Some(mf)) = (traj, &mode_fit) {
            for (i, md) in mf.modes.iter().enumerate() {
                mode_rows.push(ModeRow {
                    name: row.name().to_string(),
                    k: md.k,
                    sigma_last: tr.sigma_last[i],
                    t_half: md.t_half,
                    fraction_at_half_time: md.fraction_at_half_time,
                    used: md.used,
                });
            }
        }
        let psi = mode_fit.as_ref().and_then(|m| m.slope);
        let input = DynamicsInput {
            phi: phi.map(|p| Value::new(p.value, p.stderr)),
            psi: psi.map(|p| Value::new(p.value, p.stderr)),
            s1,
            beta,
            alpha_t: None,
            a_tail: None,
            b_given: settings.b,
        };
        let mut drow = dynamics_row(row.name(), Some(m), row.params(), &input);
        drow.frontier_source = source;
        drow.phi_points = phi.map(|p| p.points);
        drow.psi_modes = psi.map(|p| p.points);
        let mut why = Vec::new();
        if phi.is_none() {
            why.push(format!(
                "φ: fewer than 3 snapshots with {FRONTIER_K_MIN} < k_* < M/2"
            ));
        }
        if traj.is_none() {
            why.push("ψ: modes not matched".to_string());
        } else if psi.is_none() {
            why.push("ψ: fewer than 3 saturated modes with a resolved half-learning time".into());
        }
        if s1.is_none() {
            why.push("s₁, β: no accepted saturation fit".into());
        }
        drow.status = if why.is_empty() {
            "ok".into()
        } else {
            why.join("; ")
        };
        kstars.push(ks);
        dyns.push(MatrixDyn { input, row: drow });
    }

    // Model series.
    let total_params: u64 = names.iter().map(|r| r.params()).sum();
    let mut model_series = Vec::new();
    for (j, a) in analysed.iter().enumerate() {
        let mut dp = Vec::new();
        let mut kt = 0.0;
        let mut any_k = false;
        let mut mu_max: Option<f64> = None;
        let mut alphas = Vec::new();
        let (mut bw, mut bsum) = (0.0, 0.0);
        for (mi, row) in names.iter().enumerate() {
            let Some(i) = index_of(a, &row.name()) else {
                continue;
            };
            let r = &a.analysis.matrices[i];
            if let Some(k) = kstars[mi][j] {
                dp.push((Some(k / row.m() as f64), row.params()));
                kt += k;
                any_k = true;
            }
            if let Some(l) = r.lambda_max() {
                mu_max = Some(mu_max.map_or(l, |m: f64| m.max(l)));
            }
            if let Some(al) = r.alpha() {
                alphas.push(al);
            }
            if let Some(b) = r.b() {
                bsum += b * r.params() as f64;
                bw += r.params() as f64;
            }
        }
        model_series.push(ModelSeriesRow {
            snapshot: j,
            t: t[j],
            compute: total_params as f64 * t[j],
            density: crate::fit::model_density(dp),
            k_star_total: any_k.then_some(kt),
            mu_max,
            alpha: (!alphas.is_empty()).then(|| alphas.iter().sum::<f64>() / alphas.len() as f64),
            b: (bw > 0.0).then(|| bsum / bw),
            loss: loss_at(t[j]),
        });
    }

    // Loss exponent over the model's window: median k_* > 5 and median
    // k_*/M < 1/20.
    let mut loss_fit = LossFitRow {
        source: losses.map_or(String::new(), |l| l.source.clone()),
        status: "no losses (--losses)".into(),
        ..Default::default()
    };
    let mut alpha_t: Option<Value> = None;
    if let Some(l) = losses {
        let in_window: Vec<f64> = (0..analysed.len())
            .filter(|&j| {
                let k: Vec<f64> = kstars.iter().filter_map(|k| k[j]).collect();
                let frac: Vec<f64> = kstars
                    .iter()
                    .zip(&names)
                    .filter_map(|(k, r)| k[j].map(|k| k / r.m() as f64))
                    .collect();
                match (median(&k), median(&frac)) {
                    (Some(k), Some(f)) => {
                        k.value > FRONTIER_K_MIN && f.value < 1.0 / LOSS_WINDOW_DIVISOR
                    }
                    _ => false,
                }
            })
            .map(|j| t[j])
            .collect();
        match (in_window.first(), in_window.last()) {
            (Some(&lo), Some(&hi)) if hi > lo => match fs::loss_exponent(&l.t, &l.loss, lo, hi) {
                Some(s) => {
                    alpha_t = Some(Value::new(s.value, s.stderr));
                    loss_fit.alpha_t = Some(s.value);
                    loss_fit.alpha_t_err = Some(s.stderr);
                    loss_fit.points = s.points;
                    loss_fit.t_min = Some(s.x_min.exp());
                    loss_fit.t_max = Some(s.x_max.exp());
                    loss_fit.status = "ok".into();
                }
                None => {
                    loss_fit.status = format!(
                        "fewer than 3 loss rows in the window t ∈ [{lo}, {hi}] ({FRONTIER_K_MIN} < k_* < M/{LOSS_WINDOW_DIVISOR})"
                    );
                }
            },
            _ => {
                loss_fit.status = format!(
                    "no two snapshots with {FRONTIER_K_MIN} < k_* < M/{LOSS_WINDOW_DIVISOR} (median over matrices): the window of the loss law is empty"
                );
            }
        }
    }

    // Redo the chain with α_t, then the model row.
    let mut dynamics: Vec<DynamicsRow> = dyns
        .iter()
        .zip(&kstars)
        .zip(&names)
        .map(|((d, ks), row)| {
            let tail = losses.and_then(|_| {
                let l: Vec<Option<f64>> = t.iter().map(|&tt| loss_at(tt)).collect();
                fs::tail_exponent(ks, &l, row.m())
            });
            let input = DynamicsInput {
                alpha_t,
                a_tail: tail.map(|t| t.0),
                ..d.input
            };
            let mut r = dynamics_row(&d.row.name, d.row.m, d.row.params, &input);
            r.a_tail_points = tail.map(|t| t.1);
            r.frontier_source = d.row.frontier_source.clone();
            r.phi_points = d.row.phi_points;
            r.psi_modes = d.row.psi_modes;
            r.status = d.row.status.clone();
            r
        })
        .collect();
    let pool = |f: fn(&DynamicsInput) -> Option<Value>| {
        weighted_mean(&dyns.iter().filter_map(|d| f(&d.input)).collect::<Vec<_>>())
    };
    let tails: Vec<Value> = dynamics
        .iter()
        .filter_map(|d| d.a_tail.zip(d.a_tail_err).map(|(v, e)| Value::new(v, e)))
        .collect();
    let model_input = DynamicsInput {
        a_tail: weighted_mean(&tails),
        phi: pool(|d| d.phi),
        psi: pool(|d| d.psi),
        s1: pool(|d| d.s1),
        beta: pool(|d| d.beta),
        alpha_t,
        b_given: settings.b,
    };
    let mut model_row = dynamics_row("(model)", None, total_params, &model_input);
    model_row.frontier_source = {
        let mut s: Vec<&str> = dynamics
            .iter()
            .map(|d| d.frontier_source.as_str())
            .collect();
        s.sort();
        s.dedup();
        s.join("+")
    };
    model_row.phi_points = Some(dynamics.iter().filter(|d| d.phi.is_some()).count());
    model_row.psi_modes = Some(dynamics.iter().filter(|d| d.psi.is_some()).count());
    model_row.status = "ok: inverse-variance means of the matrices' φ, ψ, s₁, β (Birge-inflated errors); phi_points/psi_modes count matrices".into();
    dynamics.push(model_row.clone());

    // Densing: ln D on ln C over the snapshots with a model density in
    // (0, 1/2) and a median k_* above 5.
    let mut densing = DensingRow {
        expected: model_row.phi,
        expected_err: model_row.phi_err,
        ..Default::default()
    };
    let (dx, dy): (Vec<f64>, Vec<f64>) = model_series
        .iter()
        .filter(|r| {
            let k: Vec<f64> = kstars.iter().filter_map(|k| k[r.snapshot]).collect();
            r.density
                .is_some_and(|d| d > 0.0 && d < FRONTIER_MAX_FRACTION)
                && median(&k).is_some_and(|k| k.value > FRONTIER_K_MIN)
                && r.compute > 0.0
        })
        .map(|r| (r.compute.ln(), r.density.unwrap().ln()))
        .unzip();
    match fs::ols(&dx, &dy) {
        Some(s) => {
            densing.slope = Some(s.value);
            densing.slope_err = Some(s.stderr);
            densing.intercept = Some(s.intercept);
            densing.points = s.points;
            densing.compute_min = Some(s.x_min.exp());
            densing.compute_max = Some(s.x_max.exp());
            densing.status = "ok".into();
        }
        None => {
            densing.points = dx.len();
            densing.status = format!(
                "fewer than 3 snapshots with 0 < D < {FRONTIER_MAX_FRACTION} and median k_* > {FRONTIER_K_MIN}"
            );
        }
    }

    // Complementarity.
    let mut comp_rows = Vec::new();
    let mut comp_summary = Vec::new();
    if let Some(l) = losses {
        let final_k: Vec<f64> = kstars.iter().filter_map(|k| *k.last().unwrap()).collect();
        let k_c = settings.rank.or_else(|| {
            let target = median(&final_k)?.value / 4.0;
            if target < 1.0 {
                return None;
            }
            match measured.map(|m| m.ranks()).filter(|r| !r.is_empty()) {
                Some(r) => r
                    .iter()
                    .min_by(|a, b| {
                        ((**a as f64).ln() - target.ln())
                            .abs()
                            .total_cmp(&((**b as f64).ln() - target.ln()).abs())
                    })
                    .map(|&r| r as usize),
                None => Some(target.round() as usize),
            }
        });
        match k_c {
            None => notes.push(
                "complementarity: no frontier at the last snapshot to choose k_c from (--rank)"
                    .into(),
            ),
            Some(k_c) => {
                for (mi, row) in names.iter().enumerate() {
                    let Some(a) = dynamics[mi].a else {
                        continue;
                    };
                    let mut rows = Vec::new();
                    for (j, ks) in kstars[mi].iter().enumerate() {
                        let Some(loss) = fs::at_time(&l.t, &l.loss, t[j]) else {
                            continue;
                        };
                        let model = ks.map(|k| LossModel {
                            a,
                            k_star: (k.round() as usize).min(row.m()),
                        });
                        let c = model.and_then(|lm| {
                            let tail = lm.lost(lm.k_star, row.m());
                            (tail > 0.0).then(|| loss / tail)
                        });
                        let dl_predicted = match (model, c) {
                            (Some(lm), Some(c)) => finite(c * lm.prune(k_c.min(row.m()))),
                            _ => None,
                        };
                        let dl_measured = measured.and_then(|m| m.at(j, k_c));
                        rows.push(ComplementarityRow {
                            snapshot: j,
                            t: t[j],
                            name: row.name().to_string(),
                            k_c,
                            k_star: *ks,
                            in_regime: ks.is_some_and(|k| k > k_c as f64),
                            loss,
                            c,
                            dl_predicted,
                            sum_predicted: dl_predicted.map(|d| loss + d),
                            dl_measured,
                            sum_measured: dl_measured.map(|d| loss + d),
                        });
                    }
                    let spread = |f: fn(&ComplementarityRow) -> Option<f64>| {
                        let v: Vec<f64> =
                            rows.iter().filter(|r| r.in_regime).filter_map(f).collect();
                        let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
                            (lo.min(*x), hi.max(*x))
                        });
                        (v.len() >= 2 && lo > 0.0).then(|| hi / lo - 1.0)
                    };
                    comp_summary.push(ComplementaritySummary {
                        name: row.name().to_string(),
                        k_c,
                        snapshots: rows.iter().filter(|r| r.in_regime).count(),
                        spread_predicted: spread(|r| r.sum_predicted),
                        spread_measured: spread(|r| r.sum_measured),
                    });
                    comp_rows.extend(rows);
                }
            }
        }
    }

    let snapshots = analysed
        .iter()
        .map(|a| SnapshotRow {
            snapshot: a.snapshot.index,
            path: a.snapshot.path.display().to_string(),
            t: a.snapshot.t,
            step: a.snapshot.step,
            tokens: a.snapshot.tokens,
            lr_sum: a.snapshot.lr_sum,
            loss: loss_at(a.snapshot.t),
        })
        .collect();
    if let Some(l) = losses {
        notes.push(format!("losses: {}", l.source));
    }
    CompareReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        command: "compare",
        time: settings.time.map_or("index", |t| t.key()).to_string(),
        order: settings.order.clone(),
        backend: settings.backend.clone(),
        noise: settings.noise.clone(),
        snapshots,
        series,
        model_series,
        dynamics,
        loss_fit,
        densing,
        modes: mode_rows,
        complementarity: comp_rows,
        complementarity_summary: comp_summary,
        notes,
    }
}

/// Reads a loss curve: a CSV with a header, the time column named like the
/// axis (`step`, `tokens`, `lr_sum`; else `t`) and the loss in `test_loss`,
/// `loss` or `train_loss` (the first present).
pub fn read_losses(path: &Path, axis: TimeAxis) -> Result<LossCurve, CompareError> {
    let fmt = |reason: String| CompareError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| fmt(e.to_string()))?;
    let headers = r.headers().map_err(|e| fmt(e.to_string()))?.clone();
    let col = |names: &[&'static str]| -> Option<(usize, &'static str)> {
        names
            .iter()
            .find_map(|n| headers.iter().position(|h| h.trim() == *n).map(|i| (i, *n)))
    };
    let (ti, tname) = col(&[axis.key(), "t"]).ok_or_else(|| {
        fmt(format!(
            "no `{}` (or `t`) column; columns: {}",
            axis.key(),
            headers.iter().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let (li, lname) = col(&["test_loss", "loss", "train_loss"]).ok_or_else(|| {
        fmt(format!(
            "no `test_loss`, `loss` or `train_loss` column; columns: {}",
            headers.iter().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| fmt(e.to_string()))?;
        let num = |c: usize, what: &str| -> Result<f64, CompareError> {
            rec.get(c)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| fmt(format!("row {}: `{what}` is not a finite number", i + 2)))
        };
        pts.push((num(ti, tname)?, num(li, lname)?));
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts.dedup_by(|a, b| a.0 == b.0);
    if pts.len() < 3 {
        return Err(fmt(format!(
            "{} loss rows; at least 3 are needed",
            pts.len()
        )));
    }
    Ok(LossCurve {
        t: pts.iter().map(|p| p.0).collect(),
        loss: pts.iter().map(|p| p.1).collect(),
        source: format!("{} (columns {tname}, {lname})", path.display()),
    })
}

/// The rank rows of a simulator run's compression.csv, keyed by the
/// position in `series` of the snapshot with the same step.
pub fn read_measured_pruning(
    path: &Path,
    series: &[SnapshotRef],
) -> Result<MeasuredPruning, CompareError> {
    let rows: Vec<crate::simulate::CompressionRow> = {
        let mut r = csv::Reader::from_path(path).map_err(|e| CompareError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        r.deserialize()
            .collect::<Result<_, _>>()
            .map_err(|e| CompareError::Format {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
    };
    Ok(MeasuredPruning {
        rows: rows
            .iter()
            .filter(|r| r.kind == "rank")
            .filter_map(|r| {
                let j = series.iter().position(|s| s.step == Some(r.step))?;
                Some((j, r.param, r.delta_loss))
            })
            .collect(),
    })
}
