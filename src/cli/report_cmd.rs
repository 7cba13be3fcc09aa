//! `specscope report`: loads a report (analysing a checkpoint when given
//! one), draws each matrix's figures from its eigenvalues (the analysis's,
//! or `--eigs DIR`) and, for the quantization curve, its weights' ranges
//! (a checkpoint only), adds the report's own and the attached tables, and
//! writes one self-contained HTML file.
//!
//! Given a directory of training snapshots (a `simulate` run directory, or
//! at least three checkpoints with the same tensor names), the page is the
//! last snapshot's analysis plus what `compare` finds over the series (its
//! tables and D(t), k_*(t), α(t) and ρ-fit figures; with `--overlap K` the
//! singular-vector overlap tables and heat maps) and, for a `simulate`
//! teacher run, what `validate` finds against the truth.

use super::args::AnalysisFlags;
use super::engine::{Engine, selection};
use super::output::{analysis_notes, exit, warn_all};
use crate::compare::{self, CompareOptions, TimeAxis, compare_series, validate_run};
use crate::load::Checkpoint;
use crate::report::doc::ReportDoc;
use crate::report::html::{self, HtmlReport, MatrixFigures, Section};
use crate::report::plot::{self, Figure, snapshot_figures};
use crate::report::series::CompareReport;
use crate::report::source::Loaded;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// A snapshot series' loss curve, as `compare --losses` (default: a
    /// `simulate` run directory's losses.csv).
    #[arg(long, value_name = "CSV")]
    pub losses: Option<PathBuf>,
    /// The loss column of the losses file, as `compare --loss-column`.
    #[arg(long, value_name = "COL")]
    pub loss_column: Option<String>,
    /// An init snapshot: each matrix's noise σ is its init's RMS entry (as
    /// `analyze --init` and `compare --init`).
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// A snapshot series only: each matrix's top K singular vectors
    /// compared between consecutive snapshots and with the init, as
    /// `compare --overlap K` (its tables, and heat maps of the subspace
    /// overlap ‖U₁ᵀU₂‖²_F/K, left and right).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub overlap: Option<u32>,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}

/// The snapshot series `path` holds, if it is one: a `simulate` run
/// directory, or a directory of at least three checkpoints (files or
/// sub-directories) that all hold the same tensor names. The files of a
/// sharded checkpoint hold different tensors, so they are not a series.
fn snapshot_series(path: &Path) -> Option<compare::Series> {
    if !path.is_dir() {
        return None;
    }
    let s = compare::series(&[path.to_path_buf()], TimeAxis::Step).ok()?;
    if path.join("snapshots").is_dir() {
        return Some(s);
    }
    let names = |p: &Path| -> Option<BTreeSet<String>> {
        let ck = Checkpoint::open(p).ok()?;
        Some(ck.tensors.iter().map(|t| t.header.name.clone()).collect())
    };
    let first = names(&s.snapshots.first()?.path)?;
    s.snapshots[1..]
        .iter()
        .all(|x| names(&x.path).as_ref() == Some(&first))
        .then_some(s)
}

/// A report's JSON, for [`html::sections_from_json`].
fn json_of(write: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>) -> Result<serde_json::Value> {
    let mut buf = Vec::new();
    write(&mut buf)?;
    Ok(serde_json::from_slice(&buf)?)
}

/// The sections a snapshot series adds: the series figures, then the
/// comparison's tables and, for a `simulate` run, the validation's.
fn series_sections(
    s: &compare::Series,
    cmp: &CompareReport,
    engine: &Engine,
) -> Result<Vec<Section>> {
    let mut figures = Vec::new();
    for (name, p) in snapshot_figures(cmp) {
        let caption = match name.as_str() {
            "density" => "density D(t) of each matrix and of the model".to_string(),
            "k_star" => "frontier k_*(t)".to_string(),
            "alpha" => "power-law exponent α(t)".to_string(),
            n if n.starts_with("overlap-") => {
                let grey = matches!(&p, Figure::Heat(m) if m.any_missing());
                overlap_caption(n, plot::overlap_k(cmp), grey)
            }
            n => format!("ρ fit, {}", n.trim_start_matches("rho-fit.")),
        };
        figures.push((caption, p.to_svg()?));
    }
    let mut out = vec![Section {
        id: "snapshots".into(),
        title: format!("Snapshots over time ({})", s.snapshots.len()),
        note: Some(format!(
            "{} snapshots, ordered {}; the matrices above are the last one's ({}).",
            s.snapshots.len(),
            s.order,
            s.snapshots
                .last()
                .map_or(String::new(), |x| x.path.display().to_string())
        )),
        table: None,
        figures,
    }];
    out.extend(html::sections_from_json(
        "compare",
        &json_of(|w| Ok(cmp.write_json(w)?))?,
        &[],
    ));
    // A language-model run has no teacher truth to validate against (its
    // measured reset costs are in the comparison's `answers`; `validate`
    // referees its compression).
    if let Some(dir) = s
        .run_dir
        .as_ref()
        .filter(|d| !compare::referee::is_lm_run(d))
    {
        let v = validate_run(dir, None, &engine.options()?, &engine.bar)?;
        out.extend(html::sections_from_json(
            "validate",
            &json_of(|w| Ok(v.write_json(w)?))?,
            // Its comparison of the effective maps repeats the one above.
            &["compare"],
        ));
    }
    Ok(out)
}

