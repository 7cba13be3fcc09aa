//! The rank-decay exponent b of μ_k ~ k^(−b): least squares of ln μ_k on
//! ln k over log-spaced ranks in a window chosen by a fixed rule, the Hill
//! estimator on the top K, the consistency check b ≈ 1/(α−1) against the
//! peer-compatible power-law alpha, and the local-slope profile s(k).
//!
//! The window rule (docs/theory.md §3.1): among all windows of the
//! log-spaced grid (20 ranks per decade) that lie at or above the noise
//! floor, span at least one decade and hold at least 6 grid points, take
//! the widest whose RMS residual from its line is at most
//! [`STRAIGHT_RMS`] (ties: the smaller residual). If none is that straight
//! the spectrum is curved everywhere: take the straightest window of
//! exactly the minimum span instead and say so (`straight = false`).

use super::estimate::{
    Estimate, Estimated, GridPoint, MIN_EVALS, Prefix, Screened, Unavailable, Window, log_grid,
};
use super::powerlaw::PowerLawFit;
use serde::Serialize;

/// Largest RMS residual (in ln μ) a window may have and still count as one
/// power law: 5% scatter of μ about the line.
pub const STRAIGHT_RMS: f64 = 0.05;
/// Fewest grid points in a window.
pub const MIN_POINTS: usize = 6;
/// Half-width, in decades, of the local-slope window.
pub const SLOPE_HALF_WIDTH: f64 = 0.25;

/// The least-squares rank-decay fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankDecay {
    /// b with its OLS standard error and window.
    pub b: Estimate,
    /// RMS residual of ln μ about the line in the window.
    pub rms: f64,
    /// The window passed the straightness test.
    pub straight: bool,
    /// Grid points in the window.
    pub points: usize,
}

/// Fits b over ranks 1..=`k_cap` (the modes above the noise floor; capped
/// at the numerical rank).
pub fn rank_decay(s: &Screened, k_cap: usize) -> Estimated<RankDecay> {
    let k_cap = k_cap.min(s.rank);
    let g = s.grid(k_cap)?;
    let pre = Prefix::new(&g);
    let decade = 10f64.ln() - 1e-9;
    // (span, rms, i, j) of the best straight window, and of the straightest.
    let mut wide: Option<(f64, f64, usize, usize)> = None;
    let mut flat: Option<(f64, usize, usize)> = None;
    for i in 0..g.len() {
        let mut minimal = true;
        for j in i + MIN_POINTS - 1..g.len() {
            let span = g[j].x - g[i].x;
            if span < decade {
                continue;
            }
            let rms = pre.line(i, j).rms();
            let wider = |(ws, wr, _, _): (f64, f64, usize, usize)| {
                span > ws + 1e-12 || (span >= ws - 1e-12 && rms < wr)
            };
            if rms <= STRAIGHT_RMS && wide.is_none_or(wider) {
                wide = Some((span, rms, i, j));
            }
            // The fallback ranks only minimal windows: the first j that
            // reaches a decade (and MIN_POINTS points) from this i.
            if minimal && flat.is_none_or(|(fr, _, _)| rms < fr) {
                flat = Some((rms, i, j));
            }
            minimal = false;
        }
    }
    let (i, j, straight) = match (wide, flat) {
        (Some((_, _, i, j)), _) => (i, j, true),
        (None, Some((_, i, j))) => (i, j, false),
        (None, None) => {
            return Err(Unavailable::FewAboveNoise {
                count: k_cap,
                edge: s.mu[k_cap - 1],
                min: MIN_EVALS,
            });
        }
    };
    Ok(fit_window(&g, &pre, i, j, straight))
}

fn fit_window(g: &[GridPoint], pre: &Prefix, i: usize, j: usize, straight: bool) -> RankDecay {
    let l = pre.line(i, j);
    RankDecay {
        b: Estimate {
            value: -l.slope,
            stderr: l.slope_se,
            window: Window {
                k_min: g[i].k,
                k_max: g[j].k,
            },
        },
        rms: l.rms(),
        straight,
        points: l.n,
    }
}

/// The Hill estimator of b on the top K ranks:
/// H = (1/K)·Σ_{i≤K} ln(μ_i/μ_{K+1}), se = H/√K. For i.i.d. draws whose
/// survival function falls as x^(−1/b) (an ESD tail with α = 1 + 1/b) it
/// is the maximum-likelihood b; on a deterministic k^(−b) sequence it is
/// low by ≈ ln(2πK)/(2K) relative (Stirling).
pub fn hill(mu: &[f64], k: usize) -> Estimated {
    if k < 2 || k + 1 > mu.len() || mu[k] <= 0.0 {
        return Err(Unavailable::TooFew {
            m: mu.iter().take_while(|&&v| v > 0.0).count(),
            min: k.max(2) + 1,
        });
    }
    let base = mu[k].ln();
    let h = mu[..k].iter().map(|v| v.ln() - base).sum::<f64>() / k as f64;
    Ok(Estimate {
        value: h,
        stderr: h / (k as f64).sqrt(),
        window: Window { k_min: 1, k_max: k },
    })
}

