//! Krylov methods on a [`GramOperator`], written once for every backend:
//!
//! - [`lanczos`]: the top-K eigenvalues by Lanczos with full
//!   reorthogonalization (CGS2 against the whole basis) and thick restarts
//!   (Wu & Simon 2000). The projected matrix T = QᵀGQ is assembled from the
//!   Gram–Schmidt coefficients themselves, so after a restart it is the
//!   arrowhead of kept Ritz values and their couplings without special
//!   bookkeeping. A Ritz pair (θ, Qs) has residual ‖G·Qs − θ·Qs‖ = β·|s_m|
//!   (β the norm of the last expansion); θ is flagged converged when this
//!   bound is ≤ tol·θ, so |θ − μ| ≤ tol·θ for some eigenvalue μ (Weyl).
//!   The bound is the Krylov process's, in exact arithmetic: the backend's
//!   own rounding (≈ u·‖G‖, u = 2⁻²⁴ on the GPU) is a separate floor.
//! - [`power`]: λ_max by power iteration with the residual computed
//!   explicitly (‖G·q − θq‖ after CGS2 against q), converged at ≤ tol·θ.
//! - [`slq`]: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) of the
//!   spectral density on the complement of the top-K Ritz vectors
//!   (deflated probes), combined with the top-K values themselves.
//!
//! Breakdown (β ≈ 0: the Krylov space is invariant, e.g. a rank-deficient
//! Gram or K near M) is repaired with a fresh random vector orthogonal to
//! the basis, so multiple eigenvalues are found with their multiplicity.

use super::SpectrumError;
use super::operator::GramOperator;
use faer::{Mat, Side};
use rand_distr::{Distribution, StandardNormal};

/// Settings of the Krylov methods.
#[derive(Debug, Clone)]
pub struct KrylovOptions {
    /// Eigenvalues wanted from the top.
    pub top_k: usize,
    /// Relative residual tolerance for a converged Ritz value.
    pub tol: f64,
    /// Basis size before a restart (default: max(2K, K + 16), at most M).
    pub subspace: Option<usize>,
    pub max_restarts: usize,
    /// Power iterations at most.
    pub max_iters: usize,
    /// Relative residual tolerance of power iteration.
    pub power_tol: f64,
    /// SLQ: random probes and Lanczos steps per probe.
    pub probes: usize,
    pub steps: usize,
    pub seed: u64,
}

impl Default for KrylovOptions {
    fn default() -> Self {
        KrylovOptions {
            top_k: 32,
            tol: 1e-6,
            subspace: None,
            max_restarts: 60,
            max_iters: 2000,
            power_tol: 1e-5,
            probes: 16,
            steps: 48,
            seed: 0x5eed,
        }
    }
}

/// The top of a spectrum, descending.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    pub values: Vec<f64>,
    pub converged: Vec<bool>,
    /// Residual bounds β·|s_m| (power: the explicit residual norm).
    pub residuals: Vec<f64>,
    /// Operator applications used.
    pub matvecs: usize,
    pub restarts: usize,
}

/// A spectral density: point masses `nodes` with `weights` (eigenvalue
/// counts, summing to ≈ M), the top-K values included with weight 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    pub top: TopK,
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

impl Density {
    /// Σ w·θ^p over the whole density.
    pub fn moment(&self, p: i32) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(x, w)| w * x.powi(p))
            .sum()
    }

    /// `m` values standing for the eigenvalues, descending: the density's
    /// upper quantiles at counts k − ½, interpolated linearly between node
    /// midpoints (the top-K values come out exactly, having weight 1).
    pub fn quantiles(&self, m: usize) -> Vec<f64> {
        let mut pts: Vec<(f64, f64)> = self
            .nodes
            .iter()
            .zip(&self.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(x, w)| (x.max(0.0), *w))
            .collect();
        pts.sort_by(|a, b| b.0.total_cmp(&a.0));
        // midpoints in cumulative count
        let mut mids = Vec::with_capacity(pts.len());
        let mut c = 0.0;
        for &(x, w) in &pts {
            mids.push((c + w / 2.0, x));
            c += w;
        }
        (0..m)
            .map(|k| {
                let t = k as f64 + 0.5;
                match mids.iter().position(|&(mc, _)| mc >= t) {
                    None => mids.last().map_or(0.0, |p| p.1),
                    Some(0) => mids[0].1,
                    Some(i) => {
                        let (c0, x0) = mids[i - 1];
                        let (c1, x1) = mids[i];
                        x0 + (x1 - x0) * (t - c0) / (c1 - c0)
                    }
                }
            })
            .collect()
    }
}

/// Power iteration's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerResult {
    pub value: f64,
    pub converged: bool,
    pub residual: f64,
    pub iterations: usize,
}

