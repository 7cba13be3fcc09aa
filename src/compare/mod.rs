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
pub mod overlap;
pub mod referee;
mod run;
pub mod validate;

pub use order::{Series, SnapshotRef, series};
pub use run::{
    CompareOptions, SnapshotSource, analyse_snapshot, compare_series, compare_series_with,
    snapshot_options, validate_run,
};

use crate::analysis::{Analysis, MatrixResult};
use crate::fit::estimate::screen;
use crate::fit::noise::{Dims, count_above, noise_edge, noise_floor};
use crate::fit::saturation::{Saturation, saturation_fit};
use crate::fit::series::{
    self as fs, Dynamics, DynamicsInput, Evidence, FRONTIER_K_MIN, FRONTIER_MAX_FRACTION,
    FrontierCandidate, FrontierChoice, FrontierKind, LOSS_WINDOW_DIVISOR, Route, Value, Verdict,
    median, weighted_mean,
};
use crate::fit::{FrontierSource, SpectralFit};
use crate::load::Checkpoint;
use crate::pipeline::{self, Selection, SpectrumKind};
use crate::report::series::{
    Answers, CompareReport, ComplementarityRow, ComplementaritySummary, DensingRow, DynamicsRow,
    LearnedRow, LossFitRow, ModeRow, ModelSeriesRow, RankCheckRow, SeriesRow, SettledRow,
    SnapshotRow,
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
        source: Box<crate::analysis::AnalysisError>,
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
    /// The loss column read.
    pub column: String,
    /// File and columns, for the report.
    pub source: String,
}

/// The loss columns `read_losses` looks for without `--loss-column`, in
/// order: `predict`'s list (held-out losses first, the training loss
/// last), so that both read the same column of one file.
pub use crate::predict::LOSS_COLUMNS;

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
    /// Each matrix's weight change against `weight_reference` (by name),
    /// or why there is none.
    pub weight_changes: WeightChanges,
    /// `init PATH` or `first snapshot PATH`.
    pub weight_reference: String,
    /// A `simulate --model lm` run's measured reset ΔL per matrix.
    pub reset_truth: Option<ResetTruth>,
}

/// Squared Frobenius norms of one matrix: of W_T − W_0, of W_0 and of W_T.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightChange {
    pub diff2: f64,
    pub ref2: f64,
    pub last2: f64,
}

/// Per matrix (by name): its weight change, or why there is none.
pub type WeightChanges = Vec<(String, Result<WeightChange, String>)>;

/// The measured loss increase of resetting each matrix to its init, from
/// a `simulate --model lm` run's lm_truth.csv (rows of kind `reset`).
#[derive(Debug, Clone)]
pub struct ResetTruth {
    pub path: PathBuf,
    pub dl: Vec<(String, f64)>,
}

/// Reads the `reset` rows of an lm_truth.csv (`simulate::lm::LmTruthRow`).
pub fn read_reset_truth(path: &Path) -> Result<ResetTruth, CompareError> {
    let fmt = |reason: String| CompareError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| fmt(e.to_string()))?;
    let mut dl = Vec::new();
    for row in r.deserialize::<crate::simulate::lm::LmTruthRow>() {
        let row = row.map_err(|e| fmt(e.to_string()))?;
        if row.kind == "reset" && row.matrix != "*" {
            dl.push((row.matrix, row.dl));
        }
    }
    Ok(ResetTruth {
        path: path.to_path_buf(),
        dl,
    })
}

/// ‖W_T − W_0‖²_F, ‖W_0‖²_F and ‖W_T‖²_F of every matrix the selection
/// plans in `last`, W_0 the matrix of the same name in `reference` (every
/// view, streamed by row blocks in f64). A matrix missing from the
/// reference or of another shape there gets the reason instead.
pub fn weight_changes(
    reference: &Path,
    last: &Path,
    sel: &Selection,
) -> Result<WeightChanges, CompareError> {
    let open = |p: &Path| {
        Checkpoint::open(p).map_err(|source| CompareError::Load {
            path: p.to_path_buf(),
            source,
        })
    };
    let (ck0, ck1) = (open(reference)?, open(last)?);
    let (plan0, plan1) = (pipeline::plan(&ck0, sel), pipeline::plan(&ck1, sel));
    Ok(plan1
        .jobs
        .par_iter()
        .map(|job| {
            let name = job.spec.name.clone();
            let r = plan0
                .jobs
                .iter()
                .find(|j| j.spec.name == name)
                .ok_or_else(|| format!("not in {}", reference.display()))
                .and_then(|j0| {
                    if j0.spec.views.len() != job.spec.views.len()
                        || (j0.spec.rows, j0.spec.cols) != (job.spec.rows, job.spec.cols)
                    {
                        return Err(format!("another shape in {}", reference.display()));
                    }
                    let mut w = WeightChange {
                        diff2: 0.0,
                        ref2: 0.0,
                        last2: 0.0,
                    };
                    for (v0, v1) in j0.spec.views.iter().zip(&job.spec.views) {
                        let (d0, d1) = (
                            ck0.matrix_data(j0.tensor, *v0),
                            ck1.matrix_data(job.tensor, *v1),
                        );
                        let cols = v1.cols.max(1);
                        let step = (1 << 16) / cols + 1;
                        let (mut a, mut b) = (vec![0.0; step * cols], vec![0.0; step * cols]);
                        for r0 in (0..v1.rows).step_by(step) {
                            let r1 = (r0 + step).min(v1.rows);
                            let n = (r1 - r0) * cols;
                            let bad = d0.read_rows(r0, r1, &mut a[..n])
                                + d1.read_rows(r0, r1, &mut b[..n]);
                            if bad > 0 {
                                return Err("non-finite weights".into());
                            }
                            for (x, y) in a[..n].iter().zip(&b[..n]) {
                                w.diff2 += (y - x) * (y - x);
                                w.ref2 += x * x;
                                w.last2 += y * y;
                            }
                        }
                    }
                    Ok(w)
                });
            (name, r)
        })
        .collect())
}

