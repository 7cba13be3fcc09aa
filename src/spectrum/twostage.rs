//! Two-stage reduction of a symmetric matrix to tridiagonal form, for
//! eigenvalues only (the approach of LAPACK's `dsytrd_2stage` / ELPA):
//!
//! 1. dense → band of half-bandwidth b by blocked Householder QR of b-wide
//!    panels; the two-sided update of the trailing matrix is a symmetric
//!    matrix product and a rank-2b update (BLAS-3, [`crate::simd`]'s kernels), so this
//!    stage runs near the machine's matrix-multiply speed;
//! 2. band → tridiagonal by Householder bulge chasing (Lang's algorithm, the
//!    kernels of LAPACK's `dsb2st`): O(b·n²) work on blocks of b×b that stay
//!    in cache.
//!
//! The one-stage Householder tridiagonalization streams the whole trailing
//! matrix through memory once per column (BLAS-2), which dominates for
//! large n; this replaces it above a size threshold. Only the eigenvalues
//! are wanted, so no reflector is kept.

#![allow(clippy::needless_range_loop)] // index-heavy kernels read best as loops

use crate::simd::gemmt_lower;
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::reborrow::*;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// A Householder reflector H = I − τ·v·vᵀ (v₀ = 1) mapping x to β·e₁
/// (LAPACK `dlarfg`). Overwrites `x` with (β, v₁, v₂, …) and returns τ.
fn reflector(x: &mut [f64]) -> f64 {
    let alpha = x[0];
    let sigma = x[1..].iter().map(|v| v * v).sum::<f64>().sqrt();
    if sigma == 0.0 {
        return 0.0;
    }
    let beta = -alpha.signum() * alpha.hypot(sigma);
    let beta = if alpha == 0.0 {
        -alpha.hypot(sigma)
    } else {
        beta
    };
    let scale = 1.0 / (alpha - beta);
    for v in &mut x[1..] {
        *v *= scale;
    }
    x[0] = beta;
    (beta - alpha) / beta
}

/// Σ x_i·y_i in eight interleaved partial sums (so it vectorizes).
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Stage 1: reduces the symmetric matrix whose lower triangle is in `a` to
/// a band of half-bandwidth `nb` (entries below the band become 0).
pub fn to_band(mut a: MatMut<'_, f64>, nb: usize, par: Par) {
    let n = a.nrows();
    let mut k0 = 0;
    while k0 + nb + 1 < n {
        let r0 = k0 + nb;
        let m = n - r0;
        // Panel QR (m × nb), unblocked: w = min(m, nb) reflectors, V (m×w,
        // unit lower trapezoidal) and τ; every panel column is transformed.
        let w = nb.min(m);
        let mut v = Mat::<f64>::zeros(m, w);
        let mut tau = vec![0.0; w];
        {
            let mut panel: Vec<Vec<f64>> = (0..nb)
                .map(|c| a.rb().col(k0 + c).subrows(r0, m).iter().copied().collect())
                .collect();
            for c in 0..w {
                let (done, rest) = panel.split_at_mut(c + 1);
                let pc = &mut done[c][c..];
                let t = reflector(pc);
                tau[c] = t;
                // The reflector's vector (1, v₁, …) over rows c..m.
                let beta = std::mem::replace(&mut pc[0], 1.0);
                if t != 0.0 {
                    for col in rest.iter_mut() {
                        let col = &mut col[c..];
                        let f = t * dot(pc, col);
                        for (x, &vr) in col.iter_mut().zip(pc.iter()) {
                            *x -= f * vr;
                        }
                    }
                }
                v.as_mut()
                    .col_mut(c)
                    .subrows_mut(c, m - c)
                    .iter_mut()
                    .zip(pc.iter())
                    .for_each(|(d, &x)| *d = x);
                pc[0] = beta;
            }
            // The band keeps R (upper trapezoidal); below it is now zero.
            for (c, col) in panel.iter().enumerate() {
                let dst = a.rb_mut().col_mut(k0 + c).subrows_mut(r0, m);
                for (r, (d, &x)) in dst.iter_mut().zip(col.iter()).enumerate() {
                    *d = if r <= c { x } else { 0.0 };
                }
            }
        }
        // T (w×w upper triangular) with H₀H₁…H_{w−1} = I − V·T·Vᵀ (dlarft).
        let vtv = v.transpose() * &v;
        let mut t = Mat::<f64>::zeros(w, w);
        for i in 0..w {
            t[(i, i)] = tau[i];
            for j in 0..i {
                let mut s = 0.0;
                for l in j..i {
                    s += t[(j, l)] * vtv[(l, i)];
                }
                t[(j, i)] = -tau[i] * s;
            }
        }
        // Trailing update A22 ← QᵀA22Q = A22 − V·Yᵀ − Y·Vᵀ with
        // X = A22·V·T, Y = X − ½·V·(Tᵀ·Vᵀ·X).
        let a22 = a.rb_mut().submatrix_mut(r0, r0, m, m);
        let vt = &v * &t;
        let x = symm_lower(a22.rb(), vt.as_ref(), par);
        let z = t.transpose() * (v.transpose() * &x);
        let y = &x - (&v * &z) * faer::Scale(0.5);
        rank2_update(a22, v.as_ref(), y.as_ref(), par);
        k0 += nb;
    }
}

