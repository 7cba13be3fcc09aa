//! Per-matrix metrics with the names and definitions of the peer tool
//! diffract-core 0.3.1 (its kernels `effective_rank`, `hard_rank`,
//! `marchenko_pastur_fit`, `mp_*`, `tw_*`, `exponential_fit`,
//! `truncated_power_law_fit`), computed from specscope's exact eigenvalues.
//!
//! Conventions. specscope's eigenvalues are μ_k = σ_k² of the raw matrix,
//! descending. Diffract's `esd` is λ_k = σ_k²/N with N the larger side,
//! ascending. Every eigenvalue-valued column here (`esd_*`, `mp_esd_*`,
//! `tw_esd_bound`, `*_esd_xmin`) is in Diffract's λ units, so the columns
//! line up with its export; multiply by N for μ. Rates (`expon_lambda`,
//! `tpl_lambda`) are in 1/λ units. `weights_std` and `mp_bulk_std` are in
//! weight units. docs/diffract-compat.md quotes each definition.
//!
//! The Marchenko–Pastur and Tracy–Widom columns need Diffract's
//! permutation null: the spectrum of the matrix with its entries shuffled
//! ([`permuted_null`], which reads the weights). Everything else works on
//! the eigenvalues alone. The tail fits reproduce Diffract's `powerlaw`
//! library path, Nelder–Mead search included, and are opt-in
//! ([`DiffractOptions`]): they cost tens of milliseconds per matrix.
//!
//! Owns only numerics; never opens files and never writes report rows.

use crate::load::{DType, MatrixData, View};
use crate::spectrum::{self, SpectrumError};
use faer::Par;
use serde::Serialize;

/// Diffract's `EPS` in `effective_rank`, `mp_soft_rank`, `mp_ks`.
const EPS: f64 = 1e-16;
/// The likelihood `powerlaw` substitutes for zero or out-of-range ones
/// (`10**sys.float_info.min_10_exp`).
const TINY_LIKELIHOOD: f64 = 1e-307;
/// Diffract's default `p_value_threshold` of `tw_esd_bound`.
pub const TW_P_VALUE: f64 = 0.005;
/// Diffract's default `rtol` of `hard_rank`.
pub const HARD_RANK_RTOL: f64 = 1e-5;
/// Diffract's default seed of `weights_rand` (ours draws differently).
pub const NULL_SEED: u64 = 42;

/// Which of the costlier columns to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffractOptions {
    /// `expon_*`: exponential tail fit (≈ 5 ms per 384-wide matrix).
    pub exponential: bool,
    /// `tpl_*`: truncated power-law tail fit (≈ 0.1 s per 384-wide matrix).
    pub truncated_power_law: bool,
    pub tw_p_value: f64,
    pub hard_rank_rtol: f64,
}

impl Default for DiffractOptions {
    fn default() -> Self {
        DiffractOptions {
            exponential: false,
            truncated_power_law: false,
            tw_p_value: TW_P_VALUE,
            hard_rank_rtol: HARD_RANK_RTOL,
        }
    }
}

/// One matrix's Diffract columns; `None` where the input (the null, an
/// opt-in fit) was not given or the fit had too few points.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiffractMetrics {
    pub greater_dim: usize,
    pub lower_dim: usize,
    pub esd_max: f64,
    pub esd_min: f64,
    pub effective_rank: f64,
    pub hard_rank: usize,
    pub weights_std: Option<f64>,
    pub mp_bulk_std: Option<f64>,
    pub mp_esd_max: Option<f64>,
    pub mp_esd_min: Option<f64>,
    pub mp_num_spikes: Option<usize>,
    pub mp_soft_rank: Option<f64>,
    pub mp_ks: Option<f64>,
    pub mp_concentration: Option<f64>,
    pub mp_presence: Option<f64>,
    pub tw_esd_bound: Option<f64>,
    pub tw_num_spikes: Option<usize>,
    pub expon_lambda: Option<f64>,
    pub expon_esd_xmin: Option<f64>,
    pub expon_ks: Option<f64>,
    pub tpl_alpha: Option<f64>,
    pub tpl_lambda: Option<f64>,
    pub tpl_esd_xmin: Option<f64>,
    pub tpl_ks: Option<f64>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DiffractError {
    #[error("{len} eigenvalues for a {n}×{m} matrix (expected M = {m}, N ≥ M ≥ 1)")]
    Shape { len: usize, n: usize, m: usize },
    #[error("eigenvalue {index} is {value}: eigenvalues must be finite and ≥ 0")]
    BadEigenvalue { index: usize, value: f64 },
    #[error("tensor `{tensor}`: {count} non-finite weights")]
    NonFinite { tensor: String, count: usize },
    #[error("tensor `{tensor}`: spectrum of the permuted null: {source}")]
    Spectrum {
        tensor: String,
        #[source]
        source: SpectrumError,
    },
}

/// The permutation null of one matrix: Diffract's `weights_rand` (every
/// entry moved by one uniform permutation) and its spectrum, plus
/// `weights_std` of the original entries.
#[derive(Debug, Clone, PartialEq)]
pub struct NullSpectrum {
    /// Population standard deviation of the entries (numpy `W.std()`).
    pub weights_std: f64,
    /// μ of the permuted matrix, descending (same units as the spectrum).
    pub evals: Vec<f64>,
}

/// Draws the permutation null of `data` (one view) and its exact spectrum.
///
/// Diffract: `rng = np.random.default_rng(seed); index = arange(W.size);
/// rng.shuffle(index); W.reshape(-1)[index].reshape(W.shape)` with seed 42.
/// Ours: the same law (a uniform permutation of the entries), drawn by
/// rand 0.10's Fisher–Yates `SliceRandom::shuffle` of the decoded entries
/// with `Xoshiro256PlusPlus::seed_from_u64(seed)`; reproducible for a given
/// seed and rand version, never equal to numpy's draw. Memory: the whole
/// matrix in f64 (N·M·8 bytes) plus one Gram.
pub fn permuted_null(
    tensor: &str,
    data: &MatrixData,
    seed: u64,
    par: Par,
) -> Result<NullSpectrum, DiffractError> {
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::seq::SliceRandom;
    let v = data.view;
    let mut w = vec![0.0; v.rows * v.cols];
    let bad = data.read_rows(0, v.rows, &mut w);
    if bad > 0 {
        return Err(DiffractError::NonFinite {
            tensor: tensor.into(),
            count: bad,
        });
    }
    let weights_std = population_std(&w, v.cols);
    w.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    let permuted = MatrixData {
        bytes: bytemuck::cast_slice(&w),
        dtype: &DType::F64,
        view: View::dense(0, v.rows, v.cols),
    };
    let evals = spectrum::exact_spectrum(&permuted, par, |_| {}).map_err(|source| {
        DiffractError::Spectrum {
            tensor: tensor.into(),
            source,
        }
    })?;
    Ok(NullSpectrum { weights_std, evals })
}