/// The frontier estimates of one matrix at one snapshot: every source
/// the series may choose from, and `analyze`'s own choice.
#[derive(Debug, Clone)]
pub struct PointFit {
    pub saturation: Result<Saturation, String>,
    pub fitter_k_star: Option<usize>,
    pub fitter_source: String,
    /// The best break of the broken power law (accepted or not), and
    /// whether `analyze` accepts it as the frontier.
    pub broken: Option<(Value, bool)>,
    /// The count of modes above the noise floor, with the error of
    /// `analyze`'s noise frontier (the counts at σ ± se(σ)).
    pub noise: Option<Value>,
}

/// The count above the noise floor as `analyze`'s noise frontier makes it
/// (capped at the numerical rank; error half the spread of the counts at
/// σ ± se(σ)), for every snapshot whether or not `analyze` used it.
fn noise_count(mu: &[f64], fit: &SpectralFit) -> Option<Value> {
    let nf = fit.noise.as_ref().ok()?;
    let rank = screen(mu).ok()?.rank;
    let at = |s: f64| count_above(mu, noise_edge(s * s, fit.dims)).min(rank);
    let (hi, lo) = (
        at((nf.sigma - nf.sigma_se).max(0.0)),
        at(nf.sigma + nf.sigma_se),
    );
    Some(Value::new(
        nf.k_noise.min(rank) as f64,
        hi.saturating_sub(lo) as f64 / 2.0,
    ))
}

/// The saturation fit of one analysed matrix, over the same range the
/// fitter's rank-decay fits use (the clean range when it holds a decade,
/// else everything above the noise edge; docs/theory.md §3.1), with the
/// noise σ the analysis used; and the fitter's break and noise count.
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
    let fit = row.fit();
    let broken = fit.and_then(|f| {
        let b = f.broken.as_ref().ok()?;
        let accepted = f
            .frontier
            .as_ref()
            .is_ok_and(|fr| fr.source == FrontierSource::Break);
        Some((Value::new(b.k_break.value, b.k_break.stderr), accepted))
    });
    let noise = fit
        .zip(row.full_evals())
        .and_then(|(f, mu)| noise_count(mu, f));
    PointFit {
        saturation,
        fitter_k_star: row.k_star(),
        fitter_source: row.k_star_source().to_string(),
        broken,
        noise,
    }
}

/// The frontier series one matrix's rows use: k_*(t) and its standard
/// error from the one source chosen on the series, and that choice.
struct Frontier {
    k_star: Vec<Option<f64>>,
    k_star_err: Vec<Option<f64>>,
    kind: Option<FrontierKind>,
    choice: FrontierChoice,
}

impl Frontier {
    fn source(&self) -> &'static str {
        self.kind.map_or("none", FrontierKind::as_str)
    }

    /// Why φ cannot be trusted across its window, when it cannot (gaps in
    /// the source under a fitted φ: at least 3 window points).
    fn unstable(&self) -> Option<String> {
        (self.choice.gaps > 0 && self.choice.window_points >= 3).then(|| {
            format!(
                "k_* source `{}` is missing or unaccepted at {} snapshots inside its window ({})",
                self.source(),
                self.choice.gaps,
                self.choice.reason
            )
        })
    }
}

/// Per matrix: one frontier source for the whole series
/// (`fs::choose_frontier`: saturation, break or noise floor, the first
/// present at every snapshot of its φ window), used at every snapshot.
fn frontier_values(fits: &[Option<&PointFit>], m: usize) -> Frontier {
    let held: Vec<bool> = fits.iter().map(Option::is_some).collect();
    let candidate = |kind: FrontierKind, f: &dyn Fn(&PointFit) -> Option<(Value, bool)>| {
        let v: Vec<Option<(Value, bool)>> = fits.iter().map(|p| p.and_then(f)).collect();
        FrontierCandidate {
            kind,
            k: v.iter().map(|x| x.map(|x| x.0)).collect(),
            accepted: v.iter().map(|x| x.is_some_and(|x| x.1)).collect(),
        }
    };
    let candidates = [
        candidate(FrontierKind::Saturation, &|p| {
            p.saturation
                .as_ref()
                .ok()
                .map(|s| (Value::new(s.k_star.value, s.k_star.stderr), true))
        }),
        candidate(FrontierKind::Break, &|p| p.broken),
        candidate(FrontierKind::NoiseFloor, &|p| p.noise.map(|v| (v, true))),
    ];
    let choice = fs::choose_frontier(&candidates, &held, m);
    let c = choice.chosen.map(|i| &candidates[i]);
    Frontier {
        k_star: (0..fits.len())
            .map(|j| c.and_then(|c| c.k[j]).map(|v| v.value))
            .collect(),
        k_star_err: (0..fits.len())
            .map(|j| c.and_then(|c| c.k[j]).map(|v| v.stderr))
            .collect(),
        kind: c.map(|c| c.kind),
        choice,
    }
}

/// A value and its standard error, each as an option.
fn opt(v: Option<Value>) -> (Option<f64>, Option<f64>) {
    (v.map(|v| v.value), v.map(|v| v.stderr))
}

/// `x` when it is finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The per-matrix inputs of the dynamics chain, what its verdicts need
/// besides, and its row.
struct MatrixDyn {
    input: DynamicsInput,
    evidence: Evidence,
    row: DynamicsRow,
}

/// The dynamics row of one matrix (or the model) from its chain's input,
/// with its verdicts (`fs::judge`).
fn dynamics_row(
    name: &str,
    m: Option<usize>,
    params: u64,
    input: &DynamicsInput,
    ev: &Evidence,
) -> DynamicsRow {
    let d = Dynamics::estimate(input);
    let v = fs::judge(input, &d, ev);
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
        agreement_z_log: match (input.phi, input.psi) {
            (Some(p), Some(q)) => fs::log_ratio_z(p.times(q), Value::new(1.0, 0.0)),
            _ => None,
        },
        verdict: v.row.verdict,
        verdict_reason: v.row.headline(),
        phi_verdict: v.phi.verdict,
        psi_verdict: v.psi.verdict,
        rho_verdict: v.rho.verdict,
        a_verdict: v.a.verdict,
        spectra_verdict: if route_name == "spectra" {
            v.row.verdict
        } else {
            v.spectra.verdict
        },
        status: {
            let mut all = v.row.clone();
            all.absorb(&v.spectra);
            all.all()
        },
        ..Default::default()
    }
}

