//! What the simulator knows: the analytic laws of each model (ρ, frontier,
//! loss exponent, spectral slopes; derived in docs/simulate.md) and their
//! direct measurement on the true mode trajectories, which only the
//! simulator can see (it projects the student on the teacher's basis).
//!
//! Owns `truth.json`'s types and the few plain least-squares fits the
//! direct measurements need. It must not estimate anything from the
//! weights' spectra: that is `fit`'s job, and this is its referee.

use super::{ModelKind, SimConfig};
use serde::{Deserialize, Serialize};

/// The frontier's learned fraction: g(λ_k, t) = 1 ⇔ 1 − f_k = e^(−1),
/// with f_k = s_k / w_k (THEORY.md §1: L = Σ e_k·exp(−2g) and the mode's
/// residual is w_k·exp(−g)).
pub const FRONTIER_FRACTION: f64 = 1.0 - 1.0 / std::f64::consts::E;

/// Modes learned in fewer steps than this are left out of the mode-wise
/// ρ fit: with ηλ_k ≳ 0.05 gradient descent is no longer a discretized
/// flow and t_½ is quantized to a few steps.
pub const MIN_HALF_LEARNING_STEPS: f64 = 20.0;

/// The loss-exponent window of THEORY.md §4, 5 < k_* < R/20: the same
/// window the estimator (`fit::series`) fits in.
pub const WINDOW_K_MIN: f64 = crate::fit::series::FRONTIER_K_MIN;
pub const WINDOW_K_DIVISOR: f64 = crate::fit::series::LOSS_WINDOW_DIVISOR;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub format: String,
    pub model: ModelKind,
    pub a: f64,
    pub b: f64,
    /// R = min(D, K): the teacher's modes.
    pub modes: usize,
    pub config: SimConfig,
    /// How L is normalized (½ of the mean squared error).
    pub loss_convention: String,
    /// The time axis of every fit here.
    pub time: String,
    /// Closed-form laws; `None` for the MLP, which has none.
    pub analytic: Option<Analytic>,
    pub measured: Measured,
    /// λ_k, k = 1…D.
    pub lambda: Vec<f64>,
    /// w_k, k = 1…R.
    pub target: Vec<f64>,
    pub init: SnapshotTruth,
    pub snapshots: Vec<SnapshotTruth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytic {
    /// Spectral–temporal elasticity ρ = −d ln λ_* / d ln t.
    pub rho: f64,
    /// The evolution function g(λ, t) of the model.
    pub g: String,
    /// The frontier law k_*(t).
    pub frontier: String,
    /// k_* ∝ t^(ρ/b).
    pub k_star_exponent: f64,
    /// k_*(t) = prefactor·t^(ρ/b), where the law fixes it (linear: η^(1/b)).
    pub k_star_prefactor: Option<f64>,
    /// α_t = ρ(a−1)/b with L(t) ∝ t^(−α_t) inside the fit window.
    pub loss_time_exponent: f64,
    /// a − 1, with L(N) ∝ N^(−(a−1)) for N modes.
    pub loss_size_exponent: f64,
    /// μ_k ∝ k^(−(a−b)) for learned modes (k < k_*) of the pruned matrix.
    pub spectrum_learned_exponent: f64,
    /// μ_k ∝ k^(−(a+b)) for unlearned modes (linear only).
    pub spectrum_unlearned_exponent: Option<f64>,
    /// Deep-linear: ρ from the same mode-wise fit applied to the logistic
    /// half-learning times ln(w_k/s₀ − 1)/(2ηλ_k w_k) with the effective
    /// seed s₀ = init_scale²(1 + H/D)/4, over the modes the measured fit
    /// used: the analytic ρ with its log factor.
    pub rho_log_corrected: Option<f64>,
    pub window: FitWindow,
    pub notes: String,
}

