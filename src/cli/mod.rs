//! Command-line glue: turns raw arguments into a validated plan, runs it,
//! writes the report, and decides the exit code. No numerics here.

pub mod args;
mod check;
pub mod compare;
mod inputs;
pub mod predict;
mod progress;
mod report_cmd;
pub mod simulate;

use crate::backend::{GpuContext, GpuOptions};
use crate::load::{Checkpoint, TensorPlan};
use crate::pipeline::{self, RunOptions, Selection, base_name};
use crate::report::{
    self, AnalyzeReport, Backend, Conventions, InspectReport, InspectRow, LayerRow, Summary, Tool,
};
use anyhow::{Context, Result};
use args::{AnalyzeArgs, BackendChoice, Cli, Command, Format, InspectArgs};
use regex::Regex;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Exit codes (documented in `--help` and the README).
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const VIOLATION: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const PARTIAL: u8 = 3;
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Inspect(a) => inspect(a),
        Command::Analyze(a) => analyze(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Predict(a) => predict::predict(a),
        Command::Check(a) => check::run(a),
        Command::Report(a) => report_cmd::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Validate(a) => compare::validate_cmd(a),
    }
}

fn selection(s: &args::Selection) -> Result<Selection> {
    let re = |flag: &str, v: &Option<String>| -> Result<Option<Regex>> {
        v.as_deref()
            .map(|p| Regex::new(p).with_context(|| format!("--{flag} `{p}` is not a valid regex")))
            .transpose()
    };
    Ok(Selection {
        include: re("include", &s.include)?,
        exclude: re("exclude", &s.exclude)?,
        conv: s.conv,
        preset: s.preset,
    })
}

fn open(path: &Path) -> Result<Checkpoint> {
    Ok(Checkpoint::open(path)?)
}

fn input(ck: &Checkpoint) -> report::Input {
    report::Input {
        path: ck.root.display().to_string(),
        files: ck
            .files
            .iter()
            .map(|f| report::InputFile {
                path: f.path.display().to_string(),
                bytes: f.len,
                tensors: f.tensors.len(),
            })
            .collect(),
    }
}

