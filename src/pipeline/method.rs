//! Which eigen-method a matrix gets, and the Krylov methods run on one
//! matrix (all its views) through either backend's Gram operator.
//!
//! `--method auto` takes the exact spectrum when M ≤ [`AUTO_EXACT_MAX_M`]
//! (and, on the GPU, when the M×M f32 Gram fits one storage binding), else
//! SLQ with an exact top-K: above that size the O(M³) eigen-solve dominates
//! everything else.

use crate::backend::{CpuOperator, GpuContext, GpuOperator, GramOperator};
use crate::load::{MatrixData, MatrixSpec};
use crate::spectrum::{self, KrylovOptions, SpectrumError};
use faer::Par;
use serde::Serialize;

/// Largest M that `--method auto` solves exactly.
pub const AUTO_EXACT_MAX_M: usize = 8192;

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

    /// The method `auto` resolves to for one matrix.
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

/// Runs a Krylov method on every view of a matrix, on the GPU when given.
pub fn krylov<'a>(
    spec: &MatrixSpec,
    views: impl Iterator<Item = MatrixData<'a>>,
    method: Method,
    opts: &KrylovOptions,
    gpu: Option<&GpuContext>,
    par: Par,
) -> Result<KrylovOutcome, SpectrumError> {
    let scale = spec.eval_scale;
    let mut all: Vec<(f64, bool)> = Vec::new();
    let mut frob2 = 0.0;
    for data in views {
        let (vals, conv, f) = match gpu {
            Some(ctx) => {
                let mut op = GpuOperator::new(ctx, &data)?;
                let (v, c) = one_view(&mut op, method, opts)?;
                (v, c, op.frob2())
            }
            None => {
                let mut op = CpuOperator::new(&data, par)?;
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
    })
}
