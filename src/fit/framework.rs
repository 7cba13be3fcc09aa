//! Every spectral-framework estimator on one spectrum, in one call: the
//! degenerate-input screen, the noise floor, the rank-decay exponent b
//! (least squares, Hill, and b = 1/(α−1) from the peer-compatible alpha),
//! the local-slope profile, the broken power law, a and b under reading (B)
//! of the mode model, the frontier k_*, the density D = k_*/M and the
//! critical sparsity s_c = 1 − D; and the parameter-weighted model density.
//!
//! Definitions and the reasoning behind each choice: docs/theory.md. Works
//! on eigenvalues only; the init snapshot's σ is passed in.

use super::broken::{BrokenPowerLaw, broken_power_law};
use super::estimate::{Estimate, Estimated, Unavailable, Window, screen};
use super::noise::{Dims, NoiseFloor, count_above, noise_edge, noise_floor};
use super::powerlaw::{self, FitFailure, PowerLawFit};
use super::rankdecay::{RankDecay, SlopePoint, b_from_alpha, hill, rank_decay, slope_profile};
use serde::Serialize;

/// a and b from the two slopes of an accepted, steepening break under
/// reading (B) with p = 1 (g = λt): s₁ = a − b, s₂ = a + b, so
/// a = (s₁+s₂)/2 and b = (s₂−s₁)/2; errors from the slopes' covariance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReadingB {
    pub a: Estimate,
    pub b: Estimate,
}

/// What k_* was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontierSource {
    /// The accepted, steepening break of the broken power law.
    Break,
    /// The count of modes above the noise floor (MP edge + TW 95% margin).
    NoiseFloor,
}

impl FrontierSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FrontierSource::Break => "break",
            FrontierSource::NoiseFloor => "noise_floor",
        }
    }
}

/// The frontier and the density it implies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Frontier {
    /// k_* as a count of modes, its error and its uncertainty window.
    pub k_star: Estimate,
    pub source: FrontierSource,
    /// The theory's D = k_*/M (M = all eigenvalues of the matrix).
    pub density: f64,
    pub density_se: f64,
    /// s_c = 1 − D.
    pub s_c: f64,
}

/// All estimates for one spectrum (reports flatten it into their own
/// serde rows).
#[derive(Debug, Clone)]
pub struct SpectralFit {
    pub dims: Dims,
    /// Eigenvalues (M times the number of pooled views).
    pub modes: usize,
    /// `None` when the spectrum passed the degenerate-input screen.
    pub degenerate: Option<Unavailable>,
    pub noise: Estimated<NoiseFloor>,
    pub rank_decay: Estimated<RankDecay>,
    pub b_hill: Estimated,
    pub b_alpha: Estimated,
    /// The top of the range the rank-decay fits used (b, Hill, slope
    /// profile, broken power law): the clean modes when at least a decade
    /// of them exists, else every mode above the noise edge.
    pub fit_cap: usize,
    /// `fit_cap` is the clean range (noise inflation ≤ 10%); when false the
    /// fits run into noise-inflated modes and b is biased low.
    pub fit_cap_clean: bool,
    /// b·(α−1): 1 when the rank decay and the ESD tail agree.
    pub b_alpha_ratio: Option<f64>,
    /// (b − 1/(α−1)) over their combined standard error.
    pub b_alpha_z: Option<f64>,
    pub profile: Vec<SlopePoint>,
    pub broken: Estimated<BrokenPowerLaw>,
    pub reading_b: Estimated<ReadingB>,
    pub frontier: Estimated<Frontier>,
}

impl SpectralFit {
    /// The least-squares b, when there is one.
    pub fn b(&self) -> Option<&Estimate> {
        self.rank_decay.as_ref().ok().map(|r| &r.b)
    }
    pub fn k_star(&self) -> Option<usize> {
        self.frontier
            .as_ref()
            .ok()
            .map(|f| f.k_star.value.round() as usize)
    }
    /// The exponent a of the mode model (reading B), when available.
    pub fn a(&self) -> Option<f64> {
        self.reading_b.as_ref().ok().map(|r| r.a.value)
    }
}

