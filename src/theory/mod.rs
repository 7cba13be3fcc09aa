//! The mode model's predictions for one matrix: pruning (spectral
//! truncation), quantization (spectral perturbation), both combined, and
//! the per-matrix theory columns `analyze` reports (b, k_*, density, s_c,
//! k_q at 4 and 8 bits). Everything here is computed from a spectrum, the
//! fitted estimates (`fit::framework`) and, for quantization, the ranges of
//! the weights; `verify` checks the predictions against real compression.
//!
//! Definitions and the reasoning behind them: docs/theory.md.

pub mod curves;
pub mod prune;
pub mod quant;
pub mod verify;

use crate::fit::noise::{Dims, bbp_outlier, bbp_threshold};
use crate::fit::{Estimated, SpectralFit, Unavailable, Verdict};
use prune::{LossModel, Phase, truncation_energy};
use quant::{CURVE_BITS, QuantSpec, RangeStats, k_bbp, k_overlap, k_weyl};
use serde::Serialize;

/// How many modes to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    Rank(usize),
    /// r = ⌊(1 − s)·M⌋.
    Sparsity(f64),
}

/// A compression to predict: a rank, a quantizer, or both (truncate, then
/// quantize).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Request {
    pub keep: Option<Keep>,
    pub quant: Option<QuantSpec>,
}

/// The quantization part of a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuantPrediction {
    pub bits: u32,
    /// σ_q² = mean Δ²/12 and the RMS step.
    pub sigma_q2: f64,
    pub rms_step: f64,
    /// Survivors: BBP, Weyl, and singular-vector overlap > 0.5.
    pub k_bbp: usize,
    pub k_weyl: usize,
    pub k_overlap: usize,
    /// Predicted ‖W − Q(W)‖²/‖W‖² = N·M·σ_q²/Σμ.
    pub err_rel: f64,
}

/// One point of the predicted loss curve over bit widths.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub bits: u32,
    pub sigma_q2: f64,
    pub k_bbp: usize,
    pub k_weyl: usize,
    pub err_rel: f64,
    /// ΔL/C and ΔL/ΔL_max when the loss model is available.
    pub dl: Option<f64>,
    pub dl_frac: Option<f64>,
}

/// Everything predicted for one matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Modes kept by truncation (before quantization).
    pub rank: Option<usize>,
    /// Σ_{k>r} μ_k/Σμ, exact.
    pub trunc_energy: Option<f64>,
    pub quant: Option<QuantPrediction>,
    /// Modes that survive the whole compression: r, k_q(BBP), or
    /// min(r, k_q) when combined.
    pub kept: usize,
    /// Predicted ‖W − W'‖²/‖W‖² (truncation energy plus quantization noise,
    /// which is independent of it to first order).
    pub err_rel: f64,
    /// The loss model (a from reading B, k_*), or why there is none.
    pub model: Estimated<LossModel>,
    /// Modes above the noise floor: learned signal, whether or not the
    /// frontier counts them. Truncating below this count is never a
    /// plateau.
    pub k_signal: Option<usize>,
    /// ΔL/C and its fraction of the largest damage ΔL(0)/C.
    pub dl: Option<f64>,
    pub dl_frac: Option<f64>,
    /// Pruning phase at `rank` (truncation requests only).
    pub phase: Option<Phase>,
    /// Predicted μ'_1/μ_1 − 1 and the median of μ'_k/μ_k − 1 over k ≤ kept
    /// (BBP outlier map for quantization; 0 for pure truncation).
    pub shift_top: f64,
    pub shift_kept: Option<f64>,
    /// The loss curve for B = 2…8 with the requested scheme and
    /// granularity (quantization requests only).
    pub curve: Vec<CurvePoint>,
}

/// Modes above the noise floor (at most `modes`).
fn signal_modes(fit: &SpectralFit, modes: usize) -> Option<usize> {
    fit.noise.as_ref().ok().map(|n| n.k_noise.min(modes))
}

/// The loss model predictions use: [`loss_model`], with every mode above
/// the noise floor counted as learned. Such modes carry signal whether or
/// not the fitted frontier counts them (THEORY.md §5, "Plateau"), so
/// cutting one is never free.
pub fn learned_model(fit: &SpectralFit, modes: usize) -> Estimated<LossModel> {
    let k_signal = signal_modes(fit, modes).unwrap_or(0);
    loss_model(fit).map(|m| LossModel {
        k_star: m.k_star.max(k_signal),
        ..m
    })
}

