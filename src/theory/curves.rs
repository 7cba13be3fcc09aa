//! The per-matrix predicted curves that the plots draw, assembled from the
//! existing predictions: the pruning curve over kept rank r (the exact
//! weight error Σ_{k>r} μ_k/Σμ of `prune::truncation_energy` and the
//! framework's ΔL(r)/ΔL(0) of `quant::loss` with no noise), and the
//! quantization curve over B = 2…8 (the `curve` of [`super::predict`]).
//! Numbers only; drawing lives in `report::plot`.

use super::prune::{LossModel, truncation_energy};
use super::quant::{QuantSpec, RangeStats};
use super::{CurvePoint, Keep, Request, learned_model, predict};
use crate::fit::SpectralFit;
use crate::fit::estimate::Unavailable;
use crate::fit::noise::Dims;

/// At most this many ranks on a pruning curve: log-spaced, always the
/// first and the last, so a curve over M = 4096 modes stays small.
pub const MAX_CURVE_RANKS: usize = 200;

/// One kept rank of the pruning curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrunePoint {
    /// Modes kept.
    pub r: usize,
    /// Σ_{k>r} μ_k / Σ μ_k, exact (Eckart–Young).
    pub energy: f64,
    /// ΔL(r)/ΔL(0) under the loss model, when there is one.
    pub dl_frac: Option<f64>,
}

/// The predicted pruning curve of one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct PruningCurve {
    pub points: Vec<PrunePoint>,
    /// The frontier, where the loss curve's plateau starts.
    pub k_star: Option<usize>,
    /// The loss model (a, k_*), or why there is none (then no ΔL curve).
    pub model: Result<LossModel, Unavailable>,
}

/// Log-spaced ranks 1…`modes` (every rank when there are few), ascending,
/// without repeats.
pub fn curve_ranks(modes: usize) -> Vec<usize> {
    if modes == 0 {
        return Vec::new();
    }
    if modes <= MAX_CURVE_RANKS {
        return (1..=modes).collect();
    }
    let top = (modes as f64).ln();
    let mut ks: Vec<usize> = (0..MAX_CURVE_RANKS)
        .map(|i| {
            (top * i as f64 / (MAX_CURVE_RANKS - 1) as f64)
                .exp()
                .round() as usize
        })
        .map(|k| k.clamp(1, modes))
        .collect();
    ks.dedup();
    ks
}

/// The pruning curve of a descending spectrum `mu` (views of size `d`)
/// with its fit: every rank of [`curve_ranks`] below the full rank.
pub fn pruning_curve(mu: &[f64], d: Dims, fit: &SpectralFit) -> PruningCurve {
    let model = learned_model(fit, mu.len());
    let max = model.as_ref().ok().map(LossModel::max_damage);
    let points = curve_ranks(mu.len())
        .into_iter()
        .filter(|&r| r < mu.len())
        .map(|r| PrunePoint {
            r,
            energy: truncation_energy(mu, r),
            dl_frac: match (&model, max) {
                (Ok(m), Some(max)) if max > 0.0 => Some(super::quant::loss(m, mu, r, 0.0, d) / max),
                _ => None,
            },
        })
        .collect();
    PruningCurve {
        points,
        k_star: fit.k_star(),
        model,
    }
}

/// The quantization curve of one matrix over B = 2…8 for the scheme and
/// granularity of `spec` (its `bits` is ignored), after truncation to
/// `keep` when given: exactly the `curve` that [`predict`] reports.
pub fn quantization_curve(
    mu: &[f64],
    d: Dims,
    fit: &SpectralFit,
    spec: &QuantSpec,
    ranges: &RangeStats,
    keep: Option<Keep>,
) -> Vec<CurvePoint> {
    let req = Request {
        keep,
        quant: Some(*spec),
    };
    predict(mu, d, fit, &req, Some(ranges)).curve
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::spectral_fit;

    #[test]
    fn ranks_are_log_spaced_and_keep_the_ends() {
        assert_eq!(curve_ranks(0), Vec::<usize>::new());
        assert_eq!(curve_ranks(5), vec![1, 2, 3, 4, 5]);
        let r = curve_ranks(4096);
        assert!(r.len() <= MAX_CURVE_RANKS && r.len() > 100, "{}", r.len());
        assert_eq!((r[0], *r.last().unwrap()), (1, 4096));
        assert!(r.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn pruning_curve_is_the_truncation_energy_and_the_loss_model() {
        // A broken power law (slopes 0.5 then 2.5 at k = 30) on 180 modes
        // (every rank on the curve): a steepening break, so reading (B)
        // gives a loss model.
        let mu = crate::synth::broken_power_law(180, 30.0, 0.5, 2.5);
        let d = Dims::of(540, 180);
        let fit = spectral_fit(&mu, d, None, None);
        let c = pruning_curve(&mu, d, &fit);
        assert_eq!(c.points.len(), 179);
        for p in &c.points {
            assert_eq!(p.energy, truncation_energy(&mu, p.r));
        }
        let m = c.model.clone().expect("a steepening break gives a model");
        // Learned: up to the frontier or the noise floor, whichever is
        // further out.
        let k_noise = fit.noise.as_ref().unwrap().k_noise;
        assert_eq!(Some(m.k_star), c.k_star.map(|k| k.max(k_noise)));
        for p in &c.points {
            // The same ΔL/ΔL(0) that `predict` reports for this rank.
            let pred = predict(
                &mu,
                d,
                &fit,
                &Request {
                    keep: Some(Keep::Rank(p.r)),
                    quant: None,
                },
                None,
            );
            assert_eq!(p.dl_frac, pred.dl_frac, "r = {}", p.r);
        }
        let at = |r: usize| c.points[r - 1];
        assert_eq!(
            at(m.k_star).dl_frac,
            Some(0.0),
            "plateau from max(k_*, k_noise)"
        );
        assert!(at(m.k_star - 1).dl_frac.unwrap() > 0.0);
    }
}
