//! Reading a run directory back: the typed API that `compare` and
//! `validate` call. Snapshots come in step order with the metadata of
//! their own headers (cross-checked against `truth.json`), weights load as
//! f64 matrices, and the true mode trajectories come from `modes.csv`.
//!
//! Owns parsing and consistency checks of the files `train` writes; never
//! recomputes anything it could read.

use super::model::Net;
use super::task::Task;
use super::truth::{CompressionRow, FRONTIER_FRACTION, Truth, half_learning_time};
use super::{ModelKind, SIM_FORMAT, SimError};
use crate::load::{SafetensorsFile, decode};
use faer::Mat;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One snapshot file and the time coordinates from its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// 0…S−1 in step order; `None` for the init.
    pub index: Option<usize>,
    pub path: PathBuf,
    pub step: u64,
    pub tokens: u64,
    pub lr_sum: f64,
}

/// One row of losses.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossRow {
    pub step: u64,
    pub tokens: u64,
    pub lr_sum: f64,
    pub train_loss: f64,
    pub test_loss: f64,
}

/// The student's coefficients on the teacher's modes over time:
/// `strength[k][j]` = u_kᵀ·W_eff(steps[j])·v_k (k 0-based).
#[derive(Debug, Clone, PartialEq)]
pub struct ModeTrajectories {
    pub steps: Vec<u64>,
    /// Tokens and Σ η at each recorded step (from losses.csv, same grid).
    pub tokens: Vec<u64>,
    pub lr_sum: Vec<f64>,
    pub lambda: Vec<f64>,
    pub target: Vec<f64>,
    pub strength: Vec<Vec<f64>>,
}

impl ModeTrajectories {
    /// f_k(t_j) = s_k / w_k.
    pub fn learned_fraction(&self, k: usize, j: usize) -> f64 {
        self.strength[k][j] / self.target[k]
    }

    /// t_½ per mode (see `truth::half_learning_time`).
    pub fn half_learning_times(&self) -> Vec<Option<f64>> {
        (0..self.target.len())
            .map(|k| {
                let f: Vec<f64> = (0..self.steps.len())
                    .map(|j| self.learned_fraction(k, j))
                    .collect();
                half_learning_time(&self.steps, &f)
            })
            .collect()
    }

    /// k_*(t_j): modes with f_k ≥ 1 − 1/e.
    pub fn frontier(&self, j: usize) -> usize {
        (0..self.target.len())
            .filter(|&k| self.learned_fraction(k, j) >= FRONTIER_FRACTION)
            .count()
    }
}

/// A simulated run, loaded.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub truth: Truth,
    pub losses: Vec<LossRow>,
    pub compression: Vec<CompressionRow>,
    pub init: SnapshotInfo,
    /// In step order.
    pub snapshots: Vec<SnapshotInfo>,
}

pub(crate) fn format_err(path: &Path, reason: impl Into<String>) -> SimError {
    SimError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, SimError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| format_err(path, e.to_string()))?;
    r.deserialize()
        .map(|row| row.map_err(|e| format_err(path, e.to_string())))
        .collect()
}

/// Reads the time metadata of one snapshot header.
pub(crate) fn snapshot_info(path: &Path) -> Result<SnapshotInfo, SimError> {
    let f = SafetensorsFile::open(path)?;
    let get = |key: &str| -> Result<&String, SimError> {
        f.metadata
            .get(key)
            .ok_or_else(|| format_err(path, format!("header metadata lacks `{key}`")))
    };
    if get("format")? != SIM_FORMAT {
        return Err(format_err(
            path,
            format!(
                "metadata format `{}`, expected `{SIM_FORMAT}`",
                get("format")?
            ),
        ));
    }
    let num = |key: &str| -> Result<f64, SimError> {
        get(key)?
            .parse::<f64>()
            .map_err(|e| format_err(path, format!("metadata `{key}`: {e}")))
    };
    let int = |key: &str| -> Result<u64, SimError> {
        get(key)?
            .parse::<u64>()
            .map_err(|e| format_err(path, format!("metadata `{key}`: {e}")))
    };
    Ok(SnapshotInfo {
        index: match f.metadata.get("snapshot") {
            Some(_) => Some(int("snapshot")? as usize),
            None => None,
        },
        path: path.to_path_buf(),
        step: int("step")?,
        tokens: int("tokens")?,
        lr_sum: num("lr_sum")?,
    })
}

