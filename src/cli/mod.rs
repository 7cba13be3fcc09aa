//! Command-line glue: clap parses the arguments, each command turns its
//! flags into the library's options (opening the backend once), calls the
//! library, writes what it returns, and maps the result to an exit code.
//! No numerics and no report assembly here.
//!
//! Each command's argument struct lives in the command's file; the flag
//! groups several commands share are in `args`, the options and backend
//! in `engine`, stdout/stderr and exit codes in `output`.

mod analyze;
pub mod args;
mod check;
mod compare;
mod engine;
mod inspect;
mod merge;
mod output;
mod predict;
mod progress;
mod report_cmd;
mod simulate;

pub use output::{exit, is_broken_pipe};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "specscope", version, about = "Eigen-spectra of neural-network weights, and what they predict", after_help = output::EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tensors of a checkpoint from its headers alone: name, dtype,
    /// shape, matrix rule, parameter count.
    Inspect(inspect::InspectArgs),
    /// Compute every weight matrix's spectrum and its layer metrics.
    Analyze(analyze::AnalyzeArgs),
    /// Train a ground-truth model on the teacher task and write its run directory.
    Simulate(simulate::SimulateArgs),
    /// Predict what pruning (--rank/--sparsity) or quantization (--bits)
    /// does to every matrix; --verify does it for real and compares.
    Predict(predict::PredictArgs),
    /// Check a checkpoint or an analyze report against rules (specscope.toml);
    /// exit 1 when a rule is violated.
    Check(check::CheckArgs),
    /// Write a self-contained HTML report (summary, sortable table, figures).
    Report(report_cmd::ReportArgs),
    /// Read the dynamics off a series of snapshots: k_*(t), D(t), ρ, loss
    /// exponent, Densing fit, complementarity.
    Compare(compare::CompareArgs),
    /// A simulated run's truth beside compare's estimates and the theory's
    /// compression predictions beside the measured losses.
    Validate(compare::ValidateArgs),
    /// Check the parts of a sharded run (--shard) and write the report the
    /// whole run would have written.
    Merge(merge::MergeArgs),
}

/// Sets `XDG_RUNTIME_DIR` to a fresh private directory when it is unset or
/// not a directory (Mesa's Vulkan loader prints an error on every probe
/// otherwise); the directory lives as long as the returned guard. Call it
/// before any thread starts: it changes the process environment.
pub fn private_runtime_dir() -> Option<tempfile::TempDir> {
    let ok = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if ok {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("specscope-runtime-")
        .tempdir()
        .ok()?;
    // SAFETY: called from `main` before any other thread exists, so no
    // thread can read the environment concurrently.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir.path()) };
    Some(dir)
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    output::set_quiet(cli.command.quiet());
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Check(a) => check::run(a),
        Command::Report(a) => report_cmd::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Validate(a) => compare::validate(a),
        Command::Merge(a) => merge::run(a),
    }
}

impl Command {
    /// `--quiet` was given.
    fn quiet(&self) -> bool {
        match self {
            Command::Inspect(_) => false,
            Command::Analyze(a) => a.analysis.quiet,
            Command::Simulate(a) => a.quiet,
            Command::Predict(a) => a.analysis.quiet,
            Command::Check(a) => a.analysis.quiet,
            Command::Report(a) => a.analysis.quiet,
            Command::Compare(a) => a.analysis.quiet,
            Command::Validate(a) => a.quiet,
            Command::Merge(a) => a.quiet,
        }
    }
}
