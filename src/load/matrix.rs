//! Tensor → matrix rules, and strided views that read a matrix out of a
//! tensor's bytes block by block.
//!
//! The rules (also in the README):
//! - 2-D `[out, in]`: the matrix as stored.
//! - 0-D and 1-D (biases, norms, scalars): skipped.
//! - 3-D `[E, out, in]`: stacked experts, E matrices named `name[e]`, unless
//!   the tensor is a 1-D convolution kernel (see [`is_conv1d`]).
//! - 3-D conv1d `[out, in, k]` and ≥4-D conv `[out, in, k1, k2, …]`:
//!   `--conv pooled` (default) takes the K = k1·k2·… per-position slices
//!   `W[:, :, p]`, each an out×in matrix, and pools their eigenvalues into
//!   one spectrum, as the peer tool does; `--conv unfold` takes the single
//!   out × (in·K) matrix instead.
//! - Integer and boolean tensors: skipped (ids, masks, packed codes).
//!
//! Must not touch files. The products formed here are factors of an
//! element count that [`super::size::plan_counts`] has checked first, so
//! they cannot overflow.

use super::dtype::{self, DType};
use super::size;
use serde::Serialize;

/// How convolution kernels become matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConvMode {
    /// Per-position out×in slices, eigenvalues pooled into one spectrum.
    #[default]
    Pooled,
    /// One out × (in·k…) matrix.
    Unfold,
}

/// Which rule turned a tensor into matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    Matrix,
    Expert,
    ConvPooled,
    ConvUnfold,
    Skipped,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Matrix => "matrix",
            RuleKind::Expert => "expert",
            RuleKind::ConvPooled => "conv-pooled",
            RuleKind::ConvUnfold => "conv-unfold",
            RuleKind::Skipped => "skipped",
        }
    }
}

