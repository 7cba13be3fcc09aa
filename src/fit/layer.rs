//! Per-layer metrics with the peer tool's names and definitions
//! (WeightWatcher 0.7.7 `analyze()`, docs/weightwatcher-compat.md §2–4),
//! computed from the exact eigenvalues μ_k = σ_k² of one matrix.
//!
//! One deliberate difference: `matrix_rank` (and `rank_loss`, `entropy`,
//! which use it) counts μ_k > μ_max·M·ε, the resolution of eigenvalues of a
//! Gram matrix, where the peer counts σ_k > σ_max·N·ε from an SVD. The two
//! agree unless some σ_k/σ_max is below ~1e-6, where a Gram cannot tell a
//! tiny singular value from round-off anyway.

use super::powerlaw::{self, FitFailure, PowerLawFit};
use serde::Serialize;

/// Eigenvalues below this count as a weak rank loss (the peer's `tolerance`).
pub const WEAK_RANK_LOSS_TOLERANCE: f64 = 1e-6;

/// The peer's warning thresholds on alpha.
pub const OVER_TRAINED: f64 = 2.0;
pub const UNDER_TRAINED: f64 = 6.0;

/// Whether the power-law fit produced α (the peer's `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitStatus {
    Success,
    #[default]
    Failed,
}

impl FitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FitStatus::Success => "success",
            FitStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for FitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The peer's training warning from α (`warning` column; empty when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum AlphaWarning {
    #[serde(rename = "")]
    #[default]
    None,
    /// α < 2.
    #[serde(rename = "over-trained")]
    OverTrained,
    /// α > 6.
    #[serde(rename = "under-trained")]
    UnderTrained,
}

impl AlphaWarning {
    pub fn as_str(self) -> &'static str {
        match self {
            AlphaWarning::None => "",
            AlphaWarning::OverTrained => "over-trained",
            AlphaWarning::UnderTrained => "under-trained",
        }
    }
}

impl std::fmt::Display for AlphaWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerMetrics {
    pub alpha: f64,
    pub alpha_weighted: f64,
    /// Kolmogorov–Smirnov distance of the fit (the peer's `D`).
    pub d: f64,
    pub entropy: f64,
    pub lambda_max: f64,
    pub log_alpha_norm: f64,
    pub log_norm: f64,
    pub log_spectral_norm: f64,
    pub matrix_rank: i64,
    pub norm: f64,
    pub num_pl_spikes: i64,
    pub rank_loss: i64,
    pub sigma: f64,
    pub spectral_norm: f64,
    pub stable_rank: f64,
    pub sv_max: f64,
    pub sv_min: f64,
    pub weak_rank_loss: i64,
    /// The largest fitted eigenvalue; `None` when the fit failed.
    pub xmax: Option<f64>,
    pub xmin: f64,
    /// Whether the fit succeeded.
    pub status: FitStatus,
    /// over-trained (alpha < 2), under-trained (alpha > 6) or none.
    pub warning: AlphaWarning,
    /// Why the fit failed, when it did.
    pub fit_error: Option<String>,
    /// The power-law fit itself, for the estimators that build on it (the
    /// framework's b = 1/(α−1)): never refitted or rebuilt from columns.
    pub fit: Result<PowerLawFit, FitFailure>,
    /// Points in the fitted tail and points given to the fit.
    pub n_tail: i64,
    pub n_fit: i64,
}