impl Prediction {
    /// Whether the loss prediction may be used, and why not.
    pub fn verdict(&self) -> (Verdict, String) {
        match &self.model {
            Ok(_) => (Verdict::Valid, String::new()),
            Err(e) => (e.verdict(), e.to_string()),
        }
    }

    /// ΔL in the loss's own units (docs/theory.md §4.3): the learned modes
    /// account for the loss training has removed, `drop` = L(0) − L(T) =
    /// C·Σ_{k≤k_*} k^(−a), so C = drop/ΔL_max and ΔL = drop·ΔL/ΔL_max.
    /// None without a valid loss model.
    pub fn dl_in_loss_units(&self, drop: f64) -> Option<f64> {
        self.model.as_ref().ok()?;
        self.dl_frac.filter(|_| drop.is_finite()).map(|f| drop * f)
    }
}

/// The model-level ΔL of compressing several matrices at once, each
/// undoing the fraction f_m of its learned loss: drop·[1 − Π_m (1 − f_m)]
/// (the matrices' learned structure lost independently: additive for
/// small fractions, never more than the loss training removed).
pub fn combined_loss(drop: f64, fractions: impl IntoIterator<Item = f64>) -> f64 {
    let kept: f64 = fractions
        .into_iter()
        .map(|f| 1.0 - f.clamp(0.0, 1.0))
        .product();
    drop * (1.0 - kept)
}

/// The framework's loss model from a fit: a under reading (B) and k_*.
/// Only inside the theory's domain (THEORY.md §5): a > 1, with an error
/// bar that does not reach 1; otherwise why not, which is the prediction's
/// verdict (`out_of_domain`, `unresolved`).
pub fn loss_model(fit: &SpectralFit) -> Estimated<LossModel> {
    let a = fit.reading_b.as_ref().map_err(|e| Unavailable::Needs {
        what: "a (reading B)",
        why: e.to_string(),
    })?;
    if a.a.value <= 1.0 {
        return Err(Unavailable::OutOfDomain { a: a.a.value });
    }
    if a.a.value - a.a.stderr <= 1.0 {
        return Err(Unavailable::Unresolved {
            a: a.a.value,
            err: a.a.stderr,
        });
    }
    let k_star = fit.k_star().ok_or_else(|| Unavailable::Needs {
        what: "k_*",
        why: fit
            .frontier
            .as_ref()
            .err()
            .map_or_else(String::new, |e| e.to_string()),
    })?;
    Ok(LossModel {
        a: a.a.value,
        k_star,
    })
}

