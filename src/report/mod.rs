//! The report as an API: serde structs with a `schema_version`, stable
//! snake_case names (the peer's where they overlap), rows in a
//! deterministic order. JSON, CSV and the terminal table all come from
//! these structs; `doc` reads reports back by field name, `plot` draws
//! figures and `html` writes the self-contained page.

pub mod doc;
mod error;
pub mod fmt;
pub mod html;
mod npy;
pub mod plot;
mod predict;
pub mod referee;
pub mod series;
pub mod source;
pub mod table;

pub use error::ReportError;
pub use npy::{file_stems, load_eigs, read_npy_f64, save_eigs, write_npy_f64};
pub use predict::{
    CurveRow, ModelCurvePoint, PredictReport, PredictRow, PredictSummary, ProfileRow,
};
pub use table::{Columns, TableView, write_inspect_table, write_table, write_table_view};

use crate::analysis::{Analysis, EngineInfo, MatrixResult};
use crate::fit::{AlphaWarning, FitStatus, LayerMetrics};
use crate::pipeline::{Method, Skipped, SpectrumKind};
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

impl Input {
    pub fn new(root: &std::path::Path, files: &[crate::analysis::FileInfo]) -> Input {
        Input {
            path: root.display().to_string(),
            files: files
                .iter()
                .map(|f| InputFile {
                    path: f.path.display().to_string(),
                    bytes: f.bytes,
                    tensors: f.tensors,
                })
                .collect(),
        }
    }

    pub fn of(ck: &crate::load::Checkpoint) -> Input {
        let files: Vec<_> = ck.files.iter().map(crate::analysis::FileInfo::of).collect();
        Input::new(&ck.root, &files)
    }
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
    /// Why `--method auto` took a partial method or fell back from it, each
    /// reason with its matrices; absent when it did neither.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub method_notes: Vec<crate::analysis::MethodNote>,
}

impl Backend {
    /// The account of an engine: the methods that ran and the arithmetic
    /// of each.
    pub fn of(e: &EngineInfo) -> Backend {
        let gpu = e.gpu.is_some();
        let methods: Vec<&str> = e.methods.iter().map(|m| m.as_str()).collect();
        let mut prec: Vec<&str> = e.methods.iter().map(|m| precision(gpu, *m)).collect();
        prec.dedup();
        Backend {
            name: if gpu { "gpu" } else { "cpu" }.into(),
            method: methods.join("+"),
            precision: prec.join("; "),
            threads: e.threads,
            adapter: e.gpu.as_ref().map(|g| g.name.clone()),
            driver: e.gpu.as_ref().map(|g| g.driver.clone()),
            api: e.gpu.as_ref().map(|g| g.api.clone()),
            partial_spectra: e
                .methods
                .iter()
                .any(|m| *m != Method::Exact)
                .then_some(PARTIAL_SPECTRA_NOTE),
            method_notes: e.method_notes.clone(),
        }
    }
}

