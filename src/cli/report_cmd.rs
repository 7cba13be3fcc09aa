//! `specscope report`: loads a report (analysing a checkpoint when given
//! one), draws each matrix's figures from its eigenvalues (the analysis's,
//! or `--eigs DIR`) and, for the quantization curve, its weights' ranges
//! (a checkpoint only), adds the report's own and the attached tables, and
//! writes one self-contained HTML file.

use super::args::ReportArgs;
use super::{AnalysisArgs, exit, inputs};
use crate::report::doc::ReportDoc;
use crate::report::html::{self, HtmlReport, MatrixFigures};
use crate::report::plot;
use anyhow::{Context, Result};
use std::io::Write;

pub(super) fn run(a: ReportArgs) -> Result<u8> {
    let args = AnalysisArgs::of(&a.analysis, None);
    let loaded = inputs::load(&a.path, &args, a.eigs.as_deref())?;
    let (doc, evals) = (&loaded.doc, &loaded.evals);
    let layers = doc.layers();
    let mut note = match &loaded.evals_note {
        Some(n) if evals.is_empty() => Some(format!("No figures: {n}")),
        n => n.clone(),
    };
    // The quantization curves use `analyze`'s quantizer (4-bit here: the
    // curve covers every B from 2 to 8).
    let ranges = loaded
        .ranges(&crate::theory::analyze_quantizer(4), &args)?
        .unwrap_or_default();
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
        let [esd, rank] = plot::matrix_figures(&name, l, ev);
        let st = ranges.get(i).and_then(Option::as_ref);
        let [pruning, quant] = plot::compression_figures(&name, l, ev, st);
        for (fig, caption) in [esd, rank, pruning, quant].iter().zip([
            "spectral density and power-law fit",
            "rank plot",
            "predicted pruning curve",
            "predicted quantization curve",
        ]) {
            svgs.push((caption.to_string(), fig.to_svg()?));
        }
        figures.push(MatrixFigures {
            name,
            figures: svgs,
        });
    }
    let mut sections = html::report_sections(doc);
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
        doc,
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
