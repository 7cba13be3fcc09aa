//! What every spectral-framework estimator returns, and the pieces they
//! share: the estimate type (value, standard error, window of ranks), the
//! reasons an estimate is unavailable, the screening of degenerate spectra,
//! the log-spaced rank grid, and small least-squares helpers.
//!
//! Owns no estimator itself; never reads files. Ranks are 1-based, as in
//! the theory (μ_1 ≥ μ_2 ≥ …).

use serde::Serialize;

/// Smallest spectrum any rank-decay estimator accepts: one decade of ranks.
pub const MIN_EVALS: usize = 10;

/// Points per decade of the log-spaced rank grid (before integer ranks
/// collapse duplicates at small k).
pub const GRID_PER_DECADE: f64 = 20.0;

/// A window of ranks, inclusive, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub k_min: usize,
    pub k_max: usize,
}

impl Window {
    /// Decades spanned, log10(k_max/k_min).
    pub fn decades(&self) -> f64 {
        (self.k_max as f64 / self.k_min as f64).log10()
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.k_min, self.k_max)
    }
}

/// A value with its standard error and the ranks it was estimated from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub stderr: f64,
    pub window: Window,
}

/// Whether an estimate or a prediction may be used (THEORY.md §5): only
/// `Valid` numbers are shown as results; the others are reported with the
/// reason and marked wherever they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Valid,
    /// The formula does not apply here (e.g. a ≤ 1: the tail sum diverges).
    OutOfDomain,
    /// Estimates that should agree do not (e.g. the two routes to ρ).
    Inconsistent,
    /// Not enough data for a number, or an error bar as large as the value.
    #[default]
    Unresolved,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::OutOfDomain => "out_of_domain",
            Verdict::Inconsistent => "inconsistent",
            Verdict::Unresolved => "unresolved",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an estimate is unavailable. The message is what reports print.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unavailable {
    #[error("no eigenvalues")]
    Empty,
    #[error("non-finite eigenvalue in the spectrum")]
    NonFinite,
    #[error("all eigenvalues are zero")]
    AllZero,
    #[error("M = {m} eigenvalues; at least {min} are needed for a decade of ranks")]
    TooFew { m: usize, min: usize },
    #[error("numerical rank {rank}: fewer than {min} nonzero modes")]
    LowRank { rank: usize, min: usize },
    #[error("constant spectrum (relative spread {spread:.1e}): no decay to fit")]
    Constant { spread: f64 },
    #[error(
        "{count} modes above the noise floor (μ > {edge:.3e}); a one-decade window needs {min}"
    )]
    FewAboveNoise { count: usize, edge: f64, min: usize },
    #[error("one power law fits as well as a broken one (ΔBIC = {dbic:.1} ≤ {threshold})")]
    NoBreak { dbic: f64, threshold: f64 },
    #[error(
        "the best break (k = {k}, ΔBIC = {dbic:.1}) is at the edge of the searched ranks, so the data do not bracket it"
    )]
    BreakAtEdge { k: f64, dbic: f64 },
    #[error(
        "the accepted break flattens the spectrum (slopes {s1:.3} then {s2:.3}); reading (B) needs it to steepen"
    )]
    Flattening { s1: f64, s2: f64 },
    #[error("power-law fit failed: {0}")]
    PowerLaw(String),
    #[error("alpha = {alpha:.3} ≤ 1: b = 1/(α−1) is undefined")]
    AlphaTooSmall { alpha: f64 },
    #[error("needs {what}, which is unavailable: {why}")]
    Needs { what: &'static str, why: String },
    #[error("a = {a:.3} ≤ 1: the loss tail Σ k^(−a) diverges, outside the theory's domain")]
    OutOfDomain { a: f64 },
    #[error("a = {a:.3} ± {err:.3}: the error bar reaches a = 1, the edge of the theory's domain")]
    Unresolved { a: f64, err: f64 },
}

impl Unavailable {
    /// The verdict this reason amounts to.
    pub fn verdict(&self) -> Verdict {
        match self {
            Unavailable::OutOfDomain { .. } => Verdict::OutOfDomain,
            _ => Verdict::Unresolved,
        }
    }
}

impl Serialize for Unavailable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub type Estimated<T = Estimate> = Result<T, Unavailable>;

/// A descending spectrum that passed the degenerate-input screen.
#[derive(Debug, Clone)]
pub struct Screened<'a> {
    /// All eigenvalues, descending.
    pub mu: &'a [f64],
    /// Numerical rank: μ_k > μ_1·M·ε, the resolution of a Gram's eigenvalues.
    pub rank: usize,
}