/// Predicts one compression of a matrix with descending spectrum `mu`
/// (views of size `d`), its fit, and (for quantization) its weight ranges
/// under the requested scheme and granularity.
pub fn predict(
    mu: &[f64],
    d: Dims,
    fit: &SpectralFit,
    req: &Request,
    ranges: Option<&RangeStats>,
) -> Prediction {
    let modes = mu.len();
    let total: f64 = mu.iter().sum();
    let k_signal = signal_modes(fit, modes);
    let model = learned_model(fit, modes);
    let rank = req.keep.map(|k| match k {
        Keep::Rank(r) => r.min(modes),
        Keep::Sparsity(s) => prune::rank_for_sparsity(modes, s),
    });
    let trunc_energy = rank.map(|r| truncation_energy(mu, r));
    let entries = (d.n * d.m) as f64 * (modes / d.m.max(1)).max(1) as f64;
    let quant_at = |spec: &QuantSpec, st: &RangeStats| {
        let s2 = st.noise_variance(spec);
        QuantPrediction {
            bits: spec.bits,
            sigma_q2: s2,
            rms_step: st.rms_step(spec),
            k_bbp: k_bbp(mu, s2, d),
            k_weyl: k_weyl(mu, s2, d),
            k_overlap: k_overlap(mu, s2, d),
            err_rel: if total > 0.0 {
                entries * s2 / total
            } else {
                0.0
            },
        }
    };
    let quant = match (&req.quant, ranges) {
        (Some(q), Some(st)) => Some(quant_at(q, st)),
        _ => None,
    };
    let kept = match (rank, &quant) {
        (Some(r), Some(q)) => r.min(q.k_bbp),
        (Some(r), None) => r,
        (None, Some(q)) => q.k_bbp,
        (None, None) => modes,
    };
    let s2 = quant.map_or(0.0, |q| q.sigma_q2);
    let err_rel = trunc_energy.unwrap_or(0.0) + quant.map_or(0.0, |q| q.err_rel);
    let (dl, dl_frac) = match &model {
        Ok(m) => {
            let dl = quant::loss(m, mu, kept, s2, d);
            let max = m.max_damage();
            (Some(dl), (max > 0.0).then(|| dl / max))
        }
        Err(_) => (None, None),
    };
    let phase = match (&model, rank) {
        (Ok(m), Some(r)) => Some(m.phase(r)),
        _ => None,
    };
    let shift = |k: usize| {
        if s2 > 0.0 && mu[k] > bbp_threshold(s2, d) {
            bbp_outlier(mu[k], s2, d) / mu[k] - 1.0
        } else {
            0.0
        }
    };
    let shift_top = if modes > 0 { shift(0) } else { 0.0 };
    let shift_kept = (kept > 0).then(|| {
        let mut v: Vec<f64> = (0..kept.min(modes)).map(shift).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    });
    let curve = match (&req.quant, ranges) {
        (Some(q), Some(st)) => CURVE_BITS
            .map(|b| {
                let p = quant_at(&q.with_bits(b), st);
                let kept_b = rank.map_or(p.k_bbp, |r| r.min(p.k_bbp));
                let (dl, dl_frac) = match &model {
                    Ok(m) => {
                        let dl = quant::loss(m, mu, kept_b, p.sigma_q2, d);
                        let max = m.max_damage();
                        (Some(dl), (max > 0.0).then(|| dl / max))
                    }
                    Err(_) => (None, None),
                };
                CurvePoint {
                    bits: b,
                    sigma_q2: p.sigma_q2,
                    k_bbp: p.k_bbp,
                    k_weyl: p.k_weyl,
                    err_rel: trunc_energy.unwrap_or(0.0) + p.err_rel,
                    dl,
                    dl_frac,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Prediction {
        rank,
        trunc_energy,
        quant,
        kept,
        err_rel,
        model,
        k_signal,
        dl,
        dl_frac,
        phase,
        shift_top,
        shift_kept,
        curve,
    }
}

/// The theory columns of an `analyze` row. Numbers are `None` (empty in
/// CSV, null in JSON) when unavailable, never NaN; `theory_status` says
/// why.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TheoryColumns {
    /// Weights in the matrix (all pooled views).
    pub params: u64,
    pub b: Option<f64>,
    pub b_err: Option<f64>,
    pub b_kmin: Option<usize>,
    pub b_kmax: Option<usize>,
    /// The b window lies in the clean range (noise inflation ≤ 10%).
    pub b_clean: Option<bool>,
    pub b_hill: Option<f64>,
    /// Hill's estimate of b: its standard error.
    pub b_hill_err: Option<f64>,
    /// 1/(α−1) and b·(α−1).
    pub b_alpha: Option<f64>,
    /// 1/(α−1): its standard error.
    pub b_alpha_err: Option<f64>,
    pub b_alpha_ratio: Option<f64>,
    pub noise_sigma: Option<f64>,
    /// Standard error of σ.
    pub noise_sigma_err: Option<f64>,
    /// `init` or `median` (docs/theory.md §3.3).
    pub noise_source: String,
    /// Marchenko–Pastur bulk edge σ²(√N+√M)² and the noise edge (plus the
    /// Tracy–Widom 95% margin), in μ units.
    pub mp_edge: Option<f64>,
    pub noise_edge: Option<f64>,
    pub k_noise: Option<usize>,
    /// Modes above the Gavish–Donoho optimal hard threshold.
    pub k_gd: Option<usize>,
    pub k_star: Option<usize>,
    pub k_star_err: Option<f64>,
    /// `break` or `noise_floor`.
    pub k_star_source: String,
    /// The best two-slope fit, accepted or not: break rank, slopes before
    /// and after, ΔBIC over one power law.
    pub break_k: Option<f64>,
    pub break_s1: Option<f64>,
    pub break_s2: Option<f64>,
    pub break_dbic: Option<f64>,
    /// The theory's D = k_*/M (the peer's column `D` is the KS distance).
    pub density: Option<f64>,
    pub s_c: Option<f64>,
    /// Reading (B): a and b from the broken power law.
    pub a: Option<f64>,
    /// Reading (B): standard error of a.
    pub a_err: Option<f64>,
    pub b_reading_b: Option<f64>,
    /// Surviving modes (BBP) at 4 and 8 bits, symmetric per channel.
    pub k_q4: Option<usize>,
    pub k_q8: Option<usize>,
    /// `ok`, or the first reason an estimate is missing.
    pub theory_status: String,
    /// Whether the matrix's loss model (a, k_*) may be used for loss
    /// predictions: `valid`, `out_of_domain` (a ≤ 1) or `unresolved`; the
    /// reason is `theory_reason`.
    pub theory_verdict: Verdict,
    pub theory_reason: String,
}

/// The quantizer `analyze` reports k_q for: symmetric, per output channel.
pub fn analyze_quantizer(bits: u32) -> QuantSpec {
    QuantSpec {
        bits,
        scheme: quant::Scheme::Sym,
        granularity: quant::Granularity::Channel,
        group: quant::DEFAULT_GROUP,
    }
}

impl TheoryColumns {
    /// From a descending spectrum and its fit; `ranges` are the symmetric
    /// per-channel ranges of the weights (for k_q).
    pub fn new(
        mu: &[f64],
        fit: &SpectralFit,
        params: u64,
        ranges: Option<&RangeStats>,
    ) -> TheoryColumns {
        let mu_kq = |bits: u32| {
            ranges.map(|st| k_bbp(mu, st.noise_variance(&analyze_quantizer(bits)), fit.dims))
        };
        let rd = fit.rank_decay.as_ref().ok();
        let nf = fit.noise.as_ref().ok();
        let fr = fit.frontier.as_ref().ok();
        let rb = fit.reading_b.as_ref().ok();
        let bp = fit.broken.as_ref().ok();
        let status = [
            fit.rank_decay.as_ref().err(),
            fit.frontier.as_ref().err(),
            fit.noise.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .next()
        .map_or_else(|| "ok".to_string(), |e| e.to_string());
        TheoryColumns {
            params,
            b: rd.map(|r| r.b.value),
            b_err: rd.map(|r| r.b.stderr),
            b_kmin: rd.map(|r| r.b.window.k_min),
            b_kmax: rd.map(|r| r.b.window.k_max),
            b_clean: rd.map(|_| fit.fit_cap_clean),
            b_hill: fit.b_hill.as_ref().ok().map(|e| e.value),
            b_hill_err: fit.b_hill.as_ref().ok().map(|e| e.stderr),
            b_alpha: fit.b_alpha.as_ref().ok().map(|e| e.value),
            b_alpha_err: fit.b_alpha.as_ref().ok().map(|e| e.stderr),
            b_alpha_ratio: fit.b_alpha_ratio,
            noise_sigma: nf.map(|n| n.sigma),
            noise_sigma_err: nf.map(|n| n.sigma_se),
            noise_source: nf.map_or("", |n| n.source.as_str()).to_string(),
            mp_edge: nf.map(|n| n.mp_edge),
            noise_edge: nf.map(|n| n.noise_edge),
            k_noise: nf.map(|n| n.k_noise),
            k_gd: nf.map(|n| n.k_gd),
            k_star: fit.k_star(),
            k_star_err: fr.map(|f| f.k_star.stderr),
            k_star_source: fr.map_or("", |f| f.source.as_str()).to_string(),
            break_k: bp.map(|f| f.k_break.value),
            break_s1: bp.map(|f| f.s1.value),
            break_s2: bp.map(|f| f.s2.value),
            break_dbic: bp.map(|f| f.dbic),
            density: fr.map(|f| f.density),
            s_c: fr.map(|f| f.s_c),
            a: rb.map(|r| r.a.value),
            a_err: rb.map(|r| r.a.stderr),
            b_reading_b: rb.map(|r| r.b.value),
            k_q4: mu_kq(4),
            k_q8: mu_kq(8),
            theory_status: status,
            theory_verdict: match loss_model(fit) {
                Ok(_) => Verdict::Valid,
                Err(ref e) => e.verdict(),
            },
            theory_reason: loss_model(fit)
                .err()
                .map_or_else(String::new, |e| e.to_string()),
        }
    }
}

/// Weights in a planned matrix (every pooled view).
pub fn params_of(spec: &crate::load::MatrixSpec) -> u64 {
    (spec.rows * spec.cols * spec.views.len()) as u64
}

/// The spectral-framework fit of one planned matrix from its descending
/// spectrum; `sigma_init` from an init snapshot, `alpha` the power-law fit
/// the peer metrics already made (never refitted).
pub fn framework_fit(
    spec: &crate::load::MatrixSpec,
    evals: &[f64],
    sigma_init: Option<f64>,
    alpha: &Result<crate::fit::PowerLawFit, crate::fit::FitFailure>,
) -> SpectralFit {
    let d = Dims::of(spec.rows, spec.cols);
    crate::fit::spectral_fit(evals, d, sigma_init, Some(alpha))
}