/// The arithmetic of a method on the CPU or the GPU.
pub fn precision(gpu: bool, m: Method) -> &'static str {
    match (gpu, m) {
        (false, _) => "f64",
        (true, Method::Exact) => "f32 Gram on the GPU, f64 eigenvalues on the CPU",
        (true, _) => "f32 on the GPU, f64 projected problem on the CPU",
    }
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
#[derive(Debug, Clone, Default, Serialize)]
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
    pub status: FitStatus,
    pub sv_max: Option<f64>,
    pub sv_min: Option<f64>,
    pub warning: AlphaWarning,
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
    pub method: Method,
    /// What the eigenvalues are: `full`, `top_k`, or `density` (quantiles
    /// of an SLQ density with the top K exact).
    pub spectrum: SpectrumKind,
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
    /// `valid`, `out_of_domain` or `unresolved`: whether this matrix gets
    /// loss predictions, and why not (docs/theory.md §4.3).
    pub theory_verdict: crate::fit::Verdict,
    pub theory_reason: String,
    // --- Diffract's columns (docs/diffract-compat.md): λ = μ/N units ---
    pub esd_max: Option<f64>,
    pub esd_min: Option<f64>,
    pub effective_rank: Option<f64>,
    pub hard_rank: Option<usize>,
    pub weights_std: Option<f64>,
    pub mp_bulk_std: Option<f64>,
    pub mp_esd_max: Option<f64>,
    pub mp_esd_min: Option<f64>,
    pub mp_num_spikes: Option<usize>,
    pub mp_soft_rank: Option<f64>,
    pub mp_ks: Option<f64>,
    pub mp_concentration: Option<f64>,
    pub mp_presence: Option<f64>,
    pub tw_esd_bound: Option<f64>,
    pub tw_num_spikes: Option<usize>,
    pub expon_lambda: Option<f64>,
    pub expon_esd_xmin: Option<f64>,
    pub expon_ks: Option<f64>,
    pub tpl_alpha: Option<f64>,
    pub tpl_lambda: Option<f64>,
    pub tpl_esd_xmin: Option<f64>,
    pub tpl_ks: Option<f64>,
    /// Why Diffract's columns are empty, when they are.
    pub diffract_status: String,
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

impl From<&MatrixResult> for LayerRow {
    /// The row of one matrix: the peer's columns from its metrics, then
    /// ours; empty where the matrix failed or a partial spectrum cannot
    /// give the value.
    fn from(r: &MatrixResult) -> LayerRow {
        let job = &r.job;
        let sp = r.spectrum.as_ref().ok();
        let metrics = sp.map(|s| &s.metrics);
        let kind = r.method.spectrum();
        let full = kind == SpectrumKind::Full;
        let error = match &r.spectrum {
            Ok(s) => s.metrics.fit_error.clone(),
            Err(e) => Some(e.to_string()),
        };
        let theory = match sp {
            Some(s) => s.estimates.clone(),
            None => crate::theory::TheoryColumns {
                params: r.params(),
                theory_status: error.clone().unwrap_or_default(),
                theory_reason: error.clone().unwrap_or_default(),
                ..Default::default()
            },
        };
        // Metrics a partial spectrum cannot give are left empty.
        let known = |v: Option<i64>| if full { v } else { None };
        let g = |f: fn(&LayerMetrics) -> f64| metrics.map(f);
        let gi = |f: fn(&LayerMetrics) -> i64| metrics.map(f);
        LayerRow {
            layer_id: job.layer_id,
            name: r.name().to_string(),
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
            longname: r.name().to_string(),
            matrix_rank: known(gi(|m| m.matrix_rank)),
            norm: g(|m| m.norm),
            num_evals: job.spec.num_evals(),
            num_pl_spikes: gi(|m| m.num_pl_spikes),
            rank_loss: known(gi(|m| m.rank_loss)),
            rf: job.rf,
            sigma: g(|m| m.sigma),
            spectral_norm: g(|m| m.spectral_norm),
            stable_rank: g(|m| m.stable_rank),
            status: metrics.map_or(FitStatus::Failed, |m| m.status),
            sv_max: g(|m| m.sv_max),
            sv_min: g(|m| m.sv_min).filter(|_| full),
            warning: metrics.map_or(AlphaWarning::None, |m| m.warning),
            weak_rank_loss: known(gi(|m| m.weak_rank_loss)),
            xmax: metrics.and_then(|m| m.xmax),
            xmin: g(|m| m.xmin),
            tensor: r.tensor.name.clone(),
            rule: job.spec.rule.as_str(),
            dtype: r.tensor.dtype.clone(),
            shape: r
                .tensor
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("×"),
            file: r.tensor.file.display().to_string(),
            n_fit: gi(|m| m.n_fit),
            n_tail: gi(|m| m.n_tail),
            error,
            method: r.method,
            spectrum: kind,
            top_k: sp.and_then(|s| s.converged.as_ref()).map(|c| c.len()),
            converged: sp.and_then(|s| s.converged.as_deref()).map(ranks),
            params: theory.params,
            b: theory.b,
            b_err: theory.b_err,
            b_kmin: theory.b_kmin,
            b_kmax: theory.b_kmax,
            b_clean: theory.b_clean,
            b_hill: theory.b_hill,
            b_hill_err: theory.b_hill_err,
            b_alpha: theory.b_alpha,
            b_alpha_err: theory.b_alpha_err,
            b_alpha_ratio: theory.b_alpha_ratio,
            noise_sigma: theory.noise_sigma,
            noise_sigma_err: theory.noise_sigma_err,
            noise_source: theory.noise_source,
            mp_edge: theory.mp_edge,
            noise_edge: theory.noise_edge,
            k_noise: theory.k_noise,
            k_gd: theory.k_gd,
            k_star: theory.k_star,
            k_star_err: theory.k_star_err,
            k_star_source: theory.k_star_source,
            break_k: theory.break_k,
            break_s1: theory.break_s1,
            break_s2: theory.break_s2,
            break_dbic: theory.break_dbic,
            density: theory.density,
            s_c: theory.s_c,
            a: theory.a,
            a_err: theory.a_err,
            b_reading_b: theory.b_reading_b,
            k_q4: theory.k_q4,
            k_q8: theory.k_q8,
            theory_status: theory.theory_status,
            theory_verdict: theory.theory_verdict,
            theory_reason: theory.theory_reason,
            ..diffract_columns(r)
        }
    }
}

