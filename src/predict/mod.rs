//! `predict`: per-matrix and model-level predictions of pruning and
//! quantization from the spectra, and with verification the same
//! compressions done for real and measured beside them. Without
//! verification the spectra, fits and init σ are the analysis's
//! (`analysis`); verification recomputes each single-view matrix's
//! eigen-decomposition on the selected engine (it needs the vectors).
//! The numerics are `fit` and `theory`; this module schedules them and
//! assembles the report's rows.

use crate::analysis::init::job_ranges;
use crate::analysis::{self, Analysis, EngineInfo, MatrixResult};
use crate::backend::GpuContext;
use crate::fit::noise::Dims;
use crate::fit::{SpectralFit, spectral_fit};
use crate::load::Checkpoint;
use crate::load::quant::{RangeStats, range_stats};
use crate::pipeline::{self, Job, Method, Plan, Progress};
use crate::report::{
    self, CurveRow, ModelCurvePoint, PredictReport, PredictRow, PredictSummary, ProfileRow, plot,
};
use crate::theory::verify::{
    Compression, CpuExact, GpuExact, Measured, SpectrumEngine, compress, measure,
};
use crate::theory::{self, Keep, Prediction, Request};
use faer::{MatRef, Par};
use rayon::prelude::*;
use std::sync::Arc;

/// What to predict, and how.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    pub request: Request,
    /// Compress every single-view matrix for real and measure.
    pub verify: bool,
    /// Draw each matrix's pruning (and quantization) figure.
    pub plots: bool,
    /// The current loss (a loss curve's last value): ΔL in its units.
    pub loss: Option<Loss>,
}

/// A loss curve's first and last values, and where they came from.
#[derive(Debug, Clone)]
pub struct Loss {
    pub first: f64,
    pub last: f64,
    /// `FILE (column COL)`.
    pub source: String,
}

