//! The analysis pipeline: applies the tensor → matrix rules to a checkpoint,
//! computes spectra in parallel with a bounded memory budget, and hands
//! back one outcome per matrix in a deterministic order.
//!
//! Owns scheduling and page release; the numerics live in `spectrum`, the
//! metrics in `fit`, and the presentation in `report`.

mod gpu;
mod method;
mod plan;

pub use method::{
    AUTO_EXACT_MAX_M, AUTO_PARTIAL_MIN_M, Choice, KrylovOutcome, Method, Needs, SpectrumKind,
    krylov, krylov_within, partial_budget,
};
pub use plan::{Job, Plan, Preset, Selection, Skipped, base_name, plan};

use crate::backend::GpuContext;
use crate::load::quant::RangeStats;
use crate::load::{Checkpoint, MatrixData, MatrixSpec, RuleKind};
use crate::spectrum::{self, KrylovOptions, SpectrumError};
use faer::Par;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Why a matrix has no spectrum; names its file and tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: tensor `{tensor}`: {cause}", file.display())]
pub struct MatrixFailure {
    pub file: PathBuf,
    pub tensor: String,
    pub cause: FailureCause,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailureCause {
    #[error(transparent)]
    Spectrum(#[from] SpectrumError),
    /// A bug: the computation panicked. The matrix is reported failed and
    /// the run goes on.
    #[error("internal error (please report it): {0}")]
    Panicked(String),
    /// A failure met by another process of the same run (a `shard` part),
    /// carried by its message.
    #[error("{0}")]
    Recorded(String),
}

/// The result of one matrix.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub tensor: String,
    pub file: PathBuf,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub rule: RuleKind,
    pub rows: usize,
    pub cols: usize,
    /// Eigenvalues μ_k = σ_k², descending, or why there are none.
    pub evals: Result<Vec<f64>, MatrixFailure>,
    /// The smallest singular value; for pooled slices the largest of the
    /// per-slice minima (the peer's `sv_min`). Zero when not computed.
    pub sv_min: f64,
    /// The method that ran (never `Auto`); `method.spectrum()` says what
    /// `evals` holds: every eigenvalue, the top K, or density quantiles.
    pub method: Method,
    /// ‖W‖²_F from the weights (scaled like the eigenvalues).
    pub frob2: Option<f64>,
    /// Krylov methods: convergence of each top eigenvalue, aligned with
    /// `evals`.
    pub converged: Option<Vec<bool>>,
    /// Symmetric per-output-channel ranges of the weights (scaled like the
    /// eigenvalues), gathered while the weights were read for the spectrum:
    /// the quantization step of `analyze`'s k_q columns.
    pub channel_ranges: Option<RangeStats>,
    /// Why `auto` took the method it did, or fell back from it (None: the
    /// method asked for, or auto's exact default).
    pub note: Option<String>,
}

/// Progress events, for a progress bar: a run of `matrices` matrices
/// reading `bytes` starts, each matrix finishes, the run finishes.
pub trait Progress: Sync {
    fn start(&self, _matrices: usize, _bytes: u64) {}
    fn matrix_done(&self, _name: &str, _bytes: u64) {}
    fn finish(&self) {}
}

/// No progress reporting.
pub struct Silent;
impl Progress for Silent {}

/// Execution settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads (matrices in flight at most).
    pub threads: usize,
    /// Bytes of Gram and solver workspace allowed in flight at once; a
    /// matrix needing more than this runs alone.
    pub memory_budget: u64,
    /// `auto` picks per matrix by size and by what the caller needs.
    pub method: Method,
    /// What the caller reads of each spectrum (default: every eigenvalue).
    /// With [`Needs::Top`], the Krylov methods skip the per-channel ranges
    /// (`Outcome::channel_ranges` is None): they cost a pass of their own.
    pub needs: Needs,
    pub krylov: KrylovOptions,
    /// Run on this GPU; None: the CPU.
    pub gpu: Option<Arc<GpuContext>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_budget: 384 << 20,
            method: Method::Auto,
            needs: Needs::All,
            krylov: KrylovOptions::default(),
            gpu: None,
        }
    }
}

/// Estimated working memory of the exact path for one matrix: the Gram, the
/// solver's copy and workspace (≈ 2 more M×M), and one decoded block.
fn working_bytes(spec: &MatrixSpec) -> u64 {
    let m = spec.m() as u64;
    3 * m * m * 8 + (32 << 20).min(spec.n() as u64 * m * 8)
}

/// Estimated working memory of a Krylov method on the CPU: the decoded
/// copy of the weights when it fits `copy_limit`, and the basis (≤ 1024
/// columns of M f64) with the panels being decoded.
fn krylov_bytes(spec: &MatrixSpec, copy_limit: u64) -> u64 {
    let (n, m) = (spec.n() as u64, spec.m() as u64);
    let copy = n * m * 8;
    (if copy <= copy_limit { copy } else { 0 }) + 1024 * m * 8 + (8 << 20)
}