/// The steps where 5 < k_*(t) < R/20 (k_* counted on the true modes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitWindow {
    pub k_star_min: f64,
    pub k_star_max: f64,
    pub step_min: Option<u64>,
    pub step_max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// ρ = −1/slope of ln t_½(k) on ln λ_k over modes with
    /// 20 ≤ t_½ ≤ T (t_½: first step with s_k ≥ w_k/2, log-interpolated).
    pub rho_half_learning: Option<SlopeFit>,
    /// α_t = −slope of ln L_test on ln t inside the window.
    pub loss_time_exponent: Option<SlopeFit>,
    /// slope of ln k_* on ln t where 5 < k_* < R/2 (→ ρ/b).
    pub frontier_exponent: Option<SlopeFit>,
    /// t_½ per mode (steps), `None` if not reached or reached before step 1.
    pub half_learning_steps: Vec<Option<f64>>,
}

/// A least-squares slope with its standard error and where it was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlopeFit {
    pub value: f64,
    pub stderr: f64,
    pub points: usize,
    /// What the regressor was and its range (e.g. modes 3..40, steps 20..900).
    pub over: String,
    pub x_min: f64,
    pub x_max: f64,
}

/// One snapshot (or the init) as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotTruth {
    /// Path relative to the run directory.
    pub file: String,
    pub step: u64,
    pub tokens: u64,
    pub lr_sum: f64,
    /// Losses of the weights as stored (rounded to the snapshot dtype).
    pub train_loss: f64,
    pub test_loss: f64,
    /// #{k : s_k/w_k ≥ 1 − 1/e}, counted on the true modes.
    pub k_star: usize,
    /// The analytic frontier (ηt)^(1/b), linear model only.
    pub k_star_analytic: Option<f64>,
}

/// One row of compression.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionRow {
    pub snapshot: usize,
    pub step: u64,
    /// `rank`, `quant_tensor` or `quant_channel`.
    pub kind: String,
    /// Rank r or bits B.
    pub param: u64,
    pub test_loss: f64,
    /// test_loss minus the snapshot's own test loss.
    pub delta_loss: f64,
}

/// #{k : s_k / w_k ≥ 1 − 1/e}: the frontier counted on the true modes.
pub fn frontier_count(strength: &[f64], target: &[f64]) -> usize {
    strength
        .iter()
        .zip(target)
        .filter(|(s, w)| *s / *w >= FRONTIER_FRACTION)
        .count()
}

/// First time the learned fraction reaches ½, interpolated linearly in
/// ln t between recorded steps. `None` if never reached, or reached at or
/// before the first positive recorded step (too fast to resolve).
pub fn half_learning_time(steps: &[u64], fraction: &[f64]) -> Option<f64> {
    let j = fraction.iter().position(|&f| f >= 0.5)?;
    if j == 0 || steps[j - 1] == 0 {
        return None;
    }
    let (t0, t1) = ((steps[j - 1] as f64).ln(), (steps[j] as f64).ln());
    let (f0, f1) = (fraction[j - 1], fraction[j]);
    let x = if f1 > f0 { (0.5 - f0) / (f1 - f0) } else { 1.0 };
    Some((t0 + x * (t1 - t0)).exp())
}

/// Ordinary least squares y = c + s·x: (slope, standard error), needs ≥ 3
/// points with distinct x.
pub(crate) fn ols(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let rss: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - my - slope * (a - mx)).powi(2))
        .sum();
    Some((slope, (rss / (n - 2) as f64 / sxx).sqrt()))
}

/// Inputs of the direct measurements: the recorded trajectory.
pub(crate) struct Trajectory<'a> {
    pub steps: &'a [u64],
    pub test_loss: &'a [f64],
    /// strength[j][k]: s_k at steps[j].
    pub strength: &'a [Vec<f64>],
}