fn gaussian(n: usize, rng: &mut rand::rngs::StdRng) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Eigen-decomposition of the leading `m`×`m` block of `t` (symmetric),
/// descending: (values, vectors as columns).
fn ritz(t: &Mat<f64>, m: usize) -> Result<(Vec<f64>, Mat<f64>), SpectrumError> {
    let sub = t.as_ref().submatrix(0, 0, m, m).to_owned();
    let e = sub
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| SpectrumError::NoConvergence)?;
    let s = e.S().column_vector();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    let vals = idx.iter().map(|&i| s[i]).collect();
    let u = e.U();
    let vecs = Mat::from_fn(m, m, |r, c| u[(r, idx[c])]);
    Ok((vals, vecs))
}

/// β below this is a breakdown: the new direction is rounding noise.
fn breakdown(op: &dyn GramOperator, scale: f64) -> f64 {
    100.0 * op.unit_roundoff() * (op.dim() as f64).sqrt() * scale
}

/// Puts a random unit vector orthogonal to q_0..q_{col−1} in column `col`;
/// false if none is left (the basis spans the space).
fn fresh(
    op: &mut dyn GramOperator,
    col: usize,
    rng: &mut rand::rngs::StdRng,
) -> Result<bool, SpectrumError> {
    let n = op.dim();
    for _ in 0..3 {
        op.set_column(col, &gaussian(n, rng))?;
        let norm = op.orthonormalize(col)?;
        // A N(0, 1) vector keeps a norm of about √(n − cols) outside the
        // span; inside a spanning basis only rounding (≈ u·n) is left.
        if norm > 1e-2 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Top-K eigenvalues of G. With `keep_vectors`, the top-K Ritz vectors are
/// left in basis columns 0..K on return (for deflation).
pub fn lanczos(
    op: &mut dyn GramOperator,
    opts: &KrylovOptions,
    keep_vectors: bool,
) -> Result<TopK, SpectrumError> {
    let n = op.dim();
    let k = opts.top_k.min(n);
    if n == 0 || k == 0 {
        return Ok(TopK {
            values: vec![],
            converged: vec![],
            residuals: vec![],
            matvecs: 0,
            restarts: 0,
        });
    }
    let m = opts.subspace.unwrap_or((2 * k).max(k + 16)).clamp(k, n);
    op.reserve(m + 1)?;
    let mut rng = crate::synth::rng(opts.seed);
    fresh(op, 0, &mut rng)?;
    let mut t = Mat::<f64>::zeros(m, m);
    let mut kept = 0;
    let mut matvecs = 0;
    let mut scale = 0.0f64;
    let mut restarts = 0;
    let mut confirmed: Option<Vec<f64>> = None;
    loop {
        let mut size = m;
        let mut beta = 0.0;
        for j in kept..m {
            let step = op.expand(j, j + 1)?;
            matvecs += 1;
            for (i, &h) in step.coeffs.iter().enumerate() {
                t[(i, j)] = h;
                t[(j, i)] = h;
            }
            scale = scale.max(step.coeffs[j].abs());
            beta = step.norm;
            if j + 1 < m && beta <= breakdown(op, scale) {
                // Invariant subspace: continue with a fresh direction; the
                // coupling to it is computed (≈ 0) by the next step.
                if !fresh(op, j + 1, &mut rng)? {
                    size = j + 1;
                    beta = 0.0;
                    break;
                }
            }
        }
        if size == n {
            // the basis spans the space: T's eigenvalues are G's
            beta = 0.0;
        }
        let (theta, s) = ritz(&t, size)?;
        let res: Vec<f64> = (0..size).map(|i| (beta * s[(size - 1, i)]).abs()).collect();
        // A Ritz value at the arithmetic's floor (a zero eigenvalue of a
        // rank-deficient Gram) converges when its residual is at the floor
        // too; every other one by the relative test.
        let floor = breakdown(op, theta[0].abs());
        let conv: Vec<bool> = (0..k.min(size))
            .map(|i| {
                res[i] <= opts.tol * theta[i].abs() || (theta[i].abs() <= floor && res[i] <= floor)
            })
            .collect();
        let exhausted = size < m || beta == 0.0;
        let mut done = conv.len() == k && conv.iter().all(|&c| c);
        if done && !exhausted {
            // A Ritz value can converge to μ_{j+1} while μ_j, barely present
            // in the start vector, has not appeared yet. Accept only when
            // one more restart cycle leaves the top K where they were.
            let same = confirmed.as_ref().is_some_and(|prev: &Vec<f64>| {
                prev.iter()
                    .zip(&theta)
                    .all(|(a, b)| (a - b).abs() <= 10.0 * opts.tol * b.abs().max(floor))
            });
            confirmed = Some(theta[..k].to_vec());
            done = same;
        }
        if done || restarts >= opts.max_restarts || exhausted {
            let kk = k.min(size);
            if keep_vectors {
                let sk: Vec<f64> = (0..kk)
                    .flat_map(|c| (0..size).map(move |r| (r, c)))
                    .map(|(r, c)| s[(r, c)])
                    .collect();
                op.rotate(&sk, size, kk)?;
            }
            return Ok(TopK {
                values: theta[..kk].to_vec(),
                converged: conv,
                residuals: res[..kk].to_vec(),
                matvecs,
                restarts,
            });
        }
        // Thick restart: keep the top `keep` Ritz vectors and the residual
        // direction q_m after them.
        let keep = (k + (m - k) / 2).min(m - 1).max(k);
        let rows = m + 1;
        let mut sk = vec![0.0; rows * (keep + 1)];
        for c in 0..keep {
            for r in 0..m {
                sk[c * rows + r] = s[(r, c)];
            }
        }
        sk[keep * rows + m] = 1.0;
        op.rotate(&sk, rows, keep + 1)?;
        t.fill(0.0);
        for i in 0..keep {
            t[(i, i)] = theta[i];
        }
        kept = keep;
        restarts += 1;
    }
}

/// λ_max by power iteration.
pub fn power(
    op: &mut dyn GramOperator,
    opts: &KrylovOptions,
) -> Result<PowerResult, SpectrumError> {
    let n = op.dim();
    if n == 0 {
        return Ok(PowerResult {
            value: 0.0,
            converged: true,
            residual: 0.0,
            iterations: 0,
        });
    }
    op.reserve(2)?;
    let mut rng = crate::synth::rng(opts.seed);
    fresh(op, 0, &mut rng)?;
    let mut out = PowerResult {
        value: 0.0,
        converged: false,
        residual: f64::INFINITY,
        iterations: 0,
    };
    for it in 1..=opts.max_iters.max(1) {
        // G q = θ q + r, r ⟂ q; the next iterate is (θ q + r)/‖G q‖.
        let step = op.expand(0, 1)?;
        let theta = step.coeffs[0];
        let r = step.norm;
        out = PowerResult {
            value: theta,
            converged: r <= opts.power_tol * theta.abs() || r == 0.0,
            residual: r,
            iterations: it,
        };
        if out.converged || n == 1 {
            out.converged = true;
            break;
        }
        let len = theta.hypot(r);
        op.rotate(&[theta / len, r / len], 2, 1)?;
    }
    Ok(out)
}

/// Spectral density by stochastic Lanczos quadrature on the complement of
/// the top-K Ritz vectors, plus those K values.
pub fn slq(op: &mut dyn GramOperator, opts: &KrylovOptions) -> Result<Density, SpectrumError> {
    let n = op.dim();
    let top = lanczos(op, opts, true)?;
    // Deflate only the leading converged Ritz vectors: an unconverged one
    // is not invariant, and PGP would then miss its coupling (a bias of
    // 2Σ‖r_i‖² in the second moment).
    let d = top.converged.iter().take_while(|&&c| c).count();
    let mut nodes = top.values[..d].to_vec();
    let mut weights = vec![1.0; d];
    let rest = n - d;
    if rest == 0 {
        return Ok(Density {
            top,
            nodes,
            weights,
        });
    }
    let steps = opts.steps.clamp(1, rest);
    op.reserve(d + steps + 1)?;
    let mut rng = crate::synth::rng(opts.seed ^ 0x51a);
    let probes = opts.probes.max(1);
    let scale0 = top.values.first().copied().unwrap_or(0.0);
    for _ in 0..probes {
        let v: Vec<f64> = (0..n)
            .map(|_| {
                if rand::RngExt::random::<bool>(&mut rng) {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        op.set_column(d, &v)?;
        // u = Pv/‖Pv‖; each probe's quadrature carries mass M − K
        let pv = op.orthonormalize(d)?;
        if pv == 0.0 {
            continue;
        }
        let mut t = Mat::<f64>::zeros(steps, steps);
        let mut size = steps;
        let mut scale = scale0;
        for j in 0..steps {
            let step = op.expand(d + j, d + j + 1)?;
            for i in 0..=j {
                let h = step.coeffs[d + i];
                t[(i, j)] = h;
                t[(j, i)] = h;
            }
            scale = scale.max(step.coeffs[d + j].abs());
            if j + 1 < steps && step.norm <= breakdown(op, scale) {
                // invariant subspace: the quadrature is exact with j + 1 nodes
                size = j + 1;
                break;
            }
        }
        let (theta, s) = ritz(&t, size)?;
        for i in 0..size {
            nodes.push(theta[i]);
            weights.push(rest as f64 * s[(0, i)].powi(2) / probes as f64);
        }
    }
    Ok(Density {
        top,
        nodes,
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuOperator;
    use crate::load::{DType, MatrixData, View};
    use faer::Par;

    fn matrix(rows: usize, cols: usize, kind: &str, seed: u64) -> (Vec<u8>, Vec<f64>) {
        let mut rng = crate::synth::rng(seed);
        let m = rows.min(cols);
        let w = match kind {
            "random" => crate::synth::gaussian(rows, cols, 1.0, &mut rng),
            "rankdef" => crate::synth::with_spectrum(
                rows,
                cols,
                &crate::synth::power_law(m / 3, 1.0, 2.0),
                0.0,
                &mut rng,
            ),
            _ => crate::synth::with_spectrum(
                rows,
                cols,
                &crate::synth::power_law(m, 1.2, 4.0),
                1e-3,
                &mut rng,
            ),
        };
        let v = crate::synth::row_major(&w);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let data = MatrixData {
            bytes: &bytes,
            dtype: &DType::F64,
            view: View::dense(0, rows, cols),
        };
        let exact = super::super::exact_spectrum(&data, Par::Seq, |_| {}).unwrap();
        (bytes, exact)
    }

    fn op(bytes: &[u8], rows: usize, cols: usize) -> CpuOperator {
        let data = MatrixData {
            bytes,
            dtype: &DType::F64,
            view: View::dense(0, rows, cols),
        };
        CpuOperator::new(&data, Par::Seq).unwrap()
    }

    /// In f64 the restarted Lanczos reaches its tolerance: converged values
    /// within 1e-9 relative (tol 1e-10 on the residual bound, plus
    /// round-off), on clustered (random), separated (power-law) and
    /// rank-deficient spectra, including K close to M.
    #[test]
    fn lanczos_f64_matches_exact() {
        for (r, c, kind, k) in [
            (65, 65, "random", 8),
            (200, 120, "random", 30),
            (257, 257, "powerlaw", 10),
            (90, 60, "rankdef", 25),
            (5, 2, "random", 2),
            (40, 30, "random", 30),
        ] {
            let (bytes, exact) = matrix(r, c, kind, 3);
            let mut o = op(&bytes, r, c);
            let opts = KrylovOptions {
                top_k: k,
                tol: 1e-10,
                ..Default::default()
            };
            let top = lanczos(&mut o, &opts, false).unwrap();
            for (i, (&v, &ok)) in top.values.iter().zip(&top.converged).enumerate() {
                assert!(ok, "{kind} {r}×{c} μ_{} not converged", i + 1);
                assert!(
                    (v - exact[i]).abs() <= 1e-9 * exact[i] + 1e-12 * exact[0],
                    "{kind} {r}×{c} μ_{}: {v} vs {}",
                    i + 1,
                    exact[i]
                );
            }
        }
    }

    #[test]
    fn power_f64_matches_exact() {
        let (bytes, exact) = matrix(150, 100, "powerlaw", 4);
        let mut o = op(&bytes, 150, 100);
        let p = power(&mut o, &KrylovOptions::default()).unwrap();
        assert!(p.converged);
        assert!((p.value - exact[0]).abs() <= 1e-9 * exact[0], "{p:?}");
    }

    /// SLQ moments within 1e-2; the quantiles are monotone and keep the
    /// exact top. The error is Hutchinson's sampling error of the deflated
    /// rest, ≈ √(2·var(μ)/(M·probes))/mean(μ): a flat random (Wishart) bulk
    /// needs ~256 probes for 1e-2 (measured: 64 probes gave 1.4e-2 on m2).
    #[test]
    fn slq_f64_moments() {
        for (r, c, kind) in [
            (257, 257, "powerlaw"),
            (200, 600, "random"),
            (90, 60, "rankdef"),
        ] {
            let (bytes, exact) = matrix(r, c, kind, 5);
            let mut o = op(&bytes, r, c);
            let opts = KrylovOptions {
                top_k: 16,
                probes: if kind == "random" { 256 } else { 64 },
                steps: 24,
                ..Default::default()
            };
            let d = slq(&mut o, &opts).unwrap();
            let mass: f64 = d.weights.iter().sum();
            assert!((mass - exact.len() as f64).abs() <= 1e-9 * mass);
            for p in 1..=3 {
                let want: f64 = exact.iter().map(|x| x.powi(p)).sum();
                let got = d.moment(p);
                assert!(
                    (got - want).abs() <= 1e-2 * want,
                    "{kind} moment {p}: {got} vs {want}"
                );
            }
            let q = d.quantiles(exact.len());
            assert!(q.windows(2).all(|w| w[0] >= w[1]));
            assert!((q[0] - exact[0]).abs() <= 1e-9 * exact[0]);
        }
    }
}
