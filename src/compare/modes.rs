//! Mode matching across snapshots: the last snapshot's top singular
//! vectors of a matrix (u_k, v_k, σ_k), and every snapshot's strength on
//! them, s_k(t) = u_kᵀ·W(t)·v_k. The learned fraction is
//! f_k(t) = s_k(t)/σ_k(T) (THEORY.md §3's σ_k(t)/σ_k(T), with the mode
//! followed by its vectors rather than by its rank, so a mode that has not
//! yet overtaken its neighbours is still itself).
//!
//! Vectors are computed once, for the last snapshot only and only for the
//! probed ranks; every other snapshot costs one streamed pass over its
//! weights (N·M·K multiply-adds for K probes, against the Gram's N·M²/2).
//! The two-sided projection keeps the noise of other directions out:
//! ‖W(t)v_k‖ would add the whole init bulk's column norm, u_kᵀW(t)v_k only
//! its component on u_k.
//!
//! Reads weights through `load`; numerics with faer. Matrices made of
//! several views (pooled convolutions, experts) are not matched.

use crate::backend::cpu::CPU_BLOCK;
use crate::backend::{CpuOperator, GpuContext, GpuOperator, GramOperator};
use crate::load::{Checkpoint, DType, MatrixData};
use crate::pipeline::Job;
use crate::pipeline::partial_budget;
use crate::simd::matmul;
use crate::spectrum::{self, KrylovOptions, SpectrumError, gram_lower};
use faer::{Accum, Mat, MatRef, Par};

/// Rows decoded per block.
const BLOCK_ELEMS: usize = 1 << 20;

/// Probed ranks per decade.
pub const PROBES_PER_DECADE: f64 = 10.0;

/// Ranks probed up to `k_max`: ten per decade, k = round(10^(j/10)),
/// duplicates dropped (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, …).
/// Ten per decade is enough for a slope over one or two decades and keeps
/// the per-snapshot projection cheap (≈ 2K/M of the Gram's work).
pub fn probe_ranks(k_max: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut j = 0.0f64;
    loop {
        let k = 10f64.powf(j / PROBES_PER_DECADE).round() as usize;
        if k > k_max {
            break;
        }
        if out.last() != Some(&k) {
            out.push(k);
        }
        j += 1.0;
    }
    out
}

/// The last snapshot's vectors of one matrix, oriented for streaming over
/// rows of W: s_k = Σ_r left\[r,k\]·(W\[r,:\]·right\[:,k\]).
#[derive(Debug, Clone)]
pub struct ModeBasis {
    pub name: String,
    /// Probed ranks (1-based).
    pub ranks: Vec<usize>,
    /// σ_k at the last snapshot.
    pub sigma: Vec<f64>,
    /// cols × K: the right singular vectors v_k.
    right: Mat<f64>,
    /// rows × K: the left singular vectors u_k.
    left: Mat<f64>,
    /// `right` in f32, for F32 snapshots read in place.
    right32: Mat<f32>,
}

/// Why a matrix has no matched modes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModeError {
    #[error("matrix `{0}` pools several views; modes are matched for single matrices only")]
    Pooled(String),
    #[error("matrix `{name}`: {source}")]
    Spectrum { name: String, source: SpectrumError },
    #[error("matrix `{0}`: the eigen-solver did not converge")]
    NoConvergence(String),
    #[error("matrix `{name}` is {got:?} in this snapshot, {want:?} in the last")]
    Shape {
        name: String,
        got: (usize, usize),
        want: (usize, usize),
    },
    #[error("matrix `{0}`: no mode above zero to probe")]
    Empty(String),
}

fn data<'a>(ck: &'a Checkpoint, job: &Job) -> MatrixData<'a> {
    let t = &ck.tensors[job.tensor];
    let file = ck.file_of(t).expect("planned tensors have a file");
    MatrixData {
        bytes: file.tensor_bytes(&t.header),
        dtype: &t.header.dtype,
        view: job.spec.views[0],
    }
}

