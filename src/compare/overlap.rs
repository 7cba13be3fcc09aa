//! Singular-vector overlap across snapshots: how much of a matrix's top-k
//! singular subspace survives from one snapshot to the next, and from the
//! init. For bases U₁, U₂ (k orthonormal columns each) and C = U₁ᵀU₂:
//!
//! - the subspace overlap ‖C‖²_F / k, 1 when the two top-k subspaces
//!   coincide and about k/N for unrelated random ones;
//! - the per-mode best match max_j |C_ij| for each mode i of the earlier
//!   snapshot, 1 when mode i is still a top-k mode (up to sign), whatever
//!   its rank.
//!
//! Both for the left (U) and the right (V) vectors. Diffract computes the
//! same |U₁ᵀU₂| and best match between two checkpoints; here every
//! consecutive pair of a series and every snapshot against `--init`.
//!
//! Vectors come from `modes::SingularBasis::top`: the Gram's top-k
//! eigenvectors by block Lanczos when k ≪ M (on the GPU when one runs,
//! else streaming the weights on the CPU), by its full decomposition
//! otherwise or when Lanczos does not converge within half the exact
//! cost; the long side by one streamed pass. k per matrix is capped at its
//! resolved modes; a note says how many bases each solver gave. Only the k
//! vectors of the previous snapshot (and of the init) are held,
//! (N + M)·k·8 bytes per matrix.

use super::CompareError;
use super::modes::{LANCZOS_MAX_FRACTION, LANCZOS_MIN_M, SingularBasis, VectorSolver};
use crate::backend::GpuContext;
use crate::load::Checkpoint;
use crate::pipeline::{self, Selection};
use crate::report::fmt::plural;
use crate::report::series::OverlapRow;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// The overlap of two bases' first k columns: (‖C‖²_F / k, per-row best
/// match) with C = aᵀb.
pub fn subspace_overlap(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> (f64, Vec<f64>) {
    let k = a.ncols().min(b.ncols());
    let (a, b) = (a.subcols(0, k), b.subcols(0, k));
    let mut c = Mat::<f64>::zeros(k, k);
    matmul(c.as_mut(), Accum::Replace, a.transpose(), b, 1.0, Par::Seq);
    let fro2: f64 = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| c[(i, j)] * c[(i, j)])
        .sum();
    let best = (0..k)
        .map(|i| (0..k).map(|j| c[(i, j)].abs()).fold(0.0, f64::max))
        .collect();
    (fro2 / k.max(1) as f64, best)
}

/// The first `k` columns of a basis (its top-k vectors), or fewer.
fn top(b: &SingularBasis, k: usize) -> (MatRef<'_, f64>, MatRef<'_, f64>) {
    let k = k.min(b.ranks.len());
    (
        b.left.as_ref().subcols(0, k),
        b.right.as_ref().subcols(0, k),
    )
}

fn row(
    name: &str,
    against: &'static str,
    from: Option<(usize, f64)>,
    to: (usize, f64),
    a: &SingularBasis,
    b: &SingularBasis,
) -> Option<OverlapRow> {
    let (al, ar) = top(a, usize::MAX);
    let (bl, br) = top(b, usize::MAX);
    if al.nrows() != bl.nrows() || ar.nrows() != br.nrows() {
        return None;
    }
    let (left_subspace, left_best) = subspace_overlap(al, bl);
    let (right_subspace, right_best) = subspace_overlap(ar, br);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Some(OverlapRow {
        name: name.to_string(),
        against,
        from_snapshot: from.map(|f| f.0),
        from_t: from.map(|f| f.1),
        snapshot: to.0,
        t: to.1,
        k: left_best.len(),
        left_subspace,
        right_subspace,
        left_best_mean: mean(&left_best),
        right_best_mean: mean(&right_best),
        left_best,
        right_best,
    })
}

/// How the vectors of a series were found, for the report's note.
#[derive(Debug, Default)]
struct SolverCounts {
    exact: usize,
    lanczos: usize,
    lanczos_gpu: usize,
    fallback: Vec<(String, usize)>,
}

impl SolverCounts {
    fn add(&mut self, name: &str, s: VectorSolver) {
        match s {
            VectorSolver::Exact => self.exact += 1,
            VectorSolver::Lanczos { gpu: false, .. } => self.lanczos += 1,
            VectorSolver::Lanczos { gpu: true, .. } => self.lanczos_gpu += 1,
            VectorSolver::ExactFallback { passes } => {
                self.fallback.push((name.to_string(), passes))
            }
        }
    }

    /// One note: how many bases each solver gave, and each fallback.
    fn note(&self, k: usize) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.lanczos, "block Lanczos (CPU)"),
            (self.lanczos_gpu, "block Lanczos (GPU)"),
            (self.exact, "the exact decomposition"),
        ] {
            if n > 0 {
                parts.push(format!("{} by {what}", plural(n, "basis", "bases")));
            }
        }
        let mut note = format!(
            "singular-vector overlap: top-{k} vectors of {} (Lanczos when M ≥ {LANCZOS_MIN_M} and K ≤ M/{LANCZOS_MAX_FRACTION})",
            parts.join(", ")
        );
        if !self.fallback.is_empty() {
            let names: Vec<String> = self
                .fallback
                .iter()
                .map(|(n, p)| format!("{n} ({p} passes)"))
                .collect();
            note.push_str(&format!(
                "; Lanczos did not converge within half the exact cost, exact vectors used, for {}",
                names.join(", ")
            ));
        }
        note
    }
}