/// b implied by the ESD tail exponent, 1/(α−1), with the delta-method
/// error σ_α/(α−1)²; the window is the power-law tail (ranks 1..n_tail).
pub fn b_from_alpha(fit: &PowerLawFit) -> Estimated {
    if !fit.alpha.is_finite() || fit.alpha <= 1.0 {
        return Err(Unavailable::AlphaTooSmall { alpha: fit.alpha });
    }
    let d = fit.alpha - 1.0;
    Ok(Estimate {
        value: 1.0 / d,
        stderr: fit.sigma.abs() / (d * d),
        window: Window {
            k_min: 1,
            k_max: fit.n_tail.max(1),
        },
    })
}

/// One point of the local-slope profile: s(k) = −d ln μ/d ln k from a
/// least-squares line over the grid points within ±[`SLOPE_HALF_WIDTH`]
/// decades of k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopePoint {
    pub k: usize,
    pub slope: f64,
}

/// The local-slope profile over ranks 1..=`k_cap` (capped at the rank). A
/// single power law gives a flat profile; a broken one, two plateaus; a
/// noise bulk, a slope that runs away at the end.
pub fn slope_profile(s: &Screened, k_cap: usize) -> Vec<SlopePoint> {
    let k_cap = k_cap.min(s.rank);
    if k_cap < 3 {
        return Vec::new();
    }
    let g = log_grid(s.mu, k_cap);
    let pre = Prefix::new(&g);
    let h = SLOPE_HALF_WIDTH * 10f64.ln();
    let mut out = Vec::with_capacity(g.len());
    let (mut lo, mut hi) = (0, 0);
    for c in 0..g.len() {
        while g[c].x - g[lo].x > h + 1e-12 {
            lo += 1;
        }
        while hi + 1 < g.len() && g[hi + 1].x - g[c].x <= h + 1e-12 {
            hi += 1;
        }
        if hi - lo + 1 >= 3 {
            out.push(SlopePoint {
                k: g[c].k,
                slope: -pre.line(lo, hi).slope,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::estimate::screen;

    #[test]
    fn exact_power_law_gives_b_over_the_whole_range() {
        for b in [0.4, 1.0, 2.5] {
            let mu: Vec<f64> = (1..=700).map(|k| (k as f64).powf(-b)).collect();
            let s = screen(&mu).unwrap();
            let r = rank_decay(&s, 700).unwrap();
            assert!((r.b.value - b).abs() < 1e-9, "{b}: {r:?}");
            assert!(r.straight);
            assert_eq!((r.b.window.k_min, r.b.window.k_max), (1, 700));
        }
    }

    #[test]
    fn window_avoids_a_bent_tail() {
        // k^-1.5 up to rank 100, then a much steeper fall: the widest
        // straight window must end near 100 and keep b = 1.5.
        let mu: Vec<f64> = (1..=1000)
            .map(|k| {
                let k = k as f64;
                if k <= 100.0 {
                    k.powf(-1.5)
                } else {
                    100f64.powf(-1.5) * (k / 100.0).powf(-6.0)
                }
            })
            .collect();
        let s = screen(&mu).unwrap();
        let r = rank_decay(&s, 1000).unwrap();
        assert!((r.b.value - 1.5).abs() < 0.05, "{r:?}");
        assert!(
            r.b.window.k_max <= 130 && r.b.window.decades() >= 1.0,
            "{r:?}"
        );
    }

    #[test]
    fn hill_on_pareto_draws() {
        // 4000 i.i.d. draws with survival x^(-1/b), b = 0.8: Hill on the top
        // 400 has se = b/√400 = 0.04; allow 3 se.
        let mut st = 99u64;
        let mut mu: Vec<f64> = (0..4000)
            .map(|_| {
                st = st
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((st >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                u.powf(-0.8)
            })
            .collect();
        mu.sort_by(|a, b| b.total_cmp(a));
        let h = hill(&mu, 400).unwrap();
        assert!((h.value - 0.8).abs() < 3.0 * h.stderr, "{h:?}");
        assert!(hill(&mu[..3], 5).is_err());
    }

    #[test]
    fn slope_profile_shows_a_break() {
        let mu: Vec<f64> = (1..=2000)
            .map(|k| {
                let k = k as f64;
                if k <= 60.0 {
                    k.powf(-0.7)
                } else {
                    60f64.powf(-0.7) * (k / 60.0).powf(-2.3)
                }
            })
            .collect();
        let s = screen(&mu).unwrap();
        let p = slope_profile(&s, 2000);
        let at = |k: usize| p.iter().find(|q| q.k >= k).unwrap().slope;
        assert!((at(8) - 0.7).abs() < 1e-9, "{}", at(8));
        assert!((at(800) - 2.3).abs() < 1e-9, "{}", at(800));
        assert!(at(60) > 0.7 && at(60) < 2.3);
    }
}
