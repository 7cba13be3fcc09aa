//! Sharded runs on the command line: the shard side of `analyze`,
//! `predict` and `compare` (`--shard`, or the scheduler's variables: plan,
//! measure this shard's units, write the part), and `specscope merge`
//! (check the parts, write the report the whole command would have
//! written, with its exit code). The library does the work (`shard`).

use super::args::{AnalysisFlags, Format, ShardFlags};
use super::engine::{Engine, planned, selection};
use super::output::{analysis_notes, emit, exit, note, note_all, warn_all};
use super::progress::Bar;
use crate::analysis::Analysis;
use crate::load::Checkpoint;
use crate::report::plot::{self, ImageFormat};
use crate::report::series::CompareReport;
use crate::report::{self, AnalyzeReport, PredictReport};
use crate::shard::fingerprint::fingerprint;
use crate::shard::{
    CompareSettings, Manifest, Merged, Part, PartPath, PredictSettings, Settings, ShardSource,
    ShardSpec, analyze_part, compare_part, init_fingerprint, manifest_for, matrix_units,
    predict_part, series_plan,
};
use crate::theory::Request;
use anyhow::{Result, bail};
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The part files of one sharded run (`analyze`, `predict` or `compare`
    /// with --shard), in any order.
    #[arg(required = true, value_name = "PARTS")]
    pub parts: Vec<PathBuf>,
    /// The report's format [default: the one the shards were given].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `analyze` parts: save each matrix's eigenvalues as .npy files
    /// (float64, descending) in DIR, as `analyze --save-eigs` does.
    #[arg(long, value_name = "DIR")]
    pub save_eigs: Option<PathBuf>,
    /// Write the figures the whole command's --plots writes into DIR (SVG;
    /// PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    /// Worker threads for the assembly (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No notes on stderr (failures still are).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The shard of this process, if any, from the flags or the scheduler.
pub fn shard_of(flags: &ShardFlags) -> Result<Option<(ShardSpec, ShardSource)>> {
    if flags.no_shard {
        return Ok(None);
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Ok(ShardSpec::resolve(
        flags.shard,
        flags.shard_count.map(|c| c as usize),
        &env,
    )?)
}

fn format_name(f: Format) -> String {
    f.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

/// Flags whose output a shard cannot write alone.
fn refuse(flags: &[(&'static str, bool)]) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some(("--verify", _)) => {
            bail!("--verify is not available with --shard: verify a whole run")
        }
        Some((f, _)) => bail!(
            "{f} is not available with --shard (a shard sees only its own matrices): give it to `specscope merge`"
        ),
        None => Ok(()),
    }
}

/// Writes a shard's part unless an identical one is already there.
fn run_shard(
    output: &Option<PathBuf>,
    flags: &ShardFlags,
    (spec, source): (ShardSpec, ShardSource),
    manifest: Manifest,
    measure: impl FnOnce(Manifest) -> Result<Part>,
) -> Result<u8> {
    let Some(out) = output else {
        bail!(
            "shard {spec} writes a part: give -o FILE, or -o DIR/ for DIR/<command>-part-I-of-N.json"
        );
    };
    let path = PartPath::resolve(out, &manifest.command, spec);
    let from = match source {
        ShardSource::Flag => "--shard",
        ShardSource::Slurm => "Slurm array task",
        ShardSource::Kubernetes => "Kubernetes Indexed Job",
    };
    note(&format!(
        "shard {spec} ({from}): {} of {} units, part {}",
        manifest.assigned.len(),
        manifest.units,
        path.display()
    ));
    if !flags.force && path.exists() {
        let existing =
            Part::read(&path).map_err(|e| anyhow::anyhow!("{e}; --force overwrites it"))?;
        if existing.manifest != manifest {
            bail!(
                "{}: a part of another run (other inputs, options or shard) is there; --force overwrites it",
                path.display()
            );
        }
        note(&format!(
            "{}: already written by this shard; --force recomputes it",
            path.display()
        ));
        return Ok(part_code(&existing));
    }
    let part = measure(manifest)?;
    part.write(&path)?;
    Ok(part_code(&part))
}

/// A shard's exit code, its failures on stderr.
fn part_code(part: &Part) -> u8 {
    let failures = part.failures();
    warn_all(&failures);
    if failures.is_empty() {
        exit::SUCCESS
    } else {
        exit::PARTIAL
    }
}

/// What a shard of `analyze` or `predict` takes from its command line
/// (plain values: the command files call this module, never the reverse).
pub struct MatrixShard<'a> {
    /// `analyze` or `predict`.
    pub command: &'static str,
    pub path: &'a Path,
    pub init: Option<&'a Path>,
    pub format: Format,
    pub output: &'a Option<PathBuf>,
    pub analysis: &'a AnalysisFlags,
    pub flags: &'a ShardFlags,
    /// `predict`'s request.
    pub request: Option<Request>,
    /// `predict`'s loss log and column.
    pub losses: Option<&'a Path>,
    pub loss_column: Option<&'a str>,
    /// Flags a shard cannot honour, and whether each was given.
    pub refused: &'a [(&'static str, bool)],
}

