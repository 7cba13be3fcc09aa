//! Checking a prediction against the real thing: compress a matrix for
//! real (truncate to rank r, quantize to B bits, or both), recompute its
//! spectrum, and measure what the theory predicts: the weight-space error,
//! the modes that survive (singular vectors keeping an overlap above 0.5,
//! and outliers above the noise edge), and how the spectrum moved.
//!
//! The eigen-decompositions go through [`SpectrumEngine`], so a GPU
//! backend can take over by implementing one method; [`CpuExact`] is the
//! f64 reference. Owns no file access: it works on an in-memory matrix.

use super::quant::{QuantSpec, quantize_in_place};
use crate::fit::noise::{Dims, noise_edge};
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
        use faer::dyn_stack::{MemBuffer, MemStack};
        use faer::linalg::evd;
        if w.col_iter().any(|c| c.iter().any(|x| !x.is_finite())) {
            let count = w
                .col_iter()
                .map(|c| c.iter().filter(|x| !x.is_finite()).count())
                .sum();
            return Err(SpectrumError::NonFinite { count });
        }
        let a = if w.nrows() >= w.ncols() {
            w
        } else {
            w.transpose()
        };
        let m = a.ncols();
        if m == 0 {
            return Ok(GramEigen {
                values: Vec::new(),
                vectors: vectors.then(|| Mat::zeros(0, 0)),
            });
        }
        let mut g = Mat::<f64>::zeros(m, m);
        matmul(g.as_mut(), Accum::Replace, a.transpose(), a, 1.0, self.par);
        let frob2: f64 = (0..m).map(|i| g[(i, i)]).sum();
        let mut s = faer::diag::Diag::<f64>::zeros(m);
        let mut u = vectors.then(|| Mat::<f64>::zeros(m, m));
        let want = if vectors {
            evd::ComputeEigenvectors::Yes
        } else {
            evd::ComputeEigenvectors::No
        };
        let scratch = evd::self_adjoint_evd_scratch::<f64>(m, want, self.par, Default::default());
        evd::self_adjoint_evd(
            g.as_ref(),
            s.as_mut(),
            u.as_mut().map(|u| u.as_mut()),
            self.par,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        )
        .map_err(|_| SpectrumError::NoConvergence)?;
        // faer returns ascending order: reverse values and vectors.
        let values: Vec<f64> = (0..m).rev().map(|i| s[i].max(0.0)).collect();
        crate::spectrum::check_trace(&values, frob2)?;
        let vectors = u.map(|u| Mat::from_fn(m, m, |i, j| u[(i, m - 1 - j)]));
        Ok(GramEigen { values, vectors })
    }
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
    /// Modes compared for overlap (the top `compared` of W).
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
    let compared = compare.min(m);
    let mut k_overlap = 0;
    if let (Some(v), Some(vh)) = (&before.vectors, &after.vectors) {
        // Only modes W' really has: eigenvectors of (numerically) zero
        // eigenvalues are an arbitrary basis of its null space and would
        // "match" truncated modes by chance.
        let tol = after.values.first().copied().unwrap_or(0.0) * m as f64 * f64::EPSILON;
        let live = after.values.iter().take_while(|&&x| x > tol).count();
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
