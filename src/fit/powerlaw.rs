//! Power-law fit of the empirical spectral density's tail, exactly as the
//! peer tool WeightWatcher (0.7.7, `WWFit`) does it, so that `alpha`,
//! `xmin`, `D` and `sigma` are comparable number for number.
//!
//! Rules (docs/weightwatcher-compat.md §3):
//! - data: eigenvalues > 1e-5 (absolute), ascending; every one but the
//!   largest is an xmin candidate, duplicates included;
//! - n ≥ 20: α_i = 1 + n/Σ_{j≥i} ln(x_j/x_i) (continuous MLE);
//!   n < 20: only tails of ≥ 8 points, α_i = 1 + (n−1)/Σ ln(x_j/x_i);
//! - D_i = max_k |1 − (x_{i+k}/x_i)^(1−α_i) − k/n| when α_i > 1, else 1;
//! - the first candidate with the smallest D wins; σ = (α−1)/√n;
//! - fewer than two data points: the fit fails.
//!
//! Cost: the α's come from suffix sums of ln x (linear). Each D is a scan
//! of its tail, but a scan stops as soon as its running maximum reaches the
//! best D so far: such a candidate cannot win (ties go to the first), so the
//! chosen xmin is exactly the exhaustive one at a fraction of the work.

/// Eigenvalues at or below this are left out of the fit (WeightWatcher's
/// `EVALS_THRESH`).
pub const EVALS_THRESH: f64 = 1e-5;
/// Below this many fit points the small-sample variant is used.
pub const SMALL_N_CUTOFF: usize = 20;
/// Smallest tail the small-sample variant considers.
pub const SMALL_N_KMIN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLawFit {
    pub alpha: f64,
    pub xmin: f64,
    /// The largest fitted eigenvalue (never fitted itself).
    pub xmax: f64,
    /// Kolmogorov–Smirnov distance of the chosen tail.
    pub d: f64,
    pub sigma: f64,
    /// Points in the chosen tail (x ≥ xmin among the fit data).
    pub n_tail: usize,
    /// Points given to the fit (eigenvalues above the threshold).
    pub n_fit: usize,
    /// The small-sample variant was used.
    pub small_n: bool,
}

/// Why a fit produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitFailure {
    /// Fewer than two eigenvalues above the threshold.
    TooFewEigenvalues { n_fit: usize },
}

impl std::fmt::Display for FitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitFailure::TooFewEigenvalues { n_fit } => {
                write!(
                    f,
                    "power-law fit needs at least 2 eigenvalues above {EVALS_THRESH:e}; found {n_fit}"
                )
            }
        }
    }
}

/// Fits the tail of `evals` (any order).
pub fn fit(evals: &[f64]) -> Result<PowerLawFit, FitFailure> {
    let mut x: Vec<f64> = evals
        .iter()
        .copied()
        .filter(|&e| e > EVALS_THRESH)
        .collect();
    x.sort_by(f64::total_cmp);
    let n_fit = x.len();
    if n_fit < 2 {
        return Err(FitFailure::TooFewEigenvalues { n_fit });
    }
    let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    // suffix[i] = Σ_{j ≥ i} ln x_j
    let mut suffix = vec![0.0; n_fit + 1];
    for i in (0..n_fit).rev() {
        suffix[i] = suffix[i + 1] + logs[i];
    }
    let small = n_fit < SMALL_N_CUTOFF;
    let candidates = n_fit - 1;
    let mut alphas = vec![0.0; candidates];
    let mut best: Option<(usize, f64)> = None; // first candidate with the smallest D so far
    let mut first_unscored: Option<usize> = None; // keeps the initial D = 1
    for i in 0..candidates {
        let n_int = n_fit - i;
        let n = n_int as f64;
        let s = suffix[i] - n * logs[i];
        let alpha = if small {
            if n_int < SMALL_N_KMIN || s <= 1e-12 {
                first_unscored.get_or_insert(i);
                continue;
            }
            1.0 + (n - 1.0) / s
        } else {
            1.0 + n / s
        };
        alphas[i] = alpha;
        if alpha > 1.0 {
            let bound = best.map_or(f64::INFINITY, |b| b.1);
            if let Some(d) = ks_distance(&x[i..], alpha, bound) {
                best = Some((i, d));
            }
        } else {
            first_unscored.get_or_insert(i);
        }
    }
    let sigma_of = |i: usize, alpha: f64| (alpha - 1.0) / ((n_fit - i) as f64).sqrt();
    // The peer takes argmin over D with unscored candidates at D = 1: the
    // first index holding the smallest value.
    let (i, d) = match (best, first_unscored) {
        (Some((b, d)), _) if d < 1.0 => (b, d),
        (Some((b, d)), Some(u)) => (b.min(u), d.max(1.0)),
        (Some((b, d)), None) => (b, d),
        (None, u) => (u.unwrap_or(0), 1.0),
    };
    let (mut alpha, sigma, mut d) = (alphas[i], sigma_of(i, alphas[i]), d);
    if small && best.is_none() {
        // No tail of >= 8 points had alpha > 1: the whole data set becomes the
        // tail (i = 0). sigma keeps the value computed before this fallback
        // (alpha_0 = 0 there, so sigma = -1/sqrt(n)), as the peer's does.
        let n = n_fit as f64;
        let s = suffix[0] - n * logs[0];
        if s > 1e-12 {
            alpha = 1.0 + (n - 1.0) / s;
            d = ks_distance(&x, alpha, f64::INFINITY).expect("an unbounded scan always finishes");
        }
    }
    Ok(PowerLawFit {
        alpha,
        xmin: x[i],
        xmax: x[n_fit - 1],
        d,
        sigma,
        n_tail: n_fit - i,
        n_fit,
        small_n: small,
    })
}

