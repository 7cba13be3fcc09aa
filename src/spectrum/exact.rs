//! Exact spectrum on the CPU in f64: the lower triangle of the M×M Gram
//! matrix accumulated over blocks of the long side ([`gemmt_lower`]), then
//! all its eigenvalues: Householder tridiagonalization (faer's one-stage
//! below [`TWO_STAGE_MIN`], [`super::twostage`] from there on) and the
//! root-free QL/QR of [`super::tridiagonal`]. This is the reference every
//! other method is checked against.
//!
//! Memory: one Gram (M²·8 bytes), one block (≤ 16 MiB, reused by each
//! thread from matrix to matrix), and the solver's workspace; never the
//! whole matrix in f64.

use crate::load::quant::absmax;
use crate::load::{DType, MatrixData};
use crate::simd::gemmt_lower;
use faer::{Mat, MatRef, Par};
use std::ops::Range;

/// Elements of f64 decoded per block (16 MiB, ≥ 5461 rows at M = 384):
/// long enough for the threaded matrix product to run at full speed. 4 MiB
/// blocks measured 10–25% slower at 768×3072 with two threads.
pub(crate) const BLOCK_ELEMS: usize = 1 << 21;

thread_local! {
    /// The decode buffer, kept per thread so that analysing hundreds of
    /// matrices does not fault in (and zero) fresh pages for each one.
    static BLOCK: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SpectrumError {
    #[error("{count} non-finite values (NaN or Inf) in the weights")]
    NonFinite { count: usize },
    #[error("the eigen-solver did not converge")]
    NoConvergence,
    #[error(
        "the largest |w| is {max_abs:e}: squared singular values of these weights lie outside f64's range"
    )]
    OutOfRange { max_abs: f64 },
    #[error(
        "eigenvalues sum to {sum:e} but the squared Frobenius norm is {frob2:e} (relative gap {gap:.1e})"
    )]
    TraceMismatch { sum: f64, frob2: f64, gap: f64 },
    #[error(transparent)]
    Backend(#[from] super::operator::BackendError),
}

/// This thread's decode buffer, at least `len` long (its contents are
/// stale: callers overwrite what they read). Taken out of the thread's
/// slot for the duration, so a nested call simply gets a new buffer; hand
/// it back with [`give_block`].
pub fn take_block(len: usize) -> Vec<f64> {
    let mut buf = BLOCK.with_borrow_mut(std::mem::take);
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    buf
}

/// Returns a buffer from [`take_block`] to this thread's slot (the larger
/// one is kept).
pub fn give_block(buf: Vec<f64>) {
    BLOCK.with_borrow_mut(|slot| {
        if slot.capacity() < buf.capacity() {
            *slot = buf;
        }
    });
}

/// Rows `s..e` of A (the view in its tall orientation) decoded into `out`:
/// for a tall view its rows (row-major (e−s)×M), for a wide one its
/// columns (row-major M×(e−s)), as [`MatrixData::read_rows`] and
/// [`MatrixData::read_cols`] give them. Contiguous BF16 and F32 rows are
/// converted by bit operations the compiler vectorizes (≈ 1.4 ns per value
/// against ≈ 10 for the general decoder); everything else goes through the
/// general decoder. Returns the count of non-finite values.
pub fn read_panel(data: &MatrixData, s: usize, e: usize, out: &mut [f64]) -> usize {
    let v = data.view;
    let (tall, _, m) = v.sides();
    let fast = matches!(data.dtype, DType::BF16 | DType::F32);
    if v.col_stride != 1 || !fast || cfg!(target_endian = "big") {
        return if tall {
            data.read_rows(s, e, out)
        } else {
            data.read_cols(s, e, out)
        };
    }
    let size = data.dtype.size().unwrap_or(1);
    let run = |first: usize, len: usize, dst: &mut [f64]| {
        let at = first * size;
        convert(&data.bytes[at..at + len * size], data.dtype, dst)
    };
    if tall {
        (s..e)
            .zip(out.chunks_exact_mut(m))
            .map(|(r, dst)| run(v.offset + r * v.row_stride, m, dst))
            .sum()
    } else {
        let w = e - s;
        (0..m)
            .zip(out.chunks_exact_mut(w))
            .map(|(r, dst)| run(v.offset + r * v.row_stride + s, w, dst))
            .sum()
    }
}

