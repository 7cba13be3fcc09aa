//! `specscope check`: reads the rules first (a config error costs no
//! analysis), loads the report (analysing a checkpoint when given one),
//! its eigenvalues and, for quantization rules, the weights' ranges, and
//! the baseline; evaluates, writes the summary or JSON, the JUnit file and
//! the GitHub annotations, and maps the result to exit 0 / 1.

use super::args::{CheckArgs, CheckFormat};
use super::{AnalysisArgs, emit, exit, inputs, load_input};
use crate::check::predict::{Ranges, layouts};
use crate::check::{self, Inputs, output};
use anyhow::{Context, Result};
use std::io::Write;

pub(super) fn run(a: CheckArgs) -> Result<u8> {
    if a.github && a.format == CheckFormat::Json && a.output.is_none() {
        anyhow::bail!(
            "--github prints annotations on standard output, where --format json goes too: write the JSON with -o FILE"
        );
    }
    let config = check::config::read(&a.config)?;
    let args = AnalysisArgs::of(&a.analysis, None);
    let loaded = inputs::load(&a.path, &args, a.eigs.as_deref())?;
    let mut ranges = Ranges::default();
    for q in layouts(&config.rules) {
        if let Some(r) = loaded.ranges(&q, &args)? {
            ranges.insert(q, r);
        }
    }
    let baseline = a
        .baseline
        .as_ref()
        .map(|b| {
            load_input(b, &AnalysisArgs::of(&a.analysis, None))
                .map(|(doc, _)| doc)
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
        CheckFormat::Json => output::write_json(&result, w),
    })?;
    if let Some(path) = &a.junit {
        let f = std::fs::File::create(path)
            .with_context(|| format!("{}: cannot create", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        output::write_junit(&result, &mut w)
            .and_then(|_| w.flush())
            .with_context(|| format!("{}: cannot write", path.display()))?;
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
