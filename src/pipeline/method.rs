//! Which eigen-method a matrix gets, and the Krylov methods run on one
//! matrix (all its views) through either backend's Gram operator.
//!
//! `--method auto` depends on what the caller reads ([`Needs`]). When it
//! needs every eigenvalue (`analyze`), auto takes the exact spectrum when
//! M ≤ [`AUTO_EXACT_MAX_M`] (and, on the GPU, when the M×M f32 Gram fits
//! one storage binding), else SLQ with an exact top-K: above that size the
//! O(M³) eigen-solve dominates everything else. When it needs only the top
//! K (a `check` of λ_max or the head of the spectrum), auto on the CPU
//! takes block Lanczos for the top K once M ≥ [`AUTO_PARTIAL_MIN_M`], with
//! a budget of passes over the weights that costs at most half the exact
//! solve ([`partial_budget`]); a run that does not converge within it is
//! answered by the exact method, and the outcome says so.

use crate::backend::cpu::CPU_BLOCK;
use crate::backend::{CpuOperator, GpuContext, GpuOperator, GramOperator};
use crate::load::quant::RangeStats;
use crate::load::{MatrixData, MatrixSpec};
use crate::spectrum::{self, KrylovOptions, SpectrumError};
use faer::Par;
use serde::Serialize;

/// Largest M that `--method auto` solves exactly.
pub const AUTO_EXACT_MAX_M: usize = 8192;

/// Smallest M for which `--method auto` takes a partial method when only
/// the top of the spectrum is needed: below it the exact solve takes
/// milliseconds and is the answer to everything.
pub const AUTO_PARTIAL_MIN_M: usize = 512;

/// What the caller reads of each matrix's spectrum; `--method auto` takes
/// a partial method when that is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Needs {
    /// Every eigenvalue (the fits, densities and predictions of `analyze`).
    #[default]
    All,
    /// The top `k` eigenvalues and ‖W‖²_F: λ_max (k = 1), the spectral
    /// norm, the stable rank, the head of the spectrum.
    Top(usize),
}

/// The method a matrix gets and how it runs.
#[derive(Debug, Clone)]
pub struct Choice {
    pub method: Method,
    /// The Krylov settings (auto's partial method: top K from [`Needs`],
    /// and its pass budget).
    pub krylov: KrylovOptions,
    /// Auto took a partial method: if it leaves any of the top K
    /// unconverged, the exact method answers instead.
    pub fallback: bool,
    /// Why auto took a partial method, for the outcome's note.
    pub why: Option<String>,
}

/// Multiply-adds of the exact method on an N×M matrix: the Gram's lower
/// triangle (N·M²/2) and the tridiagonal reduction (≈ 2M³/3, plus the
/// two-stage bulge chase and dsterf, counted as M³/3).
fn exact_cost(long: usize, m: usize) -> f64 {
    let (n, m) = (long as f64, m as f64);
    n * m * m / 2.0 + m * m * m
}

/// Multiply-adds of one pass of the streaming operator with a block of b
/// vectors: A·X and Aᵀ·Y, 2·N·M·b; below [`PASS_MIN_WIDTH`] the pass is
/// bound by reading the weights, not by arithmetic, and costs as much as a
/// block that wide.
fn pass_cost(long: usize, m: usize, b: usize) -> f64 {
    2.0 * long as f64 * m as f64 * b.max(PASS_MIN_WIDTH) as f64
}

/// The block width below which a streaming pass costs the same (the
/// weights' bandwidth bounds it); measured on the 11008×4096 benchmark.
const PASS_MIN_WIDTH: usize = 8;

/// Passes over the weights a partial method may spend so that it costs at
/// most half the exact method on the same matrix.
pub fn partial_budget(long: usize, m: usize, b: usize) -> usize {
    ((0.5 * exact_cost(long, m) / pass_cost(long, m, b)).floor() as usize).max(1)
}

/// What a matrix's eigenvalues are (the report's `spectrum` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectrumKind {
    /// Every eigenvalue.
    #[default]
    Full,
    /// The top K (Lanczos, power iteration).
    TopK,
    /// Quantiles of an SLQ density, with the top K exact.
    Density,
}

