//! Krylov methods on a [`GramOperator`], written once for every backend and
//! for any block width b (the vectors one application of G serves: 1 on the
//! GPU, [`GramOperator::block_width`] on the CPU, where a pass over the
//! weights costs about the same for 1 vector or 16):
//!
//! - [`lanczos`]: the top-K eigenvalues by block Lanczos with full
//!   reorthogonalization (CGS2 against the whole basis) and thick restarts
//!   (Wu & Simon 2000; b = 1 is the classical method). The projected
//!   matrix T = QᵀGQ is assembled from the Gram–Schmidt coefficients
//!   themselves, so after a restart it is the arrowhead of kept Ritz values
//!   and their couplings without special bookkeeping. A Ritz pair (θ, Qs)
//!   has residual ‖G·Qs − θ·Qs‖ = ‖R·s_last‖ (R the couplings of the last
//!   block expanded to the block after it, s_last the rows of s on that
//!   last block; β·|s_m| when b = 1); θ is flagged converged when this
//!   bound is ≤ tol·θ, so |θ − μ| ≤ tol·θ for some eigenvalue μ (Weyl).
//!   The bound is the Krylov process's, in exact arithmetic: the backend's
//!   own rounding (≈ u·‖G‖, u = 2⁻²⁴ on the GPU) is a separate floor.
//! - [`power`]: λ_max alone, converged at a residual ≤ tol·θ: by power
//!   iteration with the residual computed explicitly (‖G·q − θq‖ after
//!   CGS2 against q) when b = 1, by block Lanczos for the top one when
//!   b > 1 (fewer applications of G than block power iteration, and it
//!   converges where the top is clustered).
//! - [`slq`]: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) of the
//!   spectral density on the complement of the top-K Ritz vectors
//!   (deflated probes), combined with the top-K values themselves. Each
//!   probe runs its own Lanczos; an operator with a batched expansion
//!   ([`GramOperator::expand_batch`]) advances all of them with one
//!   application per step, with the same probes and the same arithmetic.
//!
//! Breakdown (a new direction ≈ 0: the Krylov space is invariant, e.g. a
//! rank-deficient Gram or K near M) is repaired with a fresh random vector
//! orthogonal to the basis, so multiple eigenvalues are found with their
//! multiplicity.
//!
//! Every method counts its applications of G (`passes`) and stops, with
//! what it has flagged unconverged, when [`KrylovOptions::max_passes`] is
//! spent: the pipeline's budget for a partial method that must not cost
//! more than the exact one.

use super::SpectrumError;
use super::operator::{GramOperator, Step};
use faer::{Mat, Side};
use rand_distr::{Distribution, StandardNormal};

/// Settings of the Krylov methods.
#[derive(Debug, Clone)]
pub struct KrylovOptions {
    /// Eigenvalues wanted from the top.
    pub top_k: usize,
    /// Relative residual tolerance for a converged Ritz value.
    pub tol: f64,
    /// Basis size before a restart (default: max(2K, K + 16) for b = 1,
    /// max(2K, K + 12b) for blocks; at most M).
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
    /// Block width b (None: the operator's [`GramOperator::block_width`]).
    pub block: Option<usize>,
    /// Applications of G a method may spend at most (None: no limit but
    /// `max_restarts` and `max_iters`).
    pub max_passes: Option<usize>,
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
            block: None,
            max_passes: None,
        }
    }
}

