//! Scheduling on the GPU. The calling thread owns the GPU and walks the
//! jobs in order: for `exact` it forms each Gram on the GPU and hands it to
//! a pool of CPU threads that solve eigenvalues in f64 while the GPU forms
//! the next Gram; Krylov methods run on the GPU thread itself. Memory in
//! flight is bounded by the same byte budget as the CPU path.

use super::{
    Budget, Checkpoint, Grant, Job, Outcome, Plan, Progress, RunOptions, channel_ranges, collect,
    exact_outcome, guarded, krylov, krylov_outcome, views, working_bytes,
};
use crate::backend::{GpuContext, GpuGram};
use crate::spectrum::{self, SpectrumError};
use faer::Par;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

/// Eigenvalues gathered for one job, view by view.
#[derive(Default)]
struct Pending {
    evals: Vec<f64>,
    sv_min: f64,
    err: Option<SpectrumError>,
    ranges: Option<crate::load::quant::RangeStats>,
    views_left: usize,
    /// A view's solve panicked: the job is reported failed.
    panicked: bool,
}

pub(super) fn run(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &RunOptions,
    ctx: &GpuContext,
    progress: &dyn Progress,
) -> Vec<Outcome> {
    let n = plan.jobs.len();
    // One CPU solver thread per core, each solving sequentially (with one
    // thread, `rayon(1)` would be the same as `Seq`).
    let solvers = opts.threads.max(1);
    let par = Par::Seq;
    let budget = Budget::new(opts.memory_budget);
    let results: Vec<Mutex<Option<Outcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let pending: Vec<Mutex<Pending>> = plan
        .jobs
        .iter()
        .map(|j| {
            Mutex::new(Pending {
                views_left: j.spec.views.len(),
                ..Default::default()
            })
        })
        .collect();
    let remaining: Vec<AtomicUsize> = (0..ck.tensors.len()).map(|_| AtomicUsize::new(0)).collect();
    for j in &plan.jobs {
        remaining[j.tensor].fetch_add(1, Ordering::Relaxed);
    }
    // The GPU thread is done with a job's bytes: release the tensor after
    // its last job.
    let uploaded = |job: &Job| -> u64 {
        let (file, h) = ck.planned(job.tensor);
        if remaining[job.tensor].fetch_sub(1, Ordering::AcqRel) == 1 {
            file.release(h.bytes.clone());
            h.bytes.len() as u64
        } else {
            0
        }
    };
    let finish = |i: usize, out: Outcome, bytes: u64| {
        progress.matrix_done(&plan.jobs[i].spec.name, bytes);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    // (job, view, Gram or error, bytes released, budget held)
    type Work<'b> = (usize, Result<GpuGram, SpectrumError>, u64, Grant<'b>);
    let (tx, rx) = mpsc::sync_channel::<Work>(solvers);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..solvers {
            s.spawn(|| {
                loop {
                    let msg = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((i, gram, bytes, grant)) = msg else {
                        break;
                    };
                    let job = &plan.jobs[i];
                    let scale = job.spec.eval_scale;
                    let solved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        gram.and_then(|g| {
                            spectrum::eigenvalues_desc_checked(g.lower.as_ref(), g.trace, par)
                        })
                    }));
                    drop(grant);
                    let mut p = pending[i].lock().unwrap_or_else(|e| e.into_inner());
                    match solved {
                        Err(_) => {
                            p.panicked = true;
                        }
                        Ok(Ok(e)) => {
                            p.sv_min = p
                                .sv_min
                                .max((e.last().copied().unwrap_or(0.0) * scale).sqrt());
                            p.evals.extend(e.into_iter().map(|v| v * scale));
                        }
                        Ok(Err(e)) => {
                            p.err.get_or_insert(e);
                        }
                    }
                    p.views_left -= 1;
                    if p.views_left == 0 {
                        let p = std::mem::take(&mut *p);
                        let o = guarded(ck, job, super::Method::Exact, || {
                            if p.panicked {
                                panic!("the eigen-solver panicked");
                            }
                            let mut o = exact_outcome(ck, job, p.evals, p.sv_min, p.err);
                            o.channel_ranges = p.ranges;
                            o
                        });
                        finish(i, o, bytes);
                    }
                }
            });
        }
        // The GPU thread.
        for (i, job) in plan.jobs.iter().enumerate() {
            let method = opts.method.resolve(&job.spec, Some(ctx));
            if method != super::Method::Exact {
                let o = guarded(ck, job, method, || {
                    let ranges = channel_ranges(ck, job);
                    let r = krylov(
                        &job.spec,
                        views(ck, job),
                        method,
                        &opts.krylov,
                        Some(ctx),
                        par,
                    );
                    let mut o = krylov_outcome(ck, job, method, r);
                    o.channel_ranges = Some(ranges);
                    o
                });
                let bytes = uploaded(job);
                finish(i, o, bytes);
                continue;
            }
            let (file, h) = ck.planned(job.tensor);
            let base = h.bytes.start;
            let nviews = job.spec.views.len();
            // The channel ranges on the host first: the upload then reads
            // the same, already resident, pages.
            pending[i].lock().unwrap_or_else(|e| e.into_inner()).ranges =
                Some(channel_ranges(ck, job));
            for (v, data) in views(ck, job).enumerate() {
                let grant = budget.acquire(working_bytes(&job.spec));
                let gram = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ctx.gram(&data, |r| file.release(base + r.start..base + r.end))
                }))
                .unwrap_or_else(|_| {
                    Err(SpectrumError::Backend(
                        crate::backend::BackendError::Internal {
                            op: "gram".into(),
                            message: "panicked".into(),
                        },
                    ))
                });
                let bytes = if v + 1 == nviews { uploaded(job) } else { 0 };
                if tx.send((i, gram, bytes, grant)).is_err() {
                    break;
                }
            }
        }
        drop(tx);
    });
    collect(results)
}
