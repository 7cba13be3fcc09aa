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

pub use crate::fit::Verdict;

/// How bad a verdict is, for taking the worst of a chain of checks:
/// valid < unresolved (the data do not decide) < out_of_domain (the
/// formulas do not apply) < inconsistent (two routes to one quantity
/// disagree, or the frontier's source is not one estimate across its
/// window: the mode model does not describe these dynamics).
pub fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Valid => 0,
        Verdict::Unresolved => 1,
        Verdict::OutOfDomain => 2,
        Verdict::Inconsistent => 3,
    }
}

/// The worse of two verdicts ([`severity`]).
pub fn worst(a: Verdict, b: Verdict) -> Verdict {
    if severity(b) > severity(a) { b } else { a }
}

/// Two routes agree when |z| ≤ 2 on the log of their ratio.
pub const AGREEMENT_Z_MAX: f64 = 2.0;
/// Systematic error added in quadrature to the statistical one of a log
/// ratio of two routes (φ·ψ; a from the spectra against a from the
/// losses). ψ interpolates each half-learning time in ln t between
/// snapshots and normalizes by the last snapshot (up to 2% early for a
/// kernel mode, `MODE_SATURATED`); on the exact synthetic series φ·ψ comes
/// out within 5% of 1 (tests/compare.rs), and on the simulated runs where
/// the theory holds |ln φψ| ≤ 0.053 (the MLP). 0.03 puts 2σ at 6%.
pub const AGREEMENT_SYSTEMATIC: f64 = 0.03;

/// z of ln(x/y) = 0 for two positive values with errors, the systematic
/// [`AGREEMENT_SYSTEMATIC`] added in quadrature. `None` unless both are
/// positive.
pub fn log_ratio_z(x: Value, y: Value) -> Option<f64> {
    if !(x.value > 0.0 && y.value > 0.0) {
        return None;
    }
    let se = ((x.stderr / x.value).powi(2)
        + (y.stderr / y.value).powi(2)
        + AGREEMENT_SYSTEMATIC.powi(2))
    .sqrt();
    Some((x.value / y.value).ln() / se)
}

/// The outcome of a chain of checks: the worst verdict met, and every
/// reason in the order found (the headline reason is the first of the
/// worst verdict).
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<(Verdict, String)>,
}

impl Default for Judgement {
    /// No check failed yet: valid.
    fn default() -> Self {
        Judgement {
            verdict: Verdict::Valid,
            reasons: Vec::new(),
        }
    }
}

impl Judgement {
    /// Records a failed check.
    pub fn flag(&mut self, v: Verdict, reason: impl Into<String>) {
        self.verdict = worst(self.verdict, v);
        self.reasons.push((v, reason.into()));
    }

    /// Adds another judgement's outcome (its reasons first come first).
    pub fn absorb(&mut self, o: &Judgement) {
        for (v, r) in &o.reasons {
            if !self.reasons.iter().any(|(_, x)| x == r) {
                self.flag(*v, r.clone());
            }
        }
    }

    /// The first reason of the worst verdict, or `valid`.
    pub fn headline(&self) -> String {
        self.reasons
            .iter()
            .find(|(v, _)| *v == self.verdict)
            .map_or_else(|| "valid".to_string(), |(_, r)| r.clone())
    }

