//! The typed result of one matrix, and the accessors its consumers read
//! (`compare`'s series, `predict`, `check`'s compression rules, the
//! report's projections).

use crate::fit::diffract::{DiffractError, DiffractMetrics};
use crate::fit::{FitStatus, LayerMetrics, PowerLawFit, SpectralFit};
use crate::load::SafetensorsFile;
use crate::load::quant::RangeStats;
use crate::pipeline::{Job, MatrixFailure, Method, SpectrumKind};
use crate::theory::TheoryColumns;
use std::path::PathBuf;

/// The tensor a matrix comes from.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub file: PathBuf,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// A file read for an analysis.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub path: PathBuf,
    pub bytes: u64,
    pub tensors: usize,
}

impl FileInfo {
    pub fn of(f: &SafetensorsFile) -> FileInfo {
        FileInfo {
            path: f.path.clone(),
            bytes: f.len,
            tensors: f.tensors.len(),
        }
    }
}

/// A computed spectrum and everything estimated from it.
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// μ_k = σ_k², descending (scaled like the plan says: ×0.5 for pooled
    /// convolutions); all of them, the top K, or density quantiles.
    pub evals: Vec<f64>,
    pub kind: SpectrumKind,
    /// The smallest singular value (the largest per-slice minimum for
    /// pooled convolutions); zero when not computed.
    pub sv_min: f64,
    /// ‖W‖²_F from the weights, scaled like the eigenvalues.
    pub frob2: Option<f64>,
    /// Krylov methods: convergence of each top eigenvalue.
    pub converged: Option<Vec<bool>>,
    /// Symmetric per-output-channel ranges of the weights, scaled like the
    /// eigenvalues.
    pub ranges: Option<RangeStats>,
    /// The peer-compatible layer metrics and power-law fit.
    pub metrics: LayerMetrics,
    /// The spectral-framework fit (full spectra only).
    pub fit: Option<SpectralFit>,
    /// The framework's per-matrix estimates (b, σ, k_*, density, k_q, …).
    pub estimates: TheoryColumns,
    /// Diffract's columns (full spectra of single-view matrices), or why
    /// not.
    pub diffract: Option<Result<DiffractMetrics, DiffractError>>,
}

/// One planned matrix: where it comes from, and its spectrum or why there
/// is none.
#[derive(Debug, Clone)]
pub struct MatrixResult {
    pub job: Job,
    pub tensor: TensorInfo,
    /// The method that ran (never `Auto`).
    pub method: Method,
    pub spectrum: Result<Spectrum, MatrixFailure>,
    /// The noise σ taken from the init snapshot, when one was given and
    /// held this tensor.
    pub sigma_init: Option<f64>,
}

impl MatrixResult {
    pub fn name(&self) -> &str {
        &self.job.spec.name
    }

    /// The peer's N and M (N ≥ M except under its own conv quirk).
    pub fn n(&self) -> usize {
        self.job.n
    }

    pub fn m(&self) -> usize {
        self.job.m
    }

    /// Weights in the matrix (every pooled view).
    pub fn params(&self) -> u64 {
        crate::theory::params_of(&self.job.spec)
    }

    pub fn evals(&self) -> Option<&[f64]> {
        self.spectrum.as_ref().ok().map(|s| s.evals.as_slice())
    }

    /// The full spectrum, when every eigenvalue was computed.
    pub fn full_evals(&self) -> Option<&[f64]> {
        self.spectrum
            .as_ref()
            .ok()
            .filter(|s| s.kind == SpectrumKind::Full)
            .map(|s| s.evals.as_slice())
    }

    pub fn metrics(&self) -> Option<&LayerMetrics> {
        self.spectrum.as_ref().ok().map(|s| &s.metrics)
    }

    pub fn estimates(&self) -> Option<&TheoryColumns> {
        self.spectrum.as_ref().ok().map(|s| &s.estimates)
    }

    pub fn fit(&self) -> Option<&SpectralFit> {
        self.spectrum.as_ref().ok().and_then(|s| s.fit.as_ref())
    }

    /// The power-law fit, when it succeeded.
    pub fn power_law(&self) -> Option<&PowerLawFit> {
        self.metrics().and_then(|m| m.fit.as_ref().ok())
    }

    /// α of a successful power-law fit.
    pub fn alpha(&self) -> Option<f64> {
        self.metrics()
            .filter(|m| m.status == FitStatus::Success)
            .map(|m| m.alpha)
    }

    pub fn lambda_max(&self) -> Option<f64> {
        self.metrics().map(|m| m.lambda_max)
    }

    /// The framework's rank-decay exponent b.
    pub fn b(&self) -> Option<f64> {
        self.estimates().and_then(|e| e.b)
    }

    pub fn k_star(&self) -> Option<usize> {
        self.estimates().and_then(|e| e.k_star)
    }

    /// `break`, `noise_floor`, or empty.
    pub fn k_star_source(&self) -> &str {
        self.estimates().map_or("", |e| e.k_star_source.as_str())
    }

    /// The theory's density D = k_*/M.
    pub fn density(&self) -> Option<f64> {
        self.estimates().and_then(|e| e.density)
    }

    /// The noise σ the framework used (init or median estimate).
    pub fn noise_sigma(&self) -> Option<f64> {
        self.estimates().and_then(|e| e.noise_sigma)
    }
}
