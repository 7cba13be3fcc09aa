//! `specscope predict`: raw flags and their validation, the library's
//! predictions (`crate::predict`), the figures, and the outputs.

use super::args::{AnalysisFlags, Format, ShardFlags, TableFlags};
use super::engine::{Engine, planned, selection};
use super::output::{emit, exit, note, note_all, warn_all};
use crate::load::Checkpoint;
use crate::load::quant::{DEFAULT_GROUP, Granularity, QuantSpec, Scheme};
use crate::predict::{PredictOptions, predict};
use crate::report::plot;
use crate::theory::{Keep, Request};
use anyhow::{Result, bail};
use clap::ArgGroup;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(group(
    ArgGroup::new("compression")
        .required(true)
        .multiple(true)
        .args(["rank", "sparsity", "bits"])
))]
pub struct PredictArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    /// Keep the top R modes of every matrix (truncation).
    #[arg(long, value_name = "R", conflicts_with = "sparsity")]
    pub rank: Option<usize>,
    /// Keep ⌊(1−S)·M⌋ modes of every matrix (0 ≤ S ≤ 1).
    #[arg(long, value_name = "S")]
    pub sparsity: Option<f64>,
    /// Quantize to B bits (2…16), round to nearest; after truncation when
    /// --rank or --sparsity is given too.
    #[arg(long, value_name = "B")]
    pub bits: Option<u32>,
    /// Group size G for --granularity group (implies it; default 128).
    #[arg(long, value_name = "G", requires = "bits")]
    pub group: Option<usize>,
    /// Symmetric (−L…L) or asymmetric (with a zero point) grid.
    #[arg(long, value_enum, default_value_t = Scheme::Sym)]
    pub scheme: Scheme,
    /// One step per tensor, per output channel (default), or per group.
    #[arg(long, value_enum, requires = "bits")]
    pub granularity: Option<Granularity>,
    /// Compress every matrix for real, recompute its spectrum, and print
    /// the measured effects beside the predicted ones.
    #[arg(long)]
    pub verify: bool,
    /// An init snapshot (same tensor names): the noise σ of each matrix is
    /// the RMS entry of its init, instead of the median-eigenvalue estimate.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// A loss curve (CSV with a header, rows in time order): ΔL is also
    /// given in the loss's own units, calibrated on the loss the run
    /// removed, first row minus last (docs/theory.md §4.3).
    #[arg(long, value_name = "CSV")]
    pub losses: Option<PathBuf>,
    /// The loss column of --losses [default: the first of val_loss,
    /// valid_loss, test_loss, loss, train_loss].
    #[arg(long, value_name = "COL", requires = "losses")]
    pub loss_column: Option<String>,
    /// Write each matrix's predicted pruning curve (and, with --bits, its
    /// quantization curve) into DIR, with the measured point when --verify
    /// ran (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub table: TableFlags,
    // Which tensors, threads, progress, and where and how spectra are
    // computed, as for `analyze`; `--verify` recomputes on the same backend
    // (always the exact method: it needs the eigenvectors).
    #[command(flatten)]
    pub analysis: AnalysisFlags,
    #[command(flatten)]
    pub shard: ShardFlags,
}

/// The validated request.
fn request(a: &PredictArgs) -> Result<Request> {
    let keep = match (a.rank, a.sparsity) {
        (Some(r), _) => Some(Keep::Rank(r)),
        (None, Some(s)) if (0.0..=1.0).contains(&s) => Some(Keep::Sparsity(s)),
        (None, Some(s)) => bail!("--sparsity {s}: must be between 0 and 1"),
        (None, None) => None,
    };
    let quant = match a.bits {
        Some(b) => {
            let granularity = a.granularity.unwrap_or(if a.group.is_some() {
                Granularity::Group
            } else {
                Granularity::Channel
            });
            if a.group.is_some() && granularity != Granularity::Group {
                bail!("--group needs --granularity group");
            }
            Some(QuantSpec::new(
                b,
                a.scheme,
                granularity,
                a.group.unwrap_or(DEFAULT_GROUP),
            )?)
        }
        None => None,
    };
    Ok(Request { keep, quant })
}

/// `--rank R` above a matrix's mode count min(N, M) keeps all its modes
/// (a note naming how many matrices); above every matrix's, nothing would
/// be pruned anywhere: an error.
fn check_rank(rank: usize, plan: &crate::pipeline::Plan) -> Result<()> {
    let modes = |j: &crate::pipeline::Job| j.spec.rows.min(j.spec.cols);
    let above: Vec<&crate::pipeline::Job> = plan.jobs.iter().filter(|j| rank > modes(j)).collect();
    let Some(largest) = plan.jobs.iter().map(modes).max() else {
        return Ok(());
    };
    if above.len() == plan.jobs.len() {
        bail!(
            "--rank {rank} is above every matrix's min(N, M) (the largest is {largest}), \
             so nothing would be pruned: give a rank of at most {largest}, or --sparsity S to keep a fraction of each"
        );
    }
    if let Some(first) = above.first() {
        note(&format!(
            "--rank {rank} is above min(N, M) of {} (first: {}, {} modes): {}",
            crate::report::fmt::plural(above.len(), "matrix", "matrices"),
            first.spec.name,
            modes(first),
            if above.len() == 1 {
                "it keeps all its modes"
            } else {
                "they keep all their modes"
            },
        ));
    }
    Ok(())
}

pub fn run(a: PredictArgs) -> Result<u8> {
    let request = request(&a)?;
    if let Some(shard) = super::merge::shard_of(&a.shard)? {
        let refused = [("--verify", a.verify), ("--plots", a.plots.is_some())];
        return super::merge::matrix_shard(
            super::merge::MatrixShard {
                command: "predict",
                path: &a.path,
                init: a.init.as_deref(),
                format: a.format,
                output: &a.output,
                analysis: &a.analysis,
                flags: &a.shard,
                request: Some(request),
                losses: a.losses.as_deref(),
                loss_column: a.loss_column.as_deref(),
                refused: &refused,
            },
            shard,
        );
    }
    let loss = a
        .losses
        .as_deref()
        .map(|p| crate::predict::read_loss(p, a.loss_column.as_deref()))
        .transpose()?;
    let view = super::output::table_view(
        &a.table,
        "predict",
        crate::report::table::PREDICT_COLUMNS,
        a.output.is_some(),
    )?;
    let sel = selection(&a.analysis.selection)?;
    let ck = Checkpoint::open(&a.path)?;
    let plan = planned(&ck, &sel)?;
    if let Some(rank) = a.rank {
        check_rank(rank, &plan)?;
    }
    let engine = Engine::new(&a.analysis, sel, a.init.as_deref());
    let out = predict(
        &ck,
        &engine.options()?,
        &PredictOptions {
            request,
            verify: a.verify,
            plots: a.plots.is_some(),
            loss,
        },
        &engine.bar,
    )?;
    warn_all(&out.failures);
    note_all(&out.notes);
    if let Some(dir) = &a.plots {
        let format = if a.png {
            plot::ImageFormat::Png
        } else {
            plot::ImageFormat::Svg
        };
        let (names, figs): (Vec<_>, Vec<_>) = out.figures.into_iter().unzip();
        let written = plot::write_named_plots(dir, format, &names, &figs)?;
        super::output::wrote_figures(dir, written.len());
    }
    let rep = out.report;
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(rep.write_table_view(&view, w)?),
        Format::Json => Ok(rep.write_json(w)?),
        Format::Csv => Ok(rep.write_csv(w)?),
    })?;
    Ok(exit::predict(&rep))
}