/// Contiguous little-endian BF16 or F32 values into f64; the count of
/// non-finite ones (exponent all ones).
fn convert(src: &[u8], dtype: &DType, out: &mut [f64]) -> usize {
    match dtype {
        DType::BF16 => match bytemuck::try_cast_slice::<u8, u16>(src) {
            Ok(words) => widen(words, out, bf16_bits),
            Err(_) => {
                let words: Vec<u16> = src
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                widen(&words, out, bf16_bits)
            }
        },
        _ => match bytemuck::try_cast_slice::<u8, u32>(src) {
            Ok(words) => widen(words, out, |u| u),
            Err(_) => {
                let words: Vec<u32> = src
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                widen(&words, out, |u| u)
            }
        },
    }
}

/// A BF16 value's bits as an f32's.
fn bf16_bits(u: u16) -> u32 {
    u32::from(u) << 16
}

/// f32 bit patterns (given by `bits`) into f64, 16 lanes at a time so the
/// compiler vectorizes the loop; the count of non-finite values.
fn widen<T: Copy>(words: &[T], out: &mut [f64], bits: impl Fn(T) -> u32) -> usize {
    const LANES: usize = 16;
    const EXP: u32 = 0x7f80_0000;
    let mut bad = 0usize;
    let mut oc = out.chunks_exact_mut(LANES);
    let mut wc = words.chunks_exact(LANES);
    for (o, w) in (&mut oc).zip(&mut wc) {
        let mut b = 0u32;
        for i in 0..LANES {
            let u = bits(w[i]);
            b += u32::from(u & EXP == EXP);
            o[i] = f64::from(f32::from_bits(u));
        }
        bad += b as usize;
    }
    for (o, &w) in oc.into_remainder().iter_mut().zip(wc.remainder()) {
        let u = bits(w);
        bad += usize::from(u & EXP == EXP);
        *o = f64::from(f32::from_bits(u));
    }
    bad
}

/// Accumulates the lower triangle of G = AᵀA, where A is the matrix with
/// its long side as rows (so G is M×M). `done` is told which byte range of
/// the tensor a finished block spanned, so its pages can be released.
pub fn gram_lower(
    data: &MatrixData,
    par: Par,
    done: impl FnMut(Range<usize>),
) -> Result<Mat<f64>, SpectrumError> {
    gram_lower_observed(data, par, done, None)
}

/// [`gram_lower`], also recording max_j |w_rj| of every row r of the view
/// into `row_absmax` (length = rows) from the same decoded blocks: the
/// per-output-channel ranges quantization predictions need, without a
/// second pass over the weights.
pub fn gram_lower_observed(
    data: &MatrixData,
    par: Par,
    done: impl FnMut(Range<usize>),
    row_absmax: Option<&mut [f64]>,
) -> Result<Mat<f64>, SpectrumError> {
    gram_scaled(data, par, done, row_absmax, 1.0)
}