/// The Diffract part of a row, from a matrix's result.
fn diffract_columns(r: &MatrixResult) -> LayerRow {
    let status = match r.spectrum.as_ref().map(|s| &s.diffract) {
        Err(e) => e.to_string(),
        Ok(None) if r.job.spec.views.len() > 1 => "pooled convolution: no single matrix".into(),
        Ok(None) => "the columns need the full spectrum".into(),
        Ok(Some(Err(e))) => e.to_string(),
        Ok(Some(Ok(_))) => String::new(),
    };
    let d = r
        .spectrum
        .as_ref()
        .ok()
        .and_then(|s| s.diffract.as_ref())
        .and_then(|d| d.as_ref().ok());
    LayerRow {
        esd_max: d.map(|d| d.esd_max),
        esd_min: d.map(|d| d.esd_min),
        effective_rank: d.map(|d| d.effective_rank),
        hard_rank: d.map(|d| d.hard_rank),
        weights_std: d.and_then(|d| d.weights_std),
        mp_bulk_std: d.and_then(|d| d.mp_bulk_std),
        mp_esd_max: d.and_then(|d| d.mp_esd_max),
        mp_esd_min: d.and_then(|d| d.mp_esd_min),
        mp_num_spikes: d.and_then(|d| d.mp_num_spikes),
        mp_soft_rank: d.and_then(|d| d.mp_soft_rank),
        mp_ks: d.and_then(|d| d.mp_ks),
        mp_concentration: d.and_then(|d| d.mp_concentration),
        mp_presence: d.and_then(|d| d.mp_presence),
        tw_esd_bound: d.and_then(|d| d.tw_esd_bound),
        tw_num_spikes: d.and_then(|d| d.tw_num_spikes),
        expon_lambda: d.and_then(|d| d.expon_lambda),
        expon_esd_xmin: d.and_then(|d| d.expon_esd_xmin),
        expon_ks: d.and_then(|d| d.expon_ks),
        tpl_alpha: d.and_then(|d| d.tpl_alpha),
        tpl_lambda: d.and_then(|d| d.tpl_lambda),
        tpl_esd_xmin: d.and_then(|d| d.tpl_esd_xmin),
        tpl_ks: d.and_then(|d| d.tpl_ks),
        diffract_status: status,
        ..LayerRow::default()
    }
}