/// Writes to `-o FILE` or standard output.
fn emit(
    output: &Option<std::path::PathBuf>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("{}: cannot create", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            w.flush()
                .with_context(|| format!("{}: cannot write", p.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = stdout.lock();
            write(&mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

fn warn(msg: &str) {
    eprintln!("specscope: {msg}");
}

/// Opens the GPU the arguments ask for; None: run on the CPU.
fn open_backend(a: &args::EngineArgs) -> Result<Option<Arc<GpuContext>>> {
    let opts = |allow_software| GpuOptions {
        adapter: a.adapter.clone(),
        allow_software,
        ..Default::default()
    };
    match a.backend {
        BackendChoice::Cpu => {
            if let Some(s) = &a.adapter {
                warn(&format!(
                    "--adapter `{s}` is ignored with --backend cpu (it picks a GPU adapter)"
                ));
            }
            Ok(None)
        }
        BackendChoice::Gpu => Ok(Some(Arc::new(
            GpuContext::open(&opts(true)).context("--backend gpu")?,
        ))),
        BackendChoice::Auto => match GpuContext::open(&opts(false)) {
            Ok(c) => Ok(Some(Arc::new(c))),
            Err(e) => {
                let e = e.to_string();
                // A refused software match already says how to force it.
                let hint = if e.contains("--backend gpu") {
                    ""
                } else {
                    " (--backend gpu accepts a software adapter)"
                };
                warn(&format!("{e}; using the CPU backend{hint}"));
                Ok(None)
            }
        },
    }
}

/// [`open_backend`], remembered for the same flags: a series of analyses
/// (`compare`) opens the GPU, or probes for one, once.
fn backend_for(a: &args::EngineArgs) -> Result<Option<Arc<GpuContext>>> {
    type Key = (BackendChoice, Option<String>);
    static LAST: std::sync::Mutex<Option<(Key, Option<Arc<GpuContext>>)>> =
        std::sync::Mutex::new(None);
    let key = (a.backend, a.adapter.clone());
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((k, gpu)) = last.as_ref()
        && *k == key
    {
        return Ok(gpu.clone());
    }
    let gpu = open_backend(a)?;
    *last = Some((key, gpu.clone()));
    Ok(gpu)
}

/// The pipeline's options for the engine flags (analyze, check, report,
/// compare, predict).
fn run_options(e: &args::EngineArgs, threads: usize, gpu: Option<Arc<GpuContext>>) -> RunOptions {
    RunOptions {
        threads,
        method: e.method,
        krylov: crate::spectrum::KrylovOptions {
            top_k: e.top_k as usize,
            tol: e.tol,
            probes: e.slq_probes as usize,
            steps: e.slq_steps as usize,
            ..Default::default()
        },
        gpu,
        ..RunOptions::default()
    }
}

/// The report's account of what ran.
fn backend_report(
    gpu: Option<&GpuContext>,
    outcomes: &[pipeline::Outcome],
    threads: usize,
) -> Backend {
    let mut methods: Vec<&str> = outcomes.iter().map(|o| o.method.as_str()).collect();
    methods.sort();
    methods.dedup();
    let precision = |m: &str| match (gpu.is_some(), m) {
        (false, _) => "f64",
        (true, "exact") => "f32 Gram on the GPU, f64 eigenvalues on the CPU",
        (true, _) => "f32 on the GPU, f64 projected problem on the CPU",
    };
    let mut prec: Vec<&str> = methods.iter().map(|m| precision(m)).collect();
    prec.dedup();
    Backend {
        name: if gpu.is_some() { "gpu" } else { "cpu" }.into(),
        method: methods.join("+"),
        precision: prec.join("; "),
        threads,
        adapter: gpu.map(|g| g.adapter.name.clone()),
        driver: gpu.map(|g| g.adapter.driver.clone()),
        api: gpu.map(|g| g.adapter.api.clone()),
        partial_spectra: methods
            .iter()
            .any(|m| *m != "exact")
            .then_some(report::PARTIAL_SPECTRA_NOTE),
    }
}

fn inspect(a: InspectArgs) -> Result<u8> {
    let sel = selection(&a.selection)?;
    let ck = open(&a.path)?;
    let plan = pipeline::plan(&ck, &sel);
    let mut tensors = Vec::new();
    for t in &ck.tensors {
        let h = &t.header;
        if !sel.wants(&h.name) {
            continue;
        }
        let (rule, matrices, note) = match (t.problem(), t.plan(base_name(&h.name), sel.conv)) {
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
                    crate::load::RuleKind::ConvPooled => format!(
                        "{} slices of {}×{} pooled, eigenvalues ×{}",
                        m[0].views.len(),
                        m[0].rows,
                        m[0].cols,
                        m[0].eval_scale
                    ),
                    crate::load::RuleKind::Expert => {
                        format!("{n} experts of {}×{}", m[0].rows, m[0].cols)
                    }
                    _ => String::new(),
                };
                (m[0].rule.as_str().to_string(), n, note)
            }
        };
        tensors.push(InspectRow {
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
        });
    }
    let problems: Vec<String> = ck.problems.iter().map(|p| p.to_string()).collect();
    for p in &problems {
        warn(p);
    }
    let rep = InspectReport {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool::this(),
        command: "inspect",
        input: input(&ck),
        total_params: tensors.iter().fold(0, |a, t| a.saturating_add(t.params)),
        matrices: plan.jobs.len(),
        tensors,
        problems,
    };
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(report::write_inspect_table(&rep, w)?),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &rep)?;
            writeln!(w)?;
            Ok(())
        }
        Format::Csv => report::write_csv_rows(&rep.tensors, w),
    })?;
    let failed = !rep.problems.is_empty() || rep.tensors.iter().any(|t| t.rule == "failed");
    Ok(if failed { exit::PARTIAL } else { exit::SUCCESS })
}