/// √(mean((w − mean w)²)), summed row by row (error ~ (rows + cols)·ε).
fn population_std(w: &[f64], cols: usize) -> f64 {
    let n = w.len() as f64;
    let rows_sum = |f: &dyn Fn(f64) -> f64| -> f64 {
        w.chunks(cols.max(1))
            .map(|r| r.iter().map(|&x| f(x)).sum::<f64>())
            .sum()
    };
    let mean = rows_sum(&|x| x) / n;
    (rows_sum(&|x| (x - mean) * (x - mean)) / n).sqrt()
}

/// Every Diffract column available from the eigenvalues `evals` (μ = σ²,
/// descending, M of them) of an N×M (N ≥ M) matrix, plus the null's.
pub fn diffract_metrics(
    evals: &[f64],
    n: usize,
    m: usize,
    null: Option<&NullSpectrum>,
    opts: &DiffractOptions,
) -> Result<DiffractMetrics, DiffractError> {
    if m == 0 || n < m || evals.len() != m {
        return Err(DiffractError::Shape {
            len: evals.len(),
            n,
            m,
        });
    }
    if let Some((index, &value)) = evals
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite() || **x < 0.0)
    {
        return Err(DiffractError::BadEigenvalue { index, value });
    }
    let esd = esd_ascending(evals, n);
    let mut out = DiffractMetrics {
        greater_dim: n,
        lower_dim: m,
        esd_max: esd[m - 1],
        esd_min: esd[0],
        effective_rank: effective_rank(evals),
        hard_rank: hard_rank(&esd, opts.hard_rank_rtol),
        ..Default::default()
    };
    if let Some(null) = null {
        fill_null_columns(&mut out, &esd, null, opts);
    }
    if opts.exponential
        && let Some(f) = exponential_fit(&esd)
    {
        out.expon_lambda = Some(f.lambda);
        out.expon_esd_xmin = Some(f.xmin);
        out.expon_ks = Some(f.ks);
    }
    if opts.truncated_power_law
        && let Some(f) = truncated_power_law_fit(&esd)
    {
        out.tpl_alpha = Some(f.alpha);
        out.tpl_lambda = Some(f.lambda);
        out.tpl_esd_xmin = Some(f.xmin);
        out.tpl_ks = Some(f.ks);
    }
    Ok(out)
}

fn fill_null_columns(
    out: &mut DiffractMetrics,
    esd: &[f64],
    null: &NullSpectrum,
    opts: &DiffractOptions,
) {
    let (n, m) = (out.greater_dim, out.lower_dim);
    let esd_rand = esd_ascending(&null.evals, n);
    let mp = marchenko_pastur_fit(&esd_rand, out.esd_max, null.weights_std, n, m);
    let tw = tw_esd_bound(n, m, mp.bulk_std, opts.tw_p_value);
    out.weights_std = Some(null.weights_std);
    out.mp_bulk_std = Some(mp.bulk_std);
    out.mp_esd_max = Some(mp.esd_max);
    out.mp_esd_min = Some(mp.esd_min);
    out.mp_num_spikes = Some(esd.iter().filter(|&&x| x > mp.esd_max).count());
    out.mp_soft_rank = Some(mp.esd_max / (out.esd_max + EPS));
    out.mp_ks = Some(mp_ks(esd, n as f64 / m as f64, &mp));
    let bulk = esd
        .iter()
        .filter(|&&x| mp.esd_min <= x && x <= mp.esd_max)
        .count();
    out.mp_concentration = Some(bulk as f64 / m as f64);
    let width = (mp.esd_max - mp.esd_min) / (out.esd_max - out.esd_min + EPS);
    out.mp_presence = Some(width.clamp(0.0, 1.0));
    out.tw_esd_bound = tw;
    out.tw_num_spikes = tw.map(|b| esd.iter().filter(|&&x| x > b).count());
}

/// λ = μ/N, ascending (Diffract's `esd`).
pub fn esd_ascending(evals: &[f64], n: usize) -> Vec<f64> {
    let mut esd: Vec<f64> = evals.iter().map(|&x| x / n as f64).collect();
    esd.sort_by(f64::total_cmp);
    esd
}

/// Diffract `effective_rank`: exp(−Σ p_i ln(p_i + 1e-16)),
/// p_i = σ_i/(Σσ_j + 1e-16), on the singular values σ_i = √μ_i.
pub fn effective_rank(evals: &[f64]) -> f64 {
    let total: f64 = evals.iter().map(|x| x.sqrt()).sum::<f64>() + EPS;
    let entropy: f64 = -evals
        .iter()
        .map(|x| {
            let p = x.sqrt() / total;
            p * (p + EPS).ln()
        })
        .sum::<f64>();
    entropy.exp()
}

/// Diffract `hard_rank`: #{i : λ_i > rtol·λ_max} (scale-free: μ works too).
pub fn hard_rank(esd: &[f64], rtol: f64) -> usize {
    let max = esd.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    esd.iter().filter(|&&x| x > rtol * max).count()
}

/// Diffract's `marchenko_pastur_fit` outputs, λ units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MpFit {
    pub esd_max: f64,
    pub esd_min: f64,
    pub bulk_std: f64,
}

/// Diffract `marchenko_pastur_fit` on the null's ascending λ: the edge
/// λ₊ = s²(1 + 1/√Q)² with s = `weights_std`; when some null eigenvalue
/// "bleeds out" above it, s² is replaced by Σ{λ_rand ≤ λ₊}/M and the edge
/// recomputed. λ₊ is then capped at the spectrum's own λ_max, and
/// λ₋ = s²(1 − 1/√Q)².
pub fn marchenko_pastur_fit(
    esd_rand: &[f64],
    esd_max: f64,
    weights_std: f64,
    n: usize,
    m: usize,
) -> MpFit {
    let q = n as f64 / m as f64;
    let edge = |s2: f64| s2 * (1.0 + 1.0 / q.sqrt()).powi(2);
    let fit_max = edge(weights_std * weights_std);
    let (mut esd_max_fit, bulk_std) = if esd_rand.iter().any(|&x| x > fit_max) {
        let s2: f64 = esd_rand.iter().filter(|&&x| x <= fit_max).sum::<f64>() / m as f64;
        (edge(s2), s2.sqrt())
    } else {
        (fit_max, weights_std)
    };
    esd_max_fit = esd_max_fit.min(esd_max);
    MpFit {
        esd_max: esd_max_fit,
        esd_min: bulk_std * bulk_std * (1.0 - 1.0 / q.sqrt()).powi(2),
        bulk_std,
    }
}

