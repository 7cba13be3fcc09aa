//! `specscope compare` and `specscope validate`: raw flags, the backend
//! opened once for the whole series, the library's comparison
//! (`crate::compare`), and the outputs.

use super::args::{AnalysisFlags, EngineArgs, Format, ShardFlags};
use super::engine::{open_backend, run_options, selection};
use super::output::{analysis_notes, emit, exit, note_all, warn_all};
use super::progress::Bar;
use crate::analysis;
use crate::compare::{self, CompareOptions, TimeAxis, compare_series, validate_run};
use crate::report::plot::ImageFormat;
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The snapshots: checkpoint files or directories (one snapshot each),
    /// or one directory holding them (a `simulate` run directory included:
    /// its losses.csv, init.safetensors and compression.csv are used).
    #[arg(required = true, value_name = "PATHS|DIR")]
    pub paths: Vec<PathBuf>,
    /// A loss curve (CSV with a header): the time column named like
    /// --time (`step`, `tokens`, `lr_sum`, or `t`) and the loss column
    /// (--loss-column; default the first of `val_loss`, `valid_loss`,
    /// `test_loss`, `loss`, `train_loss`; `predict`'s order).
    #[arg(long, value_name = "CSV")]
    pub losses: Option<PathBuf>,
    /// The loss column of the losses file (an error when absent; the
    /// message lists the columns).
    #[arg(long, value_name = "COL")]
    pub loss_column: Option<String>,
    /// The time axis: snapshot metadata `step`, `tokens` or `lr_sum`
    /// (without it, natural path order).
    #[arg(long, value_enum, default_value_t = TimeAxis::Step)]
    pub time: TimeAxis,
    /// An init snapshot: the noise σ of each matrix is its init's RMS entry.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Keep k_c modes in the complementarity check [default: a rank near
    /// the last snapshot's k_*/4].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// A known operator exponent b (e.g. of the data covariance): ρ = φ·b
    /// and b/ψ use it instead of an estimate.
    #[arg(long, value_name = "B")]
    pub b: Option<f64>,
    /// Skip mode matching (no singular vectors, no ψ).
    #[arg(long)]
    pub no_modes: bool,
    /// Singular-vector overlap of each matrix's top K singular vectors
    /// between consecutive snapshots and with --init: the subspace overlap
    /// ‖U₁ᵀU₂‖²_F/K and the per-mode best match max_j |u_iᵀu_j|, left and
    /// right (series columns; per mode in the JSON's `overlap`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub overlap: Option<u32>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write D(t), k_*(t), α(t), the ρ fits and, with --overlap, the
    /// overlap heat maps into DIR (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
    #[command(flatten)]
    pub shard: ShardFlags,
}

/// Output of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    Table,
    Json,
    Csv,
    /// The tables of docs/compare-and-validate.md.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// A `specscope simulate` run directory.
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// k_c of the complementarity check [default: near the last k_*/4].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn image_format(png: bool) -> ImageFormat {
    if png {
        ImageFormat::Png
    } else {
        ImageFormat::Svg
    }
}

/// `compare`'s options besides the analysis.
fn compare_options(a: &CompareArgs) -> CompareOptions {
    CompareOptions {
        init: a.init.clone(),
        losses: a.losses.clone(),
        loss_column: a.loss_column.clone(),
        time: a.time,
        rank: a.rank,
        b: a.b,
        modes: !a.no_modes,
        overlap: a.overlap.map(|k| k as usize),
    }
}

