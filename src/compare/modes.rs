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

use crate::load::{Checkpoint, MatrixData};
use crate::pipeline::Job;
use crate::spectrum::{SpectrumError, gram_lower};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Rows decoded per block.
const BLOCK_ELEMS: usize = 1 << 20;

/// Ranks probed up to `k_max`: ten per decade, k = round(10^(j/10)),
/// duplicates dropped (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, …).
/// Ten per decade is enough for a slope over one or two decades and keeps
/// the per-snapshot projection cheap (≈ 2K/M of the Gram's work).
pub fn probe_ranks(k_max: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut j = 0.0f64;
    loop {
        let k = 10f64.powf(j / 10.0).round() as usize;
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
/// rows of W: s_k = Σ_r left[r,k]·(W[r,:]·right[:,k]).
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

/// Streams W by row blocks: `f(r0, block)` with `block` rows×cols.
fn for_row_blocks(
    d: &MatrixData,
    mut f: impl FnMut(usize, MatRef<'_, f64>),
) -> Result<(), SpectrumError> {
    let v = d.view;
    let b = (BLOCK_ELEMS / v.cols.max(1)).clamp(1, v.rows.max(1));
    let mut buf = vec![0.0; b * v.cols];
    let mut bad = 0;
    let mut r0 = 0;
    while r0 < v.rows {
        let r1 = (r0 + b).min(v.rows);
        let block = &mut buf[..(r1 - r0) * v.cols];
        bad += d.read_rows(r0, r1, block);
        f(r0, MatRef::from_row_major_slice(block, r1 - r0, v.cols));
        r0 = r1;
    }
    if bad > 0 {
        return Err(SpectrumError::NonFinite { count: bad });
    }
    Ok(())
}

impl ModeBasis {
    /// The top singular vectors of `job`'s matrix in `ck` at the probed
    /// ranks up to `k_max` (capped at the matrix's nonzero modes): the Gram's
    /// eigenvectors (its short side), then the long side by one more pass.
    pub fn new(ck: &Checkpoint, job: &Job, k_max: usize, par: Par) -> Result<ModeBasis, ModeError> {
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::evd;
        let name = job.spec.name.clone();
        if job.spec.views.len() != 1 {
            return Err(ModeError::Pooled(name));
        }
        let d = data(ck, job);
        let spec_err = |source| ModeError::Spectrum {
            name: name.clone(),
            source,
        };
        let g = gram_lower(&d, par, |_| {}).map_err(spec_err)?;
        let m = g.nrows();
        let full = Mat::from_fn(m, m, |i, j| if i >= j { g[(i, j)] } else { g[(j, i)] });
        let mut s = faer::diag::Diag::<f64>::zeros(m);
        let mut u = Mat::<f64>::zeros(m, m);
        let scratch = evd::self_adjoint_evd_scratch::<f64>(
            m,
            evd::ComputeEigenvectors::Yes,
            par,
            Default::default(),
        );
        evd::self_adjoint_evd(
            full.as_ref(),
            s.as_mut(),
            Some(u.as_mut()),
            par,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        )
        .map_err(|_| ModeError::NoConvergence(name.clone()))?;
        // Ascending → descending; keep the probed ranks with σ > 0.
        let top = s[m - 1].max(0.0);
        let ranks: Vec<usize> = probe_ranks(k_max.min(m))
            .into_iter()
            .filter(|&k| s[m - k] > top * m as f64 * f64::EPSILON)
            .collect();
        if ranks.is_empty() {
            return Err(ModeError::Empty(name));
        }
        let kk = ranks.len();
        let sigma: Vec<f64> = ranks.iter().map(|&k| s[m - k].sqrt()).collect();
        let short = Mat::from_fn(m, kk, |i, j| u[(i, m - ranks[j])]);
        let (rows, cols) = (d.view.rows, d.view.cols);
        let tall = rows >= cols;
        let (right, left) = if tall {
            // Short side = columns: v_k known; u_k = W·v_k/σ_k.
            let mut left = Mat::<f64>::zeros(rows, kk);
            for_row_blocks(&d, |r0, blk| {
                let out = left.as_mut().subrows_mut(r0, blk.nrows());
                matmul(out, Accum::Replace, blk, short.as_ref(), 1.0, Par::Seq);
            })
            .map_err(spec_err)?;
            for j in 0..kk {
                for i in 0..rows {
                    left[(i, j)] /= sigma[j];
                }
            }
            (short, left)
        } else {
            // Short side = rows: u_k known; v_k = Wᵀ·u_k/σ_k.
            let mut right = Mat::<f64>::zeros(cols, kk);
            for_row_blocks(&d, |r0, blk| {
                matmul(
                    right.as_mut(),
                    Accum::Add,
                    blk.transpose(),
                    short.as_ref().subrows(r0, blk.nrows()),
                    1.0,
                    Par::Seq,
                );
            })
            .map_err(spec_err)?;
            for j in 0..kk {
                for i in 0..cols {
                    right[(i, j)] /= sigma[j];
                }
            }
            (right, short)
        };
        Ok(ModeBasis {
            name,
            ranks,
            sigma,
            right,
            left,
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
