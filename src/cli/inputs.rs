//! What `check` and `report` read beyond the report itself: each matrix's
//! eigenvalues (the analysis's, or the `.npy` files of `--eigs DIR` for a
//! JSON report) and the quantization ranges of its weights (the symmetric
//! per-channel ranges the analysis gathered while it read the weights, or
//! one more pass over the checkpoint for other quantizers). A JSON report
//! holds no weights, so it has no ranges. Reads and schedules only.

use super::{AnalysisArgs, analysis, is_report_path, open, selection};
use crate::pipeline;
use crate::report::doc::ReportDoc;
use crate::theory::quant::{Granularity, QuantSpec, RangeStats, Scheme};
use anyhow::{Result, bail};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// A report with what the theory needs from outside it.
pub(super) struct Loaded {
    pub doc: ReportDoc,
    /// Eigenvalues per report layer (same order); empty for a JSON report
    /// without `--eigs`.
    pub evals: Vec<Option<Vec<f64>>>,
    /// Why some or all matrices have no eigenvalues.
    pub evals_note: Option<String>,
    /// The checkpoint analysed (`None`: a JSON report).
    checkpoint: Option<PathBuf>,
    /// Symmetric per-channel ranges per matrix, from the analysis.
    channel_ranges: Vec<Option<RangeStats>>,
}

/// A JSON report holds no eigenvalues: how to get them.
pub(super) const NO_EIGS: &str = "a JSON report holds no eigenvalues. Give the checkpoint itself, or save them with `analyze --save-eigs DIR` and pass `--eigs DIR`.";

/// Loads a report, or analyses a checkpoint into one, with its eigenvalues
/// (from the analysis, or `eigs` for a JSON report).
pub(super) fn load(path: &Path, args: &AnalysisArgs, eigs: Option<&Path>) -> Result<Loaded> {
    if is_report_path(path) {
        let doc = ReportDoc::read(path)?;
        let (evals, evals_note) = match eigs {
            Some(dir) => {
                let mut saved = crate::report::load_eigs(dir)?;
                let evals: Vec<Option<Vec<f64>>> = doc
                    .layers()
                    .iter()
                    .enumerate()
                    .map(|(i, l)| saved.remove(&ReportDoc::layer_name(l, i)))
                    .collect();
                let missing = evals.iter().filter(|e| e.is_none()).count();
                let note = (missing > 0).then(|| {
                    format!(
                        "{missing} matrices have no eigenvalues in {}",
                        dir.display()
                    )
                });
                (evals, note)
            }
            None => (Vec::new(), Some(NO_EIGS.to_string())),
        };
        return Ok(Loaded {
            doc,
            evals,
            evals_note,
            checkpoint: None,
            channel_ranges: Vec::new(),
        });
    }
    if let Some(dir) = eigs {
        bail!(
            "--eigs {} is for a JSON report; a checkpoint is analysed and has its own eigenvalues",
            dir.display()
        );
    }
    let (rep, outcomes) = analysis(path, args)?;
    let channel_ranges = outcomes.iter().map(|o| o.channel_ranges).collect();
    let evals = outcomes.into_iter().map(|o| o.evals.ok()).collect();
    Loaded::analysed(path, &rep, evals, channel_ranges)
}

impl Loaded {
    /// A checkpoint's analysis, already run (by `load`, or by `compare` for
    /// the last snapshot of a series).
    pub fn analysed(
        path: &Path,
        rep: &crate::report::AnalyzeReport,
        evals: Vec<Option<Vec<f64>>>,
        channel_ranges: Vec<Option<RangeStats>>,
    ) -> Result<Loaded> {
        if rep.summary.analysed == 0 {
            bail!("{}: no weight matrix could be analysed", path.display());
        }
        Ok(Loaded {
            doc: ReportDoc::from_report(rep),
            evals,
            evals_note: None,
            checkpoint: Some(path.to_path_buf()),
            channel_ranges,
        })
    }

    /// The weights' range statistics under `q`'s scheme and granularity
    /// (scaled like the eigenvalues), per report layer; `None` for a JSON
    /// report. The symmetric per-channel ones come from the analysis; any
    /// other quantizer reads the weights once more (the same plan, so the
    /// same matrices in the same order), page by page.
    pub fn ranges(
        &self,
        q: &QuantSpec,
        args: &AnalysisArgs,
    ) -> Result<Option<Vec<Option<RangeStats>>>> {
        let Some(path) = &self.checkpoint else {
            return Ok(None);
        };
        let analysed = |i: usize| self.evals.get(i).is_some_and(Option::is_some);
        let default = q.scheme == Scheme::Sym && q.granularity == Granularity::Channel;
        let complete = (0..self.evals.len())
            .all(|i| !analysed(i) || self.channel_ranges.get(i).is_some_and(Option::is_some));
        if default && complete {
            return Ok(Some(self.channel_ranges.clone()));
        }
        let ck = open(path)?;
        let plan = pipeline::plan(&ck, &selection(args.selection)?);
        if plan.jobs.len() != self.evals.len() {
            bail!(
                "{}: planned {} matrices for the weight ranges, but the analysis had {}",
                path.display(),
                plan.jobs.len(),
                self.evals.len()
            );
        }
        let threads = args
            .threads
            .map_or_else(|| pipeline::RunOptions::default().threads, usize::from);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        Ok(Some(pool.install(|| {
            plan.jobs
                .par_iter()
                .enumerate()
                .map(|(i, job)| analysed(i).then(|| super::predict::job_ranges(&ck, job, q)))
                .collect()
        })))
    }
}
