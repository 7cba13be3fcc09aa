//! Raw command-line arguments (clap derive). Validation and defaults that
//! depend on more than one flag live in `cli::plan`, not here.

use crate::load::ConvMode;
use crate::pipeline::{Method, Preset};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  check: a rule was violated
  2  error: nothing could be analysed (bad arguments, missing path, no readable tensor),
     or check's rules file is wrong (the message gives its line)
  3  partial: the report was written, but some tensors or matrices failed";

#[derive(Debug, Parser)]
#[command(name = "specscope", version, about = "Eigen-spectra of neural-network weights, and what they predict", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tensors of a checkpoint from its headers alone: name, dtype,
    /// shape, matrix rule, parameter count.
    Inspect(InspectArgs),
    /// Compute every weight matrix's spectrum and its layer metrics.
    Analyze(AnalyzeArgs),
    /// Train a ground-truth model on the teacher task and write its run directory.
    Simulate(super::simulate::SimulateArgs),
    /// Predict what pruning (--rank/--sparsity) or quantization (--bits)
    /// does to every matrix; --verify does it for real and compares.
    Predict(super::predict::PredictArgs),
    /// Check a checkpoint or an analyze report against rules (specscope.toml);
    /// exit 1 when a rule is violated.
    Check(CheckArgs),
    /// Write a self-contained HTML report (summary, sortable table, figures).
    Report(ReportArgs),
    /// Read the dynamics off a series of snapshots: k_*(t), D(t), ρ, loss
    /// exponent, Densing fit, complementarity.
    Compare(super::compare::CompareArgs),
    /// A simulated run's truth beside compare's estimates and the theory's
    /// compression predictions beside the measured losses.
    Validate(super::compare::ValidateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Where spectra are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// A hardware GPU when one exists, else the CPU (one line on stderr
    /// says why).
    Auto,
    /// The GPU, a software adapter (llvmpipe) included; an error if none.
    Gpu,
    /// The CPU, in f64.
    Cpu,
}

#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Only tensors whose name matches this regex.
    #[arg(long, value_name = "RE")]
    pub include: Option<String>,
    /// Leave out tensors whose name matches this regex.
    #[arg(long, value_name = "RE")]
    pub exclude: Option<String>,
    /// How convolution kernels become matrices.
    #[arg(long, value_enum, default_value_t = ConvMode::Pooled)]
    pub conv: ConvMode,
    /// Layer selection and ordering.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Save each matrix's eigenvalues as .npy files (float64, descending) in DIR.
    #[arg(long, value_name = "DIR")]
    pub save_eigs: Option<PathBuf>,
    /// An init snapshot: the noise σ of each matrix is the RMS entry of its
    /// init (docs/theory.md), instead of the median-eigenvalue estimate.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Write each matrix's ESD and rank plots into DIR (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}

/// How a checkpoint is analysed: which tensors, how many threads, progress,
/// and where and how spectra are computed (analyze, check, report, compare).
#[derive(Debug, clap::Args)]
pub struct AnalysisFlags {
    #[command(flatten)]
    pub selection: Selection,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Where and how spectra are computed.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Where spectra are computed.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Only GPU adapters whose name contains this (case-insensitive).
    #[arg(long, value_name = "SUBSTRING")]
    pub adapter: Option<String>,
    /// Eigen-method: auto is exact up to M = 8192, slq above.
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    pub method: Method,
    /// Top eigenvalues for lanczos, and exact top of slq.
    #[arg(long, value_name = "K", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub top_k: u32,
    /// Relative residual bound at which a Ritz value counts as converged.
    #[arg(long, value_name = "TOL", default_value_t = 1e-6)]
    pub tol: f64,
    /// SLQ random probes.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub slq_probes: u32,
    /// SLQ Lanczos steps per probe.
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub slq_steps: u32,
}

/// Output of `check` on standard output (or `-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// A summary naming each violation.
    Text,
    /// Every rule and check, with values and counts.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A checkpoint (analysed first) or an `analyze --format json` report.
    pub path: PathBuf,
    /// The rules file.
    #[arg(short, long, value_name = "FILE", default_value = "specscope.toml")]
    pub config: PathBuf,
    /// An earlier analyze report (or checkpoint) for `drift` rules.
    #[arg(long, value_name = "REPORT")]
    pub baseline: Option<PathBuf>,
    /// Eigenvalues saved by `analyze --save-eigs DIR`, for the
    /// compression-target rules on a JSON report.
    #[arg(long, value_name = "DIR")]
    pub eigs: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Write the summary (or JSON) here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write JUnit XML here (one testcase per rule and matrix).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also print GitHub Actions annotations (`::error ...`) on standard output.
    #[arg(long)]
    pub github: bool,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A checkpoint (analysed first) or an `analyze --format json` report.
    pub path: PathBuf,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Eigenvalues saved by `analyze --save-eigs DIR`, for the figures of a
    /// JSON report.
    #[arg(long, value_name = "DIR")]
    pub eigs: Option<PathBuf>,
    /// More JSON (e.g. snapshot or validation results): each array of
    /// objects in it becomes a table section. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// Draw figures for at most this many matrices (the rest are listed).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_figures: usize,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}
