//! Quantization as spectral perturbation: the modes that survive the
//! noise σ_q² of a quantizer (`load::quant` defines the grids and gathers
//! the weights' ranges; re-exported here) — BBP: μ_k > σ_q²·√(NM); Weyl,
//! conservative: μ_k > σ_q²(√N+√M)² — and the framework's loss in units
//! of C (docs/theory.md §4.2).

pub use crate::load::quant::*;

use super::prune::LossModel;
use crate::fit::noise::{Dims, bbp_overlap2, bbp_threshold, count_above, mp_edge};

/// Modes surviving noise σ_q², by the BBP threshold μ_k > σ_q²·√(NM).
pub fn k_bbp(mu: &[f64], sigma_q2: f64, d: Dims) -> usize {
    count_above(mu, bbp_threshold(sigma_q2, d))
}

/// Modes surviving by Weyl's bound σ_k > ‖E‖ ≈ σ_q(√N+√M), i.e.
/// μ_k > σ_q²(√N+√M)²: conservative (the noise cannot move them out).
pub fn k_weyl(mu: &[f64], sigma_q2: f64, d: Dims) -> usize {
    count_above(mu, mp_edge(sigma_q2, d))
}

/// Modes whose short-side singular vector keeps a cosine above 0.5 with
/// its noiseless self (the BBP overlap c² > 0.25).
pub fn k_overlap(mu: &[f64], sigma_q2: f64, d: Dims) -> usize {
    mu.partition_point(|&m| bbp_overlap2(m, sigma_q2, d).0 > 0.25)
}

/// ΔL/C for keeping `kept` modes under noise σ_q²: the learned modes
/// beyond `kept` are lost, Σ_{kept<k≤k_*} k^(−a), and each kept learned mode
/// loses the fraction 1 − c²c̃² of its energy to the rotation of its
/// singular vectors (the noise on kept modes), with c, c̃ the BBP overlaps
/// at θ = μ_k. With σ_q² = 0 this is the pruning curve.
pub fn loss(model: &LossModel, mu: &[f64], kept: usize, sigma_q2: f64, d: Dims) -> f64 {
    let lost = model.lost(kept.min(model.k_star), model.k_star);
    if sigma_q2 <= 0.0 {
        return lost;
    }
    let kept_learned = kept.min(model.k_star).min(mu.len());
    let rotated: f64 = (1..=kept_learned)
        .map(|k| {
            let (c, ct) = bbp_overlap2(mu[k - 1], sigma_q2, d);
            (k as f64).powf(-model.a) * (1.0 - c * ct)
        })
        .sum();
    lost + rotated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_and_steps() {
        assert_eq!(levels(8, Scheme::Sym), 127.0);
        assert_eq!(levels(4, Scheme::Asym), 15.0);
        assert!(QuantSpec::new(1, Scheme::Sym, Granularity::Tensor, 1).is_err());
        assert!(QuantSpec::new(4, Scheme::Sym, Granularity::Group, 0).is_err());
        // Symmetric 2-bit: levels −Δ, 0, Δ with Δ = max|w|.
        let spec = QuantSpec::new(2, Scheme::Sym, Granularity::Tensor, 1).unwrap();
        let mut w = vec![-1.0, -0.4, 0.6, 0.5, 2.0, 0.0];
        quantize_in_place(&mut w, 3, &spec);
        assert_eq!(w, vec![-0.0, -0.0, 0.0, 0.0, 2.0, 0.0]);
        // Asymmetric 2-bit on [−1, 2]: Δ = 1, z = 1, levels −1, 0, 1, 2.
        let spec = QuantSpec::new(2, Scheme::Asym, Granularity::Channel, 1).unwrap();
        let mut w = vec![-1.0, 0.4, 2.0, 1.6, 3.0, 2.2];
        quantize_in_place(&mut w, 3, &spec);
        assert_eq!(&w[..3], &[-1.0, 0.0, 2.0]);
        // Second row [1.6, 3, 2.2]: the range widens to [0, 3], Δ = 1, z = 0.
        assert_eq!(&w[3..], &[2.0, 3.0, 2.0]);
    }

    #[test]
    fn range_stats_match_the_quantizer_steps() {
        let w: Vec<f64> = (0..7 * 10).map(|i| ((i * 37) % 23) as f64 - 11.0).collect();
        for (g, gran) in [
            (1, Granularity::Tensor),
            (1, Granularity::Channel),
            (3, Granularity::Group),
        ] {
            let spec = QuantSpec::new(6, Scheme::Sym, gran, g).unwrap();
            let st = range_stats(&w, 10, Scheme::Sym, gran, g);
            // Direct: the mean over entries of (range/L)² per group.
            let mut acc = 0.0;
            let groups: Vec<&[f64]> = match gran {
                Granularity::Tensor => vec![&w[..]],
                Granularity::Channel => w.chunks(10).collect(),
                Granularity::Group => w.chunks(10).flat_map(|r| r.chunks(3)).collect(),
            };
            for gr in &groups {
                let range = gr.iter().fold(0.0f64, |m, x| m.max(x.abs()));
                let step = range / 31.0;
                for x in gr.iter() {
                    // Δ²/12 on a nonzero level; exactly x² when it rounds to
                    // 0; nothing for ±max|w|, which is on the grid.
                    acc += if x.abs() == range {
                        0.0
                    } else if 2.0 * x.abs() < step {
                        x * x
                    } else {
                        step * step / 12.0
                    };
                }
            }
            assert!((st.noise_variance(&spec) - acc / 70.0).abs() < 1e-12);
            assert_eq!(st.groups as usize, groups.len());
        }
    }

    /// Heavy-tailed rows (most entries far below the row's largest): the
    /// zero level carries most of the error at low bit widths, and the
    /// prediction follows the real quantizer where Δ²/12 per entry
    /// overestimates it many times. Tolerance 15% from 3 bits on (the
    /// nonzero levels' errors are only uniform on average, and at 2 bits a
    /// row's few large entries are too few to average); never above ‖W‖².
    #[test]
    fn zero_level_tracks_real_rounding_on_heavy_tails() {
        let mut rng = crate::synth::rng(11);
        let (rows, cols) = (64, 512);
        // A Gaussian scale mixture with log-normal scales (σ_log = 1.2):
        // smooth at 0, tails far heavier than a Gaussian's.
        let g = crate::synth::gaussian(rows, 2 * cols, 1.0, &mut rng);
        let w: Vec<f64> = (0..rows * cols)
            .map(|i| g[(i / cols, i % cols)] * (1.2 * g[(i / cols, cols + i % cols)]).exp())
            .collect();
        let total: f64 = w.iter().map(|x| x * x).sum();
        for scheme in [Scheme::Sym, Scheme::Asym] {
            for gran in [
                Granularity::Channel,
                Granularity::Tensor,
                Granularity::Group,
            ] {
                let st = range_stats(&w, cols, scheme, gran, 32);
                for bits in 2..=8 {
                    let spec = QuantSpec::new(bits, scheme, gran, 32).unwrap();
                    let mut q = w.clone();
                    let real = quantize_in_place(&mut q, cols, &spec);
                    let pred = st.noise_variance(&spec) * (rows * cols) as f64;
                    assert!(pred <= total * (1.0 + 1e-12), "{gran:?} {bits}: above ‖W‖²");
                    assert!(
                        bits < 3 || (pred / real - 1.0).abs() < 0.15,
                        "{scheme:?} {gran:?} {bits} bits: predicted {pred:e}, real {real:e}"
                    );
                }
            }
        }
    }
}