/// The inputs every phase of `assemble` shares: the time axis, the
/// matrices of the last snapshot (the series' rows, matched by name in the
/// others), each matrix's point fit at each snapshot and its frontier.
struct Ctx<'a> {
    analysed: &'a [Analysed],
    losses: Option<&'a LossCurve>,
    settings: &'a Settings,
    t: Vec<f64>,
    names: Vec<&'a MatrixResult>,
    /// `fits[matrix][snapshot]`, `None` where the snapshot lacks the matrix.
    fits: Vec<Vec<Option<PointFit>>>,
    /// The chosen k_* series, per matrix.
    frontiers: Vec<Frontier>,
}

impl<'a> Ctx<'a> {
    /// Fits every matrix at every snapshot (in parallel over matrices) and
    /// chooses each matrix's frontier estimate.
    fn new(
        analysed: &'a [Analysed],
        losses: Option<&'a LossCurve>,
        settings: &'a Settings,
    ) -> Self {
        let t: Vec<f64> = analysed.iter().map(|a| a.snapshot.t).collect();
        let last = analysed.last().expect("a series has snapshots");
        let names: Vec<&MatrixResult> = last.analysis.matrices.iter().collect();
        let fits: Vec<Vec<Option<PointFit>>> = names
            .par_iter()
            .map(|row| {
                analysed
                    .iter()
                    .map(|a| matrix_in(a, row.name()).map(point_fit))
                    .collect()
            })
            .collect();
        let frontiers = names
            .iter()
            .zip(&fits)
            .map(|(row, f)| {
                frontier_values(&f.iter().map(Option::as_ref).collect::<Vec<_>>(), row.m())
            })
            .collect();
        Ctx {
            analysed,
            losses,
            settings,
            t,
            names,
            fits,
            frontiers,
        }
    }

    /// The test loss at time `tt`, when losses were given and cover it.
    fn loss_at(&self, tt: f64) -> Option<f64> {
        self.losses.and_then(|l| fs::at_time(&l.t, &l.loss, tt))
    }

    /// The chosen k_* series of every matrix.
    fn kstars(&self) -> impl Iterator<Item = &Vec<Option<f64>>> {
        self.frontiers.iter().map(|f| &f.k_star)
    }

    /// The parameters of the matrices of the last snapshot.
    fn total_params(&self) -> u64 {
        self.names.iter().map(|r| r.params()).sum()
    }
}

/// The matrix called `name` in snapshot `a`, if it has one.
fn matrix_in<'b>(a: &'b Analysed, name: &str) -> Option<&'b MatrixResult> {
    a.analysis.matrices.iter().find(|r| r.name() == name)
}

/// Matrix `mi`'s series rows, one per snapshot that holds it.
fn series_rows(ctx: &Ctx, mi: usize) -> Vec<SeriesRow> {
    let row = ctx.names[mi];
    let m = row.m();
    let fr = &ctx.frontiers[mi];
    let mut rows = Vec::new();
    for (j, a) in ctx.analysed.iter().enumerate() {
        let Some(r) = matrix_in(a, row.name()) else {
            continue;
        };
        let pf = ctx.fits[mi][j]
            .as_ref()
            .expect("fit exists where the row does");
        let sat = pf.saturation.as_ref().ok();
        rows.push(SeriesRow {
            snapshot: j,
            t: ctx.t[j],
            name: row.name().to_string(),
            m,
            k_star: fr.k_star[j],
            k_star_err: fr.k_star_err[j],
            k_star_source: fr.source().to_string(),
            density: fr.k_star[j].map(|k| k / m as f64),
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
            k_star_break: pf.broken.map(|b| b.0.value),
            k_star_break_accepted: pf.broken.map(|b| b.1),
            k_star_noise: pf.noise.map(|v| v.value),
            overlap_prev_left: None,
            overlap_prev_right: None,
            best_match_prev_left: None,
            best_match_prev_right: None,
            overlap_init_left: None,
            overlap_init_right: None,
            best_match_init_left: None,
            best_match_init_right: None,
        });
    }
    rows
}

/// s₁ and β: medians over the snapshots whose saturation fit has its
/// front inside the frontier window (else over every accepted fit). A
/// single fit has no scatter to give the median an error: it keeps the
/// fit's own (Gauss–Newton) error.
fn s1_beta(fits: &[Option<PointFit>], m: usize) -> (Option<Value>, Option<Value>) {
    let hi = m as f64 * FRONTIER_MAX_FRACTION;
    let sats: Vec<&Saturation> = fits
        .iter()
        .filter_map(|p| p.as_ref().and_then(|p| p.saturation.as_ref().ok()))
        .collect();
    let windowed: Vec<&Saturation> = sats
        .iter()
        .copied()
        .filter(|s| s.k_star.value > FRONTIER_K_MIN && s.k_star.value < hi)
        .collect();
    let pick = if windowed.is_empty() { sats } else { windowed };
    if let [one] = pick.as_slice() {
        return (
            Some(Value::new(one.s1.value, one.s1.stderr)),
            Some(Value::new(one.beta.value, one.beta.stderr)),
        );
    }
    let s1 = median(&pick.iter().map(|s| s.s1.value).collect::<Vec<_>>());
    let beta = median(&pick.iter().map(|s| s.beta.value).collect::<Vec<_>>());
    (s1, beta)
}

/// Mode-wise ψ from one matrix's matched modes, and a row per mode.
fn mode_fit(tr: &Trajectories, min_half_time: Option<f64>) -> (Option<fs::Slope>, Vec<ModeRow>) {
    let fractions: Vec<Vec<f64>> = (0..tr.ranks.len())
        .map(|i| {
            tr.strength
                .iter()
                .map(|s| s[i] / tr.sigma_last[i])
                .collect()
        })
        .collect();
    let mf = fs::mode_exponent(&tr.t, &tr.ranks, &fractions, min_half_time);
    let rows = mf
        .modes
        .iter()
        .enumerate()
        .map(|(i, md)| ModeRow {
            name: tr.name.clone(),
            k: md.k,
            sigma_last: tr.sigma_last[i],
            t_half: md.t_half,
            fraction_at_half_time: md.fraction_at_half_time,
            used: md.used,
        })
        .collect();
    (mf.slope, rows)
}