/// The view as a row-major f32 slice straight from the file, when it is a
/// dense, aligned, little-endian F32 tensor: the projection passes then
/// read the memory map without decoding.
fn as_f32<'a>(d: &MatrixData<'a>) -> Option<&'a [f32]> {
    let v = d.view;
    if *d.dtype != DType::F32
        || !cfg!(target_endian = "little")
        || v.col_stride != 1
        || v.row_stride != v.cols
    {
        return None;
    }
    let bytes = d
        .bytes
        .get(v.offset * 4..(v.offset + v.rows * v.cols) * 4)?;
    bytemuck::try_cast_slice::<u8, f32>(bytes).ok()
}

/// Streams W by row blocks: `f(r0, block)` with `block` rows×cols.
fn for_row_blocks(
    d: &MatrixData,
    mut f: impl FnMut(usize, MatRef<'_, f64>),
) -> Result<(), SpectrumError> {
    let v = d.view;
    let b = (BLOCK_ELEMS / v.cols.max(1)).clamp(1, v.rows.max(1));
    // The thread's reusable decode buffer: one fresh, zeroed allocation per
    // matrix and snapshot measured 8% of `compare` in page clearing.
    let mut buf = crate::spectrum::exact::take_block(b * v.cols);
    let mut bad = 0;
    let mut r0 = 0;
    while r0 < v.rows {
        let r1 = (r0 + b).min(v.rows);
        let block = &mut buf[..(r1 - r0) * v.cols];
        bad += d.read_rows(r0, r1, block);
        f(r0, MatRef::from_row_major_slice(block, r1 - r0, v.cols));
        r0 = r1;
    }
    crate::spectrum::exact::give_block(buf);
    if bad > 0 {
        return Err(SpectrumError::NonFinite { count: bad });
    }
    Ok(())
}

/// Top singular vectors of one matrix at chosen ranks.
#[derive(Debug, Clone)]
pub struct SingularBasis {
    /// The ranks (1-based, ascending) whose vectors these are.
    pub ranks: Vec<usize>,
    /// σ_k.
    pub sigma: Vec<f64>,
    /// rows × K: the left singular vectors u_k.
    pub left: Mat<f64>,
    /// cols × K: the right singular vectors v_k.
    pub right: Mat<f64>,
}

/// How a basis's short-side vectors were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorSolver {
    /// The Gram's full eigen-decomposition (f32).
    Exact,
    /// Block Lanczos for the top K, on the CPU or the GPU, `passes`
    /// applications of the Gram.
    Lanczos { gpu: bool, passes: usize },
    /// Lanczos did not converge within its budget (half the exact
    /// method's cost); the exact decomposition answered.
    ExactFallback { passes: usize },
}

/// Smallest M at which [`SingularBasis::top`] tries Lanczos: below it the
/// exact decomposition takes milliseconds.
pub const LANCZOS_MIN_M: usize = crate::pipeline::AUTO_PARTIAL_MIN_M;

/// [`SingularBasis::top`] tries Lanczos when K ≤ M / this.
pub const LANCZOS_MAX_FRACTION: usize = 8;

/// Relative residual ‖G·q − θq‖/θ of an accepted Ritz pair: the vector's
/// angle to the eigenvector is at most this over the relative gap, far
/// below what moves an overlap (a sum of squared cosines).
const VECTOR_TOL: f64 = 1e-6;

impl SingularBasis {
    /// The singular vectors of `job`'s matrix in `ck` at the ranks
    /// `ranks_of(M)` gives for its M modes, those above the f32 solver's
    /// resolution: the Gram's eigenvectors (its short side), then the long
    /// side by one more streamed pass.
    pub fn new(
        ck: &Checkpoint,
        job: &Job,
        ranks_of: &dyn Fn(usize) -> Vec<usize>,
        par: Par,
    ) -> Result<SingularBasis, ModeError> {
        let (name, d) = single(ck, job)?;
        let (ranks, short) = exact_short(&d, &name, ranks_of, par)?;
        long_side(&d, &name, ranks, short)
    }