/// A counting semaphore over bytes. A request larger than the whole budget
/// is granted when nothing else is running, so progress is guaranteed.
struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    total: u64,
}

impl Budget {
    fn new(total: u64) -> Budget {
        Budget {
            used: Mutex::new(0),
            freed: Condvar::new(),
            total,
        }
    }
    /// Waits until `want` bytes fit; the grant is returned when the
    /// guard drops, so a holder that panics still releases it.
    fn acquire(&self, want: u64) -> Grant<'_> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + want > self.total {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += want;
        Grant { budget: self, want }
    }
}

/// Bytes held from a [`Budget`] until dropped.
struct Grant<'a> {
    budget: &'a Budget,
    want: u64,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        *self.budget.used.lock().unwrap_or_else(|e| e.into_inner()) -= self.want;
        self.budget.freed.notify_all();
    }
}

/// Computes the spectrum of every job, on the GPU when one is given.
pub fn run(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Vec<Outcome> {
    if let Some(ctx) = &opts.gpu {
        return gpu::run(ck, plan, opts, ctx, progress);
    }
    let n = plan.jobs.len();
    let workers = opts.threads.max(1).min(n.max(1));
    // With one worker, let the solver use every thread instead.
    let par = if workers == 1 && opts.threads > 1 {
        Par::rayon(opts.threads)
    } else {
        Par::Seq
    };
    let budget = Budget::new(opts.memory_budget);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
    // How many jobs still need each tensor, so its pages are released when
    // the last one is done (experts and pooled slices share a tensor).
    let remaining: Vec<AtomicUsize> = (0..ck.tensors.len()).map(|_| AtomicUsize::new(0)).collect();
    for j in &plan.jobs {
        remaining[j.tensor].fetch_add(1, Ordering::Relaxed);
    }
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let job = &plan.jobs[i];
                    let out = guarded(ck, job, Method::Exact, || {
                        run_one(ck, job, par, opts, &budget, workers)
                    });
                    let (file, h) = ck.planned(job.tensor);
                    let last = remaining[job.tensor].fetch_sub(1, Ordering::AcqRel) == 1;
                    if last {
                        file.release(h.bytes.clone());
                    }
                    progress
                        .matrix_done(&job.spec.name, if last { h.bytes.len() as u64 } else { 0 });
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
                }
            });
        }
    });
    collect(results)
}

/// The outcomes in job order: every slot is filled once its worker is done.
fn collect(results: Vec<Mutex<Option<Outcome>>>) -> Vec<Outcome> {
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every job ran")
        })
        .collect()
}

/// Runs one job's computation; a panic becomes the matrix's failure (named
/// like any other), so the run goes on and the exit code says so.
fn guarded(ck: &Checkpoint, job: &Job, method: Method, f: impl FnOnce() -> Outcome) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        let mut o = outcome(ck, job, method);
        o.evals = Err(failure(ck, job, FailureCause::Panicked(msg)));
        o
    })
}

/// One job on the CPU, holding its working memory from `budget` while it
/// runs. A job that needs more than the whole budget runs alone, and then
/// on every thread.
fn run_one(
    ck: &Checkpoint,
    job: &Job,
    par: Par,
    opts: &RunOptions,
    budget: &Budget,
    workers: usize,
) -> Outcome {
    let threads = opts.threads.max(1);
    let par_for = |want: u64| {
        if want > budget.total && threads > 1 {
            Par::rayon(threads)
        } else {
            par
        }
    };
    let choice = opts
        .method
        .choose(&job.spec, None, opts.needs, &opts.krylov);
    if choice.method != Method::Exact {
        let copy_limit = opts.memory_budget / workers.max(1) as u64;
        let want = krylov_bytes(&job.spec, copy_limit);
        let grant = budget.acquire(want);
        // The quantization step's channel ranges come from the operator's
        // first pass; a caller that needs only the top of the spectrum does
        // not read them.
        let (m, k) = (choice.method, &choice.krylov);
        let mut r = krylov_within(
            &job.spec,
            views(ck, job),
            m,
            k,
            None,
            par_for(want),
            copy_limit,
            opts.needs == Needs::All,
        );
        drop(grant);
        let unconverged = r.as_ref().map_or(true, |k| k.converged.contains(&false));
        if !(choice.fallback && unconverged) {
            let ranges = r.as_mut().ok().and_then(|k| k.ranges.take());
            let mut o = krylov_outcome(ck, job, m, r);
            o.channel_ranges = ranges;
            o.note = choice.why;
            return o;
        }
        let mut o = exact_one(ck, job, par_for(working_bytes(&job.spec)), budget);
        o.note = Some(format!(
            "auto: {} did not converge on the top {} within {} passes over the weights; exact spectrum instead",
            m.as_str(),
            k.top_k,
            k.max_passes.unwrap_or(0)
        ));
        return o;
    }
    exact_one(ck, job, par_for(working_bytes(&job.spec)), budget)
}

