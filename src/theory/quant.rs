//! Quantization as spectral perturbation: B-bit round-to-nearest with a
//! symmetric or asymmetric grid, per tensor, per output channel (row) or
//! per group of G consecutive entries of a row; the step Δ of each group,
//! the noise variance σ_q² = mean over entries of Δ²/12, the modes that
//! survive it (BBP: μ_k > σ_q²·√(NM); Weyl, conservative:
//! μ_k > σ_q²(√N+√M)²), and the framework's loss in units of C
//! (docs/theory.md §4.2).
//!
//! Grids: symmetric has levels −L…L with L = 2^(B−1) − 1 and Δ = max|w|/L
//! (int8: −127…127); asymmetric has 0…2^B−1 with Δ = (max − min)/(2^B − 1)
//! and an integer zero point z = round(−min/Δ), where the range is first
//! widened to include 0 (min ≤ 0 ≤ max), as PyTorch's MinMaxObserver and
//! GPTQ do, so that zero is exact and z lies in the grid. Rounding is half
//! to even, as `torch.round`.

use super::prune::LossModel;
use crate::fit::noise::{Dims, bbp_overlap2, bbp_threshold, count_above, mp_edge};
use crate::load::MatrixData;
use serde::{Deserialize, Serialize};

/// Group size when `--granularity group` is given without `--group`.
pub const DEFAULT_GROUP: usize = 128;
/// The bit widths of the predicted loss curve.
pub const CURVE_BITS: std::ops::RangeInclusive<u32> = 2..=8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Levels −L…L around zero, Δ = max|w|/L.
    Sym,
    /// Levels 0…2^B−1 with a zero point, Δ = (max − min)/(2^B − 1).
    Asym,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One step for the whole matrix.
    Tensor,
    /// One step per output channel (row of the [out, in] tensor).
    Channel,
    /// One step per G consecutive entries of a row.
    Group,
}

/// A quantizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QuantSpec {
    pub bits: u32,
    pub scheme: Scheme,
    pub granularity: Granularity,
    /// G, for `Granularity::Group`.
    pub group: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    #[error("--bits {bits}: supported are 2…16")]
    Bits { bits: u32 },
    #[error("--group {group}: must be at least 1")]
    Group { group: usize },
}

impl QuantSpec {
    pub fn new(
        bits: u32,
        scheme: Scheme,
        granularity: Granularity,
        group: usize,
    ) -> Result<QuantSpec, QuantError> {
        if !(2..=16).contains(&bits) {
            return Err(QuantError::Bits { bits });
        }
        if group == 0 {
            return Err(QuantError::Group { group });
        }
        Ok(QuantSpec {
            bits,
            scheme,
            granularity,
            group,
        })
    }

    pub fn with_bits(&self, bits: u32) -> QuantSpec {
        QuantSpec { bits, ..*self }
    }

    /// L: the range is divided into L steps (Δ = range/L).
    pub fn steps(&self) -> f64 {
        levels(self.bits, self.scheme)
    }

    /// e.g. `4-bit sym per channel`, `4-bit asym per group of 128`.
    pub fn describe(&self) -> String {
        let g = match self.granularity {
            Granularity::Tensor => "per tensor".to_string(),
            Granularity::Channel => "per channel".to_string(),
            Granularity::Group => format!("per group of {}", self.group),
        };
        let s = match self.scheme {
            Scheme::Sym => "sym",
            Scheme::Asym => "asym",
        };
        format!("{}-bit {s} {g}", self.bits)
    }
}

/// Steps of the grid: 2^(B−1) − 1 (symmetric) or 2^B − 1 (asymmetric).
pub fn levels(bits: u32, scheme: Scheme) -> f64 {
    match scheme {
        Scheme::Sym => ((1u64 << (bits - 1)) - 1) as f64,
        Scheme::Asym => ((1u64 << bits) - 1) as f64,
    }
}

/// What σ_q² needs from the weights for one scheme and granularity:
/// Σ over groups of (entries in group)·range², where range = max|w|
/// (symmetric) or max − min (asymmetric). Then σ_q²(B) =
/// Σ n_g·range_g² / (12·L(B)²·entries) for every B at once.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RangeStats {
    pub entries: u64,
    pub groups: u64,
    pub sum_n_range2: f64,
}

impl RangeStats {
    /// σ_q² = mean over entries of Δ²/12.
    pub fn noise_variance(&self, spec: &QuantSpec) -> f64 {
        if self.entries == 0 {
            return 0.0;
        }
        let l = spec.steps();
        self.sum_n_range2 / (12.0 * l * l * self.entries as f64)
    }

    /// Symmetric per-output-channel statistics from each channel's max |w|
    /// (`cols` entries per channel), for weights scaled by √`scale` (the
    /// scale the spectrum carries, e.g. 0.5 for pooled convolutions).
    pub fn from_row_absmax(absmax: &[f64], cols: usize, scale: f64) -> RangeStats {
        RangeStats {
            entries: (absmax.len() * cols) as u64,
            groups: absmax.len() as u64,
            sum_n_range2: scale * cols as f64 * absmax.iter().map(|m| m * m).sum::<f64>(),
        }
    }

    /// Statistics of the union of two sets of groups.
    pub fn merge(&mut self, o: &RangeStats) {
        self.entries += o.entries;
        self.groups += o.groups;
        self.sum_n_range2 += o.sum_n_range2;
    }

    /// The same groups with weights scaled by √`scale`.
    pub fn scaled(mut self, scale: f64) -> RangeStats {
        self.sum_n_range2 *= scale;
        self
    }

    /// RMS step √(mean Δ²) over entries.
    pub fn rms_step(&self, spec: &QuantSpec) -> f64 {
        (12.0 * self.noise_variance(spec)).sqrt()
    }
}