/// The Gram of `scale`·A (`row_absmax` records the unscaled rows).
fn gram_scaled(
    data: &MatrixData,
    par: Par,
    mut done: impl FnMut(Range<usize>),
    mut row_absmax: Option<&mut [f64]>,
    scale: f64,
) -> Result<Mat<f64>, SpectrumError> {
    let v = data.view;
    let (tall, long, m) = v.sides();
    let mut g = Mat::<f64>::zeros(m, m);
    let b = (BLOCK_ELEMS / m.max(1)).clamp(1, long.max(1));
    let mut buf = take_block(b * m);
    let mut bad = 0;
    let mut start = 0;
    while start < long {
        let end = (start + b).min(long);
        let w = end - start;
        let block = &mut buf[..w * m];
        if tall {
            let mx = row_absmax.as_deref_mut().map(|mx| &mut mx[start..end]);
            bad += decode_rows(data, start, block, mx, par);
            rescale(block, scale);
            let a = MatRef::from_row_major_slice(block, w, m);
            syrk_add(&mut g, a.transpose(), par);
            if v.col_stride == 1 {
                done(data.row_bytes(start, end));
            }
        } else {
            bad += read_panel(data, start, end, block);
            if let Some(mx) = row_absmax.as_deref_mut() {
                for (r, row) in block.chunks_exact(w).enumerate() {
                    mx[r] = mx[r].max(absmax(row));
                }
            }
            rescale(block, scale);
            let y = MatRef::from_row_major_slice(block, m, w);
            syrk_add(&mut g, y, par);
        }
        start = end;
    }
    give_block(buf);
    if bad > 0 {
        return Err(SpectrumError::NonFinite { count: bad });
    }
    Ok(g)
}

/// Rows `start..` of a tall view decoded into `block` (row-major, M
/// wide), on `par`'s threads in runs of rows, each row's max |w| into
/// `row_absmax` when given; returns the non-finite count.
fn decode_rows(
    data: &MatrixData,
    start: usize,
    block: &mut [f64],
    row_absmax: Option<&mut [f64]>,
    par: Par,
) -> usize {
    use rayon::prelude::*;
    let m = data.view.sides().2.max(1);
    let rows = block.len() / m;
    let threads = par.degree();
    let run = (rows.div_ceil(4 * threads)).max(1);
    let decode = |(i, chunk): (usize, &mut [f64]), mx: Option<&mut [f64]>| {
        let s = start + i * run;
        let bad = read_panel(data, s, s + chunk.len() / m, chunk);
        if let Some(mx) = mx {
            for (out, row) in mx.iter_mut().zip(chunk.chunks_exact(m)) {
                *out = absmax(row);
            }
        }
        bad
    };
    if threads == 1 {
        return decode((0, block), row_absmax);
    }
    match row_absmax {
        Some(mx) => block
            .par_chunks_mut(run * m)
            .zip(mx.par_chunks_mut(run))
            .enumerate()
            .map(|(i, (chunk, mx))| decode((i, chunk), Some(mx)))
            .sum(),
        None => block
            .par_chunks_mut(run * m)
            .enumerate()
            .map(|c| decode(c, None))
            .sum(),
    }
}

fn rescale(block: &mut [f64], scale: f64) {
    if scale != 1.0 {
        block.iter_mut().for_each(|x| *x *= scale);
    }
}

/// The largest |w| of a view (a pass over its weights), for a Gram whose
/// squares overflowed or underflowed.
fn abs_max(data: &MatrixData) -> f64 {
    let v = data.view;
    let rows = (BLOCK_ELEMS / v.cols.max(1)).clamp(1, v.rows.max(1));
    let mut buf = take_block(rows * v.cols);
    let mut max = 0.0f64;
    let mut r = 0;
    while r < v.rows {
        let e = (r + rows).min(v.rows);
        let block = &mut buf[..(e - r) * v.cols];
        data.read_rows(r, e, block);
        max = max.max(absmax(block));
        r = e;
    }
    give_block(buf);
    max
}

/// Squared Frobenius norms this far from 1 lose digits (or everything) to
/// overflow or underflow in f64: the Gram is then formed of A/max|w|.
fn out_of_range(frob2: f64) -> bool {
    !frob2.is_finite() || (frob2 > 0.0 && frob2 < 1e-250) || frob2 > 1e250
}

/// G += X·Xᵀ on the lower triangle (X is M×w; see [`gemmt_lower`]).
fn syrk_add(g: &mut Mat<f64>, x: MatRef<'_, f64>, par: Par) {
    gemmt_lower(g.as_mut(), x, x, 1.0, par);
}

/// From this order on, the matrix no longer fits in a last-level cache and
/// the two-stage reduction (`twostage`) beats the one-stage one.
pub const TWO_STAGE_MIN: usize = 2048;
/// Half-bandwidth of the intermediate band in the two-stage reduction.
pub const TWO_STAGE_BAND: usize = 32;

