//! The saturation fit: reading (B) of the mode model in its exact form
//! rather than its two asymptotes. A mode learned to the fraction
//! f_k = 1 − exp(−g_k) carries μ_k = w_k²·f_k², and with w_k² ∝ k^(−s₁) and
//! g_k = (k_*/k)^β near the frontier,
//!
//!   ln μ_k = c − s₁·ln k + 2·ln(1 − exp(−(k_*/k)^β)).
//!
//! Four parameters: the learned slope s₁ (= a − b), the frontier k_* (where
//! g = 1, i.e. 1 − f = 1/e: the same definition the simulator counts on
//! its true modes), and the sharpness β of the front. For kernel dynamics
//! g = λt (p = 1) the unlearned tail decays as k^(−(s₁+2β)), so β = b and
//! a = s₁ + β; a sharper front (feature learning: the deep-linear model's
//! logistic modes) shows up as β ≫ b, and then β is not b.
//!
//! Why not the broken power law (`broken`): the hinge fits the two
//! asymptotes, and on a real saturating front it puts the break where the
//! curvature is, below k_* (on the linear simulator: 71 against a true 100)
//! and reads the unlearned slope low (finite g near the break), so b came
//! out 1.18 for a true 1.5. The exact form has neither bias.
//!
//! Fitting: on the log-spaced rank grid of `estimate` up to the fit cap,
//! c and s₁ by least squares for each (ln k_*, β), those two by a coarse
//! grid then a shrinking pattern search. Below the front the spectrum meets
//! whatever the model does not describe (the init bulk, or modes that have
//! barely started to grow), so the range is trimmed to the top run of
//! ranks whose learned fraction, against the current fit's learned law, is
//! at least [`MIN_FRACTION`], and refitted until the range stops changing.
//! Accepted when it beats one power law by ΔBIC > 10 (as the broken power
//! law), k_* has at least [`MIN_SIDE`] grid points at or below it, and the
//! spectrum goes on for [`MIN_SIDE`] grid points past it, at least one of
//! them fitted.

use super::estimate::{Estimate, GridPoint, MIN_EVALS, Screened, Window, log_grid};
use serde::Serialize;

/// Fewest grid points at or below k_*, and past it in the spectrum.
pub const MIN_SIDE: usize = 3;
/// The fit range ends where the learned fraction falls below 5%: far
/// enough past the front to pin its shape, short of the floor beneath it.
pub const MIN_FRACTION: f64 = 0.05;
/// Search bounds of the front's sharpness β.
pub const BETA_MIN: f64 = 0.3;
pub const BETA_MAX: f64 = 60.0;

/// The accepted saturation fit of one spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Saturation {
    /// The frontier (g = 1), a real number of ranks; its window is the
    /// ±1 standard-error range, rounded outwards.
    pub k_star: Estimate,
    /// Learned slope s₁ = a − b.
    pub s1: Estimate,
    /// Sharpness of the front; = b under p = 1.
    pub beta: Estimate,
    /// s₁ + β: a under p = 1.
    pub a: Estimate,
    /// RMS residual in ln μ over the fitted points.
    pub rms: f64,
    /// BIC(one line) − BIC(saturation) over the same points.
    pub dbic: f64,
    /// Grid points fitted (after trimming).
    pub points: usize,
    /// False when β ended on a search bound or the points past the front do
    /// not determine it (a cliff: its error is then β itself); k_* is still
    /// meaningful.
    pub beta_resolved: bool,
}

/// Why a spectrum has no saturation fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SaturationFailure {
    #[error("{points} grid points up to rank {cap}; the saturation fit needs {min}")]
    TooFew {
        points: usize,
        cap: usize,
        min: usize,
    },
    #[error(
        "the front k_* = {k_star:.1} has {below} grid points at or below it and {above} past it ({fitted_above} fitted); {MIN_SIDE} each, one fitted, are needed"
    )]
    FrontAtEdge {
        k_star: f64,
        below: usize,
        above: usize,
        fitted_above: usize,
    },
    // `+ 0.0` after rounding turns a -0.0 into 0.0 (no `ΔBIC = -0.0`).
    #[error("one power law fits as well as a saturating front (ΔBIC = {:.1} ≤ 10)", (dbic * 10.0).round() / 10.0 + 0.0)]
    NoFront { dbic: f64 },
    #[error("the saturation fit is singular")]
    Singular,
}

/// ln(1 − e^(−z)) for z > 0, accurate at both ends.
fn ln_saturation(z: f64) -> f64 {
    if z > 40.0 {
        -(-z).exp()
    } else {
        (-(-z).exp_m1()).ln()
    }
}

