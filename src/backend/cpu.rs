//! The CPU Gram operator, matrix-free: G·X = Aᵀ(A·X) for a block of
//! vectors X (A the matrix in its tall orientation, N×M), one pass over the
//! weights per application whatever the block's width. A pass walks A in
//! panels of rows small enough to stay in cache between the two products
//! ([`crate::simd`]'s blocked kernels, one accumulator per thread), so the weights
//! cross the memory bus once per block of vectors rather than once per
//! vector: a block of 16 costs about twice what one vector does. Panels
//! are decoded from the weights' bytes at every pass (contiguous BF16 and
//! F32 by vectorized bit operations: decoding costs about what reading an
//! f64 copy would, and the pass is bound by its arithmetic, so no copy is
//! kept for them); other dtypes and strided views are kept decoded in f64
//! when the copy fits the allowance the caller gives. Every vector
//! operation (Gram–Schmidt, rotations) is f64 and blocked.
//!
//! [`CpuOperator::with_gram`] keeps the dense form: G formed once (N·M²
//! work, M² memory), then applied as a product with G. It pays when a
//! method needs more than about M/4 vector products ([`gram_pays`]).
//!
//! Owns the arithmetic of one matrix's operator; which method runs and how
//! many products it may spend is `spectrum::krylov`'s and the pipeline's.

use super::{BackendError, GramOperator, Step};
use crate::load::quant::absmax;
use crate::load::{DType, MatrixData, View};
use crate::simd::matmul;
use crate::spectrum::SpectrumError;
use crate::spectrum::exact::gram_lower_observed;
use crate::spectrum::exact::{BLOCK_ELEMS, give_block, read_panel, take_block};
use faer::reborrow::*;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Bytes of one panel of A (rows × M f64): with X and the accumulator of a
/// 16-wide block it stays in a 2 MiB L2 between the two products.
const PANEL_BYTES: usize = 256 << 10;

/// Fewest long-side columns in a panel of a wide matrix (M rows < N
/// columns), whose panel is a block of columns read as one segment per
/// row: at 8 columns a segment is 16 bytes of BF16, a quarter of a cache
/// line, and the 4096×11008 BF16 noise matrix took 5.4–6.0 s for 41 passes
/// against 2.1–2.6 s for its 11008×4096 transpose; at 64 columns
/// (2 MiB of f64 at M = 4096) it took 3.4–4.0 s.
const WIDE_PANEL_MIN: usize = 64;

/// The block width the Krylov methods use on this operator by default.
pub const CPU_BLOCK: usize = 8;

/// Where the weights are read from at every application.
enum Weights<'a> {
    /// A decoded, row-major N×M.
    Copy(Vec<f64>),
    /// Decoded panel by panel from the tensor's bytes at every pass.
    Source {
        bytes: &'a [u8],
        dtype: &'a DType,
        view: View,
    },
    /// G itself (both triangles).
    Gram(Mat<f64>),
}

pub struct CpuOperator<'a> {
    weights: Weights<'a>,
    /// Rows are A's rows (the view's rows), else A's rows are its columns.
    tall: bool,
    /// N, the long side.
    long: usize,
    m: usize,
    frob2: f64,
    /// Basis columns (M × capacity).
    q: Mat<f64>,
    par: Par,
}

/// Whether forming G first is cheaper than streaming the weights for a
/// method that needs `products` operator–vector products on an N×M matrix:
/// the Gram costs N·M² multiply-adds once and 2·M² per product after it,
/// streaming 2·N·M per product (counted in multiply-adds, the kernels run
/// both at similar speed).
pub fn gram_pays(long: usize, m: usize, products: usize) -> bool {
    let (n, m, p) = (long as f64, m as f64, products as f64);
    n * m * m / 2.0 + p * m * m < p * 2.0 * n * m
}

impl<'a> CpuOperator<'a> {
    /// The streaming operator with the decoded weights kept in memory.
    pub fn new(data: &MatrixData<'a>, par: Par) -> Result<CpuOperator<'a>, SpectrumError> {
        CpuOperator::streaming(data, par, u64::MAX)
    }

    /// The streaming operator. Contiguous BF16 and F32 weights are decoded
    /// from `data`'s bytes at every pass; others are kept decoded in f64
    /// when that copy (N·M·8 bytes) is at most `copy_limit`, else decoded
    /// at every pass too. One pass here counts non-finite weights (an
    /// error) and forms ‖W‖²_F.
    pub fn streaming(
        data: &MatrixData<'a>,
        par: Par,
        copy_limit: u64,
    ) -> Result<CpuOperator<'a>, SpectrumError> {
        CpuOperator::streaming_observed(data, par, copy_limit, None)
    }