/// The top of a spectrum, descending.
#[derive(Debug, Clone, PartialEq)]
pub struct TopK {
    pub values: Vec<f64>,
    pub converged: Vec<bool>,
    /// Residual bounds ‖R·s_last‖ (power: the explicit residual norm).
    pub residuals: Vec<f64>,
    /// Operator–vector products used.
    pub matvecs: usize,
    pub restarts: usize,
    /// Applications of G (one per block).
    pub passes: usize,
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
    /// Applications of G (each serves the whole block).
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

/// A new direction below this is a breakdown: it is rounding noise.
fn breakdown(op: &dyn GramOperator, scale: f64) -> f64 {
    100.0 * op.unit_roundoff() * (op.dim() as f64).sqrt() * scale
}

/// A first scale for the breakdown test before any Ritz value exists: the
/// mean eigenvalue tr G / M (≤ ‖G‖).
fn mean_eigenvalue(op: &dyn GramOperator) -> f64 {
    op.frob2() / op.dim().max(1) as f64
}

/// The block width for this operator and these options, at most `n`.
fn width(op: &dyn GramOperator, opts: &KrylovOptions, n: usize) -> usize {
    opts.block
        .unwrap_or_else(|| op.block_width())
        .clamp(1, n.max(1))
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

/// Places the block that expanding columns src..src+w wrote at at..at+w:
/// a broken column (zeroed by the operator, or past the space's
/// dimension) is dropped and later ones move up, then fresh random
/// directions fill the block's end (their coupling to the source block is
/// ≈ 0, as the broken column's was). Writes the couplings R of the placed
/// columns to the source block into `t`; returns how many were placed.
#[allow(clippy::too_many_arguments)]
fn place_block(
    op: &mut dyn GramOperator,
    steps: &[Step],
    at: usize,
    src: usize,
    floor: f64,
    t: &mut Mat<f64>,
    rng: &mut rand::rngs::StdRng,
) -> Result<usize, SpectrumError> {
    let (n, w) = (op.dim(), steps.len());
    let broken = |c: usize| steps[c].norm <= floor || at + c >= n;
    let mut dst = 0;
    for c in 0..w {
        if broken(c) {
            continue;
        }
        if dst != c {
            let v = op.column(at + c)?;
            op.set_column(at + dst, &v)?;
        }
        // R[c, cc]: the coefficient of G·q_{src+cc} on this column
        for cc in c..w {
            let r = if cc == c {
                steps[c].norm
            } else {
                steps[cc].coeffs[at + c]
            };
            t[(at + dst, src + cc)] = r;
            t[(src + cc, at + dst)] = r;
        }
        dst += 1;
    }
    let mut placed = dst;
    while placed < w && at + placed < n {
        if !fresh(op, at + placed, rng)? {
            break;
        }
        placed += 1;
    }
    Ok(placed)
}

/// The default basis size: max(2K, K + 16) for b = 1 (Wu & Simon's
/// choice), max(2K, K + 12b) for a block. A pass over the weights costs
/// far more than orthogonalizing against a few hundred columns, so blocks
/// get a long basis: on 11008×4096 Gaussian noise (a clustered top) the
/// top 16 at b = 8 took 112 passes with K + 6b and 70 with 128 columns,
/// λ_max 65 passes with K + 6b and 47 with 96 columns.
fn default_subspace(k: usize, b: usize) -> usize {
    if b == 1 {
        (2 * k).max(k + 16)
    } else {
        (2 * k).max(k + 12 * b)
    }
}

/// Ritz values (descending), their vectors in T's basis (columns), and
/// their residual bounds.
type RitzPairs = (Vec<f64>, Mat<f64>, Vec<f64>);

/// The state of one block Lanczos run: T, and the basis bookkeeping
/// (columns 0..size exist, 0..j have been expanded).
struct Lanczos {
    t: Mat<f64>,
    j: usize,
    size: usize,
    scale: f64,
    matvecs: usize,
    passes: usize,
}

impl Lanczos {
    /// Expands block after block until `m` columns are expanded (or the
    /// space is spanned, or the pass budget is spent). With `early` =
    /// (K, tol), also stops after any block that leaves the top K converged
    /// (a Ritz step per block: cheap beside a pass over the weights).
    fn expand_to(
        &mut self,
        op: &mut dyn GramOperator,
        m: usize,
        max_passes: usize,
        early: Option<(usize, f64)>,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<(), SpectrumError> {
        let mut expanded = false;
        while self.j < m && self.j < self.size && self.passes < max_passes {
            if let Some((k, tol)) = early
                && expanded
                && self.j >= k
            {
                let (theta, _, res) = self.ritz()?;
                let floor = breakdown(op, theta[0].abs());
                if converged(&theta, &res, k, tol, floor).iter().all(|&c| c) {
                    return Ok(());
                }
            }
            let (j, size) = (self.j, self.size);
            let w = size - j;
            let floor = breakdown(op, self.scale.max(mean_eigenvalue(op)));
            let steps = op.expand_block(j, w, size, floor)?;
            self.passes += 1;
            self.matvecs += w;
            for (c, st) in steps.iter().enumerate() {
                for i in 0..size {
                    self.t[(i, j + c)] = st.coeffs[i];
                    self.t[(j + c, i)] = st.coeffs[i];
                }
                self.scale = self.scale.max(st.coeffs[j + c].abs());
            }
            let added = place_block(op, &steps, size, j, floor, &mut self.t, rng)?;
            self.j = size;
            self.size = size + added;
            expanded = true;
        }
        Ok(())
    }

    /// Ritz values and vectors of the expanded part, and their residual
    /// bounds ‖T[j..size, 0..j]·s‖.
    fn ritz(&self) -> Result<RitzPairs, SpectrumError> {
        let j = self.j;
        let (theta, s) = ritz(&self.t, j)?;
        let res = (0..j)
            .map(|i| {
                (j..self.size)
                    .map(|r| {
                        let v: f64 = (0..j).map(|c| self.t[(r, c)] * s[(c, i)]).sum();
                        v * v
                    })
                    .sum::<f64>()
                    .sqrt()
            })
            .collect();
        Ok((theta, s, res))
    }

    /// Thick restart: the top `keep` Ritz vectors, then the residual block.
    fn restart(
        &mut self,
        op: &mut dyn GramOperator,
        theta: &[f64],
        s: &Mat<f64>,
        keep: usize,
    ) -> Result<(), SpectrumError> {
        let (j, rows) = (self.j, self.size);
        let wres = rows - j;
        let mut sk = vec![0.0; rows * (keep + wres)];
        for c in 0..keep {
            for r in 0..j {
                sk[c * rows + r] = s[(r, c)];
            }
        }
        for i in 0..wres {
            sk[(keep + i) * rows + j + i] = 1.0;
        }
        op.rotate(&sk, rows, keep + wres)?;
        // T becomes the kept Ritz values and their couplings to the
        // residual block, R·S (the next expansion computes them again).
        let coupling = Mat::<f64>::from_fn(wres, keep, |i, c| {
            (0..j).map(|r| self.t[(j + i, r)] * s[(r, c)]).sum()
        });
        self.t.fill(0.0);
        for (i, &th) in theta.iter().enumerate().take(keep) {
            self.t[(i, i)] = th;
        }
        for i in 0..wres {
            for c in 0..keep {
                self.t[(keep + i, c)] = coupling[(i, c)];
                self.t[(c, keep + i)] = coupling[(i, c)];
            }
        }
        self.j = keep;
        self.size = keep + wres;
        Ok(())
    }
}

/// Which of the top `k` Ritz values have converged: a Ritz value at the
/// arithmetic's floor (a zero eigenvalue of a rank-deficient Gram)
/// converges when its residual is at the floor too; every other one by the
/// relative test.
fn converged(theta: &[f64], res: &[f64], k: usize, tol: f64, floor: f64) -> Vec<bool> {
    (0..k.min(theta.len()))
        .map(|i| res[i] <= tol * theta[i].abs() || (theta[i].abs() <= floor && res[i] <= floor))
        .collect()
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
            passes: 0,
        });
    }
    let b = width(op, opts, n);
    let m = opts
        .subspace
        .unwrap_or_else(|| default_subspace(k, b))
        .max(k + b)
        .min(n);
    let cap = m + 2 * b;
    op.reserve(cap)?;
    let mut rng = crate::synth::rng(opts.seed);
    let mut size = 0;
    while size < b && fresh(op, size, &mut rng)? {
        size += 1;
    }
    let mut run = Lanczos {
        t: Mat::zeros(cap, cap),
        j: 0,
        size,
        scale: 0.0,
        matvecs: 0,
        passes: 0,
    };
    let max_passes = opts.max_passes.unwrap_or(usize::MAX);
    let mut restarts = 0;
    let mut confirmed: Option<Vec<f64>> = None;
    loop {
        // Blocks check convergence after every expansion; the single-vector
        // method after each restart cycle, as it always has.
        let early = (b >= 4).then_some((k, opts.tol));
        run.expand_to(op, m, max_passes, early, &mut rng)?;
        let j = run.j;
        let (theta, s, mut res) = run.ritz()?;
        if j >= n {
            // the basis spans the space: T's eigenvalues are G's
            res.iter_mut().for_each(|r| *r = 0.0);
        }
        let floor = breakdown(op, theta[0].abs());
        let conv = converged(&theta, &res, k, opts.tol, floor);
        let exhausted = run.size == j || j >= n;
        let mut done = conv.len() == k && conv.iter().all(|&c| c);
        if done && !exhausted && b < 4 {
            // A Ritz value can converge to μ_{j+1} while μ_j, barely present
            // in the start vector, has not appeared yet. Accept only when
            // one more restart cycle leaves the top K where they were. (A
            // start block of b ≥ 4 Gaussian vectors leaves a direction out
            // to within ε with probability ~ε^b: no second cycle.)
            let same = confirmed.as_ref().is_some_and(|prev: &Vec<f64>| {
                prev.iter()
                    .zip(&theta)
                    .all(|(a, b)| (a - b).abs() <= 10.0 * opts.tol * b.abs().max(floor))
            });
            confirmed = Some(theta[..k].to_vec());
            done = same;
        }
        let spent = run.passes >= max_passes;
        if done || restarts >= opts.max_restarts || exhausted || spent {
            let kk = k.min(j);
            if keep_vectors {
                let sk: Vec<f64> = (0..kk)
                    .flat_map(|c| (0..j).map(move |r| (r, c)))
                    .map(|(r, c)| s[(r, c)])
                    .collect();
                op.rotate(&sk, j, kk)?;
            }
            return Ok(TopK {
                values: theta[..kk].to_vec(),
                converged: conv,
                residuals: res[..kk].to_vec(),
                matvecs: run.matvecs,
                restarts,
                passes: run.passes,
            });
        }
        let keep = (k + (j - k) / 2).min(j - 1).max(k);
        run.restart(op, &theta, &s, keep)?;
        restarts += 1;
    }
}