/// The least-squares (c, s₁) and RSS for a given front (ln k_*, β).
struct Profile<'a> {
    g: &'a [GridPoint],
    n: f64,
    sx: f64,
    sxx: f64,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    xs: f64,
    beta: f64,
    c: f64,
    s1: f64,
    rss: f64,
}

impl<'a> Profile<'a> {
    fn new(g: &'a [GridPoint]) -> Profile<'a> {
        let n = g.len() as f64;
        let sx = g.iter().map(|p| p.x).sum::<f64>();
        let sxx = g.iter().map(|p| p.x * p.x).sum::<f64>();
        Profile { g, n, sx, sxx }
    }

    fn eval(&self, xs: f64, beta: f64) -> Point {
        let (mut sr, mut sxr, mut srr) = (0.0, 0.0, 0.0);
        for p in self.g {
            let r = p.y - 2.0 * ln_saturation((beta * (xs - p.x)).exp());
            sr += r;
            sxr += p.x * r;
            srr += r * r;
        }
        let dxx = self.sxx - self.sx * self.sx / self.n;
        let dxr = sxr - self.sx * sr / self.n;
        let slope = dxr / dxx;
        let c = (sr - slope * self.sx) / self.n;
        let rss = (srr - sr * sr / self.n - slope * dxr).max(0.0);
        Point {
            xs,
            beta,
            c,
            s1: -slope,
            rss,
        }
    }

    /// RSS of the best single line (no front).
    fn line_rss(&self) -> f64 {
        let sy: f64 = self.g.iter().map(|p| p.y).sum();
        let sxy: f64 = self.g.iter().map(|p| p.x * p.y).sum();
        let syy: f64 = self.g.iter().map(|p| p.y * p.y).sum();
        let dxx = self.sxx - self.sx * self.sx / self.n;
        let dxy = sxy - self.sx * sy / self.n;
        (syy - sy * sy / self.n - dxy * dxy / dxx).max(0.0)
    }

    /// Coarse grid over ln k_* ∈ [x₀, x_max] (steps of 0.2) and ln β
    /// (12 steps), plus the previous fit's front when refitting, then a
    /// pattern search that halves its steps until they are below 1e-4.
    /// The profile RSS is smooth in both; the grid only has to land in the
    /// right basin.
    fn best(&self, start: Option<(f64, f64)>) -> Point {
        let (x0, x1) = (self.g[0].x, self.g[self.g.len() - 1].x);
        let (lb0, lb1) = (BETA_MIN.ln(), BETA_MAX.ln());
        let nx = ((x1 - x0) / 0.2).ceil().max(1.0) as usize;
        let nb = 12;
        let mut best = self.eval(x0, BETA_MIN);
        if let Some((xs, beta)) = start {
            let p = self.eval(xs.clamp(x0, x1), beta.clamp(BETA_MIN, BETA_MAX));
            if p.rss < best.rss {
                best = p;
            }
        }
        for i in 0..=nx {
            let xs = x0 + (x1 - x0) * i as f64 / nx as f64;
            for j in 0..=nb {
                let beta = (lb0 + (lb1 - lb0) * j as f64 / nb as f64).exp();
                let p = self.eval(xs, beta);
                if p.rss < best.rss {
                    best = p;
                }
            }
        }
        let (mut dx, mut dl) = ((x1 - x0) / nx as f64, (lb1 - lb0) / nb as f64);
        while dx > 1e-4 || dl > 1e-4 {
            let mut moved = false;
            for (ddx, ddl) in [(dx, 0.0), (-dx, 0.0), (0.0, dl), (0.0, -dl)] {
                let xs = (best.xs + ddx).clamp(x0, x1);
                let lb = (best.beta.ln() + ddl).clamp(lb0, lb1);
                let p = self.eval(xs, lb.exp());
                if p.rss < best.rss {
                    best = p;
                    moved = true;
                }
            }
            if !moved {
                dx /= 2.0;
                dl /= 2.0;
            }
        }
        best
    }
}

/// Inverse of a small symmetric positive-definite matrix by Gauss–Jordan
/// with partial pivoting; `None` when singular.
fn invert<const N: usize>(a: [[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut m = a;
    let mut inv = [[0.0; N]; N];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let scale = (0..N).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    for col in 0..N {
        let piv = (col..N).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[piv][col].is_nan() || m[piv][col].abs() <= 1e-13 * scale {
            return None;
        }
        m.swap(col, piv);
        inv.swap(col, piv);
        let d = m[col][col];
        for j in 0..N {
            m[col][j] /= d;
            inv[col][j] /= d;
        }
        for i in 0..N {
            if i != col {
                let f = m[i][col];
                for j in 0..N {
                    m[i][j] -= f * m[col][j];
                    inv[i][j] -= f * inv[col][j];
                }
            }
        }
    }
    Some(inv)
}

/// Fits the saturating front over ranks 1..=`k_cap` (capped at the
/// numerical rank) of a screened spectrum.
pub fn saturation_fit(s: &Screened, k_cap: usize) -> Result<Saturation, SaturationFailure> {
    let cap = k_cap.min(s.rank);
    let all = if cap >= 2 {
        log_grid(s.mu, cap)
    } else {
        Vec::new()
    };
    let min_points = 2 * MIN_SIDE + 2;
    if cap < MIN_EVALS || all.len() < min_points {
        return Err(SaturationFailure::TooFew {
            points: all.len(),
            cap,
            min: min_points,
        });
    }
    let mut used = all.len();
    let mut fit = Profile::new(&all).best(None);
    for _ in 0..8 {
        let keep = all
            .iter()
            .take_while(|p| ((p.y - (fit.c - fit.s1 * p.x)) / 2.0).exp() >= MIN_FRACTION)
            .count()
            .clamp(min_points, all.len());
        if keep == used {
            break;
        }
        used = keep;
        fit = Profile::new(&all[..used]).best(Some((fit.xs, fit.beta)));
    }
    let g = &all[..used];
    let n = used as f64;
    let below = g.iter().filter(|p| p.x <= fit.xs).count();
    // A sharp front leaves few fitted points past it (the trimming stops
    // at the foot of the cliff); one pins it, provided the spectrum itself
    // goes on past it for MIN_SIDE grid points (else the "front" may be
    // the end of the range).
    let above = all.iter().filter(|p| p.x > fit.xs).count();
    if below < MIN_SIDE || above < MIN_SIDE || used == below {
        return Err(SaturationFailure::FrontAtEdge {
            k_star: fit.xs.exp(),
            below,
            above,
            fitted_above: used - below,
        });
    }
    // One line over the same points, for ΔBIC (p = 2 against p = 4).
    let line_rss = Profile::new(g).line_rss();
    let floor = super::broken::RSS_FLOOR_PER_POINT * n;
    let bic = |rss: f64, p: f64| n * (rss.max(floor) / n).ln() + p * n.ln();
    let dbic = bic(line_rss, 2.0) - bic(fit.rss, 4.0);
    if dbic.is_nan() || dbic <= super::broken::DBIC_ACCEPT {
        return Err(SaturationFailure::NoFront { dbic });
    }
    // Gauss–Newton covariance s²(JᵀJ)⁻¹ of (c, s₁, ln k_*, β).
    let mut jtj = [[0.0; 4]; 4];
    for p in g {
        let z = (fit.beta * (fit.xs - p.x)).exp();
        // d/dz of 2·ln(1 − e^(−z)) = 2/(e^z − 1).
        let dz = 2.0 / z.exp_m1().max(f64::MIN_POSITIVE);
        let j = [1.0, -p.x, dz * z * fit.beta, dz * z * (fit.xs - p.x)];
        for a in 0..4 {
            for b in 0..4 {
                jtj[a][b] += j[a] * j[b];
            }
        }
    }
    let dof = (n - 4.0).max(1.0);
    let s2 = fit.rss.max(floor) / dof;
    // A cliff-like front leaves β undetermined (any large β fits the one or
    // two points past it) and JᵀJ singular: then the errors of (c, s₁, ln
    // k_*) come from the fit with β held, and β's error is β itself.
    let (cov, beta_resolved) = match invert(jtj) {
        Some(c) => (c, true),
        None => {
            let sub = [
                [jtj[0][0], jtj[0][1], jtj[0][2]],
                [jtj[1][0], jtj[1][1], jtj[1][2]],
                [jtj[2][0], jtj[2][1], jtj[2][2]],
            ];
            let c3 = invert(sub).ok_or(SaturationFailure::Singular)?;
            let mut c = [[0.0; 4]; 4];
            for i in 0..3 {
                c[i][..3].copy_from_slice(&c3[i]);
            }
            c[3][3] = fit.beta * fit.beta / s2.max(f64::MIN_POSITIVE);
            (c, false)
        }
    };
    let se = |i: usize| (s2 * cov[i][i]).max(0.0).sqrt();
    let window = Window {
        k_min: 1,
        k_max: g[used - 1].k,
    };
    let k = fit.xs.exp();
    let se_x = se(2);
    let est = |value: f64, stderr: f64| Estimate {
        value,
        stderr,
        window,
    };
    Ok(Saturation {
        k_star: Estimate {
            value: k,
            stderr: k * se_x,
            window: Window {
                k_min: (k * (-se_x).exp()).floor().max(1.0) as usize,
                k_max: (k * se_x.exp()).ceil() as usize,
            },
        },
        s1: est(fit.s1, se(1)),
        beta: est(fit.beta, se(3)),
        a: est(
            fit.s1 + fit.beta,
            (s2 * (cov[1][1] + cov[3][3] - 2.0 * cov[1][3]))
                .max(0.0)
                .sqrt(),
        ),
        rms: (fit.rss / n).sqrt(),
        dbic,
        points: used,
        beta_resolved: beta_resolved
            && (fit.beta.ln() - BETA_MIN.ln()).abs() >= 1e-3
            && (fit.beta.ln() - BETA_MAX.ln()).abs() >= 1e-3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::estimate::screen;

    /// μ_k = k^(−s₁)·(1 − exp(−(k_*/k)^β))² exactly, plus a flat floor far
    /// below the front (which the trimming must keep out of the fit).
    fn front(m: usize, s1: f64, k_star: f64, beta: f64, floor: f64) -> Vec<f64> {
        let mut mu: Vec<f64> = (1..=m)
            .map(|k| {
                let k = k as f64;
                k.powf(-s1) * (-(-(k_star / k).powf(beta)).exp_m1()).powi(2) + floor
            })
            .collect();
        mu.sort_by(|a, b| b.total_cmp(a));
        mu
    }

    /// On the exact form the fit returns its parameters; the tolerance
    /// (1e-3 relative, 1e-3 RMS in ln μ) is above the pattern search's
    /// stopping step (1e-4 in ln k_* and ln β).
    #[test]
    fn recovers_an_exact_front() {
        for (s1, k_star, beta) in [(1.0, 40.0, 1.5), (0.6, 13.0, 2.2), (1.3, 120.0, 1.1)] {
            let mu = front(700, s1, k_star, beta, 0.0);
            let s = screen(&mu).unwrap();
            let f = saturation_fit(&s, 650).unwrap();
            assert!((f.k_star.value / k_star - 1.0).abs() < 1e-3, "{f:?}");
            assert!((f.s1.value - s1).abs() < 1e-3, "{f:?}");
            assert!((f.beta.value / beta - 1.0).abs() < 1e-3, "{f:?}");
            assert!((f.a.value - s1 - beta).abs() < 2e-3);
            assert!(f.rms < 1e-3, "{f:?}");
        }
    }

    /// A sharp front over a floor 6 decades down (the deep-linear shape):
    /// the trimming keeps the floor out, k_* within 5%.
    #[test]
    fn a_sharp_front_over_a_floor() {
        let mu = front(257, 1.0, 19.0, 20.0, 1e-8);
        let s = screen(&mu).unwrap();
        let f = saturation_fit(&s, 257).unwrap();
        assert!((f.k_star.value / 19.0 - 1.0).abs() < 0.05, "{f:?}");
        assert!(f.k_star.stderr.is_finite() && f.s1.stderr.is_finite());
        assert!((f.s1.value - 1.0).abs() < 0.05, "{f:?}");
        assert!(f.beta.value > 10.0, "{f:?}");
    }

    #[test]
    fn a_single_power_law_has_no_front() {
        let mu: Vec<f64> = (1..=300).map(|k| (k as f64).powf(-1.3)).collect();
        let s = screen(&mu).unwrap();
        let e = saturation_fit(&s, 300).unwrap_err();
        assert!(
            matches!(
                e,
                SaturationFailure::NoFront { .. } | SaturationFailure::FrontAtEdge { .. }
            ),
            "{e}"
        );
        assert!(matches!(
            saturation_fit(&s, 9).unwrap_err(),
            SaturationFailure::TooFew { .. }
        ));
    }

    #[test]
    fn small_inverse() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let inv = invert(a).unwrap();
        for (i, row) in a.iter().enumerate() {
            for j in 0..3 {
                let v: f64 = row.iter().zip(&inv).map(|(x, r)| x * r[j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(invert([[1.0, 2.0], [2.0, 4.0]]).is_none());
    }
}
