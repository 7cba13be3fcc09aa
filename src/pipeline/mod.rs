//! The analysis pipeline: applies the tensor → matrix rules to a checkpoint,
//! computes spectra in parallel with a bounded memory budget, and hands
//! back one outcome per matrix in a deterministic order.
//!
//! Owns scheduling and page release; the numerics live in `spectrum`, the
//! metrics in `fit`, and the presentation in `report`.

mod plan;

pub use plan::{Job, Plan, Preset, Selection, Skipped, base_name, plan};

use crate::load::{Checkpoint, MatrixData, MatrixSpec, RuleKind};
use crate::spectrum::{self, SpectrumError};
use faer::Par;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

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
    /// The smallest singular value; for pooled slices the largest of the
    /// per-slice minima (the peer's `sv_min`).
    pub sv_min: f64,
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
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
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
pub fn run(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Vec<Outcome> {
    let n = plan.jobs.len();
    let workers = opts.threads.max(1).min(n.max(1));
    // With one worker, let the solver use every thread instead.
    let par = if workers == 1 && opts.threads > 1 {
        Par::rayon(opts.threads)
    } else {
        Par::Seq
    };
    let budget = Budget {
        used: Mutex::new(0),
        freed: Condvar::new(),
        total: opts.memory_budget,
    };
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
                    progress.matrix_done(
                        &job.spec.name,
                        if last { t.header.bytes.len() as u64 } else { 0 },
                    );
                    *results[i].lock().unwrap() = Some(out);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every job ran"))
        .collect()
}

fn run_one(ck: &Checkpoint, job: &Job, par: Par) -> Outcome {
    let t = &ck.tensors[job.tensor];
    let h = &t.header;
    let file = ck.file_of(t).expect("planned tensors have a file");
    let bytes = file.tensor_bytes(h);
    let base = h.bytes.start;
    let mut evals = Vec::with_capacity(job.spec.num_evals());
    let mut err: Option<SpectrumError> = None;
    let mut sv_min = 0.0f64;
    let scale = job.spec.eval_scale;
    for view in &job.spec.views {
        let data = MatrixData {
            bytes,
            dtype: &h.dtype,
            view: *view,
        };
        match spectrum::exact_spectrum(&data, par, |r| file.release(base + r.start..base + r.end)) {
            Ok(e) => {
                sv_min = sv_min.max((e.last().copied().unwrap_or(0.0) * scale).sqrt());
                evals.extend(e.into_iter().map(|v| v * scale));
            }
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
        sv_min,
    }
}