pub fn run(a: CompareArgs) -> Result<u8> {
    if let Some(shard) = super::merge::shard_of(&a.shard)? {
        return super::merge::series_shard(
            super::merge::SeriesShard {
                settings: crate::shard::CompareSettings::of(&a.paths, &compare_options(&a)),
                format: a.format,
                output: &a.output,
                analysis: &a.analysis,
                flags: &a.shard,
                refused: &[("--plots", a.plots.is_some())],
            },
            shard,
        );
    }
    let s = compare::series(&a.paths, a.time)?;
    let sel = selection(&a.analysis.selection)?;
    check_related(&s, &sel)?;
    let engine = super::engine::Engine::new(&a.analysis, sel, None);
    let opts = compare_options(&a);
    let (rep, analysed) = compare_series(&s, &engine.options()?, &opts, &engine.bar)?;
    for x in &analysed {
        warn_all(&x.analysis.failures());
        analysis_notes(&x.analysis);
    }
    if let Some(dir) = &a.plots {
        let written = super::output::write_snapshot_plots(&rep, dir, image_format(a.png))?;
        super::output::wrote_figures(dir, written.len());
    }
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(rep.write_table(w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::compare(&rep))
}

/// The selected tensors' names and shapes, from the headers alone.
fn tensor_shapes(
    path: &Path,
    sel: &crate::pipeline::Selection,
) -> Result<std::collections::BTreeMap<String, Vec<usize>>> {
    let ck = crate::load::Checkpoint::open(path)?;
    Ok(ck
        .tensors
        .iter()
        .filter(|t| sel.wants(t.name()))
        .map(|t| (t.name().to_string(), t.header.shape.clone()))
        .collect())
}

/// Compare reads one training run: the same tensors at different times.
/// Snapshots that share no tensor name, or whose shared tensors differ in
/// shape, are refused before any spectrum is computed.
fn check_related(s: &compare::Series, sel: &crate::pipeline::Selection) -> Result<()> {
    const EXPECTS: &str = "compare reads snapshots of one training run (the same tensor names and \
        shapes at different steps): give it one run's checkpoints, as a directory or as 3 or more files";
    let Some(first) = s.snapshots.first() else {
        return Ok(());
    };
    let base = tensor_shapes(&first.path, sel)?;
    for snap in &s.snapshots[1..] {
        let other = tensor_shapes(&snap.path, sel)?;
        let (a, b) = (first.path.display(), snap.path.display());
        if !base.keys().any(|k| other.contains_key(k)) {
            let ex = |m: &std::collections::BTreeMap<String, Vec<usize>>| {
                m.keys()
                    .next()
                    .map_or("none".to_string(), |k| format!("`{k}`"))
            };
            anyhow::bail!(
                "{a} and {b} share no tensor name (first names: {} and {}); {EXPECTS}",
                ex(&base),
                ex(&other)
            );
        }
        if let Some((name, shape)) = base
            .iter()
            .find(|(k, v)| other.get(*k).is_some_and(|o| o != *v))
        {
            anyhow::bail!(
                "tensor `{name}` is {shape:?} in {a} but {:?} in {b}; {EXPECTS}",
                other[name]
            );
        }
    }
    Ok(())
}

pub fn validate(a: ValidateArgs) -> Result<u8> {
    if !a.dir.join("truth.json").is_file() && !a.dir.join("lm_truth.csv").is_file() {
        anyhow::bail!(
            "{}: not a `specscope simulate` run directory (no truth.json / lm_truth.csv): \
             run `specscope simulate ... --out DIR` first",
            a.dir.display()
        );
    }
    let threads = a.threads.map_or_else(
        || crate::pipeline::RunOptions::default().threads,
        usize::from,
    );
    let opts = analysis::Options {
        run: run_options(&a.engine, threads, open_backend(&a.engine)?),
        ..Default::default()
    };
    if compare::referee::is_lm_run(&a.dir) {
        let rep = compare::referee::referee(&a.dir, &opts, &Bar::new(a.quiet))?;
        note_all(&rep.notes);
        emit(&a.output, |w| match a.format {
            ValidateFormat::Table | ValidateFormat::Markdown => Ok(rep.write_table(w)?),
            ValidateFormat::Json => Ok(rep.write_json(w)?),
            ValidateFormat::Csv => Ok(rep.write_csv(w)?),
        })?;
        return Ok(exit::SUCCESS);
    }
    let rep = validate_run(&a.dir, a.rank, &opts, &Bar::new(a.quiet))?;
    note_all(&rep.notes);
    emit(&a.output, |w| match a.format {
        ValidateFormat::Table => Ok(rep.write_table(w)?),
        ValidateFormat::Json => Ok(rep.write_json(w)?),
        ValidateFormat::Csv => Ok(rep.write_csv(w)?),
        ValidateFormat::Markdown => Ok(rep.write_markdown(w)?),
    })?;
    Ok(exit::SUCCESS)
}
