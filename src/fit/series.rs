//! Estimators on a series of snapshots t_1 < … < t_J (THEORY.md §3): the
//! frontier exponent φ = d ln k_*/d ln t, the mode-wise exponent
//! ψ = d ln t_½(k)/d ln k from matched modes, the loss-vs-time exponent
//! α_t, the Densing fit of ln D on ln compute, and the chain that turns
//! them into the elasticity ρ and the exponents a and b.
//!
//! The two ρ estimators need b: k_* ∝ t^(ρ/b) gives ρ = φ·b, and
//! t_½ ∝ λ_k^(−1/ρ) with λ_k ∝ k^(−b) gives ρ = b/ψ. φ and ψ are b-free
//! (φ·ψ = 1 when they agree). b comes from one of two routes, both
//! reported:
//! - **spectra** (p = 1): the saturation fit's β is b when g ∝ λt, so
//!   b = β, a = s₁ + β;
//! - **losses**: L ∝ t^(−α_t) and k_* ∝ t^(φ) give L ∝ k_*^(−α_t/φ), and
//!   tail dominance L ∝ k_*^(1−a), so a = 1 + α_t/φ (which is the framework's
//!   a = 1 + α_t·b/ρ) and b = a − s₁. No assumption on p.
//!
//! Numbers only; never reads files. Times must be positive (an init
//! snapshot at t = 0 has no place on a log axis).

use serde::Serialize;

/// The frontier fit uses snapshots with K_MIN < k_* < M·[`FRONTIER_MAX_FRACTION`]:
/// below 5 the count moves in steps as large as itself; past M/2 a finite
/// matrix saturates (THEORY.md §4, the simulator's own window).
pub const FRONTIER_K_MIN: f64 = 5.0;
pub const FRONTIER_MAX_FRACTION: f64 = 0.5;
/// The loss-exponent window ends at k_* = M/20 (THEORY.md §4): beyond it
/// the missing tail past M is more than (1/20)^(a−1) of the loss.
pub const LOSS_WINDOW_DIVISOR: f64 = 20.0;
/// A mode's half-learning time counts only after the third snapshot: the
/// crossing must be resolved by the grid, with the fraction seen rising
/// over at least two snapshots before it. (A caller that knows more, such
/// as `validate` for a simulated run whose first steps are not yet a
/// discretized flow, can raise the floor.)
pub const MODE_MIN_SNAPSHOT: usize = 2;
/// A mode is matched only once it has saturated: learned fraction (against
/// the last snapshot) at least 0.9 at half the last time. Normalizing by
/// σ_k(T) overstates the fraction of a mode still growing at T and so
/// dates its half-learning early; at 0.9 the bias is below 2% for the
/// kernel model (f(T) ≥ 0.988), against 9% at 0.8.
pub const MODE_SATURATED: f64 = 0.9;

/// A least-squares line y = intercept + slope·x with the slope's OLS error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slope {
    pub value: f64,
    pub stderr: f64,
    pub intercept: f64,
    pub points: usize,
    pub x_min: f64,
    pub x_max: f64,
}

/// Ordinary least squares; needs ≥ 3 points and distinct x.
pub fn ols(x: &[f64], y: &[f64]) -> Option<Slope> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let nf = n as f64;
    let mx = x.iter().sum::<f64>() / nf;
    let my = y.iter().sum::<f64>() / nf;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - my - slope * (a - mx)).powi(2))
        .sum();
    Some(Slope {
        value: slope,
        stderr: (rss / (nf - 2.0) / sxx).sqrt(),
        intercept: my - slope * mx,
        points: n,
        x_min: x.iter().copied().fold(f64::INFINITY, f64::min),
        x_max: x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// A value with a standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Value {
    pub value: f64,
    pub stderr: f64,
}

impl Value {
    pub fn new(value: f64, stderr: f64) -> Value {
        Value { value, stderr }
    }
    /// x·y with first-order error propagation (independent errors).
    pub fn times(self, o: Value) -> Value {
        Value::new(
            self.value * o.value,
            ((self.stderr * o.value).powi(2) + (o.stderr * self.value).powi(2)).sqrt(),
        )
    }
    /// x/y with first-order error propagation.
    pub fn over(self, o: Value) -> Value {
        let v = self.value / o.value;
        Value::new(
            v,
            v.abs() * ((self.stderr / self.value).powi(2) + (o.stderr / o.value).powi(2)).sqrt(),
        )
    }
}

/// Median of the values and its standard error 1.2533·s/√n (the
/// asymptotic efficiency of the median for normal scatter); s is the
/// sample standard deviation. `None` for no values.
pub fn median(values: &[f64]) -> Option<Value> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let se = if n > 1 {
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        1.2533 * (var / n as f64).sqrt()
    } else {
        0.0
    };
    Some(Value::new(med, se))
}