/// A strided 2-D view of a tensor's flat element array:
/// element (r, c) is at `offset + r·row_stride + c·col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View {
    pub fn dense(offset: usize, rows: usize, cols: usize) -> View {
        View {
            offset,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Whether rows are the long side, and (long side, short side M): the
    /// Gram is M×M, accumulated over the long side.
    pub fn sides(&self) -> (bool, usize, usize) {
        if self.rows >= self.cols {
            (true, self.rows, self.cols)
        } else {
            (false, self.cols, self.rows)
        }
    }
}

/// One matrix to analyse: a name, the rule, and the views whose spectra
/// make its spectrum (one view, or one per kernel position when pooled).
#[derive(Debug, Clone)]
pub struct MatrixSpec {
    pub name: String,
    pub rule: RuleKind,
    pub views: Vec<View>,
    /// Rows and columns of each view.
    pub rows: usize,
    pub cols: usize,
    /// Factor applied to every eigenvalue: 0.5 for pooled convolutions
    /// (the peer scales each slice by √(1/2), `conv2d_norm`), else 1.
    pub eval_scale: f64,
}

impl MatrixSpec {
    /// N: the larger side.
    pub fn n(&self) -> usize {
        self.rows.max(self.cols)
    }
    /// M: the smaller side, the number of eigenvalues per view.
    pub fn m(&self) -> usize {
        self.rows.min(self.cols)
    }
    /// Eigenvalues the spectrum will hold.
    pub fn num_evals(&self) -> usize {
        self.m() * self.views.len()
    }
}

/// The outcome of the rules for one tensor.
#[derive(Debug, Clone)]
pub enum TensorPlan {
    Matrices(Vec<MatrixSpec>),
    /// Not a weight matrix; the reason says why.
    Skip(String),
}

/// A 3-D tensor is a conv1d kernel `[out, in, k]` rather than stacked
/// experts when its name says conv, or when its last axis is short (k < 16)
/// and its name does not say expert. Expert stacks have a hidden size last.
pub fn is_conv1d(name: &str, shape: &[usize]) -> bool {
    let lower = name.to_ascii_lowercase();
    shape.len() == 3 && (lower.contains("conv") || (shape[2] < 16 && !lower.contains("expert")))
}

/// The scale the peer applies to pooled convolution eigenvalues.
pub const CONV_POOLED_SCALE: f64 = 0.5;

/// Applies the rules to a tensor of the given name, dtype and shape.
/// Matrices are named after `base` (the tensor name without `.weight`).
/// An absurd shape (an element count over 2^64, or an implausible plan:
/// see [`size::plan_counts`]) is refused as a `Skip` before anything is
/// allocated; the loader has already recorded it as the tensor's problem.
pub fn plan_tensor(
    name: &str,
    base: &str,
    dtype: &DType,
    shape: &[usize],
    conv: ConvMode,
) -> TensorPlan {
    if !dtype.is_supported() {
        return TensorPlan::Skip(format!(
            "dtype {dtype} is not decoded; supported: {}",
            dtype::SUPPORTED
        ));
    }
    if shape.len() < 2 {
        return TensorPlan::Skip(format!("{}-D tensor (bias, norm or scalar)", shape.len()));
    }
    if let Err(e) = size::plan_counts(name, shape) {
        return TensorPlan::Skip(format!("refused: {e}"));
    }
    if shape.contains(&0) {
        return TensorPlan::Skip(format!("empty tensor {shape:?}"));
    }
    let spec = |name: String, rule, views: Vec<View>, rows, cols| {
        let eval_scale = if rule == RuleKind::ConvPooled {
            CONV_POOLED_SCALE
        } else {
            1.0
        };
        MatrixSpec {
            name,
            rule,
            views,
            rows,
            cols,
            eval_scale,
        }
    };
    match shape.len() {
        2 => TensorPlan::Matrices(vec![spec(
            base.to_string(),
            RuleKind::Matrix,
            vec![View::dense(0, shape[0], shape[1])],
            shape[0],
            shape[1],
        )]),
        3 if !is_conv1d(name, shape) => {
            let (e, out, inp) = (shape[0], shape[1], shape[2]);
            TensorPlan::Matrices(
                (0..e)
                    .map(|i| {
                        spec(
                            format!("{base}[{i}]"),
                            RuleKind::Expert,
                            vec![View::dense(i * out * inp, out, inp)],
                            out,
                            inp,
                        )
                    })
                    .collect(),
            )
        }
        _ => {
            let (out, inp) = (shape[0], shape[1]);
            let k: usize = shape[2..].iter().product();
            match conv {
                ConvMode::Unfold => TensorPlan::Matrices(vec![spec(
                    base.to_string(),
                    RuleKind::ConvUnfold,
                    vec![View::dense(0, out, inp * k)],
                    out,
                    inp * k,
                )]),
                ConvMode::Pooled => TensorPlan::Matrices(vec![spec(
                    base.to_string(),
                    RuleKind::ConvPooled,
                    (0..k)
                        .map(|p| View {
                            offset: p,
                            rows: out,
                            cols: inp,
                            row_stride: inp * k,
                            col_stride: k,
                        })
                        .collect(),
                    out,
                    inp,
                )]),
            }
        }
    }
}

/// A matrix's bytes, read block by block along its long side.
pub struct MatrixData<'a> {
    pub bytes: &'a [u8],
    pub dtype: &'a DType,
    pub view: View,
}

