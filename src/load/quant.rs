//! Round-to-nearest quantizers of a matrix's weights and the range
//! statistics of its values: B bits with a symmetric or asymmetric grid,
//! per tensor, per output channel (row) or per group of G consecutive
//! entries of a row; the step Δ of each group and the noise variance
//! σ_q² = mean over entries of Δ²/12. Gathered while the weights are
//! decoded, so the pipeline needs nothing above `load`; what the noise
//! does to a spectrum is `theory::quant`'s.
//!
//! Grids: symmetric has levels −L…L with L = 2^(B−1) − 1 and Δ = max|w|/L
//! (int8: −127…127); asymmetric has 0…2^B−1 with Δ = (max − min)/(2^B − 1)
//! and an integer zero point z = round(−min/Δ), where the range is first
//! widened to include 0 (min ≤ 0 ≤ max), as PyTorch's MinMaxObserver and
//! GPTQ do, so that zero is exact and z lies in the grid. Rounding is half
//! to even, as `torch.round`.

use super::MatrixData;
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
