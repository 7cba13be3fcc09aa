//! The noise floor of a weight spectrum: the level σ of i.i.d. noise per
//! weight (from an init snapshot, or from the median eigenvalue), the
//! Marchenko–Pastur bulk edge with its Tracy–Widom finite-size margin, the
//! Gavish–Donoho hard threshold, and the spiked-model (BBP) maps between a
//! signal mode θ and what is observed in noise: the outlier eigenvalue and
//! the singular-vector overlaps.
//!
//! Conventions: one view is N×M with N ≥ M, noise entries have variance σ²,
//! μ = σ_k(W)² (eigenvalues of the M×M Gram, not normalized). In these units
//! the noise eigenvalues follow Nσ²·MP(β), β = M/N. Formulas: Marchenko &
//! Pastur (1967); Johnstone (2001) for the Tracy–Widom centring and scale;
//! Benaych-Georges & Nadakuditi (2012) for the outliers and overlaps;
//! Gavish & Donoho (2014) for the threshold and the median-based σ.
//! Never reads files.

use serde::Serialize;

/// The 95% quantile of the Tracy–Widom β=1 law (Johnstone 2001, table 1).
pub const TW1_Q95: f64 = 0.9793;

/// The sides of one view: n = long side, m = short side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dims {
    pub n: usize,
    pub m: usize,
}

impl Dims {
    /// From rows and columns in either order.
    pub fn of(rows: usize, cols: usize) -> Dims {
        Dims {
            n: rows.max(cols),
            m: rows.min(cols),
        }
    }
    pub fn beta(&self) -> f64 {
        self.m as f64 / self.n as f64
    }
    fn nf(&self) -> f64 {
        self.n as f64
    }
    fn mf(&self) -> f64 {
        self.m as f64
    }
}

/// Where σ came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSource {
    /// The RMS entry of the same matrix in an init snapshot.
    Init,
    /// The median eigenvalue matched to the Marchenko–Pastur median.
    Median,
}

impl NoiseSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseSource::Init => "init",
            NoiseSource::Median => "median",
        }
    }
}

/// The noise floor of one spectrum. Thresholds are in μ units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoiseFloor {
    pub sigma: f64,
    pub sigma_se: f64,
    pub source: NoiseSource,
    /// Marchenko–Pastur bulk edge σ²(√N+√M)².
    pub mp_edge: f64,
    /// The edge plus the Tracy–Widom 95% margin: a bulk eigenvalue exceeds
    /// it with probability ≈ 5%. "Above the noise floor" means above this.
    pub noise_edge: f64,
    /// Gavish–Donoho optimal hard threshold (squared singular value).
    pub gd_threshold: f64,
    /// BBP detectability of a signal mode θ: σ²√(NM) (singular value
    /// σ·(NM)^(1/4)); a mode above it produces an outlier above the edge.
    pub bbp_threshold: f64,
    /// Eigenvalues above `noise_edge` and above `gd_threshold`.
    pub k_noise: usize,
    pub k_gd: usize,
    /// The clean floor: σ²(N+M)/[`CLEAN_INFLATION`], where noise inflates
    /// an outlier by at most that fraction (first order of the BBP map).
    pub clean_floor: f64,
    /// Modes above both the noise edge and the clean floor: the range the
    /// rank-decay fits use.
    pub k_clean: usize,
}

/// Largest first-order noise inflation σ²(N+M)/θ of a mode that the
/// rank-decay fits accept: 10%.
pub const CLEAN_INFLATION: f64 = 0.1;

/// σ²(√N+√M)².
pub fn mp_edge(sigma2: f64, d: Dims) -> f64 {
    sigma2 * (d.nf().sqrt() + d.mf().sqrt()).powi(2)
}

/// The Tracy–Widom scale of the largest noise eigenvalue,
/// σ²(√N+√M)(1/√N+1/√M)^(1/3) (Johnstone's σ_np with n−1 → N).
pub fn tw_scale(sigma2: f64, d: Dims) -> f64 {
    let (sn, sm) = (d.nf().sqrt(), d.mf().sqrt());
    sigma2 * (sn + sm) * (1.0 / sn + 1.0 / sm).cbrt()
}

/// The MP edge plus the TW 95% margin.
pub fn noise_edge(sigma2: f64, d: Dims) -> f64 {
    mp_edge(sigma2, d) + TW1_Q95 * tw_scale(sigma2, d)
}

/// BBP threshold on a signal mode θ = s², in μ units: σ²√(NM).
pub fn bbp_threshold(sigma2: f64, d: Dims) -> f64 {
    sigma2 * (d.nf() * d.mf()).sqrt()
}

