//! The library's entry point: analyse a checkpoint. Plans its matrices
//! (`pipeline`), computes every spectrum once on the CPU or a GPU, and on
//! each the peer-compatible layer metrics (`fit::layer`), the
//! spectral-framework fit and its estimates (`fit::framework`, `theory`)
//! with an init snapshot's noise σ applied up front (`init`), and the
//! weights' quantization ranges; everything comes back typed
//! ([`Analysis`], one [`MatrixResult`] per matrix).
//!
//! [`analyze_plan`] is [`measure_plan`] (the costly half: reading the
//! weights, the spectra, Diffract's columns) followed by [`assemble_plan`]
//! (the metrics, fits and estimates computed from those), so the two halves
//! can run in different processes (`shard`).
//!
//! `compare`, `predict`, `check` and `report` consume these results; the
//! report rows (`report::LayerRow`) are projections of them, built only
//! when a report is written. Nothing here prints: warnings come back as
//! data ([`Analysis::warnings`]).
//!
//! ```no_run
//! use specscope::analysis::{Options, analyze_path};
//! # fn main() -> Result<(), specscope::analysis::AnalysisError> {
//! let a = analyze_path("model.safetensors".as_ref(), &Options::default())?;
//! for m in &a.matrices {
//!     println!("{} alpha {:?} density {:?}", m.name(), m.alpha(), m.density());
//! }
//! # Ok(())
//! # }
//! ```

pub mod init;
mod result;

pub use result::{FileInfo, MatrixResult, Spectrum, TensorInfo};

use crate::backend::GpuContext;
use crate::fit::diffract::{
    DiffractError, DiffractMetrics, DiffractOptions, NULL_SEED, diffract_metrics, permuted_null,
};
use crate::fit::layer_metrics;
use crate::load::quant::RangeStats;
use crate::load::{Checkpoint, LoadError};
use crate::pipeline::{self, Job, Method, Outcome, Plan, Progress, RunOptions};
use crate::pipeline::{Selection, Skipped, SpectrumKind};
use crate::theory::{self, TheoryColumns};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How a checkpoint is analysed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Which tensors, and how they become matrices.
    pub selection: Selection,
    /// Threads, memory budget, eigen-method, and the GPU when one runs.
    pub run: RunOptions,
    /// An init snapshot: each matrix's noise σ is the RMS entry of its init
    /// (docs/theory.md §3.3) instead of the median-eigenvalue estimate.
    pub init: Option<PathBuf>,
    /// Which of Diffract's columns beyond the eigenvalue-only ones
    /// (effective and hard rank, λ range: always computed).
    pub diffract: DiffractLevel,
}

/// Diffract's costlier columns (docs/diffract-compat.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffractLevel {
    /// The eigenvalue-only columns.
    #[default]
    Spectrum,
    /// Diffract's default set: the permuted-null columns (Marchenko–Pastur
    /// and Tracy–Widom edges and spike counts) and the exponential tail
    /// fit; about one more exact spectrum per matrix.
    Null,
    /// Also the truncated-power-law tail fit (seconds per matrix).
    Full,
}

/// Why a checkpoint could not be analysed at all (a single bad matrix or
/// tensor is a per-matrix failure instead, and the run goes on).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: {why}", path.display())]
    NothingToAnalyse { path: PathBuf, why: String },
    #[error("--init {}: {source}", path.display())]
    Init { path: PathBuf, source: LoadError },
}

/// What the engine was: for the report's account of what ran.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// The GPU adapter that ran (None: the CPU).
    pub gpu: Option<crate::backend::AdapterSummary>,
    pub threads: usize,
    /// The methods that ran, sorted and deduplicated (never `Auto`).
    pub methods: Vec<Method>,
    /// Why `--method auto` took a partial method, or fell back from it:
    /// each distinct reason with the matrices it applies to, in plan
    /// order (empty when every matrix got the method asked for, or auto's
    /// exact default).
    pub method_notes: Vec<MethodNote>,
}

/// One reason `auto` gave, and the matrices it applies to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodNote {
    pub note: String,
    pub matrices: Vec<String>,
}

impl MethodNote {
    /// One line for the terminal: the reason, the count, and the first
    /// few matrices.
    pub fn line(&self) -> String {
        const SHOWN: usize = 4;
        let mut names: Vec<String> = self
            .matrices
            .iter()
            .take(SHOWN)
            .map(|n| format!("`{n}`"))
            .collect();
        if self.matrices.len() > SHOWN {
            names.push(format!("and {} more", self.matrices.len() - SHOWN));
        }
        let n = self.matrices.len();
        let what = if n == 1 { "matrix" } else { "matrices" };
        format!("{} — {n} {what}: {}", self.note, names.join(", "))
    }
}

