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

/// The bit widths whose zero level is tracked (`ZeroLevel`): 2…16.
pub const ZERO_LEVEL_BITS: std::ops::RangeInclusive<u32> = 2..=16;
const NZ: usize = 15;

/// The entries round-to-nearest sends to the zero level, per bit width B:
/// an entry with |w| < Δ_g/2 (Δ_g its group's step at B bits) becomes 0
/// and loses exactly w², not Δ²/12. `small_sq[i]` = Σ w² and
/// `small_range2[i]` = Σ range_g² over those entries, for B = 2 + i.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ZeroLevel {
    pub small_sq: [f64; NZ],
    pub small_range2: [f64; NZ],
}

impl ZeroLevel {
    fn merge(&mut self, o: &ZeroLevel) {
        for i in 0..NZ {
            self.small_sq[i] += o.small_sq[i];
            self.small_range2[i] += o.small_range2[i];
        }
    }

    fn scale(&mut self, s: f64) {
        for i in 0..NZ {
            self.small_sq[i] *= s;
            self.small_range2[i] *= s;
        }
    }
}

/// What σ_q² needs from the weights for one scheme and granularity:
/// Σ over groups of (entries in group)·range², where range = max|w|
/// (symmetric) or max − min (asymmetric), and the entries each bit width
/// rounds to zero (`zero`). Then for every B at once
/// σ_q²(B) = [Σ_big range_g²/(12·L(B)²) + Σ_small w²] / entries:
/// Δ²/12 per entry that lands on a nonzero level, and exactly w² per entry
/// that rounds to zero (docs/theory.md §4.2). Without `zero` (statistics
/// from the per-channel maxima alone, or per-tensor steps) every entry
/// counts Δ²/12, an upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RangeStats {
    pub entries: u64,
    pub groups: u64,
    pub sum_n_range2: f64,
    pub zero: Option<ZeroLevel>,
}

/// max |x| of `values` (0 when empty): a channel's range, the one
/// definition every pass that records them uses.
pub fn absmax(values: &[f64]) -> f64 {
    values.iter().fold(0.0f64, |a, x| a.max(x.abs()))
}

impl RangeStats {
    /// σ_q²: the mean squared rounding error per entry (see the type).
    pub fn noise_variance(&self, spec: &QuantSpec) -> f64 {
        if self.entries == 0 {
            return 0.0;
        }
        let l = spec.steps();
        let i = spec.bits.saturating_sub(2) as usize;
        match &self.zero {
            Some(z) if i < NZ => {
                let big = (self.sum_n_range2 - z.small_range2[i]).max(0.0);
                (big / (12.0 * l * l) + z.small_sq[i]) / self.entries as f64
            }
            _ => self.step_variance(spec),
        }
    }