/// Gavish–Donoho λ*(β): the optimal hard threshold on singular values is
/// λ*(β)·√N·σ when σ is known.
pub fn gd_lambda_star(beta: f64) -> f64 {
    (2.0 * (beta + 1.0) + 8.0 * beta / ((beta + 1.0) + (beta * beta + 14.0 * beta + 1.0).sqrt()))
        .sqrt()
}

/// Where a signal mode θ above the BBP threshold appears in noise σ²:
/// θ + σ²(N+M) + σ⁴NM/θ. Below the threshold the mode is absorbed in the
/// bulk and this returns the edge.
pub fn bbp_outlier(theta: f64, sigma2: f64, d: Dims) -> f64 {
    if theta <= bbp_threshold(sigma2, d) {
        return mp_edge(sigma2, d);
    }
    theta + sigma2 * (d.nf() + d.mf()) + sigma2 * sigma2 * d.nf() * d.mf() / theta
}

/// The inverse of [`bbp_outlier`]: the signal θ behind an observed outlier
/// μ, or `None` when μ is inside the bulk (μ ≤ edge).
pub fn bbp_signal(mu: f64, sigma2: f64, d: Dims) -> Option<f64> {
    let p = mu - sigma2 * (d.nf() + d.mf());
    let disc = p * p - 4.0 * sigma2 * sigma2 * d.nf() * d.mf();
    (p > 0.0 && disc >= 0.0).then(|| 0.5 * (p + disc.sqrt()))
}

/// Squared cosines between a signal mode θ's singular vectors and the
/// observed ones, (short side, long side) (Gavish–Donoho 2014 eq. 9–10 in
/// these units: x⁴ = θ²/(σ⁴N²)): c² = (x⁴−β)/(x⁴+βx²) on the short side,
/// c̃² = (x⁴−β)/(x⁴+x²) on the long side; 0 below the BBP threshold.
pub fn bbp_overlap2(theta: f64, sigma2: f64, d: Dims) -> (f64, f64) {
    let x2 = theta / (sigma2 * d.nf());
    let x4 = x2 * x2;
    let beta = d.beta();
    if x4 <= beta || !x2.is_finite() {
        return if x2.is_infinite() {
            (1.0, 1.0)
        } else {
            (0.0, 0.0)
        };
    }
    ((x4 - beta) / (x4 + beta * x2), (x4 - beta) / (x4 + x2))
}

/// The Marchenko–Pastur law with ratio β ∈ (0, 1] and unit variance:
/// density √((λ₊−t)(t−λ₋))/(2πβt) on [λ₋, λ₊], λ± = (1±√β)².
/// Integrated in the angle φ, t = λ₋ + (λ₊−λ₋)(1−cos φ)/2, where the
/// integrand ((λ₊−λ₋)²/4)·sin²φ/(2πβ t) is smooth (even at β = 1, where
/// t ~ φ² cancels sin²φ), so composite Simpson converges fast.
struct MpTable {
    lo: f64,
    hi: f64,
    /// Cumulative distribution at φ_i = π·i/STEPS.
    cdf: Vec<f64>,
}

const MP_STEPS: usize = 2048;

impl MpTable {
    fn new(beta: f64) -> MpTable {
        let sb = beta.sqrt();
        let (lo, hi) = ((1.0 - sb).powi(2), (1.0 + sb).powi(2));
        let w = hi - lo;
        let h = std::f64::consts::PI / MP_STEPS as f64;
        let g = |phi: f64| {
            let t = lo + w * (1.0 - phi.cos()) / 2.0;
            let s = phi.sin();
            if t <= 0.0 {
                // β = 1, φ = 0: t ≈ wφ²/4 and sin²φ ≈ φ², so sin²φ/t → 4/w.
                return w * w / 4.0 * (4.0 / w) / (2.0 * std::f64::consts::PI * beta);
            }
            w * w / 4.0 * s * s / (2.0 * std::f64::consts::PI * beta * t)
        };
        // Simpson on each pair of steps, cumulated at even nodes; odd nodes
        // get the trapezoid-corrected half (interpolated linearly below).
        let mut cdf = vec![0.0; MP_STEPS + 1];
        let mut acc = 0.0;
        let mut i = 0;
        while i < MP_STEPS {
            let (a, m, b) = (
                g(i as f64 * h),
                g((i + 1) as f64 * h),
                g((i + 2) as f64 * h),
            );
            let half = h / 12.0 * (5.0 * a + 8.0 * m - b);
            cdf[i + 1] = acc + half;
            acc += h / 3.0 * (a + 4.0 * m + b);
            cdf[i + 2] = acc;
            i += 2;
        }
        MpTable { lo, hi, cdf }
    }

    fn t_of(&self, phi: f64) -> f64 {
        self.lo + (self.hi - self.lo) * (1.0 - phi.cos()) / 2.0
    }