/// Accumulates group ranges row by row.
struct RangeAcc {
    scheme: Scheme,
    granularity: Granularity,
    group: usize,
    stats: RangeStats,
    /// Per-tensor running extremes.
    lo: f64,
    hi: f64,
}

impl RangeAcc {
    fn new(scheme: Scheme, granularity: Granularity, group: usize) -> RangeAcc {
        RangeAcc {
            scheme,
            granularity,
            group,
            stats: RangeStats::default(),
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    fn range(&self, lo: f64, hi: f64) -> f64 {
        match self.scheme {
            Scheme::Sym => lo.abs().max(hi.abs()),
            Scheme::Asym => hi.max(0.0) - lo.min(0.0),
        }
    }

    fn push_group(&mut self, g: &[f64]) {
        let (lo, hi) = extremes(g);
        let r = self.range(lo, hi);
        self.stats.groups += 1;
        self.stats.sum_n_range2 += g.len() as f64 * r * r;
    }

    fn row(&mut self, row: &[f64]) {
        self.stats.entries += row.len() as u64;
        match self.granularity {
            Granularity::Tensor => {
                let (lo, hi) = extremes(row);
                self.lo = self.lo.min(lo);
                self.hi = self.hi.max(hi);
            }
            Granularity::Channel => self.push_group(row),
            Granularity::Group => {
                for g in row.chunks(self.group) {
                    self.push_group(g);
                }
            }
        }
    }

    fn finish(mut self) -> RangeStats {
        if self.granularity == Granularity::Tensor && self.stats.entries > 0 {
            let r = self.range(self.lo, self.hi);
            self.stats.groups = 1;
            self.stats.sum_n_range2 = self.stats.entries as f64 * r * r;
        }
        self.stats
    }
}

fn extremes(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Range statistics of a row-major rows×cols matrix (rows = channels).
pub fn range_stats(
    w: &[f64],
    cols: usize,
    scheme: Scheme,
    granularity: Granularity,
    group: usize,
) -> RangeStats {
    let mut acc = RangeAcc::new(scheme, granularity, group.max(1));
    for row in w.chunks(cols.max(1)) {
        acc.row(row);
    }
    acc.finish()
}

/// Range statistics streamed from a tensor's bytes, one block of rows at
/// a time (never the whole matrix in f64). Rows of the view are the output
/// channels of an [out, in] tensor. Returns the count of non-finite values
/// read alongside.
pub fn range_stats_of(
    data: &MatrixData,
    scheme: Scheme,
    granularity: Granularity,
    group: usize,
) -> (RangeStats, usize) {
    let v = data.view;
    let mut acc = RangeAcc::new(scheme, granularity, group.max(1));
    let block = ((1usize << 20) / v.cols.max(1)).clamp(1, v.rows.max(1));
    let mut buf = vec![0.0; block * v.cols];
    let mut bad = 0;
    let mut r = 0;
    while r < v.rows {
        let e = (r + block).min(v.rows);
        let b = &mut buf[..(e - r) * v.cols];
        bad += data.read_rows(r, e, b);
        for row in b.chunks(v.cols) {
            acc.row(row);
        }
        r = e;
    }
    (acc.finish(), bad)
}

/// Quantizes a row-major matrix in place (round to nearest, ties to even)
/// and returns Σ (w − q)², the squared error.
pub fn quantize_in_place(w: &mut [f64], cols: usize, spec: &QuantSpec) -> f64 {
    let l = spec.steps();
    let mut err = 0.0;
    let mut apply = |g: &mut [f64], lo: f64, hi: f64| {
        err += quantize_group(g, lo, hi, l, spec.scheme);
    };
    match spec.granularity {
        Granularity::Tensor => {
            let (lo, hi) = extremes(w);
            apply(w, lo, hi);
        }
        Granularity::Channel => {
            for row in w.chunks_mut(cols.max(1)) {
                let (lo, hi) = extremes(row);
                apply(row, lo, hi);
            }
        }
        Granularity::Group => {
            for row in w.chunks_mut(cols.max(1)) {
                for g in row.chunks_mut(spec.group) {
                    let (lo, hi) = extremes(g);
                    apply(g, lo, hi);
                }
            }
        }
    }
    err
}

fn quantize_group(g: &mut [f64], lo: f64, hi: f64, l: f64, scheme: Scheme) -> f64 {
    let mut err = 0.0;
    match scheme {
        Scheme::Sym => {
            let delta = lo.abs().max(hi.abs()) / l;
            if delta == 0.0 {
                return 0.0;
            }
            for x in g.iter_mut() {
                let q = (*x / delta).round_ties_even().clamp(-l, l) * delta;
                err += (*x - q).powi(2);
                *x = q;
            }
        }
        Scheme::Asym => {
            let (lo, hi) = (lo.min(0.0), hi.max(0.0));
            let delta = (hi - lo) / l;
            if delta == 0.0 {
                return 0.0; // an all-zero group is represented exactly
            }
            let z = (-lo / delta).round_ties_even().clamp(0.0, l);
            for x in g.iter_mut() {
                let q = ((*x / delta).round_ties_even() + z).clamp(0.0, l);
                let q = (q - z) * delta;
                err += (*x - q).powi(2);
                *x = q;
            }
        }
    }
    err
}

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
                let r = gr.iter().fold(0.0f64, |m, x| m.max(x.abs())) / 31.0;
                acc += gr.len() as f64 * r * r / 12.0;
            }
            assert!((st.noise_variance(&spec) - acc / 70.0).abs() < 1e-12);
            assert_eq!(st.groups as usize, groups.len());
        }
    }
}
