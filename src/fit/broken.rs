//! The broken power law on ln μ_k against ln k: two slopes joined
//! continuously at a break, the break searched over the log-spaced rank
//! grid, accepted only when it beats one power law by the Bayesian
//! information criterion (ΔBIC > [`DBIC_ACCEPT`]).
//!
//! Model: y = c − s₁·x for x ≤ x_b, y = c − s₁·x_b − s₂·(x − x_b) beyond,
//! i.e. least squares on the basis [1, x, (x − x_b)₊] for each candidate
//! x_b. BIC = n·ln(RSS/n) + p·ln n with p = 2 (line) and p = 4 (two slopes,
//! intercept, break). Residuals of ln μ below [`RSS_FLOOR_PER_POINT`] are
//! treated as zero, so round-off on an exact power law cannot "accept" a
//! break. The break's uncertainty is its profile-likelihood 95% interval:
//! the candidates with n·ln(RSS_b/RSS_best) ≤ 3.84. A best break on the
//! first or last candidate of the search is not accepted whatever its
//! ΔBIC: the data do not bracket it, and at the top of the spectrum it is
//! usually a handful of outlier eigenvalues (spikes) above a power law
//! rather than a change of slope.

use super::estimate::{Estimate, Estimated, GridPoint, Prefix, Screened, Unavailable, Window};
use serde::Serialize;

/// ΔBIC a break must gain over one power law to be accepted. Kass &
/// Raftery (1995) call ΔBIC > 10 "very strong" evidence.
pub const DBIC_ACCEPT: f64 = 10.0;
/// Fewest grid points on each side of a break (the break point counts on
/// both sides).
pub const MIN_SIDE: usize = 4;
/// Squared residual per point below which a fit counts as exact: an RMS
/// of 1e-6 in ln μ, far below any measured scatter, far above round-off.
pub const RSS_FLOOR_PER_POINT: f64 = 1e-12;
/// χ²₁ 95% quantile, for the break's profile interval.
const CHI2_95: f64 = 3.841;

/// The best two-slope fit, accepted or not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BrokenPowerLaw {
    /// Slope before the break (−d ln μ/d ln k), with its OLS error; the
    /// window is the fitted range of ranks.
    pub s1: Estimate,
    /// Slope after the break.
    pub s2: Estimate,
    /// Covariance of (s₁, s₂) from the same fit.
    pub cov_s1_s2: f64,
    /// The break rank; the window is its 95% profile interval, the error is
    /// that interval's half-width in ln k over 1.96, times k_b (a log-normal
    /// σ), and never below the grid's own resolution.
    pub k_break: Estimate,
    /// BIC(one line) − BIC(two slopes); the break is accepted when > 10
    /// and not at the edge of the search.
    pub dbic: f64,
    /// The best break is the first or last candidate (MIN_SIDE grid points
    /// from either end).
    pub at_edge: bool,
    pub accepted: bool,
    /// Grid points fitted.
    pub points: usize,
}

/// The hinge fit for one break index c over points `g`.
struct Hinge {
    rss: f64,
    /// β = (c, β₁, β₂) for y = c + β₁x + β₂(x − x_b)₊, and (XᵀX)⁻¹.
    beta: [f64; 3],
    inv: [[f64; 3]; 3],
}

fn hinge(g: &[GridPoint], xb: f64) -> Option<Hinge> {
    // Centre x for conditioning; the slopes do not change.
    let mx = g.iter().map(|p| p.x).sum::<f64>() / g.len() as f64;
    let mut a = [[0.0f64; 3]; 3];
    let mut r = [0.0f64; 3];
    for p in g {
        let f = [1.0, p.x - mx, (p.x - xb).max(0.0)];
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] += f[i] * f[j];
            }
            r[i] += f[i] * p.y;
        }
    }
    let inv = invert3(&a)?;
    let mut beta = [0.0; 3];
    for i in 0..3 {
        beta[i] = (0..3).map(|j| inv[i][j] * r[j]).sum();
    }
    let rss = g
        .iter()
        .map(|p| {
            let f = beta[0] + beta[1] * (p.x - mx) + beta[2] * (p.x - xb).max(0.0);
            (p.y - f).powi(2)
        })
        .sum();
    Some(Hinge { rss, beta, inv })
}

/// Inverse of a symmetric positive-definite 3×3 by the adjugate; `None`
/// when it is numerically singular.
fn invert3(a: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c = |i: usize, j: usize| {
        let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
        let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
        a[i1][j1] * a[i2][j2] - a[i1][j2] * a[i2][j1]
    };
    let det = a[0][0] * c(0, 0) + a[0][1] * c(0, 1) + a[0][2] * c(0, 2);
    let scale = a[0][0] * a[1][1] * a[2][2];
    // Also rejects a NaN determinant.
    if det.abs().partial_cmp(&(1e-12 * scale.abs())) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = c(j, i) / det;
        }
    }
    Some(inv)
}