impl Screened<'_> {
    /// The log-spaced rank grid over ranks 1..=`k_cap` (capped at the
    /// numerical rank) that the rank-plot fits use; unavailable when fewer
    /// than [`MIN_EVALS`] modes remain.
    pub fn grid(&self, k_cap: usize) -> Estimated<Vec<GridPoint>> {
        let k_cap = k_cap.min(self.rank);
        if k_cap < MIN_EVALS {
            return Err(Unavailable::FewAboveNoise {
                count: k_cap,
                edge: self.mu.get(k_cap).copied().unwrap_or(0.0),
                min: MIN_EVALS,
            });
        }
        Ok(log_grid(self.mu, k_cap))
    }
}

/// Rejects spectra no rank-decay estimator can use: empty, non-finite,
/// all zero, fewer than [`MIN_EVALS`] values, numerical rank below
/// [`MIN_EVALS`] (rank 1 included), or constant. `mu` must be descending.
pub fn screen(mu: &[f64]) -> Estimated<Screened<'_>> {
    if mu.is_empty() {
        return Err(Unavailable::Empty);
    }
    if mu.iter().any(|v| !v.is_finite()) {
        return Err(Unavailable::NonFinite);
    }
    debug_assert!(
        mu.windows(2).all(|w| w[0] >= w[1]),
        "spectrum must be descending"
    );
    let top = mu[0];
    if top <= 0.0 {
        return Err(Unavailable::AllZero);
    }
    if mu.len() < MIN_EVALS {
        return Err(Unavailable::TooFew {
            m: mu.len(),
            min: MIN_EVALS,
        });
    }
    let tol = top * mu.len() as f64 * f64::EPSILON;
    let rank = mu.iter().take_while(|&&v| v > tol).count();
    if rank < MIN_EVALS {
        return Err(Unavailable::LowRank {
            rank,
            min: MIN_EVALS,
        });
    }
    // Relative spread of the nonzero part; 1e-8 is far above the round-off
    // of a Gram eigen-solve (≈ M·ε) and far below any real decay.
    let spread = (top - mu[rank - 1]) / top;
    if spread < 1e-8 {
        return Err(Unavailable::Constant { spread });
    }
    Ok(Screened { mu, rank })
}

/// One grid point: rank k (1-based), x = ln k, y = ln μ_k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPoint {
    pub k: usize,
    pub x: f64,
    pub y: f64,
}

/// Log-spaced ranks k = round(10^(j/20)), j = 0, 1, …, duplicates dropped,
/// up to `k_max`, with their ln μ_k (μ must be positive up to `k_max`).
/// Equal spacing in ln k gives every decade the same weight in a fit, so
/// the many ranks of the tail do not outvote the few at the top.
pub fn log_grid(mu: &[f64], k_max: usize) -> Vec<GridPoint> {
    let mut out: Vec<GridPoint> = Vec::new();
    let mut j = 0.0;
    loop {
        let k = 10f64.powf(j / GRID_PER_DECADE).round() as usize;
        if k > k_max {
            break;
        }
        if out.last().is_none_or(|p| p.k != k) {
            out.push(GridPoint {
                k,
                x: (k as f64).ln(),
                y: mu[k - 1].ln(),
            });
        }
        j += 1.0;
    }
    if out.last().is_some_and(|p| p.k != k_max) {
        out.push(GridPoint {
            k: k_max,
            x: (k_max as f64).ln(),
            y: mu[k_max - 1].ln(),
        });
    }
    out
}

/// Running sums for O(1) least-squares lines over any contiguous run.
pub struct Prefix {
    n: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    xx: Vec<f64>,
    xy: Vec<f64>,
    yy: Vec<f64>,
}

/// A least-squares line y = c + slope·x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub intercept: f64,
    pub slope: f64,
    /// OLS standard error of the slope, √(RSS/(n−2)/Sxx).
    pub slope_se: f64,
    pub rss: f64,
    pub n: usize,
}

impl Line {
    pub fn rms(&self) -> f64 {
        (self.rss / self.n as f64).sqrt()
    }
}

impl Prefix {
    pub fn new(pts: &[GridPoint]) -> Prefix {
        let mut p = Prefix {
            n: vec![0.0],
            x: vec![0.0],
            y: vec![0.0],
            xx: vec![0.0],
            xy: vec![0.0],
            yy: vec![0.0],
        };
        for q in pts {
            let last = |v: &Vec<f64>| *v.last().unwrap();
            p.n.push(last(&p.n) + 1.0);
            p.x.push(last(&p.x) + q.x);
            p.y.push(last(&p.y) + q.y);
            p.xx.push(last(&p.xx) + q.x * q.x);
            p.xy.push(last(&p.xy) + q.x * q.y);
            p.yy.push(last(&p.yy) + q.y * q.y);
        }
        p
    }