    /// The quantile: t with CDF(t) = p.
    fn quantile(&self, p: f64) -> f64 {
        let total = *self.cdf.last().unwrap();
        let target = p * total; // normalise away the (tiny) quadrature error
        let i = self.cdf.partition_point(|&c| c < target).clamp(1, MP_STEPS);
        let (c0, c1) = (self.cdf[i - 1], self.cdf[i]);
        let h = std::f64::consts::PI / MP_STEPS as f64;
        let frac = if c1 > c0 {
            (target - c0) / (c1 - c0)
        } else {
            0.0
        };
        self.t_of(((i - 1) as f64 + frac) * h)
    }
}

/// The median of the unit-variance MP law with ratio β ∈ (0, 1].
pub fn mp_median(beta: f64) -> f64 {
    mp_quantiles(beta, &[0.5])[0]
}

/// Quantiles of the unit-variance MP law with ratio β ∈ (0, 1] (one table
/// for all of them).
pub fn mp_quantiles(beta: f64, p: &[f64]) -> Vec<f64> {
    let t = MpTable::new(beta.clamp(1e-9, 1.0));
    p.iter().map(|&p| t.quantile(p.clamp(0.0, 1.0))).collect()
}

/// The unit-variance MP density at t.
pub fn mp_density(beta: f64, t: f64) -> f64 {
    let sb = beta.sqrt();
    let (lo, hi) = ((1.0 - sb).powi(2), (1.0 + sb).powi(2));
    if t <= lo || t >= hi {
        return 0.0;
    }
    ((hi - t) * (t - lo)).sqrt() / (2.0 * std::f64::consts::PI * beta * t)
}

/// The median of a descending slice.
fn median_desc(mu: &[f64]) -> f64 {
    let n = mu.len();
    if n % 2 == 1 {
        mu[n / 2]
    } else {
        0.5 * (mu[n / 2 - 1] + mu[n / 2])
    }
}

/// The noise floor of a descending spectrum of `views` pooled N×M views
/// (one for an ordinary matrix). With `sigma_init` (the RMS entry of the
/// init snapshot) σ is that; otherwise σ² = median(μ)/(N·m_β), the
/// Gavish–Donoho median estimator with the outliers excluded iteratively
/// (`median_sigma2`), which assumes most modes are noise.
pub fn noise_floor(mu: &[f64], d: Dims, sigma_init: Option<f64>) -> NoiseFloor {
    let count = mu.len().max(1) as f64;
    let (sigma, sigma_se, source) = match sigma_init {
        Some(s) => {
            // χ² with M·N·views degrees of freedom: se(σ)/σ = 1/√(2·entries).
            let entries = count * d.nf();
            (s, s / (2.0 * entries).sqrt(), NoiseSource::Init)
        }
        None => {
            let (sigma2, bulk) = median_sigma2(mu, d);
            // Sample median of `bulk` i.i.d. draws: se = 1/(2f(m)√bulk)
            // in MP units. Eigenvalues repel, so the real spread is smaller:
            // this errs on the wide side. se(σ)/σ = se(σ²)/(2σ²).
            let beta = d.beta();
            let med = mp_median(beta);
            let f = mp_density(beta, med).max(1e-12);
            let rel = 1.0 / (4.0 * f * med * (bulk.max(1) as f64).sqrt());
            (sigma2.sqrt(), sigma2.sqrt() * rel, NoiseSource::Median)
        }
    };
    let s2 = sigma * sigma;
    let edge = noise_edge(s2, d);
    let gd = (gd_lambda_star(d.beta()) * d.nf().sqrt() * sigma).powi(2);
    let clean = s2 * (d.nf() + d.mf()) / CLEAN_INFLATION;
    NoiseFloor {
        sigma,
        sigma_se,
        source,
        mp_edge: mp_edge(s2, d),
        noise_edge: edge,
        gd_threshold: gd,
        bbp_threshold: bbp_threshold(s2, d),
        k_noise: count_above(mu, edge),
        k_gd: count_above(mu, gd),
        clean_floor: clean,
        k_clean: count_above(mu, clean.max(edge)),
    }
}

/// Most iterations of the outlier-excluding median; it converged in 2–4 on
/// the spectra tried, and the cap only guards against a cycle.
const MEDIAN_ITERATIONS: usize = 20;