/// All eigenvalues of a symmetric matrix given by its lower triangle,
/// descending: Householder tridiagonalization (faer's one-stage below
/// [`TWO_STAGE_MIN`], the two-stage reduction from there on), then the
/// root-free QL/QR of `tridiagonal`. Values below zero (round-off on a rank-deficient
/// Gram, |μ| ≲ ε·M·μ_max) are clamped to zero: μ = σ² cannot be negative.
pub fn eigenvalues_desc(g: MatRef<'_, f64>, par: Par) -> Result<Vec<f64>, SpectrumError> {
    Ok(clamped(raw_desc(g, par)?))
}

/// [`eigenvalues_desc`], checked against `trace` (see [`check_trace`])
/// *before* negative round-off is clamped: on an f32 Gram (the GPU's) of a
/// rank-deficient matrix the null eigenvalues are ±ε₃₂-sized, and clamping
/// them first would move Σμ by more than the check allows although nothing
/// was lost.
pub fn eigenvalues_desc_checked(
    g: MatRef<'_, f64>,
    trace: f64,
    par: Par,
) -> Result<Vec<f64>, SpectrumError> {
    let raw = raw_desc(g, par)?;
    check_trace(&raw, trace)?;
    Ok(clamped(raw))
}

/// Descending eigenvalues, negative round-off kept.
fn raw_desc(g: MatRef<'_, f64>, par: Par) -> Result<Vec<f64>, SpectrumError> {
    if g.nrows() == 0 {
        return Ok(Vec::new());
    }
    let (d, e) = if g.nrows() >= TWO_STAGE_MIN {
        super::twostage::tridiagonalize(g, TWO_STAGE_BAND, par)
    } else {
        let mut t = Mat::<f64>::zeros(g.nrows(), g.nrows());
        t.copy_from_triangular_lower(g);
        one_stage(t.as_mut(), par)
    };
    tridiagonal_desc(d, e)
}

/// [`raw_desc`] for a Gram the caller no longer needs: reduced in place
/// instead of copied.
fn raw_desc_owned(mut g: Mat<f64>, par: Par) -> Result<Vec<f64>, SpectrumError> {
    if g.nrows() == 0 {
        return Ok(Vec::new());
    }
    if g.nrows() >= TWO_STAGE_MIN {
        let (d, e) = super::twostage::tridiagonalize_owned(g, TWO_STAGE_BAND, par);
        return tridiagonal_desc(d, e);
    }
    let (d, e) = one_stage(g.as_mut(), par);
    tridiagonal_desc(d, e)
}

fn clamped(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().map(|x| x.max(0.0)).collect()
}

fn tridiagonal_desc(mut d: Vec<f64>, mut e: Vec<f64>) -> Result<Vec<f64>, SpectrumError> {
    super::tridiagonal::eigenvalues(&mut d, &mut e).map_err(|_| SpectrumError::NoConvergence)?;
    d.reverse();
    Ok(d)
}

/// faer's Householder tridiagonalization of the symmetric matrix whose
/// lower triangle is in `t` (overwritten): (diagonal, sub-diagonal).
fn one_stage(mut t: faer::MatMut<'_, f64>, par: Par) -> (Vec<f64>, Vec<f64>) {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::tridiag;
    let n = t.nrows();
    if n > 1 {
        let bs = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(n, n);
        let mut householder = Mat::<f64>::zeros(bs, n - 1);
        let scratch = tridiag::tridiag_in_place_scratch::<f64>(n, par, Default::default());
        tridiag::tridiag_in_place(
            t.as_mut(),
            householder.as_mut(),
            par,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        );
    }
    let d = (0..n).map(|i| t[(i, i)]).collect();
    let e = (0..n.saturating_sub(1)).map(|i| t[(i + 1, i)]).collect();
    (d, e)
}

