//! `specscope predict`: per-matrix and model-level predictions of pruning
//! and quantization from the spectra, and with `--verify` the same
//! compressions done for real and measured beside them. Also the glue that
//! gives `analyze` its init-snapshot σ and its k_q columns. Numerics live in
//! `fit` and `theory`; this file only reads, schedules and assembles rows.

use super::{
    backend_for, backend_report, emit, exit, input, open, progress, run_options, selection, warn,
};
use crate::backend::GpuContext;
use crate::fit::noise::Dims;
use crate::fit::{PowerLawFit, SpectralFit, spectral_fit};
use crate::load::{Checkpoint, MatrixData, View};
use crate::pipeline::{self, Job, Plan, RunOptions};
use crate::report::{
    self, CurveRow, ModelCurvePoint, PredictReport, PredictRow, PredictSummary, ProfileRow, plot,
};
use crate::theory::quant::{
    DEFAULT_GROUP, Granularity, QuantSpec, RangeStats, Scheme, range_stats, range_stats_of,
};
use crate::theory::verify::{
    Compression, CpuExact, GpuExact, Measured, SpectrumEngine, compress, measure,
};
use crate::theory::{self, Keep, Prediction, Request};
use anyhow::{Context, Result, bail};
use clap::ArgGroup;
use faer::{MatRef, Par};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
#[command(group(
    ArgGroup::new("compression")
        .required(true)
        .multiple(true)
        .args(["rank", "sparsity", "bits"])
))]
pub struct PredictArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    /// Keep the top R modes of every matrix (truncation).
    #[arg(long, value_name = "R", conflicts_with = "sparsity")]
    pub rank: Option<usize>,
    /// Keep ⌊(1−S)·M⌋ modes of every matrix (0 ≤ S ≤ 1).
    #[arg(long, value_name = "S")]
    pub sparsity: Option<f64>,
    /// Quantize to B bits (2…16), round to nearest; after truncation when
    /// --rank or --sparsity is given too.
    #[arg(long, value_name = "B")]
    pub bits: Option<u32>,
    /// Group size G for --granularity group (implies it; default 128).
    #[arg(long, value_name = "G", requires = "bits")]
    pub group: Option<usize>,
    /// Symmetric (−L…L) or asymmetric (with a zero point) grid.
    #[arg(long, value_enum, default_value_t = Scheme::Sym)]
    pub scheme: Scheme,
    /// One step per tensor, per output channel (default), or per group.
    #[arg(long, value_enum, requires = "bits")]
    pub granularity: Option<Granularity>,
    /// Compress every matrix for real, recompute its spectrum, and print
    /// the measured effects beside the predicted ones.
    #[arg(long)]
    pub verify: bool,
    /// An init snapshot (same tensor names): the noise σ of each matrix is
    /// the RMS entry of its init, instead of the median-eigenvalue estimate.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Write each matrix's predicted pruning curve (and, with --bits, its
    /// quantization curve) into DIR, with the measured point when --verify
    /// ran (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[arg(long, value_enum, default_value_t = super::args::Format::Table)]
    pub format: super::args::Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    // Which tensors, threads, progress, and where and how spectra are
    // computed, as for `analyze`; `--verify` recomputes on the same backend
    // (always the exact method: it needs the eigenvectors).
    #[command(flatten)]
    pub analysis: super::args::AnalysisFlags,
}

/// The validated request.
fn request(a: &PredictArgs) -> Result<Request> {
    let keep = match (a.rank, a.sparsity) {
        (Some(r), _) => Some(Keep::Rank(r)),
        (None, Some(s)) if (0.0..=1.0).contains(&s) => Some(Keep::Sparsity(s)),
        (None, Some(s)) => bail!("--sparsity {s}: must be between 0 and 1"),
        (None, None) => None,
    };
    let quant = match a.bits {
        Some(b) => {
            let granularity = a.granularity.unwrap_or(if a.group.is_some() {
                Granularity::Group
            } else {
                Granularity::Channel
            });
            if a.group.is_some() && granularity != Granularity::Group {
                bail!("--group needs --granularity group");
            }
            Some(QuantSpec::new(
                b,
                a.scheme,
                granularity,
                a.group.unwrap_or(DEFAULT_GROUP),
            )?)
        }
        None => None,
    };
    Ok(Request { keep, quant })
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

/// A job's view `v` of its tensor.
fn data<'a>(ck: &'a Checkpoint, job: &Job, view: View) -> MatrixData<'a> {
    let t = &ck.tensors[job.tensor];
    let file = ck.file_of(t).expect("planned tensors have a file");
    MatrixData {
        bytes: file.tensor_bytes(&t.header),
        dtype: &t.header.dtype,
        view,
    }
}