/// What the verdicts of a matrix's row need: why φ or ψ is missing, and
/// whether its frontier source holds across the φ window.
fn matrix_evidence(fr: &Frontier, has_phi: bool, matched: bool, has_psi: bool) -> Evidence {
    Evidence {
        phi_missing: (!has_phi).then(|| {
            format!(
                "fewer than 3 snapshots with {FRONTIER_K_MIN} < k_* < M/2 (source {}: {})",
                fr.source(),
                fr.choice.reason
            )
        }),
        frontier_unstable: fr.unstable(),
        psi_missing: if !matched {
            Some("modes not matched".into())
        } else if !has_psi {
            Some("fewer than 3 saturated modes with a resolved half-learning time".into())
        } else {
            None
        },
    }
}

/// Matrix `mi`'s dynamics input from the spectra alone (φ, ψ, s₁, β) and
/// its first row, with the rows of its matched modes.
fn matrix_dynamics(
    ctx: &Ctx,
    mi: usize,
    trajectories: &[Trajectories],
) -> (MatrixDyn, Vec<ModeRow>) {
    let row = ctx.names[mi];
    let m = row.m();
    let fr = &ctx.frontiers[mi];
    let phi = fs::frontier_exponent(&ctx.t, &fr.k_star, m);
    let (s1, beta) = s1_beta(&ctx.fits[mi], m);
    let traj = trajectories.iter().find(|tr| tr.name == row.name());
    let (psi, modes) = match traj {
        Some(tr) => mode_fit(tr, ctx.settings.min_half_time),
        None => (None, Vec::new()),
    };
    let input = DynamicsInput {
        phi: phi.map(|p| Value::new(p.value, p.stderr)),
        psi: psi.map(|p| Value::new(p.value, p.stderr)),
        s1,
        beta,
        alpha_t: None,
        a_tail: None,
        b_given: ctx.settings.b,
    };
    let evidence = matrix_evidence(fr, phi.is_some(), traj.is_some(), psi.is_some());
    let mut drow = dynamics_row(row.name(), Some(m), row.params(), &input, &evidence);
    drow.frontier_source = fr.source().to_string();
    drow.frontier_missing = Some(fr.choice.missing);
    drow.frontier_unaccepted = Some(fr.choice.unaccepted);
    drow.frontier_gaps = Some(fr.choice.gaps);
    drow.frontier_reason = fr.choice.reason.clone();
    drow.phi_points = phi.map(|p| p.points);
    drow.psi_modes = psi.map(|p| p.points);
    (
        MatrixDyn {
            input,
            evidence,
            row: drow,
        },
        modes,
    )
}