/// The exact spectrum of one matrix: eigenvalues of its Gram, descending,
/// checked against the trace (Σμ must equal ‖W‖²_F = tr G to ~ε·M).
pub fn exact_spectrum(
    data: &MatrixData,
    par: Par,
    done: impl FnMut(Range<usize>),
) -> Result<Vec<f64>, SpectrumError> {
    exact_spectrum_observed(data, par, done, None)
}

/// [`exact_spectrum`], also filling `row_absmax` (see [`gram_lower_observed`]).
pub fn exact_spectrum_observed(
    data: &MatrixData,
    par: Par,
    done: impl FnMut(Range<usize>),
    row_absmax: Option<&mut [f64]>,
) -> Result<Vec<f64>, SpectrumError> {
    let trace = |g: &Mat<f64>| (0..g.nrows()).map(|i| g[(i, i)]).sum::<f64>();
    let mut g = gram_lower_observed(data, par, done, row_absmax)?;
    let mut frob2 = trace(&g);
    let mut unit = 1.0;
    if out_of_range(frob2) {
        // Finite weights whose squares leave f64's range (|w| ≳ 1e125 or
        // ≲ 1e-125): the spectrum of A/s, scaled back by s².
        let s = abs_max(data);
        if s > 0.0 && s.is_finite() {
            unit = s * s;
            if !unit.is_normal() {
                return Err(SpectrumError::OutOfRange { max_abs: s });
            }
            g = gram_scaled(data, par, |_| {}, None, 1.0 / s)?;
            frob2 = trace(&g);
        }
    }
    let raw = raw_desc_owned(g, par)?;
    check_trace(&raw, frob2)?;
    let evals = clamped(raw);
    if unit == 1.0 {
        return Ok(evals);
    }
    let scaled: Vec<f64> = evals.into_iter().map(|x| x * unit).collect();
    if scaled.iter().any(|x| !x.is_finite()) {
        return Err(SpectrumError::OutOfRange {
            max_abs: unit.sqrt(),
        });
    }
    Ok(scaled)
}