/// Fits one and two power laws over ranks 1..=`k_cap` (capped at the
/// numerical rank) and returns the best break with its ΔBIC. Unavailable
/// when the range holds less than a decade or fewer than 2·MIN_SIDE points.
pub fn broken_power_law(s: &Screened, k_cap: usize) -> Estimated<BrokenPowerLaw> {
    let g = s.grid(k_cap)?;
    let n = g.len();
    if n < 2 * MIN_SIDE {
        return Err(Unavailable::TooFew {
            m: n,
            min: 2 * MIN_SIDE,
        });
    }
    let nf = n as f64;
    let floor = RSS_FLOOR_PER_POINT * nf;
    let one = Prefix::new(&g).line(0, n - 1);
    let bic1 = nf * (one.rss.max(floor) / nf).ln() + 2.0 * nf.ln();
    let mut fits: Vec<(usize, Hinge)> = Vec::new();
    for c in MIN_SIDE - 1..=n - MIN_SIDE {
        if let Some(h) = hinge(&g, g[c].x) {
            fits.push((c, h));
        }
    }
    let best = fits
        .iter()
        .min_by(|a, b| a.1.rss.total_cmp(&b.1.rss))
        .ok_or(Unavailable::TooFew {
            m: n,
            min: 2 * MIN_SIDE,
        })?;
    let (c, h) = (best.0, &best.1);
    let at_edge = c == MIN_SIDE - 1 || c == n - MIN_SIDE;
    let rss2 = h.rss.max(floor);
    let bic2 = nf * (rss2 / nf).ln() + 4.0 * nf.ln();
    let dbic = bic1 - bic2;
    // Profile interval of the break.
    let inside: Vec<usize> = fits
        .iter()
        .filter(|(_, f)| nf * (f.rss.max(floor) / rss2).ln() <= CHI2_95)
        .map(|(i, _)| *i)
        .collect();
    let (lo, hi) = (
        *inside.iter().min().unwrap_or(&c),
        *inside.iter().max().unwrap_or(&c),
    );
    // A break pinned to one grid point still has the grid's resolution:
    // uniform within its cell, σ = spacing/√12.
    let cell = (g[(c + 1).min(n - 1)].x - g[c.saturating_sub(1)].x) / 2.0;
    let half_ln = ((g[hi].x - g[lo].x) / (2.0 * 1.96)).max(cell / 12f64.sqrt());
    let kb = g[c].k;
    // OLS covariance: σ̂² (XᵀX)⁻¹ with σ̂² = RSS/(n − 4).
    let s2hat = h.rss / (nf - 4.0).max(1.0);
    let var1 = s2hat * h.inv[1][1];
    let var12 = s2hat * h.inv[1][2];
    let var2 = s2hat * h.inv[2][2];
    let range = Window {
        k_min: g[0].k,
        k_max: g[n - 1].k,
    };
    let s1 = -h.beta[1];
    let s2 = -(h.beta[1] + h.beta[2]);
    Ok(BrokenPowerLaw {
        s1: Estimate {
            value: s1,
            stderr: var1.max(0.0).sqrt(),
            window: range,
        },
        s2: Estimate {
            value: s2,
            stderr: (var1 + var2 + 2.0 * var12).max(0.0).sqrt(),
            window: range,
        },
        cov_s1_s2: var1 + var12,
        k_break: Estimate {
            value: kb as f64,
            stderr: kb as f64 * half_ln,
            window: Window {
                k_min: g[lo].k,
                k_max: g[hi].k,
            },
        },
        dbic,
        at_edge,
        accepted: dbic > DBIC_ACCEPT && !at_edge,
        points: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::estimate::screen;

    fn broken(k_b: f64, s1: f64, s2: f64, m: usize) -> Vec<f64> {
        crate::synth::broken_power_law(m, k_b, s1, s2)
    }

    #[test]
    fn finds_a_clean_break() {
        let mu = broken(80.0, 0.5, 2.5, 1500);
        let s = screen(&mu).unwrap();
        let f = broken_power_law(&s, 1500).unwrap();
        assert!(f.accepted && f.dbic > 100.0, "{f:?}");
        // The break sits on the grid: within one grid step (10^(1/20) ≈ 12%).
        assert!((f.k_break.value / 80.0 - 1.0).abs() < 0.13, "{f:?}");
        assert!((f.s1.value - 0.5).abs() < 0.02 && (f.s2.value - 2.5).abs() < 0.02);
    }

    #[test]
    fn one_power_law_is_not_broken() {
        let mu: Vec<f64> = (1..=900).map(|k| 3.0 * (k as f64).powf(-1.3)).collect();
        let s = screen(&mu).unwrap();
        let f = broken_power_law(&s, 900).unwrap();
        assert!(!f.accepted, "{f:?}");
        assert!((f.s1.value - 1.3).abs() < 1e-6 && (f.s2.value - 1.3).abs() < 1e-6);
    }

    #[test]
    fn noisy_single_law_is_not_broken() {
        // Multiplicative scatter of ±3% on a single law must not pass ΔBIC.
        let mut st = 5u64;
        let mu: Vec<f64> = (1..=800)
            .map(|k| {
                st ^= st << 13;
                st ^= st >> 7;
                st ^= st << 17;
                let u = (st >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                (k as f64).powf(-1.1) * (1.0 + 0.06 * u)
            })
            .collect::<Vec<_>>();
        let mut mu = mu;
        mu.sort_by(|a, b| b.total_cmp(a));
        let s = screen(&mu).unwrap();
        let f = broken_power_law(&s, 800).unwrap();
        assert!(!f.accepted, "{f:?}");
    }

    #[test]
    fn a_break_on_the_edge_of_the_search_is_not_accepted() {
        // A steep head over the first three ranks, then one power law: the
        // best hinge is the first candidate (k = 4) and beats one line by
        // far, but the data do not bracket it. The same kind of spectrum
        // with its break well inside the grid (k_b = 80) is not at the edge.
        let mu = broken(3.0, 3.0, 1.0, 900);
        let s = screen(&mu).unwrap();
        let f = broken_power_law(&s, 900).unwrap();
        assert!(f.at_edge && f.dbic > DBIC_ACCEPT, "{f:?}");
        assert!(!f.accepted, "{f:?}");
        let inside = broken_power_law(&screen(&broken(80.0, 0.5, 2.5, 1500)).unwrap(), 1500);
        assert!(!inside.unwrap().at_edge);
    }
}
