//! Scheduling on the GPU. The calling thread owns the GPU and walks the
//! jobs in order: for `exact` it forms each Gram on the GPU and hands it to
//! a pool of CPU threads that solve eigenvalues in f64 while the GPU forms
//! the next Gram; Krylov methods run on the GPU thread itself. Memory in
//! flight is bounded by the same byte budget as the CPU path.

use super::{
    Budget, Checkpoint, Job, Outcome, Plan, Progress, RunOptions, channel_ranges, exact_outcome,
    krylov, krylov_outcome, views, working_bytes,
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
    ranges: Option<crate::theory::quant::RangeStats>,
    views_left: usize,
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
        let t = &ck.tensors[job.tensor];
        if remaining[job.tensor].fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(f) = ck.file_of(t) {
                f.release(t.header.bytes.clone());
            }
            t.header.bytes.len() as u64
        } else {
            0
        }
    };
    let finish = |i: usize, out: Outcome, bytes: u64| {
        progress.matrix_done(&plan.jobs[i].spec.name, bytes);
        *results[i].lock().unwrap() = Some(out);
    };
    // (job, view, Gram or error, bytes released, budget held)
    type Work = (usize, Result<GpuGram, SpectrumError>, u64, u64);
    let (tx, rx) = mpsc::sync_channel::<Work>(solvers);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..solvers {
            s.spawn(|| {
                loop {
                    let msg = rx.lock().unwrap().recv();
                    let Ok((i, gram, bytes, want)) = msg else {
                        break;
                    };
                    let job = &plan.jobs[i];
                    let scale = job.spec.eval_scale;
                    let solved = gram.and_then(|g| {
                        spectrum::eigenvalues_desc_checked(g.lower.as_ref(), g.trace, par)
                    });
                    budget.release(want);
                    let mut p = pending[i].lock().unwrap();
                    match solved {
                        Ok(e) => {
                            p.sv_min = p
                                .sv_min
                                .max((e.last().copied().unwrap_or(0.0) * scale).sqrt());
                            p.evals.extend(e.into_iter().map(|v| v * scale));
                        }
                        Err(e) => {
                            p.err.get_or_insert(e);
                        }
                    }
                    p.views_left -= 1;
                    if p.views_left == 0 {
                        let p = std::mem::take(&mut *p);
                        let mut o = exact_outcome(ck, job, p.evals, p.sv_min, p.err);
                        o.channel_ranges = p.ranges;
                        finish(i, o, bytes);
                    }
                }
            });
        }
        // The GPU thread.
        for (i, job) in plan.jobs.iter().enumerate() {
            let method = opts.method.resolve(&job.spec, Some(ctx));
            if method != super::Method::Exact {
                let ranges = channel_ranges(ck, job);
                let r = krylov(
                    &job.spec,
                    views(ck, job),
                    method,
                    &opts.krylov,
                    Some(ctx),
                    par,
                );
                let bytes = uploaded(job);
                let mut o = krylov_outcome(ck, job, method, r);
                o.channel_ranges = Some(ranges);
                finish(i, o, bytes);
                continue;
            }
            let t = &ck.tensors[job.tensor];
            let file = ck.file_of(t).expect("planned tensors have a file");
            let base = t.header.bytes.start;
            let nviews = job.spec.views.len();
            // The channel ranges on the host first: the upload then reads
            // the same, already resident, pages.
            pending[i].lock().unwrap().ranges = Some(channel_ranges(ck, job));
            for (v, data) in views(ck, job).enumerate() {
                let want = working_bytes(&job.spec);
                budget.acquire(want);
                let gram = ctx.gram(&data, |r| file.release(base + r.start..base + r.end));
                let bytes = if v + 1 == nviews { uploaded(job) } else { 0 };
                if tx.send((i, gram, bytes, want)).is_err() {
                    break;
                }
            }
        }
        drop(tx);
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every job ran"))
        .collect()
}