    /// Every reason, `; `-separated, or `valid`.
    pub fn all(&self) -> String {
        if self.reasons.is_empty() {
            "valid".into()
        } else {
            self.reasons
                .iter()
                .map(|(_, r)| r.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

/// `x ± e` for reasons.
fn show(v: Value) -> String {
    format!("{} ± {}", sig(v.value), sig(v.stderr))
}

/// Three significant digits.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    if x.abs() >= 1e-3 && x.abs() < 1e5 {
        format!("{x:.digits$}")
    } else {
        format!("{x:.2e}")
    }
}

/// x > floor, false for a NaN.
fn above(x: f64, floor: f64) -> bool {
    x > floor
}

/// The common checks of a value that must be positive with an error bar
/// below it: out of domain when ≤ 0, unresolved when the error is not
/// below the value.
pub fn check_positive(j: &mut Judgement, name: &str, v: Value, why_positive: &str) {
    if !above(v.value, 0.0) {
        j.flag(
            Verdict::OutOfDomain,
            format!("{name} = {} ≤ 0: {why_positive}", show(v)),
        );
    } else if !above(v.value, v.stderr) {
        j.flag(
            Verdict::Unresolved,
            format!("{name} = {}: the error is not below the value", show(v)),
        );
    }
}

/// What the verdicts of one dynamics row need besides the chain's values.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Why φ is missing, when it is.
    pub phi_missing: Option<String>,
    /// Why the frontier's k_* series cannot be trusted across its window
    /// (a source missing or switching inside it), when it cannot.
    pub frontier_unstable: Option<String>,
    /// Why ψ is missing, when it is.
    pub psi_missing: Option<String>,
}

/// The verdicts of one dynamics row: per quantity and for the row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdicts {
    pub phi: Judgement,
    pub psi: Judgement,
    /// The headline route's ρ (both estimates and their mean), with the
    /// checks of φ and ψ it is built from.
    pub rho: Judgement,
    /// The headline route's a and b.
    pub a: Judgement,
    /// The spectra-only route (p = 1), when it is not the headline.
    pub spectra: Judgement,
    /// The row: ρ and a together.
    pub row: Judgement,
}

/// An exponent that may be missing (`missing` says why): unresolved when
/// absent, else [`check_positive`].
fn judge_present(
    j: &mut Judgement,
    name: &str,
    v: Option<Value>,
    missing: Option<&str>,
    why_positive: &str,
) {
    match v {
        None => j.flag(
            Verdict::Unresolved,
            format!("{name}: {}", missing.unwrap_or("none")),
        ),
        Some(v) => check_positive(j, name, v, why_positive),
    }
}

/// Judges one dynamics row (docs/compare-and-validate.md, "Verdicts").
/// - φ: present (≥ 3 snapshots in the frontier window), its source stable
///   across the window, φ > 0, error below the value;
/// - ψ: present (≥ 3 saturated modes), ψ > 0, error below the value;
/// - ρ: φ and ψ valid; the two routes agree, |z| ≤ [`AGREEMENT_Z_MAX`] on
///   ln(φ·ψ) ([`log_ratio_z`]); b > 0; ρ_frontier, ρ_modes and their mean
///   positive with errors below their values; and, when α_t was measured
///   and the headline is not the losses route, the loss exponent the
///   route predicts, ρ(a−1)/b, agrees with it (same criterion);
/// - a: present, a > 1 (the tail sum Σ k^(−a) converges), error below
///   a − 1;
/// - the spectra route, when it is not the headline: its a agrees with
///   the losses' a (same criterion on ln(a − 1)), or its b with the given
///   b (on ln b); it does not enter the row's verdict.
pub fn judge(d: &DynamicsInput, dy: &Dynamics, ev: &Evidence) -> Verdicts {
    let mut out = Verdicts::default();
    let (route, route_name) = dy.headline();
    judge_present(
        &mut out.phi,
        "φ",
        d.phi,
        ev.phi_missing.as_deref(),
        "the frontier does not advance",
    );
    if let Some(why) = &ev.frontier_unstable {
        out.phi.flag(Verdict::Inconsistent, format!("φ: {why}"));
    }
    judge_present(
        &mut out.psi,
        "ψ",
        d.psi,
        ev.psi_missing.as_deref(),
        "later modes are not learned later",
    );
    out.rho.absorb(&out.phi);
    out.rho.absorb(&out.psi);
    if let (Some(phi), Some(psi)) = (d.phi, d.psi)
        && let Some(z) = log_ratio_z(phi.times(psi), Value::new(1.0, 0.0))
        && z.abs() > AGREEMENT_Z_MAX
    {
        out.rho.flag(
            Verdict::Inconsistent,
            format!(
                "φψ = {} (z = {:.1} on ln φψ): the frontier and the modes disagree",
                show(phi.times(psi)),
                z
            ),
        );
    }
    match route.b {
        None => out
            .rho
            .flag(Verdict::Unresolved, format!("ρ: no b ({route_name} route)")),
        Some(b) => {
            if !above(b.value, 0.0) {
                out.rho.flag(
                    Verdict::OutOfDomain,
                    format!("b = {} ≤ 0 ({route_name} route)", show(b)),
                );
            }
            for (name, v) in [
                ("ρ_frontier", route.rho_frontier),
                ("ρ_modes", route.rho_modes),
                ("ρ", route.rho),
            ] {
                if let Some(v) = v {
                    check_positive(&mut out.rho, name, v, "the theory needs ρ > 0");
                }
            }
        }
    }
    if route_name != "losses"
        && let (Some(pred), Some(meas)) = (route.alpha_t_predicted, d.alpha_t)
    {
        match log_ratio_z(pred, meas) {
            Some(z) if z.abs() <= AGREEMENT_Z_MAX => {}
            z => out.rho.flag(
                Verdict::Inconsistent,
                format!(
                    "the {route_name} route predicts α_t = {} against {} measured{}",
                    show(pred),
                    show(meas),
                    z.map_or(String::new(), |z| format!(" (z = {z:.1})"))
                ),
            ),
        }
    }
    match route.a {
        None => out
            .a
            .flag(Verdict::Unresolved, format!("a: none ({route_name} route)")),
        Some(a) => {
            let am1 = Value::new(a.value - 1.0, a.stderr);
            if !above(am1.value, 0.0) {
                out.a.flag(
                    Verdict::OutOfDomain,
                    format!(
                        "a = {} ≤ 1: Σ k^(−a) diverges, the tail formulas do not apply",
                        show(a)
                    ),
                );
            } else if !above(am1.value, am1.stderr) {
                out.a.flag(
                    Verdict::Unresolved,
                    format!("a = {}: the error is not below a − 1", show(a)),
                );
            }
        }
    }
    if route_name != "spectra" {
        out.spectra = judge_spectra(dy, route_name);
    }
    out.row.absorb(&out.rho);
    out.row.absorb(&out.a);
    out
}