/// KS distance max_k |1 − (t_k/t_0)^(1−α) − k/n| over the tail `t`, or
/// `None` once the running maximum reaches `bound` (the candidate loses).
fn ks_distance(tail: &[f64], alpha: f64, bound: f64) -> Option<f64> {
    let n = tail.len() as f64;
    let xmin = tail[0];
    let e = 1.0 - alpha;
    let mut d = 0.0f64;
    for (k, &t) in tail.iter().enumerate() {
        let gap = (1.0 - (t / xmin).powf(e) - k as f64 / n).abs();
        if gap > d {
            d = gap;
            if d >= bound {
                return None;
            }
        }
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer's exhaustive algorithm, written out naively, as the oracle
    /// for the pruned scan.
    fn exhaustive(evals: &[f64]) -> (f64, f64, f64, f64) {
        let mut x: Vec<f64> = evals
            .iter()
            .copied()
            .filter(|&e| e > EVALS_THRESH)
            .collect();
        x.sort_by(f64::total_cmp);
        let nf = x.len();
        let mut ds = vec![1.0; nf - 1];
        let mut alphas = vec![0.0; nf - 1];
        for i in 0..nf - 1 {
            let n = (nf - i) as f64;
            let s: f64 = x[i..].iter().map(|v| v.ln()).sum::<f64>() - n * x[i].ln();
            let a = 1.0 + n / s;
            alphas[i] = a;
            if a > 1.0 {
                ds[i] = (0..nf - i)
                    .map(|k| (1.0 - (x[i + k] / x[i]).powf(1.0 - a) - k as f64 / n).abs())
                    .fold(0.0, f64::max);
            }
        }
        let mut best = 0;
        for i in 0..ds.len() {
            if ds[i] < ds[best] {
                best = i;
            }
        }
        let sigma = (alphas[best] - 1.0) / ((nf - best) as f64).sqrt();
        (alphas[best], x[best], ds[best], sigma)
    }

    fn pareto(n: usize, alpha: f64, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                0.01 * u.powf(-1.0 / (alpha - 1.0))
            })
            .collect()
    }

    #[test]
    fn pruned_scan_equals_exhaustive_scan() {
        for (n, a, seed) in [(50, 2.5, 1), (384, 3.0, 2), (1000, 1.8, 3), (64, 6.0, 4)] {
            let ev = pareto(n, a, seed);
            let f = fit(&ev).unwrap();
            let (alpha, xmin, d, sigma) = exhaustive(&ev);
            // Same xmin exactly; α, D and σ to summation-order round-off
            // (suffix sums against direct sums: ~n·ε relative).
            assert_eq!(f.xmin, xmin, "n={n}");
            for (got, want) in [(f.alpha, alpha), (f.d, d), (f.sigma, sigma)] {
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs(),
                    "n={n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn recovers_a_known_exponent() {
        // 20000 Pareto samples with α = 2.5 from xmin = 0.01: the MLE has
        // standard error (α−1)/√n ≈ 0.011; allow 5 of them.
        let f = fit(&pareto(20000, 2.5, 7)).unwrap();
        assert!((f.alpha - 2.5).abs() < 0.06, "alpha {}", f.alpha);
    }

    #[test]
    fn failures_and_degenerate_tails() {
        assert_eq!(fit(&[]), Err(FitFailure::TooFewEigenvalues { n_fit: 0 }));
        assert_eq!(
            fit(&[1.0, 0.0, 1e-6]),
            Err(FitFailure::TooFewEigenvalues { n_fit: 1 })
        );
        // All equal, n ≥ 20: α = ∞ (the peer reports it as a success).
        let f = fit(&[4.0; 30]).unwrap();
        assert!(f.alpha.is_infinite() && !f.small_n);
        // Small n below 8 points: the fallback over the whole data set, with
        // σ = −1/√n as the peer leaves it.
        let f = fit(&[1.0, 2.0, 3.0, 5.0, 8.0]).unwrap();
        assert!(f.small_n);
        assert_eq!(f.xmin, 1.0);
        assert!((f.sigma + 1.0 / 5f64.sqrt()).abs() < 1e-15);
        let s: f64 = [1.0f64, 2.0, 3.0, 5.0, 8.0].iter().map(|v| v.ln()).sum();
        assert!((f.alpha - (1.0 + 4.0 / s)).abs() < 1e-14);
    }
}