impl LayerRow {
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
            fits_failed: ok.iter().filter(|r| r.status == FitStatus::Failed).count(),
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
    /// The report of an analysis.
    pub fn new(a: &Analysis) -> AnalyzeReport {
        let layers: Vec<LayerRow> = a.matrices.iter().map(LayerRow::from).collect();
        let summary = Summary::new(&layers, &a.skipped, a.problems.len());
        AnalyzeReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool::this(),
            command: "analyze",
            input: Input::new(&a.root, &a.files),
            backend: Backend::of(&a.engine),
            conventions: Conventions {
                eigenvalues: "sigma_squared",
                conv: a.selection.conv,
                conv_pooled_scale: crate::load::CONV_POOLED_SCALE,
                preset: a.selection.preset,
            },
            layers,
            summary,
            skipped: a.skipped.clone(),
            problems: a.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Something that should have been analysed was not.
    pub fn has_failures(&self) -> bool {
        self.summary.failed > 0 || self.summary.tensors_failed > 0
    }

    pub fn write_json(&self, w: impl std::io::Write) -> error::Result<()> {
        let mut w = w;
        serde_json::to_writer_pretty(&mut w, self)?;
        writeln!(w)?;
        Ok(())
    }

    /// One CSV row per matrix with the peer's column names first.
    pub fn write_csv(&self, w: impl std::io::Write) -> error::Result<()> {
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

pub fn write_csv_rows<T: Serialize>(rows: &[T], w: impl std::io::Write) -> error::Result<()> {
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

impl InspectReport {
    /// What `inspect` lists: every selected tensor of `ck` with the rule
    /// that turns it into matrices (from the headers alone), and the
    /// file-level problems.
    pub fn new(ck: &crate::load::Checkpoint, sel: &crate::pipeline::Selection) -> InspectReport {
        let plan = crate::pipeline::plan(ck, sel);
        let tensors: Vec<InspectRow> = ck
            .tensors
            .iter()
            .filter(|t| sel.wants(&t.header.name))
            .map(|t| InspectRow::of(ck, t, sel.conv))
            .collect();
        InspectReport {
            schema_version: SCHEMA_VERSION,
            tool: Tool::this(),
            command: "inspect",
            input: Input::of(ck),
            total_params: tensors.iter().fold(0, |a, t| a.saturating_add(t.params)),
            matrices: plan.jobs.len(),
            tensors,
            problems: ck.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// A tensor or a file could not be read.
    pub fn has_failures(&self) -> bool {
        !self.problems.is_empty() || self.tensors.iter().any(|t| t.rule == "failed")
    }
}

impl InspectRow {
    fn of(
        ck: &crate::load::Checkpoint,
        t: &crate::load::Tensor,
        conv: crate::load::ConvMode,
    ) -> InspectRow {
        use crate::load::{RuleKind, TensorPlan};
        let h = &t.header;
        let (rule, matrices, note) = match (
            t.problem(),
            t.plan(crate::pipeline::base_name(&h.name), conv),
        ) {
            (Some(p), _) => (
                if h.dtype.is_non_float() {
                    "skipped"
                } else {
                    "failed"
                }
                .to_string(),
                0,
                p.to_string(),
            ),
            (None, TensorPlan::Skip(r)) => ("skipped".to_string(), 0, r),
            (None, TensorPlan::Matrices(m)) => {
                let n = m.len();
                let note = match m[0].rule {
                    RuleKind::ConvPooled => format!(
                        "{} slices of {}×{} pooled, eigenvalues ×{}",
                        m[0].views.len(),
                        m[0].rows,
                        m[0].cols,
                        m[0].eval_scale
                    ),
                    RuleKind::Expert => format!("{n} experts of {}×{}", m[0].rows, m[0].cols),
                    _ => String::new(),
                };
                (m[0].rule.as_str().to_string(), n, note)
            }
        };
        InspectRow {
            name: h.name.clone(),
            dtype: h.dtype.to_string(),
            shape: format!("{:?}", h.shape),
            rule,
            matrices,
            params: h.numel() as u64,
            bytes: h.bytes.len() as u64,
            file: ck
                .file_of(t)
                .map(|f| f.path.display().to_string())
                .unwrap_or_default(),
            note,
        }
    }
}