/// The lower triangle of A −= V·Yᵀ + Y·Vᵀ (the trailing update of
/// [`to_band`]), both rank-w products in one [`gemmt_lower`] sweep over
/// [V Y]·[Y V]ᵀ.
pub fn rank2_update(a: MatMut<'_, f64>, v: MatRef<'_, f64>, y: MatRef<'_, f64>, par: Par) {
    let (m, w) = (v.nrows(), v.ncols());
    let mut vy = Mat::<f64>::zeros(m, 2 * w);
    vy.as_mut().subcols_mut(0, w).copy_from(v);
    vy.as_mut().subcols_mut(w, w).copy_from(y);
    let mut yv = Mat::<f64>::zeros(m, 2 * w);
    yv.as_mut().subcols_mut(0, w).copy_from(y);
    yv.as_mut().subcols_mut(w, w).copy_from(v);
    gemmt_lower(a, vy.as_ref(), yv.as_ref(), -1.0, par);
}

/// S·B for the symmetric S given by its lower triangle.
fn symm_lower(s: MatRef<'_, f64>, b: MatRef<'_, f64>, par: Par) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(s.nrows(), b.ncols());
    matmul(
        out.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        s,
        BlockStructure::TriangularLower,
        b,
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    matmul(
        out.as_mut(),
        BlockStructure::Rectangular,
        Accum::Add,
        s.transpose(),
        BlockStructure::StrictTriangularUpper,
        b,
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    out
}

/// Dense column-major view of the working matrix for the bulge chase.
/// Several views over one buffer run at once, one per thread; the sweep
/// schedule of [`band_to_tridiagonal`] keeps the elements they touch at
/// any moment disjoint.
struct Dense {
    a: *mut f64,
    n: usize,
    /// Distance between columns (≥ n).
    ld: usize,
}

impl Dense {
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f64 {
        debug_assert!(i < self.n && j < self.n);
        // SAFETY: i, j < n and the buffer holds ld·n elements; no other
        // thread touches this element now (the schedule's invariant).
        unsafe { *self.a.add(i + j * self.ld) }
    }
    #[inline(always)]
    fn at_mut(&mut self, i: usize, j: usize) -> &mut f64 {
        debug_assert!(i < self.n && j < self.n);
        // SAFETY: as in `at`; the reference lives for one statement.
        unsafe { &mut *self.a.add(i + j * self.ld) }
    }

    /// B ← H·B·H on the symmetric diagonal block rows/cols s..s+L (lower).
    fn two_sided(&mut self, s: usize, v: &[f64], tau: f64, w: &mut [f64]) {
        let l = v.len();
        if tau == 0.0 {
            return;
        }
        for p in 0..l {
            w[p] = 0.0;
        }
        // w = B·v from the lower triangle: B[p][q] for p > q serves both
        // (p, q) and (q, p).
        for q in 0..l {
            let vq = v[q];
            let mut acc = self.at(s + q, s + q) * vq;
            for p in q + 1..l {
                let b = self.at(s + p, s + q);
                w[p] += b * vq;
                acc += b * v[p];
            }
            w[q] += acc;
        }
        let mut dot = 0.0;
        for p in 0..l {
            w[p] *= tau;
            dot += w[p] * v[p];
        }
        let alpha = -0.5 * tau * dot;
        for p in 0..l {
            w[p] += alpha * v[p];
        }
        for q in 0..l {
            let (vq, wq) = (v[q], w[q]);
            for p in q..l {
                *self.at_mut(s + p, s + q) -= v[p] * wq + w[p] * vq;
            }
        }
    }

    /// C ← C·H on rows r..r+R, columns c..c+L.
    fn right(&mut self, r: usize, rows: usize, c: usize, v: &[f64], tau: f64, y: &mut [f64]) {
        if tau == 0.0 {
            return;
        }
        for p in 0..rows {
            y[p] = 0.0;
        }
        for (q, &vq) in v.iter().enumerate() {
            for p in 0..rows {
                y[p] += self.at(r + p, c + q) * vq;
            }
        }
        for (q, &vq) in v.iter().enumerate() {
            let f = tau * vq;
            for p in 0..rows {
                *self.at_mut(r + p, c + q) -= y[p] * f;
            }
        }
    }

    /// C ← H·C on rows r..r+len(v), columns c..c+cols.
    fn left(&mut self, r: usize, c: usize, cols: usize, v: &[f64], tau: f64) {
        if tau == 0.0 {
            return;
        }
        for q in 0..cols {
            let mut dot = 0.0;
            for (p, &vp) in v.iter().enumerate() {
                dot += vp * self.at(r + p, c + q);
            }
            let f = tau * dot;
            for (p, &vp) in v.iter().enumerate() {
                *self.at_mut(r + p, c + q) -= f * vp;
            }
        }
    }

    /// A reflector from column `c`, rows r..r+len, written back as (β, 0…).
    fn annihilate(&mut self, r: usize, len: usize, c: usize, v: &mut Vec<f64>) -> f64 {
        v.clear();
        v.extend((0..len).map(|p| self.at(r + p, c)));
        let tau = reflector(v);
        *self.at_mut(r, c) = v[0];
        for p in 1..len {
            *self.at_mut(r + p, c) = 0.0;
        }
        v[0] = 1.0;
        tau
    }
}

/// The buffer of the bulge chase, shared by its threads.
struct Shared(*mut f64);
// SAFETY: the threads of `band_to_tridiagonal` touch disjoint elements at
// any moment (see there), and the scope joins them before the buffer's
// borrow ends.
unsafe impl Sync for Shared {}

impl Shared {
    fn ptr(&self) -> *mut f64 {
        self.0
    }
}

/// Sweep `i` of the bulge chase: eliminates column `i` below the
/// sub-diagonal, then chases the bulge down the band. Step 0 touches rows
/// and columns i..i+nb; step k ≥ 1 those of [i+1+(k−1)·nb, i+(k+1)·nb].
/// `wait(k)` runs before step k, `done(k)` after it.
#[allow(clippy::too_many_arguments)]
fn sweep(
    m: &mut Dense,
    i: usize,
    nb: usize,
    v: &mut Vec<f64>,
    v2: &mut Vec<f64>,
    w: &mut [f64],
    mut wait: impl FnMut(usize),
    mut done: impl FnMut(usize),
) {
    let n = m.n;
    let (mut st, mut ed) = (i + 1, (i + nb).min(n - 1));
    if ed <= st {
        return;
    }
    wait(0);
    let mut tau = m.annihilate(st, ed - st + 1, i, v);
    m.two_sided(st, v, tau, w);
    done(0);
    let mut k = 1;
    loop {
        let st2 = ed + 1;
        if st2 >= n || tau == 0.0 {
            break;
        }
        let ed2 = (ed + nb).min(n - 1);
        let rows = ed2 - st2 + 1;
        wait(k);
        m.right(st2, rows, st, v, tau, w);
        let tau2 = m.annihilate(st2, rows, st, v2);
        m.left(st2, st + 1, ed - st, v2, tau2);
        m.two_sided(st2, v2, tau2, w);
        done(k);
        std::mem::swap(v, v2);
        tau = tau2;
        st = st2;
        ed = ed2;
        k += 1;
    }
}

/// Steps by which sweep i+1 trails sweep i: its step k touches
/// [i+2+(k−1)·nb, i+1+(k+1)·nb], clear of sweep i's steps k+3 on, so it
/// starts once sweep i has finished step k+2.
const SWEEP_LAG: usize = 3;

/// Stage 2: reduces a band matrix of half-bandwidth `nb` (lower triangle of
/// the column-major `a`, n×n) to tridiagonal form; returns (diagonal,
/// sub-diagonal).
///
/// The sweeps are pipelined over `par`'s threads (sweep s on thread
/// s mod T, each step waiting until sweep s−1 is [`SWEEP_LAG`] steps
/// ahead): every element sees the same operations in the same order as
/// one sweep after the other, so the result does not depend on the
/// thread count, bit for bit.
pub fn band_to_tridiagonal(a: &mut [f64], n: usize, nb: usize, par: Par) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "band_to_tridiagonal: an n×n buffer");
    let mut m = MatMut::from_column_major_slice_mut(a, n, n);
    chase(m.rb_mut(), nb, par)
}

