//! The teacher task: Gaussian inputs x ~ N(0, Σ) with Σ = V·diag(λ)·Vᵀ,
//! λ_k = k^(−b) in a Haar-random orthonormal basis V, and a linear teacher
//! y = W*x with W* = U·diag(w)·V_Rᵀ whose right singular vectors are the
//! top R = min(D, K) covariance eigenvectors and λ_k·w_k² = k^(−a).
//!
//! Owns the exact population loss of a linear map, the projection of a
//! linear map on the teacher's modes, and sampling. Knows nothing of
//! training.

use super::{SimConfig, stream_seed};
use crate::synth::{self, orthonormal};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone)]
pub struct Task {
    pub a: f64,
    pub b: f64,
    /// Covariance eigenvalues λ_k = k^(−b), k = 1…D (descending).
    pub lambda: Vec<f64>,
    /// Teacher coefficients w_k = k^((b−a)/2), k = 1…R, so λ_k·w_k² = k^(−a).
    pub target: Vec<f64>,
    /// D×D; column k is the k-th covariance eigenvector v_k.
    pub v: Mat<f64>,
    /// K×R; column k is the teacher's k-th left singular vector u_k.
    pub u: Mat<f64>,
    /// K×D teacher W* = Σ_k w_k u_k v_kᵀ.
    pub w_star: Mat<f64>,
    /// Σ^(1/2) = V·diag(√λ)·Vᵀ (D×D).
    pub sigma_half: Mat<f64>,
    /// Σ = V·diag(λ)·Vᵀ (D×D).
    pub sigma: Mat<f64>,
}

impl Task {
    /// The task of a config: depends only on (a, b, dim, outputs, seed).
    pub fn new(cfg: &SimConfig) -> Task {
        let mut rng = synth::rng(stream_seed(cfg.seed, 0));
        let (d, k) = (cfg.dim, cfg.outputs);
        let r = d.min(k);
        let (a, b) = (cfg.a, cfg.b);
        let lambda: Vec<f64> = (1..=d).map(|i| (i as f64).powf(-b)).collect();
        let target: Vec<f64> = (1..=r).map(|i| (i as f64).powf((b - a) / 2.0)).collect();
        let v = orthonormal(d, d, &mut rng);
        let u = orthonormal(k, r, &mut rng);
        let scaled = |m: &Mat<f64>, f: &dyn Fn(usize) -> f64, cols: usize| {
            Mat::from_fn(m.nrows(), cols, |i, j| m[(i, j)] * f(j))
        };
        let uw = scaled(&u, &|j| target[j], r);
        let w_star = &uw * v.subcols(0, r).transpose();
        let v_sqrt = scaled(&v, &|j| lambda[j].sqrt(), d);
        let v_lam = scaled(&v, &|j| lambda[j], d);
        let sigma_half = &v_sqrt * v.transpose();
        let sigma = &v_lam * v.transpose();
        Task {
            a,
            b,
            lambda,
            target,
            v,
            u,
            w_star,
            sigma_half,
            sigma,
        }
    }

    pub fn dim(&self) -> usize {
        self.lambda.len()
    }
    pub fn outputs(&self) -> usize {
        self.u.nrows()
    }
    pub fn rank(&self) -> usize {
        self.target.len()
    }

    /// Loss energy e_k = λ_k·w_k² of mode k (0-based).
    pub fn energy(&self, k: usize) -> f64 {
        self.lambda[k] * self.target[k] * self.target[k]
    }

    /// Exact population loss of the linear map `w` (K×D):
    /// L = ½·E‖(W − W*)x‖² = ½·‖(W − W*)·Σ^(1/2)‖²_F.
    pub fn population_loss(&self, w: MatRef<'_, f64>) -> f64 {
        let e = w - &self.w_star;
        let mut m = Mat::<f64>::zeros(e.nrows(), e.ncols());
        matmul(
            m.as_mut(),
            Accum::Replace,
            e.as_ref(),
            self.sigma_half.as_ref(),
            1.0,
            Par::Seq,
        );
        0.5 * m.squared_norm_l2()
    }