impl Truth {
    /// The analytic laws and the direct measurements for a finished run.
    pub(crate) fn measure(
        cfg: &SimConfig,
        lambda: &[f64],
        target: &[f64],
        tr: &Trajectory<'_>,
    ) -> (Option<Analytic>, Measured) {
        let r = target.len();
        let frac =
            |k: usize| -> Vec<f64> { tr.strength.iter().map(|s| s[k] / target[k]).collect() };
        let t_half: Vec<Option<f64>> = (0..r)
            .map(|k| half_learning_time(tr.steps, &frac(k)))
            .collect();
        let last = *tr.steps.last().unwrap_or(&0) as f64;
        let used: Vec<usize> = (0..r)
            .filter(|&k| t_half[k].is_some_and(|t| t >= MIN_HALF_LEARNING_STEPS && t <= last))
            .collect();
        let rho_fit = |ts: &dyn Fn(usize) -> f64| -> Option<(f64, f64)> {
            let x: Vec<f64> = used.iter().map(|&k| lambda[k].ln()).collect();
            let y: Vec<f64> = used.iter().map(|&k| ts(k).ln()).collect();
            let (s, se) = ols(&x, &y)?;
            Some((-1.0 / s, se / (s * s)))
        };
        let mode_range = |used: &[usize]| {
            format!(
                "ln λ_k over modes k = {}..{} ({} modes)",
                used.first().map_or(0, |k| k + 1),
                used.last().map_or(0, |k| k + 1),
                used.len()
            )
        };
        let rho_half_learning = rho_fit(&|k| t_half[k].unwrap()).map(|(v, se)| SlopeFit {
            value: v,
            stderr: se,
            points: used.len(),
            over: mode_range(&used),
            x_min: used
                .iter()
                .map(|&k| lambda[k].ln())
                .fold(f64::INFINITY, f64::min),
            x_max: used
                .iter()
                .map(|&k| lambda[k].ln())
                .fold(f64::NEG_INFINITY, f64::max),
        });

        let k_max = r as f64 / WINDOW_K_DIVISOR;
        let k_star: Vec<f64> = tr
            .strength
            .iter()
            .map(|s| frontier_count(s, target) as f64)
            .collect();
        let window_of = |hi: f64| -> Vec<usize> {
            (0..tr.steps.len())
                .filter(|&j| tr.steps[j] > 0 && k_star[j] > WINDOW_K_MIN && k_star[j] < hi)
                .collect()
        };
        let slope = |win: &[usize], y: &dyn Fn(usize) -> f64, sign: f64, hi: f64| {
            let x: Vec<f64> = win.iter().map(|&j| (tr.steps[j] as f64).ln()).collect();
            let y: Vec<f64> = win.iter().map(|&j| y(j)).collect();
            ols(&x, &y).map(|(s, se)| SlopeFit {
                value: sign * s,
                stderr: se,
                points: x.len(),
                over: format!(
                    "ln t over steps {}..{} ({WINDOW_K_MIN} < k_* < {hi})",
                    tr.steps[win[0]],
                    tr.steps[win[win.len() - 1]]
                ),
                x_min: x[0],
                x_max: x[x.len() - 1],
            })
        };
        let win = window_of(k_max);
        let window = FitWindow {
            k_star_min: WINDOW_K_MIN,
            k_star_max: k_max,
            step_min: win.first().map(|&j| tr.steps[j]),
            step_max: win.last().map(|&j| tr.steps[j]),
        };
        let loss_time_exponent = slope(&win, &|j| tr.test_loss[j].ln(), -1.0, k_max);
        // The count is exact until the frontier reaches the last mode, but
        // it moves in integer steps: fit it over the wider window k_* < R/2.
        let wide = window_of(r as f64 / 2.0);
        let frontier_exponent = slope(&wide, &|j| k_star[j].ln(), 1.0, r as f64 / 2.0);
        let measured = Measured {
            rho_half_learning,
            loss_time_exponent,
            frontier_exponent,
            half_learning_steps: t_half,
        };

        let (a, b, eta) = (cfg.a, cfg.b, cfg.lr);
        let analytic = match cfg.model {
            ModelKind::Linear => Some(Analytic {
                rho: 1.0,
                g: "g(λ, t) = −t·ln(1 − ηλ) ≈ ηλt (exact for gradient descent on the population loss)".into(),
                frontier: "k_*(t) = (ηt)^(1/b)".into(),
                k_star_exponent: 1.0 / b,
                k_star_prefactor: Some(eta.powf(1.0 / b)),
                loss_time_exponent: (a - 1.0) / b,
                loss_size_exponent: a - 1.0,
                spectrum_learned_exponent: a - b,
                spectrum_unlearned_exponent: Some(a + b),
                rho_log_corrected: None,
                window,
                notes: "Kernel regime: each mode relaxes independently, s_k(t) = w_k·(1 − (1 − ηλ_k)^t) + (init)·(1 − ηλ_k)^t. The spectrum of W is a broken power law with break at k_*: slope a−b inside, a+b outside (where (ηλ_k t)² w_k² dominates), down to the init floor.".into(),
            }),
            ModelKind::DeepLinear => {
                let s0 = cfg.init_scale.powi(2) * (1.0 + cfg.hidden as f64 / cfg.dim as f64) / 4.0;
                let logistic = |k: usize| {
                    let w = target[k];
                    (w / s0 - 1.0).max(f64::MIN_POSITIVE).ln() / (2.0 * eta * lambda[k] * w)
                };
                Some(Analytic {
                    rho: 2.0 * b / (a + b),
                    g: "g = −ln(1 − f), f_k(t) = 1/(1 + (w_k/s₀ − 1)·exp(−2ηλ_k w_k t)) (balanced small-init logistic)".into(),
                    frontier: "λ_k·w_k·t ≈ ln(w_k/s₀)/(2η) ⇒ k_*(t) ∝ t^(2/(a+b)) up to the log factor".into(),
                    k_star_exponent: 2.0 / (a + b),
                    k_star_prefactor: None,
                    loss_time_exponent: 2.0 * (a - 1.0) / (a + b),
                    loss_size_exponent: a - 1.0,
                    spectrum_learned_exponent: a - b,
                    spectrum_unlearned_exponent: None,
                    rho_log_corrected: rho_fit(&logistic).map(|(v, _)| v),
                    window,
                    notes: "Exponents refer to the end-to-end product W₂W₁ (each layer carries √s_k: slope (a−b)/2). Unlearned modes stay near the init (sigmoidal front, no power law). The log factor ln(w_k/s₀) varies across modes and pushes the measured ρ above 2b/(a+b); rho_log_corrected includes it.".into(),
                })
            }
            ModelKind::Mlp => None,
        };
        (analytic, measured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_recovers_an_exact_line() {
        let x = [0.0, 1.0, 2.5, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 1.25 * v).collect();
        let (s, se) = ols(&x, &y).unwrap();
        assert!((s + 1.25).abs() < 1e-14 && se < 1e-14);
        assert!(ols(&x[..2], &y[..2]).is_none());
        assert!(ols(&[1.0; 4], &y).is_none());
    }

    /// Log-linear interpolation is exact for a fraction linear in ln t.
    #[test]
    fn half_learning_time_interpolates_in_log_time() {
        let steps = [0u64, 10, 100, 1000];
        let f: Vec<f64> = steps
            .iter()
            .map(|&t| {
                if t == 0 {
                    0.0
                } else {
                    0.2 * (t as f64).log10()
                }
            })
            .collect();
        // f = ½ at log10 t = 2.5.
        let t = half_learning_time(&steps, &f).unwrap();
        assert!((t - 10f64.powf(2.5)).abs() < 1e-9 * t);
        assert_eq!(half_learning_time(&steps, &[0.0, 0.1, 0.2, 0.3]), None);
        assert_eq!(half_learning_time(&steps, &[0.0, 0.6, 0.9, 1.0]), None);
    }

    #[test]
    fn frontier_counts_modes_past_one_minus_inverse_e() {
        let w = [1.0, 0.5, 0.25, 0.125];
        assert_eq!(frontier_count(&[0.99, 0.5 * 0.64, 0.25 * 0.62, 0.0], &w), 2);
    }
}