/// Runs every estimator on a descending spectrum of one N×M matrix (or of
/// `modes / M` pooled N×M views). `sigma_init` is the RMS entry of the same
/// matrix in an init snapshot; `alpha` is the power-law fit when the caller
/// already has it (else it is computed here).
pub fn spectral_fit(
    mu: &[f64],
    dims: Dims,
    sigma_init: Option<f64>,
    alpha: Option<&Result<PowerLawFit, FitFailure>>,
) -> SpectralFit {
    let screened = screen(mu);
    let degenerate = screened.as_ref().err().cloned();
    let noise = match &degenerate {
        Some(e @ (Unavailable::Empty | Unavailable::NonFinite | Unavailable::AllZero)) => {
            Err(e.clone())
        }
        _ => Ok(noise_floor(mu, dims, sigma_init)),
    };
    let own_alpha;
    let alpha = match alpha {
        Some(a) => a,
        None => {
            own_alpha = powerlaw::fit(mu);
            &own_alpha
        }
    };
    let b_alpha = match alpha {
        Ok(f) => b_from_alpha(f),
        Err(e) => Err(Unavailable::PowerLaw(e.to_string())),
    };
    let mut out = SpectralFit {
        dims,
        modes: mu.len(),
        degenerate: degenerate.clone(),
        noise: noise.clone(),
        rank_decay: Err(Unavailable::Empty),
        b_hill: Err(Unavailable::Empty),
        b_alpha,
        fit_cap: 0,
        fit_cap_clean: false,
        b_alpha_ratio: None,
        b_alpha_z: None,
        profile: Vec::new(),
        broken: Err(Unavailable::Empty),
        reading_b: Err(Unavailable::Empty),
        frontier: Err(Unavailable::Empty),
    };
    let (s, nf) = match (screened, noise) {
        (Ok(s), Ok(nf)) => (s, nf),
        (Err(e), noise) => {
            // Degenerate: every rank-decay estimate carries the reason; a
            // low-rank matrix still has a frontier (its modes above noise).
            out.rank_decay = Err(e.clone());
            out.b_hill = Err(e.clone());
            out.broken = Err(e.clone());
            out.reading_b = Err(e.clone());
            out.frontier = match (&e, noise) {
                (Unavailable::LowRank { rank, .. }, Ok(nf)) => {
                    Ok(noise_frontier(mu, dims, &nf, *rank))
                }
                _ => Err(e),
            };
            return out;
        }
        (Ok(_), Err(e)) => unreachable!("noise fails only on degenerate input: {e}"),
    };
    // The clean range when it holds a decade; else everything above the
    // noise edge, flagged (docs/theory.md §3.1).
    let clean = nf.k_clean.min(s.rank);
    let (k_cap, is_clean) = if clean >= super::estimate::MIN_EVALS {
        (clean, true)
    } else {
        (nf.k_noise.min(s.rank), false)
    };
    out.fit_cap = k_cap;
    out.fit_cap_clean = is_clean;
    out.rank_decay = rank_decay(&s, k_cap);
    out.b_hill = match &out.rank_decay {
        Ok(r) => hill(s.mu, r.b.window.k_max),
        Err(e) => Err(e.clone()),
    };
    if let (Ok(r), Ok(ba)) = (&out.rank_decay, &out.b_alpha) {
        out.b_alpha_ratio = Some(r.b.value / ba.value);
        let se = (r.b.stderr.powi(2) + ba.stderr.powi(2)).sqrt();
        out.b_alpha_z = (se > 0.0).then(|| (r.b.value - ba.value) / se);
    }
    out.profile = slope_profile(&s, k_cap);
    out.broken = broken_power_law(&s, k_cap);
    out.reading_b = match &out.broken {
        Err(e) => Err(e.clone()),
        Ok(f) if !f.accepted && f.at_edge && f.dbic > super::broken::DBIC_ACCEPT => {
            Err(Unavailable::BreakAtEdge {
                k: f.k_break.value,
                dbic: f.dbic,
            })
        }
        Ok(f) if !f.accepted => Err(Unavailable::NoBreak {
            dbic: f.dbic,
            threshold: super::broken::DBIC_ACCEPT,
        }),
        Ok(f) if f.s2.value <= f.s1.value => Err(Unavailable::Flattening {
            s1: f.s1.value,
            s2: f.s2.value,
        }),
        Ok(f) => Ok(reading_b(f)),
    };
    out.frontier = Ok(match (&out.reading_b, &out.broken) {
        (Ok(_), Ok(f)) => {
            let m = mu.len() as f64;
            Frontier {
                k_star: f.k_break,
                source: FrontierSource::Break,
                density: f.k_break.value / m,
                density_se: f.k_break.stderr / m,
                s_c: 1.0 - f.k_break.value / m,
            }
        }
        _ => noise_frontier(mu, dims, &nf, s.rank),
    });
    out
}

fn reading_b(f: &BrokenPowerLaw) -> ReadingB {
    let (v1, v2, c) = (f.s1.stderr.powi(2), f.s2.stderr.powi(2), f.cov_s1_s2);
    ReadingB {
        a: Estimate {
            value: (f.s1.value + f.s2.value) / 2.0,
            stderr: ((v1 + v2 + 2.0 * c) / 4.0).max(0.0).sqrt(),
            window: f.s1.window,
        },
        b: Estimate {
            value: (f.s2.value - f.s1.value) / 2.0,
            stderr: ((v1 + v2 - 2.0 * c) / 4.0).max(0.0).sqrt(),
            window: f.s1.window,
        },
    }
}

/// k_* as the count of modes above the noise floor (capped at the
/// numerical rank). Its error propagates σ ± se(σ): the counts above the
/// edges at σ + se and σ − se bound the window; the error is half of it.
fn noise_frontier(mu: &[f64], dims: Dims, nf: &NoiseFloor, rank: usize) -> Frontier {
    let k = nf.k_noise.min(rank);
    let at = |s: f64| count_above(mu, noise_edge(s * s, dims)).min(rank);
    let (hi, lo) = (
        at((nf.sigma - nf.sigma_se).max(0.0)),
        at(nf.sigma + nf.sigma_se),
    );
    let m = mu.len() as f64;
    let se = (hi - lo) as f64 / 2.0;
    Frontier {
        k_star: Estimate {
            value: k as f64,
            stderr: se,
            window: Window {
                k_min: lo,
                k_max: hi,
            },
        },
        source: FrontierSource::NoiseFloor,
        density: k as f64 / m,
        density_se: se / m,
        s_c: 1.0 - k as f64 / m,
    }
}

/// The model's density: Σ D_i·P_i / Σ P_i over matrices with a frontier,
/// P_i = the matrix's parameter count. `None` when no matrix has one.
pub fn model_density(rows: impl IntoIterator<Item = (Option<f64>, u64)>) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (d, p) in rows {
        if let Some(d) = d {
            num += d * p as f64;
            den += p as f64;
        }
    }
    (den > 0.0).then(|| num / den)
}
