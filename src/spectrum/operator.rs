//! The Gram operator the Krylov solvers are written against, G = AᵀA of one
//! matrix (A in its tall orientation, so G is M×M), with the vector
//! operations a solver needs on a basis the operator's backend stores, and
//! the errors a backend reports. `backend` implements it on the CPU and the
//! GPU; the solvers in `krylov` only call it (faer keeps its linear
//! operator beside the Lanczos that uses it in the same way).
//!
//! A GPU failure is always a [`BackendError`], never a zeroed or partial
//! result: validation, out-of-memory and internal errors are caught with
//! error scopes around every submission, a lost device is remembered by
//! its callback, and results are checked.

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BackendError {
    #[error("no GPU adapter: {reason}")]
    NoAdapter { reason: String },

    #[error("adapter {adapter}: cannot open a device: {message}")]
    RequestDevice { adapter: String, message: String },

    #[error("GPU validation error in {op}: {message}")]
    Validation { op: String, message: String },

    #[error("GPU out of memory in {op}")]
    OutOfMemory { op: String },

    #[error("GPU internal error in {op}: {message}")]
    Internal { op: String, message: String },

    #[error("GPU device lost: {reason}")]
    DeviceLost { reason: String },

    #[error("{what} needs {bytes} bytes but the adapter's {limit_name} is {limit}")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },

    #[error("cannot read back {op}: {message}")]
    Map { op: String, message: String },

    #[error("{op} produced {count} non-finite values from finite weights")]
    NonFinite { op: String, count: usize },

    #[error("{op} is inconsistent with the weights: {detail}")]
    Inconsistent { op: String, detail: String },
}

/// What one Krylov expansion step returns: the Gram–Schmidt coefficients of
/// G·q_src against the basis (summed over both passes of CGS2), and the norm
/// of what remained before it was normalized into the next column.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub coeffs: Vec<f64>,
    pub norm: f64,
}

/// The Gram operator of one matrix and an orthonormal basis q_0, q_1, …
/// (columns) that the backend keeps where it applies the operator.
pub trait GramOperator {
    /// M, the side of the Gram.
    fn dim(&self) -> usize;
    /// ‖W‖²_F = tr G, computed on the host in f64 from the weights.
    fn frob2(&self) -> f64;
    /// Unit roundoff of the arithmetic the operator is applied in (2⁻²⁴
    /// for f32, 2⁻⁵³ for f64): the floor of any residual it can certify.
    fn unit_roundoff(&self) -> f64;
    /// Makes room for `cols` basis columns, keeping the existing ones.
    fn reserve(&mut self, cols: usize) -> Result<(), BackendError>;
    /// Writes column `col`.
    fn set_column(&mut self, col: usize, x: &[f64]) -> Result<(), BackendError>;
    /// Reads column `col`.
    fn column(&mut self, col: usize) -> Result<Vec<f64>, BackendError>;
    /// w = G·q_src; w ⟂ q_0..q_{cols−1} by classical Gram–Schmidt applied
    /// twice; q_cols = w/‖w‖ (zero if ‖w‖ = 0).
    fn expand(&mut self, src: usize, cols: usize) -> Result<Step, BackendError>;
    /// q_col ⟂ q_0..q_{col−1} (CGS2), then normalized; returns the norm
    /// after the projection (zero: q_col lay in the span, and is now zero).
    fn orthonormalize(&mut self, col: usize) -> Result<f64, BackendError>;
    /// q_c ← Σ_{j<m} S[j + c·m]·q_j for c < k (S column-major m×k).
    fn rotate(&mut self, s: &[f64], m: usize, k: usize) -> Result<(), BackendError>;

    /// Columns the operator applies best together: one application of G
    /// to a block this wide costs about what one vector does (the CPU
    /// streams the weights once per block). 1: one at a time.
    fn block_width(&self) -> usize {
        1
    }

    /// A block expansion: for c in 0..width, w = G·q_{src+c} made ⟂
    /// q_0..q_{cols+c−1} (CGS2), then q_{cols+c} = w/‖w‖, or zero when
    /// ‖w‖ ≤ `floor` (a breakdown; later columns are then unaffected by
    /// it). One [`Step`] per column, its coefficients against
    /// q_0..q_{cols+c−1}. Needs src + width ≤ cols. By default, `expand`
    /// column by column.
    fn expand_block(
        &mut self,
        src: usize,
        width: usize,
        cols: usize,
        floor: f64,
    ) -> Result<Vec<Step>, BackendError> {
        let mut out = Vec::with_capacity(width);
        for c in 0..width {
            let step = self.expand(src + c, cols + c)?;
            if step.norm <= floor {
                let zero = vec![0.0; self.dim()];
                self.set_column(cols + c, &zero)?;
            }
            out.push(step);
        }
        Ok(out)
    }

    /// Independent expansions sharing one application of G: job
    /// (src, lo) makes w = G·q_src ⟂ q_0..q_{shared−1} and q_lo..q_src
    /// (CGS2) and writes w/‖w‖ (zero when ‖w‖ ≤ `floor`) to q_{src+1}; its
    /// [`Step`] has the coefficients against those columns, the shared
    /// ones first. None: the operator has no batched form, and the caller
    /// runs its expansions one at a time.
    fn expand_batch(
        &mut self,
        _shared: usize,
        _jobs: &[(usize, usize)],
        _floor: f64,
    ) -> Option<Result<Vec<Step>, BackendError>> {
        None
    }
}
