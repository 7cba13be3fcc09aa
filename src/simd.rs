//! The vector-register state after faer's f32 matrix products.
//!
//! faer 0.24 hands f32 products to private-gemm-x86's generated AVX-512
//! assembly, which returns with the upper halves of the vector registers
//! dirty (no `vzeroupper`). Until something clears them, every SSE
//! instruction on that thread — which is all of this crate's scalar f64
//! arithmetic, compiled for baseline x86-64 — pays a state-transition
//! penalty: the saturation fits of `compare`, run on threads that had just
//! projected snapshots through an f32 product, took 12.8 s instead of
//! 0.46 s (504 fits, 2-core Xeon). f32 products go through
//! [`matmul_f32`], which clears the state after each; other f32 kernels
//! (the f32 eigen-solver) call [`clear_upper`] after them. f64 products
//! were not seen to leave the state dirty (a `vzeroupper` before the
//! scalar tridiagonal solve did not change `analyze`'s time).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// `dst (+)= alpha·lhs·rhs` in f32 by faer, then [`clear_upper`]: every
/// f32 product of this crate goes through here.
pub fn matmul_f32(
    dst: MatMut<'_, f32>,
    acc: Accum,
    lhs: MatRef<'_, f32>,
    rhs: MatRef<'_, f32>,
    alpha: f32,
    par: Par,
) {
    matmul(dst, acc, lhs, rhs, alpha, par);
    clear_upper();
}

/// Clears the upper halves of the vector registers (`vzeroupper`) when the
/// CPU has AVX; nothing elsewhere. Cheap (one instruction): call it after
/// every f32 product.
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