/// The distinct `auto` notes of `outcomes`, each with its matrices, in
/// the order they first occur.
pub fn method_notes(outcomes: &[Outcome]) -> Vec<MethodNote> {
    let mut out: Vec<MethodNote> = Vec::new();
    for o in outcomes {
        let Some(note) = &o.note else { continue };
        match out.iter_mut().find(|m| &m.note == note) {
            Some(m) => m.matrices.push(o.name.clone()),
            None => out.push(MethodNote {
                note: note.clone(),
                matrices: vec![o.name.clone()],
            }),
        }
    }
    out
}

/// A checkpoint's analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The path given.
    pub root: PathBuf,
    /// The files read, in path order.
    pub files: Vec<FileInfo>,
    pub selection: Selection,
    pub engine: EngineInfo,
    /// The init snapshot the noise σ came from.
    pub init: Option<PathBuf>,
    /// One per planned matrix, in plan order.
    pub matrices: Vec<MatrixResult>,
    /// Tensors without a matrix, with the reason.
    pub skipped: Vec<Skipped>,
    /// File-level problems (unreadable files, missing shards).
    pub problems: Vec<LoadError>,
    /// Init-snapshot lookups that fell back to the median σ.
    pub init_warnings: Vec<String>,
}

impl Analysis {
    /// Matrices whose spectrum was computed.
    pub fn analysed(&self) -> usize {
        self.matrices.iter().filter(|m| m.spectrum.is_ok()).count()
    }

    /// Something that should have been analysed was not.
    pub fn has_failures(&self) -> bool {
        self.matrices.iter().any(|m| m.spectrum.is_err())
            || self.skipped.iter().any(|s| s.failed)
            || !self.problems.is_empty()
    }

    /// What failed, in the order a run meets it: file problems, tensors
    /// that could not be read, matrices that failed.
    pub fn failures(&self) -> Vec<String> {
        let mut w: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        w.extend(
            self.skipped
                .iter()
                .filter(|s| s.failed)
                .map(|s| s.reason.clone()),
        );
        w.extend(
            self.matrices
                .iter()
                .filter_map(|m| m.spectrum.as_ref().err())
                .map(|e| e.to_string()),
        );
        w
    }

    /// Each matrix's eigenvalues (None where it failed), in plan order.
    pub fn evals(&self) -> Vec<Option<Vec<f64>>> {
        self.matrices
            .iter()
            .map(|m| m.evals().map(<[f64]>::to_vec))
            .collect()
    }

    /// Each matrix's symmetric per-channel weight ranges, in plan order.
    pub fn channel_ranges(&self) -> Vec<Option<RangeStats>> {
        self.matrices
            .iter()
            .map(|m| m.spectrum.as_ref().ok().and_then(|s| s.ranges))
            .collect()
    }

    /// The matrix named `name`.
    pub fn matrix(&self, name: &str) -> Option<&MatrixResult> {
        self.matrices.iter().find(|m| m.name() == name)
    }
}

/// Opens a checkpoint and analyses it.
pub fn analyze_path(path: &Path, opts: &Options) -> Result<Analysis, AnalysisError> {
    let ck = Checkpoint::open(path)?;
    analyze(&ck, opts, &pipeline::Silent)
}

/// The plan of `ck` under `sel`, or why there is nothing to analyse.
pub fn plan_nonempty(ck: &Checkpoint, sel: &Selection) -> Result<Plan, AnalysisError> {
    let plan = pipeline::plan(ck, sel);
    nonempty(ck, &plan)?;
    Ok(plan)
}

/// Why there is nothing to analyse, when `plan` has no matrix: the first
/// problem named (file, tensor), and how many more there are.
pub fn nonempty(ck: &Checkpoint, plan: &Plan) -> Result<(), AnalysisError> {
    if !plan.jobs.is_empty() {
        return Ok(());
    }
    let problems: Vec<String> = ck
        .problems
        .iter()
        .map(|p| p.to_string())
        .chain(
            plan.skipped
                .iter()
                .filter(|s| s.failed)
                .map(|s| s.reason.clone()),
        )
        .collect();
    let why = match problems.as_slice() {
        [] => "no weight matrix found (every tensor was skipped or filtered out)".to_string(),
        [one] => format!("no weight matrix could be read ({one})"),
        [first, rest @ ..] => format!(
            "no weight matrix could be read ({first}; {} more)",
            rest.len()
        ),
    };
    Err(AnalysisError::NothingToAnalyse {
        path: ck.root.clone(),
        why,
    })
}

