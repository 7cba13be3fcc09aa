//! Real compression of a trained model, and the test loss it costs.
//!
//! - Pruning = SVD truncation to rank r: of W (linear), of the end-to-end
//!   product W₂W₁ (deep-linear, which a rank-r pair of layers realizes
//!   exactly), of each weight matrix separately (MLP).
//! - Quantization = symmetric round-to-nearest with 2^(B−1) − 1 levels on
//!   each side of zero, the step Δ set by the largest |w| of the whole
//!   tensor (`quant_tensor`) or of each output row (`quant_channel`),
//!   applied to every weight matrix of the model (never to the product).
//!
//! Owns these operators and the measurement ΔL = L(compressed) − L. Knows
//! nothing of predictions: those belong to `theory`.

use super::ModelKind;
use super::model::{Net, Samples, mlp_loss};
use super::task::Task;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};
use rayon::prelude::*;

/// One compression of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Keep the top r singular modes.
    Rank(usize),
    /// B-bit symmetric round-to-nearest, one step per tensor.
    QuantTensor(u32),
    /// B-bit symmetric round-to-nearest, one step per output row.
    QuantChannel(u32),
}

impl Compression {
    /// The `kind` column of compression.csv.
    pub fn kind(&self) -> &'static str {
        match self {
            Compression::Rank(_) => "rank",
            Compression::QuantTensor(_) => "quant_tensor",
            Compression::QuantChannel(_) => "quant_channel",
        }
    }
    /// The `param` column: rank r or bits B.
    pub fn param(&self) -> u64 {
        match *self {
            Compression::Rank(r) => r as u64,
            Compression::QuantTensor(b) | Compression::QuantChannel(b) => b as u64,
        }
    }
}

/// About `points` log-spaced distinct integers in [1, full], always
/// including 1 and `full`.
pub fn rank_grid(full: usize, points: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..points.max(2))
        .map(|i| {
            let x = (full as f64).powf(i as f64 / (points.max(2) - 1) as f64);
            (x.round() as usize).clamp(1, full)
        })
        .collect();
    out.push(full);
    out.sort_unstable();
    out.dedup();
    out
}

/// Thin SVD U·diag(s)·Vᵀ, singular values descending.
#[derive(Debug, Clone)]
pub(crate) struct Factors {
    u: Mat<f64>,
    s: Vec<f64>,
    v: Mat<f64>,
}

impl Factors {
    /// Sequential (bitwise reproducible) thin SVD; `None` if it fails to
    /// converge.
    pub fn new(m: MatRef<'_, f64>) -> Option<Factors> {
        let (rows, cols) = m.shape();
        let size = rows.min(cols);
        let mut u = Mat::zeros(rows, size);
        let mut v = Mat::zeros(cols, size);
        let mut s = faer::diag::Diag::<f64>::zeros(size);
        let par = Par::Seq;
        let scratch = svd::svd_scratch::<f64>(
            rows,
            cols,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            par,
            Default::default(),
        );
        svd::svd(
            m,
            s.as_mut(),
            Some(u.as_mut()),
            Some(v.as_mut()),
            par,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        )
        .ok()?;
        let s: Vec<f64> = s.column_vector().iter().copied().collect();
        debug_assert!(s.windows(2).all(|w| w[0] >= w[1]));
        Some(Factors { u, s, v })
    }

    pub fn rank(&self) -> usize {
        self.s.len()
    }

    /// U_r·diag(s_r)·V_rᵀ (the whole matrix again for r ≥ rank, up to
    /// round-off of a few ε·‖W‖).
    pub fn truncate(&self, r: usize) -> Mat<f64> {
        let r = r.min(self.rank());
        let us = Mat::from_fn(self.u.nrows(), r, |i, j| self.u[(i, j)] * self.s[j]);
        &us * self.v.subcols(0, r).transpose()
    }
}