/// Inverse-variance weighted mean; the error is inflated by the Birge
/// ratio when the values scatter more than their errors say. Values
/// without a positive error get the smallest positive one.
pub fn weighted_mean(values: &[Value]) -> Option<Value> {
    let vals: Vec<&Value> = values.iter().filter(|v| v.value.is_finite()).collect();
    if vals.is_empty() {
        return None;
    }
    let min_se = vals
        .iter()
        .map(|v| v.stderr)
        .filter(|s| *s > 0.0)
        .fold(f64::INFINITY, f64::min);
    let se = |v: &Value| {
        if v.stderr > 0.0 {
            v.stderr
        } else if min_se.is_finite() {
            min_se
        } else {
            1.0
        }
    };
    let w: Vec<f64> = vals.iter().map(|v| 1.0 / se(v).powi(2)).collect();
    let sw: f64 = w.iter().sum();
    let mean = vals.iter().zip(&w).map(|(v, w)| v.value * w).sum::<f64>() / sw;
    let mut err = (1.0 / sw).sqrt();
    if vals.len() > 1 {
        let chi2: f64 = vals
            .iter()
            .zip(&w)
            .map(|(v, w)| w * (v.value - mean).powi(2))
            .sum();
        let birge = (chi2 / (vals.len() - 1) as f64).sqrt();
        err *= birge.max(1.0);
    }
    Some(Value::new(mean, err))
}

/// φ = slope of ln k_* on ln t over the snapshots with
/// K_MIN < k_* < M/2 (t > 0). `None` with fewer than 3 such snapshots.
pub fn frontier_exponent(t: &[f64], k_star: &[Option<f64>], modes: usize) -> Option<Slope> {
    let hi = modes as f64 * FRONTIER_MAX_FRACTION;
    let (x, y): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(k_star)
        .filter_map(|(&t, k)| {
            let k = (*k)?;
            (t > 0.0 && k > FRONTIER_K_MIN && k < hi).then(|| (t.ln(), k.ln()))
        })
        .unzip();
    ols(&x, &y)
}

/// First time the fraction reaches ½, interpolated linearly in ln t
/// between snapshots; `None` if never reached, or reached at the first
/// snapshot (not resolved). The same rule as the simulator's true
/// half-learning times (`simulate::half_learning_time`), on real-valued
/// times.
pub fn half_time(t: &[f64], fraction: &[f64]) -> Option<f64> {
    let j = fraction.iter().position(|&f| f >= 0.5)?;
    if j == 0 || t[j - 1] <= 0.0 {
        return None;
    }
    let (t0, t1) = (t[j - 1].ln(), t[j].ln());
    let (f0, f1) = (fraction[j - 1], fraction[j]);
    let x = if f1 > f0 { (0.5 - f0) / (f1 - f0) } else { 1.0 };
    Some((t0 + x * (t1 - t0)).exp())
}

/// The value of a series at time `at`, interpolated linearly in ln t.
pub fn at_time(t: &[f64], v: &[f64], at: f64) -> Option<f64> {
    if t.is_empty() || at <= 0.0 {
        return None;
    }
    let j = t.iter().position(|&x| x >= at)?;
    if t[j] == at || j == 0 {
        return (t[j] == at).then_some(v[j]);
    }
    if t[j - 1] <= 0.0 {
        return None;
    }
    let x = (at.ln() - t[j - 1].ln()) / (t[j].ln() - t[j - 1].ln());
    Some(v[j - 1] + x * (v[j] - v[j - 1]))
}