/// The noise σ of a job from the init snapshot: the RMS entry of the same
/// tensor over the job's views, scaled like the job's eigenvalues (σ² ×
/// `eval_scale`: ×0.5 for a pooled convolution, whose spectrum is scaled
/// by `CONV_POOLED_SCALE`, so σ and the spectrum stay in the same units);
/// an error (a warning and the median fallback) when the init has no such
/// tensor of the same shape.
fn init_sigma(init: &Checkpoint, ck: &Checkpoint, job: &Job) -> Result<f64, String> {
    let h = &ck.tensors[job.tensor].header;
    let Some(t) = init.tensors.iter().find(|t| t.header.name == h.name) else {
        return Err(format!("init snapshot has no tensor `{}`", h.name));
    };
    if t.header.shape != h.shape {
        return Err(format!(
            "init tensor `{}` has shape {:?}, the checkpoint's has {:?}",
            h.name, t.header.shape, h.shape
        ));
    }
    if let Some(p) = t.problem() {
        return Err(p.to_string());
    }
    let file = init.file_of(t).ok_or("init tensor has no file")?;
    let (mut sum2, mut count, mut bad) = (0.0f64, 0usize, 0usize);
    for view in &job.spec.views {
        let d = MatrixData {
            bytes: file.tensor_bytes(&t.header),
            dtype: &t.header.dtype,
            view: *view,
        };
        let mut row = vec![0.0; view.cols];
        for r in 0..view.rows {
            bad += d.read_rows(r, r + 1, &mut row);
            sum2 += row.iter().map(|x| x * x).sum::<f64>();
            count += view.cols;
        }
    }
    if bad > 0 {
        return Err(format!("init tensor `{}`: {bad} non-finite values", h.name));
    }
    Ok((job.spec.eval_scale * sum2 / count.max(1) as f64).sqrt())
}

/// σ_init for every job (or all `None` without an init snapshot).
fn init_sigmas(init: Option<&Path>, ck: &Checkpoint, plan: &Plan) -> Result<Vec<Option<f64>>> {
    let Some(path) = init else {
        return Ok(vec![None; plan.jobs.len()]);
    };
    let init = Checkpoint::open(path).with_context(|| format!("--init {}", path.display()))?;
    Ok(plan
        .jobs
        .iter()
        .map(|j| match init_sigma(&init, ck, j) {
            Ok(s) => Some(s),
            Err(e) => {
                warn(&format!(
                    "{e}; using the median estimate for `{}`",
                    j.spec.name
                ));
                None
            }
        })
        .collect())
}

/// Range statistics of a job's weights over all its views, scaled like its
/// eigenvalues; the tensor's pages are released afterwards.
pub(super) fn job_ranges(ck: &Checkpoint, job: &Job, q: &QuantSpec) -> RangeStats {
    let mut total = RangeStats::default();
    for v in &job.spec.views {
        let (st, _) = range_stats_of(&data(ck, job, *v), q.scheme, q.granularity, q.group);
        total.merge(&st.scaled(job.spec.eval_scale));
    }
    let t = &ck.tensors[job.tensor];
    if let Some(f) = ck.file_of(t) {
        f.release(t.header.bytes.clone());
    }
    total
}

/// For `analyze`: refills each row's theory columns with the init σ (when
/// given) and k_q at 4 and 8 bits from the weights' per-channel ranges,
/// which the pipeline gathered while it read the weights (no second pass).
pub(super) fn enrich_analyze(
    ck: &Checkpoint,
    plan: &Plan,
    outcomes: &[pipeline::Outcome],
    rows: Vec<report::LayerRow>,
    init: Option<&Path>,
) -> Result<Vec<report::LayerRow>> {
    let sigmas = init_sigmas(init, ck, plan)?;
    let q = theory::analyze_quantizer(4);
    Ok(rows
        .into_par_iter()
        .zip(plan.jobs.par_iter().zip(outcomes).zip(sigmas))
        .map(|(mut row, ((job, out), sigma))| {
            let Ok(evals) = &out.evals else {
                return row;
            };
            let ranges = out
                .channel_ranges
                .unwrap_or_else(|| job_ranges(ck, job, &q));
            if sigma.is_none() {
                // The row's own fit used the median σ already: only k_q needs
                // the weights.
                let d = Dims::of(job.spec.rows, job.spec.cols);
                let kq = |bits| {
                    let s2 = ranges.noise_variance(&theory::analyze_quantizer(bits));
                    theory::quant::k_bbp(evals, s2, d)
                };
                row.k_q4 = Some(kq(4));
                row.k_q8 = Some(kq(8));
                return row;
            }
            let alpha = alpha_of_row(&row);
            let cols = theory::analyze_columns(job, evals, sigma, Some(&ranges), Some(&alpha));
            row.with_theory(cols)
        })
        .collect())
}