/// The model at snapshot `j`: parameter-weighted density, total k_*,
/// largest μ_max, mean α and parameter-weighted b over its matrices.
fn model_series_row(ctx: &Ctx, j: usize) -> ModelSeriesRow {
    let a = &ctx.analysed[j];
    let mut dp = Vec::new();
    let mut kt = 0.0;
    let mut any_k = false;
    let mut mu_max: Option<f64> = None;
    let mut alphas = Vec::new();
    let (mut bw, mut bsum) = (0.0, 0.0);
    for (row, ks) in ctx.names.iter().zip(ctx.kstars()) {
        let Some(r) = matrix_in(a, row.name()) else {
            continue;
        };
        if let Some(k) = ks[j] {
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
    ModelSeriesRow {
        snapshot: j,
        t: ctx.t[j],
        compute: ctx.total_params() as f64 * ctx.t[j],
        density: crate::fit::model_density(dp),
        k_star_total: any_k.then_some(kt),
        mu_max,
        alpha: (!alphas.is_empty()).then(|| alphas.iter().sum::<f64>() / alphas.len() as f64),
        b: (bw > 0.0).then(|| bsum / bw),
        loss: ctx.loss_at(ctx.t[j]),
    }
}

/// The times of the snapshots inside the loss law's window: median k_*
/// above `FRONTIER_K_MIN` and median k_*/M below 1/`LOSS_WINDOW_DIVISOR`.
fn loss_window(ctx: &Ctx) -> Vec<f64> {
    (0..ctx.analysed.len())
        .filter(|&j| {
            let k: Vec<f64> = ctx.kstars().filter_map(|k| k[j]).collect();
            let frac: Vec<f64> = ctx
                .kstars()
                .zip(&ctx.names)
                .filter_map(|(k, r)| k[j].map(|k| k / r.m() as f64))
                .collect();
            match (median(&k), median(&frac)) {
                (Some(k), Some(f)) => {
                    k.value > FRONTIER_K_MIN && f.value < 1.0 / LOSS_WINDOW_DIVISOR
                }
                _ => false,
            }
        })
        .map(|j| ctx.t[j])
        .collect()
}

/// The loss exponent α_t, fitted over the loss law's window, and its row.
fn loss_fit(ctx: &Ctx) -> (LossFitRow, Option<Value>) {
    let mut row = LossFitRow {
        source: ctx.losses.map_or(String::new(), |l| l.source.clone()),
        column: ctx.losses.map(|l| l.column.clone()),
        verdict: Verdict::Unresolved,
        status: "no losses (--losses)".into(),
        ..Default::default()
    };
    let Some(l) = ctx.losses else {
        return (row, None);
    };
    let mut alpha_t: Option<Value> = None;
    let in_window = loss_window(ctx);
    match (in_window.first(), in_window.last()) {
        (Some(&lo), Some(&hi)) if hi > lo => match fs::loss_exponent(&l.t, &l.loss, lo, hi) {
            Some(s) => {
                alpha_t = Some(Value::new(s.value, s.stderr));
                row.alpha_t = Some(s.value);
                row.alpha_t_err = Some(s.stderr);
                row.points = s.points;
                row.t_min = Some(s.x_min.exp());
                row.t_max = Some(s.x_max.exp());
                let mut j = fs::Judgement::default();
                fs::check_positive(
                    &mut j,
                    "α_t",
                    Value::new(s.value, s.stderr),
                    "the loss does not fall",
                );
                row.verdict = j.verdict;
                row.status = j.all();
            }
            None => {
                row.status = format!(
                    "fewer than 3 loss rows in the window t ∈ [{lo}, {hi}] ({FRONTIER_K_MIN} < k_* < M/{LOSS_WINDOW_DIVISOR})"
                );
            }
        },
        _ => {
            row.status = format!(
                "no two snapshots with {FRONTIER_K_MIN} < k_* < M/{LOSS_WINDOW_DIVISOR} (median over matrices): the window of the loss law is empty"
            );
        }
    }
    (row, alpha_t)
}

/// The matrices' dynamics rows redone with α_t and each matrix's tail fit
/// of the losses.
fn dynamics_with_losses(ctx: &Ctx, dyns: &[MatrixDyn], alpha_t: Option<Value>) -> Vec<DynamicsRow> {
    dyns.iter()
        .zip(ctx.kstars())
        .zip(&ctx.names)
        .map(|((d, ks), row)| {
            let tail = ctx.losses.and_then(|_| {
                let l: Vec<Option<f64>> = ctx.t.iter().map(|&tt| ctx.loss_at(tt)).collect();
                fs::tail_exponent(ks, &l, row.m())
            });
            let input = DynamicsInput {
                alpha_t,
                a_tail: tail.map(|t| t.0),
                ..d.input
            };
            let mut r = dynamics_row(&d.row.name, d.row.m, d.row.params, &input, &d.evidence);
            r.a_tail_points = tail.map(|t| t.1);
            r.frontier_source = d.row.frontier_source.clone();
            r.frontier_missing = d.row.frontier_missing;
            r.frontier_unaccepted = d.row.frontier_unaccepted;
            r.frontier_gaps = d.row.frontier_gaps;
            r.frontier_reason = d.row.frontier_reason.clone();
            r.phi_points = d.row.phi_points;
            r.psi_modes = d.row.psi_modes;
            r
        })
        .collect()
}

/// The model's dynamics row: inverse-variance means (Birge-inflated
/// errors) of the φ, ψ, s₁, β and tail a of the matrices whose verdict
/// is `valid`, with α_t, through the same chain and checks. Matrices that
/// are inconsistent or out of domain are never pooled with valid ones, and
/// make the model row inconsistent / out of domain in their turn (the
/// model is not described by one set of exponents); unresolved matrices
/// are left out and named. With no valid matrix every matrix is pooled,
/// so that the numbers exist, and the row says they are not a model
/// estimate.
fn model_dynamics(
    ctx: &Ctx,
    dyns: &[MatrixDyn],
    dynamics: &[DynamicsRow],
    alpha_t: Option<Value>,
) -> DynamicsRow {
    let valid: Vec<bool> = dynamics
        .iter()
        .map(|d| d.verdict == Verdict::Valid)
        .collect();
    let any_valid = valid.iter().any(|v| *v);
    let take = |i: usize| !any_valid || valid[i];
    let pool = |f: fn(&DynamicsInput) -> Option<Value>| {
        weighted_mean(
            &dyns
                .iter()
                .enumerate()
                .filter(|(i, _)| take(*i))
                .filter_map(|(_, d)| f(&d.input))
                .collect::<Vec<_>>(),
        )
    };
    let tails: Vec<Value> = dynamics
        .iter()
        .enumerate()
        .filter(|(i, _)| take(*i))
        .filter_map(|(_, d)| d.a_tail.zip(d.a_tail_err).map(|(v, e)| Value::new(v, e)))
        .collect();
    let model_input = DynamicsInput {
        a_tail: weighted_mean(&tails),
        phi: pool(|d| d.phi),
        psi: pool(|d| d.psi),
        s1: pool(|d| d.s1),
        beta: pool(|d| d.beta),
        alpha_t,
        b_given: ctx.settings.b,
    };
    let pooled: Vec<&DynamicsRow> = dynamics
        .iter()
        .enumerate()
        .filter(|(i, _)| take(*i))
        .map(|(_, d)| d)
        .collect();
    let evidence = Evidence {
        phi_missing: Some("no pooled matrix has φ".into()),
        frontier_unstable: None,
        psi_missing: Some("no pooled matrix has ψ".into()),
    };
    let mut model_row = dynamics_row("(model)", None, ctx.total_params(), &model_input, &evidence);
    let mut extra = fs::Judgement::default();
    for v in [Verdict::Inconsistent, Verdict::OutOfDomain] {
        let names: Vec<&str> = dynamics
            .iter()
            .filter(|d| d.verdict == v)
            .map(|d| d.name.as_str())
            .collect();
        if !names.is_empty() {
            extra.flag(
                v,
                format!(
                    "{} of {} matrices {v} ({})",
                    names.len(),
                    dynamics.len(),
                    names.join(", ")
                ),
            );
        }
    }
    if !any_valid {
        extra.flag(
            Verdict::Unresolved,
            format!(
                "no matrix is valid: the values pool all {} and are not a model estimate",
                dynamics.len()
            ),
        );
    }
    let unresolved: Vec<&str> = dynamics
        .iter()
        .filter(|d| d.verdict == Verdict::Unresolved)
        .map(|d| d.name.as_str())
        .collect();
    let pooled_note = format!(
        "pools {} of {} matrices ({}){}",
        pooled.len(),
        dynamics.len(),
        if any_valid { "the valid ones" } else { "all" },
        if any_valid && !unresolved.is_empty() {
            format!("; left out, unresolved: {}", unresolved.join(", "))
        } else {
            String::new()
        }
    );
    if fs::severity(extra.verdict) > fs::severity(model_row.verdict) {
        model_row.verdict = extra.verdict;
        model_row.verdict_reason = extra.headline();
    }
    for v in [
        &mut model_row.phi_verdict,
        &mut model_row.psi_verdict,
        &mut model_row.rho_verdict,
        &mut model_row.a_verdict,
    ] {
        *v = fs::worst(*v, extra.verdict);
    }
    model_row.status = if extra.reasons.is_empty() {
        format!("{}; {pooled_note}", model_row.status)
    } else {
        format!("{}; {}; {pooled_note}", extra.all(), model_row.status)
    };
    model_row.pooled = Some(pooled.len());
    model_row.frontier_source = {
        let mut s: Vec<&str> = pooled.iter().map(|d| d.frontier_source.as_str()).collect();
        s.sort();
        s.dedup();
        s.join("+")
    };
    model_row.phi_points = Some(pooled.iter().filter(|d| d.phi.is_some()).count());
    model_row.psi_modes = Some(pooled.iter().filter(|d| d.psi.is_some()).count());
    model_row
}

/// The Densing fit: ln D on ln C over the snapshots with a model density
/// in (0, 1/2) and a median k_* above 5; expected slope the model's φ.
fn densing(ctx: &Ctx, model_series: &[ModelSeriesRow], model_row: &DynamicsRow) -> DensingRow {
    let mut densing = DensingRow {
        expected: model_row.phi,
        expected_err: model_row.phi_err,
        ..Default::default()
    };
    let (dx, dy): (Vec<f64>, Vec<f64>) = model_series
        .iter()
        .filter(|r| {
            let k: Vec<f64> = ctx.kstars().filter_map(|k| k[r.snapshot]).collect();
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
            let mut j = fs::Judgement::default();
            let slope = Value::new(s.value, s.stderr);
            match (model_row.phi, model_row.phi_err) {
                _ if model_row.phi_verdict != Verdict::Valid => j.flag(
                    Verdict::Unresolved,
                    format!(
                        "the model's φ is {}: nothing valid to compare with",
                        model_row.phi_verdict
                    ),
                ),
                (Some(p), Some(e)) => match fs::log_ratio_z(slope, Value::new(p, e)) {
                    Some(z) if z.abs() <= fs::AGREEMENT_Z_MAX => {}
                    z => j.flag(
                        Verdict::Inconsistent,
                        format!(
                            "slope {:.4} ± {:.4} against φ = {p:.4} ± {e:.4}{}",
                            s.value,
                            s.stderr,
                            z.map_or(String::new(), |z| format!(" (z = {z:.1} on the log ratio)"))
                        ),
                    ),
                },
                _ => j.flag(Verdict::Unresolved, "the model has no φ"),
            }
            densing.verdict = j.verdict;
            densing.status = j.all();
        }
        None => {
            densing.verdict = Verdict::Unresolved;
            densing.points = dx.len();
            densing.status = format!(
                "fewer than 3 snapshots with 0 < D < {FRONTIER_MAX_FRACTION} and median k_* > {FRONTIER_K_MIN}"
            );
        }
    }
    densing
}

/// k_c of the complementarity check: the caller's, else the measured rank
/// nearest (in ln) a quarter of the median final k_*, else that quarter.
fn choose_k_c(ctx: &Ctx, measured: Option<&MeasuredPruning>) -> Option<usize> {
    let final_k: Vec<f64> = ctx.kstars().filter_map(|k| *k.last().unwrap()).collect();
    ctx.settings.rank.or_else(|| {
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
    })
}

/// max/min − 1 of `f` over the in-regime rows (at least two, all positive).
fn spread(rows: &[ComplementarityRow], f: fn(&ComplementarityRow) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter(|r| r.in_regime).filter_map(f).collect();
    let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
        (lo.min(*x), hi.max(*x))
    });
    (v.len() >= 2 && lo > 0.0).then(|| hi / lo - 1.0)
}