/// Diffract `rmt.marchenko_pastur_cdf(x, ratio, sigma)` (ratio ∈ (0, 1]):
/// the closed-form MP CDF of z = x/σ² with edges (1 ∓ √ratio)².
pub fn marchenko_pastur_cdf(x: f64, ratio: f64, sigma: f64) -> f64 {
    use std::f64::consts::PI;
    let sr = ratio.sqrt();
    let (lo, hi) = ((1.0 - sr).powi(2), (1.0 + sr).powi(2));
    let z = x / (sigma * sigma);
    if z >= hi {
        return 1.0;
    }
    if z <= lo {
        return 0.0;
    }
    let root = ((z - lo) * (hi - z)).sqrt();
    let span = hi - lo;
    let first = ((2.0 * z - lo - hi) / span).asin();
    let second = (((lo + hi) * z - 2.0 * lo * hi) / (z * span)).asin();
    let v =
        (root + (1.0 + ratio) * first - (1.0 - ratio) * second + PI * ratio) / (2.0 * PI * ratio);
    v.clamp(0.0, 1.0)
}

/// Diffract `mp_ks`: the two-sided KS distance between the λ_i strictly
/// inside (λ₋, λ₊) and the MP CDF (ratio 1/(Q + 1e-8), σ = bulk std)
/// conditioned on that window; 1 when the window holds no λ or no mass.
pub fn mp_ks(esd: &[f64], q: f64, mp: &MpFit) -> f64 {
    let ratio = 1.0 / (q + 1e-8);
    let inside: Vec<f64> = esd
        .iter()
        .copied()
        .filter(|&x| mp.esd_min < x && x < mp.esd_max)
        .collect();
    if inside.is_empty() {
        return 1.0;
    }
    let f_min = marchenko_pastur_cdf(mp.esd_min, ratio, mp.bulk_std);
    let f_max = marchenko_pastur_cdf(mp.esd_max, ratio, mp.bulk_std);
    let window = f_max - f_min;
    if window <= EPS {
        return 1.0;
    }
    let n = inside.len() as f64;
    let (mut d_plus, mut d_minus) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (i, &x) in inside.iter().enumerate() {
        let model = (marchenko_pastur_cdf(x, ratio, mp.bulk_std) - f_min) / window;
        d_plus = d_plus.max((i + 1) as f64 / n - model);
        d_minus = d_minus.max(model - i as f64 / n);
    }
    d_plus.max(d_minus)
}

/// Diffract `tw_esd_bound`: μ_NM + s_NM·F₁⁻¹(1 − p) with
/// μ_NM = (s²/N)(√(N−1) + √M)², s_NM = (s²/N)(√(N−1) + √M)
/// (1/√(N−1) + 1/√M)^{1/3}, s = the MP bulk std, F₁ the β = 1 Tracy–Widom
/// law. `None` for N = 1 or a p outside (0, 1).
pub fn tw_esd_bound(n: usize, m: usize, bulk_std: f64, p: f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let (g, l) = ((n - 1) as f64, m as f64);
    let loc = g.sqrt() + l.sqrt();
    let inv_loc = 1.0 / g.sqrt() + 1.0 / l.sqrt();
    let scale = bulk_std * bulk_std / n as f64;
    let mu = scale * loc * loc;
    let sigma = scale * loc * inv_loc.powf(1.0 / 3.0);
    Some(tracy_widom1_ppf(1.0 - p)? * sigma + mu)
}

/// The β = 1 Tracy–Widom quantile F₁⁻¹(q), from the Painlevé II
/// representation Diffract uses: q'' = s q + 2q³ with q ~ Ai(s) at
/// s₀ = 10, and F₁(s) = exp(−½(∫_s^∞ (x−s) q² dx + ∫_s^∞ q dx)).
/// Integrated downward from s₀ by classical RK4 (step 2⁻¹⁰, global error
/// ~1e-12) until F₁ < q, then the crossing is bisected within the last
/// step. The Airy tails beyond s₀ (~1e-11) enter through their leading
/// asymptotics. `None` for q outside [1e-6, 1 − 1e-9].
pub fn tracy_widom1_ppf(q: f64) -> Option<f64> {
    if !(1e-6..=1.0 - 1e-9).contains(&q) {
        return None;
    }
    const S0: f64 = 10.0;
    const H: f64 = 1.0 / 1024.0;
    let cdf = |y: &[f64; 5]| (-(y[2] + y[4]) / 2.0).exp();
    let (ai, aip) = airy_ai_large(S0);
    // Tails beyond s₀: ∫Ai² = Ai'² − s₀Ai² exactly; ∫(t−s₀)Ai² and ∫Ai by
    // their leading asymptotics Ai²/(4s₀) and Ai/√s₀ (relative error
    // O(1/ζ), absolute ≲ 1e-12).
    let mut y = [
        ai,
        aip,
        ai * ai / (4.0 * S0),
        aip * aip - S0 * ai * ai,
        ai / S0.sqrt(),
    ];
    let mut s = S0;
    while cdf(&y) >= q {
        if s < -8.0 {
            return None;
        }
        y = painleve_step(s, &y, -H);
        s -= H;
    }
    // F₁(s) < q ≤ F₁(s + H): bisect the step length from s + H.
    let start = painleve_step(s, &y, H);
    let (mut lo, mut hi) = (0.0, H);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if cdf(&painleve_step(s + H, &start, -mid)) >= q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(s + H - 0.5 * (lo + hi))
}

