//! `specscope check`: reads the rules first (a config error costs no
//! analysis), loads the report (analysing a checkpoint when given one),
//! its eigenvalues and, for quantization rules, the weights' ranges, and
//! the baseline; evaluates, writes the summary or JSON, the JUnit file and
//! the GitHub annotations, and maps the result to exit 0 / 1.

use super::args::AnalysisFlags;
use super::engine::{Engine, selection};
use super::output::{emit, exit, note_all, warn_all};
use crate::check::predict::{Ranges, layouts};
use crate::check::{self, Inputs, output};
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

/// A report, or a checkpoint analysed into one (its warnings on stderr).
fn load(path: &Path, engine: &Engine, eigs: Option<&Path>) -> Result<Loaded> {
    let loaded = if crate::report::source::is_report_path(path) {
        Loaded::saved(path, eigs)?
    } else {
        Loaded::load(path, &engine.options()?, eigs, &engine.bar)?
    };
    if let Some(an) = &loaded.analysis {
        warn_all(&an.failures());
        note_all(&an.init_warnings);
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
    let loaded = load(&a.path, &engine, a.eigs.as_deref())?;
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
            load(b, &engine, None)
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
    let result = check::evaluate(&config, &inputs);
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
