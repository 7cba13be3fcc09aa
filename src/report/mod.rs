//! The report as an API: serde structs with a `schema_version`, stable
//! snake_case names (the peer's where they overlap), rows in a
//! deterministic order. JSON, CSV and the terminal table all come from
//! these structs; `doc` reads reports back by field name, `plot` draws
//! figures and `html` writes the self-contained page.

pub mod doc;
pub mod html;
mod npy;
pub mod plot;
mod predict;
pub mod series;
mod table;

pub use npy::{file_stems, load_eigs, read_npy_f64, save_eigs, write_npy_f64};
pub use predict::{
    CurveRow, ModelCurvePoint, PredictReport, PredictRow, PredictSummary, ProfileRow,
};
pub use table::{write_inspect_table, write_table};

use crate::fit::LayerMetrics;
use crate::pipeline::{Job, Outcome, Skipped};
use serde::Serialize;

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    pub bytes: u64,
    pub tensors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// The path the user gave.
    pub path: String,
    pub files: Vec<InputFile>,
}

/// Which engine computed the spectra.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// `cpu` or `gpu`.
    pub name: String,
    /// `exact`, `lanczos`, …
    pub method: String,
    /// Arithmetic of the Gram accumulation and the eigen-solve.
    pub precision: String,
    pub threads: usize,
    /// GPU adapter, driver and API, when a GPU ran.
    pub adapter: Option<String>,
    pub driver: Option<String>,
    pub api: Option<String>,
    /// How the peer's metrics are computed from a partial spectrum (top K
    /// or SLQ density); absent when every matrix was solved exactly.
    pub partial_spectra: Option<&'static str>,
}

/// What `Backend::partial_spectra` says when a method other than `exact`
/// ran (docs/gpu.md, "Metrics from partial spectra").
pub const PARTIAL_SPECTRA_NOTE: &str = "norm, log_norm and stable_rank use the squared Frobenius norm computed from the weights; lambda_max, spectral_norm, log_spectral_norm and sv_max use the exact top eigenvalue; lanczos/power: the power-law fit (alpha, xmin, xmax, D, sigma, num_pl_spikes, alpha_weighted, log_alpha_norm) sees only the top-K eigenvalues; slq: it sees the density's quantiles with the top K exact; matrix_rank, rank_loss, weak_rank_loss, entropy and sv_min are left empty";

/// What the numbers mean.
#[derive(Debug, Clone, Serialize)]
pub struct Conventions {
    /// Always `sigma_squared`: μ_k = σ_k(W)², eigenvalues of WᵀW (or WWᵀ,
    /// the smaller), not normalized, as the peer tool reports them.
    pub eigenvalues: &'static str,
    pub conv: crate::load::ConvMode,
    /// Factor applied to pooled convolution eigenvalues (the peer's).
    pub conv_pooled_scale: f64,
    pub preset: crate::pipeline::Preset,
}