/// σ² from the median of the bulk: σ² = median(μ_{k+1..})/(N·m_β), where k
/// is the count of outliers above the noise edge that σ² itself implies,
/// iterated from k = 0 (plain Gavish–Donoho) to a fixed point. A rank-r
/// signal shifts the median of the whole spectrum up by ≈ r/2 ranks of the
/// bulk; by interlacing, the median of the M − r eigenvalues left after
/// the outliers sits at the noise median again. Outliers are never allowed
/// to exceed half the spectrum (the estimator assumes most modes are
/// noise). Returns σ² and the bulk size used.
fn median_sigma2(mu: &[f64], d: Dims) -> (f64, usize) {
    let m_beta = mp_median(d.beta());
    let sigma2_of = |k: usize| median_desc(&mu[k..]).max(0.0) / (d.nf() * m_beta);
    let mut k = 0;
    let mut sigma2 = sigma2_of(0);
    for _ in 0..MEDIAN_ITERATIONS {
        let next = count_above(mu, noise_edge(sigma2, d)).min(mu.len() / 2);
        if next == k {
            break;
        }
        k = next;
        sigma2 = sigma2_of(k);
    }
    (sigma2, mu.len() - k)
}

/// #{k : μ_k > t} for a descending spectrum.
pub fn count_above(mu: &[f64], t: f64) -> usize {
    mu.partition_point(|&v| v > t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn mp_law_integrates_to_one_and_has_known_quantiles() {
        for beta in [0.05, 0.25, 0.5, 0.9, 1.0] {
            let t = MpTable::new(beta);
            // Simpson with 2048 steps on a smooth periodic-like integrand:
            // the total is 1 to ~1e-9 (far tighter than the 1e-6 asked).
            let total = *t.cdf.last().unwrap();
            assert!((total - 1.0).abs() < 1e-6, "β={beta}: {total}");
            let med = t.quantile(0.5);
            assert!(med > t.lo && med < t.hi);
        }
        // β = 1 has a closed form: with t = 4·sin²θ the CDF is
        // (2/π)(θ + sinθ·cosθ), so the median solves θ + sin(2θ)/2 = π/4
        // (Newton below, an independent route to the same number).
        let mut th = 0.5f64;
        for _ in 0..50 {
            let f = th + (2.0 * th).sin() / 2.0 - std::f64::consts::FRAC_PI_4;
            th -= f / (1.0 + (2.0 * th).cos());
        }
        let direct = 4.0 * th.sin().powi(2);
        // Simpson in φ with 2048 steps plus linear interpolation between
        // nodes: quantile error ≲ 1e-7.
        assert!((mp_median(1.0) - direct).abs() < 1e-6, "{direct}");
    }

    #[test]
    fn median_estimator_recovers_sigma_of_pure_noise() {
        // 900×300 Gaussian with σ = 0.02: the sample median of MP
        // eigenvalues fluctuates by ~1/M relative (rigidity), so 2% is
        // generous; the reported se (i.i.d. formula) must cover the error.
        let w = synth::gaussian(900, 300, 0.02, &mut synth::rng(11));
        let mut mu: Vec<f64> = w.singular_values().unwrap().iter().map(|s| s * s).collect();
        mu.sort_by(|a, b| b.total_cmp(a));
        let nf = noise_floor(&mu, Dims::of(900, 300), None);
        assert!((nf.sigma / 0.02 - 1.0).abs() < 0.02, "σ̂ = {}", nf.sigma);
        assert!((nf.sigma - 0.02).abs() < 3.0 * nf.sigma_se);
        // Pure noise: nothing (or at most the 5% TW excursion) above the edge.
        assert!(nf.k_noise <= 1, "{}", nf.k_noise);
        assert_eq!(nf.k_gd, 0);
    }

    #[test]
    fn bbp_maps_invert_each_other() {
        let d = Dims::of(700, 250);
        let s2 = 0.3;
        let thr = bbp_threshold(s2, d);
        for f in [1.01, 1.5, 4.0, 100.0] {
            let theta = f * thr;
            let mu = bbp_outlier(theta, s2, d);
            assert!(mu > mp_edge(s2, d));
            let back = bbp_signal(mu, s2, d).unwrap();
            assert!((back / theta - 1.0).abs() < 1e-9, "{f}: {back} vs {theta}");
        }
        assert_eq!(bbp_signal(0.99 * mp_edge(s2, d), s2, d), None);
        // At the threshold the outlier sits exactly on the edge.
        let at = thr * (1.0 + 1e-12);
        assert!((bbp_outlier(at, s2, d) / mp_edge(s2, d) - 1.0).abs() < 1e-9);
        // Square case: c² = 1 − σ²N/θ·… = 1 − 1/x².
        let sq = Dims::of(400, 400);
        let (c, ct) = bbp_overlap2(3.0 * 400.0, 1.0, sq);
        assert!((c - (1.0 - 1.0 / 3.0)).abs() < 1e-12 && (c - ct).abs() < 1e-12);
        assert_eq!(bbp_overlap2(0.5 * 400.0, 1.0, sq), (0.0, 0.0));
    }

    #[test]
    fn gd_threshold_of_a_square_matrix_is_four_over_root_three() {
        assert!((gd_lambda_star(1.0) - 4.0 / 3f64.sqrt()).abs() < 1e-12);
    }
}