/// Where a matrix's k_* comes from, for the whole series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontierKind {
    /// The saturation fit's k_* (g = 1).
    Saturation,
    /// The best break of the broken power law, accepted or not.
    Break,
    /// The count of modes above the noise floor.
    NoiseFloor,
}

impl FrontierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FrontierKind::Saturation => "saturation",
            FrontierKind::Break => "break",
            FrontierKind::NoiseFloor => "noise_floor",
        }
    }
}

/// One source's k_* over the series.
#[derive(Debug, Clone)]
pub struct FrontierCandidate {
    pub kind: FrontierKind,
    /// k_* and its error at each snapshot (`None` where this source has
    /// none).
    pub k: Vec<Option<Value>>,
    /// Whether the value stands on its own at that snapshot: the break is
    /// accepted (ΔBIC > 10, steepening, not at the edge); the others
    /// whenever present.
    pub accepted: Vec<bool>,
}

/// The source chosen for one matrix and how well it covers the series.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierChoice {
    /// Index into the candidates; `None` when none has a value.
    pub chosen: Option<usize>,
    /// Snapshots with 5 < k_* < M/2 (the φ window).
    pub window_points: usize,
    /// Snapshots holding the matrix where the source has no value.
    pub missing: usize,
    /// Snapshots where its value is used but does not stand on its own
    /// (an unaccepted break).
    pub unaccepted: usize,
    /// Snapshots between the first and last window point where the value is
    /// missing or does not stand on its own: the k_* series φ is fitted on
    /// is not one estimate there.
    pub gaps: usize,
    /// Why this source.
    pub reason: String,
}

/// Window points and gaps of one candidate over the snapshots `held`.
fn coverage(c: &FrontierCandidate, held: &[bool], modes: usize) -> (usize, usize) {
    let hi = modes as f64 * FRONTIER_MAX_FRACTION;
    let win: Vec<usize> = (0..c.k.len())
        .filter(|&j| c.k[j].is_some_and(|v| v.value > FRONTIER_K_MIN && v.value < hi))
        .collect();
    let gaps = match (win.first(), win.last()) {
        (Some(&lo), Some(&hi)) => (lo..=hi)
            .filter(|&j| held[j] && !(c.k[j].is_some() && c.accepted[j]))
            .count(),
        _ => 0,
    };
    (win.len(), gaps)
}