impl Run {
    /// Loads a run directory written by `simulate` and checks that its
    /// files agree (snapshot headers against truth.json).
    pub fn open(dir: &Path) -> Result<Run, SimError> {
        let tpath = dir.join("truth.json");
        let text = std::fs::read_to_string(&tpath).map_err(|e| SimError::io(&tpath, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format_err(&tpath, e.to_string()))?;
        if json.get("model").and_then(|m| m.as_str()) == Some(super::lm::LM_MODEL) {
            return Err(format_err(
                &tpath,
                "a language-model run: open it with `simulate::lm::LmRun::open`",
            ));
        }
        let truth: Truth =
            serde_json::from_value(json).map_err(|e| format_err(&tpath, e.to_string()))?;
        if truth.format != SIM_FORMAT {
            return Err(format_err(
                &tpath,
                format!("format `{}`, expected `{SIM_FORMAT}`", truth.format),
            ));
        }
        let losses: Vec<LossRow> = read_csv(&dir.join("losses.csv"))?;
        let compression: Vec<CompressionRow> = read_csv(&dir.join("compression.csv"))?;
        let init = snapshot_info(&dir.join(&truth.init.file))?;
        let sdir = dir.join("snapshots");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sdir)
            .map_err(|e| SimError::io(&sdir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        let mut snapshots = files
            .iter()
            .map(|p| snapshot_info(p))
            .collect::<Result<Vec<_>, _>>()?;
        snapshots.sort_by_key(|s| s.step);
        if snapshots.len() != truth.snapshots.len() {
            return Err(format_err(
                &sdir,
                format!(
                    "{} snapshot files, truth.json lists {}",
                    snapshots.len(),
                    truth.snapshots.len()
                ),
            ));
        }
        for (i, (s, t)) in snapshots.iter().zip(&truth.snapshots).enumerate() {
            if s.step != t.step || s.index != Some(i) || s.path != dir.join(&t.file) {
                return Err(format_err(
                    &s.path,
                    format!(
                        "header says step {} (snapshot {:?}); truth.json lists step {} as snapshot {i}",
                        s.step, s.index, t.step
                    ),
                ));
            }
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            truth,
            losses,
            compression,
            init,
            snapshots,
        })
    }

    /// The weights of a snapshot as f64 matrices, in the model's layer order.
    pub fn weights(&self, snap: &SnapshotInfo) -> Result<Net, SimError> {
        let f = SafetensorsFile::open(&snap.path)?;
        let names: Vec<String> = match self.truth.model {
            ModelKind::Linear => vec!["weight".into()],
            _ => vec!["layers.0.weight".into(), "layers.1.weight".into()],
        };
        let mut layers = Vec::new();
        for name in &names {
            let t = f
                .tensors
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| format_err(&snap.path, format!("no tensor `{name}`")))?;
            if let Some(p) = &t.problem {
                return Err(p.clone().into());
            }
            let [rows, cols] = t.shape[..] else {
                return Err(format_err(
                    &snap.path,
                    format!("tensor `{name}` has shape {:?}, expected 2-D", t.shape),
                ));
            };
            let mut v = vec![0.0; rows * cols];
            let bad = decode(f.tensor_bytes(t), &t.dtype, 0, 1, &mut v);
            if bad > 0 {
                return Err(format_err(
                    &snap.path,
                    format!("tensor `{name}` holds {bad} non-finite values"),
                ));
            }
            layers.push(Mat::from_fn(rows, cols, |i, j| v[i * cols + j]));
        }
        Ok(Net {
            kind: self.truth.model,
            names,
            layers,
        })
    }

    /// The teacher task, regenerated from the config (deterministic).
    pub fn task(&self) -> Task {
        Task::new(&self.truth.config)
    }

    /// The measured compression rows of snapshot `index`.
    pub fn compression_of(&self, index: usize) -> impl Iterator<Item = &CompressionRow> {
        self.compression.iter().filter(move |r| r.snapshot == index)
    }

    /// The true mode trajectories (modes.csv).
    pub fn modes(&self) -> Result<ModeTrajectories, SimError> {
        #[derive(Deserialize)]
        struct Row {
            step: u64,
            k: usize,
            strength: f64,
        }
        let path = self.dir.join("modes.csv");
        let rows: Vec<Row> = read_csv(&path)?;
        let r = self.truth.modes;
        let mut steps = Vec::new();
        let mut strength = vec![Vec::new(); r];
        for (i, row) in rows.iter().enumerate() {
            if row.k != i % r + 1 {
                return Err(format_err(
                    &path,
                    format!(
                        "row {}: mode {} where {} was expected",
                        i + 2,
                        row.k,
                        i % r + 1
                    ),
                ));
            }
            if row.k == 1 {
                steps.push(row.step);
            } else if steps.last() != Some(&row.step) {
                return Err(format_err(
                    &path,
                    format!("row {}: step {} breaks its block", i + 2, row.step),
                ));
            }
            strength[row.k - 1].push(row.strength);
        }
        if !rows.len().is_multiple_of(r) {
            return Err(format_err(
                &path,
                format!("{} rows is not a multiple of {r} modes", rows.len()),
            ));
        }
        let mut tokens = Vec::with_capacity(steps.len());
        let mut lr_sum = Vec::with_capacity(steps.len());
        for &st in &steps {
            let row = self.losses.iter().find(|l| l.step == st).ok_or_else(|| {
                format_err(&path, format!("step {st} is not a row of losses.csv"))
            })?;
            tokens.push(row.tokens);
            lr_sum.push(row.lr_sum);
        }
        Ok(ModeTrajectories {
            steps,
            tokens,
            lr_sum,
            lambda: self.truth.lambda.clone(),
            target: self.truth.target.clone(),
            strength,
        })
    }
}