    /// Mean Δ²/12 over entries (every entry on a nonzero level).
    fn step_variance(&self, spec: &QuantSpec) -> f64 {
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
            zero: None,
        }
    }

    /// The symmetric per-row (per-output-channel) ranges of a view, from
    /// each row's max |w| read in parallel blocks of rows: what
    /// [`range_stats_of`] with `Sym`/`Channel` gives less its zero level,
    /// at a fraction of its cost (no per-entry zero-level count) and on
    /// every core. Non-finite entries are left to the spectrum to report.
    pub fn channel_absmax(data: &MatrixData, scale: f64) -> RangeStats {
        use rayon::prelude::*;
        let v = data.view;
        let block = ((1usize << 18) / v.cols.max(1)).clamp(1, v.rows.max(1));
        let mut maxima = vec![0.0; v.rows];
        maxima
            .par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, out)| {
                let r0 = b * block;
                let mut buf = vec![0.0; out.len() * v.cols];
                data.read_rows(r0, r0 + out.len(), &mut buf);
                for (m, row) in out.iter_mut().zip(buf.chunks(v.cols.max(1))) {
                    *m = absmax(row);
                }
            });
        RangeStats::from_row_absmax(&maxima, v.cols, scale)
    }

    /// Statistics of the union of two sets of groups (zero levels only
    /// when both sides have them, or one side is empty).
    pub fn merge(&mut self, o: &RangeStats) {
        self.zero = match (self.zero, o.zero) {
            (Some(mut a), Some(b)) => {
                a.merge(&b);
                Some(a)
            }
            (None, z) if self.entries == 0 => z,
            (z, None) if o.entries == 0 => z,
            _ => None,
        };
        self.entries += o.entries;
        self.groups += o.groups;
        self.sum_n_range2 += o.sum_n_range2;
    }

    /// The same groups with weights scaled by √`scale`.
    pub fn scaled(mut self, scale: f64) -> RangeStats {
        self.sum_n_range2 *= scale;
        if let Some(z) = self.zero.as_mut() {
            z.scale(scale);
        }
        self
    }

    /// RMS step √(mean Δ²) over entries.
    pub fn rms_step(&self, spec: &QuantSpec) -> f64 {
        (12.0 * self.step_variance(spec)).sqrt()
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
    /// The per-tensor range, when a first pass found it: the zero level
    /// of a per-tensor step is then counted like a group's.
    tensor_range: Option<f64>,
}

impl RangeAcc {
    fn new(scheme: Scheme, granularity: Granularity, group: usize) -> RangeAcc {
        RangeAcc {
            scheme,
            granularity,
            group,
            stats: RangeStats {
                // A per-tensor step is known only once every entry is seen:
                // no zero level from one pass.
                zero: (granularity != Granularity::Tensor).then(ZeroLevel::default),
                ..RangeStats::default()
            },
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            tensor_range: None,
        }
    }

    /// A per-tensor accumulator whose range a first pass found (`lo`, `hi`
    /// the extremes of every entry).
    fn tensor(scheme: Scheme, lo: f64, hi: f64) -> RangeAcc {
        let mut acc = RangeAcc::new(scheme, Granularity::Tensor, 1);
        acc.tensor_range = Some(acc.range(lo, hi));
        acc.stats.zero = Some(ZeroLevel::default());
        acc
    }

