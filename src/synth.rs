//! Seeded synthetic matrices with a prescribed spectrum, for tests,
//! fixtures and benchmarks: W = U·diag(√μ)·Vᵀ (+ Gaussian noise), with U
//! and V Haar-random orthonormal (QR of a Gaussian matrix, signs fixed).

use faer::Mat;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

/// A seeded generator (ChaCha-based `StdRng`; stable for a pinned `rand`).
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// An m×n matrix of independent N(0, σ²) entries.
pub fn gaussian(m: usize, n: usize, sigma: f64, rng: &mut StdRng) -> Mat<f64> {
    Mat::from_fn(m, n, |_, _| {
        let z: f64 = StandardNormal.sample(rng);
        sigma * z
    })
}

/// An m×k matrix with orthonormal columns (k ≤ m), Haar-distributed.
pub fn orthonormal(m: usize, k: usize, rng: &mut StdRng) -> Mat<f64> {
    assert!(k <= m, "orthonormal: k = {k} > m = {m}");
    let g = gaussian(m, k, 1.0, rng);
    let qr = g.qr();
    let q = qr.compute_thin_Q();
    let r = qr.thin_R();
    // Multiply column j by sign(R_jj) so the distribution is Haar.
    Mat::from_fn(m, k, |i, j| {
        if r[(j, j)] < 0.0 {
            -q[(i, j)]
        } else {
            q[(i, j)]
        }
    })
}

/// An m×n matrix whose squared singular values are `mu` (length ≤ min(m, n),
/// any order), plus N(0, noise²) entries when `noise` > 0.
pub fn with_spectrum(m: usize, n: usize, mu: &[f64], noise: f64, rng: &mut StdRng) -> Mat<f64> {
    let k = mu.len();
    assert!(
        k <= m.min(n),
        "with_spectrum: {k} values for a {m}×{n} matrix"
    );
    let u = orthonormal(m, k, rng);
    let v = orthonormal(n, k, rng);
    let us = Mat::from_fn(m, k, |i, j| u[(i, j)] * mu[j].sqrt());
    let mut w = &us * v.transpose();
    if noise > 0.0 {
        w += gaussian(m, n, noise, rng);
    }
    w
}

/// μ_k = scale · k^(−b), k = 1…count.
pub fn power_law(count: usize, b: f64, scale: f64) -> Vec<f64> {
    (1..=count).map(|k| scale * (k as f64).powf(-b)).collect()
}

/// A broken power law over ranks 1…count: μ_k = k^(−s₁) up to the break
/// k_b, then continuing with slope s₂ (μ_k = k_b^(−s₁)·(k/k_b)^(−s₂)).
pub fn broken_power_law(count: usize, k_b: f64, s1: f64, s2: f64) -> Vec<f64> {
    (1..=count)
        .map(|k| {
            let k = k as f64;
            if k <= k_b {
                k.powf(-s1)
            } else {
                k_b.powf(-s1) * (k / k_b).powf(-s2)
            }
        })
        .collect()
}

/// Row-major values of a matrix.
pub fn row_major(w: &Mat<f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(w.nrows() * w.ncols());
    for i in 0..w.nrows() {
        for j in 0..w.ncols() {
            out.push(w[(i, j)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescribed_spectrum_is_exact() {
        let mu = power_law(20, 1.5, 10.0);
        let w = with_spectrum(50, 30, &mu, 0.0, &mut rng(1));
        let sv = w.singular_values().unwrap();
        for (s, m) in sv.iter().zip(&mu) {
            assert!((s * s - m).abs() <= 1e-12 * mu[0], "{} vs {m}", s * s);
        }
        assert!(sv[20] < 1e-12);
    }
}
