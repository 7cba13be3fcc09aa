//! Checking a prediction against the real thing: compress a matrix for
//! real (truncate to rank r, quantize to B bits, or both), recompute its
//! spectrum, and measure what the theory predicts: the weight-space error,
//! the modes that survive (singular vectors keeping an overlap above 0.5,
//! and outliers above the noise edge), and how the spectrum moved.
//!
//! The eigen-decompositions go through [`SpectrumEngine`]: [`CpuExact`] is
//! the f64 reference, [`GpuExact`] forms the Gram on the GPU in f32 (the
//! analyze pipeline's exact path) and solves it in f64 on the CPU. Owns no
//! file access: it works on an in-memory matrix.

use super::quant::{QuantSpec, quantize_in_place};
use crate::backend::GpuContext;
use crate::fit::noise::{Dims, noise_edge};
use crate::load::{DType, MatrixData, View};
use crate::spectrum::SpectrumError;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use serde::Serialize;

/// Overlap above which a mode counts as surviving: |cos| > 0.5.
pub const OVERLAP_SURVIVES: f64 = 0.5;

/// Eigen-decomposition of the smaller Gram matrix of W (WᵀW when W is tall
/// or square, else WWᵀ): μ descending and, when asked, the matching unit
/// eigenvectors as columns (the short-side singular vectors of W).
#[derive(Debug, Clone)]
pub struct GramEigen {
    pub values: Vec<f64>,
    pub vectors: Option<Mat<f64>>,
    /// Eigenvalues at or below this cannot be told from zero in the
    /// arithmetic the Gram was formed in: M·ε₆₄·μ_1 for [`CpuExact`] (the
    /// numerical-rank rule of `fit`), √M·ε₃₂·μ_1 for [`GpuExact`]'s f32 Gram
    /// (≈ 2.3e-6·μ_1 at M = 384, where its rounding measured ≤ 5.4e-7·μ_1;
    /// docs/gpu.md).
    pub resolution: f64,
}

/// Something that computes Gram spectra: the CPU f64 path here, a GPU
/// backend elsewhere.
pub trait SpectrumEngine: Sync {
    /// `cpu-exact-f64`, …, for the report.
    fn name(&self) -> String;
    fn gram_eigen(&self, w: MatRef<'_, f64>, vectors: bool) -> Result<GramEigen, SpectrumError>;
}

/// Exact f64 on the CPU (faer's self-adjoint solver on the Gram).
#[derive(Debug, Clone, Copy)]
pub struct CpuExact {
    pub par: Par,
}

impl SpectrumEngine for CpuExact {
    fn name(&self) -> String {
        "cpu-exact-f64".into()
    }

    fn gram_eigen(&self, w: MatRef<'_, f64>, vectors: bool) -> Result<GramEigen, SpectrumError> {
        let count = non_finite(w);
        if count > 0 {
            return Err(SpectrumError::NonFinite { count });
        }
        let a = if w.nrows() >= w.ncols() {
            w
        } else {
            w.transpose()
        };
        let m = a.ncols();
        let mut g = Mat::<f64>::zeros(m, m);
        matmul(g.as_mut(), Accum::Replace, a.transpose(), a, 1.0, self.par);
        let frob2: f64 = (0..m).map(|i| g[(i, i)]).sum();
        let resolution = m as f64 * f64::EPSILON;
        solve_gram(g, frob2, vectors, resolution, self.par)
    }
}

/// The GPU's exact path on an in-memory matrix: G = AᵀA accumulated in f32
/// on the GPU (split-K, pairwise sums; [`GpuContext::gram`]), widened to
/// f64 and solved on the CPU like [`CpuExact`]. The eigenvalues agree with
/// the CPU's to ~1e-6·μ_1 (the f32 Gram's rounding), not to f64 round-off.
pub struct GpuExact {
    pub ctx: std::sync::Arc<GpuContext>,
    /// Parallelism of the CPU eigen-solve.
    pub par: Par,
}

impl SpectrumEngine for GpuExact {
    fn name(&self) -> String {
        format!("gpu-exact-f32 ({})", self.ctx.adapter)
    }