    /// Adds the entries of a group with range `r` that each bit width
    /// rounds to zero: |w| < Δ/2 = r/(2L(B)). L grows with B, so an entry
    /// is small for every B up to its own B*; it is counted at B* and the
    /// counts are summed down to B = 2 at the end (`finish`).
    fn push_zero_level(&mut self, g: &[f64], r: f64) {
        let Some(z) = self.stats.zero.as_mut() else {
            return;
        };
        if r <= 0.0 {
            return;
        }
        let r2 = r * r;
        // L(B) + 1 is 2^(B−1) (symmetric) or 2^B (asymmetric), so
        // a·L(B) < r ⟺ 2^(B−1) < r/a + 1 (resp. 2^B): with v = r/a + 1 and
        // e = ⌊log2 v⌋ read off v's exponent bits, B* = e + 1 (resp. e),
        // one less when v is exactly 2^e (the comparison is strict).
        let shift = match self.scheme {
            Scheme::Sym => 1,
            Scheme::Asym => 0,
        };
        let sym = self.scheme == Scheme::Sym;
        for &x in g {
            let a = 2.0 * x.abs();
            if sym && x.abs() == r {
                // The symmetric grid holds ±max|w| exactly (level ±L):
                // no error at any B. Counted out of the Δ²/12 entries.
                z.small_range2[NZ - 1] += r2;
                continue;
            }
            if a * 1.0 >= r {
                continue; // not small even at B = 2 (L ≥ 1)
            }
            let v = if a > 0.0 { r / a + 1.0 } else { f64::MAX };
            let bits = v.to_bits();
            let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
            if bits & ((1u64 << 52) - 1) == 0 {
                e -= 1;
            }
            let b_star = e + shift;
            if b_star < 2 {
                continue;
            }
            let last = (b_star as usize - 2).min(NZ - 1);
            z.small_sq[last] += x * x;
            z.small_range2[last] += r2;
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
        self.push_zero_level(g, r);
    }

    fn row(&mut self, row: &[f64]) {
        self.stats.entries += row.len() as u64;
        match self.granularity {
            Granularity::Tensor => {
                let (lo, hi) = extremes(row);
                self.lo = self.lo.min(lo);
                self.hi = self.hi.max(hi);
                if let Some(r) = self.tensor_range {
                    self.push_zero_level(row, r);
                }
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
        if let Some(z) = self.stats.zero.as_mut() {
            // An entry counted at B* is small at every B ≤ B*.
            for i in (0..NZ - 1).rev() {
                z.small_sq[i] += z.small_sq[i + 1];
                z.small_range2[i] += z.small_range2[i + 1];
            }
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
    let mut acc = match granularity {
        // One step for the whole matrix: its range first, then the entries.
        Granularity::Tensor => {
            let (lo, hi) = extremes(w);
            RangeAcc::tensor(scheme, lo, hi)
        }
        _ => RangeAcc::new(scheme, granularity, group.max(1)),
    };
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
    let mut acc = RangeAcc::new(scheme, granularity, group.max(1));
    let bad = stream_rows(data, |row| acc.row(row));
    if granularity == Granularity::Tensor {
        // One step for the whole matrix: the entries it rounds to zero are
        // known only once its range is, so a second pass counts them.
        let mut zero = RangeAcc::tensor(scheme, acc.lo, acc.hi);
        stream_rows(data, |row| zero.row(row));
        return (zero.finish(), bad);
    }
    (acc.finish(), bad)
}

/// Calls `f` on each row of a view, decoded a block of rows at a time;
/// returns the count of non-finite values read.
fn stream_rows(data: &MatrixData, mut f: impl FnMut(&[f64])) -> usize {
    let v = data.view;
    let block = ((1usize << 20) / v.cols.max(1)).clamp(1, v.rows.max(1));
    let mut buf = vec![0.0; block * v.cols];
    let mut bad = 0;
    let mut r = 0;
    while r < v.rows {
        let e = (r + block).min(v.rows);
        let b = &mut buf[..(e - r) * v.cols];
        bad += data.read_rows(r, e, b);
        for row in b.chunks(v.cols) {
            f(row);
        }
        r = e;
    }
    bad
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{DType, View};

    /// The parallel row-absmax pass gives what the general accumulator
    /// gives for symmetric per-channel steps (less its zero level), on a
    /// strided view too.
    #[test]
    fn channel_absmax_matches_the_accumulator() {
        let (rows, cols) = (1500, 700);
        let mut rng = crate::synth::rng(4);
        let w = crate::synth::gaussian(rows, cols, 0.3, &mut rng);
        let bytes: Vec<u8> = crate::synth::row_major(&w)
            .iter()
            .flat_map(|x| (*x as f32).to_le_bytes())
            .collect();
        let dense = View::dense(0, rows, cols);
        // Every other column, as a conv slice would be read.
        let strided = View {
            offset: 1,
            rows,
            cols: cols / 2,
            row_stride: cols,
            col_stride: 2,
        };
        for view in [dense, strided] {
            let d = MatrixData {
                bytes: &bytes,
                dtype: &DType::F32,
                view,
            };
            let fast = RangeStats::channel_absmax(&d, 0.5);
            let (slow, _) = range_stats_of(&d, Scheme::Sym, Granularity::Channel, 1);
            let slow = slow.scaled(0.5);
            assert_eq!((fast.entries, fast.groups), (slow.entries, slow.groups));
            let rel = (fast.sum_n_range2 - slow.sum_n_range2).abs() / slow.sum_n_range2;
            assert!(rel < 1e-12, "{rel}");
            assert!(fast.zero.is_none());
        }
    }
}
