//! The flag groups several commands share (clap derive, raw values only):
//! output format, tensor selection, threads and progress, and the engine.
//! Each command's own argument struct lives with the command; turning
//! these into the library's options is `engine`'s job.

use crate::load::ConvMode;
use crate::pipeline::{Method, Preset};
use clap::ValueEnum;

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

/// How a checkpoint is analysed: which tensors, how many threads, progress,
/// and where and how spectra are computed (analyze, check, report, compare,
/// predict).
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
    /// Also compute Diffract's default columns: permuted-null
    /// Marchenko–Pastur and Tracy–Widom edges and spike counts, and the
    /// exponential tail fit (about one more spectrum per matrix).
    #[arg(long)]
    pub diffract: bool,
    /// With --diffract, also its truncated-power-law tail fit (seconds per
    /// matrix).
    #[arg(long, requires = "diffract")]
    pub diffract_tpl: bool,
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

/// Splitting a run across processes (`specscope merge` joins the parts;
/// docs/scale-out.md).
#[derive(Debug, clap::Args)]
pub struct ShardFlags {
    /// Run only shard I of N (0-based) and write a part for `specscope
    /// merge` to -o FILE, or -o DIR/ for DIR/<command>-part-I-of-N.json.
    /// Without it, a Slurm array task (SLURM_ARRAY_TASK_ID, _COUNT, _MIN) or
    /// a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with --shard-count
    /// or SPECSCOPE_SHARDS) is a shard.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<crate::shard::ShardSpec>,
    /// The shard count of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX
    /// gives the index) [default: SPECSCOPE_SHARDS].
    #[arg(long, value_name = "N", conflicts_with = "shard", value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_count: Option<u32>,
    /// A whole run, even inside a Slurm array task or an Indexed Job.
    #[arg(long, conflicts_with_all = ["shard", "shard_count"])]
    pub no_shard: bool,
    /// Recompute a shard whose part is already written.
    #[arg(long)]
    pub force: bool,
}

fn parse_shard(s: &str) -> Result<crate::shard::ShardSpec, String> {
    s.parse()
        .map_err(|e: crate::shard::ShardError| e.to_string())
}