    /// Mode strengths s_k = u_kᵀ·W·v_k, k = 1…R: the student's coefficient
    /// on the teacher's k-th mode (equal to w_k once the mode is learned).
    pub fn mode_strengths(&self, w: MatRef<'_, f64>) -> Vec<f64> {
        let r = self.rank();
        let mut wv = Mat::<f64>::zeros(w.nrows(), r);
        matmul(
            wv.as_mut(),
            Accum::Replace,
            w,
            self.v.subcols(0, r),
            1.0,
            Par::Seq,
        );
        (0..r)
            .map(|k| {
                (0..w.nrows())
                    .map(|i| self.u[(i, k)] * wv[(i, k)])
                    .sum::<f64>()
            })
            .collect()
    }

    /// `n` samples (rows): x = V·diag(√λ)·z with z ~ N(0, I), y = W*·x.
    pub fn sample(&self, n: usize, rng: &mut StdRng) -> (Mat<f64>, Mat<f64>) {
        let d = self.dim();
        let z = Mat::<f64>::from_fn(n, d, |_, j| {
            let g: f64 = StandardNormal.sample(rng);
            g * self.lambda[j].sqrt()
        });
        let x = &z * self.v.transpose();
        let y = &x * self.w_star.transpose();
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::ModelKind;

    fn cfg(d: usize, k: usize) -> SimConfig {
        SimConfig {
            dim: d,
            outputs: k,
            a: 2.3,
            b: 1.4,
            ..SimConfig::defaults(ModelKind::Linear, 2.3, 1.4)
        }
    }

    /// The teacher's construction against an independent check: its
    /// singular values are w_k and Σ's eigenvalues are λ_k (tolerance:
    /// backward-stable SVD/EVD, a few ε times the largest value).
    #[test]
    fn teacher_spectrum_is_exact() {
        for (d, k) in [(37, 23), (23, 37), (30, 30)] {
            let t = Task::new(&cfg(d, k));
            let sv = t.w_star.singular_values().unwrap();
            for (i, s) in sv.iter().enumerate().take(t.rank()) {
                assert!((s - t.target[i]).abs() < 1e-12, "{d}x{k} σ_{i}");
            }
            let mut ev = t.sigma.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            ev.reverse();
            for (e, l) in ev.iter().zip(&t.lambda) {
                assert!((e - l).abs() < 1e-13, "{d}x{k}: {e} vs {l}");
            }
            // Σ^(1/2)·Σ^(1/2) = Σ.
            let s2 = &t.sigma_half * &t.sigma_half;
            assert!((&s2 - &t.sigma).norm_max() < 1e-13);
            let s = t.mode_strengths(t.w_star.as_ref());
            for (a, b) in s.iter().zip(&t.target) {
                assert!((a - b).abs() < 1e-12);
            }
        }
    }

    /// L(0) = ½·Σ e_k exactly, and the Monte-Carlo loss of a perturbed map
    /// agrees with the closed form within 4 standard errors.
    #[test]
    fn population_loss_matches_samples() {
        let t = Task::new(&cfg(40, 17));
        let zero = Mat::<f64>::zeros(17, 40);
        let sum_e: f64 = (0..t.rank()).map(|k| t.energy(k)).sum();
        assert!((t.population_loss(zero.as_ref()) - 0.5 * sum_e).abs() < 1e-14);
        let mut rng = synth::rng(5);
        let w = synth::gaussian(17, 40, 0.1, &mut rng);
        let exact = t.population_loss(w.as_ref());
        let (x, y) = t.sample(20000, &mut rng);
        let r = &x * w.transpose() - &y;
        let per: Vec<f64> = (0..r.nrows())
            .map(|i| 0.5 * (0..r.ncols()).map(|j| r[(i, j)].powi(2)).sum::<f64>())
            .collect();
        let mean = per.iter().sum::<f64>() / per.len() as f64;
        let var = per.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (per.len() - 1) as f64;
        let se = (var / per.len() as f64).sqrt();
        assert!((mean - exact).abs() < 4.0 * se, "{mean} vs {exact} ± {se}");
    }
}