/// The caption of an overlap heat map (`overlap-previous-left`, …), and
/// what its grey cells mean when it has any.
fn overlap_caption(stem: &str, k: usize, grey: bool) -> String {
    let side = if stem.ends_with("left") {
        "left"
    } else {
        "right"
    };
    let (against, why) = if stem.contains("previous") {
        (
            "the previous snapshot",
            "the first snapshot has no previous one, or the matrix failed",
        )
    } else {
        ("the init", "the matrix failed")
    };
    let mut c = format!("top-{k} {side} singular subspace overlap with {against}");
    if grey {
        c.push_str(&format!("; grey: no value ({why})"));
    }
    c
}

/// The page's report: a saved one, a checkpoint analysed, or a snapshot
/// series shown through its last snapshot as `compare` analysed it (with a
/// `simulate` run's init snapshot for σ; every snapshot analysed once).
fn load(
    a: &ReportArgs,
    series: Option<&compare::Series>,
    engine: &Engine,
) -> Result<(Loaded, Option<CompareReport>)> {
    match series {
        Some(s) => {
            if let Some(dir) = &a.eigs {
                anyhow::bail!(
                    "--eigs {} is for a JSON report; a snapshot series is analysed and has its own eigenvalues",
                    dir.display()
                );
            }
            let opts = CompareOptions {
                init: a.init.clone(),
                losses: a.losses.clone(),
                loss_column: a.loss_column.clone(),
                overlap: a.overlap.map(|k| k as usize),
                ..CompareOptions::default()
            };
            let (cmp, mut analysed) = compare_series(s, &engine.options()?, &opts, &engine.bar)?;
            for x in &analysed {
                warn_all(&x.analysis.failures());
                analysis_notes(&x.analysis);
            }
            let last = analysed.pop().context("a series has snapshots")?;
            Ok((Loaded::analysed(last.analysis)?, Some(cmp)))
        }
        None if crate::report::source::is_report_path(&a.path) => {
            Ok((Loaded::saved(&a.path, a.eigs.as_deref())?, None))
        }
        None => {
            let loaded = Loaded::load(&a.path, &engine.options()?, a.eigs.as_deref(), &engine.bar)?;
            if let Some(an) = &loaded.analysis {
                warn_all(&an.failures());
                analysis_notes(an);
            }
            Ok((loaded, None))
        }
    }
}

pub fn run(a: ReportArgs) -> Result<u8> {
    let series = snapshot_series(&a.path);
    if series.is_none()
        && let Some(flag) = [
            a.losses.as_ref().map(|_| "--losses"),
            a.loss_column.as_ref().map(|_| "--loss-column"),
            a.overlap.map(|_| "--overlap"),
        ]
        .into_iter()
        .flatten()
        .next()
    {
        anyhow::bail!(
            "{flag} is for a snapshot series; {} is not one",
            a.path.display()
        );
    }
    let engine = Engine::new(
        &a.analysis,
        selection(&a.analysis.selection)?,
        a.init.as_deref(),
    );
    let (loaded, cmp) = load(&a, series.as_ref(), &engine)?;
    let (doc, evals) = (&loaded.doc, &loaded.evals);
    let layers = doc.layers();
    let mut note = match &loaded.evals_note {
        Some(n) if evals.is_empty() => Some(format!("No figures: {n}")),
        n => n.clone(),
    };
    // The quantization curves use `analyze`'s quantizer (4-bit here: the
    // curve covers every B from 2 to 8).
    let ranges = loaded
        .ranges(&crate::theory::analyze_quantizer(4), engine.threads())?
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
    if let (Some(s), Some(cmp)) = (&series, &cmp) {
        sections.extend(series_sections(s, cmp, &engine)?);
    }
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
    drop(w);
    super::output::wrote(
        &a.output,
        &crate::report::fmt::plural(layers.len(), "matrix", "matrices"),
    );
    Ok(exit::SUCCESS)
}
