//! What `check` and `report` read: a report with what the theory needs
//! from outside it. Either a checkpoint's fresh [`Analysis`] (its rows
//! projected once into the report's named columns, its eigenvalues, the
//! symmetric per-channel ranges gathered while it read the weights, and
//! one more pass over the weights for any other quantizer), or a saved
//! `analyze --format json` file (eigenvalues only from the `.npy` files of
//! `--eigs DIR`; a JSON report holds no weights, so it has no ranges).

use super::doc::ReportDoc;
use super::error::{ReportError, Result};
use super::{AnalyzeReport, load_eigs};
use crate::analysis::{self, Analysis};
use crate::load::Checkpoint;
use crate::load::quant::{QuantSpec, RangeStats};
use crate::pipeline::Progress;
use rayon::prelude::*;
use std::path::Path;

/// A JSON report holds no eigenvalues: how to get them.
pub const NO_EIGS: &str = "a JSON report holds no eigenvalues. Give the checkpoint itself, or save them with `analyze --save-eigs DIR` and pass `--eigs DIR`.";

/// A report and what comes with it.
pub struct Loaded {
    /// The report's rows and summary by field name.
    pub doc: ReportDoc,
    /// Eigenvalues per report layer (same order); empty for a JSON report
    /// without `--eigs`.
    pub evals: Vec<Option<Vec<f64>>>,
    /// Why some or all matrices have no eigenvalues.
    pub evals_note: Option<String>,
    /// The analysis behind the report (`None`: a JSON report).
    pub analysis: Option<Analysis>,
}

/// A JSON report rather than a checkpoint: a `.json` file that is not a
/// sharded checkpoint's `*.safetensors.index.json`.
pub fn is_report_path(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    path.is_file() && name.ends_with(".json") && !name.ends_with(".safetensors.index.json")
}

impl Loaded {
    /// Loads a saved report, or analyses a checkpoint, with its eigenvalues
    /// (from the analysis, or `eigs` for a JSON report).
    pub fn load(
        path: &Path,
        opts: &analysis::Options,
        eigs: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<Loaded> {
        if is_report_path(path) {
            return Loaded::saved(path, eigs);
        }
        if let Some(dir) = eigs {
            return Err(ReportError::Input(format!(
                "--eigs {} is for a JSON report; a checkpoint is analysed and has its own eigenvalues",
                dir.display()
            )));
        }
        let ck = Checkpoint::open(path)?;
        Loaded::analysed(analysis::analyze(&ck, opts, progress)?)
    }

    /// A saved `analyze --format json` report.
    pub fn saved(path: &Path, eigs: Option<&Path>) -> Result<Loaded> {
        let doc = ReportDoc::read(path)?;
        let (evals, evals_note) = match eigs {
            Some(dir) => {
                let mut saved = load_eigs(dir)?;
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
        Ok(Loaded {
            doc,
            evals,
            evals_note,
            analysis: None,
        })
    }

    /// A checkpoint's analysis, already run (by `load`, or by `compare` for
    /// the last snapshot of a series).
    pub fn analysed(analysis: Analysis) -> Result<Loaded> {
        if analysis.analysed() == 0 {
            return Err(ReportError::invalid(
                &analysis.root,
                "no weight matrix could be analysed",
            ));
        }
        Ok(Loaded {
            doc: ReportDoc::from_report(&AnalyzeReport::new(&analysis)),
            evals: analysis.evals(),
            evals_note: None,
            analysis: Some(analysis),
        })
    }

    /// The weights' range statistics under `q`'s scheme and granularity
    /// (scaled like the eigenvalues), with the entries each bit width
    /// rounds to zero, per report layer; `None` for a JSON report. One more
    /// pass over the weights (the analysis's matrices, in its order), page
    /// by page, on `threads` threads: the analysis keeps only the
    /// per-channel maxima.
    pub fn ranges(&self, q: &QuantSpec, threads: usize) -> Result<Option<Vec<Option<RangeStats>>>> {
        let Some(a) = &self.analysis else {
            return Ok(None);
        };
        let ck = Checkpoint::open(&a.root)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| ReportError::Input(format!("thread pool: {e}")))?;
        Ok(Some(pool.install(|| {
            a.matrices
                .par_iter()
                .map(|m| {
                    m.spectrum
                        .is_ok()
                        .then(|| analysis::init::job_ranges(&ck, &m.job, q))
                })
                .collect()
        })))
    }
}