/// Matrix `mi`'s complementarity rows at k_c (L + ΔL_c, predicted with its
/// a and C(t) from tail dominance, and measured), and their spread.
fn matrix_complementarity(
    ctx: &Ctx,
    mi: usize,
    (a, a_verdict): (f64, Verdict),
    k_c: usize,
    l: &LossCurve,
    measured: Option<&MeasuredPruning>,
) -> (Vec<ComplementarityRow>, ComplementaritySummary) {
    let row = ctx.names[mi];
    let mut rows = Vec::new();
    for (j, ks) in ctx.frontiers[mi].k_star.iter().enumerate() {
        let Some(loss) = fs::at_time(&l.t, &l.loss, ctx.t[j]) else {
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
            t: ctx.t[j],
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
    let summary = ComplementaritySummary {
        name: row.name().to_string(),
        k_c,
        snapshots: rows.iter().filter(|r| r.in_regime).count(),
        spread_predicted: spread(&rows, |r| r.sum_predicted),
        spread_measured: spread(&rows, |r| r.sum_measured),
        a_verdict,
    };
    (rows, summary)
}

/// The complementarity check over the matrices with an a (needs losses);
/// a note when no k_c can be chosen.
fn complementarity(
    ctx: &Ctx,
    dynamics: &[DynamicsRow],
    measured: Option<&MeasuredPruning>,
    notes: &mut Vec<String>,
) -> (Vec<ComplementarityRow>, Vec<ComplementaritySummary>) {
    let mut comp_rows = Vec::new();
    let mut comp_summary = Vec::new();
    let Some(l) = ctx.losses else {
        return (comp_rows, comp_summary);
    };
    let Some(k_c) = choose_k_c(ctx, measured) else {
        notes.push(
            "complementarity: no frontier at the last snapshot to choose k_c from (--rank)".into(),
        );
        return (comp_rows, comp_summary);
    };
    // The matrices' rows come first, in order; the model's row is last.
    for (mi, d) in dynamics.iter().take(ctx.names.len()).enumerate() {
        let Some(a) = d.a else {
            continue;
        };
        let (rows, summary) = matrix_complementarity(ctx, mi, (a, d.a_verdict), k_c, l, measured);
        comp_summary.push(summary);
        comp_rows.extend(rows);
    }
    (comp_rows, comp_summary)
}

/// The quantity the learned-most ranking uses.
pub const LEARNED_MOST_BY: &str = "weight_change";

/// One matrix's learned quantities (before ranking).
fn learned_row(ctx: &Ctx, mi: usize) -> LearnedRow {
    let row = ctx.names[mi];
    let name = row.name();
    let wc = ctx
        .settings
        .weight_changes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, w)| w);
    let w = wc.and_then(|w| w.as_ref().ok());
    let first = ctx
        .analysed
        .iter()
        .find_map(|a| matrix_in(a, name).and_then(|r| r.evals()));
    let last = row.evals();
    let (spectral_change, top_growth) = match (first, last) {
        (Some(f), Some(l)) if !f.is_empty() && !l.is_empty() => {
            let base: f64 = f.iter().sum();
            let moved: f64 = f.iter().zip(l).map(|(a, b)| (b - a).abs()).sum();
            (
                (base > 0.0).then(|| moved / base),
                (f[0] > 0.0).then(|| l[0] / f[0]),
            )
        }
        _ => (None, None),
    };
    LearnedRow {
        rank: None,
        name: name.to_string(),
        params: row.params(),
        weight_change: w.filter(|w| w.ref2 > 0.0).map(|w| w.diff2 / w.ref2),
        weight_change_final: w.filter(|w| w.last2 > 0.0).map(|w| w.diff2 / w.last2),
        weight_change_abs: w.map(|w| w.diff2),
        spectral_change,
        top_growth,
        // lm_truth.csv names tensors (`output.weight`), the report matrices.
        reset_dl: ctx.settings.reset_truth.as_ref().and_then(|t| {
            t.dl.iter()
                .find(|(n, _)| n == name || *n == row.tensor.name)
                .map(|(_, d)| *d)
        }),
        reset_rank: None,
        status: match wc {
            None => "no weight change computed".into(),
            Some(Err(e)) => format!("weight change: {e}"),
            Some(Ok(_)) => String::new(),
        },
    }
}