/// λ_max. With a block width b > 1, by block Lanczos for the top one at
/// `power_tol` (its Krylov space holds the block power iterates', so it
/// never needs more applications of G, and it converges on a clustered top
/// where power iteration stalls: on 11008×4096 Gaussian noise, 7 passes of
/// 8 vectors against no convergence in 80 passes of block power); with
/// b = 1 by power iteration, the residual ‖G·q − θq‖ computed explicitly.
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
    if width(op, opts, n) > 1 {
        let top = lanczos(
            op,
            &KrylovOptions {
                top_k: 1,
                tol: opts.power_tol,
                ..opts.clone()
            },
            false,
        )?;
        return Ok(PowerResult {
            value: top.values[0],
            converged: top.converged[0],
            residual: top.residuals[0],
            iterations: top.passes,
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
    let limit = opts
        .max_iters
        .min(opts.max_passes.unwrap_or(usize::MAX))
        .max(1);
    for it in 1..=limit {
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

/// The quadrature of one probe: nodes θ_i of its T (`size` steps) with
/// weights `mass`·s(0, i)².
fn quadrature(
    t: &Mat<f64>,
    size: usize,
    mass: f64,
    nodes: &mut Vec<f64>,
    weights: &mut Vec<f64>,
) -> Result<(), SpectrumError> {
    let (theta, s) = ritz(t, size)?;
    for i in 0..size {
        nodes.push(theta[i]);
        weights.push(mass * s[(0, i)].powi(2));
    }
    Ok(())
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
    let mut rng = crate::synth::rng(opts.seed ^ 0x51a);
    let probes = opts.probes.max(1);
    let draws: Vec<Vec<f64>> = (0..probes)
        .map(|_| {
            (0..n)
                .map(|_| {
                    if rand::RngExt::random::<bool>(&mut rng) {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect()
        })
        .collect();
    let probe = Probes {
        d,
        steps,
        mass: rest as f64 / probes as f64,
        scale0: top.values.first().copied().unwrap_or(0.0),
    };
    let batched = width(op, opts, n) > 1 && probe.batched(op, &draws, &mut nodes, &mut weights)?;
    if !batched {
        nodes.truncate(d);
        weights.truncate(d);
        probe.one_by_one(op, &draws, &mut nodes, &mut weights)?;
    }
    Ok(Density {
        top,
        nodes,
        weights,
    })
}

/// The probe part of SLQ: `d` deflated columns, `steps` Lanczos steps per
/// probe, each probe's quadrature carrying `mass` = (M − d)/probes.
struct Probes {
    d: usize,
    steps: usize,
    mass: f64,
    scale0: f64,
}

impl Probes {
    /// One probe after the other, each in columns d..d+steps+1.
    fn one_by_one(
        &self,
        op: &mut dyn GramOperator,
        draws: &[Vec<f64>],
        nodes: &mut Vec<f64>,
        weights: &mut Vec<f64>,
    ) -> Result<(), SpectrumError> {
        let (d, steps) = (self.d, self.steps);
        op.reserve(d + steps + 1)?;
        for v in draws {
            op.set_column(d, v)?;
            // u = Pv/‖Pv‖; each probe's quadrature carries mass M − K
            let pv = op.orthonormalize(d)?;
            if pv == 0.0 {
                continue;
            }
            let mut t = Mat::<f64>::zeros(steps, steps);
            let mut size = steps;
            let mut scale = self.scale0;
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
            quadrature(&t, size, self.mass, nodes, weights)?;
        }
        Ok(())
    }

    /// Every probe at once, probe i in columns d + i·(steps+1)…, one
    /// batched application of G per step. Ok(false): the operator has no
    /// batched expansion.
    fn batched(
        &self,
        op: &mut dyn GramOperator,
        draws: &[Vec<f64>],
        nodes: &mut Vec<f64>,
        weights: &mut Vec<f64>,
    ) -> Result<bool, SpectrumError> {
        let (d, steps, n) = (self.d, self.steps, op.dim());
        let stride = steps + 1;
        op.reserve(d + draws.len() * stride)?;
        let deflated: Vec<Vec<f64>> = (0..d).map(|c| op.column(c)).collect::<Result<_, _>>()?;
        // (base column, its T, its scale, its size); u = Pv/‖Pv‖ by CGS2
        // against the deflated vectors, as `orthonormalize` does.
        let mut live: Vec<(usize, Mat<f64>, f64, usize)> = Vec::new();
        for (i, v) in draws.iter().enumerate() {
            let mut u = v.clone();
            for _ in 0..2 {
                let h: Vec<f64> = deflated
                    .iter()
                    .map(|z| z.iter().zip(&u).map(|(a, b)| a * b).sum())
                    .collect();
                for (z, hz) in deflated.iter().zip(h) {
                    u.iter_mut().zip(z).for_each(|(ui, zi)| *ui -= hz * zi);
                }
            }
            let pv = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            if pv == 0.0 {
                continue;
            }
            u.iter_mut().for_each(|x| *x /= pv);
            let base = d + i * stride;
            op.set_column(base, &u)?;
            live.push((base, Mat::zeros(steps, steps), self.scale0, steps));
        }
        let mut running: Vec<usize> = (0..live.len()).collect();
        for j in 0..steps {
            if running.is_empty() {
                break;
            }
            let jobs: Vec<(usize, usize)> = running
                .iter()
                .map(|&p| (live[p].0 + j, live[p].0))
                .collect();
            let floor = breakdown(op, self.scale0);
            let out = match op.expand_batch(d, &jobs, floor) {
                Some(r) => r?,
                None => return Ok(false),
            };
            let mut still = Vec::with_capacity(running.len());
            for (&p, step) in running.iter().zip(&out) {
                let (_, t, scale, size) = &mut live[p];
                for i in 0..=j {
                    let h = step.coeffs[d + i];
                    t[(i, j)] = h;
                    t[(j, i)] = h;
                }
                *scale = scale.max(step.coeffs[d + j].abs());
                if j + 1 < steps
                    && step.norm <= 100.0 * op.unit_roundoff() * (n as f64).sqrt() * *scale
                {
                    *size = j + 1;
                } else {
                    still.push(p);
                }
            }
            running = still;
        }
        for (_, t, _, size) in &live {
            quadrature(t, *size, self.mass, nodes, weights)?;
        }
        Ok(true)
    }
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

    fn op(bytes: &[u8], rows: usize, cols: usize) -> CpuOperator<'_> {
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
            for block in WIDTHS {
                let mut o = op(&bytes, r, c);
                let opts = KrylovOptions {
                    top_k: k,
                    tol: 1e-10,
                    block,
                    ..Default::default()
                };
                let top = lanczos(&mut o, &opts, false).unwrap();
                assert_eq!(top.values.len(), k);
                for (i, (&v, &ok)) in top.values.iter().zip(&top.converged).enumerate() {
                    assert!(ok, "{kind} {r}×{c} b={block:?} μ_{} not converged", i + 1);
                    assert!(
                        (v - exact[i]).abs() <= 1e-9 * exact[i] + 1e-12 * exact[0],
                        "{kind} {r}×{c} b={block:?} μ_{}: {v} vs {}",
                        i + 1,
                        exact[i]
                    );
                }
            }
        }
    }

    /// The CPU operator without its batched expansion: SLQ's probes then
    /// run one by one (as on the GPU), after the same block Lanczos.
    struct Unbatched<'a>(CpuOperator<'a>);

    impl GramOperator for Unbatched<'_> {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn frob2(&self) -> f64 {
            self.0.frob2()
        }
        fn unit_roundoff(&self) -> f64 {
            self.0.unit_roundoff()
        }
        fn block_width(&self) -> usize {
            self.0.block_width()
        }
        fn reserve(&mut self, cols: usize) -> Result<(), crate::spectrum::BackendError> {
            self.0.reserve(cols)
        }
        fn set_column(
            &mut self,
            col: usize,
            x: &[f64],
        ) -> Result<(), crate::spectrum::BackendError> {
            self.0.set_column(col, x)
        }
        fn column(&mut self, col: usize) -> Result<Vec<f64>, crate::spectrum::BackendError> {
            self.0.column(col)
        }
        fn expand(
            &mut self,
            src: usize,
            cols: usize,
        ) -> Result<Step, crate::spectrum::BackendError> {
            self.0.expand(src, cols)
        }
        fn expand_block(
            &mut self,
            src: usize,
            width: usize,
            cols: usize,
            floor: f64,
        ) -> Result<Vec<Step>, crate::spectrum::BackendError> {
            self.0.expand_block(src, width, cols, floor)
        }
        fn orthonormalize(&mut self, col: usize) -> Result<f64, crate::spectrum::BackendError> {
            self.0.orthonormalize(col)
        }
        fn rotate(
            &mut self,
            s: &[f64],
            m: usize,
            k: usize,
        ) -> Result<(), crate::spectrum::BackendError> {
            self.0.rotate(s, m, k)
        }
    }

    /// Block widths every method is checked at: the single-vector method
    /// (the GPU's), an awkward width, and the CPU operator's default.
    const WIDTHS: [Option<usize>; 3] = [Some(1), Some(3), None];

    #[test]
    fn power_f64_matches_exact() {
        let (bytes, exact) = matrix(150, 100, "powerlaw", 4);
        for block in WIDTHS {
            let mut o = op(&bytes, 150, 100);
            let opts = KrylovOptions {
                block,
                ..Default::default()
            };
            let p = power(&mut o, &opts).unwrap();
            assert!(p.converged, "b={block:?}");
            assert!(
                (p.value - exact[0]).abs() <= 1e-9 * exact[0],
                "b={block:?} {p:?}"
            );
        }
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
            // the batched probes are the one-by-one probes: same nodes
            // and weights to rounding (1e-9 relative)
            let mut o1 = Unbatched(op(&bytes, r, c));
            let one = slq(&mut o1, &opts).unwrap();
            assert_eq!(one.nodes.len(), d.nodes.len(), "{kind}");
            for p in 1..=3 {
                let (a, b) = (one.moment(p), d.moment(p));
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs(),
                    "{kind} moment {p}: {a} vs {b}"
                );
            }
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
