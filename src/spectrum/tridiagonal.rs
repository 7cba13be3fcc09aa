//! Eigenvalues (only) of a symmetric tridiagonal matrix by the
//! Pal–Walker–Kahan root-free variant of the implicit QL/QR algorithm, as in
//! LAPACK's `dsterf` (Demmel & Kahan's splitting criteria, QL or QR chosen
//! per block by which end is larger, scaling of blocks near overflow or
//! underflow, at most 30·n sweeps).
//!
//! Why not faer's own tridiagonal QR: for eigenvalues alone the root-free
//! iteration does no square root per rotation and touches only two vectors,
//! which measured 3–5× faster at n = 384…1536 on this project's machines;
//! it is the `dsterf` that `numpy.linalg.eigvalsh` runs. The result is
//! checked against faer's solver in the tests below.

/// The iteration did not converge within 30·n sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoConvergence;

const EPS: f64 = f64::EPSILON * 0.5; // LAPACK's dlamch('E')
const MAXIT: usize = 30;

/// Eigenvalues of the 2×2 symmetric [[a, b], [b, c]], larger first in
/// absolute value (LAPACK `dlae2`).
fn eig2(a: f64, b: f64, c: f64) -> (f64, f64) {
    let sm = a + c;
    let df = a - c;
    let adf = df.abs();
    let tb = b + b;
    let ab = tb.abs();
    let (acmx, acmn) = if a.abs() > c.abs() { (a, c) } else { (c, a) };
    let rt = if adf > ab {
        adf * (1.0 + (ab / adf).powi(2)).sqrt()
    } else if adf < ab {
        ab * (1.0 + (adf / ab).powi(2)).sqrt()
    } else {
        ab * std::f64::consts::SQRT_2
    };
    if sm < 0.0 {
        let rt1 = 0.5 * (sm - rt);
        (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
    } else if sm > 0.0 {
        let rt1 = 0.5 * (sm + rt);
        (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
    } else {
        (0.5 * rt, -0.5 * rt)
    }
}

/// LAPACK's machine constants of the iteration, for a matrix of order n.
struct Limits {
    /// ε², the deflation threshold of the squared off-diagonal.
    eps2: f64,
    /// Blocks with a larger max-norm are scaled down to this.
    ssfmax: f64,
    /// Blocks with a smaller max-norm are scaled up to this.
    ssfmin: f64,
    /// At most 30·n sweeps in all blocks together.
    nmaxit: usize,
}

impl Limits {
    fn new(n: usize) -> Self {
        let eps2 = EPS * EPS;
        let safmin = f64::MIN_POSITIVE;
        Limits {
            eps2,
            ssfmax: (1.0 / safmin).sqrt() / 3.0,
            ssfmin: safmin.sqrt() / eps2,
            nmaxit: n * MAXIT,
        }
    }
}

/// Overwrites `d` (the diagonal, length n) with the eigenvalues, ascending;
/// `e` (the off-diagonal, length ≥ n−1) is destroyed.
pub fn eigenvalues(d: &mut [f64], e: &mut [f64]) -> Result<(), NoConvergence> {
    let n = d.len();
    if n <= 1 {
        return Ok(());
    }
    assert!(e.len() >= n - 1);
    let lim = Limits::new(n);
    let mut jtot = 0usize;
    let mut l1 = 0usize;

    while l1 < n {
        let m = split_block(d, e, l1);
        let (l, lend) = (l1, m);
        l1 = m + 1;
        if lend == l {
            continue;
        }
        let Some(scaling) = scale_block(d, e, l, lend, &lim) else {
            continue;
        };
        for x in &mut e[l..lend] {
            *x *= *x;
        }
        // QL when the bottom end is larger, QR otherwise.
        if d[lend].abs() < d[l].abs() {
            qr_sweeps(d, e, lend, l, &lim, &mut jtot);
        } else {
            ql_sweeps(d, e, l, lend, &lim, &mut jtot);
        }
        scaling.undo(&mut d[l..=lend]);
        if jtot >= lim.nmaxit {
            if e[..n - 1].iter().any(|&x| x != 0.0) {
                return Err(NoConvergence);
            }
            break;
        }
    }
    d.sort_by(f64::total_cmp);
    Ok(())
}

/// Splits off the unreduced block starting at `l1`: zeroes the coupling
/// `e[l1−1]` above it and the first negligible `e[m]` below, and returns
/// the block's last index m.
fn split_block(d: &[f64], e: &mut [f64], l1: usize) -> usize {
    let n = d.len();
    if l1 > 0 {
        e[l1 - 1] = 0.0;
    }
    let mut m = l1;
    while m < n - 1 {
        if e[m].abs() <= d[m].abs().sqrt() * d[m + 1].abs().sqrt() * EPS {
            e[m] = 0.0;
            break;
        }
        m += 1;
    }
    m
}

/// How a block was scaled: its max-norm and the norm it was scaled to.
struct Scaling {
    anorm: f64,
    to: Option<f64>,
}

impl Scaling {
    /// Scales the block's eigenvalues back.
    fn undo(&self, d: &mut [f64]) {
        if let Some(to) = self.to {
            let f = self.anorm / to;
            d.iter_mut().for_each(|x| *x *= f);
        }
    }
}

/// Scales block `l..=lend` away from overflow and underflow; `None` when
/// the block is all zero (its eigenvalues are its diagonal already).
fn scale_block(
    d: &mut [f64],
    e: &mut [f64],
    l: usize,
    lend: usize,
    lim: &Limits,
) -> Option<Scaling> {
    let anorm = d[l..=lend]
        .iter()
        .chain(&e[l..lend])
        .fold(0.0f64, |a, &x| a.max(x.abs()));
    if anorm == 0.0 {
        return None;
    }
    let scale = if anorm > lim.ssfmax {
        Some(lim.ssfmax)
    } else if anorm < lim.ssfmin {
        Some(lim.ssfmin)
    } else {
        None
    };
    if let Some(to) = scale {
        let f = to / anorm;
        d[l..=lend].iter_mut().for_each(|x| *x *= f);
        e[l..lend].iter_mut().for_each(|x| *x *= f);
    }
    Some(Scaling { anorm, to: scale })
}

/// QL iteration on the block `l..=lend` (`e` holds squared off-diagonals):
/// deflates eigenvalues from the top, one or two at a time, until the
/// block is done or the sweep budget `jtot < nmaxit` runs out.
fn ql_sweeps(
    d: &mut [f64],
    e: &mut [f64],
    mut l: usize,
    lend: usize,
    lim: &Limits,
    jtot: &mut usize,
) {
    loop {
        let mut m = l;
        while m < lend {
            if e[m].abs() <= lim.eps2 * (d[m] * d[m + 1]).abs() {
                break;
            }
            m += 1;
        }
        if m < lend {
            e[m] = 0.0;
        }
        let p = d[l];
        if m == l {
            // Eigenvalue found.
            d[l] = p;
            l += 1;
            if l <= lend {
                continue;
            }
            break;
        }
        if m == l + 1 {
            let (rt1, rt2) = eig2(d[l], e[l].sqrt(), d[l + 1]);
            d[l] = rt1;
            d[l + 1] = rt2;
            e[l] = 0.0;
            l += 2;
            if l <= lend {
                continue;
            }
            break;
        }
        if *jtot == lim.nmaxit {
            break;
        }
        *jtot += 1;
        ql_step(d, e, l, m);
    }
}

/// One shifted root-free QL sweep over the unreduced `l..=m`, chasing the
/// bulge from the bottom up.
fn ql_step(d: &mut [f64], e: &mut [f64], l: usize, m: usize) {
    let mut p = d[l];
    // Shift.
    let rte = e[l].sqrt();
    let mut sigma = (d[l + 1] - p) / (2.0 * rte);
    let r = sigma.hypot(1.0);
    sigma = p - rte / (sigma + r.copysign(sigma));
    let (mut c, mut s) = (1.0f64, 0.0f64);
    let mut gamma = d[m] - sigma;
    p = gamma * gamma;
    for i in (l..m).rev() {
        let bb = e[i];
        let r = p + bb;
        if i != m - 1 {
            e[i + 1] = s * r;
        }
        let oldc = c;
        c = p / r;
        s = bb / r;
        let oldgam = gamma;
        let alpha = d[i];
        gamma = c * (alpha - sigma) - s * oldgam;
        d[i + 1] = oldgam + (alpha - gamma);
        p = if c != 0.0 {
            gamma * gamma / c
        } else {
            oldc * bb
        };
    }
    e[l] = s * p;
    d[l] = sigma + gamma;
}

/// QR iteration on the block `lend..=l` (`l > lend`; `e` holds squared
/// off-diagonals): deflates eigenvalues from the bottom, one or two at a
/// time, until the block is done or the sweep budget runs out.
fn qr_sweeps(
    d: &mut [f64],
    e: &mut [f64],
    mut l: usize,
    lend: usize,
    lim: &Limits,
    jtot: &mut usize,
) {
    loop {
        let mut m = l;
        while m > lend {
            if e[m - 1].abs() <= lim.eps2 * (d[m] * d[m - 1]).abs() {
                break;
            }
            m -= 1;
        }
        if m > lend {
            e[m - 1] = 0.0;
        }
        let p = d[l];
        if m == l {
            d[l] = p;
            if l == lend {
                break;
            }
            l -= 1;
            continue;
        }
        if m + 1 == l {
            let (rt1, rt2) = eig2(d[l], e[l - 1].sqrt(), d[l - 1]);
            d[l] = rt1;
            d[l - 1] = rt2;
            e[l - 1] = 0.0;
            if l < lend + 2 {
                break;
            }
            l -= 2;
            continue;
        }
        if *jtot == lim.nmaxit {
            break;
        }
        *jtot += 1;
        qr_step(d, e, l, m);
    }
}

/// One shifted root-free QR sweep over the unreduced `m..=l`, chasing the
/// bulge from the top down.
fn qr_step(d: &mut [f64], e: &mut [f64], l: usize, m: usize) {
    let mut p = d[l];
    let rte = e[l - 1].sqrt();
    let mut sigma = (d[l - 1] - p) / (2.0 * rte);
    let r = sigma.hypot(1.0);
    sigma = p - rte / (sigma + r.copysign(sigma));
    let (mut c, mut s) = (1.0f64, 0.0f64);
    let mut gamma = d[m] - sigma;
    p = gamma * gamma;
    for i in m..l {
        let bb = e[i];
        let r = p + bb;
        if i != m {
            e[i - 1] = s * r;
        }
        let oldc = c;
        c = p / r;
        s = bb / r;
        let oldgam = gamma;
        let alpha = d[i + 1];
        gamma = c * (alpha - sigma) - s * oldgam;
        d[i] = oldgam + (alpha - gamma);
        p = if c != 0.0 {
            gamma * gamma / c
        } else {
            oldc * bb
        };
    }
    e[l - 1] = s * p;
    d[l] = sigma + gamma;
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// Reference: faer's dense self-adjoint solver on the same tridiagonal.
    fn reference(d: &[f64], e: &[f64]) -> Vec<f64> {
        let n = d.len();
        let t = Mat::from_fn(n, n, |i, j| {
            if i == j {
                d[i]
            } else if i == j + 1 {
                e[j]
            } else if j == i + 1 {
                e[i]
            } else {
                0.0
            }
        });
        t.self_adjoint_eigenvalues(faer::Side::Lower).unwrap()
    }

    fn check(d: &[f64], e: &[f64], what: &str) {
        let want = reference(d, e);
        let (mut dd, mut ee) = (d.to_vec(), e.to_vec());
        eigenvalues(&mut dd, &mut ee).unwrap_or_else(|_| panic!("{what}: no convergence"));
        let norm = d
            .iter()
            .chain(e)
            .fold(0.0f64, |a, x| a.max(x.abs()))
            .max(f64::MIN_POSITIVE);
        // Both backward stable: |Δλ| ≤ c·n·ε·‖T‖; 1e-13·n·‖T‖ is generous.
        let tol = 1e-13 * d.len() as f64 * norm;
        for (k, (g, w)) in dd.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= tol, "{what}: λ_{k} {g} vs {w}");
        }
    }

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    #[test]
    fn agrees_with_a_dense_solver() {
        for n in [1usize, 2, 3, 5, 17, 64, 65, 257, 600] {
            let mut r = lcg(n as u64);
            let d: Vec<f64> = (0..n).map(|_| r()).collect();
            let e: Vec<f64> = (0..n.saturating_sub(1)).map(|_| r()).collect();
            check(&d, &e, &format!("random n={n}"));
            // Graded, PSD-like, with tiny and huge entries.
            let d: Vec<f64> = (0..n)
                .map(|i| 10f64.powf(-(i as f64) * 12.0 / n as f64) * (1.0 + r()))
                .collect();
            let e: Vec<f64> = (0..n.saturating_sub(1))
                .map(|i| 1e-3 * 10f64.powf(-(i as f64) * 12.0 / n as f64) * r())
                .collect();
            check(&d, &e, &format!("graded n={n}"));
        }
    }

    #[test]
    fn degenerate_inputs() {
        check(&[0.0; 10], &[0.0; 9], "zero");
        check(&[2.0; 50], &[0.0; 49], "diagonal, all equal");
        check(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 1e-300], "split and tiny");
        check(&[1e300, 1e300, 1e300], &[1e300, 1e300], "near overflow");
        check(
            &[1e-300, 2e-300, 3e-300],
            &[1e-300, 1e-300],
            "near underflow",
        );
        // The Wilkinson matrix W21+: pairs of nearly equal eigenvalues.
        let d: Vec<f64> = (0..21).map(|i| (10 - i as i64).abs() as f64).collect();
        check(&d, &[1.0; 20], "wilkinson");
    }
}