    /// The top `k` singular vectors (fewer when the matrix has fewer modes
    /// above the resolution). When k ≪ M (M ≥ [`LANCZOS_MIN_M`], k ≤
    /// M/[`LANCZOS_MAX_FRACTION`]) by block Lanczos on the Gram — on `gpu`
    /// when given, else streaming the weights on the CPU — within half the
    /// exact method's cost, falling back to the exact decomposition when
    /// the top k have not converged by then; otherwise exactly.
    pub fn top(
        ck: &Checkpoint,
        job: &Job,
        k: usize,
        gpu: Option<&GpuContext>,
        par: Par,
    ) -> Result<(SingularBasis, VectorSolver), ModeError> {
        let (name, d) = single(ck, job)?;
        let m = d.view.sides().2;
        let all = |m: usize| (1..=k.min(m)).collect::<Vec<_>>();
        if m < LANCZOS_MIN_M || k.saturating_mul(LANCZOS_MAX_FRACTION) > m {
            let (ranks, short) = exact_short(&d, &name, &all, par)?;
            return Ok((long_side(&d, &name, ranks, short)?, VectorSolver::Exact));
        }
        let spec_err = |source| ModeError::Spectrum {
            name: name.clone(),
            source,
        };
        let (found, passes) = krylov_short(&d, k, gpu, par).map_err(spec_err)?;
        let (ranks, short, solver) = match found {
            Some((ranks, short)) => (
                ranks,
                short,
                VectorSolver::Lanczos {
                    gpu: gpu.is_some(),
                    passes,
                },
            ),
            None => {
                let (ranks, short) = exact_short(&d, &name, &all, par)?;
                (ranks, short, VectorSolver::ExactFallback { passes })
            }
        };
        if ranks.is_empty() {
            return Err(ModeError::Empty(name));
        }
        Ok((long_side(&d, &name, ranks, short)?, solver))
    }
}

/// The matrix of a single-view job, with its name.
fn single<'a>(ck: &'a Checkpoint, job: &Job) -> Result<(String, MatrixData<'a>), ModeError> {
    let name = job.spec.name.clone();
    if job.spec.views.len() != 1 {
        return Err(ModeError::Pooled(name));
    }
    Ok((name, data(ck, job)))
}

/// Keeps the ranks whose eigenvalue is well above the f32 solver's
/// resolution (`values` descending, rank k at `values[k − 1]`).
fn resolved(ranks: Vec<usize>, values: impl Fn(usize) -> f64, m: usize) -> Vec<usize> {
    let top = values(1).max(0.0);
    ranks
        .into_iter()
        .filter(|&k| k >= 1 && k <= m)
        .filter(|&k| values(k) > top * m as f64 * f32::EPSILON as f64)
        .collect()
}

/// The Gram's eigenvectors at the ranks `ranks_of(M)` gives, by its full
/// decomposition: (ranks kept, M × K vectors).
fn exact_short(
    d: &MatrixData,
    name: &str,
    ranks_of: &dyn Fn(usize) -> Vec<usize>,
    par: Par,
) -> Result<ShortSide, ModeError> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd;
    let spec_err = |source| ModeError::Spectrum {
        name: name.to_string(),
        source,
    };
    let g = gram_lower(d, par, |_| {}).map_err(spec_err)?;
    let m = g.nrows();
    // The eigenvectors in f32: twice as fast as f64, and a vector's
    // error ε₃₂·‖G‖/gap is far below what mixes modes of different
    // half-learning times (nearly degenerate modes that it may mix
    // are learned at nearly the same time). σ_k and the other side are
    // computed in f64 from the weights.
    let full = Mat::<f32>::from_fn(m, m, |i, j| {
        (if i >= j { g[(i, j)] } else { g[(j, i)] }) as f32
    });
    drop(g);
    let mut s = faer::diag::Diag::<f32>::zeros(m);
    let mut u = Mat::<f32>::zeros(m, m);
    let scratch = evd::self_adjoint_evd_scratch::<f32>(
        m,
        evd::ComputeEigenvectors::Yes,
        par,
        Default::default(),
    );
    let solved = evd::self_adjoint_evd(
        full.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|_| ModeError::NoConvergence(name.to_string()));
    // f32 kernels leave the vector registers' upper halves dirty.
    crate::simd::clear_upper();
    solved?;
    // Ascending → descending.
    let ranks = resolved(ranks_of(m), |k| s[m - k] as f64, m);
    if ranks.is_empty() {
        return Err(ModeError::Empty(name.to_string()));
    }
    let short = Mat::from_fn(m, ranks.len(), |i, j| u[(i, m - ranks[j])] as f64);
    Ok((ranks, short))
}