    /// The line through points i..=j (at least 3 of them). Sums are
    /// centred before use; with ≤ 100 points of |x| ≤ 10 and |y| ≲ 100 the
    /// cancellation costs at most ~1e-10 relative in RSS, far below the
    /// residuals any real spectrum has.
    pub fn line(&self, i: usize, j: usize) -> Line {
        let d = |v: &Vec<f64>| v[j + 1] - v[i];
        let n = d(&self.n);
        let (sx, sy) = (d(&self.x), d(&self.y));
        let sxx = d(&self.xx) - sx * sx / n;
        let sxy = d(&self.xy) - sx * sy / n;
        let syy = d(&self.yy) - sy * sy / n;
        let slope = sxy / sxx;
        let rss = (syy - slope * sxy).max(0.0);
        let dof = (n - 2.0).max(1.0);
        Line {
            intercept: (sy - slope * sx) / n,
            slope,
            slope_se: (rss / dof / sxx).sqrt(),
            rss,
            n: n as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_reasons() {
        assert_eq!(screen(&[]).unwrap_err(), Unavailable::Empty);
        assert_eq!(screen(&[0.0; 20]).unwrap_err(), Unavailable::AllZero);
        assert!(matches!(
            screen(&[3.0, 2.0, 1.0]).unwrap_err(),
            Unavailable::TooFew { m: 3, .. }
        ));
        let mut rank1 = vec![0.0; 30];
        rank1[0] = 5.0;
        assert!(matches!(
            screen(&rank1).unwrap_err(),
            Unavailable::LowRank { rank: 1, .. }
        ));
        assert!(matches!(
            screen(&[2.0; 40]).unwrap_err(),
            Unavailable::Constant { .. }
        ));
        let mut nan = vec![1.0; 20];
        nan[3] = f64::NAN;
        assert_eq!(screen(&nan).unwrap_err(), Unavailable::NonFinite);
        let ok: Vec<f64> = (1..=50).map(|k| 1.0 / k as f64).collect();
        assert_eq!(screen(&ok).unwrap().rank, 50);
    }

    #[test]
    fn grid_is_log_spaced_and_ends_at_k_max() {
        let mu: Vec<f64> = (1..=1000).map(|k| 1.0 / k as f64).collect();
        let g = log_grid(&mu, 777);
        assert_eq!(g[0].k, 1);
        assert_eq!(g.last().unwrap().k, 777);
        assert!(g.windows(2).all(|w| w[0].k < w[1].k));
        // 1..10 are all distinct integers; above, 20 per decade.
        assert_eq!(g.iter().filter(|p| p.k <= 10).count(), 10);
        let upper = g.iter().filter(|p| p.k > 100 && p.k <= 777).count();
        assert!((17..=19).contains(&upper), "{upper}");
    }

    #[test]
    fn line_matches_a_direct_fit() {
        let pts: Vec<GridPoint> = (1..=12)
            .map(|k| {
                let x = (k as f64).ln();
                GridPoint {
                    k,
                    x,
                    y: 3.0 - 1.7 * x + 0.01 * ((k * 7919) % 13) as f64,
                }
            })
            .collect();
        let l = Prefix::new(&pts).line(2, 10);
        // Direct two-pass OLS on points 2..=10.
        let sub = &pts[2..=10];
        let n = sub.len() as f64;
        let mx = sub.iter().map(|p| p.x).sum::<f64>() / n;
        let my = sub.iter().map(|p| p.y).sum::<f64>() / n;
        let sxx: f64 = sub.iter().map(|p| (p.x - mx).powi(2)).sum();
        let sxy: f64 = sub.iter().map(|p| (p.x - mx) * (p.y - my)).sum();
        let slope = sxy / sxx;
        let rss: f64 = sub
            .iter()
            .map(|p| (p.y - my - slope * (p.x - mx)).powi(2))
            .sum();
        assert!((l.slope - slope).abs() < 1e-12);
        assert!((l.rss - rss).abs() < 1e-10 * (1.0 + rss));
        assert!((l.slope_se - (rss / (n - 2.0) / sxx).sqrt()).abs() < 1e-8);
    }
}

/// Average ranks (ties share the mean of their positions), 0-based.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of two equally long samples (Pearson's
/// correlation of their average ranks); None below 3 pairs or when either
/// sample is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod rank_tests {
    #[test]
    fn spearman_of_known_samples() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(super::spearman(&a, &[2.0, 4.0, 6.0, 8.0, 100.0]), Some(1.0));
        assert_eq!(super::spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        // Ties: ranks 0, 1.5, 1.5, 3 against 0..3: ρ = 4.5/√(4.5·5).
        let r = super::spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((r - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12);
        assert_eq!(super::spearman(&a, &[1.0; 5]), None);
    }
}