    fn gram_eigen(&self, w: MatRef<'_, f64>, vectors: bool) -> Result<GramEigen, SpectrumError> {
        let count = non_finite(w);
        if count > 0 {
            return Err(SpectrumError::NonFinite { count });
        }
        let (rows, cols) = (w.nrows(), w.ncols());
        if rows.min(cols) == 0 {
            return solve_gram(Mat::zeros(0, 0), 0.0, vectors, 0.0, self.par);
        }
        // Row-major little-endian f64, as a safetensors F64 tensor stores it
        // (the upload narrows it to f32; ‖W‖²_F is taken from it in f64).
        let mut bytes = Vec::with_capacity(rows * cols * 8);
        for i in 0..rows {
            for j in 0..cols {
                bytes.extend_from_slice(&w[(i, j)].to_le_bytes());
            }
        }
        let data = MatrixData {
            bytes: &bytes,
            dtype: &DType::F64,
            view: View::dense(0, rows, cols),
        };
        let g = self.ctx.gram(&data, |_| {})?;
        let m = g.lower.nrows();
        // The lower triangle holds G: mirror it for the full solver.
        let mut full = g.lower;
        for j in 0..m {
            for i in 0..j {
                full[(i, j)] = full[(j, i)];
            }
        }
        let resolution = (m as f64).sqrt() * f32::EPSILON as f64;
        solve_gram(full, g.trace, vectors, resolution, self.par)
    }
}

fn non_finite(w: MatRef<'_, f64>) -> usize {
    w.col_iter()
        .map(|c| c.iter().filter(|x| !x.is_finite()).count())
        .sum()
}

/// Eigen-decomposition of a full symmetric Gram (faer's self-adjoint
/// solver), descending, checked against its trace; `resolution` is
/// [`GramEigen::resolution`] over μ_1.
fn solve_gram(
    g: Mat<f64>,
    trace: f64,
    vectors: bool,
    resolution: f64,
    par: Par,
) -> Result<GramEigen, SpectrumError> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd;
    let m = g.nrows();
    if m == 0 {
        return Ok(GramEigen {
            values: Vec::new(),
            vectors: vectors.then(|| Mat::zeros(0, 0)),
            resolution: 0.0,
        });
    }
    let mut s = faer::diag::Diag::<f64>::zeros(m);
    let mut u = vectors.then(|| Mat::<f64>::zeros(m, m));
    let want = if vectors {
        evd::ComputeEigenvectors::Yes
    } else {
        evd::ComputeEigenvectors::No
    };
    let scratch = evd::self_adjoint_evd_scratch::<f64>(m, want, par, Default::default());
    evd::self_adjoint_evd(
        g.as_ref(),
        s.as_mut(),
        u.as_mut().map(|u| u.as_mut()),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|_| SpectrumError::NoConvergence)?;
    // faer returns ascending order: reverse values and vectors. The trace
    // is checked before negative round-off is clamped to zero: on an f32
    // Gram of a rank-deficient W' (a truncation) the null eigenvalues are
    // ±1e-7·μ_1, and clamping them would move Σμ by more than the check
    // allows although nothing was lost.
    let raw: Vec<f64> = (0..m).rev().map(|i| s[i]).collect();
    crate::spectrum::check_trace(&raw, trace)?;
    let values: Vec<f64> = raw.into_iter().map(|x| x.max(0.0)).collect();
    let vectors = u.map(|u| Mat::from_fn(m, m, |i, j| u[(i, m - 1 - j)]));
    let resolution = values[0] * resolution;
    Ok(GramEigen {
        values,
        vectors,
        resolution,
    })
}

/// What to do to the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Compression {
    /// Keep the top r modes.
    pub rank: Option<usize>,
    /// Then quantize.
    pub quant: Option<QuantSpec>,
}

/// The compressed matrix and the squared error of its quantization step
/// alone (0 without quantization).
pub struct Compressed {
    pub w: Mat<f64>,
    pub quant_err2: f64,
}

/// Applies a compression. Truncation projects W on its top-r short-side
/// singular vectors (W·V_r·V_rᵀ for a tall W, V_r·V_rᵀ·W for a wide one),
/// which is the best rank-r approximation; `before` must carry vectors
/// when `rank` is set. Quantization then acts on the rows of W as stored.
pub fn compress(w: MatRef<'_, f64>, before: &GramEigen, c: &Compression, par: Par) -> Compressed {
    let mut out = w.to_owned();
    if let Some(r) = c.rank {
        let v = before
            .vectors
            .as_ref()
            .expect("truncation needs the eigenvectors");
        let r = r.min(v.ncols());
        let vr = v.subcols(0, r);
        let tall = w.nrows() >= w.ncols();
        if tall {
            // (W V_r) V_rᵀ
            let mut wv = Mat::<f64>::zeros(w.nrows(), r);
            matmul(wv.as_mut(), Accum::Replace, w, vr, 1.0, par);
            matmul(
                out.as_mut(),
                Accum::Replace,
                wv.as_ref(),
                vr.transpose(),
                1.0,
                par,
            );
        } else {
            // V_r (V_rᵀ W)
            let mut vw = Mat::<f64>::zeros(r, w.ncols());
            matmul(vw.as_mut(), Accum::Replace, vr.transpose(), w, 1.0, par);
            matmul(out.as_mut(), Accum::Replace, vr, vw.as_ref(), 1.0, par);
        }
    }
    let mut quant_err2 = 0.0;
    if let Some(q) = &c.quant {
        let mut rows = crate::synth::row_major(&out);
        quant_err2 = quantize_in_place(&mut rows, out.ncols(), q);
        out = MatRef::from_row_major_slice(&rows, out.nrows(), out.ncols()).to_owned();
    }
    Compressed { w: out, quant_err2 }
}