/// Kept ranks and the Gram's eigenvectors at them (M × K).
type ShortSide = (Vec<usize>, Mat<f64>);

/// The Gram's top-`k` eigenvectors by block Lanczos, or `None` when they
/// have not converged within half the exact method's cost; with the
/// passes spent.
fn krylov_short(
    d: &MatrixData,
    k: usize,
    gpu: Option<&GpuContext>,
    par: Par,
) -> Result<(Option<ShortSide>, usize), SpectrumError> {
    let (_, long, m) = d.view.sides();
    let opts = KrylovOptions {
        top_k: k,
        tol: VECTOR_TOL,
        max_passes: Some(partial_budget(long, m, CPU_BLOCK)),
        ..KrylovOptions::default()
    };
    let run = |op: &mut dyn GramOperator| -> Result<_, SpectrumError> {
        let t = spectrum::lanczos(op, &opts, true)?;
        if t.values.len() < k.min(m) || !t.converged.iter().all(|&c| c) {
            return Ok((None, t.passes));
        }
        let ranks = resolved((1..=t.values.len()).collect(), |r| t.values[r - 1], m);
        let mut short = Mat::<f64>::zeros(m, ranks.len());
        for c in 0..ranks.len() {
            let q = op.column(c)?;
            for (i, v) in q.into_iter().enumerate() {
                short[(i, c)] = v;
            }
        }
        Ok((Some((ranks, short)), t.passes))
    };
    match gpu {
        Some(ctx) => run(&mut GpuOperator::new(ctx, d)?),
        None => run(&mut CpuOperator::for_products(
            d,
            par,
            4 * k.max(CPU_BLOCK),
            256 << 20,
            None,
        )?),
    }
}

/// The basis from the short side's vectors: the long side W·v_k (tall) or
/// Wᵀ·u_k (wide) by one streamed pass; its norm is σ_k, so that
/// u_kᵀ·W·v_k = σ_k exactly.
fn long_side(
    d: &MatrixData,
    name: &str,
    ranks: Vec<usize>,
    short: Mat<f64>,
) -> Result<SingularBasis, ModeError> {
    let kk = ranks.len();
    let (rows, cols) = (d.view.rows, d.view.cols);
    let tall = rows >= cols;
    let mut long = Mat::<f64>::zeros(if tall { rows } else { cols }, kk);
    for_row_blocks(d, |r0, blk| {
        if tall {
            let out = long.as_mut().subrows_mut(r0, blk.nrows());
            matmul(out, Accum::Replace, blk, short.as_ref(), 1.0, Par::Seq);
        } else {
            matmul(
                long.as_mut(),
                Accum::Add,
                blk.transpose(),
                short.as_ref().subrows(r0, blk.nrows()),
                1.0,
                Par::Seq,
            );
        }
    })
    .map_err(|source| ModeError::Spectrum {
        name: name.to_string(),
        source,
    })?;
    let sigma: Vec<f64> = (0..kk).map(|j| long.col(j).norm_l2()).collect();
    for (j, &sg) in sigma.iter().enumerate() {
        if sg > 0.0 {
            for i in 0..long.nrows() {
                long[(i, j)] /= sg;
            }
        }
    }
    let (right, left) = if tall { (short, long) } else { (long, short) };
    Ok(SingularBasis {
        ranks,
        sigma,
        left,
        right,
    })
}