    /// [`CpuOperator::streaming`], also recording max_j |w_rj| of every row
    /// r of the view into `row_absmax` (length = rows) in the same pass:
    /// the per-output-channel ranges, without a pass of their own.
    pub fn streaming_observed(
        data: &MatrixData<'a>,
        par: Par,
        copy_limit: u64,
        row_absmax: Option<&mut [f64]>,
    ) -> Result<CpuOperator<'a>, SpectrumError> {
        let (tall, long, m) = data.view.sides();
        // Contiguous BF16 and F32 rows decode about as fast as an f64 copy
        // is read (the pass is bound by its arithmetic): no copy for them.
        let fast = data.view.col_stride == 1 && matches!(data.dtype, DType::BF16 | DType::F32);
        let keep = !fast && (long as u64) * (m as u64) * 8 <= copy_limit;
        let (frob2, copy) = decode_all(data, par, keep, row_absmax)?;
        let weights = match copy {
            Some(a) => Weights::Copy(a),
            None => Weights::Source {
                bytes: data.bytes,
                dtype: data.dtype,
                view: data.view,
            },
        };
        checked_range(frob2)?;
        Ok(CpuOperator {
            weights,
            tall,
            long,
            m,
            frob2,
            q: Mat::zeros(m, 0),
            par,
        })
    }

    /// The cheaper operator for a method expected to need `products`
    /// operator–vector products: the dense one when [`gram_pays`], else the
    /// streaming one (its decoded copy within `copy_limit`); the rows' max
    /// |w| into `row_absmax` when given, from the pass either makes.
    pub fn for_products(
        data: &MatrixData<'a>,
        par: Par,
        products: usize,
        copy_limit: u64,
        row_absmax: Option<&mut [f64]>,
    ) -> Result<CpuOperator<'a>, SpectrumError> {
        let (_, long, m) = data.view.sides();
        if gram_pays(long, m, products) {
            CpuOperator::with_gram_observed(data, par, row_absmax)
        } else {
            CpuOperator::streaming_observed(data, par, copy_limit, row_absmax)
        }
    }

    /// The dense operator: G formed once in f64, then products with it.
    pub fn with_gram(data: &MatrixData<'a>, par: Par) -> Result<CpuOperator<'a>, SpectrumError> {
        CpuOperator::with_gram_observed(data, par, None)
    }

    /// [`CpuOperator::with_gram`], also recording the rows' max |w| (see
    /// [`CpuOperator::streaming_observed`]).
    pub fn with_gram_observed(
        data: &MatrixData<'a>,
        par: Par,
        row_absmax: Option<&mut [f64]>,
    ) -> Result<CpuOperator<'a>, SpectrumError> {
        let (tall, long, _) = data.view.sides();
        let lower = gram_lower_observed(data, par, |_| {}, row_absmax)?;
        let mut op = CpuOperator::from_lower(lower, par);
        op.tall = tall;
        op.long = long;
        checked_range(op.frob2)?;
        Ok(op)
    }

    /// The dense operator of a Gram given by its lower triangle.
    pub fn from_lower(mut g: Mat<f64>, par: Par) -> CpuOperator<'static> {
        let n = g.nrows();
        for j in 0..n {
            for i in 0..j {
                g[(i, j)] = g[(j, i)];
            }
        }
        let frob2 = (0..n).map(|i| g[(i, i)]).sum();
        CpuOperator {
            weights: Weights::Gram(g),
            tall: true,
            long: n,
            m: n,
            frob2,
            q: Mat::zeros(n, 0),
            par,
        }
    }

    /// Whether the weights are streamed (kept or decoded per pass) rather
    /// than multiplied through a formed Gram.
    pub fn is_streaming(&self) -> bool {
        !matches!(self.weights, Weights::Gram(_))
    }

    /// Whether a decoded copy of the weights is held.
    pub fn holds_copy(&self) -> bool {
        matches!(self.weights, Weights::Copy(_))
    }

    /// G·X for the M×b block X.
    pub fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let (m, b) = (self.m, x.ncols());
        let mut z = Mat::<f64>::zeros(m, b);
        if let Weights::Gram(g) = &self.weights {
            matmul(z.as_mut(), Accum::Replace, g.as_ref(), x, 1.0, self.par);
            return z;
        }
        let mut rows = (PANEL_BYTES / (8 * m.max(1))).clamp(8, self.long.max(8));
        if !self.tall {
            rows = rows.max(WIDE_PANEL_MIN).min(self.long.max(8));
        }
        let panels = self.long.div_ceil(rows);
        let threads = self.par.degree().min(panels).max(1);
        let range = |t: usize| {
            let lo = panels * t / threads * rows;
            let hi = (panels * (t + 1) / threads * rows).min(self.long);
            lo..hi
        };
        if threads == 1 {
            self.pass(range(0), rows, x, z.as_mut());
            return z;
        }
        let parts: Vec<Mat<f64>> = (0..threads)
            .into_par_iter()
            .map(|t| {
                let mut zt = Mat::<f64>::zeros(m, b);
                self.pass(range(t), rows, x, zt.as_mut());
                zt
            })
            .collect();
        for p in &parts {
            z += p;
        }
        z
    }

    /// Z += Σ over the panels of A's rows in `span`: A_pᵀ·(A_p·X).
    fn pass(
        &self,
        span: std::ops::Range<usize>,
        rows: usize,
        x: MatRef<'_, f64>,
        mut z: MatMut<'_, f64>,
    ) {
        let (m, b) = (self.m, x.ncols());
        let mut y = Mat::<f64>::zeros(rows, b);
        let mut buf = match self.weights {
            Weights::Source { .. } => take_block(rows * m),
            _ => Vec::new(),
        };
        let mut s = span.start;
        while s < span.end {
            let e = (s + rows).min(span.end);
            let r = e - s;
            // A_p as a faer view: rows s..e of A, r×M.
            let ap: MatRef<'_, f64> = match &self.weights {
                Weights::Copy(a) => MatRef::from_row_major_slice(&a[s * m..e * m], r, m),
                Weights::Source { bytes, dtype, view } => {
                    let data = MatrixData {
                        bytes,
                        dtype,
                        view: *view,
                    };
                    let block = &mut buf[..r * m];
                    read_panel(&data, s, e, block);
                    if self.tall {
                        MatRef::from_row_major_slice(block, r, m)
                    } else {
                        MatRef::from_row_major_slice(block, m, r).transpose()
                    }
                }
                Weights::Gram(_) => unreachable!("the Gram is applied whole"),
            };
            let mut yp = y.as_mut().subrows_mut(0, r);
            matmul(yp.rb_mut(), Accum::Replace, ap, x, 1.0, Par::Seq);
            matmul(
                z.rb_mut(),
                Accum::Add,
                ap.transpose(),
                yp.rb(),
                1.0,
                Par::Seq,
            );
            s = e;
        }
        if !buf.is_empty() {
            give_block(buf);
        }
    }

    /// Columns `lo..hi` of the basis.
    fn cols(&self, lo: usize, hi: usize) -> MatRef<'_, f64> {
        self.q.as_ref().subcols(lo, hi - lo)
    }

    /// w ⟂ q_lo..q_{hi−1} by CGS2; adds the coefficients to `coef`.
    fn project(&self, lo: usize, hi: usize, mut w: MatMut<'_, f64>, coef: &mut [f64]) {
        if hi <= lo {
            return;
        }
        let q = self.cols(lo, hi);
        let mut h = Mat::<f64>::zeros(hi - lo, 1);
        for _ in 0..2 {
            matmul(
                h.as_mut(),
                Accum::Replace,
                q.transpose(),
                w.rb(),
                1.0,
                Par::Seq,
            );
            matmul(w.rb_mut(), Accum::Add, q, h.as_ref(), -1.0, Par::Seq);
            for (c, i) in coef.iter_mut().zip(0..) {
                *c += h[(i, 0)];
            }
        }
    }

    /// Normalizes `w` into column `col` (zero when ‖w‖ ≤ floor or ‖w‖ = 0);
    /// returns ‖w‖.
    fn store(&mut self, col: usize, w: MatRef<'_, f64>, floor: f64) -> f64 {
        let norm = w.norm_l2();
        let mut dst = self.q.as_mut().col_mut(col);
        if norm > floor && norm > 0.0 {
            let inv = 1.0 / norm;
            for i in 0..self.m {
                dst[i] = w[(i, 0)] * inv;
            }
        } else {
            dst.fill(0.0);
        }
        norm
    }
}