/// One RK4 step of (q, q', ∫(x−s)q², ∫q², ∫q) in s; Diffract's system:
/// [q', s q + 2q³, −k, −q², −q] with k the fourth component.
fn painleve_step(s: f64, y: &[f64; 5], h: f64) -> [f64; 5] {
    let f = |s: f64, y: &[f64; 5]| -> [f64; 5] {
        [
            y[1],
            s * y[0] + 2.0 * y[0].powi(3),
            -y[3],
            -y[0] * y[0],
            -y[0],
        ]
    };
    let add = |a: &[f64; 5], k: &[f64; 5], c: f64| -> [f64; 5] {
        std::array::from_fn(|i| a[i] + c * k[i])
    };
    let k1 = f(s, y);
    let k2 = f(s + h / 2.0, &add(y, &k1, h / 2.0));
    let k3 = f(s + h / 2.0, &add(y, &k2, h / 2.0));
    let k4 = f(s + h, &add(y, &k3, h));
    std::array::from_fn(|i| y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// Ai(x) and Ai'(x) for x ≥ 8 from the asymptotic series in ζ = ⅔x^{3/2}
/// (u_k, v_k of DLMF 9.7.2), summed to its smallest term (< 1e-17
/// relative at x = 10).
fn airy_ai_large(x: f64) -> (f64, f64) {
    let zeta = 2.0 / 3.0 * x.powf(1.5);
    let pre = (-zeta).exp() / (2.0 * std::f64::consts::PI.sqrt());
    let (mut u, mut sum_u, mut sum_v, mut sign, mut zk) = (1.0f64, 1.0, 1.0, 1.0, 1.0);
    for k in 1..40 {
        let kf = k as f64;
        u *= (6.0 * kf - 5.0) * (6.0 * kf - 3.0) * (6.0 * kf - 1.0)
            / ((2.0 * kf - 1.0) * 216.0 * kf);
        let v = -(6.0 * kf + 1.0) / (6.0 * kf - 1.0) * u;
        sign = -sign;
        zk *= zeta;
        let term = u / zk;
        if term < 1e-18 {
            break;
        }
        sum_u += sign * term;
        sum_v += sign * v / zk;
    }
    (pre / x.powf(0.25) * sum_u, -pre * x.powf(0.25) * sum_v)
}

/// A tail fit: xmin and KS distance, and the parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponFit {
    pub lambda: f64,
    pub xmin: f64,
    pub ks: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TplFit {
    pub alpha: f64,
    pub lambda: f64,
    pub xmin: f64,
    pub ks: f64,
}

/// Diffract `exponential_fit` (its `powerlaw` 1.5 path,
/// `Fit(esd, distribution="exponential", xmin_distribution="exponential",
/// discrete=False)`): p(x) = Λe^{−Λ(x−xmin)} on x ≥ xmin, Λ by Nelder–Mead
/// on the negative log-likelihood from 1/mean (not the closed-form MLE),
/// xmin the candidate with the smallest KS distance. `None` with fewer
/// than 2 distinct positive λ.
pub fn exponential_fit(esd: &[f64]) -> Option<ExponFit> {
    let best = xmin_search(esd, 1, |tail, xmin| {
        let n = tail.len() as f64;
        let x0 = [1.0 / (tail.iter().sum::<f64>() / n)];
        let nll = |p: &[f64]| {
            let l = p[0];
            if l.is_nan() || l <= 0.0 {
                return n * -TINY_LIKELIHOOD.ln();
            }
            let ln_l = l.ln();
            -tail
                .iter()
                .map(|&x| {
                    let ll = ln_l + l * (xmin - x);
                    if ll == 0.0 { TINY_LIKELIHOOD.ln() } else { ll }
                })
                .sum::<f64>()
        };
        let p = nelder_mead(nll, &x0);
        let l = p[0];
        let in_range = l > 0.0;
        let base = move |x: f64| 1.0 - (-l * x).exp();
        (p, in_range, tail_cdf(in_range, base, xmin))
    })?;
    Some(ExponFit {
        lambda: best.params[0],
        xmin: best.xmin,
        ks: best.ks,
    })
}

/// Diffract `truncated_power_law_fit` (its `powerlaw` 1.5 path):
/// p(x) = Λ^{1−α}/Γ(1−α, Λ·xmin) · x^{−α}e^{−Λx} on x ≥ xmin, (α, Λ) by
/// Nelder–Mead from (1 + n/Σln(x/xmin), 1/mean), valid for α > 1, Λ > 0;
/// xmin the candidate with the smallest KS distance of this same fit.
pub fn truncated_power_law_fit(esd: &[f64]) -> Option<TplFit> {
    let best = xmin_search(esd, 2, |tail, xmin| {
        let n = tail.len() as f64;
        let x0 = [
            1.0 + n / tail.iter().map(|&x| (x / xmin).ln()).sum::<f64>(),
            1.0 / (tail.iter().sum::<f64>() / n),
        ];
        let nll = |p: &[f64]| {
            let (a, l) = (p[0], p[1]);
            if !(l > 0.0 && a > 1.0) {
                return n * -TINY_LIKELIHOOD.ln();
            }
            let c = l.powf(1.0 - a) / upper_gamma(1.0 - a, l * xmin);
            -tail
                .iter()
                .map(|&x| {
                    let lik = x.powf(-a) * (-l * x).exp() * c;
                    (if lik == 0.0 { TINY_LIKELIHOOD } else { lik }).ln()
                })
                .sum::<f64>()
        };
        let p = nelder_mead(nll, &x0);
        let (a, l) = (p[0], p[1]);
        let in_range = l > 0.0 && a > 1.0;
        let norm = l.powf(1.0 - a);
        let base = move |x: f64| 1.0 - upper_gamma(1.0 - a, l * x) / norm;
        (p, in_range, tail_cdf(in_range, base, xmin))
    })?;
    Some(TplFit {
        alpha: best.params[0],
        lambda: best.params[1],
        xmin: best.xmin,
        ks: best.ks,
    })
}

/// `powerlaw`'s `Distribution.cdf` on x ≥ xmin: (F(x) − F(xmin))/(1 −
/// F(xmin)) from the base CDF F; all ones when F(xmin) rounds to 1; 1e-307
/// everywhere for parameters out of range.
fn tail_cdf(in_range: bool, base: impl Fn(f64) -> f64, xmin: f64) -> impl Fn(f64) -> f64 {
    let at_xmin = if in_range { base(xmin) } else { 0.0 };
    move |x| {
        if !in_range {
            TINY_LIKELIHOOD
        } else if at_xmin == 1.0 {
            1.0
        } else {
            (base(x) - at_xmin) / (1.0 - at_xmin)
        }
    }
}

struct Candidate {
    params: Vec<f64>,
    xmin: f64,
    ks: f64,
}

/// `powerlaw.Fit.find_xmin`: every distinct positive λ but the largest is
/// a candidate xmin; `fit(tail, xmin)` returns (parameters, in range,
/// model CDF); the KS distance is against the data's CDF renormalised
/// above xmin, at the distinct λ ≥ xmin, with the data CDF at x the
/// fraction of λ strictly below x. The first smallest KS among in-range
/// fits wins (among all when none or all are in range); a NaN KS wins as
/// numpy's argmin lets it.
fn xmin_search<F, C>(esd: &[f64], dim: usize, fit: F) -> Option<Candidate>
where
    F: Fn(&[f64], f64) -> (Vec<f64>, bool, C),
    C: Fn(f64) -> f64,
{
    let data: Vec<f64> = if esd.contains(&0.0) {
        esd.iter().copied().filter(|&x| x > 0.0).collect()
    } else {
        esd.to_vec()
    };
    let total = data.len() as f64;
    // Distinct values with the count of data strictly below each.
    let mut bins: Vec<(f64, usize)> = Vec::new();
    for (i, &x) in data.iter().enumerate() {
        if bins.last().is_none_or(|b| b.0 != x) {
            bins.push((x, i));
        }
    }
    if bins.len() < 2 {
        return None;
    }
    let mut fits: Vec<(Candidate, bool)> = Vec::with_capacity(bins.len() - 1);
    for k in 0..bins.len() - 1 {
        let (xmin, below) = bins[k];
        let (params, in_range, cdf) = fit(&data[below..], xmin);
        debug_assert_eq!(params.len(), dim);
        let dropped = below as f64 / total;
        let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut nan = false;
        for &(x, b) in &bins[k..] {
            let actual = (b as f64 / total - dropped) / (1.0 - dropped);
            let diff = cdf(x) - actual;
            nan |= diff.is_nan();
            hi = hi.max(diff);
            lo = lo.min(diff);
        }
        let (d_plus, d_minus) = (hi, -lo);
        let ks = if nan {
            f64::NAN
        } else if d_minus > d_plus {
            d_minus
        } else {
            d_plus
        };
        fits.push((Candidate { params, xmin, ks }, in_range));
    }
    let eligible: Vec<usize> = if fits.iter().any(|f| f.1) && !fits.iter().all(|f| f.1) {
        (0..fits.len()).filter(|&i| fits[i].1).collect()
    } else {
        (0..fits.len()).collect()
    };
    let pick = eligible
        .iter()
        .copied()
        .find(|&i| fits[i].0.ks.is_nan())
        .or_else(|| {
            eligible
                .iter()
                .copied()
                .reduce(|a, b| if fits[b].0.ks < fits[a].0.ks { b } else { a })
        })?;
    Some(fits.swap_remove(pick).0)
}

/// Nelder–Mead as scipy's `optimize.fmin` runs it with `powerlaw`'s
/// defaults (xtol = ftol = 1e-4 absolute, at most 200·dim evaluations and
/// iterations, initial simplex x0 and x0 with one coordinate ×1.05,
/// reflection 1, expansion 2, contraction ½, shrink ½), so that the same
/// objective reaches the same point: its answer is within ~1e-4 of the
/// optimum, not at it. NaN values sort last.
pub fn nelder_mead(f: impl Fn(&[f64]) -> f64, x0: &[f64]) -> Vec<f64> {
    let dim = x0.len();
    let max_calls = 200 * dim;
    let calls = std::cell::Cell::new(0usize);
    let mut eval = |x: &[f64]| -> Option<f64> {
        if calls.get() >= max_calls {
            return None;
        }
        calls.set(calls.get() + 1);
        Some(f(x))
    };
    let mut sim: Vec<Vec<f64>> = vec![x0.to_vec()];
    for k in 0..dim {
        let mut y = x0.to_vec();
        y[k] = if y[k] != 0.0 { 1.05 * y[k] } else { 0.00025 };
        sim.push(y);
    }
    let mut fsim: Vec<f64> = sim
        .iter()
        .map(|x| eval(x).unwrap_or(f64::INFINITY))
        .collect();
    sort_simplex(&mut sim, &mut fsim);
    let mut iterations = 1;
    while calls.get() < max_calls && iterations < max_calls {
        let spread_x = sim[1..]
            .iter()
            .flat_map(|s| s.iter().zip(&sim[0]).map(|(a, b)| (a - b).abs()))
            .fold(f64::NEG_INFINITY, nan_max);
        let spread_f = fsim[1..]
            .iter()
            .map(|v| (fsim[0] - v).abs())
            .fold(f64::NEG_INFINITY, nan_max);
        if spread_x <= 1e-4 && spread_f <= 1e-4 {
            break;
        }
        if nm_iteration(&mut sim, &mut fsim, &mut eval).is_some() {
            iterations += 1;
        }
        sort_simplex(&mut sim, &mut fsim);
    }
    sim.swap_remove(0)
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// One reflection / expansion / contraction / shrink step; `None` when
/// the evaluation budget ran out part way (the simplex is kept as is).
fn nm_iteration(
    sim: &mut [Vec<f64>],
    fsim: &mut [f64],
    eval: &mut impl FnMut(&[f64]) -> Option<f64>,
) -> Option<()> {
    let dim = sim.len() - 1;
    let last = dim;
    let xbar: Vec<f64> = (0..dim)
        .map(|j| sim[..last].iter().map(|s| s[j]).sum::<f64>() / dim as f64)
        .collect();
    let comb = |a: f64, b: f64, worst: &[f64]| -> Vec<f64> {
        xbar.iter().zip(worst).map(|(x, w)| a * x - b * w).collect()
    };
    let xr = comb(2.0, 1.0, &sim[last]);
    let fxr = eval(&xr)?;
    if fxr < fsim[0] {
        let xe = comb(3.0, 2.0, &sim[last]);
        let fxe = eval(&xe)?;
        (sim[last], fsim[last]) = if fxe < fxr { (xe, fxe) } else { (xr, fxr) };
        return Some(());
    }
    if fxr < fsim[last - 1] {
        (sim[last], fsim[last]) = (xr, fxr);
        return Some(());
    }
    let shrink = if fxr < fsim[last] {
        let xc = comb(1.5, 0.5, &sim[last]);
        let fxc = eval(&xc)?;
        let keep = fxc <= fxr;
        if keep {
            (sim[last], fsim[last]) = (xc, fxc);
        }
        !keep
    } else {
        let xcc: Vec<f64> = xbar
            .iter()
            .zip(&sim[last])
            .map(|(x, w)| 0.5 * x + 0.5 * w)
            .collect();
        let fxcc = eval(&xcc)?;
        let keep = fxcc < fsim[last];
        if keep {
            (sim[last], fsim[last]) = (xcc, fxcc);
        }
        !keep
    };
    if shrink {
        for j in 1..=dim {
            let s: Vec<f64> = sim[0]
                .iter()
                .zip(&sim[j])
                .map(|(b, x)| b + 0.5 * (x - b))
                .collect();
            fsim[j] = eval(&s)?;
            sim[j] = s;
        }
    }
    Some(())
}

/// Stable sort by value, NaN last (numpy's argsort on ≤ 16 elements).
fn sort_simplex(sim: &mut Vec<Vec<f64>>, fsim: &mut Vec<f64>) {
    let mut idx: Vec<usize> = (0..fsim.len()).collect();
    idx.sort_by(|&a, &b| match (fsim[a].is_nan(), fsim[b].is_nan()) {
        (false, false) => fsim[a].partial_cmp(&fsim[b]).unwrap(),
        (x, y) => x.cmp(&y),
    });
    *sim = idx.iter().map(|&i| sim[i].clone()).collect();
    *fsim = idx.iter().map(|&i| fsim[i]).collect();
}

/// The upper incomplete gamma function Γ(s, x) = ∫_x^∞ t^{s−1}e^{−t} dt
/// for real s < 1 and x > 0 (mpmath's `gammainc(s, x)`, which `powerlaw`
/// calls with s = 1 − α). x ≥ 1: Legendre's continued fraction by
/// modified Lentz. x < 1: for s₀ = s + ⌊−s⌋ ∈ (−1, 0] the series
/// Γ(s₀, x) = (Γ(1+s₀) − 1)/s₀ − (x^{s₀} − 1)/s₀ − Σ_{n≥1} (−x)^{n+s₀}/(n!(s₀+n)),
/// written with expm1 so that s₀ → 0 (α → 1) keeps full precision, then
/// Γ(a−1, x) = (Γ(a, x) − x^{a−1}e^{−x})/(a−1) down to s. Over- and
/// underflow go to ∞ and 0 as mpmath's float() does.
pub fn upper_gamma(s: f64, x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || s.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return upper_gamma_cf(s, x);
    }
    let steps = (-s).floor().max(0.0);
    let mut a = s + steps;
    if a > 0.0 {
        // 0 < s < 1: Γ(s, x) = (s−1)Γ(s−1, x) + x^{s−1}e^{−x}.
        return (a - 1.0) * upper_gamma(a - 1.0, x) + ((a - 1.0) * x.ln() - x).exp();
    }
    let ln_x = x.ln();
    let gamma_term = if a == 0.0 {
        -EULER_GAMMA
    } else {
        ln_gamma_1p(a).exp_m1() / a
    };
    let power_term = if a == 0.0 {
        ln_x
    } else {
        (a * ln_x).exp_m1() / a
    };
    let xa = (a * ln_x).exp();
    let (mut sum, mut term) = (0.0, 1.0);
    for k in 1..200 {
        let kf = k as f64;
        term *= -x / kf;
        let add = term / (a + kf);
        sum += add;
        if add.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    let mut g = gamma_term - power_term - xa * sum;
    for _ in 0..steps as usize {
        g = (g - ((a - 1.0) * ln_x - x).exp()) / (a - 1.0);
        a -= 1.0;
    }
    g
}

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// ln Γ(1 + a) for a > −1 without forming 1 + a (which would round a
/// to a multiple of 2⁻⁵³, 1e-7 relative at a = 1e-9): for |a| < 0.1 the
/// series −γa + Σ_{k≥2} (−1)^k ζ(k) a^k/k (DLMF 5.7.3), else libm.
fn ln_gamma_1p(a: f64) -> f64 {
    if a.abs() >= 0.1 {
        return libm::lgamma(1.0 + a);
    }
    // ζ(2..=10); above that ζ(k) = 1 + 2^−k + … + 5^−k to < 6^−11.
    const ZETA: [f64; 9] = [
        1.644_934_066_848_226_4,
        1.202_056_903_159_594_3,
        1.082_323_233_711_138_2,
        1.036_927_755_143_37,
        1.017_343_061_984_449,
        1.008_349_277_381_922_8,
        1.004_077_356_197_944_3,
        1.002_008_392_826_082_2,
        1.000_994_575_127_818_1,
    ];
    let mut sum = -EULER_GAMMA * a;
    // ak = (−a)^k
    let mut ak = -a;
    for k in 2..=24 {
        ak *= -a;
        let zeta = ZETA
            .get(k - 2)
            .copied()
            .unwrap_or_else(|| (1..=5).map(|n| (n as f64).powi(-(k as i32))).sum());
        sum += zeta * ak / k as f64;
    }
    sum
}

/// Γ(s, x) for x ≥ 1 by the continued fraction
/// e^{−x}x^s/(x+1−s− 1(1−s)/(x+3−s− 2(2−s)/(x+5−s− …))).
fn upper_gamma_cf(s: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - s;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - s);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (s * x.ln() - x).exp() * h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn effective_rank_of_a_flat_spectrum_is_m_and_hard_rank_counts_above_rtol() {
        // Equal σ: p_i = 1/M, entropy ln M; the 1e-16 guards move it by
        // ~M·1e-16 relative.
        for m in [1usize, 2, 63, 257] {
            let er = effective_rank(&vec![4.0; m]);
            assert!(rel(er, m as f64) < 1e-12, "M = {m}: {er}");
        }
        // One dominant σ: rank → 1.
        assert!(effective_rank(&[1.0, 0.0, 0.0]) < 1.0 + 1e-12);
        // λ > 1e-5·λ_max: 1 and 1e-4 count, 1e-5 (not strictly above),
        // 1e-6 and 0 do not.
        assert_eq!(hard_rank(&[0.0, 1e-6, 1e-5, 1e-4, 1.0], HARD_RANK_RTOL), 2);
    }

    #[test]
    fn tracy_widom_quantiles_match_the_published_table() {
        // β = 1 quantiles tabulated by Tracy & Widom / Bejan (2005) to 4
        // decimals: F₁⁻¹(0.95) = 0.9793, F₁⁻¹(0.99) = 2.0234.
        for (q, want) in [(0.95, 0.9793), (0.99, 2.0234)] {
            let got = tracy_widom1_ppf(q).unwrap();
            assert!(
                (got - want).abs() < 1e-4,
                "F1^-1({q}) = {got}, table {want}"
            );
        }
        // Monotone, and refused outside its range.
        assert!(tracy_widom1_ppf(0.5).unwrap() < tracy_widom1_ppf(0.995).unwrap());
        assert!(tracy_widom1_ppf(1.0).is_none() && tracy_widom1_ppf(0.0).is_none());
        // The bound is μ_NM + s_NM·F₁⁻¹(1 − p), here by hand for N = 5, M = 4.
        let (loc, inv) = (2.0 + 2.0, 0.5 + 0.5);
        let want =
            (0.25 / 5.0) * loc * loc + (0.25 / 5.0) * loc * inv * tracy_widom1_ppf(0.995).unwrap();
        assert!(rel(tw_esd_bound(5, 4, 0.5, 0.005).unwrap(), want) < 1e-15);
    }

    #[test]
    fn upper_gamma_matches_closed_forms() {
        use std::f64::consts::PI;
        // Γ(½, x) = √π erfc(√x); Γ(−½, x) = 2e^{−x}/√x − 2√π erfc(√x);
        // Γ(0, x) = E₁(x), E₁(1) = 0.21938393439552029 (A&S 5.1);
        // Γ(−1, x) = e^{−x}/x − E₁(x). Both branches (x < 1, x ≥ 1) are
        // exercised. 1e-12: the series and the continued fraction
        // converge to ~1e-16; the recurrences lose a few digits at most.
        for x in [0.05f64, 0.3, 0.99, 1.0, 2.5, 17.0] {
            let e = libm::erfc(x.sqrt());
            assert!(rel(upper_gamma(0.5, x), PI.sqrt() * e) < 1e-12, "Γ(½, {x})");
            let want = 2.0 * (-x).exp() / x.sqrt() - 2.0 * PI.sqrt() * e;
            assert!(rel(upper_gamma(-0.5, x), want) < 1e-11, "Γ(−½, {x})");
        }
        let e1 = 0.219_383_934_395_520_29;
        assert!(rel(upper_gamma(0.0, 1.0), e1) < 1e-13);
        assert!(rel(upper_gamma(-1.0, 1.0), (-1.0f64).exp() - e1) < 1e-12);
        // The small-a series joins libm's lgamma at |a| = 0.1, where 1 + a
        // is exact to ~1e-15 relative in a.
        for a in [-0.099_999, 0.099_999, -0.05] {
            assert!(
                rel(ln_gamma_1p(a), libm::lgamma(1.0 + a)) < 1e-12,
                "a = {a}"
            );
        }
        // s → 0⁻ (α → 1⁺) is continuous on both branches.
        for x in [0.3, 5.0] {
            let (a, b) = (upper_gamma(-1e-9, x), upper_gamma(0.0, x));
            assert!(rel(a, b) < 1e-8, "x = {x}: {a} vs {b}");
        }
    }

    #[test]
    fn marchenko_pastur_cdf_integrates_the_density() {
        // σ = 1, ratio ¼: Simpson's rule on the MP density
        // √((b−z)(z−a))/(2π·ratio·z) from a to the midpoint, 20000
        // panels (error ≲ 1e-7 near the square-root edge): within 1e-6.
        let ratio = 0.25f64;
        let (a, b) = ((1.0 - ratio.sqrt()).powi(2), (1.0 + ratio.sqrt()).powi(2));
        let rho =
            |z: f64| ((b - z) * (z - a)).max(0.0).sqrt() / (2.0 * std::f64::consts::PI * ratio * z);
        let mid = 0.5 * (a + b);
        let k = 20000;
        let h = (mid - a) / k as f64;
        let simpson: f64 = (0..=k)
            .map(|i| {
                let w = if i == 0 || i == k {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * rho(a + i as f64 * h)
            })
            .sum::<f64>()
            * h
            / 3.0;
        assert!((marchenko_pastur_cdf(mid, ratio, 1.0) - simpson).abs() < 1e-6);
        assert_eq!(marchenko_pastur_cdf(a, ratio, 1.0), 0.0);
        assert_eq!(marchenko_pastur_cdf(b * 1.01, ratio, 1.0), 1.0);
        // σ scales x by σ².
        assert_eq!(
            marchenko_pastur_cdf(4.0 * mid, ratio, 2.0),
            marchenko_pastur_cdf(mid, ratio, 1.0)
        );
    }

    #[test]
    fn mp_fit_corrects_the_bulk_only_when_the_null_bleeds() {
        // N = 400, M = 100, Q = 4: edge s²(1 + ½)² = 2.25 s².
        let (n, m) = (400, 100);
        let quiet: Vec<f64> = (0..m).map(|i| 0.5 + i as f64 * 0.01).collect();
        let fit = marchenko_pastur_fit(&quiet, 10.0, 1.0, n, m);
        assert_eq!((fit.bulk_std, fit.esd_max), (1.0, 2.25));
        assert_eq!(fit.esd_min, 0.25);
        // One null eigenvalue at 5 bleeds out: s² = (Σ bulk)/M.
        let mut bled = quiet.clone();
        bled[m - 1] = 5.0;
        let s2: f64 = bled[..m - 1].iter().sum::<f64>() / m as f64;
        let fit = marchenko_pastur_fit(&bled, 10.0, 1.0, n, m);
        assert!(rel(fit.bulk_std, s2.sqrt()) < 1e-15);
        assert!(rel(fit.esd_max, 2.25 * s2) < 1e-15);
        // The edge is capped at the spectrum's own λ_max.
        assert_eq!(marchenko_pastur_fit(&quiet, 2.0, 1.0, n, m).esd_max, 2.0);
    }

    #[test]
    fn mp_ks_is_small_on_exact_mp_quantiles() {
        // λ_i at the MP quantiles (i − ½)/M, found by bisection on the CDF:
        // the KS distance of a perfect sample is ½/M (plus the window's
        // renormalisation, ~1/M here): ≤ 2/M.
        let (n, m) = (800usize, 200usize);
        let q = n as f64 / m as f64;
        let ratio = 1.0 / q;
        let esd: Vec<f64> = (0..m)
            .map(|i| {
                let target = (i as f64 + 0.5) / m as f64;
                let (mut lo, mut hi) = (0.0, 4.0);
                for _ in 0..80 {
                    let mid = 0.5 * (lo + hi);
                    if marchenko_pastur_cdf(mid, ratio, 1.0) < target {
                        lo = mid
                    } else {
                        hi = mid
                    }
                }
                0.5 * (lo + hi)
            })
            .collect();
        let fit = marchenko_pastur_fit(&esd, esd[m - 1], 1.0, n, m);
        let ks = mp_ks(&esd, q, &fit);
        assert!(ks <= 2.0 / m as f64, "KS {ks}");
        // A spectrum far from MP scores high.
        let spiky: Vec<f64> = (0..m).map(|i| 0.3 + 1e-3 * i as f64).collect();
        assert!(mp_ks(&spiky, q, &fit) > 0.3);
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum_to_its_tolerance() {
        let f = |p: &[f64]| (p[0] - 3.0).powi(2) + 10.0 * (p[1] + 1.0).powi(2);
        let p = nelder_mead(f, &[1.0, 1.0]);
        // xtol = ftol = 1e-4: the answer is within ~1e-2 of the optimum
        // (ftol on a quadratic bounds the distance by √1e-4).
        assert!(
            (p[0] - 3.0).abs() < 1e-2 && (p[1] + 1.0).abs() < 1e-2,
            "{p:?}"
        );
        let p = nelder_mead(|p: &[f64]| (p[0] - 0.5).powi(2), &[2.0]);
        assert!((p[0] - 0.5).abs() < 1e-2, "{p:?}");
    }

    /// λ at the quantiles (i − ½)/n of an exponential tail above `xmin`.
    fn exponential_quantiles(n: usize, xmin: f64, rate: f64) -> Vec<f64> {
        (0..n)
            .map(|i| xmin - (1.0 - (i as f64 + 0.5) / n as f64).ln() / rate)
            .collect()
    }

    #[test]
    fn exponential_fit_recovers_the_rate_of_an_exponential_sample() {
        // 300 exact quantiles of rate 4 above 0.1: the MLE on any upper
        // tail of such a sample is within a few % of 4 (the quantile grid
        // is not a random draw, so no sampling error beyond ~1/n).
        let esd = exponential_quantiles(300, 0.1, 4.0);
        let f = exponential_fit(&esd).unwrap();
        assert!(rel(f.lambda, 4.0) < 0.05, "{f:?}");
        assert!(f.ks < 0.05 && f.xmin >= esd[0], "{f:?}");
        // Fewer than two distinct values: no fit.
        assert!(exponential_fit(&[0.0, 1.0]).is_none());
        assert!(exponential_fit(&[1.0, 1.0]).is_none());
    }

    #[test]
    fn truncated_power_law_density_is_normalised() {
        // ∫_xmin^∞ Λ^{1−α}/Γ(1−α, Λ xmin) x^{−α}e^{−Λx} dx = 1 for the
        // parameters the fit explores (α near 1 included); Simpson on
        // log-spaced x out to where the integrand is < 1e-14 of its peak.
        for (a, l, xmin) in [(2.5, 3.0, 0.05), (1.000_000_1, 2.0, 0.2), (4.0, 0.1, 1.5)] {
            let c = f64::powf(l, 1.0 - a) / upper_gamma(1.0 - a, l * xmin);
            let (u0, u1) = (f64::ln(xmin), f64::ln(xmin + 40.0 / l));
            let k = 40000;
            let h = (u1 - u0) / k as f64;
            let g = |u: f64| {
                let x = u.exp();
                x * x.powf(-a) * (-l * x).exp() * c
            };
            let total: f64 = (0..=k)
                .map(|i| {
                    let w = if i == 0 || i == k {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * g(u0 + i as f64 * h)
                })
                .sum::<f64>()
                * h
                / 3.0;
            assert!((total - 1.0).abs() < 1e-8, "α {a}, Λ {l}: ∫ = {total}");
        }
    }

    #[test]
    fn truncated_power_law_fit_runs_on_an_exponential_tail() {
        // An exponential tail is a TPL with α → 1: the fit must land in
        // range (α > 1, Λ > 0) with a rate near the true one.
        let esd = exponential_quantiles(120, 0.1, 4.0);
        let f = truncated_power_law_fit(&esd).unwrap();
        assert!(f.alpha > 1.0 && f.lambda > 0.0, "{f:?}");
        assert!(f.ks < 0.1, "{f:?}");
    }

    #[test]
    fn metrics_reject_bad_spectra_and_fill_only_what_was_asked() {
        let opts = DiffractOptions::default();
        assert!(matches!(
            diffract_metrics(&[1.0, 2.0], 5, 3, None, &opts),
            Err(DiffractError::Shape { .. })
        ));
        assert!(matches!(
            diffract_metrics(&[1.0, f64::NAN], 5, 2, None, &opts),
            Err(DiffractError::BadEigenvalue { index: 1, .. })
        ));
        let d = diffract_metrics(&[8.0, 2.0], 4, 2, None, &opts).unwrap();
        assert_eq!((d.esd_max, d.esd_min, d.hard_rank), (2.0, 0.5, 2));
        assert!(d.mp_esd_max.is_none() && d.tw_esd_bound.is_none() && d.expon_lambda.is_none());
    }

    #[test]
    fn permuted_null_keeps_the_entries_and_draws_by_seed() {
        // A rank-one 65×63 matrix (awkward sizes): its permutation is full
        // rank, with the same Σμ = ‖W‖²_F (to 1e-12: f64 Gram round-off).
        let (r, c) = (65, 63);
        let w: Vec<f64> = (0..r * c)
            .map(|i| ((i / c) as f64 + 1.0) * ((i % c) as f64 - 31.0))
            .collect();
        let data = MatrixData {
            bytes: bytemuck::cast_slice(&w),
            dtype: &DType::F64,
            view: View::dense(0, r, c),
        };
        let a = permuted_null("w", &data, NULL_SEED, Par::Seq).unwrap();
        let b = permuted_null("w", &data, NULL_SEED, Par::Seq).unwrap();
        let other = permuted_null("w", &data, 7, Par::Seq).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.evals, other.evals);
        let frob2: f64 = w.iter().map(|x| x * x).sum();
        assert!(rel(a.evals.iter().sum::<f64>(), frob2) < 1e-12);
        assert!(
            a.evals[1] > 1e-6 * a.evals[0],
            "the permutation broke the rank-one structure"
        );
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        let var = w.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / w.len() as f64;
        assert!(rel(a.weights_std, var.sqrt()) < 1e-13);
        // NaN weights are an error naming the tensor.
        let mut bad = w.clone();
        bad[5] = f64::NAN;
        let data = MatrixData {
            bytes: bytemuck::cast_slice(&bad),
            ..data
        };
        let e = permuted_null("layer.w", &data, 1, Par::Seq).unwrap_err();
        assert!(e.to_string().contains("layer.w"), "{e}");
    }
}