impl SpectrumKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpectrumKind::Full => "full",
            SpectrumKind::TopK => "top_k",
            SpectrumKind::Density => "density",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Exact below M = 8192, SLQ with an exact top-K above.
    #[default]
    Auto,
    /// Every eigenvalue: the Gram, then a dense f64 eigen-solve.
    Exact,
    /// The top K eigenvalues (`--top-k`), restarted Lanczos.
    Lanczos,
    /// λ_max only, power iteration.
    Power,
    /// Stochastic Lanczos quadrature density plus the exact top K.
    Slq,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Exact => "exact",
            Method::Lanczos => "lanczos",
            Method::Power => "power",
            Method::Slq => "slq",
        }
    }

    /// What the eigenvalues of a matrix analysed this way are.
    pub fn spectrum(self) -> SpectrumKind {
        match self {
            Method::Exact | Method::Auto => SpectrumKind::Full,
            Method::Lanczos | Method::Power => SpectrumKind::TopK,
            Method::Slq => SpectrumKind::Density,
        }
    }

    /// The method for one matrix, given what the caller needs and the
    /// Krylov settings asked for.
    pub fn choose(
        self,
        spec: &MatrixSpec,
        gpu: Option<&GpuContext>,
        needs: Needs,
        krylov: &KrylovOptions,
    ) -> Choice {
        let plain = |method| Choice {
            method,
            krylov: krylov.clone(),
            fallback: false,
            why: None,
        };
        let Needs::Top(k) = needs else {
            return plain(self.resolve(spec, gpu));
        };
        let (long, m) = (spec.n(), spec.m());
        if self != Method::Auto || gpu.is_some() || m < AUTO_PARTIAL_MIN_M || k == 0 || 4 * k > m {
            return plain(self.resolve(spec, gpu));
        }
        let b = krylov.block.unwrap_or(CPU_BLOCK);
        let budget = partial_budget(long, m, b) / spec.views.len().max(1);
        let opts = KrylovOptions {
            top_k: k,
            max_passes: Some(budget.max(1)),
            ..krylov.clone()
        };
        Choice {
            method: Method::Lanczos,
            krylov: opts,
            fallback: true,
            why: Some(format!(
                "auto: block Lanczos for the top {k} (only they are needed; at most {budget} passes over the weights, half the exact method's cost, else exact)"
            )),
        }
    }

    /// The method `auto` resolves to for one matrix when every eigenvalue
    /// is needed.
    pub fn resolve(self, spec: &MatrixSpec, gpu: Option<&GpuContext>) -> Method {
        if self != Method::Auto {
            return self;
        }
        let m = spec.m();
        let gram_fits = gpu.is_none_or(|g| (m * m * 4) as u64 <= g.max_binding());
        if m <= AUTO_EXACT_MAX_M && gram_fits {
            Method::Exact
        } else {
            Method::Slq
        }
    }
}

/// The eigenvalues a Krylov method gives for one matrix (views pooled).
#[derive(Debug, Clone)]
pub struct KrylovOutcome {
    /// Descending: the top K (lanczos, power), or M·views quantiles of the
    /// density with the top K exact (slq); scaled like exact eigenvalues.
    pub evals: Vec<f64>,
    /// Convergence of the top part, aligned with `evals`.
    pub converged: Vec<bool>,
    /// ‖W‖²_F summed over views, scaled.
    pub frob2: f64,
    /// Symmetric per-output-channel ranges (scaled like the eigenvalues)
    /// when asked for and read on the CPU, from the operator's own pass.
    pub ranges: Option<RangeStats>,
}

fn one_view(
    op: &mut dyn GramOperator,
    method: Method,
    opts: &KrylovOptions,
) -> Result<(Vec<f64>, Vec<bool>), SpectrumError> {
    Ok(match method {
        Method::Lanczos => {
            let t = spectrum::lanczos(op, opts, false)?;
            (t.values, t.converged)
        }
        Method::Power => {
            let p = spectrum::power(op, opts)?;
            (vec![p.value], vec![p.converged])
        }
        Method::Slq => {
            let d = spectrum::slq(op, opts)?;
            let q = d.quantiles(op.dim());
            (q, d.top.converged)
        }
        Method::Exact | Method::Auto => unreachable!("not a Krylov method"),
    })
}