impl ModeBasis {
    /// The top singular vectors of `job`'s matrix in `ck` at the probed
    /// ranks up to `k_max` (capped at the matrix's nonzero modes).
    pub fn new(ck: &Checkpoint, job: &Job, k_max: usize, par: Par) -> Result<ModeBasis, ModeError> {
        let b = SingularBasis::new(ck, job, &|m| probe_ranks(k_max.min(m)), par)?;
        let right32 = Mat::from_fn(b.right.nrows(), b.right.ncols(), |i, j| {
            b.right[(i, j)] as f32
        });
        Ok(ModeBasis {
            name: job.spec.name.clone(),
            ranks: b.ranks,
            sigma: b.sigma,
            right: b.right,
            left: b.left,
            right32,
        })
    }

    /// s_k = u_kᵀ·W·v_k for the same-named matrix of another snapshot.
    pub fn strengths(&self, ck: &Checkpoint, job: &Job) -> Result<Vec<f64>, ModeError> {
        if job.spec.views.len() != 1 {
            return Err(ModeError::Pooled(self.name.clone()));
        }
        let d = data(ck, job);
        let want = (self.left.nrows(), self.right.nrows());
        let got = (d.view.rows, d.view.cols);
        if got != want {
            return Err(ModeError::Shape {
                name: self.name.clone(),
                got,
                want,
            });
        }
        let kk = self.ranks.len();
        let mut s = vec![0.0; kk];
        if let Some(w) = as_f32(&d) {
            // In place: W·V in f32 (relative error ~1e-6 over M terms, far
            // below the 1e-3 a learned fraction needs), u_kᵀ(·) in f64.
            let (rows, cols) = got;
            let b = (BLOCK_ELEMS / cols.max(1)).clamp(1, rows.max(1));
            let mut tmp = Mat::<f32>::zeros(b, kk);
            let mut r0 = 0;
            while r0 < rows {
                let n = (r0 + b).min(rows) - r0;
                let blk = MatRef::from_row_major_slice(&w[r0 * cols..(r0 + n) * cols], n, cols);
                let mut out = tmp.as_mut().subrows_mut(0, n);
                matmul(
                    out.as_mut(),
                    Accum::Replace,
                    blk,
                    self.right32.as_ref(),
                    1.0,
                    Par::Seq,
                );
                for j in 0..kk {
                    let l = self.left.col(j);
                    s[j] += (0..n).map(|i| l[r0 + i] * out[(i, j)] as f64).sum::<f64>();
                }
                r0 += n;
            }
            let bad = s.iter().filter(|v| !v.is_finite()).count();
            if bad > 0 {
                // NaN or Inf weights (the f64 path counts them as it decodes).
                return Err(ModeError::Spectrum {
                    name: self.name.clone(),
                    source: SpectrumError::NonFinite { count: bad },
                });
            }
            return Ok(s);
        }
        let mut tmp = Mat::<f64>::zeros(0, kk);
        for_row_blocks(&d, |r0, blk| {
            let n = blk.nrows();
            if tmp.nrows() != n {
                tmp = Mat::zeros(n, kk);
            }
            matmul(
                tmp.as_mut(),
                Accum::Replace,
                blk,
                self.right.as_ref(),
                1.0,
                Par::Seq,
            );
            for j in 0..kk {
                let l = self.left.col(j);
                s[j] += (0..n).map(|i| l[r0 + i] * tmp[(i, j)]).sum::<f64>();
            }
        })
        .map_err(|source| ModeError::Spectrum {
            name: self.name.clone(),
            source,
        })?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ranks_are_log_spaced() {
        assert_eq!(
            probe_ranks(40),
            vec![1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40]
        );
        assert_eq!(probe_ranks(0), Vec::<usize>::new());
    }
}