/// The exact method on one job, its memory held from `budget`.
fn exact_one(ck: &Checkpoint, job: &Job, par: Par, budget: &Budget) -> Outcome {
    let _grant = budget.acquire(working_bytes(&job.spec));
    let (file, h) = ck.planned(job.tensor);
    let bytes = file.tensor_bytes(h);
    let base = h.bytes.start;
    let mut evals = Vec::with_capacity(job.spec.num_evals());
    let mut err: Option<SpectrumError> = None;
    let mut sv_min = 0.0f64;
    let scale = job.spec.eval_scale;
    let mut ranges = RangeStats::default();
    for view in &job.spec.views {
        let data = MatrixData {
            bytes,
            dtype: &h.dtype,
            view: *view,
        };
        let mut absmax = vec![0.0; view.rows];
        let release = |r: std::ops::Range<usize>| file.release(base + r.start..base + r.end);
        match spectrum::exact_spectrum_observed(&data, par, release, Some(&mut absmax)) {
            Ok(e) => {
                ranges.merge(&RangeStats::from_row_absmax(&absmax, view.cols, scale));
                sv_min = sv_min.max((e.last().copied().unwrap_or(0.0) * scale).sqrt());
                evals.extend(e.into_iter().map(|v| v * scale));
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let mut o = exact_outcome(ck, job, evals, sv_min, err);
    o.channel_ranges = Some(ranges);
    o
}

/// Symmetric per-output-channel ranges of a job's weights (scaled like its
/// eigenvalues) by a pass over its bytes: for the paths whose spectrum does
/// not decode the weights on the host (Krylov, GPU). Run it just before
/// those read the same bytes, so the pages are faulted in once. Only the
/// per-channel steps are kept (no zero level), as on the exact path, whose
/// Gram pass records the channel maxima for free: `analyze`'s k_q columns
/// count Δ²/12 per entry, an upper bound on the noise.
fn channel_ranges(ck: &Checkpoint, job: &Job) -> RangeStats {
    let mut total = RangeStats::default();
    for data in views(ck, job) {
        total.merge(&RangeStats::channel_absmax(&data, job.spec.eval_scale));
    }
    total
}

/// The views of a job as matrix data.
pub fn views<'a>(ck: &'a Checkpoint, job: &'a Job) -> impl Iterator<Item = MatrixData<'a>> + 'a {
    job.spec
        .views
        .iter()
        .map(move |v| ck.matrix_data(job.tensor, *v))
}

fn outcome(ck: &Checkpoint, job: &Job, method: Method) -> Outcome {
    let (file, h) = ck.planned(job.tensor);
    Outcome::empty(
        job,
        h.name.clone(),
        file.path.clone(),
        h.dtype.to_string(),
        h.shape.clone(),
        method,
    )
}

impl Outcome {
    /// The outcome of `job`'s matrix in tensor `tensor` of `file` before
    /// anything is measured: no eigenvalues, no norms, no note.
    pub fn empty(
        job: &Job,
        tensor: String,
        file: PathBuf,
        dtype: String,
        shape: Vec<usize>,
        method: Method,
    ) -> Outcome {
        Outcome {
            name: job.spec.name.clone(),
            tensor,
            file,
            dtype,
            shape,
            rule: job.spec.rule,
            rows: job.spec.rows,
            cols: job.spec.cols,
            evals: Ok(Vec::new()),
            sv_min: 0.0,
            method,
            frob2: None,
            converged: None,
            channel_ranges: None,
            note: None,
        }
    }
}

fn failure(ck: &Checkpoint, job: &Job, cause: FailureCause) -> MatrixFailure {
    let (file, h) = ck.planned(job.tensor);
    MatrixFailure {
        file: file.path.clone(),
        tensor: h.name.clone(),
        cause,
    }
}

/// The outcome of the exact method from pooled eigenvalues.
fn exact_outcome(
    ck: &Checkpoint,
    job: &Job,
    mut evals: Vec<f64>,
    sv_min: f64,
    err: Option<SpectrumError>,
) -> Outcome {
    if job.spec.views.len() > 1 {
        evals.sort_by(|a, b| b.total_cmp(a));
    }
    let mut o = outcome(ck, job, Method::Exact);
    o.frob2 = Some(evals.iter().sum());
    o.evals = match err {
        None => Ok(evals),
        Some(e) => Err(failure(ck, job, e.into())),
    };
    o.sv_min = sv_min;
    o
}

fn krylov_outcome(
    ck: &Checkpoint,
    job: &Job,
    method: Method,
    r: Result<KrylovOutcome, SpectrumError>,
) -> Outcome {
    let mut o = outcome(ck, job, method);
    match r {
        Ok(k) => {
            o.frob2 = Some(k.frob2);
            o.converged = Some(k.converged);
            o.evals = Ok(k.evals);
        }
        Err(e) => o.evals = Err(failure(ck, job, e.into())),
    }
    o
}