/// Rank-r SVD truncation of a matrix (keeps the top r singular modes);
/// `None` if the SVD fails to converge.
pub fn truncate(m: MatRef<'_, f64>, r: usize) -> Option<Mat<f64>> {
    Some(Factors::new(m)?.truncate(r))
}

/// Largest level of a symmetric B-bit grid: 2^(B−1) − 1 (1 for B = 2:
/// the levels {−Δ, 0, Δ}).
fn levels(bits: u32) -> f64 {
    assert!((2..=16).contains(&bits), "bits = {bits}");
    ((1u32 << (bits - 1)) - 1) as f64
}

fn round_slice(xs: &mut [f64], bits: u32) {
    let qmax = levels(bits);
    let amax = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if amax == 0.0 {
        return;
    }
    let step = amax / qmax;
    for x in xs {
        *x = (*x / step).round().clamp(-qmax, qmax) * step;
    }
}

/// Symmetric per-tensor round-to-nearest: Δ = max|w| / (2^(B−1) − 1).
pub fn quantize_tensor(m: MatRef<'_, f64>, bits: u32) -> Mat<f64> {
    let (rows, cols) = m.shape();
    let mut flat: Vec<f64> = (0..rows * cols).map(|i| m[(i / cols, i % cols)]).collect();
    round_slice(&mut flat, bits);
    Mat::from_fn(rows, cols, |i, j| flat[i * cols + j])
}

/// Symmetric per-output-channel (per row) round-to-nearest.
pub fn quantize_channel(m: MatRef<'_, f64>, bits: u32) -> Mat<f64> {
    let (rows, cols) = m.shape();
    let mut out = Mat::zeros(rows, cols);
    let mut row = vec![0.0; cols];
    for i in 0..rows {
        for (j, x) in row.iter_mut().enumerate() {
            *x = m[(i, j)];
        }
        round_slice(&mut row, bits);
        for (j, x) in row.iter().enumerate() {
            out[(i, j)] = *x;
        }
    }
    out
}

/// Measures the test loss of a model after each compression in `list`.
/// The SVDs are computed once; the evaluations run in parallel (each one
/// sequential, so the numbers do not depend on the thread count).
pub(crate) struct Compressor<'a> {
    net: &'a Net,
    task: &'a Task,
    test: Option<&'a Samples>,
    /// Factors of W (linear), of W₂W₁ (deep-linear), or of each layer (MLP).
    factors: Vec<Factors>,
}

impl<'a> Compressor<'a> {
    /// `None` when an SVD fails to converge.
    pub fn new(net: &'a Net, task: &'a Task, test: Option<&'a Samples>) -> Option<Self> {
        let factors = match net.kind {
            ModelKind::Linear => vec![Factors::new(net.layers[0].as_ref())?],
            ModelKind::DeepLinear => vec![Factors::new(net.effective().as_ref())?],
            ModelKind::Mlp => net
                .layers
                .iter()
                .map(|w| Factors::new(w.as_ref()))
                .collect::<Option<Vec<_>>>()?,
        };
        Some(Compressor {
            net,
            task,
            test,
            factors,
        })
    }

    /// The largest rank the pruning grid needs: beyond it nothing is cut.
    pub fn full_rank(&self) -> usize {
        self.factors.iter().map(|f| f.rank()).max().unwrap_or(0)
    }

    pub fn loss(&self, c: Compression) -> f64 {
        match (c, self.net.kind) {
            (Compression::Rank(r), ModelKind::Linear | ModelKind::DeepLinear) => self
                .task
                .population_loss(self.factors[0].truncate(r).as_ref()),
            (Compression::Rank(r), ModelKind::Mlp) => {
                let w1 = self.factors[0].truncate(r);
                let w2 = self.factors[1].truncate(r);
                mlp_loss(&w1, &w2, self.test.expect("MLP test set"))
            }
            (Compression::QuantTensor(b) | Compression::QuantChannel(b), _) => {
                let q = |w: &Mat<f64>| match c {
                    Compression::QuantTensor(_) => quantize_tensor(w.as_ref(), b),
                    _ => quantize_channel(w.as_ref(), b),
                };
                let net = Net {
                    kind: self.net.kind,
                    names: self.net.names.clone(),
                    layers: self.net.layers.iter().map(q).collect(),
                };
                net.test_loss(self.task, self.test)
            }
        }
    }