/// Operator–vector products a method is expected to take on the CPU,
/// for the choice between forming G and streaming the weights: SLQ's
/// probes × steps dominate; Lanczos and power converge in a few dozen
/// blocks on a separated top (and stop at their budget otherwise).
fn expected_products(method: Method, opts: &KrylovOptions, m: usize) -> usize {
    let b = opts.block.unwrap_or(CPU_BLOCK);
    let top = 4 * opts.top_k.max(b).min(m);
    match method {
        Method::Slq => top + opts.probes * opts.steps.min(m),
        Method::Power => 8 * b,
        _ => top,
    }
}

/// Runs a Krylov method on every view of a matrix, on the GPU when given
/// (on the CPU with the weights' decoded copy allowed 256 MiB).
pub fn krylov<'a>(
    spec: &MatrixSpec,
    views: impl Iterator<Item = MatrixData<'a>>,
    method: Method,
    opts: &KrylovOptions,
    gpu: Option<&GpuContext>,
    par: Par,
) -> Result<KrylovOutcome, SpectrumError> {
    krylov_within(spec, views, method, opts, gpu, par, 256 << 20, false)
}

/// [`krylov`]; on the CPU the weights are kept decoded when that copy fits
/// in `copy_limit` bytes, else decoded again at every pass, and with
/// `ranges` the operator's first pass records the per-channel ranges
/// ([`KrylovOutcome::ranges`]; on the GPU they are not read here).
#[allow(clippy::too_many_arguments)]
pub fn krylov_within<'a>(
    spec: &MatrixSpec,
    views: impl Iterator<Item = MatrixData<'a>>,
    method: Method,
    opts: &KrylovOptions,
    gpu: Option<&GpuContext>,
    par: Par,
    copy_limit: u64,
    ranges: bool,
) -> Result<KrylovOutcome, SpectrumError> {
    let scale = spec.eval_scale;
    let mut all: Vec<(f64, bool)> = Vec::new();
    let mut frob2 = 0.0;
    let mut stats = (ranges && gpu.is_none()).then(RangeStats::default);
    for data in views {
        let (vals, conv, f) = match gpu {
            Some(ctx) => {
                let mut op = GpuOperator::new(ctx, &data)?;
                let (v, c) = one_view(&mut op, method, opts)?;
                (v, c, op.frob2())
            }
            None => {
                let products = expected_products(method, opts, data.view.sides().2);
                let mut absmax = stats.as_ref().map(|_| vec![0.0; data.view.rows]);
                let observed = absmax.as_deref_mut();
                let mut op = CpuOperator::for_products(&data, par, products, copy_limit, observed)?;
                if let (Some(total), Some(mx)) = (stats.as_mut(), &absmax) {
                    total.merge(&RangeStats::from_row_absmax(mx, data.view.cols, scale));
                }
                let (v, c) = one_view(&mut op, method, opts)?;
                (v, c, op.frob2())
            }
        };
        frob2 += f * scale;
        // Trust check: no eigenvalue exceeds the trace, none is negative
        // beyond round-off.
        let top = vals.first().copied().unwrap_or(0.0);
        if top > f * (1.0 + 1e-4) + f64::MIN_POSITIVE || vals.iter().any(|v| !v.is_finite()) {
            return Err(crate::backend::BackendError::Inconsistent {
                op: format!(
                    "{} of a {}×{} matrix",
                    method.as_str(),
                    spec.rows,
                    spec.cols
                ),
                detail: format!("λ_max {top:e} exceeds ‖W‖²_F {f:e}"),
            }
            .into());
        }
        let n = vals.len();
        all.extend(
            vals.into_iter()
                .zip(conv.into_iter().chain(std::iter::repeat(false)).take(n))
                .map(|(v, c)| (v.max(0.0) * scale, c)),
        );
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    if method != Method::Slq {
        // pooled views: the top K of the union
        let k = if method == Method::Power {
            1
        } else {
            opts.top_k
        };
        all.truncate(k);
    }
    let (evals, mut converged): (Vec<f64>, Vec<bool>) = all.into_iter().unzip();
    if method == Method::Slq {
        let k = opts.top_k.min(converged.len());
        converged.truncate(k);
    }
    Ok(KrylovOutcome {
        evals,
        converged,
        frob2,
        ranges: stats,
    })
}