/// Descending 1-based ranks of `v` (largest first); `None` stays `None`
/// and ranks after every value.
fn rank_desc(v: &[Option<f64>]) -> Vec<Option<usize>> {
    let mut idx: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_some()).collect();
    idx.sort_by(|&a, &b| v[b].unwrap().total_cmp(&v[a].unwrap()));
    let mut out = vec![None; v.len()];
    for (r, i) in idx.into_iter().enumerate() {
        out[i] = Some(r + 1);
    }
    out
}

/// Which matrices learned most, ranked by [`LEARNED_MOST_BY`], and each
/// quantity's Spearman against the measured reset ΔL when the run has it.
fn learned_most(ctx: &Ctx) -> (Vec<LearnedRow>, Vec<RankCheckRow>) {
    let mut rows: Vec<LearnedRow> = (0..ctx.names.len())
        .map(|mi| learned_row(ctx, mi))
        .collect();
    let by = rank_desc(&rows.iter().map(|r| r.weight_change).collect::<Vec<_>>());
    let truth = rank_desc(&rows.iter().map(|r| r.reset_dl).collect::<Vec<_>>());
    for (r, (b, t)) in rows.iter_mut().zip(by.iter().zip(&truth)) {
        r.rank = *b;
        r.reset_rank = *t;
    }
    rows.sort_by(|a, b| {
        a.rank
            .unwrap_or(usize::MAX)
            .cmp(&b.rank.unwrap_or(usize::MAX))
            .then(a.name.cmp(&b.name))
    });
    let mut checks = Vec::new();
    if let Some(t) = &ctx.settings.reset_truth {
        type Quantity = (&'static str, fn(&LearnedRow) -> Option<f64>);
        let quantities: [Quantity; 5] = [
            ("weight_change", |r| r.weight_change),
            ("weight_change_final", |r| r.weight_change_final),
            ("weight_change_abs", |r| r.weight_change_abs),
            ("spectral_change", |r| r.spectral_change),
            ("top_growth", |r| r.top_growth),
        ];
        for (q, f) in quantities {
            let (x, y): (Vec<f64>, Vec<f64>) =
                rows.iter().filter_map(|r| f(r).zip(r.reset_dl)).unzip();
            checks.push(RankCheckRow {
                quantity: q.to_string(),
                truth: format!("reset ΔL ({})", t.path.display()),
                matrices: x.len(),
                spearman: fs::spearman(&x, &y),
            });
        }
    }
    (rows, checks)
}

/// When each matrix's frontier stopped moving (`fs::settling` on its
/// chosen k_* series), and the model's: the last of its matrices to settle.
fn frontier_settled(ctx: &Ctx) -> Vec<SettledRow> {
    let mut rows: Vec<SettledRow> = ctx
        .names
        .iter()
        .zip(&ctx.frontiers)
        .map(|(row, fr)| {
            let s = fs::settling(&ctx.t, &fr.k_star, &fr.k_star_err);
            let mut j = fs::Judgement::default();
            match &s {
                None => j.flag(Verdict::Unresolved, "no k_* at the last snapshot"),
                Some(s) if s.snapshots == 1 => j.flag(
                    Verdict::Unresolved,
                    format!(
                        "still moving: the snapshot before the last is more than ±{:.1} from the final k_* = {:.1}",
                        s.tolerance, s.k_final
                    ),
                ),
                Some(s) if s.snapshots < fs::SETTLED_MIN_SNAPSHOTS => j.flag(
                    Verdict::Unresolved,
                    format!(
                        "settled over the last {} snapshots only ({} needed): k_* = {:.1} ± {:.1} from t = {}",
                        s.snapshots,
                        fs::SETTLED_MIN_SNAPSHOTS,
                        s.k_final,
                        s.tolerance,
                        s.t_settled
                    ),
                ),
                Some(_) => {}
            }
            if let Some(why) = fr.unstable() {
                j.flag(Verdict::Inconsistent, why);
            }
            SettledRow {
                name: row.name().to_string(),
                frontier_source: fr.source().to_string(),
                k_final: s.map(|s| s.k_final),
                k_final_err: fr
                    .k_star
                    .iter()
                    .rposition(Option::is_some)
                    .and_then(|j| fr.k_star_err[j]),
                tolerance: s.map(|s| s.tolerance),
                snapshot: s.map(|s| s.index),
                t_settled: s.map(|s| s.t_settled),
                t_before: s.and_then(|s| s.t_before),
                settled_snapshots: s.map(|s| s.snapshots),
                verdict: j.verdict,
                reason: j.all(),
            }
        })
        .collect();
    let last = rows
        .iter()
        .filter(|r| r.t_settled.is_some())
        .max_by(|a, b| a.t_settled.unwrap().total_cmp(&b.t_settled.unwrap()));
    let worst = rows
        .iter()
        .map(|r| r.verdict)
        .reduce(fs::worst)
        .unwrap_or(Verdict::Unresolved);
    let not_valid: Vec<&str> = rows
        .iter()
        .filter(|r| r.verdict != Verdict::Valid)
        .map(|r| r.name.as_str())
        .collect();
    let model = SettledRow {
        name: "(model)".into(),
        frontier_source: last.map_or("none".into(), |r| r.frontier_source.clone()),
        k_final: None,
        k_final_err: None,
        tolerance: None,
        snapshot: last.and_then(|r| r.snapshot),
        t_settled: last.and_then(|r| r.t_settled),
        t_before: last.and_then(|r| r.t_before),
        settled_snapshots: last.and_then(|r| r.settled_snapshots),
        verdict: if rows.is_empty() {
            Verdict::Unresolved
        } else {
            worst
        },
        reason: match last {
            _ if rows.is_empty() => "no matrices".into(),
            Some(l) if not_valid.is_empty() => {
                format!("the last matrix to settle is {}", l.name)
            }
            Some(l) => format!(
                "the last matrix to settle is {}; {} of {} matrices not valid (see their rows)",
                l.name,
                not_valid.len(),
                rows.len()
            ),
            None => "no matrix has a k_* at the last snapshot".into(),
        },
    };
    rows.push(model);
    rows
}

/// The researcher's answers: learned most, and when the frontier settled.
fn answers(ctx: &Ctx) -> Answers {
    let (learned_most, learned_most_vs_truth) = learned_most(ctx);
    Answers {
        learned_most_by: format!(
            "{LEARNED_MOST_BY}: ‖W_T − W_0‖²_F/‖W_0‖²_F against the reference"
        ),
        reference: ctx.settings.weight_reference.clone(),
        learned_most,
        learned_most_vs_truth,
        frontier_settled: frontier_settled(ctx),
    }
}

/// One row per snapshot: its file, time axes and loss.
fn snapshot_rows(ctx: &Ctx) -> Vec<SnapshotRow> {
    ctx.analysed
        .iter()
        .map(|a| SnapshotRow {
            snapshot: a.snapshot.index,
            path: a.snapshot.path.display().to_string(),
            t: a.snapshot.t,
            step: a.snapshot.step,
            tokens: a.snapshot.tokens,
            lr_sum: a.snapshot.lr_sum,
            loss: ctx.loss_at(a.snapshot.t),
        })
        .collect()
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
    let ctx = Ctx::new(analysed, losses, settings);
    let mut notes = settings.notes.clone();
    let (mut series, mut mode_rows, mut dyns) = (Vec::new(), Vec::new(), Vec::new());
    for mi in 0..ctx.names.len() {
        series.extend(series_rows(&ctx, mi));
        let (d, modes) = matrix_dynamics(&ctx, mi, trajectories);
        mode_rows.extend(modes);
        dyns.push(d);
    }
    let model_series: Vec<ModelSeriesRow> = (0..analysed.len())
        .map(|j| model_series_row(&ctx, j))
        .collect();
    let (loss_fit, alpha_t) = loss_fit(&ctx);
    let mut dynamics = dynamics_with_losses(&ctx, &dyns, alpha_t);
    let model_row = model_dynamics(&ctx, &dyns, &dynamics, alpha_t);
    let densing = densing(&ctx, &model_series, &model_row);
    dynamics.push(model_row);
    let (complementarity, complementarity_summary) =
        complementarity(&ctx, &dynamics, measured, &mut notes);
    if let Some(l) = losses {
        notes.push(format!("losses: {}", l.source));
        if l.column == "train_loss" {
            notes.push(
                "losses: `train_loss` is the only loss column found: the fits use a training loss, not a held-out one (--loss-column)".into(),
            );
        }
    }
    CompareReport {
        schema_version: SCHEMA_VERSION,
        tool: Tool::this(),
        command: "compare",
        time: settings.time.map_or("index", |t| t.key()).to_string(),
        order: settings.order.clone(),
        backend: settings.backend.clone(),
        noise: settings.noise.clone(),
        snapshots: snapshot_rows(&ctx),
        series,
        model_series,
        dynamics,
        loss_fit,
        densing,
        modes: mode_rows,
        complementarity,
        complementarity_summary,
        answers: answers(&ctx),
        overlap: Vec::new(),
        notes,
    }
}

/// Reads a loss curve: a CSV with a header, the time column named like the
/// axis (`step`, `tokens`, `lr_sum`; else `t`) and the loss in `column`
/// when given (an error naming the columns present when there is no such
/// column), else in the first of [`LOSS_COLUMNS`] present.
pub fn read_losses(
    path: &Path,
    axis: TimeAxis,
    column: Option<&str>,
) -> Result<LossCurve, CompareError> {
    let fmt = |reason: String| CompareError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| fmt(e.to_string()))?;
    let headers = r.headers().map_err(|e| fmt(e.to_string()))?.clone();
    let present = || headers.iter().collect::<Vec<_>>().join(", ");
    let col = |names: &[&str]| -> Option<(usize, String)> {
        names.iter().find_map(|n| {
            headers
                .iter()
                .position(|h| h.trim() == *n)
                .map(|i| (i, n.to_string()))
        })
    };
    let (ti, tname) = col(&[axis.key(), "t"]).ok_or_else(|| {
        fmt(format!(
            "no `{}` (or `t`) column; columns: {}",
            axis.key(),
            present()
        ))
    })?;
    let (li, lname) = match column {
        Some(c) => col(&[c]).ok_or_else(|| {
            fmt(format!(
                "no loss column `{c}` (--loss-column); columns: {}",
                present()
            ))
        })?,
        None => col(&LOSS_COLUMNS).ok_or_else(|| {
            fmt(format!(
                "no loss column (looked for {}; --loss-column names another); columns: {}",
                LOSS_COLUMNS
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                present()
            ))
        })?,
    };
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| fmt(e.to_string()))?;
        let num = |c: usize, what: &str| -> Result<f64, CompareError> {
            rec.get(c)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| fmt(format!("row {}: `{what}` is not a finite number", i + 2)))
        };
        pts.push((num(ti, &tname)?, num(li, &lname)?));
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
        column: lname,
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