/// Measured effects of one compression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// ‖W − W'‖²_F / ‖W‖²_F.
    pub err_rel: f64,
    /// The quantization noise per entry, ‖W_r − Q(W_r)‖²/(MN), when
    /// quantized.
    pub noise_var: Option<f64>,
    /// Top modes whose short-side singular vector has |cos| > 0.5 with
    /// some singular vector of W' (among the modes compared).
    pub k_overlap: usize,
    /// Modes compared for overlap (the top `compared` of W, never one
    /// below its [`GramEigen::resolution`]).
    pub compared: usize,
    /// Eigenvalues of W' above the noise edge of the measured quantization
    /// noise (MP edge + TW 95% margin), when quantized.
    pub k_edge: Option<usize>,
    /// μ'_1/μ_1 − 1.
    pub shift_top: f64,
    /// Median over k ≤ `kept` of μ'_k/μ_k − 1.
    pub shift_kept: Option<f64>,
    /// W's eigenvalues after compression, descending.
    pub after: Vec<f64>,
}

/// Measures a compression. `compare` caps the overlap computation at the
/// top modes of W (each against the top 2·compare of W'), so it costs
/// M·compare·2compare instead of M³; `kept` is the predicted survivor
/// count the spectral shift is taken over.
pub fn measure(
    w: MatRef<'_, f64>,
    comp: &Compressed,
    before: &GramEigen,
    after: &GramEigen,
    compare: usize,
    kept: usize,
    par: Par,
) -> Measured {
    let d = Dims::of(w.nrows(), w.ncols());
    let total: f64 = before.values.iter().sum();
    let mut diff2 = 0.0;
    for j in 0..w.ncols() {
        for i in 0..w.nrows() {
            diff2 += (w[(i, j)] - comp.w[(i, j)]).powi(2);
        }
    }
    let entries = (d.n * d.m) as f64;
    let noise_var = (comp.quant_err2 > 0.0).then(|| comp.quant_err2 / entries);
    let m = before.values.len();
    // Only modes W resolves: the singular vector of an eigenvalue the Gram's
    // arithmetic cannot tell from zero is arbitrary (on the GPU's f32 Gram,
    // modes below ~M·1e-7·μ_1).
    let resolved = before
        .values
        .iter()
        .take_while(|&&x| x > before.resolution)
        .count();
    let compared = compare.min(resolved);
    let mut k_overlap = 0;
    if let (Some(v), Some(vh)) = (&before.vectors, &after.vectors) {
        // Only modes W' really has: eigenvectors of (numerically) zero
        // eigenvalues are an arbitrary basis of its null space and would
        // "match" truncated modes by chance.
        let live = after
            .values
            .iter()
            .take_while(|&&x| x > after.resolution)
            .count();
        let against = (2 * compared).min(live);
        let mut o = Mat::<f64>::zeros(compared, against);
        matmul(
            o.as_mut(),
            Accum::Replace,
            v.subcols(0, compared).transpose(),
            vh.subcols(0, against),
            1.0,
            par,
        );
        k_overlap = (0..compared)
            .filter(|&k| (0..against).any(|j| o[(k, j)].abs() > OVERLAP_SURVIVES))
            .count();
    }
    let k_edge =
        noise_var.map(|s2| crate::fit::noise::count_above(&after.values, noise_edge(s2, d)));
    let ratio = |k: usize| {
        let (a, b) = (after.values[k], before.values[k]);
        if b > 0.0 { a / b - 1.0 } else { 0.0 }
    };
    let shift_top = if m > 0 { ratio(0) } else { 0.0 };
    let kept = kept.min(m);
    let shift_kept = (kept > 0).then(|| {
        let mut v: Vec<f64> = (0..kept).map(ratio).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });
    Measured {
        err_rel: if total > 0.0 { diff2 / total } else { 0.0 },
        noise_var,
        k_overlap,
        compared,
        k_edge,
        shift_top,
        shift_kept,
        after: after.values.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn cpu_engine_matches_svd_and_vectors_are_orthonormal() {
        for (r, c) in [(65, 37), (37, 65), (40, 40)] {
            let w = synth::gaussian(r, c, 1.0, &mut synth::rng(3));
            let e = CpuExact { par: Par::Seq }
                .gram_eigen(w.as_ref(), true)
                .unwrap();
            let sv = w.singular_values().unwrap();
            for (mu, s) in e.values.iter().zip(&sv) {
                // Both backward stable: a few ε·‖W‖² apart.
                assert!((mu - s * s).abs() < 1e-11 * sv[0] * sv[0]);
            }
            let v = e.vectors.unwrap();
            let vtv = v.transpose() * &v;
            for i in 0..v.ncols() {
                for j in 0..v.ncols() {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((vtv[(i, j)] - want).abs() < 1e-10);
                }
            }
        }
    }
}