impl MatrixData<'_> {
    /// Rows `r0..r1` into `out` (row-major, (r1−r0) × cols). Returns the
    /// count of non-finite values.
    pub fn read_rows(&self, r0: usize, r1: usize, out: &mut [f64]) -> usize {
        let v = self.view;
        let mut bad = 0;
        for (k, r) in (r0..r1).enumerate() {
            let dst = &mut out[k * v.cols..(k + 1) * v.cols];
            bad += dtype::decode(
                self.bytes,
                self.dtype,
                v.offset + r * v.row_stride,
                v.col_stride,
                dst,
            );
        }
        bad
    }

    /// Columns `c0..c1` of every row into `out` (row-major, rows × (c1−c0)).
    pub fn read_cols(&self, c0: usize, c1: usize, out: &mut [f64]) -> usize {
        let v = self.view;
        let w = c1 - c0;
        let mut bad = 0;
        for r in 0..v.rows {
            let dst = &mut out[r * w..(r + 1) * w];
            bad += dtype::decode(
                self.bytes,
                self.dtype,
                v.offset + r * v.row_stride + c0 * v.col_stride,
                v.col_stride,
                dst,
            );
        }
        bad
    }

    /// Byte range (within the tensor) that rows `r0..r1` span.
    pub fn row_bytes(&self, r0: usize, r1: usize) -> std::ops::Range<usize> {
        let v = self.view;
        let size = self.dtype.size().unwrap_or(1);
        let first = v.offset + r0 * v.row_stride;
        let last = v.offset + (r1 - 1) * v.row_stride + (v.cols - 1) * v.col_stride;
        first * size..(last + 1) * size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn rules_by_rank() {
        let f = DType::F32;
        assert!(matches!(
            plan_tensor("b", "b", &f, &[8], ConvMode::Pooled),
            TensorPlan::Skip(_)
        ));
        assert!(matches!(
            plan_tensor("x", "x", &DType::parse("I64"), &[1, 8], ConvMode::Pooled),
            TensorPlan::Skip(_)
        ));
        let TensorPlan::Matrices(m) = plan_tensor(
            "moe.experts.w1",
            "moe.experts.w1",
            &f,
            &[4, 64, 32],
            ConvMode::Pooled,
        ) else {
            panic!()
        };
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].name, "moe.experts.w1[3]");
        assert_eq!(m[3].views[0].offset, 3 * 64 * 32);
        let TensorPlan::Matrices(m) =
            plan_tensor("conv", "conv", &f, &[16, 8, 3, 3], ConvMode::Pooled)
        else {
            panic!()
        };
        assert_eq!(
            (m[0].views.len(), m[0].rows, m[0].cols, m[0].num_evals()),
            (9, 16, 8, 72)
        );
        let TensorPlan::Matrices(m) =
            plan_tensor("conv", "conv", &f, &[16, 8, 3, 3], ConvMode::Unfold)
        else {
            panic!()
        };
        assert_eq!((m[0].views.len(), m[0].rows, m[0].cols), (1, 16, 72));
        let TensorPlan::Matrices(m) = plan_tensor("c1", "c1", &f, &[16, 8, 5], ConvMode::Pooled)
        else {
            panic!()
        };
        assert_eq!(m[0].rule, RuleKind::ConvPooled);
    }

    #[test]
    fn strided_conv_slice_reads_the_right_elements() {
        // W[o, i, p] = 100·o + 10·i + p, shape [2, 3, 4]
        let mut v = Vec::new();
        for o in 0..2 {
            for i in 0..3 {
                for p in 0..4 {
                    v.push((100 * o + 10 * i + p) as f32);
                }
            }
        }
        let bytes = f32_bytes(&v);
        let TensorPlan::Matrices(m) =
            plan_tensor("c", "c", &DType::F32, &[2, 3, 4], ConvMode::Pooled)
        else {
            panic!()
        };
        let d = MatrixData {
            bytes: &bytes,
            dtype: &DType::F32,
            view: m[0].views[2],
        };
        let mut rows = vec![0.0; 6];
        d.read_rows(0, 2, &mut rows);
        assert_eq!(rows, vec![2.0, 12.0, 22.0, 102.0, 112.0, 122.0]);
        let mut cols = vec![0.0; 4];
        d.read_cols(1, 3, &mut cols);
        assert_eq!(cols, vec![12.0, 22.0, 112.0, 122.0]);
    }
}
