//! Reading a language-model run directory back: truth.json, the losses,
//! the compression truth (lm_truth.csv) and the snapshots in step order,
//! with their headers checked against truth.json.
//!
//! Owns parsing and consistency checks of the files `train` writes;
//! never recomputes anything it could read.

use super::LM_MODEL;
use super::net::Params;
use super::truth::{LmTruth, LmTruthRow};
use crate::load::{SafetensorsFile, decode};
use crate::simulate::read::{format_err, read_csv, snapshot_info};
use crate::simulate::{LossRow, SIM_FORMAT, SimError, SnapshotInfo};
use faer::Mat;
use std::path::{Path, PathBuf};

/// A language-model run, loaded.
#[derive(Debug, Clone)]
pub struct LmRun {
    pub dir: PathBuf,
    pub truth: LmTruth,
    pub losses: Vec<LossRow>,
    /// lm_truth.csv, in file order.
    pub rows: Vec<LmTruthRow>,
    pub init: SnapshotInfo,
    /// In step order.
    pub snapshots: Vec<SnapshotInfo>,
}

impl LmRun {
    /// Loads a run directory written by `simulate_lm` and checks that its
    /// snapshot headers agree with truth.json.
    pub fn open(dir: &Path) -> Result<LmRun, SimError> {
        let tpath = dir.join("truth.json");
        let text = std::fs::read_to_string(&tpath).map_err(|e| SimError::io(&tpath, e))?;
        let truth: LmTruth =
            serde_json::from_str(&text).map_err(|e| format_err(&tpath, e.to_string()))?;
        if truth.format != SIM_FORMAT || truth.model != LM_MODEL {
            return Err(format_err(
                &tpath,
                format!(
                    "format `{}`, model `{}`: expected `{SIM_FORMAT}`, `{LM_MODEL}`",
                    truth.format, truth.model
                ),
            ));
        }
        let losses: Vec<LossRow> = read_csv(&dir.join("losses.csv"))?;
        let rows: Vec<LmTruthRow> = read_csv(&dir.join("lm_truth.csv"))?;
        let init = snapshot_info(&dir.join(&truth.init.file))?;
        let snapshots = truth
            .snapshots
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let s = snapshot_info(&dir.join(&t.file))?;
                if s.step != t.step || s.index != Some(i) {
                    return Err(format_err(
                        &s.path,
                        format!(
                            "header says step {} (snapshot {:?}); truth.json lists step {} as snapshot {i}",
                            s.step, s.index, t.step
                        ),
                    ));
                }
                Ok(s)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LmRun {
            dir: dir.to_path_buf(),
            truth,
            losses,
            rows,
            init,
            snapshots,
        })
    }

    /// Every tensor of a snapshot, as stored (f32 values), in file order.
    pub fn params(&self, snap: &SnapshotInfo) -> Result<Params<f32>, SimError> {
        let f = SafetensorsFile::open(&snap.path)?;
        let dims = self.truth.config.dims(self.truth.corpus.vocab_size);
        let mut p = Params::<f32>::zeros(dims);
        for ((name, shape), m) in dims.names().iter().zip(dims.shapes()).zip(&mut p.t) {
            let t = f
                .tensors
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| format_err(&snap.path, format!("no tensor `{name}`")))?;
            if let Some(e) = &t.problem {
                return Err(e.clone().into());
            }
            if t.shape != shape {
                return Err(format_err(
                    &snap.path,
                    format!(
                        "tensor `{name}` has shape {:?}, expected {shape:?}",
                        t.shape
                    ),
                ));
            }
            let (rows, cols) = (m.nrows(), m.ncols());
            let mut v = vec![0.0; rows * cols];
            let bad = decode(f.tensor_bytes(t), &t.dtype, 0, 1, &mut v);
            if bad > 0 {
                return Err(format_err(
                    &snap.path,
                    format!("tensor `{name}` holds {bad} non-finite values"),
                ));
            }
            *m = Mat::from_fn(rows, cols, |i, j| v[i * cols + j] as f32);
        }
        Ok(p)
    }
}
