//! `specscope check`: reads the rules first (a config error costs no
//! analysis), loads the report (analysing a checkpoint when given one),
//! its eigenvalues and, for quantization rules, the weights' ranges, and
//! the baseline; evaluates, writes the summary or JSON, the JUnit file and
//! the GitHub annotations, and maps the result to exit 0 / 1.

use super::args::AnalysisFlags;
use super::engine::{Engine, selection};
use super::output::{analysis_notes, emit, exit, warn_all};
use crate::check::config::Kind;
use crate::check::predict::{Ranges, layouts};
use crate::check::{self, Inputs, output};
use crate::pipeline::{Method, Needs};
use crate::report::source::Loaded;
use anyhow::{Context, Result};
use clap::ValueEnum;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Also write SARIF 2.1.0 here, for code-scanning pages (one result per
    /// violation, at the rule's line in the rules file).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also print GitHub Actions annotations (`::error ...`) on standard output.
    #[arg(long)]
    pub github: bool,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}

/// Columns a partial spectrum (the top eigenvalue and ‖W‖²_F) fills.
const TOP_COLUMNS: &[&str] = &[
    "lambda_max",
    "spectral_norm",
    "log_spectral_norm",
    "stable_rank",
    "norm",
    "log_norm",
];

/// What the rules read of each spectrum: only the top (every rule a range
/// or drift on [`TOP_COLUMNS`]), else all of it.
fn needs_of(config: &check::config::Config) -> Needs {
    let top_only = !config.rules.is_empty()
        && config.rules.iter().all(|r| {
            matches!(r.kind, Kind::Range | Kind::Drift)
                && r.metric
                    .as_ref()
                    .is_some_and(|(m, _)| TOP_COLUMNS.contains(&m.as_str()))
        });
    if top_only { Needs::Top(1) } else { Needs::All }
}

/// A report, or a checkpoint analysed into one (its warnings on stderr);
/// `needs`: what the rules read of each spectrum.
fn load(path: &Path, engine: &Engine, eigs: Option<&Path>, needs: Needs) -> Result<Loaded> {
    let loaded = if crate::report::source::is_report_path(path) {
        Loaded::saved(path, eigs)?
    } else {
        let mut opts = engine.options()?;
        if needs != Needs::All && opts.run.method == Method::Auto && eigs.is_none() {
            opts.run.needs = needs;
            crate::cli::output::note(
                "every rule reads only the top of the spectrum (λ_max, norms, stable rank): --method auto computes it by block Lanczos, and exactly where Lanczos does not converge within half the exact cost",
            );
        }
        Loaded::load(path, &opts, eigs, &engine.bar)?
    };
    if let Some(an) = &loaded.analysis {
        warn_all(&an.failures());
        analysis_notes(an);
    }
    Ok(loaded)
}

/// Writes one of check's side files (JUnit, SARIF) and says so on stderr.
fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    emit(&Some(path.to_path_buf()), write)
}

pub fn run(a: CheckArgs) -> Result<u8> {
    if a.github && a.format == CheckFormat::Json && a.output.is_none() {
        anyhow::bail!(
            "--github prints annotations on standard output, where --format json goes too: write the JSON with -o FILE"
        );
    }
    if !a.config.exists() {
        anyhow::bail!(
            "{}: cannot read: no such rules file; name one with --config FILE (default: specscope.toml in the current directory)",
            a.config.display()
        );
    }
    let config = check::config::read(&a.config)?;
    let engine = Engine::new(&a.analysis, selection(&a.analysis.selection)?, None);
    let loaded = load(&a.path, &engine, a.eigs.as_deref(), needs_of(&config))?;
    let mut ranges = Ranges::default();
    for q in layouts(&config.rules) {
        if let Some(r) = loaded.ranges(&q, engine.threads())? {
            ranges.insert(q, r);
        }
    }
    let baseline = a
        .baseline
        .as_ref()
        .map(|b| {
            load(b, &engine, None, Needs::All)
                .map(|l| l.doc)
                .with_context(|| format!("baseline {}", b.display()))
        })
        .transpose()?;
    let inputs = Inputs {
        report: &loaded.doc,
        baseline: baseline.as_ref(),
        evals: &loaded.evals,
        ranges: &ranges,
        predictions: check::predict::builtin(),
    };
    check::resolve(&config, &inputs)?;
    let mut result = check::evaluate(&config, &inputs);
    if let Some(an) = &loaded.analysis {
        result.method_notes = an.engine.method_notes.clone();
    }
    emit(&a.output, |w| match a.format {
        CheckFormat::Text => Ok(output::write_human(&result, w)?),
        CheckFormat::Json => Ok(output::write_json(&result, w)?),
    })?;
    if let Some(path) = &a.junit {
        write_file(path, |w| Ok(output::write_junit(&result, w)?))?;
    }
    if let Some(path) = &a.sarif {
        write_file(path, |w| Ok(output::write_sarif(&result, w)?))?;
    }
    if a.github {
        let stdout = std::io::stdout();
        let mut w = stdout.lock();
        output::write_github(&result, &mut w)?;
        w.flush()?;
    }
    Ok(if result.passed {
        exit::SUCCESS
    } else {
        exit::VIOLATION
    })
}