/// ‖W‖²_F far from 1 loses digits (or everything) to f64's range.
fn checked_range(frob2: f64) -> Result<(), SpectrumError> {
    if !frob2.is_finite() || frob2 > 1e250 || (frob2 > 0.0 && frob2 < 1e-250) {
        return Err(SpectrumError::OutOfRange {
            max_abs: frob2.sqrt(),
        });
    }
    Ok(())
}

/// One pass over the weights: ‖W‖²_F, A decoded row-major when `keep`,
/// and each view row's max |w| into `row_absmax` when given. Non-finite
/// weights are an error, counted as the Gram path counts them.
fn decode_all(
    data: &MatrixData,
    par: Par,
    keep: bool,
    row_absmax: Option<&mut [f64]>,
) -> Result<(f64, Option<Vec<f64>>), SpectrumError> {
    let (tall, long, m) = data.view.sides();
    let rows = (BLOCK_ELEMS / m.max(1)).clamp(1, long.max(1));
    let observe = row_absmax.is_some();
    let mut copy = if keep {
        vec![0.0; long * m]
    } else {
        Vec::new()
    };
    // A panel's ‖·‖², its non-finite count and (when observed) the max |w|
    // of the view rows it holds: rows s..e of a tall view, every row of a
    // wide one (whose panel is M view rows × the columns s..e).
    struct Panel {
        sum: f64,
        bad: usize,
        absmax: Vec<f64>,
    }
    let chunk = |s: usize, out: &mut [f64]| -> Panel {
        let e = (s + rows).min(long);
        let block = &mut out[..(e - s) * m];
        let bad = read_panel(data, s, e, block);
        let sum = block.iter().map(|v| v * v).sum::<f64>();
        let absmax = if !observe {
            Vec::new()
        } else {
            let width = if tall { m } else { e - s };
            block.chunks_exact(width.max(1)).map(absmax).collect()
        };
        Panel { sum, bad, absmax }
    };
    let starts: Vec<usize> = (0..long).step_by(rows).collect();
    let run = |s: usize, dst: Option<&mut [f64]>| -> Panel {
        let e = (s + rows).min(long);
        match dst {
            Some(d) if tall => chunk(s, d),
            Some(d) => {
                // read_cols gives M×w row-major: transpose into A's rows
                let mut tmp = take_block((e - s) * m);
                let out = chunk(s, &mut tmp);
                let w = e - s;
                for i in 0..m {
                    for j in 0..w {
                        d[j * m + i] = tmp[i * w + j];
                    }
                }
                give_block(tmp);
                out
            }
            None => {
                let mut tmp = take_block((e - s) * m);
                let out = chunk(s, &mut tmp);
                give_block(tmp);
                out
            }
        }
    };
    let parts: Vec<Panel> = if keep {
        let pieces: Vec<(usize, &mut [f64])> = starts
            .iter()
            .copied()
            .zip(copy.chunks_mut(rows * m))
            .collect();
        if matches!(par, Par::Seq) {
            pieces.into_iter().map(|(s, d)| run(s, Some(d))).collect()
        } else {
            pieces
                .into_par_iter()
                .map(|(s, d)| run(s, Some(d)))
                .collect()
        }
    } else if matches!(par, Par::Seq) {
        starts.iter().map(|&s| run(s, None)).collect()
    } else {
        starts.par_iter().map(|&s| run(s, None)).collect()
    };
    let bad: usize = parts.iter().map(|p| p.bad).sum();
    if bad > 0 {
        return Err(SpectrumError::NonFinite { count: bad });
    }
    if let Some(mx) = row_absmax {
        for (p, &s) in parts.iter().zip(&starts) {
            if tall {
                mx[s..s + p.absmax.len()].copy_from_slice(&p.absmax);
            } else {
                for (a, &b) in mx.iter_mut().zip(&p.absmax) {
                    *a = a.max(b);
                }
            }
        }
    }
    let frob2 = parts.iter().map(|p| p.sum).sum();
    Ok((frob2, keep.then_some(copy)))
}