/// [`band_to_tridiagonal`] on a column-major view (row stride 1).
fn chase(mut a: MatMut<'_, f64>, nb: usize, par: Par) -> (Vec<f64>, Vec<f64>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = a.nrows();
    assert!(a.ncols() == n && (n == 0 || a.row_stride() == 1));
    let ld = a.col_stride().max(1) as usize;
    let sweeps = n.saturating_sub(2);
    if nb > 1 && sweeps > 0 {
        // Below a few blocks per sweep the lag leaves nothing to overlap.
        let threads = if n >= 8 * nb {
            par.degree().min(sweeps)
        } else {
            1
        };
        // Steps finished by each sweep (usize::MAX once it is over).
        let progress: Vec<AtomicUsize> = (0..sweeps).map(|_| AtomicUsize::new(0)).collect();
        let shared = Shared(a.rb_mut().as_ptr_mut());
        let run = |t: usize| {
            let mut m = Dense {
                a: shared.ptr(),
                n,
                ld,
            };
            let (mut v, mut v2) = (Vec::with_capacity(nb), Vec::with_capacity(nb));
            let mut w = vec![0.0; nb];
            for i in (t..sweeps).step_by(threads) {
                let wait = |k: usize| {
                    if threads == 1 || i == 0 {
                        return;
                    }
                    let mut spins = 0u32;
                    while progress[i - 1].load(Ordering::Acquire) < k + SWEEP_LAG {
                        spins += 1;
                        if spins < 1 << 10 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                };
                let done = |k: usize| progress[i].store(k + 1, Ordering::Release);
                sweep(&mut m, i, nb, &mut v, &mut v2, &mut w, wait, done);
                progress[i].store(usize::MAX, Ordering::Release);
            }
        };
        if threads == 1 {
            run(0);
        } else {
            // Threads of their own, not the pool's: each waits on the
            // others, so all must run at once.
            std::thread::scope(|scope| {
                for t in 1..threads {
                    let run = &run;
                    scope.spawn(move || run(t));
                }
                run(0);
            });
        }
    }
    let d = (0..n).map(|i| a[(i, i)]).collect();
    let e = (0..n.saturating_sub(1)).map(|i| a[(i + 1, i)]).collect();
    (d, e)
}

/// [`tridiagonalize`] of a matrix the caller no longer needs, reduced in
/// place (only its lower triangle is read; all of it is overwritten).
pub fn tridiagonalize_owned(mut g: Mat<f64>, nb: usize, par: Par) -> (Vec<f64>, Vec<f64>) {
    to_band(g.as_mut(), nb, par);
    chase(g.as_mut(), nb, par)
}

/// Tridiagonal form (diagonal, sub-diagonal) of the symmetric matrix whose
/// lower triangle is `g`, by the two stages with half-bandwidth `nb`.
pub fn tridiagonalize(g: MatRef<'_, f64>, nb: usize, par: Par) -> (Vec<f64>, Vec<f64>) {
    let n = g.nrows();
    let mut buf = vec![0.0f64; n * n];
    {
        let mut a = MatMut::from_column_major_slice_mut(&mut buf, n, n);
        a.copy_from_triangular_lower(g);
        to_band(a, nb, par);
    }
    band_to_tridiagonal(&mut buf, n, nb, par)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_eigenvalues_as_a_dense_solver() {
        let mut r = crate::synth::rng(3);
        for (n, nb) in [
            (1usize, 4usize),
            (2, 4),
            (7, 3),
            (40, 8),
            (100, 16),
            (257, 32),
            (300, 7),
        ] {
            let x = crate::synth::gaussian(n, n + 3, 1.0, &mut r);
            let g = &x * x.transpose();
            let (mut d, mut e) = tridiagonalize(g.as_ref(), nb, Par::Seq);
            crate::spectrum::tridiagonal::eigenvalues(&mut d, &mut e).unwrap();
            let want = g.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let top = want[n - 1];
            for (k, (a, b)) in d.iter().zip(&want).enumerate() {
                // Orthogonal similarity: |Δλ| ≤ c·n·ε·‖G‖.
                assert!(
                    (a - b).abs() <= 1e-13 * n as f64 * top,
                    "n={n} nb={nb}: λ_{k} {a} vs {b}"
                );
            }
        }
    }

    /// Stage 2 alone on a random band matrix (not a Gram).
    #[test]
    fn bulge_chase_keeps_the_spectrum() {
        let mut r = crate::synth::rng(4);
        for (n, nb) in [(40usize, 8usize), (100, 16), (57, 5), (64, 63)] {
            let x = crate::synth::gaussian(n, n, 1.0, &mut r);
            let band = Mat::<f64>::from_fn(n, n, |i, j| {
                if i >= j && i - j <= nb {
                    x[(i, j)]
                } else {
                    0.0
                }
            });
            let want = band.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
            let mut buf: Vec<f64> = (0..n * n).map(|k| band[(k % n, k / n)]).collect();
            let (mut d, mut e) = band_to_tridiagonal(&mut buf, n, nb, Par::Seq);
            crate::spectrum::tridiagonal::eigenvalues(&mut d, &mut e).unwrap();
            for (a, b) in d.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-13 * n as f64 * 4.0 * (n as f64).sqrt(),
                    "n={n} nb={nb}: {a} vs {b}"
                );
            }
        }
    }

    /// The pipelined chase on 2 and 3 threads gives the one-thread result
    /// bit for bit (each element sees the same operations in order).
    #[test]
    fn pipelined_chase_is_the_sequential_one() {
        let mut r = crate::synth::rng(5);
        for (n, nb) in [(300usize, 7usize), (257, 32), (600, 16), (70, 8)] {
            let x = crate::synth::gaussian(n, n, 1.0, &mut r);
            let band: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k % n, k / n);
                    if i >= j && i - j <= nb {
                        x[(i, j)]
                    } else {
                        0.0
                    }
                })
                .collect();
            let one = band_to_tridiagonal(&mut band.clone(), n, nb, Par::Seq);
            for t in [2, 3] {
                let many = band_to_tridiagonal(&mut band.clone(), n, nb, Par::rayon(t));
                assert!(
                    one.0
                        .iter()
                        .zip(&many.0)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                        && one
                            .1
                            .iter()
                            .zip(&many.1)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "n={n} nb={nb} threads={t}"
                );
            }
        }
    }

    /// In place (an owned Gram, and a view whose columns lie further apart
    /// than its order) gives the copying path's result bit for bit.
    #[test]
    fn in_place_is_the_copy() {
        let mut r = crate::synth::rng(6);
        for (n, nb) in [(300usize, 7usize), (257, 32)] {
            let x = crate::synth::gaussian(n, n + 5, 1.0, &mut r);
            let g = &x * x.transpose();
            let want = tridiagonalize(g.as_ref(), nb, Par::rayon(2));
            let got = tridiagonalize_owned(g.clone(), nb, Par::rayon(2));
            assert_eq!(want, got, "n={n} nb={nb}: owned");
            let mut wide = Mat::<f64>::zeros(n + 9, n);
            wide.as_mut()
                .submatrix_mut(0, 0, n, n)
                .copy_from_triangular_lower(g.as_ref());
            let mut view = wide.as_mut().submatrix_mut(0, 0, n, n);
            to_band(view.rb_mut(), nb, Par::rayon(2));
            let got = chase(view, nb, Par::rayon(2));
            assert_eq!(want, got, "n={n} nb={nb}: strided view");
        }
    }
}
