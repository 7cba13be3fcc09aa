//! `specscope report`: loads a report (analysing a checkpoint when given
//! one), draws each matrix's figures from its eigenvalues (the analysis's,
//! or `--eigs DIR`), adds the report's own and the attached tables, and
//! writes one self-contained HTML file.

use super::args::ReportArgs;
use super::{AnalysisArgs, exit, load_input};
use crate::report::doc::ReportDoc;
use crate::report::html::{self, HtmlReport, MatrixFigures};
use crate::report::plot;
use anyhow::{Context, Result};
use std::io::Write;

pub(super) fn run(a: ReportArgs) -> Result<u8> {
    let (doc, mut evals) = load_input(&a.path, &analysis_args(&a))?;
    let layers = doc.layers();
    let mut note = None;
    if evals.is_empty() {
        match &a.eigs {
            Some(dir) => {
                let mut saved = crate::report::load_eigs(dir)?;
                evals = layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| saved.remove(&ReportDoc::layer_name(l, i)))
                    .collect();
                let missing = evals.iter().filter(|e| e.is_none()).count();
                if missing > 0 {
                    note = Some(format!(
                        "{missing} matrices have no eigenvalues in {}",
                        dir.display()
                    ));
                }
            }
            None => {
                note = Some(
                    "No figures: a JSON report holds no eigenvalues. Give the checkpoint itself, or save them with `analyze --save-eigs DIR` and pass `--eigs DIR`."
                        .to_string(),
                )
            }
        }
    }
    let mut figures = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let Some(Some(ev)) = evals.get(i) else {
            continue;
        };
        if figures.len() == a.max_figures {
            note = Some(format!(
                "Figures are drawn for the first {} matrices only (--max-figures).",
                a.max_figures
            ));
            break;
        }
        let name = ReportDoc::layer_name(l, i);
        let mut svgs = Vec::new();
        for (fig, caption) in plot::matrix_figures(&name, l, ev)
            .iter()
            .zip(["spectral density and power-law fit", "rank plot"])
        {
            svgs.push((caption.to_string(), fig.to_svg()?));
        }
        figures.push(MatrixFigures {
            name,
            figures: svgs,
        });
    }
    let mut sections = html::report_sections(&doc);
    for path in &a.attach {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let title = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let found = html::sections_from_json(&title, &value, &[]);
        if found.is_empty() {
            anyhow::bail!("{}: holds no table (no array of objects)", path.display());
        }
        sections.extend(found);
    }
    let page = HtmlReport {
        doc: &doc,
        figures,
        figures_note: note,
        sections,
    };
    let f = std::fs::File::create(&a.output)
        .with_context(|| format!("{}: cannot create", a.output.display()))?;
    let mut w = std::io::BufWriter::new(f);
    html::write_html(&page, &mut w)
        .and_then(|_| w.flush())
        .with_context(|| format!("{}: cannot write", a.output.display()))?;
    Ok(exit::SUCCESS)
}

fn analysis_args(a: &ReportArgs) -> AnalysisArgs<'_> {
    AnalysisArgs {
        selection: &a.selection,
        threads: a.threads,
        quiet: a.quiet,
        engine: &a.engine,
        init: None,
    }
}