fn alpha_of_row(row: &report::LayerRow) -> Result<PowerLawFit, crate::fit::FitFailure> {
    match (
        row.status.as_str(),
        row.alpha,
        row.sigma,
        row.n_tail,
        row.n_fit,
    ) {
        ("success", Some(alpha), Some(sigma), Some(n_tail), Some(n_fit)) => Ok(PowerLawFit {
            alpha,
            xmin: row.xmin.unwrap_or(0.0),
            xmax: row.xmax.unwrap_or(0.0),
            d: row.d.unwrap_or(0.0),
            sigma,
            n_tail: n_tail.max(0) as usize,
            n_fit: n_fit.max(0) as usize,
            small_n: (n_fit as usize) < crate::fit::powerlaw::SMALL_N_CUTOFF,
        }),
        _ => Err(crate::fit::FitFailure::TooFewEigenvalues {
            n_fit: row.n_fit.unwrap_or(0).max(0) as usize,
        }),
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
            params: theory::params_of(job),
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
        params: theory::params_of(job),
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

/// Predicts from an already computed spectrum (no `--verify`).
fn predict_only(
    ck: &Checkpoint,
    job: &Job,
    out: &pipeline::Outcome,
    req: &Request,
    sigma: Option<f64>,
    plots: bool,
) -> Done {
    let mu = match &out.evals {
        Ok(e) => e,
        Err(e) => return failed(job, e.clone()),
    };
    let d = Dims::of(job.spec.rows, job.spec.cols);
    let alpha = crate::fit::powerlaw::fit(mu);
    let fit = spectral_fit(mu, d, sigma, Some(&alpha));
    let ranges = req.quant.map(|q| job_ranges(ck, job, &q));
    let pred = theory::predict(mu, d, &fit, req, ranges.as_ref());
    let mut done = assemble(
        job,
        mu,
        &fit,
        req,
        &pred,
        None,
        alpha.ok().map(|a| a.alpha),
        String::new(),
    );
    if plots {
        done.figures = figures(job, mu, &fit, req, &pred, None);
    }
    done
}

/// Compresses for real and measures (single-view matrices).
fn predict_verify(
    ck: &Checkpoint,
    job: &Job,
    req: &Request,
    sigma: Option<f64>,
    engine: &dyn SpectrumEngine,
    plots: bool,
) -> Done {
    let view = job.spec.views[0];
    let md = data(ck, job, view);
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
fn backend_of(
    gpu: Option<&GpuContext>,
    outcomes: &[pipeline::Outcome],
    verified: bool,
    threads: usize,
) -> report::Backend {
    let mut b = backend_report(gpu, outcomes, threads);
    if verified && !b.method.split('+').any(|m| m == "exact") {
        let exact = if gpu.is_some() {
            "f32 Gram on the GPU, f64 eigenvalues on the CPU"
        } else {
            "f64"
        };
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

pub fn predict(a: PredictArgs) -> Result<u8> {
    let req = request(&a)?;
    let flags = &a.analysis;
    let sel = selection(&flags.selection)?;
    let threads = flags
        .threads
        .map_or_else(|| RunOptions::default().threads, usize::from);
    let ck = open(&a.path)?;
    let plan = pipeline::plan(&ck, &sel);
    let problems: Vec<String> = ck.problems.iter().map(|p| p.to_string()).collect();
    for p in &problems {
        warn(p);
    }
    if plan.jobs.is_empty() {
        bail!("{}: no weight matrix found", a.path.display());
    }
    let sigmas = init_sigmas(a.init.as_deref(), &ck, &plan)?;
    let plots = a.plots.is_some();
    let gpu = backend_for(&flags.engine)?;
    let opts = run_options(&flags.engine, threads, gpu.clone());
    if a.verify
        && !matches!(
            flags.engine.method,
            pipeline::Method::Auto | pipeline::Method::Exact
        )
    {
        warn(&format!(
            "--verify needs every eigenvector: verified matrices use the exact method (--method {} applies to pooled convolutions only)",
            flags.engine.method.as_str()
        ));
    }
    let bar = progress::Bar::new(plan.jobs.len(), plan.total_bytes(&ck), flags.quiet);
    let engine = verify_engine(gpu.as_ref());
    let pipeline_outcomes;
    let mut done: Vec<Done> = if a.verify {
        // Pooled convolutions are several matrices sharing one spectrum:
        // truncating the pooled spectrum is not a compression of any one
        // slice, so they are predicted from the pooled spectrum, unverified.
        let pooled = Plan {
            jobs: plan
                .jobs
                .iter()
                .filter(|j| j.spec.views.len() > 1)
                .cloned()
                .collect(),
            skipped: Vec::new(),
        };
        pipeline_outcomes = pipeline::run(&ck, &pooled, &opts, &pipeline::Silent);
        let pooled_out = &pipeline_outcomes;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .context("thread pool")?;
        pool.install(|| {
            plan.jobs
                .par_iter()
                .zip(sigmas.par_iter())
                .map(|(job, sigma)| {
                    let d = if job.spec.views.len() > 1 {
                        let i = pooled
                            .jobs
                            .iter()
                            .position(|p| p.spec.name == job.spec.name)
                            .expect("pooled job planned");
                        let mut d = predict_only(&ck, job, &pooled_out[i], &req, *sigma, plots);
                        d.row.note = "pooled convolution: predicted, not verified".into();
                        d
                    } else {
                        predict_verify(&ck, job, &req, *sigma, engine.as_ref(), plots)
                    };
                    pipeline::Progress::matrix_done(&bar, &job.spec.name, 0);
                    d
                })
                .collect()
        })
    } else {
        pipeline_outcomes = pipeline::run(&ck, &plan, &opts, &bar);
        plan.jobs
            .iter()
            .zip(&pipeline_outcomes)
            .zip(&sigmas)
            .map(|((job, out), sigma)| predict_only(&ck, job, out, &req, *sigma, plots))
            .collect()
    };
    bar.finish();
    for d in done.iter().filter(|d| d.row.status != "ok") {
        warn(&format!("{}: {}", d.row.name, d.row.note));
    }
    if let Some(dir) = &a.plots {
        let format = if a.png {
            plot::ImageFormat::Png
        } else {
            plot::ImageFormat::Svg
        };
        let names: Vec<(String, usize)> = plan
            .jobs
            .iter()
            .map(|j| (j.spec.name.clone(), j.layer_id))
            .collect();
        let figs: Vec<Vec<(&'static str, plot::XyPlot)>> = done
            .iter_mut()
            .map(|d| std::mem::take(&mut d.figures))
            .collect();
        plot::write_named_plots(dir, format, &names, &figs)?;
    }
    let summary = summary(&done);
    let backend = backend_of(
        gpu.as_deref(),
        &pipeline_outcomes,
        summary.verified > 0,
        threads,
    );
    let engine = if a.verify {
        engine.name()
    } else {
        let arith = if gpu.is_some() { "f32" } else { "f64" };
        let adapter = gpu
            .as_ref()
            .map_or(String::new(), |g| format!(", {}", g.adapter));
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
    let rep = PredictReport {
        schema_version: report::SCHEMA_VERSION,
        tool: report::Tool::this(),
        command: "predict",
        input: input(&ck),
        engine,
        backend,
        compression: describe(&req),
        noise: a
            .init
            .as_ref()
            .map_or("median".into(), |p| format!("init {}", p.display())),
        rows,
        summary,
        curves,
        profiles,
        problems,
    };
    emit(&a.output, |w| match a.format {
        super::args::Format::Table => Ok(rep.write_table(w)?),
        super::args::Format::Json => rep.write_json(w),
        super::args::Format::Csv => rep.write_csv(w),
    })?;
    Ok(if rep.summary.predicted == 0 {
        exit::ERROR
    } else if rep.summary.failed > 0 || !rep.problems.is_empty() {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}