/// One matrix: the peer's 32 columns in the peer's order, then ours.
/// Metric fields are empty for a matrix that could not be analysed.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    pub layer_id: usize,
    pub name: String,
    #[serde(rename = "D")]
    pub d: Option<f64>,
    #[serde(rename = "M")]
    pub m: usize,
    #[serde(rename = "N")]
    pub n: usize,
    #[serde(rename = "Q")]
    pub q: f64,
    pub alpha: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub entropy: Option<f64>,
    pub has_esd: bool,
    pub lambda_max: Option<f64>,
    pub layer_type: String,
    pub log_alpha_norm: Option<f64>,
    pub log_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub longname: String,
    pub matrix_rank: Option<i64>,
    pub norm: Option<f64>,
    pub num_evals: usize,
    pub num_pl_spikes: Option<i64>,
    pub rank_loss: Option<i64>,
    pub rf: usize,
    pub sigma: Option<f64>,
    pub spectral_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    pub status: String,
    pub sv_max: Option<f64>,
    pub sv_min: Option<f64>,
    pub warning: String,
    pub weak_rank_loss: Option<i64>,
    pub xmax: Option<f64>,
    pub xmin: Option<f64>,
    // --- specscope's own columns ---
    pub tensor: String,
    pub rule: &'static str,
    pub dtype: String,
    /// The tensor's shape, `a×b×…`.
    pub shape: String,
    pub file: String,
    /// Eigenvalues given to the power-law fit (> 1e-5) and in its tail.
    pub n_fit: Option<i64>,
    pub n_tail: Option<i64>,
    /// Why the matrix, or its fit, failed.
    pub error: Option<String>,
    // --- eigen-method columns (GPU engine) ---
    /// `exact`, `lanczos`, `power` or `slq`.
    pub method: &'static str,
    /// What the eigenvalues are: `full`, `top_k`, or `density` (quantiles
    /// of an SLQ density with the top K exact).
    pub spectrum: &'static str,
    /// Krylov methods: top eigenvalues computed, and which converged, as
    /// 1-based ranks (`1-8,10`; empty: none).
    pub top_k: Option<usize>,
    pub converged: Option<String>,
    // --- spectral framework (docs/theory.md); `density` is the theory's D ---
    pub params: u64,
    pub b: Option<f64>,
    pub b_err: Option<f64>,
    pub b_kmin: Option<usize>,
    pub b_kmax: Option<usize>,
    pub b_clean: Option<bool>,
    pub b_hill: Option<f64>,
    pub b_hill_err: Option<f64>,
    pub b_alpha: Option<f64>,
    pub b_alpha_err: Option<f64>,
    pub b_alpha_ratio: Option<f64>,
    pub noise_sigma: Option<f64>,
    pub noise_sigma_err: Option<f64>,
    pub noise_source: String,
    pub mp_edge: Option<f64>,
    pub noise_edge: Option<f64>,
    pub k_noise: Option<usize>,
    pub k_gd: Option<usize>,
    pub k_star: Option<usize>,
    pub k_star_err: Option<f64>,
    pub k_star_source: String,
    pub break_k: Option<f64>,
    pub break_s1: Option<f64>,
    pub break_s2: Option<f64>,
    pub break_dbic: Option<f64>,
    pub density: Option<f64>,
    pub s_c: Option<f64>,
    pub a: Option<f64>,
    pub a_err: Option<f64>,
    pub b_reading_b: Option<f64>,
    pub k_q4: Option<usize>,
    pub k_q8: Option<usize>,
    pub theory_status: String,
}