/// `analyze --shard` and `predict --shard` (without --verify).
pub fn matrix_shard(r: MatrixShard<'_>, shard: (ShardSpec, ShardSource)) -> Result<u8> {
    refuse(r.refused)?;
    let sel = selection(&r.analysis.selection)?;
    let ck = Checkpoint::open(r.path)?;
    let plan = planned(&ck, &sel)?;
    let engine = Engine::new(r.analysis, sel, r.init);
    let opts = engine.options()?;
    let mut inputs = vec![fingerprint(&ck)?];
    inputs.extend(init_fingerprint(r.init)?);
    let mut settings = Settings::of(&opts);
    settings.predict = r
        .request
        .as_ref()
        .map(|q| PredictSettings::of(q, r.losses, r.loss_column));
    let manifest = manifest_for(r.command, inputs, settings, matrix_units(&plan), shard.0);
    let format = format_name(r.format);
    run_shard(r.output, r.flags, shard, manifest, |m| {
        Ok(match &r.request {
            Some(req) => predict_part(&ck, &plan, &opts, req, m, &format, &engine.bar)?,
            None => analyze_part(&ck, &plan, &opts, m, &format, &engine.bar)?,
        })
    })
}

/// What a shard of `compare` takes from its command line.
pub struct SeriesShard<'a> {
    /// The snapshots and `compare`'s own options.
    pub settings: CompareSettings,
    pub format: Format,
    pub output: &'a Option<PathBuf>,
    pub analysis: &'a AnalysisFlags,
    pub flags: &'a ShardFlags,
    /// Flags a shard cannot honour, and whether each was given.
    pub refused: &'a [(&'static str, bool)],
}

/// `compare --shard`: the shard's snapshots.
pub fn series_shard(r: SeriesShard<'_>, shard: (ShardSpec, ShardSource)) -> Result<u8> {
    refuse(r.refused)?;
    let engine = Engine::new(r.analysis, selection(&r.analysis.selection)?, None);
    let base = engine.options()?;
    let plan = series_plan(&r.settings, &base)?;
    let mut settings = Settings::of(&base);
    settings.compare = Some(r.settings);
    let manifest = manifest_for("compare", plan.inputs, settings, plan.units, shard.0);
    let format = format_name(r.format);
    run_shard(r.output, r.flags, shard, manifest, |m| {
        Ok(compare_part(
            &plan.series,
            &plan.options,
            m,
            &format,
            &engine.bar,
        )?)
    })
}

/// `specscope merge`.
pub fn run(a: MergeArgs) -> Result<u8> {
    let threads = a.threads.map_or_else(
        || crate::pipeline::RunOptions::default().threads,
        usize::from,
    );
    let (merged, format) =
        crate::shard::merge(&a.parts, threads, a.plots.is_some(), &Bar::new(a.quiet))?;
    let format = match a.format {
        Some(f) => f,
        None => Format::from_str(&format, false).unwrap_or(Format::Table),
    };
    match merged {
        Merged::Analyze(an) => write_analyze(&a, &an, format),
        Merged::Predict(out) => {
            if a.save_eigs.is_some() {
                bail!("--save-eigs: only for the parts of `analyze`");
            }
            warn_all(&out.failures);
            note_all(&out.notes);
            write_predict(&a, out.report, out.figures, format)
        }
        Merged::Compare(rep, analysed) => {
            if a.save_eigs.is_some() {
                bail!("--save-eigs: only for the parts of `analyze`");
            }
            let messages: Vec<(Vec<String>, Vec<String>)> = analysed
                .iter()
                .map(|x| (x.analysis.failures(), x.analysis.init_warnings.clone()))
                .collect();
            write_compare(&a, &rep, &messages, format)
        }
    }
}

fn image_format(a: &MergeArgs) -> ImageFormat {
    if a.png {
        ImageFormat::Png
    } else {
        ImageFormat::Svg
    }
}

/// A merged `analyze`, as `analyze` writes it.
fn write_analyze(a: &MergeArgs, an: &Analysis, format: Format) -> Result<u8> {
    warn_all(&an.failures());
    analysis_notes(an);
    if let Some(dir) = &a.save_eigs {
        report::save_eigs(dir, an)?;
    }
    let rep = AnalyzeReport::new(an);
    if let Some(dir) = &a.plots {
        super::output::write_matrix_plots(dir, a.png, an, &rep.layers)?;
    }
    emit(&a.output, |w| match format {
        Format::Table => Ok(report::write_table(&rep, w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::analyze(&rep))
}

/// Each matrix's (name, layer id) and `predict`'s figures of it.
type PredictFigures = Vec<((String, usize), Vec<(&'static str, plot::XyPlot)>)>;

/// A merged `predict`, as `predict` writes it (its messages already out).
fn write_predict(
    a: &MergeArgs,
    rep: PredictReport,
    figures: PredictFigures,
    format: Format,
) -> Result<u8> {
    if let Some(dir) = &a.plots {
        let (names, figs): (Vec<_>, Vec<_>) = figures.into_iter().unzip();
        plot::write_named_plots(dir, image_format(a), &names, &figs)?;
    }
    emit(&a.output, |w| match format {
        Format::Table => Ok(rep.write_table(w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::predict(&rep))
}

/// A merged `compare`, as `compare` writes it.
/// `messages`: each snapshot's failures and notes.
fn write_compare(
    a: &MergeArgs,
    rep: &CompareReport,
    messages: &[(Vec<String>, Vec<String>)],
    format: Format,
) -> Result<u8> {
    for (failures, notes) in messages {
        warn_all(failures);
        note_all(notes);
    }
    if let Some(dir) = &a.plots {
        let written = super::output::write_snapshot_plots(rep, dir, image_format(a))?;
        super::output::wrote_figures(dir, written.len());
    }
    emit(&a.output, |w| match format {
        Format::Table => Ok(rep.write_table(w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::compare(rep))
}