/// One matched mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModeTime {
    /// Rank at the last snapshot (1-based).
    pub k: usize,
    /// Half-learning time, when resolved.
    pub t_half: Option<f64>,
    /// Learned fraction at half the last time.
    pub fraction_at_half_time: Option<f64>,
    /// Whether the ψ fit used it.
    pub used: bool,
}

/// ψ = slope of ln t_½(k) on ln k, and every mode's half-learning time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeFit {
    pub slope: Option<Slope>,
    pub modes: Vec<ModeTime>,
}

/// The mode-wise exponent from matched modes: `fractions[i][j]` is mode
/// `ranks[i]`'s strength at snapshot j over its strength at the last one.
/// Uses the modes whose t_½ is resolved (after snapshot
/// [`MODE_MIN_SNAPSHOT`], and at least `min_t_half` when given) and that
/// have saturated ([`MODE_SATURATED`]).
pub fn mode_exponent(
    t: &[f64],
    ranks: &[usize],
    fractions: &[Vec<f64>],
    min_t_half: Option<f64>,
) -> ModeFit {
    let t_first = t
        .get(MODE_MIN_SNAPSHOT)
        .copied()
        .unwrap_or(f64::INFINITY)
        .max(min_t_half.unwrap_or(0.0));
    let t_last = t.last().copied().unwrap_or(0.0);
    let modes: Vec<ModeTime> = ranks
        .iter()
        .zip(fractions)
        .map(|(&k, f)| {
            let t_half = half_time(t, f);
            let fh = at_time(t, f, t_last / 2.0);
            let used = t_half.is_some_and(|th| th > t_first && th <= t_last)
                && fh.is_some_and(|v| v >= MODE_SATURATED);
            ModeTime {
                k,
                t_half,
                fraction_at_half_time: fh,
                used,
            }
        })
        .collect();
    let (x, y): (Vec<f64>, Vec<f64>) = modes
        .iter()
        .filter(|m| m.used)
        .map(|m| ((m.k as f64).ln(), m.t_half.unwrap().ln()))
        .unzip();
    ModeFit {
        slope: ols(&x, &y),
        modes,
    }
}

/// α_t = −slope of ln L on ln t over the loss rows with t in [lo, hi].
pub fn loss_exponent(t: &[f64], loss: &[f64], lo: f64, hi: f64) -> Option<Slope> {
    let (x, y): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(loss)
        .filter(|(t, l)| **t > 0.0 && **t >= lo && **t <= hi && **l > 0.0)
        .map(|(t, l)| (t.ln(), l.ln()))
        .unzip();
    ols(&x, &y).map(|s| Slope {
        value: -s.value,
        ..s
    })
}

/// Σ_{k<i≤M} i^(−a), with k rounded to a count of modes.
fn tail_sum(a: f64, k: f64, modes: usize) -> f64 {
    let k0 = (k.round().max(0.0) as usize).min(modes);
    (k0 + 1..=modes).map(|i| (i as f64).powf(-a)).sum()
}