/// Analyses an open checkpoint: every planned matrix once.
pub fn analyze(
    ck: &Checkpoint,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Analysis, AnalysisError> {
    let plan = plan_nonempty(ck, &opts.selection)?;
    analyze_plan(ck, &plan, opts, progress)
}

/// Analyses the matrices of `plan` (which may be empty).
pub fn analyze_plan(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Analysis, AnalysisError> {
    let measured = measure_plan(ck, plan, opts, progress)?;
    Ok(assemble_plan(ck, plan, opts, measured))
}

/// The costly half of an analysis: what reading the weights yields (each
/// matrix's spectrum with the weights' symmetric per-channel ranges, the
/// init snapshot's noise σ) and Diffract's columns (a permuted null's
/// spectrum, the tail fits). The rest of an [`Analysis`] is computed from
/// these alone by [`assemble_plan`], so one process can measure a plan's
/// matrices and another assemble them (`shard`).
#[derive(Debug, Clone)]
pub struct Measured {
    /// One per job, in plan order; `channel_ranges` is set wherever the
    /// spectrum was computed.
    pub outcomes: Vec<Outcome>,
    /// Per job: Diffract's columns of a single-view full spectrum.
    pub diffract: Vec<Option<Result<DiffractMetrics, DiffractError>>>,
    pub sigmas: init::InitSigmas,
    pub engine: EngineInfo,
}

/// Measures `plan`'s matrices: spectra, ranges, init σ and Diffract's
/// columns.
pub fn measure_plan(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Measured, AnalysisError> {
    let sigmas = match &opts.init {
        Some(p) => init::sigmas(p, ck, plan).map_err(|source| AnalysisError::Init {
            path: p.clone(),
            source,
        })?,
        None => init::InitSigmas::none(plan.jobs.len()),
    };
    progress.start(plan.jobs.len(), plan.total_bytes(ck));
    let mut outcomes = pipeline::run(ck, plan, &opts.run, progress);
    progress.finish();
    let engine = engine_info(opts.run.gpu.as_deref(), &outcomes, opts.run.threads);
    let diffract = plan
        .jobs
        .par_iter()
        .zip(outcomes.par_iter_mut())
        .map(|(job, out)| {
            if out.evals.is_err() {
                return None;
            }
            // The pipeline gathers the symmetric per-channel ranges while it
            // reads the weights; a path that did not reads them once here.
            if out.channel_ranges.is_none() {
                out.channel_ranges = Some(init::job_ranges(ck, job, &theory::analyze_quantizer(4)));
            }
            // Pooled slices share one spectrum of several matrices: no
            // Diffract columns, as Diffract has none for them.
            let single = job.spec.views.len() == 1;
            let evals = out.evals.as_ref().ok()?;
            (single && out.method.spectrum() == SpectrumKind::Full)
                .then(|| diffract_columns(ck, job, evals, opts.diffract, opts.run.memory_budget))
        })
        .collect();
    Ok(Measured {
        outcomes,
        diffract,
        sigmas,
        engine,
    })
}

/// The analysis of `plan` from what [`measure_plan`] measured: layer
/// metrics, framework fit and estimates (the cheap half of
/// [`analyze_plan`]; it reads no weights when every computed spectrum
/// carries its ranges).
pub fn assemble_plan(ck: &Checkpoint, plan: &Plan, opts: &Options, m: Measured) -> Analysis {
    let matrices = results(ck, plan, m.outcomes, m.diffract, &m.sigmas.values);
    Analysis {
        root: ck.root.clone(),
        files: ck.files.iter().map(FileInfo::of).collect(),
        selection: opts.selection.clone(),
        engine: m.engine,
        init: opts.init.clone(),
        matrices,
        skipped: plan.skipped.clone(),
        problems: ck.problems.clone(),
        init_warnings: m.sigmas.warnings,
    }
}

/// Per-matrix results from the pipeline's outcomes: metrics, framework
/// fit and estimates, in parallel (each is independent).
fn results(
    ck: &Checkpoint,
    plan: &Plan,
    outcomes: Vec<Outcome>,
    diffract: Vec<Option<Result<DiffractMetrics, DiffractError>>>,
    sigmas: &[Option<f64>],
) -> Vec<MatrixResult> {
    plan.jobs
        .par_iter()
        .zip(outcomes)
        .zip(diffract)
        .zip(sigmas)
        .map(|(((job, out), d), sigma)| MatrixResult::new(ck, job, out, d, *sigma))
        .collect()
}

fn engine_info(gpu: Option<&GpuContext>, outcomes: &[Outcome], threads: usize) -> EngineInfo {
    let mut methods: Vec<Method> = outcomes.iter().map(|o| o.method).collect();
    methods.sort_by_key(|m| m.as_str());
    methods.dedup();
    EngineInfo {
        gpu: gpu.map(|g| g.adapter.clone()),
        threads,
        methods,
        method_notes: method_notes(outcomes),
    }
}

impl MatrixResult {
    fn new(
        ck: &Checkpoint,
        job: &Job,
        out: Outcome,
        diffract: Option<Result<DiffractMetrics, DiffractError>>,
        sigma_init: Option<f64>,
    ) -> MatrixResult {
        let tensor = TensorInfo {
            name: out.tensor,
            file: out.file,
            dtype: out.dtype,
            shape: out.shape,
        };
        let spectrum = out.evals.map(|evals| {
            let mut s = spectrum_of(
                ck,
                job,
                evals,
                out.sv_min,
                out.method,
                out.frob2,
                out.converged,
                out.channel_ranges,
                sigma_init,
            );
            s.diffract = diffract;
            s
        });
        MatrixResult {
            job: job.clone(),
            tensor,
            method: out.method,
            spectrum,
            sigma_init,
        }
    }
}

/// The metrics and estimates of one computed spectrum.
#[allow(clippy::too_many_arguments)]
fn spectrum_of(
    ck: &Checkpoint,
    job: &Job,
    evals: Vec<f64>,
    sv_min: f64,
    method: Method,
    frob2: Option<f64>,
    converged: Option<Vec<bool>>,
    ranges: Option<RangeStats>,
    sigma_init: Option<f64>,
) -> Spectrum {
    let kind = method.spectrum();
    let full = kind == SpectrumKind::Full;
    let mut metrics = layer_metrics(&evals, job.spec.m(), sv_min);
    if !full && let Some(f) = frob2 {
        // Partial spectrum: the norm from the weights themselves.
        metrics.norm = f;
        metrics.log_norm = f.log10();
        metrics.stable_rank = f / metrics.lambda_max;
    }
    // The pipeline gathers the symmetric per-channel ranges while it reads
    // the weights; a path that did not reads them once here.
    let ranges = ranges.unwrap_or_else(|| init::job_ranges(ck, job, &theory::analyze_quantizer(4)));
    let params = theory::params_of(&job.spec);
    let (fit, estimates) = if full {
        let fit = theory::framework_fit(&job.spec, &evals, sigma_init, &metrics.fit);
        let est = TheoryColumns::new(&evals, &fit, params, Some(&ranges));
        (Some(fit), est)
    } else {
        (
            None,
            partial_estimates(&job.spec, &evals, method, &ranges, params),
        )
    };
    Spectrum {
        evals,
        kind,
        sv_min,
        frob2,
        converged,
        ranges: Some(ranges),
        metrics,
        fit,
        estimates,
        diffract: None,
    }
}

/// Diffract's columns of a full spectrum (docs/diffract-compat.md); with
/// `level`, the permuted null and the tail fits too. The null shuffles every
/// entry, so it holds the whole matrix in f64: a matrix larger than the
/// memory budget gets the eigenvalue-only columns and a note.
fn diffract_columns(
    ck: &Checkpoint,
    job: &Job,
    evals: &[f64],
    level: DiffractLevel,
    budget: u64,
) -> Result<DiffractMetrics, DiffractError> {
    let view = job.spec.views[0];
    let bytes = (view.rows * view.cols * 8) as u64;
    let with_null = level != DiffractLevel::Spectrum && bytes <= budget;
    let opts = DiffractOptions {
        exponential: level != DiffractLevel::Spectrum,
        truncated_power_law: level == DiffractLevel::Full,
        ..Default::default()
    };
    let null = if with_null {
        let data = ck.matrix_data(job.tensor, view);
        Some(permuted_null(
            &ck.tensors[job.tensor].header.name,
            &data,
            NULL_SEED,
            faer::Par::Seq,
        )?)
    } else {
        None
    };
    diffract_metrics(evals, job.spec.n(), job.spec.m(), null.as_ref(), &opts)
}

/// A partial spectrum has no framework fit; k_q still counts the top
/// eigenvalues above each quantizer's noise edge.
fn partial_estimates(
    spec: &crate::load::MatrixSpec,
    evals: &[f64],
    method: Method,
    ranges: &RangeStats,
    params: u64,
) -> TheoryColumns {
    let d = crate::fit::Dims::of(spec.rows, spec.cols);
    let kq = |bits| {
        let s2 = ranges.noise_variance(&theory::analyze_quantizer(bits));
        theory::quant::k_bbp(evals, s2, d)
    };
    let why = format!(
        "the framework fit needs the full spectrum (method {})",
        method.as_str()
    );
    TheoryColumns {
        params,
        k_q4: Some(kq(4)),
        k_q8: Some(kq(8)),
        theory_status: why.clone(),
        theory_reason: why,
        ..Default::default()
    }
}