/// Σμ against ‖W‖²_F. The tolerance 1e-8·M is far above f64 round-off of a
/// backward-stable solver (≈ ε·M ≈ 1e-13 for M = 4096) and far below any
/// real failure (a lost or duplicated eigenvalue).
pub fn check_trace(evals: &[f64], frob2: f64) -> Result<(), SpectrumError> {
    let sum: f64 = evals.iter().sum();
    let gap = (sum - frob2).abs() / frob2.abs().max(f64::MIN_POSITIVE);
    if frob2 > 0.0 && gap > 1e-8 * (evals.len().max(1) as f64) {
        return Err(SpectrumError::TraceMismatch { sum, frob2, gap });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_and_tiny_weights_are_scaled_not_overflowed() {
        use crate::load::{DType, MatrixData, View};
        let base: Vec<f64> = (0..6 * 4).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
        let exact = |w: &[f64]| {
            let bytes: &[u8] = bytemuck::cast_slice(w);
            let d = MatrixData {
                bytes,
                dtype: &DType::F64,
                view: View::dense(0, 6, 4),
            };
            super::exact_spectrum(&d, faer::Par::Seq, |_| {})
        };
        let reference = exact(&base).unwrap();
        for scale in [1e130, 1e-130] {
            let w: Vec<f64> = base.iter().map(|x| x * scale).collect();
            let got = exact(&w).unwrap();
            for (g, r) in got.iter().zip(&reference) {
                let want = r * scale * scale;
                // Relative to μ_1: the scaled Gram has the same round-off.
                assert!((g - want).abs() <= 1e-12 * reference[0] * scale * scale);
            }
        }
        // |w| ~ 1e160: μ ~ 1e320 cannot be represented; the error says so.
        let w: Vec<f64> = base.iter().map(|x| x * 1e160).collect();
        let e = exact(&w).unwrap_err().to_string();
        assert!(e.contains("outside f64's range"), "{e}");
    }

    /// The bit-operation decoder of contiguous BF16 and F32 panels gives
    /// the general decoder's values exactly and the same count of
    /// non-finite ones, on tall and wide views whose rows are not a
    /// multiple of its 16 lanes.
    #[test]
    fn fast_panels_match_the_general_decoder() {
        use crate::load::{DType, MatrixData, View};
        let vals: Vec<f32> = (0..37 * 21)
            .map(|i| match i {
                5 => f32::NAN,
                100 => f32::INFINITY,
                301 => f32::NEG_INFINITY,
                _ => ((i * 7919 % 1013) as f32 - 506.0) * 1.7e-3,
            })
            .collect();
        let f32_bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bf16_bytes: Vec<u8> = vals
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        for (dtype, bytes) in [(DType::F32, &f32_bytes), (DType::BF16, &bf16_bytes)] {
            for (rows, cols) in [(37, 21), (21, 37)] {
                let data = MatrixData {
                    bytes,
                    dtype: &dtype,
                    view: View::dense(0, rows, cols),
                };
                let (tall, long, m) = data.view.sides();
                let (s, e) = (3, long - 2);
                let mut fast = vec![0.0; (e - s) * m];
                let mut slow = vec![0.0; (e - s) * m];
                let bad = read_panel(&data, s, e, &mut fast);
                let want = if tall {
                    data.read_rows(s, e, &mut slow)
                } else {
                    data.read_cols(s, e, &mut slow)
                };
                assert_eq!(bad, want, "{dtype} {rows}×{cols}");
                for (a, b) in fast.iter().zip(&slow) {
                    assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                }
            }
        }
    }

    use super::*;
    use crate::load::{DType, View};

    fn bytes_f64(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Eigenvalues of WᵀW against singular values of W from faer's SVD (an
    /// independent algorithm), for tall, wide and square shapes.
    #[test]
    fn matches_svd_squared() {
        let mut state = 12345u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for (r, c) in [
            (1, 1),
            (2, 5),
            (5, 2),
            (63, 64),
            (65, 65),
            (200, 37),
            (37, 200),
        ] {
            let w: Vec<f64> = (0..r * c).map(|_| next()).collect();
            let bytes = bytes_f64(&w);
            let data = MatrixData {
                bytes: &bytes,
                dtype: &DType::F64,
                view: View::dense(0, r, c),
            };
            let evals = exact_spectrum(&data, Par::Seq, |_| {}).unwrap();
            let sv = MatRef::from_row_major_slice(&w, r, c)
                .singular_values()
                .unwrap();
            assert_eq!(evals.len(), r.min(c));
            let top = sv[0] * sv[0];
            for (e, s) in evals.iter().zip(&sv) {
                // Both are backward stable: errors of a few ε·‖W‖².
                assert!(
                    (e - s * s).abs() <= 1e-12 * top,
                    "{r}x{c}: {e} vs {}",
                    s * s
                );
            }
        }
    }

    /// At the two-stage threshold the result must equal faer's one-stage
    /// solver's on the same Gram (|Δμ| ≤ 1e-12·μ_max, far above both
    /// solvers' ε·n·‖G‖ and far below any structural error).
    #[test]
    fn two_stage_path_agrees_with_faer() {
        let n = TWO_STAGE_MIN;
        let x = crate::synth::with_spectrum(
            n,
            n + 5,
            &crate::synth::power_law(n, 1.3, 10.0),
            0.01,
            &mut crate::synth::rng(8),
        );
        let g = &x * x.transpose();
        let ours = eigenvalues_desc(g.as_ref(), Par::rayon(0)).unwrap();
        let mut want = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        want.reverse();
        for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
            assert!(
                (a - b.max(0.0)).abs() <= 1e-12 * want[0],
                "μ_{k}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn nan_is_an_error() {
        let w = [1.0, f64::NAN, 2.0, 3.0];
        let bytes = bytes_f64(&w);
        let data = MatrixData {
            bytes: &bytes,
            dtype: &DType::F64,
            view: View::dense(0, 2, 2),
        };
        assert_eq!(
            exact_spectrum(&data, Par::Seq, |_| {}),
            Err(SpectrumError::NonFinite { count: 1 })
        );
    }
}