/// One k_* source per matrix, chosen on the whole series (THEORY.md §5:
/// a source that switches between snapshots makes k_*(t) and φ
/// meaningless). The candidates come in order of preference (saturation,
/// break, noise floor: the exact form, then the asymptotes of reading (B),
/// then the count above the noise); the first that has at least 3
/// snapshots in the φ window and stands on its own at every snapshot
/// between the first and the last of them is chosen. When none does, the
/// one without gaps that has the most window points is chosen (then the
/// one with gaps that has the most; earliest on a tie), and gaps under a
/// fitted φ make it `inconsistent`. The chosen source gives k_* at every
/// snapshot where it has a value; nothing is filled in from another.
pub fn choose_frontier(
    candidates: &[FrontierCandidate],
    held: &[bool],
    modes: usize,
) -> FrontierChoice {
    let cov: Vec<(usize, usize)> = candidates
        .iter()
        .map(|c| coverage(c, held, modes))
        .collect();
    let usable = cov.iter().position(|&(w, g)| w >= 3 && g == 0);
    let (chosen, reason) = match usable {
        Some(i) => {
            let skipped: Vec<String> = candidates[..i]
                .iter()
                .zip(&cov)
                .map(|(c, (w, g))| {
                    if *w < 3 {
                        format!("{} has {w} snapshots in the window", c.kind.as_str())
                    } else {
                        format!(
                            "{} is missing or unaccepted at {g} snapshots inside its window",
                            c.kind.as_str()
                        )
                    }
                })
                .collect();
            let why = format!(
                "{}: {} snapshots in the window, present at each between them",
                candidates[i].kind.as_str(),
                cov[i].0
            );
            (
                Some(i),
                if skipped.is_empty() {
                    why
                } else {
                    format!("{why} ({})", skipped.join("; "))
                },
            )
        }
        None => {
            let best = (0..candidates.len())
                .filter(|&i| candidates[i].k.iter().any(Option::is_some))
                .max_by(|&a, &b| {
                    (cov[a].1 == 0)
                        .cmp(&(cov[b].1 == 0))
                        .then(cov[a].0.cmp(&cov[b].0))
                        .then(b.cmp(&a))
                });
            let reason = match best {
                Some(i) if cov[i].0 >= 3 => format!(
                    "no source has 3 window snapshots without a gap; {} ({} window points) is missing or unaccepted at {} between them",
                    candidates[i].kind.as_str(),
                    cov[i].0,
                    cov[i].1
                ),
                Some(i) => format!(
                    "no source has 3 snapshots with {FRONTIER_K_MIN} < k_* < M/2; {} has {}",
                    candidates[i].kind.as_str(),
                    cov[i].0
                ),
                None => "no frontier estimate at any snapshot".into(),
            };
            (best, reason)
        }
    };
    let Some(i) = chosen else {
        return FrontierChoice {
            chosen,
            window_points: 0,
            missing: held.iter().filter(|h| **h).count(),
            unaccepted: 0,
            gaps: 0,
            reason,
        };
    };
    let c = &candidates[i];
    let missing = (0..held.len())
        .filter(|&j| held[j] && c.k[j].is_none())
        .count();
    let unaccepted = (0..held.len())
        .filter(|&j| held[j] && c.k[j].is_some() && !c.accepted[j])
        .count();
    FrontierChoice {
        chosen,
        window_points: cov[i].0,
        missing,
        unaccepted,
        gaps: cov[i].1,
        reason,
    }
}

/// The spectra route (p = 1: b = β, a = s₁ + β) against the headline's
/// independent b: a from the losses (on ln(a − 1)), or the given b (on
/// ln b). Unresolved when the headline has neither a nor b to check by.
fn judge_spectra(dy: &Dynamics, route_name: &str) -> Judgement {
    let mut j = Judgement::default();
    let (sp, head) = (&dy.spectra, dy.headline().0);
    let pair = match (route_name, sp.a, head.a, sp.b, head.b) {
        ("losses", Some(sa), Some(ha), _, _) => Some((
            "a",
            sa,
            ha,
            Value::new(sa.value - 1.0, sa.stderr),
            Value::new(ha.value - 1.0, ha.stderr),
        )),
        ("given", _, _, Some(sb), Some(hb)) => Some(("b", sb, hb, sb, hb)),
        _ => None,
    };
    match pair {
        None => j.flag(
            Verdict::Unresolved,
            format!(
                "p = 1 unchecked: no spectra-route value or no {route_name} value to check it by"
            ),
        ),
        Some((name, x, y, lx, ly)) => match log_ratio_z(lx, ly) {
            Some(z) if z.abs() <= AGREEMENT_Z_MAX => {}
            z => j.flag(
                Verdict::Inconsistent,
                format!(
                    "p = 1 does not hold: {name} = {} from the spectra against {} ({route_name}){}",
                    show(x),
                    show(y),
                    z.map_or(String::new(), |z| format!(", z = {z:.1}"))
                ),
            ),
        },
    }
    j
}

