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

/// The two large benchmark matrices of docs/performance.md, as seeded
/// little-endian BF16 bytes of an n×m row-major matrix whose entry (i, j)
/// is z·(j+1)^(−p) + floor·z' (z, z' independent N(0, 1)): columns with a
/// power-law scale over a noise floor. With p > 0 the top of the Gram
/// spectrum decays as k^(−2p) (p = 0.6: μ₂/μ₁ ≈ 2^(−1.2) ≈ 0.44, a trained
/// layer's separated head); p = 0 and floor = 0 is pure Gaussian noise, a
/// Marchenko–Pastur bulk whose top is clustered at its edge (relative gaps
/// ~1e-3). Rows are generated in parallel, each from its own stream, so
/// the bytes depend on the seed only.
pub fn scaled_columns_bf16(n: usize, m: usize, p: f64, floor: f64, seed: u64) -> Vec<u8> {
    use rayon::prelude::*;
    let scale: Vec<f64> = (0..m).map(|j| ((j + 1) as f64).powf(-p)).collect();
    let mut out = vec![0u8; 2 * n * m];
    out.par_chunks_mut(2 * m).enumerate().for_each(|(i, row)| {
        let mut r = rng(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for (j, b) in row.chunks_exact_mut(2).enumerate() {
            let z: f64 = StandardNormal.sample(&mut r);
            let mut v = z * scale[j];
            if floor > 0.0 {
                let z2: f64 = StandardNormal.sample(&mut r);
                v += floor * z2;
            }
            b.copy_from_slice(&half::bf16::from_f64(v).to_le_bytes());
        }
    });
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

    /// The trained-like generator's head decays as k^(−2p): μ₂/μ₁ within
    /// 0.15 of 2^(−2p) at 2000×200 (the columns' sampling noise at this
    /// size moves the ratio by ~0.05), and the bytes are a function of the
    /// seed.
    #[test]
    fn scaled_columns_have_a_power_law_head() {
        let (n, m) = (2000, 200);
        let b = scaled_columns_bf16(n, m, 0.6, 1e-3, 9);
        assert_eq!(b, scaled_columns_bf16(n, m, 0.6, 1e-3, 9));
        let v: Vec<f64> = b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect();
        let w = faer::MatRef::from_row_major_slice(&v, n, m);
        let sv = w.singular_values().unwrap();
        let ratio = (sv[1] / sv[0]).powi(2);
        assert!((ratio - 2f64.powf(-1.2)).abs() <= 0.15, "μ₂/μ₁ = {ratio}");
    }
}
