//! Dense matrix products on the CPU's widest vector unit, and the
//! vector-register state after them.
//!
//! Every f64 and f32 product of the exact path, the streaming operator and
//! `compare`'s mode matching goes through [`matmul`] (and [`gemmt_lower`],
//! the lower triangle of A·Bᵀ): the `gemm` crate's kernels with AVX-512
//! compiled in, picked at run time (AVX2 + FMA, then scalar, on CPUs
//! without it). On an AVX-512 Xeon they run at about 2.3× faer 0.24's own
//! kernels and at OpenBLAS's speed; `cargo bench --bench kernels` measures
//! both side by side (docs/performance.md has the figures).
//!
//! faer's own f32 kernels (private-gemm-x86's generated AVX-512 assembly,
//! still used inside faer's f32 eigen-solver) return with the upper halves
//! of the vector registers dirty (no `vzeroupper`). Until something clears
//! them, every SSE instruction on that thread — which is all of this
//! crate's scalar f64 arithmetic, compiled for baseline x86-64 — pays a
//! state-transition penalty: the saturation fits of `compare`, run on
//! threads that had just projected snapshots through an f32 product, took
//! 12.8 s instead of 0.46 s (504 fits, 2-core Xeon). [`matmul`] clears the
//! state after every product (one instruction), and callers of faer's f32
//! kernels call [`clear_upper`] after them.

use faer::reborrow::*;
use faer::{Accum, MatMut, MatRef, Par};

/// Columns per tile of [`gemmt_lower`]: the tiles on the diagonal are
/// computed whole, so the work past the lower triangle is TILE/M of it.
const TILE: usize = 256;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
}

/// The element types [`matmul`] multiplies: f64 and f32.
pub trait Real: sealed::Sealed + Copy + 'static {
    const ZERO: Self;
    const ONE: Self;
}
impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}
impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

/// `dst = alpha·lhs·rhs` (`Accum::Replace`) or `dst += alpha·lhs·rhs`
/// (`Accum::Add`) in f64 or f32 by the `gemm` crate, on `par`'s threads
/// (faer's `matmul`, with the `gemm` crate's kernels), then
/// [`clear_upper`].
pub fn matmul<T: Real>(
    dst: MatMut<'_, T>,
    acc: Accum,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    alpha: T,
    par: Par,
) {
    let (m, n, k) = (dst.nrows(), dst.ncols(), lhs.ncols());
    assert!(
        lhs.nrows() == m && rhs.nrows() == k && rhs.ncols() == n,
        "gemm: {m}×{n} = {}×{} · {}×{}",
        lhs.nrows(),
        k,
        rhs.nrows(),
        rhs.ncols()
    );
    if m == 0 || n == 0 {
        return;
    }
    let mut dst = dst;
    if k == 0 {
        if acc == Accum::Replace {
            dst.fill(T::ZERO);
        }
        return;
    }
    let parallelism = match par.degree() {
        1 => gemm::Parallelism::None,
        t => gemm::Parallelism::Rayon(t),
    };
    // SAFETY: the three views are valid for their shapes and strides (faer
    // guarantees it), the shapes agree (asserted), and `dst` is borrowed
    // mutably, so it aliases neither operand.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            dst.as_ptr_mut(),
            dst.col_stride(),
            dst.row_stride(),
            acc == Accum::Add,
            lhs.as_ptr(),
            lhs.col_stride(),
            lhs.row_stride(),
            rhs.as_ptr(),
            rhs.col_stride(),
            rhs.row_stride(),
            T::ONE,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
    clear_upper();
}

/// The lower triangle of `g += alpha·a·bᵀ` (BLAS `gemmt`), in column
/// tiles of [`TILE`]: tile J gets rows J.start.. of every column in J, so
/// the upper parts of the tiles on the diagonal are written too (with the
/// values of the full product); above them `g` is not touched.
pub fn gemmt_lower(
    mut g: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    par: Par,
) {
    let n = g.nrows();
    assert!(g.ncols() == n && a.nrows() == n && b.nrows() == n && a.ncols() == b.ncols());
    let mut j0 = 0;
    while j0 < n {
        let w = TILE.min(n - j0);
        matmul(
            g.rb_mut().submatrix_mut(j0, j0, n - j0, w),
            Accum::Add,
            a.subrows(j0, n - j0),
            b.subrows(j0, w).transpose(),
            alpha,
            par,
        );
        j0 += w;
    }
}