/// Spearman's rank correlation (average ranks for ties); `None` for fewer
/// than 3 pairs or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let sxy: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// 1-based ranks, ascending, ties sharing their mean rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// Fewest snapshots a settled frontier must span (its first and every
/// later one, the last included) for the settling to be resolved.
pub const SETTLED_MIN_SNAPSHOTS: usize = 3;

/// When a frontier stopped moving.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settling {
    /// Index (into the series) of the first snapshot from which k_* stays
    /// within tolerance of its final value.
    pub index: usize,
    /// Its time, and the time of the snapshot before it: the frontier
    /// stopped moving in (t_before, t_settled].
    pub t_settled: f64,
    pub t_before: Option<f64>,
    /// The final k_* and the tolerance used: 2 standard errors of the
    /// difference, at least one mode (a count's resolution).
    pub k_final: f64,
    pub tolerance: f64,
    /// Snapshots from `index` to the last.
    pub snapshots: usize,
}

/// The first snapshot from which k_*(t) stays within
/// max(2·√(σ_j² + σ_T²), 1) of its last value k_*(T), over the snapshots
/// that have a k_* (`None` errors count as 0). `None` when the last
/// snapshot has no k_*.
pub fn settling(t: &[f64], k: &[Option<f64>], err: &[Option<f64>]) -> Option<Settling> {
    let last = k.iter().rposition(Option::is_some)?;
    let kt = k[last]?;
    let et = err.get(last).copied().flatten().unwrap_or(0.0);
    let tol_at = |j: usize| {
        let e = err.get(j).copied().flatten().unwrap_or(0.0);
        (2.0 * (e * e + et * et).sqrt()).max(1.0)
    };
    let mut index = last;
    for j in (0..last).rev() {
        match k[j] {
            Some(v) if (v - kt).abs() <= tol_at(j) => index = j,
            Some(_) => break,
            None => continue,
        }
    }
    let present = (index..=last).filter(|&j| k[j].is_some()).count();
    let before = (0..index).rev().find(|&j| k[j].is_some());
    Some(Settling {
        index,
        t_settled: t[index],
        t_before: before.map(|j| t[j]),
        k_final: kt,
        tolerance: tol_at(index),
        snapshots: present,
    })
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

    fn kernel_input() -> DynamicsInput {
        let v = |x| Some(Value::new(x, 0.01));
        DynamicsInput {
            phi: v(2.0 / 3.0),
            psi: v(1.5),
            s1: v(1.0),
            beta: v(1.5),
            alpha_t: v(1.0),
            a_tail: None,
            b_given: None,
        }
    }

    fn verdicts(d: &DynamicsInput, ev: &Evidence) -> Verdicts {
        judge(d, &Dynamics::estimate(d), ev)
    }

    /// The kernel model's exponents pass every check; each broken check
    /// gives its verdict and names the quantity.
    #[test]
    fn judge_passes_the_kernel_model_and_names_each_failure() {
        let ev = Evidence::default();
        let ok = verdicts(&kernel_input(), &ev);
        assert_eq!(ok.row.verdict, Verdict::Valid, "{:?}", ok.row);
        assert_eq!(ok.spectra.verdict, Verdict::Valid, "{:?}", ok.spectra);
        assert_eq!(ok.row.headline(), "valid");

        // φψ = 0.04 ± 0.02: the frontier and the modes disagree.
        let bad = DynamicsInput {
            psi: Some(Value::new(0.06, 0.03)),
            ..kernel_input()
        };
        let v = verdicts(&bad, &ev);
        assert_eq!(v.rho.verdict, Verdict::Inconsistent);
        assert_eq!(v.row.verdict, Verdict::Inconsistent);
        assert!(
            v.row.headline().starts_with("φψ = 0.0400"),
            "{}",
            v.row.headline()
        );

        // A negative ψ is out of domain; an error above the value unresolved.
        let neg = DynamicsInput {
            psi: Some(Value::new(-0.05, 0.06)),
            ..kernel_input()
        };
        assert_eq!(verdicts(&neg, &ev).psi.verdict, Verdict::OutOfDomain);
        let wide = DynamicsInput {
            phi: Some(Value::new(0.67, 0.9)),
            ..kernel_input()
        };
        let v = verdicts(&wide, &ev);
        assert_eq!(v.phi.verdict, Verdict::Unresolved);
        assert_eq!(v.row.verdict, Verdict::Unresolved);

        // a ≤ 1 from the losses (α_t tiny): out of domain.
        let flat = DynamicsInput {
            alpha_t: Some(Value::new(-0.1, 0.01)),
            ..kernel_input()
        };
        let v = verdicts(&flat, &ev);
        assert_eq!(v.a.verdict, Verdict::OutOfDomain, "{:?}", v.a);
        // … and the spectra route (a = 2.5) disagrees with it.
        assert_eq!(v.spectra.verdict, Verdict::Inconsistent);

        // A frontier source with gaps makes φ inconsistent whatever φ is.
        let gaps = Evidence {
            frontier_unstable: Some("gaps".into()),
            ..Evidence::default()
        };
        assert_eq!(
            verdicts(&kernel_input(), &gaps).phi.verdict,
            Verdict::Inconsistent
        );

        // One route only: unresolved, with the reason.
        let no_psi = DynamicsInput {
            psi: None,
            ..kernel_input()
        };
        let ev = Evidence {
            psi_missing: Some("modes not matched".into()),
            ..Evidence::default()
        };
        let v = verdicts(&no_psi, &ev);
        assert_eq!(v.row.verdict, Verdict::Unresolved);
        assert_eq!(v.row.headline(), "ψ: modes not matched");
    }

    /// The agreement criterion at its edge: with statistical errors of 1%,
    /// σ = √(0.01² + 0.01² + 0.03²) = 0.0332 on ln φψ, so φψ = e^0.066 =
    /// 1.068 passes and e^0.067 fails.
    #[test]
    fn agreement_criterion_at_its_edge() {
        let z = |r: f64| {
            log_ratio_z(
                Value::new(r, 0.01 * r).times(Value::new(1.0, 0.01)),
                Value::new(1.0, 0.0),
            )
            .unwrap()
        };
        let se = (0.01f64.powi(2) * 2.0 + AGREEMENT_SYSTEMATIC.powi(2)).sqrt();
        assert!((z(1.05) - 1.05f64.ln() / se).abs() < 1e-6);
        assert!(z((2.0 * se - 1e-3).exp()).abs() <= AGREEMENT_Z_MAX);
        assert!(z((2.0 * se + 1e-3).exp()).abs() > AGREEMENT_Z_MAX);
        assert!(log_ratio_z(Value::new(-1.0, 0.1), Value::new(1.0, 0.1)).is_none());
        let order = [
            Verdict::Valid,
            Verdict::Unresolved,
            Verdict::OutOfDomain,
            Verdict::Inconsistent,
        ];
        assert!(order.windows(2).all(|w| severity(w[0]) < severity(w[1])));
        assert_eq!(
            worst(Verdict::OutOfDomain, Verdict::Unresolved),
            Verdict::OutOfDomain
        );
        assert_eq!(Judgement::default().verdict, Verdict::Valid);
    }

    fn cand(kind: FrontierKind, k: &[Option<f64>], accepted: &[bool]) -> FrontierCandidate {
        FrontierCandidate {
            kind,
            k: k.iter().map(|v| v.map(|v| Value::new(v, 0.5))).collect(),
            accepted: accepted.to_vec(),
        }
    }

    /// One source per matrix: saturation when it covers its window, the
    /// next source when it has a gap there, never a mix.
    #[test]
    fn frontier_source_is_chosen_once_on_the_series() {
        let held = [true; 7];
        let noise = cand(
            FrontierKind::NoiseFloor,
            &[2.0, 4.0, 7.0, 11.0, 16.0, 24.0, 30.0].map(Some),
            &[true; 7],
        );
        // Missing early (front below the grid) and late: no gap inside.
        let sat = [
            None,
            None,
            Some(6.0),
            Some(10.0),
            Some(15.0),
            Some(22.0),
            None,
        ];
        let present: Vec<bool> = sat.iter().map(Option::is_some).collect();
        let c = [
            cand(FrontierKind::Saturation, &sat, &present),
            cand(FrontierKind::Break, &[None; 7], &[false; 7]),
            noise.clone(),
        ];
        let ch = choose_frontier(&c, &held, 64);
        assert_eq!(ch.chosen, Some(0));
        assert_eq!((ch.window_points, ch.missing, ch.gaps), (4, 3, 0));
        // A hole inside the window: the noise floor instead, with the reason.
        let holed = [None, None, Some(6.0), None, Some(15.0), Some(22.0), None];
        let present: Vec<bool> = holed.iter().map(Option::is_some).collect();
        let c = [
            cand(FrontierKind::Saturation, &holed, &present),
            cand(FrontierKind::Break, &[None; 7], &[false; 7]),
            noise.clone(),
        ];
        let ch = choose_frontier(&c, &held, 64);
        assert_eq!(ch.chosen, Some(2));
        assert_eq!(ch.gaps, 0);
        assert!(
            ch.reason
                .contains("saturation is missing or unaccepted at 1"),
            "{}",
            ch.reason
        );
        // Unaccepted breaks inside the window are gaps; outside they count
        // as unaccepted only.
        let brk = [
            Some(3.0),
            Some(5.5),
            Some(7.0),
            Some(9.0),
            Some(12.0),
            Some(40.0),
            Some(45.0),
        ];
        let acc = [false, false, true, true, true, false, false];
        let c = [
            cand(FrontierKind::Saturation, &[None; 7], &[false; 7]),
            cand(FrontierKind::Break, &brk, &acc),
        ];
        let ch = choose_frontier(&c, &held, 64);
        assert_eq!(ch.chosen, Some(1));
        assert_eq!((ch.window_points, ch.unaccepted, ch.gaps), (4, 4, 1));
        // Nothing usable: the gap-free source is preferred.
        let short = cand(
            FrontierKind::NoiseFloor,
            &[Some(6.0), Some(8.0), None, None, None, None, None],
            &[true, true, false, false, false, false, false],
        );
        let ch = choose_frontier(&[c[1].clone(), short], &held, 64);
        assert_eq!(ch.chosen, Some(1), "{ch:?}");
    }

    #[test]
    fn spearman_and_settling() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &[10.0, 20.0, 30.0, 40.0, 50.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        // Ties share their mean rank: ranks (1, 2.5, 2.5, 4).
        assert_eq!(ranks(&[1.0, 2.0, 2.0, 3.0]), vec![1.0, 2.5, 2.5, 4.0]);
        assert!(spearman(&x, &[1.0; 5]).is_none());
        assert!(spearman(&x[..2], &x[..2]).is_none());

        let t = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let k: Vec<Option<f64>> = [2.0, 5.0, 9.0, 19.5, 20.0, 20.0].map(Some).to_vec();
        let e = vec![Some(0.2); 6];
        let s = settling(&t, &k, &e).unwrap();
        // 19.5 is within max(2·√(0.04 + 0.04), 1) = 1 of 20; 9 is not.
        assert_eq!((s.index, s.snapshots), (3, 3));
        assert_eq!((s.t_settled, s.t_before), (8.0, Some(4.0)));
        assert!((s.tolerance - 1.0).abs() < 1e-12);
        // Still growing at the end: settled at the last snapshot only.
        let grow: Vec<Option<f64>> = t.iter().map(|t| Some(3.0 * t)).collect();
        let s = settling(&t, &grow, &e).unwrap();
        assert_eq!((s.index, s.snapshots), (5, 1));
        assert!(settling(&t, &[None; 6], &e).is_none());
    }
}