/// a from tail dominance without the infinite-size limit: the fit of
/// ln L(t_j) = c + ln Σ_{k_*(t_j)<i≤M} i^(−a) over the snapshots with
/// K_MIN < k_* < M/2 (golden-section search on a ∈ [1.01, 10]; c by least
/// squares; the error from the Gauss–Newton curvature). It needs no
/// window where L(t) is a power law, so it works where M/20 leaves none.
pub fn tail_exponent(
    k_star: &[Option<f64>],
    loss: &[Option<f64>],
    modes: usize,
) -> Option<(Value, usize)> {
    let hi = modes as f64 * FRONTIER_MAX_FRACTION;
    let pts: Vec<(f64, f64)> = k_star
        .iter()
        .zip(loss)
        .filter_map(|(k, l)| {
            let (k, l) = ((*k)?, (*l)?);
            (k > FRONTIER_K_MIN && k < hi && l > 0.0).then_some((k, l.ln()))
        })
        .collect();
    let mut ks: Vec<f64> = pts.iter().map(|p| p.0.round()).collect();
    ks.dedup();
    if pts.len() < 3 || ks.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let rss = |a: f64| {
        let r: Vec<f64> = pts
            .iter()
            .map(|(k, y)| y - tail_sum(a, *k, modes).ln())
            .collect();
        let c = r.iter().sum::<f64>() / n;
        r.iter().map(|v| (v - c).powi(2)).sum::<f64>()
    };
    let (mut lo, mut hi_a) = (1.01f64, 10.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (hi_a - g * (hi_a - lo), lo + g * (hi_a - lo));
    let (mut f1, mut f2) = (rss(x1), rss(x2));
    while hi_a - lo > 1e-6 {
        if f1 < f2 {
            hi_a = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi_a - g * (hi_a - lo);
            f1 = rss(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi_a - lo);
            f2 = rss(x2);
        }
    }
    let a = (lo + hi_a) / 2.0;
    if !(1.02..=9.99).contains(&a) {
        return None;
    }
    let jac: Vec<f64> = pts
        .iter()
        .map(|(k, _)| {
            let k0 = (k.round() as usize).min(modes);
            let (s, ds) = (k0 + 1..=modes).fold((0.0, 0.0), |(s, ds), i| {
                let v = (i as f64).powf(-a);
                (s + v, ds - v * (i as f64).ln())
            });
            ds / s
        })
        .collect();
    let mj = jac.iter().sum::<f64>() / n;
    let sjj: f64 = jac.iter().map(|j| (j - mj).powi(2)).sum();
    let se = (rss(a) / (n - 2.0).max(1.0) / sjj).sqrt();
    Some((Value::new(a, se), pts.len()))
}

/// Everything the dynamics chain needs for one matrix (or the model).
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamicsInput {
    /// φ: d ln k_*/d ln t.
    pub phi: Option<Value>,
    /// ψ: d ln t_½/d ln k.
    pub psi: Option<Value>,
    /// Learned slope s₁ = a − b.
    pub s1: Option<Value>,
    /// The saturation fit's front sharpness (b under p = 1).
    pub beta: Option<Value>,
    /// α_t from the losses.
    pub alpha_t: Option<Value>,
    /// a from the finite tail fit (`tail_exponent`), used by the losses
    /// route when α_t has no window.
    pub a_tail: Option<Value>,
    /// b given by the user.
    pub b_given: Option<f64>,
}

/// One route to (a, b, ρ).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Route {
    pub a: Option<Value>,
    pub b: Option<Value>,
    /// ρ = φ·b and ρ = b/ψ.
    pub rho_frontier: Option<Value>,
    pub rho_modes: Option<Value>,
    /// Their weighted mean.
    pub rho: Option<Value>,
    /// The loss exponent this route predicts, ρ(a−1)/b.
    pub alpha_t_predicted: Option<Value>,
}

impl Route {
    fn from(a: Option<Value>, b: Option<Value>, phi: Option<Value>, psi: Option<Value>) -> Route {
        let rho_frontier = match (phi, b) {
            (Some(p), Some(b)) => Some(p.times(b)),
            _ => None,
        };
        let rho_modes = match (b, psi) {
            (Some(b), Some(p)) if p.value > 0.0 => Some(b.over(p)),
            _ => None,
        };
        let both: Vec<Value> = [rho_frontier, rho_modes].into_iter().flatten().collect();
        let rho = weighted_mean(&both);
        let alpha_t_predicted = match (rho, a, b) {
            (Some(r), Some(a), Some(b)) => {
                Some(r.times(Value::new(a.value - 1.0, a.stderr)).over(b))
            }
            _ => None,
        };
        Route {
            a,
            b,
            rho_frontier,
            rho_modes,
            rho,
            alpha_t_predicted,
        }
    }
}

