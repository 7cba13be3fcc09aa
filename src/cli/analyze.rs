//! `specscope analyze`: every matrix's spectrum and metrics, as a table,
//! JSON or CSV, with the eigenvalues and figures on request.

use super::args::{AnalysisFlags, Format, ShardFlags, TableFlags};
use super::engine::{Engine, planned, selection};
use super::output::{analysis_notes, emit, exit, warn_all};
use crate::analysis;
use crate::load::Checkpoint;
use crate::report::{self, AnalyzeReport};
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Save each matrix's eigenvalues as .npy files (float64, descending) in DIR.
    #[arg(long, value_name = "DIR")]
    pub save_eigs: Option<PathBuf>,
    /// An init snapshot: the noise σ of each matrix is the RMS entry of its
    /// init (docs/theory.md), instead of the median-eigenvalue estimate.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Write each matrix's figures into DIR: its ESD and rank plots and its
    /// pruning and quantization predictions (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[command(flatten)]
    pub table: TableFlags,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
    #[command(flatten)]
    pub shard: ShardFlags,
}

pub fn run(a: AnalyzeArgs) -> Result<u8> {
    if let Some(shard) = super::merge::shard_of(&a.shard)? {
        let refused = [
            ("--save-eigs", a.save_eigs.is_some()),
            ("--plots", a.plots.is_some()),
        ];
        return super::merge::matrix_shard(
            super::merge::MatrixShard {
                command: "analyze",
                path: &a.path,
                init: a.init.as_deref(),
                format: a.format,
                output: &a.output,
                analysis: &a.analysis,
                flags: &a.shard,
                request: None,
                losses: None,
                loss_column: None,
                refused: &refused,
            },
            shard,
        );
    }
    let view = super::output::table_view(
        &a.table,
        "analyze",
        report::table::ANALYZE_COLUMNS,
        a.output.is_some(),
    )?;
    let sel = selection(&a.analysis.selection)?;
    let ck = Checkpoint::open(&a.path)?;
    let plan = planned(&ck, &sel)?;
    let engine = Engine::new(&a.analysis, sel, a.init.as_deref());
    let an = analysis::analyze_plan(&ck, &plan, &engine.options()?, &engine.bar)?;
    warn_all(&an.failures());
    analysis_notes(&an);
    if let Some(dir) = &a.save_eigs {
        report::save_eigs(dir, &an)?;
    }
    let rep = AnalyzeReport::new(&an);
    if let Some(dir) = &a.plots {
        super::output::write_matrix_plots(dir, a.png, &an, &rep.layers)?;
    }
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(report::write_table_view(&rep, &view, w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::analyze(&rep))
}
