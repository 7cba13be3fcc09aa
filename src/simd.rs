//! The vector-register state after faer's f32 matrix products.
//!
//! faer 0.24 hands f32 products to private-gemm-x86's generated AVX-512
//! assembly, which returns with the upper halves of the vector registers
//! dirty (no `vzeroupper`). Until something clears them, every SSE
//! instruction on that thread — which is all of this crate's scalar f64
//! arithmetic, compiled for baseline x86-64 — pays a state-transition
//! penalty: the saturation fits of `compare`, run on threads that had just
//! projected snapshots through an f32 product, took 12.8 s instead of
//! 0.46 s (504 fits, 2-core Xeon). [`clear_upper`] after each such product
//! restores the speed. f64 products were not seen to leave the state
//! dirty.

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