fn analyze(a: AnalyzeArgs) -> Result<u8> {
    let (rep, outcomes) = analysis(&a.path, &AnalysisArgs::of(&a.analysis, a.init.as_deref()))?;
    if let Some(dir) = &a.save_eigs {
        report::save_eigs(dir, &rep.layers, &outcomes)?;
    }
    if let Some(dir) = &a.plots {
        let format = if a.png {
            report::plot::ImageFormat::Png
        } else {
            report::plot::ImageFormat::Svg
        };
        let rows: Vec<serde_json::Value> = rep
            .layers
            .iter()
            .map(|r| serde_json::to_value(r).expect("a row serializes"))
            .collect();
        let evals: Vec<Option<&[f64]>> = outcomes.iter().map(|o| o.evals.as_deref().ok()).collect();
        let ranges: Vec<_> = outcomes.iter().map(|o| o.channel_ranges).collect();
        report::plot::write_matrix_plots(dir, format, &rows, &evals, &ranges)?;
    }
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(report::write_table(&rep, w)?),
        Format::Json => rep.write_json(w),
        Format::Csv => rep.write_csv(w),
    })?;
    Ok(if rep.summary.analysed == 0 {
        exit::ERROR
    } else if rep.has_failures() {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}

/// A JSON report rather than a checkpoint: a `.json` file that is not a
/// sharded checkpoint's `*.safetensors.index.json`.
fn is_report_path(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    path.is_file() && name.ends_with(".json") && !name.ends_with(".safetensors.index.json")
}

/// A report to check or render: read from an `analyze --format json` file,
/// or made by analysing a checkpoint, with each matrix's eigenvalues in
/// the second case (empty in the first).
pub(crate) fn load_input(
    path: &Path,
    args: &AnalysisArgs,
) -> Result<(report::doc::ReportDoc, Vec<Option<Vec<f64>>>)> {
    if is_report_path(path) {
        return Ok((report::doc::ReportDoc::read(path)?, Vec::new()));
    }
    let (rep, outcomes) = analysis(path, args)?;
    if rep.summary.analysed == 0 {
        anyhow::bail!("{}: no weight matrix could be analysed", path.display());
    }
    let evals = outcomes.into_iter().map(|o| o.evals.ok()).collect();
    Ok((report::doc::ReportDoc::from_report(&rep), evals))
}

/// What an analysis takes from the command line (analyze, check, report,
/// compare).
#[derive(Clone, Copy)]
pub(crate) struct AnalysisArgs<'a> {
    pub selection: &'a args::Selection,
    pub threads: Option<u16>,
    pub quiet: bool,
    pub engine: &'a args::EngineArgs,
    /// An init snapshot for the noise level of the theory columns.
    pub init: Option<&'a Path>,
}

impl<'a> AnalysisArgs<'a> {
    pub fn of(flags: &'a args::AnalysisFlags, init: Option<&'a Path>) -> AnalysisArgs<'a> {
        AnalysisArgs {
            selection: &flags.selection,
            threads: flags.threads,
            quiet: flags.quiet,
            engine: &flags.engine,
            init,
        }
    }
}

/// Plans and runs the analysis of a checkpoint: the report and each
/// matrix's outcome (its eigenvalues), in plan order. Shared by `analyze`,
/// `check` and `report`.
pub(crate) fn analysis(
    path: &Path,
    args: &AnalysisArgs,
) -> Result<(AnalyzeReport, Vec<pipeline::Outcome>)> {
    let sel = selection(args.selection)?;
    let threads = args
        .threads
        .map_or_else(|| RunOptions::default().threads, usize::from);
    let ck = open(path)?;
    let plan = pipeline::plan(&ck, &sel);
    let problems: Vec<String> = ck.problems.iter().map(|p| p.to_string()).collect();
    for p in &problems {
        warn(p);
    }
    for s in plan.skipped.iter().filter(|s| s.failed) {
        warn(&s.reason);
    }
    if plan.jobs.is_empty() {
        let why = if plan.skipped.iter().any(|s| s.failed) || !problems.is_empty() {
            "no weight matrix could be read"
        } else {
            "no weight matrix found (every tensor was skipped or filtered out)"
        };
        anyhow::bail!("{}: {why}", path.display());
    }
    let gpu = backend_for(args.engine)?;
    let bar = progress::Bar::new(plan.jobs.len(), plan.total_bytes(&ck), args.quiet);
    let opts = run_options(args.engine, threads, gpu.clone());
    let outcomes = pipeline::run(&ck, &plan, &opts, &bar);
    bar.finish();
    let rows: Vec<LayerRow> = plan
        .jobs
        .iter()
        .zip(&outcomes)
        .map(|(j, o)| LayerRow::new(j, o))
        .collect();
    for r in rows.iter().filter(|r| !r.analysed()) {
        warn(r.error.as_deref().unwrap_or("failed"));
    }
    let rows = predict::enrich_analyze(&ck, &plan, &outcomes, rows, args.init)?;
    let summary = Summary::new(&rows, &plan.skipped, problems.len());
    let rep = AnalyzeReport {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool::this(),
        command: "analyze",
        input: input(&ck),
        backend: backend_report(gpu.as_deref(), &outcomes, threads),
        conventions: Conventions {
            eigenvalues: "sigma_squared",
            conv: sel.conv,
            conv_pooled_scale: crate::load::CONV_POOLED_SCALE,
            preset: sel.preset,
        },
        layers: rows,
        summary,
        skipped: plan.skipped,
        problems,
    };
    Ok((rep, outcomes))
}