/// Every single-view matrix's top-k basis in the checkpoint at `path`: on
/// the GPU one matrix at a time; on the CPU one matrix per thread, or every
/// thread on each matrix when there are fewer matrices than threads.
fn bases(
    path: &Path,
    sel: &Selection,
    k: usize,
    gpu: Option<&GpuContext>,
    counts: &mut SolverCounts,
    notes: &mut Vec<String>,
) -> Result<HashMap<String, SingularBasis>, CompareError> {
    let ck = Checkpoint::open(path).map_err(|source| CompareError::Load {
        path: path.to_path_buf(),
        source,
    })?;
    let plan = pipeline::plan(&ck, sel);
    let jobs: Vec<_> = plan
        .jobs
        .iter()
        .filter(|j| j.spec.views.len() == 1)
        .collect();
    let par = if jobs.len() < rayon::current_num_threads() {
        Par::rayon(0)
    } else {
        Par::Seq
    };
    let one = |job: &&crate::pipeline::Job| {
        let b = SingularBasis::top(&ck, job, k, gpu, par);
        (job.spec.name.clone(), b.map_err(|e| e.to_string()))
    };
    let found: Vec<_> = match gpu {
        Some(_) => jobs.iter().map(one).collect(),
        None => jobs.par_iter().map(one).collect(),
    };
    let mut out = HashMap::new();
    for (name, b) in found {
        match b {
            Ok((b, solver)) => {
                counts.add(&format!("`{name}` of {}", path.display()), solver);
                out.insert(name, b);
            }
            Err(e) => notes.push(format!(
                "{}: no singular-vector overlap for `{name}`: {e}",
                path.display()
            )),
        }
    }
    Ok(out)
}

/// The overlap rows of a series of snapshots `(path, t)`: each against the
/// one before, and each against `init` when given. Rows come in snapshot
/// order, then matrix name.
pub fn series_overlap(
    snapshots: &[(&Path, f64)],
    init: Option<&Path>,
    sel: &Selection,
    k: usize,
    gpu: Option<&GpuContext>,
    notes: &mut Vec<String>,
) -> Result<Vec<OverlapRow>, CompareError> {
    let mut counts = SolverCounts::default();
    let init_bases = init
        .map(|p| bases(p, sel, k, gpu, &mut counts, notes))
        .transpose()?;
    let mut rows = Vec::new();
    let mut prev: Option<(usize, f64, HashMap<String, SingularBasis>)> = None;
    for (i, &(path, t)) in snapshots.iter().enumerate() {
        let now = bases(path, sel, k, gpu, &mut counts, notes)?;
        let mut names: Vec<&String> = now.keys().collect();
        names.sort();
        for name in names {
            let b = &now[name];
            if let Some((pi, pt, p)) = &prev
                && let Some(a) = p.get(name)
            {
                rows.extend(row(name, "previous", Some((*pi, *pt)), (i, t), a, b));
            }
            if let Some(a) = init_bases.as_ref().and_then(|m| m.get(name)) {
                rows.extend(row(name, "init", None, (i, t), a, b));
            }
        }
        prev = Some((i, t, now));
    }
    if counts.exact + counts.lanczos + counts.lanczos_gpu + counts.fallback.len() > 0 {
        notes.push(counts.note(k));
    }
    Ok(rows)
}

/// Copies the subspace overlaps and mean best matches of `report.overlap`
/// into its series rows (one per snapshot and matrix).
pub fn fill_series(report: &mut crate::report::series::CompareReport) {
    let by: HashMap<(usize, &str, &str), &OverlapRow> = report
        .overlap
        .iter()
        .map(|r| ((r.snapshot, r.name.as_str(), r.against), r))
        .collect();
    for s in &mut report.series {
        if let Some(r) = by.get(&(s.snapshot, s.name.as_str(), "previous")) {
            s.overlap_prev_left = Some(r.left_subspace);
            s.overlap_prev_right = Some(r.right_subspace);
            s.best_match_prev_left = Some(r.left_best_mean);
            s.best_match_prev_right = Some(r.right_best_mean);
        }
        if let Some(r) = by.get(&(s.snapshot, s.name.as_str(), "init")) {
            s.overlap_init_left = Some(r.left_subspace);
            s.overlap_init_right = Some(r.right_subspace);
            s.best_match_init_left = Some(r.left_best_mean);
            s.best_match_init_right = Some(r.right_best_mean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orthonormal(n: usize, k: usize, seed: u64) -> Mat<f64> {
        crate::synth::orthonormal(n, k, &mut crate::synth::rng(seed))
    }

    #[test]
    fn identical_subspaces_overlap_fully() {
        let q = orthonormal(50, 6, 1);
        let (s, best) = subspace_overlap(q.as_ref(), q.as_ref());
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        assert!(best.iter().all(|b| (b - 1.0).abs() < 1e-12));
        // A permutation and sign flips of the columns: the same subspace,
        // every mode still matched.
        let p = Mat::from_fn(50, 6, |i, j| {
            let sign = if j % 2 == 0 { -1.0 } else { 1.0 };
            sign * q[(i, 5 - j)]
        });
        let (s, best) = subspace_overlap(q.as_ref(), p.as_ref());
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        assert!(best.iter().all(|b| (b - 1.0).abs() < 1e-12));
    }

    #[test]
    fn random_subspaces_overlap_about_k_over_n() {
        // E‖UᵀV‖²_F / k = k/N for independent random k-frames in R^N.
        let (n, k) = (400, 8);
        let mut total = 0.0;
        for seed in 0..20 {
            let a = orthonormal(n, k, 2 * seed + 10);
            let b = orthonormal(n, k, 2 * seed + 11);
            total += subspace_overlap(a.as_ref(), b.as_ref()).0;
        }
        let mean = total / 20.0;
        let expect = k as f64 / n as f64;
        assert!((mean / expect - 1.0).abs() < 0.25, "{mean} vs {expect}");
    }
}