/// One matrix's figures: (name, layer id) and (file kind, figure) pairs.
pub type MatrixFigures = ((String, usize), Vec<(&'static str, plot::XyPlot)>);

/// A prediction run: the report, and each matrix's figures when asked.
pub struct Predicted {
    pub report: PredictReport,
    /// Per matrix, in plan order: (name, layer id) and its figures.
    pub figures: Vec<MatrixFigures>,
    /// What failed (files, tensors, matrices), in the order met.
    pub failures: Vec<String>,
    /// Worth knowing, nothing failed (fallbacks, method overrides).
    pub notes: Vec<String>,
}

fn describe(req: &Request) -> String {
    let keep = req.keep.map(|k| match k {
        Keep::Rank(r) => format!("rank {r}"),
        Keep::Sparsity(s) => format!("sparsity {s}"),
    });
    let q = req.quant.map(|q| q.describe());
    match (keep, q) {
        (Some(k), Some(q)) => format!("{k}, then {q}"),
        (Some(k), None) => k,
        (None, Some(q)) => q,
        (None, None) => String::new(),
    }
}

/// One point of a matrix's quantization curve: bits, relative weight
/// error, modes kept, and the predicted loss fraction when a loss model
/// exists.
type CurvePoint = (u32, f64, usize, Option<f64>);

/// One matrix's outcome.
struct Done {
    row: PredictRow,
    curve: Vec<CurveRow>,
    profile: Vec<ProfileRow>,
    /// Curve points with modes, for the model totals.
    points: Vec<CurvePoint>,
    /// `--plots`: (file kind, figure).
    figures: Vec<(&'static str, plot::XyPlot)>,
}

fn failed(job: &Job, why: String) -> Done {
    Done {
        row: PredictRow {
            layer_id: job.layer_id,
            name: job.spec.name.clone(),
            n: job.spec.n(),
            m: job.spec.m(),
            params: theory::params_of(&job.spec),
            status: "failed".into(),
            note: why,
            ..Default::default()
        },
        curve: Vec::new(),
        profile: Vec::new(),
        points: Vec::new(),
        figures: Vec::new(),
    }
}

/// The `--plots` figures of one matrix: its predicted pruning curve (with
/// the measured weight error of a pure truncation), and for a quantization
/// request its predicted curve over B = 2…8 for the requested scheme and
/// granularity (after the truncation when both are asked; with the
/// measured weight error at the requested B).
fn figures(
    job: &Job,
    mu: &[f64],
    fit: &SpectralFit,
    req: &Request,
    pred: &Prediction,
    err_meas: Option<f64>,
) -> Vec<(&'static str, plot::XyPlot)> {
    let name = &job.spec.name;
    let d = Dims::of(job.spec.rows, job.spec.cols);
    let measured_rank = match (pred.rank, req.quant, err_meas) {
        (Some(r), None, Some(e)) => Some(vec![(r as f64, e)]),
        _ => None,
    };
    let mut out = vec![(
        "pruning",
        plot::pruning_figure(
            name,
            &theory::curves::pruning_curve(mu, d, fit),
            measured_rank.as_deref(),
        ),
    )];
    if let Some(q) = req.quant {
        let mut label = plot::quantizer_label(&q);
        if let Some(r) = pred.rank {
            label = format!("{label}, after rank {r}");
        }
        let measured = err_meas.map(|e| vec![(q.bits, e)]);
        out.push((
            "quant",
            plot::quantization_figure(name, &label, &pred.curve, measured.as_deref()),
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    job: &Job,
    mu: &[f64],
    fit: &SpectralFit,
    req: &Request,
    pred: &Prediction,
    measured: Option<(&Measured, Option<f64>)>,
    alpha: Option<f64>,
    note: String,
) -> Done {
    let fr = fit.frontier.as_ref().ok();
    let q = pred.quant.as_ref();
    let mut row = PredictRow {
        layer_id: job.layer_id,
        name: job.spec.name.clone(),
        n: job.spec.n(),
        m: job.spec.m(),
        params: theory::params_of(&job.spec),
        frob2: mu.iter().sum(),
        b: fit.b().map(|b| b.value),
        b_err: fit.b().map(|b| b.stderr),
        alpha,
        b_alpha_ratio: fit.b_alpha_ratio,
        k_star: fit.k_star(),
        k_star_source: fr.map_or("", |f| f.source.as_str()).to_string(),
        density: fr.map(|f| f.density),
        s_c: fr.map(|f| f.s_c),
        a: fit.a(),
        model_status: match &pred.model {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        },
        verdict: pred.verdict().0,
        rank: pred.rank,
        trunc_energy: pred.trunc_energy,
        phase: pred.phase.map_or("", |p| p.as_str()).to_string(),
        quantizer: req.quant.map_or(String::new(), |q| q.describe()),
        sigma_q: q.map(|q| q.sigma_q2.sqrt()),
        rms_step: q.map(|q| q.rms_step),
        k_q_bbp: q.map(|q| q.k_bbp),
        k_q_weyl: q.map(|q| q.k_weyl),
        k_q_overlap: q.map(|q| q.k_overlap),
        kept: pred.kept,
        err_pred: pred.err_rel,
        dl: pred.dl,
        dl_frac: pred.dl_frac,
        shift_top_pred: pred.shift_top,
        shift_kept_pred: pred.shift_kept,
        status: "ok".into(),
        note,
        ..Default::default()
    };
    if let Some((m, b_after)) = measured {
        row.verified = true;
        row.err_meas = Some(m.err_rel);
        row.noise_ratio = match (m.noise_var, q) {
            (Some(v), Some(q)) if q.sigma_q2 > 0.0 => Some(v / q.sigma_q2),
            _ => None,
        };
        row.k_edge_meas = m.k_edge;
        row.k_overlap_meas = Some(m.k_overlap);
        row.overlap_compared = Some(m.compared);
        row.shift_top_meas = Some(m.shift_top);
        row.shift_kept_meas = m.shift_kept;
        row.b_after = b_after;
    }
    row.drop_non_finite();
    let name = &job.spec.name;
    let curve: Vec<CurveRow> = pred
        .curve
        .iter()
        .map(|p| CurveRow {
            name: name.clone(),
            bits: p.bits,
            sigma_q: p.sigma_q2.sqrt(),
            k_q_bbp: p.k_bbp,
            k_q_weyl: p.k_weyl,
            err_pred: p.err_rel,
            dl: p.dl,
            dl_frac: p.dl_frac,
        })
        .collect();
    let points = pred
        .curve
        .iter()
        .map(|p| {
            let kept = pred.rank.map_or(p.k_bbp, |r| r.min(p.k_bbp));
            (p.bits, p.err_rel, kept, p.dl_frac)
        })
        .collect();
    let profile = fit
        .profile
        .iter()
        .map(|p| ProfileRow {
            name: name.clone(),
            k: p.k,
            slope: p.slope,
        })
        .collect();
    Done {
        row,
        curve,
        profile,
        points,
        figures: Vec::new(),
    }
}

/// Predicts from the analysis's spectrum and fit (no `--verify`); `known`:
/// the weights' range statistics under the requested quantizer, when
/// already read.
fn predict_only(
    ck: &Checkpoint,
    r: &MatrixResult,
    req: &Request,
    loss: Option<(f64, f64)>,
    plots: bool,
    known: Option<RangeStats>,
) -> Done {
    let job = &r.job;
    let s = match &r.spectrum {
        Ok(s) => s,
        Err(e) => return failed(job, e.to_string()),
    };
    let mu = &s.evals;
    let d = Dims::of(job.spec.rows, job.spec.cols);
    // A partial spectrum has no framework fit of its own: fit what there is.
    let own;
    let fit = match &s.fit {
        Some(f) => f,
        None => {
            own = theory::framework_fit(&job.spec, mu, r.sigma_init, &s.metrics.fit);
            &own
        }
    };
    let ranges = req
        .quant
        .map(|q| known.unwrap_or_else(|| job_ranges(ck, job, &q)));
    let pred = theory::predict(mu, d, fit, req, ranges.as_ref());
    let alpha = s.metrics.fit.as_ref().ok().map(|a| a.alpha);
    let mut done = assemble(job, mu, fit, req, &pred, None, alpha, String::new());
    done.row.in_loss_units(&pred, loss);
    if plots {
        done.figures = figures(job, mu, fit, req, &pred, None);
    }
    done
}

/// Compresses for real and measures (single-view matrices).
fn predict_verify(
    ck: &Checkpoint,
    job: &Job,
    req: &Request,
    sigma: Option<f64>,
    loss: Option<(f64, f64)>,
    engine: &dyn SpectrumEngine,
    plots: bool,
) -> Done {
    let view = job.spec.views[0];
    let md = ck.matrix_data(job.tensor, view);
    let mut w = vec![0.0; view.rows * view.cols];
    let bad = md.read_rows(0, view.rows, &mut w);
    if bad > 0 {
        return failed(
            job,
            format!("{bad} non-finite values (NaN or Inf) in the weights"),
        );
    }
    let wm = MatRef::from_row_major_slice(&w, view.rows, view.cols);
    let before = match engine.gram_eigen(wm, true) {
        Ok(e) => e,
        Err(e) => return failed(job, e.to_string()),
    };
    let mu = &before.values;
    let d = Dims::of(view.rows, view.cols);
    let alpha = crate::fit::powerlaw::fit(mu);
    let fit = spectral_fit(mu, d, sigma, Some(&alpha));
    let ranges = req
        .quant
        .map(|q| range_stats(&w, view.cols, q.scheme, q.granularity, q.group));
    let pred = theory::predict(mu, d, &fit, req, ranges.as_ref());
    let comp = compress(
        wm,
        &before,
        &Compression {
            rank: pred.rank,
            quant: req.quant,
        },
        Par::Seq,
    );
    let after = match engine.gram_eigen(comp.w.as_ref(), true) {
        Ok(e) => e,
        Err(e) => return failed(job, format!("after compression: {e}")),
    };
    let predicted_overlap = pred.quant.map_or(pred.kept, |q| q.k_overlap.max(q.k_bbp));
    let compare = (2 * predicted_overlap.max(pred.kept)).max(64);
    let m = measure(wm, &comp, &before, &after, compare, pred.kept, Par::Seq);
    // b refitted on what the engine can resolve: on the GPU a truncated
    // W' has its null space at the f32 Gram's rounding (~1e-7·μ_1), not at
    // zero, and a fit of that floor would be a b of rounding noise.
    let resolved: Vec<f64> = m
        .after
        .iter()
        .map(|&x| if x > after.resolution { x } else { 0.0 })
        .collect();
    let fit_after = spectral_fit(&resolved, d, None, None);
    let mut done = assemble(
        job,
        mu,
        &fit,
        req,
        &pred,
        Some((&m, fit_after.b().map(|b| b.value))),
        alpha.ok().map(|a| a.alpha),
        String::new(),
    );
    done.row.in_loss_units(&pred, loss);
    if plots {
        done.figures = figures(job, mu, &fit, req, &pred, Some(m.err_rel));
    }
    done
}

fn summary(done: &[Done]) -> PredictSummary {
    let ok: Vec<&PredictRow> = done
        .iter()
        .map(|d| &d.row)
        .filter(|r| r.status == "ok")
        .collect();
    let ver: Vec<&&PredictRow> = ok.iter().filter(|r| r.verified).collect();
    let modes = |r: &PredictRow| (r.params / r.n.max(1) as u64) as f64;
    let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
    let frob: f64 = ok.iter().map(|r| r.frob2).sum();
    let frob_v: f64 = ver.iter().map(|r| r.frob2).sum();
    let density = crate::fit::model_density(ok.iter().map(|r| (r.density, r.params)));
    let dl = |it: &mut dyn Iterator<Item = (Option<f64>, u64)>| crate::fit::model_density(it);
    let mut curve = Vec::new();
    if let Some(first) = done.iter().find(|d| !d.points.is_empty()) {
        for (i, &(bits, ..)) in first.points.iter().enumerate() {
            let with: Vec<(&PredictRow, &CurvePoint)> = done
                .iter()
                .filter(|d| d.row.status == "ok")
                .filter_map(|d| d.points.get(i).map(|p| (&d.row, p)))
                .collect();
            let f: f64 = with.iter().map(|(r, _)| r.frob2).sum();
            let m: f64 = with.iter().map(|(r, _)| modes(r)).sum();
            curve.push(ModelCurvePoint {
                bits,
                err_pred: ratio(with.iter().map(|(r, p)| p.1 * r.frob2).sum(), f).unwrap_or(0.0),
                kept_frac: ratio(with.iter().map(|(_, p)| p.2 as f64).sum(), m).unwrap_or(0.0),
                dl_frac: dl(&mut with.iter().map(|(r, p)| (p.3, r.params))),
            });
        }
    }
    PredictSummary {
        matrices: done.len(),
        predicted: ok.len(),
        verified: ver.len(),
        failed: done.len() - ok.len(),
        density,
        s_c: density.map(|d| 1.0 - d),
        err_pred: ratio(ok.iter().map(|r| r.err_pred * r.frob2).sum(), frob),
        err_pred_verified: ratio(ver.iter().map(|r| r.err_pred * r.frob2).sum(), frob_v),
        err_meas: ratio(
            ver.iter()
                .filter_map(|r| r.err_meas.map(|e| e * r.frob2))
                .sum(),
            frob_v,
        ),
        kept_frac_pred: ratio(
            ok.iter().map(|r| r.kept as f64).sum(),
            ok.iter().map(|r| modes(r)).sum(),
        ),
        kept_frac_meas: ratio(
            ver.iter()
                .filter_map(|r| r.k_edge_meas.or(r.k_overlap_meas).map(|k| k as f64))
                .sum(),
            ver.iter().map(|r| modes(r)).sum(),
        ),
        dl_frac: dl(&mut ok.iter().map(|r| (r.dl_frac, r.params))),
        with_model: ok.iter().filter(|r| r.dl.is_some()).count(),
        loss: None,
        loss_drop: None,
        dl_loss: None,
        curve,
    }
}

/// The engine `--verify` recomputes spectra with: the GPU's exact path
/// when a GPU is open, else the CPU's f64 reference.
fn verify_engine(gpu: Option<&Arc<GpuContext>>) -> Box<dyn SpectrumEngine> {
    match gpu {
        Some(ctx) => Box::new(GpuExact {
            ctx: ctx.clone(),
            par: Par::Seq,
        }),
        None => Box::new(CpuExact { par: Par::Seq }),
    }
}

/// The report's account of what ran: the pipeline's (for every matrix
/// without `--verify`, for pooled convolutions with it), plus the exact
/// method of the verify engine when it ran.
fn backend_of(engine: &EngineInfo, verified: bool) -> report::Backend {
    let gpu = engine.gpu.is_some();
    let mut b = report::Backend::of(engine);
    if verified && !b.method.split('+').any(|m| m == "exact") {
        let exact = report::precision(gpu, Method::Exact);
        b.method = if b.method.is_empty() {
            "exact".into()
        } else {
            format!("exact+{}", b.method)
        };
        if !b.precision.split("; ").any(|p| p == exact) {
            b.precision = if b.precision.is_empty() {
                exact.to_string()
            } else {
                format!("{exact}; {}", b.precision)
            };
        }
    }
    b
}

/// Why nothing could be predicted.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Analysis(#[from] analysis::AnalysisError),
    #[error("thread pool: {0}")]
    Pool(String),
    #[error("{}: {why}", path.display())]
    Losses {
        path: std::path::PathBuf,
        why: String,
    },
}

/// The loss columns looked for, in order, when none is named: validation
/// before training loss.
pub const LOSS_COLUMNS: [&str; 5] = ["val_loss", "valid_loss", "test_loss", "loss", "train_loss"];

/// A loss curve's first and last values (a CSV with a header, rows in time
/// order): of `column`, or of the first of [`LOSS_COLUMNS`] present. An
/// unknown column is an error naming the columns present.
pub fn read_loss(path: &std::path::Path, column: Option<&str>) -> Result<Loss, PredictError> {
    let err = |why: String| PredictError::Losses {
        path: path.to_path_buf(),
        why,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| err(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let present = || headers.join(", ");
    let (i, name) = match column {
        Some(c) => headers
            .iter()
            .position(|h| h == c)
            .map(|i| (i, c.to_string()))
            .ok_or_else(|| err(format!("no column `{c}`; columns: {}", present())))?,
        None => LOSS_COLUMNS
            .iter()
            .find_map(|c| {
                headers
                    .iter()
                    .position(|h| h == c)
                    .map(|i| (i, c.to_string()))
            })
            .ok_or_else(|| {
                err(format!(
                    "no loss column ({}); name one with --loss-column; columns: {}",
                    LOSS_COLUMNS.join(", "),
                    present()
                ))
            })?,
    };
    let (mut first, mut last) = (None, None);
    for (row, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        let v = rec
            .get(i)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
            .ok_or_else(|| err(format!("row {}: `{name}` is not a finite number", row + 2)))?;
        first.get_or_insert(v);
        last = Some(v);
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Err(err("no rows".into()));
    };
    Ok(Loss {
        first,
        last,
        source: format!("{} (column {name})", path.display()),
    })
}

/// Pooled convolutions are several matrices sharing one spectrum:
/// truncating the pooled spectrum is not a compression of any one slice,
/// so under verification they are predicted from the pooled spectrum,
/// unverified.
fn pooled_only(plan: &Plan) -> (Plan, Plan) {
    let (pooled, single): (Vec<Job>, Vec<Job>) = plan
        .jobs
        .iter()
        .cloned()
        .partition(|j| j.spec.views.len() > 1);
    let sub = |jobs| Plan {
        jobs,
        skipped: Vec::new(),
    };
    (sub(pooled), sub(single))
}

/// The verified run: pooled convolutions predicted from the pipeline's
/// pooled spectrum, every other matrix compressed and measured.
fn verified(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &analysis::Options,
    p: &PredictOptions,
    progress: &dyn Progress,
    out: &mut Messages,
) -> Result<(Vec<Done>, EngineInfo), PredictError> {
    let (pooled, single) = pooled_only(plan);
    let pooled_an = analysis::analyze_plan(ck, &pooled, opts, &pipeline::Silent)?;
    let sigmas = match &opts.init {
        Some(path) => analysis::init::sigmas(path, ck, &single).map_err(|source| {
            analysis::AnalysisError::Init {
                path: path.clone(),
                source,
            }
        })?,
        None => analysis::init::InitSigmas::none(single.jobs.len()),
    };
    out.failures.extend(pooled_an.failures());
    out.notes.extend(pooled_an.init_warnings.iter().cloned());
    out.notes.extend(sigmas.warnings.iter().cloned());
    let engine = verify_engine(opts.run.gpu.as_ref());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.run.threads.max(1))
        .build()
        .map_err(|e| PredictError::Pool(e.to_string()))?;
    progress.start(plan.jobs.len(), 0);
    let done = pool.install(|| {
        plan.jobs
            .par_iter()
            .map(|job| {
                let d = match pooled_an.matrix(&job.spec.name) {
                    Some(r) => {
                        let mut d = predict_only(
                            ck,
                            r,
                            &p.request,
                            p.loss.as_ref().map(|l| (l.first, l.last)),
                            p.plots,
                            None,
                        );
                        d.row.note = "pooled convolution: predicted, not verified".into();
                        d
                    }
                    None => {
                        let i = single
                            .jobs
                            .iter()
                            .position(|s| s.spec.name == job.spec.name)
                            .expect("a job is pooled or single");
                        let sigma = sigmas.values[i];
                        predict_verify(
                            ck,
                            job,
                            &p.request,
                            sigma,
                            p.loss.as_ref().map(|l| (l.first, l.last)),
                            engine.as_ref(),
                            p.plots,
                        )
                    }
                };
                progress.matrix_done(&job.spec.name, 0);
                d
            })
            .collect()
    });
    progress.finish();
    Ok((done, pooled_an.engine))
}

/// Predicts (and with `verify`, measures) every planned matrix of `ck`.
pub fn predict(
    ck: &Checkpoint,
    opts: &analysis::Options,
    p: &PredictOptions,
    progress: &dyn Progress,
) -> Result<Predicted, PredictError> {
    let plan = analysis::plan_nonempty(ck, &opts.selection)?;
    if !p.verify {
        let an = analysis::analyze_plan(ck, &plan, opts, progress)?;
        return Ok(predict_analysis(ck, &an, opts, p, None));
    }
    let mut out = Messages {
        failures: ck.problems.iter().map(|e| e.to_string()).collect(),
        notes: Vec::new(),
    };
    if !matches!(opts.run.method, Method::Auto | Method::Exact) {
        out.notes.push(format!(
            "--verify needs every eigenvector: verified matrices use the exact method (--method {} applies to pooled convolutions only)",
            opts.run.method.as_str()
        ));
    }
    let (done, engine_info) = verified(ck, &plan, opts, p, progress, &mut out)?;
    let jobs: Vec<&Job> = plan.jobs.iter().collect();
    Ok(finish(ck, &jobs, opts, p, done, engine_info, out))
}

/// Predictions (never verified) from an analysis of `ck` already run.
/// `ranges`, when given, holds per matrix of the analysis the weights'
/// range statistics under the requested quantizer (as
/// `analysis::init::job_ranges` reads them); a matrix without them has them
/// read from `ck` when a quantizer is requested.
pub fn predict_analysis(
    ck: &Checkpoint,
    an: &Analysis,
    opts: &analysis::Options,
    p: &PredictOptions,
    ranges: Option<&[Option<RangeStats>]>,
) -> Predicted {
    let out = Messages {
        failures: ck.problems.iter().map(|e| e.to_string()).collect(),
        notes: an.init_warnings.clone(),
    };
    let done = an
        .matrices
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let known = ranges.and_then(|v| v.get(i).copied().flatten());
            predict_only(
                ck,
                r,
                &p.request,
                p.loss.as_ref().map(|l| (l.first, l.last)),
                p.plots,
                known,
            )
        })
        .collect();
    let jobs: Vec<&Job> = an.matrices.iter().map(|m| &m.job).collect();
    finish(ck, &jobs, opts, p, done, an.engine.clone(), out)
}

/// The report and figures of a run's per-matrix outcomes (`done`, one per
/// job of `jobs`).
fn finish(
    ck: &Checkpoint,
    jobs: &[&Job],
    opts: &analysis::Options,
    p: &PredictOptions,
    mut done: Vec<Done>,
    engine_info: EngineInfo,
    mut out: Messages,
) -> Predicted {
    for d in done.iter().filter(|d| d.row.status != "ok") {
        out.failures.push(format!("{}: {}", d.row.name, d.row.note));
    }
    let figures = jobs
        .iter()
        .zip(done.iter_mut())
        .map(|(j, d)| {
            (
                (j.spec.name.clone(), j.layer_id),
                std::mem::take(&mut d.figures),
            )
        })
        .collect();
    let mut summary = summary(&done);
    if let Some(l) = &p.loss {
        let drop = l.first - l.last;
        summary.loss = Some(l.last);
        summary.loss_drop = Some(drop);
        summary.dl_loss = Some(theory::combined_loss(
            drop,
            done.iter()
                .filter_map(|d| d.row.dl_frac.filter(|_| d.row.dl_loss.is_some())),
        ));
    }
    let backend = backend_of(&engine_info, summary.verified > 0);
    let engine = if p.verify {
        verify_engine(opts.run.gpu.as_ref()).name()
    } else {
        let arith = if engine_info.gpu.is_some() {
            "f32"
        } else {
            "f64"
        };
        let adapter = engine_info
            .gpu
            .as_ref()
            .map_or(String::new(), |g| format!(", {g}"));
        format!(
            "{}-{}-{arith} (pipeline{adapter})",
            backend.name, backend.method
        )
    };
    let mut rows = Vec::with_capacity(done.len());
    let (mut curves, mut profiles) = (Vec::new(), Vec::new());
    for d in done {
        rows.push(d.row);
        curves.extend(d.curve);
        profiles.extend(d.profile);
    }
    let report = PredictReport {
        schema_version: report::SCHEMA_VERSION,
        tool: report::Tool::this(),
        command: "predict",
        input: report::Input::of(ck),
        engine,
        backend,
        compression: describe(&p.request),
        noise: opts
            .init
            .as_ref()
            .map_or("median".into(), |p| format!("init {}", p.display())),
        losses: p.loss.as_ref().map(|l| l.source.clone()),
        rows,
        summary,
        curves,
        profiles,
        problems: ck.problems.iter().map(|e| e.to_string()).collect(),
    };
    Predicted {
        report,
        figures,
        failures: out.failures,
        notes: out.notes,
    }
}

/// What a run has to say on stderr.
struct Messages {
    failures: Vec<String>,
    notes: Vec<String>,
}