/// The dynamics of one matrix: both routes, and which one the headline
/// numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dynamics {
    /// b from the saturation fit (p = 1): b = β, a = s₁ + β.
    pub spectra: Route,
    /// a = 1 + α_t/φ (or the tail fit's a when α_t has no window),
    /// b = a − s₁ (needs losses).
    pub losses: Route,
    /// Where the losses route's a came from: `alpha_t/phi` or `tail fit`.
    pub losses_a: &'static str,
    /// b as given (`--b`), with a = s₁ + b.
    pub given: Route,
    /// φ·ψ: 1 when the frontier and the modes agree (b-free).
    pub agreement: Option<Value>,
    /// (φ·ψ − 1) over its standard error.
    pub agreement_z: Option<f64>,
}

impl Dynamics {
    pub fn estimate(d: &DynamicsInput) -> Dynamics {
        let spectra = match (d.s1, d.beta) {
            (Some(s1), Some(beta)) => Route::from(
                Some(Value::new(
                    s1.value + beta.value,
                    (s1.stderr.powi(2) + beta.stderr.powi(2)).sqrt(),
                )),
                Some(beta),
                d.phi,
                d.psi,
            ),
            _ => Route::from(None, None, d.phi, d.psi),
        };
        let (a_losses, losses_a) = match (d.alpha_t, d.phi) {
            (Some(at), Some(phi)) if phi.value > 0.0 => {
                let r = at.over(phi);
                (Some(Value::new(1.0 + r.value, r.stderr)), "alpha_t/phi")
            }
            _ => (d.a_tail, "tail fit"),
        };
        let losses = match a_losses {
            Some(a) => {
                let b = d.s1.map(|s1| {
                    Value::new(
                        a.value - s1.value,
                        (a.stderr.powi(2) + s1.stderr.powi(2)).sqrt(),
                    )
                });
                Route::from(Some(a), b, d.phi, d.psi)
            }
            None => Route::from(None, None, d.phi, d.psi),
        };
        let given = match d.b_given {
            Some(b) => Route::from(
                d.s1.map(|s| Value::new(s.value + b, s.stderr)),
                Some(Value::new(b, 0.0)),
                d.phi,
                d.psi,
            ),
            None => Route::from(None, None, d.phi, d.psi),
        };
        let agreement = match (d.phi, d.psi) {
            (Some(p), Some(q)) => Some(p.times(q)),
            _ => None,
        };
        let agreement_z = agreement
            .filter(|a| a.stderr > 0.0)
            .map(|a| (a.value - 1.0) / a.stderr);
        Dynamics {
            spectra,
            losses,
            losses_a,
            given,
            agreement,
            agreement_z,
        }
    }

