//! Pruning as spectral truncation: keeping the top r modes of a matrix.
//! The exact weight-space energy removed, Σ_{k>r} μ_k / Σ μ_k (Eckart–Young:
//! the best rank-r approximation leaves exactly that), and the framework's
//! loss curve in units of the loss constant C, with its plateau,
//! power-law and collapse phases (docs/theory.md §4.1).

use serde::Serialize;

/// r = ⌊(1 − s)·M⌋: the modes sparsity s keeps. Rounding down keeps at most
/// (1 − s)·M modes, so the sparsity reached is at least s.
pub fn rank_for_sparsity(modes: usize, s: f64) -> usize {
    (((1.0 - s.clamp(0.0, 1.0)) * modes as f64) + 1e-9).floor() as usize
}

/// Σ_{k>r} μ_k / Σ μ_k for a descending spectrum (0 for an all-zero one).
/// Summed from the smallest value up, so a tiny tail is not lost in the
/// round-off of the large head.
pub fn truncation_energy(mu: &[f64], r: usize) -> f64 {
    let total: f64 = mu.iter().rev().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let tail: f64 = mu.iter().skip(r).rev().sum::<f64>() + 0.0; // not −0.0 when r = M
    tail / total
}

/// The three phases of the pruning curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// r ≥ k_*: only unlearned modes are cut; the loss does not move.
    Plateau,
    /// r < k_*, less than half of the largest possible damage done:
    /// ΔL ∝ r^(1−a) − k_*^(1−a).
    PowerLaw,
    /// At least half of the largest possible damage ΔL(0) done: the
    /// dominant modes themselves are being cut (r → 1).
    Collapse,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Plateau => "plateau",
            Phase::PowerLaw => "power_law",
            Phase::Collapse => "collapse",
        }
    }
}

/// The framework's loss model for one matrix: e_k = C·k^(−a) on the learned
/// modes k ≤ k_*, nothing learned beyond.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LossModel {
    pub a: f64,
    pub k_star: usize,
}

impl LossModel {
    /// ΔL/C for losing modes `lo+1..=hi` entirely: Σ k^(−a). The discrete
    /// sum is exact where the integral form C/(a−1)·[lo^(1−a) − hi^(1−a)]
    /// is only asymptotic, and it stays finite at a = 1.
    pub fn lost(&self, lo: usize, hi: usize) -> f64 {
        // + 0.0: an empty float sum is −0.0, which reports print as "-0".
        (lo + 1..=hi).map(|k| (k as f64).powf(-self.a)).sum::<f64>() + 0.0
    }

    /// ΔL_prune(r)/C = Σ_{r<k≤k_*} k^(−a).
    pub fn prune(&self, r: usize) -> f64 {
        self.lost(r, self.k_star)
    }

    /// The largest damage: every learned mode cut, ΔL(0)/C.
    pub fn max_damage(&self) -> f64 {
        self.prune(0)
    }

    pub fn phase(&self, r: usize) -> Phase {
        if r >= self.k_star {
            Phase::Plateau
        } else if self.prune(r) >= 0.5 * self.max_damage() {
            Phase::Collapse
        } else {
            Phase::PowerLaw
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_and_energy() {
        assert_eq!(rank_for_sparsity(384, 0.5), 192);
        assert_eq!(rank_for_sparsity(385, 0.5), 192);
        assert_eq!(rank_for_sparsity(10, 0.0), 10);
        assert_eq!(rank_for_sparsity(10, 1.0), 0);
        // 1 − 0.7 = 0.30000000000000004: must not become 2 of 7 by round-off.
        assert_eq!(rank_for_sparsity(10, 0.7), 3);
        let mu = [4.0, 2.0, 1.0, 1.0];
        assert_eq!(truncation_energy(&mu, 0), 1.0);
        assert_eq!(truncation_energy(&mu, 2), 0.25);
        assert_eq!(truncation_energy(&mu, 4), 0.0);
        assert_eq!(truncation_energy(&[0.0, 0.0], 1), 0.0);
    }

    #[test]
    fn framework_curve_matches_the_integral_form_and_has_three_phases() {
        let m = LossModel {
            a: 2.0,
            k_star: 400,
        };
        // Σ_{r<k≤K} k^-2 ≈ 1/r − 1/K to O(1/r²): within 1/r² of it.
        for r in [20usize, 50, 100] {
            let integral = 1.0 / (r as f64 + 0.5) - 1.0 / (400.5);
            assert!((m.prune(r) - integral).abs() < 1.0 / (r * r) as f64);
        }
        assert_eq!(m.prune(400), 0.0);
        assert_eq!(m.phase(500), Phase::Plateau);
        assert_eq!(m.phase(30), Phase::PowerLaw);
        assert_eq!(m.phase(0), Phase::Collapse);
        // a < 1 (seen on real checkpoints): still finite, collapse sets in
        // once half of Σ_{k≤k_*} k^(−a) is gone.
        let m = LossModel {
            a: 0.5,
            k_star: 100,
        };
        assert_eq!(m.phase(10), Phase::Collapse);
        assert_eq!(m.phase(60), Phase::PowerLaw);
    }
}
