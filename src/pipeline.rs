//! The analysis pipeline: applies the tensor → matrix rules to a checkpoint,
//! computes spectra in parallel with a bounded memory budget, and hands
//! back one outcome per matrix in a deterministic order.
//!
//! Owns scheduling and page release; the numerics live in `spectrum`, the
//! metrics in `fit`, and the presentation in `report`.

use crate::load::{Checkpoint, ConvMode, LoadError, MatrixData, MatrixSpec, RuleKind, TensorPlan, plan_tensor};
use crate::spectrum::{self, SpectrumError};
use faer::Par;
use regex::Regex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Which tensors become matrices.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    pub conv: ConvMode,
}

impl Selection {
    fn wants(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name)) && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }
}

/// One matrix to analyse, with where it comes from.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: MatrixSpec,
    /// Index into `Checkpoint::tensors`.
    pub tensor: usize,
}

/// A tensor that yields no matrix, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub tensor: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub reason: String,
    /// A failure (the tensor was meant to be analysed and could not be)
    /// rather than a tensor that is not a weight matrix.
    pub failed: bool,
}

/// The plan: matrices to analyse and tensors left out, both in the
/// checkpoint's natural name order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    pub fn total_bytes(&self, ck: &Checkpoint) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        self.jobs
            .iter()
            .filter(|j| seen.insert(j.tensor))
            .map(|j| ck.tensors[j.tensor].header.bytes.len() as u64)
            .sum()
    }
}

/// Applies the selection and the rules to every tensor.
pub fn plan(ck: &Checkpoint, sel: &Selection) -> Plan {
    let mut plan = Plan::default();
    for (i, t) in ck.tensors.iter().enumerate() {
        let h = &t.header;
        if !sel.wants(&h.name) {
            continue;
        }
        let skip = |reason: String, failed: bool| Skipped {
            tensor: h.name.clone(),
            dtype: h.dtype.to_string(),
            shape: h.shape.clone(),
            reason,
            failed,
        };
        if let Some(p) = t.problem() {
            // Integer tensors are skipped quietly; everything else that
            // cannot be read is a failure.
            let failed = !(matches!(p, LoadError::UnsupportedDtype { .. }) && h.dtype.is_non_float());
            plan.skipped.push(skip(p.to_string(), failed));
            continue;
        }
        match plan_tensor(&h.name, &h.dtype, &h.shape, sel.conv) {
            TensorPlan::Matrices(specs) => plan.jobs.extend(specs.into_iter().map(|spec| Job { spec, tensor: i })),
            TensorPlan::Skip(reason) => plan.skipped.push(skip(reason, false)),
        }
    }
    plan
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
    pub evals: Result<Vec<f64>, String>,
}

/// Progress events, for a progress bar.
pub trait Progress: Sync {
    fn matrix_done(&self, _name: &str, _bytes: u64) {}
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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_budget: 384 << 20,
        }
    }
}

/// Estimated working memory of the exact path for one matrix: the Gram, the
/// solver's copy and workspace (≈ 2 more M×M), and one decoded block.
fn working_bytes(spec: &MatrixSpec) -> u64 {
    let m = spec.m() as u64;
    3 * m * m * 8 + (32 << 20).min(spec.n() as u64 * m * 8)
}

/// A counting semaphore over bytes. A request larger than the whole budget
/// is granted when nothing else is running, so progress is guaranteed.
struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    total: u64,
}

impl Budget {
    fn acquire(&self, want: u64) {
        let mut used = self.used.lock().unwrap();
        while *used > 0 && *used + want > self.total {
            used = self.freed.wait(used).unwrap();
        }
        *used += want;
    }
    fn release(&self, want: u64) {
        *self.used.lock().unwrap() -= want;
        self.freed.notify_all();
    }
}

/// Computes the exact spectrum of every job on the CPU.
pub fn run(ck: &Checkpoint, plan: &Plan, opts: &RunOptions, progress: &dyn Progress) -> Vec<Outcome> {
    let n = plan.jobs.len();
    let workers = opts.threads.max(1).min(n.max(1));
    // With one worker, let the solver use every thread instead.
    let par = if workers == 1 && opts.threads > 1 { Par::rayon(opts.threads) } else { Par::Seq };
    let budget = Budget { used: Mutex::new(0), freed: Condvar::new(), total: opts.memory_budget };
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
                    let want = working_bytes(&job.spec);
                    budget.acquire(want);
                    let out = run_one(ck, job, par);
                    budget.release(want);
                    let t = &ck.tensors[job.tensor];
                    let last = remaining[job.tensor].fetch_sub(1, Ordering::AcqRel) == 1;
                    if last && let Some(f) = ck.file_of(t) {
                        f.release(t.header.bytes.clone());
                    }
                    progress.matrix_done(&job.spec.name, if last { t.header.bytes.len() as u64 } else { 0 });
                    *results[i].lock().unwrap() = Some(out);
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap().expect("every job ran")).collect()
}

fn run_one(ck: &Checkpoint, job: &Job, par: Par) -> Outcome {
    let t = &ck.tensors[job.tensor];
    let h = &t.header;
    let file = ck.file_of(t).expect("planned tensors have a file");
    let bytes = file.tensor_bytes(h);
    let base = h.bytes.start;
    let mut evals = Vec::with_capacity(job.spec.num_evals());
    let mut err: Option<SpectrumError> = None;
    for view in &job.spec.views {
        let data = MatrixData { bytes, dtype: &h.dtype, view: *view };
        match spectrum::exact_spectrum(&data, par, |r| file.release(base + r.start..base + r.end)) {
            Ok(e) => evals.extend(e),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    if job.spec.views.len() > 1 {
        evals.sort_by(|a, b| b.total_cmp(a));
    }
    Outcome {
        name: job.spec.name.clone(),
        tensor: h.name.clone(),
        file: file.path.clone(),
        dtype: h.dtype.to_string(),
        shape: h.shape.clone(),
        rule: job.spec.rule,
        rows: job.spec.rows,
        cols: job.spec.cols,
        evals: match err {
            None => Ok(evals),
            Some(e) => Err(format!("{}: tensor `{}`: {e}", file.path.display(), h.name)),
        },
    }
}