    /// The route the headline numbers use: the given b, else the losses
    /// (no assumption on p), else the spectra (p = 1); and its name.
    pub fn headline(&self) -> (&Route, &'static str) {
        if self.given.b.is_some() {
            (&self.given, "given")
        } else if self.losses.b.is_some() {
            (&self.losses, "losses")
        } else {
            (&self.spectra, "spectra")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_and_loss_exponent() {
        let t: Vec<f64> = (1..=40).map(|i| i as f64 * 10.0).collect();
        let l: Vec<f64> = t.iter().map(|t| 3.0 * t.powf(-0.8)).collect();
        let s = loss_exponent(&t, &l, 50.0, 300.0).unwrap();
        assert!((s.value - 0.8).abs() < 1e-12 && s.stderr < 1e-12);
        assert_eq!(s.points, 26);
        assert!(ols(&[1.0, 2.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn frontier_window_drops_small_and_saturated_counts() {
        let t = [1.0, 10.0, 100.0, 1000.0, 10000.0, 1e5];
        // k_* = 2·t^0.5: 2, 6.3, 20, 63, 200, 632 → the window 5 < k < 150 keeps 3.
        let k: Vec<Option<f64>> = t.iter().map(|t: &f64| Some(2.0 * t.sqrt())).collect();
        let s = frontier_exponent(&t, &k, 300).unwrap();
        assert_eq!(s.points, 3);
        assert!((s.value - 0.5).abs() < 1e-12);
    }

    /// Kernel modes f_k = 1 − exp(−λ_k t) with λ_k = k^(−1.5): t_½ =
    /// ln 2·k^1.5, so ψ = 1.5 up to the log-time interpolation between
    /// 30 log-spaced snapshots (≤ 1%).
    #[test]
    fn mode_exponent_of_kernel_modes() {
        let t: Vec<f64> = (0..30).map(|j| 10f64.powf(j as f64 * 4.0 / 29.0)).collect();
        let ranks: Vec<usize> = vec![1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 130, 200];
        let t_last = *t.last().unwrap();
        let fractions: Vec<Vec<f64>> = ranks
            .iter()
            .map(|&k| {
                let l = (k as f64).powf(-1.5);
                let fin = 1.0 - (-l * t_last).exp();
                t.iter().map(|t| (1.0 - (-l * t).exp()) / fin).collect()
            })
            .collect();
        let m = mode_exponent(&t, &ranks, &fractions, Some(3.0));
        let s = m.slope.unwrap();
        assert!((s.value - 1.5).abs() < 0.015, "{s:?}");
        // Mode 1 (t_½ ≈ 0.7, before the floor of 3) and the unsaturated
        // tail are out.
        assert!(!m.modes[0].used);
        assert!(!m.modes.last().unwrap().used);
        assert!(m.modes.iter().filter(|m| m.used).count() >= 5);
    }

    #[test]
    fn half_time_and_interpolation() {
        let t = [1.0, 10.0, 100.0];
        assert_eq!(half_time(&t, &[0.6, 0.9, 1.0]), None);
        let th = half_time(&t, &[0.0, 0.25, 0.75]).unwrap();
        assert!((th - 10f64.powf(1.5)).abs() < 1e-9);
        assert!((at_time(&t, &[0.0, 1.0, 2.0], 10f64.powf(1.5)).unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(at_time(&t, &[0.0, 1.0, 2.0], 1000.0), None);
    }

    /// The kernel model's exponents through both routes: a = 2.5, b = 1.5,
    /// ρ = 1 give φ = 2/3, ψ = 1.5, α_t = 1, s₁ = 1, β = 1.5.
    #[test]
    fn both_routes_recover_the_kernel_model() {
        let v = |x| Some(Value::new(x, 0.01));
        let d = Dynamics::estimate(&DynamicsInput {
            phi: v(2.0 / 3.0),
            psi: v(1.5),
            s1: v(1.0),
            beta: v(1.5),
            alpha_t: v(1.0),
            a_tail: None,
            b_given: None,
        });
        for r in [&d.spectra, &d.losses] {
            assert!((r.a.unwrap().value - 2.5).abs() < 1e-12);
            assert!((r.b.unwrap().value - 1.5).abs() < 1e-12);
            assert!((r.rho.unwrap().value - 1.0).abs() < 1e-12);
            assert!((r.alpha_t_predicted.unwrap().value - 1.0).abs() < 1e-12);
        }
        assert!((d.agreement.unwrap().value - 1.0).abs() < 1e-12);
        assert_eq!(d.headline().1, "losses");
        let m = median(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(m.value, 2.5);
        // The tail fit on exact tails of a = 2.3: L_j = 0.4·Σ_{k_j<i≤300} i^(−2.3).
        let ks: Vec<Option<f64>> = [6.0, 9.0, 14.0, 22.0, 35.0, 60.0, 100.0].map(Some).to_vec();
        let ls: Vec<Option<f64>> = ks
            .iter()
            .map(|k| Some(0.4 * tail_sum(2.3, k.unwrap(), 300)))
            .collect();
        let (a, n) = tail_exponent(&ks, &ls, 300).unwrap();
        assert_eq!(n, 7);
        assert!((a.value - 2.3).abs() < 1e-5, "{a:?}");
        let w = weighted_mean(&[Value::new(1.0, 0.1), Value::new(2.0, 0.1)]).unwrap();
        assert!((w.value - 1.5).abs() < 1e-12);
        // Two values 10σ apart: the Birge ratio inflates the error to their spread.
        assert!(w.stderr > 0.4);
    }
}