impl GramOperator for CpuOperator<'_> {
    fn dim(&self) -> usize {
        self.m
    }
    fn frob2(&self) -> f64 {
        self.frob2
    }
    fn unit_roundoff(&self) -> f64 {
        f64::EPSILON / 2.0
    }
    fn block_width(&self) -> usize {
        CPU_BLOCK
    }
    fn reserve(&mut self, cols: usize) -> Result<(), BackendError> {
        if cols > self.q.ncols() {
            let mut q = Mat::<f64>::zeros(self.m, cols);
            q.as_mut()
                .subcols_mut(0, self.q.ncols())
                .copy_from(self.q.as_ref());
            self.q = q;
        }
        Ok(())
    }
    fn set_column(&mut self, col: usize, x: &[f64]) -> Result<(), BackendError> {
        let mut c = self.q.as_mut().col_mut(col);
        for (i, &v) in x.iter().enumerate() {
            c[i] = v;
        }
        Ok(())
    }
    fn column(&mut self, col: usize) -> Result<Vec<f64>, BackendError> {
        Ok(self.q.col(col).iter().copied().collect())
    }
    fn expand(&mut self, src: usize, cols: usize) -> Result<Step, BackendError> {
        Ok(self.expand_block(src, 1, cols, 0.0)?.remove(0))
    }
    fn expand_block(
        &mut self,
        src: usize,
        width: usize,
        cols: usize,
        floor: f64,
    ) -> Result<Vec<Step>, BackendError> {
        let mut w = self.apply(self.cols(src, src + width));
        // Against the basis: block CGS2 (two products with Q each pass).
        let mut h = Mat::<f64>::zeros(cols, width);
        if cols > 0 {
            let q = self.cols(0, cols);
            let mut hp = Mat::<f64>::zeros(cols, width);
            for _ in 0..2 {
                matmul(
                    hp.as_mut(),
                    Accum::Replace,
                    q.transpose(),
                    w.as_ref(),
                    1.0,
                    self.par,
                );
                matmul(w.as_mut(), Accum::Add, q, hp.as_ref(), -1.0, self.par);
                h += &hp;
            }
        }
        // Within the block, column by column (the order `expand` has).
        // When that cancels much of a column, the rounding it left along
        // the old basis is no longer small beside what remains: project
        // against the whole basis once more (Kahan–Parlett's test).
        let mut out = Vec::with_capacity(width);
        for c in 0..width {
            let mut coeffs: Vec<f64> = h.col(c).iter().copied().collect();
            coeffs.resize(cols + c, 0.0);
            let mut wc = w.as_mut().subcols_mut(c, 1);
            let before = wc.norm_l2();
            self.project(cols, cols + c, wc.rb_mut(), &mut coeffs[cols..]);
            let after = wc.norm_l2();
            if after < 0.5 * before && after > floor {
                self.project(0, cols + c, wc.rb_mut(), &mut coeffs);
            }
            let norm = self.store(cols + c, w.as_ref().subcols(c, 1), floor);
            out.push(Step { coeffs, norm });
        }
        Ok(out)
    }
    fn expand_batch(
        &mut self,
        shared: usize,
        jobs: &[(usize, usize)],
        floor: f64,
    ) -> Option<Result<Vec<Step>, BackendError>> {
        let n = self.m;
        let x = Mat::<f64>::from_fn(n, jobs.len(), |i, j| self.q[(i, jobs[j].0)]);
        let mut w = self.apply(x.as_ref());
        let mut out = Vec::with_capacity(jobs.len());
        for (j, &(src, lo)) in jobs.iter().enumerate() {
            let mut coeffs = vec![0.0; shared + src + 1 - lo];
            let mut wj = w.as_mut().subcols_mut(j, 1);
            // one CGS2 against both ranges together: shared, then own
            for _ in 0..2 {
                let mut once = vec![0.0; coeffs.len()];
                let (a, b) = once.split_at_mut(shared);
                self.project_once(0, shared, wj.rb_mut(), a);
                self.project_once(lo, src + 1, wj.rb_mut(), b);
                for (c, o) in coeffs.iter_mut().zip(&once) {
                    *c += o;
                }
            }
            let norm = self.store(src + 1, w.as_ref().subcols(j, 1), floor);
            out.push(Step { coeffs, norm });
        }
        Some(Ok(out))
    }
    fn orthonormalize(&mut self, col: usize) -> Result<f64, BackendError> {
        let mut w = self.q.as_ref().subcols(col, 1).to_owned();
        let mut coef = vec![0.0; col];
        self.project(0, col, w.as_mut(), &mut coef);
        Ok(self.store(col, w.as_ref(), 0.0))
    }
    fn rotate(&mut self, s: &[f64], m: usize, k: usize) -> Result<(), BackendError> {
        let s = MatRef::from_column_major_slice(s, m, k);
        let mut out = Mat::<f64>::zeros(self.m, k);
        matmul(
            out.as_mut(),
            Accum::Replace,
            self.cols(0, m),
            s,
            1.0,
            self.par,
        );
        self.q.as_mut().subcols_mut(0, k).copy_from(out.as_ref());
        Ok(())
    }
}