/// Clears the upper halves of the vector registers (`vzeroupper`) when the
/// CPU has AVX; nothing elsewhere. Cheap (one instruction): call it after
/// every f32 kernel of faer's.
#[inline]
pub fn clear_upper() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn zero_upper() {
            core::arch::x86_64::_mm256_zeroupper()
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX, the one feature it needs.
            unsafe { zero_upper() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(a.nrows(), b.ncols(), |i, j| {
            (0..a.ncols()).map(|l| a[(i, l)] * b[(l, j)]).sum()
        })
    }

    fn filled(r: usize, c: usize, seed: usize) -> Mat<f64> {
        Mat::from_fn(r, c, |i, j| {
            (((i * 31 + j * 17 + seed) % 97) as f64 - 48.0) / 7.0
        })
    }

    /// Transposed and offset views, `Replace` over NaN, `Add`, k = 0, one
    /// thread and two, f64 and f32, against the three-loop product.
    #[test]
    fn gemm_matches_the_naive_product() {
        let big_a = filled(90, 70, 1);
        let big_b = filled(80, 60, 2);
        let a = big_a.as_ref().submatrix(3, 5, 37, 41);
        let b = big_b
            .as_ref()
            .submatrix(7, 2, 41, 29)
            .transpose()
            .transpose();
        let bt = filled(29, 41, 3);
        let expect = naive(a, b);
        let expect_t = naive(a, bt.transpose());
        let tol32 = 1e-4 * expect.norm_max();
        for par in [Par::Seq, Par::rayon(2)] {
            let mut d = Mat::<f64>::from_fn(37, 29, |_, _| f64::NAN);
            matmul(d.as_mut(), Accum::Replace, a, b, 1.0, par);
            assert!((&d - &expect).norm_max() < 1e-12 * expect.norm_max());
            let mut d = filled(37, 29, 4);
            let start = d.clone();
            matmul(d.as_mut(), Accum::Add, a, bt.transpose(), -2.0, par);
            let want = &start - &expect_t * faer::Scale(2.0);
            assert!((&d - &want).norm_max() < 1e-12 * want.norm_max());
            let mut d = Mat::<f64>::from_fn(4, 3, |_, _| f64::NAN);
            matmul(
                d.as_mut(),
                Accum::Replace,
                Mat::zeros(4, 0).as_ref(),
                Mat::zeros(0, 3).as_ref(),
                1.0,
                par,
            );
            assert_eq!(d, Mat::<f64>::zeros(4, 3));
            let a32 = Mat::<f32>::from_fn(37, 41, |i, j| a[(i, j)] as f32);
            let b32 = Mat::<f32>::from_fn(41, 29, |i, j| b[(i, j)] as f32);
            let mut d32 = Mat::<f32>::zeros(37, 29);
            matmul::<f32>(
                d32.as_mut(),
                Accum::Replace,
                a32.as_ref(),
                b32.as_ref(),
                1.0,
                par,
            );
            for i in 0..37 {
                for j in 0..29 {
                    let e = expect[(i, j)];
                    assert!((d32[(i, j)] as f64 - e).abs() < tol32);
                }
            }
        }
    }

    /// The lower triangle of A·Bᵀ over several tiles (the last one short),
    /// and nothing written above the tiles on the diagonal.
    #[test]
    fn gemmt_writes_the_lower_triangle() {
        let n = 2 * TILE + 37;
        let a = filled(n, 9, 5);
        let b = filled(n, 9, 6);
        let full = naive(a.as_ref(), b.transpose());
        let tol = 1e-12 * full.norm_max();
        for par in [Par::Seq, Par::rayon(2)] {
            let mut g = Mat::<f64>::from_fn(n, n, |_, _| 1.0);
            gemmt_lower(g.as_mut(), a.as_ref(), b.as_ref(), 0.5, par);
            for j in 0..n {
                for i in 0..n {
                    let same_tile = i / TILE == j / TILE;
                    if i >= j || same_tile {
                        let want = 1.0 + 0.5 * full[(i, j)];
                        assert!((g[(i, j)] - want).abs() < tol, "({i},{j})");
                    } else {
                        assert_eq!(g[(i, j)], 1.0, "({i},{j}) above the diagonal tiles");
                    }
                }
            }
        }
    }
}
