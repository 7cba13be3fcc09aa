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
//! of its tail, but a scan stops as soon as its running maximum shows the
//! candidate cannot beat the best so far (a larger D, or an equal D at a
//! later index): the chosen xmin is exactly the exhaustive one at a
//! fraction of the work. To learn a small D early wherever the winner is,
//! 48 candidates spread in log tail length go first, then all of them from
//! the shortest tail up; and each scan first probes the point where the
//! previous one peaked or stopped (neighbouring candidates peak at nearly
//! the same eigenvalue), which rejects most losers in one evaluation. The
//! values compared are the same in any order, so the result is too.

/// Eigenvalues at or below this are left out of the fit (WeightWatcher's
/// `EVALS_THRESH`).
pub const EVALS_THRESH: f64 = 1e-5;
/// Below this many fit points the small-sample variant is used.
pub const SMALL_N_CUTOFF: usize = 20;
/// Smallest tail the small-sample variant considers.
pub const SMALL_N_KMIN: usize = 8;
/// Candidates scanned first to learn a small D early (spread evenly in log
/// tail length); any number gives the same answer, only faster or slower.
const SEEDS: usize = 48;

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
    let mut scored = vec![false; candidates];
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
            scored[i] = true;
        } else {
            first_unscored.get_or_insert(i);
        }
    }
    // `best` is the smallest index holding the smallest D among the
    // candidates scanned so far. A candidate's scan stops as soon as it
    // provably cannot beat it (see `ks_distance`); the global winner never
    // stops early, so scanning in any order gives the exhaustive answer.
    // First a few candidates spread evenly in log tail length, so a small
    // D is known early wherever the winner is; then all of them, from the
    // shortest tail to the longest.
    let mut best: Option<(usize, f64)> = None;
    let mut hint = n_fit - 1; // index into x where the last scan peaked or stopped
    let mut done = vec![false; candidates];
    let seeds = (0..SEEDS).map(|j| {
        let len = (2.0 * (n_fit as f64 / 2.0).powf(j as f64 / (SEEDS - 1) as f64)).round() as usize;
        n_fit - len.clamp(2, n_fit)
    });
    let order: Vec<usize> = seeds.chain((0..candidates).rev()).collect();
    for i in order {
        if i >= candidates || done[i] || !scored[i] {
            continue;
        }
        done[i] = true;
        let (bound, later) = best.map_or((f64::INFINITY, false), |(b, d)| (d, i > b));
        match ks_distance(&x[i..], alphas[i], bound, later, hint.saturating_sub(i)) {
            Ok((d, at)) => {
                best = Some((i, d));
                hint = i + at;
            }
            Err(at) => hint = i + at,
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
            d = ks_distance(&x, alpha, f64::INFINITY, false, 0)
                .expect("an unbounded scan always finishes")
                .0;
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

/// KS distance max_k |1 − (t_k/t_0)^(1−α) − k/n| over the tail `t` and
/// where it peaks, or `Err(k)` once gap k shows the candidate cannot beat
/// the best so far, whose D is `bound`: the gap exceeds it, or equals it
/// and this candidate has the `later` index (ties go to the first). The
/// gap at `probe` is looked at first.
fn ks_distance(
    tail: &[f64],
    alpha: f64,
    bound: f64,
    later: bool,
    probe: usize,
) -> Result<(f64, usize), usize> {
    let n = tail.len() as f64;
    let xmin = tail[0];
    let e = 1.0 - alpha;
    let gap = |k: usize| (1.0 - (tail[k] / xmin).powf(e) - k as f64 / n).abs();
    let loses = |g: f64| g > bound || (later && g >= bound);
    if probe < tail.len() && loses(gap(probe)) {
        return Err(probe);
    }
    let (mut d, mut at) = (0.0f64, 0);
    for k in 0..tail.len() {
        let g = gap(k);
        if g > d {
            d = g;
            at = k;
            if loses(d) {
                return Err(k);
            }
        }
    }
    Ok((d, at))
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
        let mut cases: Vec<Vec<f64>> = [(50, 2.5, 1), (384, 3.0, 2), (1000, 1.8, 3), (64, 6.0, 4)]
            .into_iter()
            .map(|(n, a, seed)| pareto(n, a, seed))
            .collect();
        // Ties: values rounded to two significant digits (many equal D's and
        // equal xmin candidates, where the first index must win).
        cases.push(
            pareto(600, 2.2, 5)
                .into_iter()
                .map(|v| {
                    let e = 10f64.powf(v.log10().floor() - 1.0);
                    (v / e).round() * e
                })
                .collect(),
        );
        // A bulk with a separate tail (the shape of a trained layer), where
        // the best candidate is far from both ends.
        let mut shaped: Vec<f64> = (0..700)
            .map(|i| 1.0 + 3.0 * (i as f64 / 700.0).powi(2))
            .collect();
        shaped.extend((1..=60).map(|k| 5.0 * (60.0 / k as f64).powf(0.8)));
        cases.push(shaped);
        for ev in cases {
            let n = ev.len();
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