/// Computes every metric from eigenvalues (any order) of a matrix whose
/// smaller side is `m`; `slice_min_sv` is the smallest singular value, taken
/// as the largest of the per-slice minima for pooled convolutions, as the
/// peer does.
pub fn layer_metrics(evals: &[f64], m: usize, slice_min_sv: f64) -> LayerMetrics {
    let norm: f64 = evals.iter().sum();
    let lambda_max = evals.iter().copied().fold(0.0, f64::max);
    let tol = lambda_max * m as f64 * f64::EPSILON;
    let matrix_rank = evals.iter().filter(|&&e| e > tol).count() as i64;
    let fit = powerlaw::fit(evals);
    let (alpha, xmin, xmax, d, sigma, num_pl_spikes, status, fit_error, n_tail, n_fit) = match &fit
    {
        Ok(PowerLawFit {
            alpha,
            xmin,
            xmax,
            d,
            sigma,
            n_tail,
            n_fit,
            ..
        }) => (
            *alpha,
            *xmin,
            Some(*xmax),
            *d,
            *sigma,
            evals.iter().filter(|&&e| e >= *xmin).count() as i64,
            FitStatus::Success,
            None,
            *n_tail as i64,
            *n_fit as i64,
        ),
        Err(e) => (
            -1.0,
            -1.0,
            None,
            -1.0,
            -1.0,
            -1,
            FitStatus::Failed,
            Some(e.to_string()),
            0,
            0,
        ),
    };
    // The peer compares the sentinel −1 too, so a failed fit reads
    // "over-trained"; kept for drop-in comparability, `fit_error` says why.
    let warning = if alpha < OVER_TRAINED {
        AlphaWarning::OverTrained
    } else if alpha > UNDER_TRAINED {
        AlphaWarning::UnderTrained
    } else {
        AlphaWarning::None
    };
    let alpha_norm: f64 = evals.iter().map(|&e| e.powf(alpha)).sum();
    LayerMetrics {
        alpha,
        alpha_weighted: alpha * lambda_max.log10(),
        d,
        entropy: matrix_entropy(evals, norm, matrix_rank),
        lambda_max,
        log_alpha_norm: alpha_norm.log10(),
        log_norm: norm.log10(),
        log_spectral_norm: lambda_max.log10(),
        matrix_rank,
        norm,
        num_pl_spikes,
        rank_loss: evals.len() as i64 - matrix_rank,
        sigma,
        spectral_norm: lambda_max,
        stable_rank: norm / lambda_max,
        sv_max: lambda_max.sqrt(),
        sv_min: slice_min_sv,
        weak_rank_loss: evals
            .iter()
            .filter(|&&e| e < WEAK_RANK_LOSS_TOLERANCE)
            .count() as i64,
        xmax,
        xmin,
        status,
        warning,
        fit_error,
        fit,
        n_tail,
        n_fit,
    }
}

/// The peer's spectral entropy: p_k = μ_k/Σμ + 1e-10 (added to every p, so
/// Σp ≠ 1 exactly), −Σ p ln p / ln(rank + 1e-10).
fn matrix_entropy(evals: &[f64], norm: f64, rank: i64) -> f64 {
    const EPS: f64 = 1e-10;
    let h: f64 = evals
        .iter()
        .map(|&e| {
            let p = e / norm + EPS;
            -p * p.ln()
        })
        .sum();
    h / (rank as f64 + EPS).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_of_a_known_spectrum() {
        let ev = [4.0, 1.0, 0.25, 0.0];
        let m = layer_metrics(&ev, 4, 0.0);
        assert_eq!(m.norm, 5.25);
        assert_eq!(m.lambda_max, 4.0);
        assert_eq!(m.stable_rank, 5.25 / 4.0);
        assert_eq!(m.sv_max, 2.0);
        assert_eq!(m.matrix_rank, 3);
        assert_eq!(m.rank_loss, 1);
        assert_eq!(m.weak_rank_loss, 1);
        assert!((m.log_norm - 5.25f64.log10()).abs() < 1e-15);
        // entropy with the peer's epsilon
        let p: Vec<f64> = ev.iter().map(|e| e / 5.25 + 1e-10).collect();
        let h: f64 = -p.iter().map(|p| p * p.ln()).sum::<f64>() / (3.0f64 + 1e-10).ln();
        assert!((m.entropy - h).abs() < 1e-15);
        // 3 points above 1e-5: the small-sample fallback path
        assert_eq!(m.status, FitStatus::Success);
    }

    #[test]
    fn failed_fit_keeps_the_peers_sentinels() {
        let m = layer_metrics(&[0.0, 0.0], 2, 0.0);
        assert_eq!(
            (m.alpha, m.xmin, m.d, m.sigma, m.num_pl_spikes),
            (-1.0, -1.0, -1.0, -1.0, -1)
        );
        assert_eq!(
            (m.status, m.warning, m.xmax),
            (FitStatus::Failed, AlphaWarning::OverTrained, None)
        );
        assert!(m.fit_error.unwrap().contains("at least 2"));
    }
}
