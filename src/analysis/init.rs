//! The noise σ of each matrix from an init snapshot (docs/theory.md §3.3):
//! the RMS entry of the same tensor over the matrix's views, scaled like
//! its eigenvalues. Also the weights' range statistics of a job read on
//! demand, for the paths that did not gather them while decoding.

use crate::load::quant::{QuantSpec, RangeStats, range_stats_of};
use crate::load::{Checkpoint, LoadError};
use crate::pipeline::{Job, Plan};
use std::path::Path;

/// σ_init per job (None where the init has no usable tensor), and a
/// warning for each such job.
#[derive(Debug, Clone, Default)]
pub struct InitSigmas {
    pub values: Vec<Option<f64>>,
    pub warnings: Vec<String>,
}

impl InitSigmas {
    /// No init snapshot.
    pub fn none(jobs: usize) -> InitSigmas {
        InitSigmas {
            values: vec![None; jobs],
            warnings: Vec::new(),
        }
    }
}

/// The noise σ of a job from the init snapshot: the RMS entry of the same
/// tensor over the job's views, scaled like the job's eigenvalues (σ² ×
/// `eval_scale`: ×0.5 for a pooled convolution, whose spectrum is scaled
/// by `CONV_POOLED_SCALE`, so σ and the spectrum stay in the same units);
/// an error (a warning and the median fallback) when the init has no such
/// tensor of the same shape.
pub fn init_sigma(init: &Checkpoint, ck: &Checkpoint, job: &Job) -> Result<f64, String> {
    let h = &ck.tensors[job.tensor].header;
    let Some(i) = init.tensors.iter().position(|t| t.header.name == h.name) else {
        return Err(format!("init snapshot has no tensor `{}`", h.name));
    };
    let t = &init.tensors[i];
    if t.header.shape != h.shape {
        return Err(format!(
            "init tensor `{}` has shape {:?}, the checkpoint's has {:?}",
            h.name, t.header.shape, h.shape
        ));
    }
    if let Some(p) = t.problem() {
        return Err(p.to_string());
    }
    let (mut sum2, mut count, mut bad) = (0.0f64, 0usize, 0usize);
    for view in &job.spec.views {
        let d = init.matrix_data(i, *view);
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

/// σ_init for every job of `plan` from the init snapshot at `path`.
pub fn sigmas(path: &Path, ck: &Checkpoint, plan: &Plan) -> Result<InitSigmas, LoadError> {
    let init = Checkpoint::open(path)?;
    let mut out = InitSigmas::default();
    for j in &plan.jobs {
        match init_sigma(&init, ck, j) {
            Ok(s) => out.values.push(Some(s)),
            Err(e) => {
                out.warnings.push(format!(
                    "{e}; using the median estimate for `{}`",
                    j.spec.name
                ));
                out.values.push(None);
            }
        }
    }
    Ok(out)
}

/// Range statistics of a job's weights over all its views, scaled like its
/// eigenvalues; the tensor's pages are released afterwards.
pub fn job_ranges(ck: &Checkpoint, job: &Job, q: &QuantSpec) -> RangeStats {
    let mut total = RangeStats::default();
    for v in &job.spec.views {
        let (st, _) = range_stats_of(
            &ck.matrix_data(job.tensor, *v),
            q.scheme,
            q.granularity,
            q.group,
        );
        total.merge(&st.scaled(job.spec.eval_scale));
    }
    let (file, h) = ck.planned(job.tensor);
    file.release(h.bytes.clone());
    total
}