/// `[true, true, false, true]` → `1-2,4`.
fn ranks(flags: &[bool]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if flags[i] {
            let j = (i..flags.len()).take_while(|&k| flags[k]).last().unwrap();
            out.push(if i == j {
                format!("{}", i + 1)
            } else {
                format!("{}-{}", i + 1, j + 1)
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out.join(",")
}

impl LayerRow {
    pub fn new(job: &Job, out: &Outcome) -> LayerRow {
        let full = out.method.spectrum() == "full";
        let (metrics, error) = match &out.evals {
            Ok(evals) => {
                let mut m = crate::fit::layer_metrics(evals, job.spec.m(), out.sv_min);
                if !full && let Some(f) = out.frob2 {
                    // Partial spectrum: the norm from the weights themselves.
                    m.norm = f;
                    m.log_norm = f.log10();
                    m.stable_rank = f / m.lambda_max;
                }
                let err = m.fit_error.clone();
                (Some(m), err)
            }
            Err(e) => (None, Some(e.clone())),
        };
        // Metrics a partial spectrum cannot give are left empty.
        let known = |v: Option<i64>| if full { v } else { None };
        let theory = match (&out.evals, &metrics) {
            (Ok(evals), Some(m)) if full => {
                let alpha = crate::theory::alpha_of(m);
                crate::theory::analyze_columns(job, evals, None, None, Some(&alpha))
            }
            _ => crate::theory::TheoryColumns {
                params: crate::theory::params_of(job),
                theory_status: error.clone().unwrap_or_else(|| {
                    format!(
                        "the framework fit needs the full spectrum (method {})",
                        out.method.as_str()
                    )
                }),
                ..Default::default()
            },
        };
        let g = |f: fn(&LayerMetrics) -> f64| metrics.as_ref().map(f);
        let gi = |f: fn(&LayerMetrics) -> i64| metrics.as_ref().map(f);
        LayerRow {
            layer_id: job.layer_id,
            name: out.name.clone(),
            d: g(|m| m.d),
            m: job.m,
            n: job.n,
            q: if job.m == 0 {
                -1.0
            } else {
                job.n as f64 / job.m as f64
            },
            alpha: g(|m| m.alpha),
            alpha_weighted: g(|m| m.alpha_weighted),
            entropy: g(|m| m.entropy).filter(|_| full),
            has_esd: metrics.is_some(),
            lambda_max: g(|m| m.lambda_max),
            layer_type: job.layer_type.clone(),
            log_alpha_norm: g(|m| m.log_alpha_norm),
            log_norm: g(|m| m.log_norm),
            log_spectral_norm: g(|m| m.log_spectral_norm),
            longname: out.name.clone(),
            matrix_rank: known(gi(|m| m.matrix_rank)),
            norm: g(|m| m.norm),
            num_evals: job.spec.num_evals(),
            num_pl_spikes: gi(|m| m.num_pl_spikes),
            rank_loss: known(gi(|m| m.rank_loss)),
            rf: job.rf,
            sigma: g(|m| m.sigma),
            spectral_norm: g(|m| m.spectral_norm),
            stable_rank: g(|m| m.stable_rank),
            status: metrics.as_ref().map_or("failed", |m| m.status).to_string(),
            sv_max: g(|m| m.sv_max),
            sv_min: g(|m| m.sv_min).filter(|_| full),
            warning: metrics.as_ref().map_or("", |m| m.warning).to_string(),
            weak_rank_loss: known(gi(|m| m.weak_rank_loss)),
            xmax: metrics.as_ref().and_then(|m| m.xmax),
            xmin: g(|m| m.xmin),
            tensor: out.tensor.clone(),
            rule: out.rule.as_str(),
            dtype: out.dtype.clone(),
            shape: out
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("×"),
            file: out.file.display().to_string(),
            n_fit: gi(|m| m.n_fit),
            n_tail: gi(|m| m.n_tail),
            error,
            method: out.method.as_str(),
            spectrum: out.method.spectrum(),
            top_k: out.converged.as_ref().map(|c| c.len()),
            converged: out.converged.as_deref().map(ranks),
            params: 0,
            b: None,
            b_err: None,
            b_kmin: None,
            b_kmax: None,
            b_clean: None,
            b_hill: None,
            b_hill_err: None,
            b_alpha: None,
            b_alpha_err: None,
            b_alpha_ratio: None,
            noise_sigma: None,
            noise_sigma_err: None,
            noise_source: String::new(),
            mp_edge: None,
            noise_edge: None,
            k_noise: None,
            k_gd: None,
            k_star: None,
            k_star_err: None,
            k_star_source: String::new(),
            break_k: None,
            break_s1: None,
            break_s2: None,
            break_dbic: None,
            density: None,
            s_c: None,
            a: None,
            a_err: None,
            b_reading_b: None,
            k_q4: None,
            k_q8: None,
            theory_status: String::new(),
        }
        .with_theory(theory)
    }

    /// Replaces the spectral-framework columns.
    pub fn with_theory(mut self, t: crate::theory::TheoryColumns) -> LayerRow {
        self.params = t.params;
        self.b = t.b;
        self.b_err = t.b_err;
        self.b_kmin = t.b_kmin;
        self.b_kmax = t.b_kmax;
        self.b_clean = t.b_clean;
        self.b_hill = t.b_hill;
        self.b_hill_err = t.b_hill_err;
        self.b_alpha = t.b_alpha;
        self.b_alpha_err = t.b_alpha_err;
        self.b_alpha_ratio = t.b_alpha_ratio;
        self.noise_sigma = t.noise_sigma;
        self.noise_sigma_err = t.noise_sigma_err;
        self.noise_source = t.noise_source;
        self.mp_edge = t.mp_edge;
        self.noise_edge = t.noise_edge;
        self.k_noise = t.k_noise;
        self.k_gd = t.k_gd;
        self.k_star = t.k_star;
        self.k_star_err = t.k_star_err;
        self.k_star_source = t.k_star_source;
        self.break_k = t.break_k;
        self.break_s1 = t.break_s1;
        self.break_s2 = t.break_s2;
        self.break_dbic = t.break_dbic;
        self.density = t.density;
        self.s_c = t.s_c;
        self.a = t.a;
        self.a_err = t.a_err;
        self.b_reading_b = t.b_reading_b;
        self.k_q4 = t.k_q4;
        self.k_q8 = t.k_q8;
        self.theory_status = t.theory_status;
        self
    }

    /// The matrix itself was analysed (its fit may still have failed).
    pub fn analysed(&self) -> bool {
        self.has_esd
    }
}

/// Model-level means, as the peer's `get_summary()`: plain means over every
/// analysed row, failed fits included (their −1 sentinels count, as in the
/// peer). Non-finite values propagate, as in pandas.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub log_norm: Option<f64>,
    pub alpha: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub log_alpha_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    /// Matrices planned, analysed, and failed.
    pub matrices: usize,
    pub analysed: usize,
    pub failed: usize,
    /// Matrices whose power-law fit failed.
    pub fits_failed: usize,
    /// Tensors left out because they are not weight matrices.
    pub tensors_skipped: usize,
    /// Tensors (or files) that should have been analysed and could not be.
    pub tensors_failed: usize,
    /// The theory's density D = k_*/M, weighted by parameters over the
    /// matrices that have a frontier (docs/theory.md).
    pub density: Option<f64>,
}

impl Summary {
    pub fn new(rows: &[LayerRow], skipped: &[Skipped], problems: usize) -> Summary {
        let ok: Vec<&LayerRow> = rows.iter().filter(|r| r.analysed()).collect();
        let mean = |f: fn(&LayerRow) -> Option<f64>| {
            let v: Vec<f64> = ok.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        Summary {
            log_norm: mean(|r| r.log_norm),
            alpha: mean(|r| r.alpha),
            alpha_weighted: mean(|r| r.alpha_weighted),
            log_alpha_norm: mean(|r| r.log_alpha_norm),
            log_spectral_norm: mean(|r| r.log_spectral_norm),
            stable_rank: mean(|r| r.stable_rank),
            matrices: rows.len(),
            analysed: ok.len(),
            failed: rows.len() - ok.len(),
            fits_failed: ok.iter().filter(|r| r.status == "failed").count(),
            tensors_skipped: skipped.iter().filter(|s| !s.failed).count(),
            tensors_failed: skipped.iter().filter(|s| s.failed).count() + problems,
            density: crate::fit::model_density(ok.iter().map(|r| (r.density, r.params))),
        }
    }
}

/// The `analyze` report.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzeReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    pub input: Input,
    pub backend: Backend,
    pub conventions: Conventions,
    pub layers: Vec<LayerRow>,
    pub summary: Summary,
    /// Tensors that yield no matrix, with the reason.
    pub skipped: Vec<Skipped>,
    /// File-level problems (unreadable files, missing shards).
    pub problems: Vec<String>,
}

impl AnalyzeReport {
    /// Something that should have been analysed was not.
    pub fn has_failures(&self) -> bool {
        self.summary.failed > 0 || self.summary.tensors_failed > 0
    }

    pub fn write_json(&self, w: impl std::io::Write) -> anyhow::Result<()> {
        let mut w = w;
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    /// One CSV row per matrix with the peer's column names first.
    pub fn write_csv(&self, w: impl std::io::Write) -> anyhow::Result<()> {
        write_csv_rows(&self.layers, w)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn converged_ranks() {
        assert_eq!(super::ranks(&[true, true, false, true]), "1-2,4");
        assert_eq!(super::ranks(&[false, false]), "");
        assert_eq!(super::ranks(&[true]), "1");
    }
}

pub fn write_csv_rows<T: Serialize>(rows: &[T], w: impl std::io::Write) -> anyhow::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    for r in rows {
        c.serialize(r)?;
    }
    c.flush()?;
    Ok(())
}

/// One tensor as `inspect` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct InspectRow {
    pub name: String,
    pub dtype: String,
    pub shape: String,
    /// `matrix`, `expert`, `conv-pooled`, `conv-unfold`, `skipped` or `failed`.
    pub rule: String,
    /// Matrices the rule makes of it.
    pub matrices: usize,
    pub params: u64,
    pub bytes: u64,
    pub file: String,
    /// Why it is skipped or unreadable.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub command: &'static str,
    pub input: Input,
    pub tensors: Vec<InspectRow>,
    pub total_params: u64,
    pub matrices: usize,
    pub problems: Vec<String>,
}