    /// Test losses after every compression of `list`, in order.
    pub fn losses(&self, list: &[Compression]) -> Vec<f64> {
        list.par_iter().map(|&c| self.loss(c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn rank_grid_is_log_spaced_and_complete() {
        let g = rank_grid(512, 24);
        assert_eq!(g.first(), Some(&1));
        assert_eq!(g.last(), Some(&512));
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        assert!(g.len() >= 18, "{g:?}");
        assert_eq!(rank_grid(1, 24), vec![1]);
        assert_eq!(rank_grid(3, 24), vec![1, 2, 3]);
    }

    /// Truncation against the Eckart–Young identity: ‖W − W_r‖²_F =
    /// Σ_{k>r} σ_k², with σ from faer's own (independent, global) SVD.
    /// Tolerance 1e-10·‖W‖²: round-off of two backward-stable SVDs.
    #[test]
    fn truncation_error_is_the_tail() {
        let mut rng = synth::rng(3);
        for (m, n) in [(1, 1), (2, 5), (63, 17), (17, 64), (65, 65)] {
            let w = synth::gaussian(m, n, 1.0, &mut rng);
            let sv = w.singular_values().unwrap();
            let total: f64 = sv.iter().map(|s| s * s).sum();
            for r in [0, 1, 2, 5, 16, 65] {
                let tail: f64 = sv.iter().skip(r).map(|s| s * s).sum();
                let err = (&w - truncate(w.as_ref(), r).unwrap()).squared_norm_l2();
                assert!((err - tail).abs() <= 1e-10 * total, "{m}x{n} r={r}");
            }
        }
    }

    /// Quantized values lie on the grid, the error is at most Δ/2 per
    /// entry, the largest entry is exact, and B = 2 gives {−Δ, 0, Δ}.
    #[test]
    fn quantization_grid_and_error() {
        let w = synth::gaussian(7, 33, 1.0, &mut synth::rng(9));
        for bits in 2..=8 {
            let qmax = ((1 << (bits - 1)) - 1) as f64;
            let amax = w.norm_max();
            let q = quantize_tensor(w.as_ref(), bits);
            let step = amax / qmax;
            for i in 0..7 {
                for j in 0..33 {
                    let level = q[(i, j)] / step;
                    assert!((level - level.round()).abs() < 1e-9 && level.abs() <= qmax + 1e-9);
                    assert!((q[(i, j)] - w[(i, j)]).abs() <= 0.5 * step * (1.0 + 1e-12));
                }
            }
            assert!((q.norm_max() - amax).abs() < 1e-15 * amax);
            let qc = quantize_channel(w.as_ref(), bits);
            for i in 0..7 {
                let row_max = (0..33).fold(0.0f64, |m, j| m.max(w[(i, j)].abs()));
                let step = row_max / qmax;
                for j in 0..33 {
                    assert!((qc[(i, j)] - w[(i, j)]).abs() <= 0.5 * step * (1.0 + 1e-12));
                }
            }
        }
        let q2 = quantize_tensor(w.as_ref(), 2);
        let step = w.norm_max();
        for i in 0..7 {
            for j in 0..33 {
                let l = q2[(i, j)] / step;
                assert!(l == -1.0 || l == 0.0 || l == 1.0);
            }
        }
        // An all-zero tensor stays zero (no division by a zero step).
        let z = Mat::<f64>::zeros(3, 4);
        assert_eq!(quantize_channel(z.as_ref(), 4), z);
    }
}