impl CpuOperator<'_> {
    /// One classical Gram–Schmidt pass of w against q_lo..q_{hi−1}, the
    /// coefficients written to `coef`.
    fn project_once(&self, lo: usize, hi: usize, mut w: MatMut<'_, f64>, coef: &mut [f64]) {
        if hi <= lo {
            return;
        }
        let q = self.cols(lo, hi);
        let mut h = Mat::<f64>::zeros(hi - lo, 1);
        matmul(
            h.as_mut(),
            Accum::Replace,
            q.transpose(),
            w.rb(),
            1.0,
            Par::Seq,
        );
        matmul(w.rb_mut(), Accum::Add, q, h.as_ref(), -1.0, Par::Seq);
        for (c, i) in coef.iter_mut().zip(0..) {
            *c = h[(i, 0)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streaming operator's G·X against the formed Gram's, on a wide
    /// F32 matrix read in panels of [`WIDE_PANEL_MIN`] columns (five
    /// panels, the last one short) and on its tall transpose, one thread
    /// and two.
    #[test]
    fn streaming_apply_matches_the_gram() {
        let (rows, cols) = (40, 300);
        let w = crate::synth::gaussian(rows, cols, 1.0, &mut crate::synth::rng(7));
        let x = crate::synth::gaussian(rows, 5, 1.0, &mut crate::synth::rng(8));
        for tall in [false, true] {
            let (r, c) = if tall { (cols, rows) } else { (rows, cols) };
            let bytes: Vec<u8> = (0..r)
                .flat_map(|i| (0..c).map(move |j| if tall { (j, i) } else { (i, j) }))
                .flat_map(|(i, j)| (w[(i, j)] as f32).to_le_bytes())
                .collect();
            let data = MatrixData {
                bytes: &bytes,
                dtype: &DType::F32,
                view: View::dense(0, r, c),
            };
            let gram = CpuOperator::with_gram(&data, Par::Seq).unwrap();
            let want = gram.apply(x.as_ref());
            for par in [Par::Seq, Par::rayon(2)] {
                let op = CpuOperator::streaming(&data, par, 0).unwrap();
                assert!(op.is_streaming() && !op.holds_copy());
                let got = op.apply(x.as_ref());
                let err = (&got - &want).norm_max() / want.norm_max();
                assert!(err < 1e-12, "tall {tall}: relative error {err}");
            }
        }
    }

    /// The rows' max |w| recorded by the operator's first pass equals
    /// `RangeStats::channel_absmax`'s pass, on tall and wide views, F32
    /// (decoded per pass) and F16 (kept decoded, or not), one thread and
    /// two, streaming and with the Gram.
    #[test]
    fn observed_row_maxima_match_the_ranges_pass() {
        use crate::load::quant::RangeStats;
        let mut rng = crate::synth::rng(9);
        for (r, c) in [(300usize, 40usize), (40, 300)] {
            let w = crate::synth::gaussian(r, c, 1.0, &mut rng);
            for dtype in [DType::F32, DType::F16] {
                let bytes: Vec<u8> = (0..r)
                    .flat_map(|i| (0..c).map(move |j| (i, j)))
                    .flat_map(|(i, j)| match dtype {
                        DType::F32 => (w[(i, j)] as f32).to_le_bytes().to_vec(),
                        _ => half::f16::from_f64(w[(i, j)]).to_le_bytes().to_vec(),
                    })
                    .collect();
                let data = MatrixData {
                    bytes: &bytes,
                    dtype: &dtype,
                    view: View::dense(0, r, c),
                };
                let want = RangeStats::channel_absmax(&data, 1.0);
                for par in [Par::Seq, Par::rayon(2)] {
                    for limit in [0, u64::MAX] {
                        let mut mx = vec![0.0; r];
                        CpuOperator::streaming_observed(&data, par, limit, Some(&mut mx)).unwrap();
                        let got = RangeStats::from_row_absmax(&mx, c, 1.0);
                        assert_eq!(got.sum_n_range2, want.sum_n_range2, "{r}×{c} {dtype}");
                    }
                    let mut mx = vec![0.0; r];
                    CpuOperator::with_gram_observed(&data, par, Some(&mut mx)).unwrap();
                    let got = RangeStats::from_row_absmax(&mx, c, 1.0);
                    assert_eq!(got.sum_n_range2, want.sum_n_range2, "{r}×{c} {dtype} Gram");
                }
            }
        }
    }
}
