//! Which files make the series, and in what order: a simulator run
//! directory, a directory of snapshots, or explicit paths; ordered by the
//! time in each snapshot's safetensors metadata (`step`, `tokens`,
//! `lr_sum`, as `simulate` writes them), else by natural path order.

use super::{CompareError, TimeAxis};
use crate::load::{Checkpoint, natural_cmp};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One snapshot of the series, with its time coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRef {
    /// Position in the ordered series, 0-based.
    pub index: usize,
    pub path: PathBuf,
    pub step: Option<u64>,
    pub tokens: Option<u64>,
    pub lr_sum: Option<f64>,
    /// The time every fit uses (the chosen axis, or the fallback).
    pub t: f64,
}

/// What the inputs expand to.
#[derive(Debug, Clone)]
pub struct Series {
    pub snapshots: Vec<SnapshotRef>,
    /// How they were ordered and what t is, in words.
    pub order: String,
    /// The simulator run directory, when the input is one (its losses,
    /// init and compression files are used when no flag names others).
    pub run_dir: Option<PathBuf>,
}

fn is_checkpoint_file(p: &Path) -> bool {
    p.is_file()
        && p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy().to_lowercase();
            n.ends_with(".safetensors") || n.ends_with(".safetensors.index.json")
        })
}

fn holds_safetensors(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .any(|e| is_checkpoint_file(&e.path()))
    })
}

/// The snapshot paths one directory stands for: `DIR/snapshots/*` for a
/// simulator run; else every sub-directory holding safetensors (one
/// sharded checkpoint each) if there are any; else every `*.safetensors`
/// file in it.
fn expand_dir(dir: &Path) -> Result<Vec<PathBuf>, CompareError> {
    let list = |d: &Path| -> Result<Vec<PathBuf>, CompareError> {
        Ok(std::fs::read_dir(d)
            .map_err(|e| CompareError::io(d, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect())
    };
    let sim = dir.join("snapshots");
    if sim.is_dir() {
        return Ok(list(&sim)?
            .into_iter()
            .filter(|p| is_checkpoint_file(p))
            .collect());
    }
    let entries = list(dir)?;
    let subdirs: Vec<PathBuf> = entries
        .iter()
        .filter(|p| p.is_dir() && holds_safetensors(p))
        .cloned()
        .collect();
    if !subdirs.is_empty() {
        return Ok(subdirs);
    }
    Ok(entries
        .into_iter()
        .filter(|p| {
            is_checkpoint_file(p)
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(".safetensors"))
        })
        .collect())
}

/// The run directory of a simulator run (it has truth.json and snapshots/).
fn run_dir_of(dir: &Path) -> Option<PathBuf> {
    (dir.join("snapshots").is_dir() && dir.join("truth.json").is_file()).then(|| dir.to_path_buf())
}

/// Time metadata of one snapshot: the first file of the checkpoint that
/// carries the keys.
/// `step`, `tokens` and `lr_sum` from a snapshot's metadata.
type TimeMeta = (Option<u64>, Option<u64>, Option<f64>);

fn metadata(path: &Path) -> Result<TimeMeta, CompareError> {
    let ck = Checkpoint::open(path).map_err(|e| CompareError::Load {
        path: path.to_path_buf(),
        source: e,
    })?;
    for f in &ck.files {
        let m = &f.metadata;
        let int = |k: &str| m.get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let step = int("step");
        let tokens = int("tokens");
        let lr_sum = m.get("lr_sum").and_then(|v| v.trim().parse::<f64>().ok());
        if step.is_some() || tokens.is_some() || lr_sum.is_some() {
            return Ok((step, tokens, lr_sum));
        }
    }
    Ok((None, None, None))
}

/// The last run of digits in a file or directory name (`step-1500` → 1500).
fn trailing_number(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_string_lossy().to_string();
    let stem = name
        .trim_end_matches(".index.json")
        .trim_end_matches(".safetensors");
    let digits: String = stem
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// Expands the inputs and orders the snapshots.
pub fn series(inputs: &[PathBuf], axis: TimeAxis) -> Result<Series, CompareError> {
    let (paths, run_dir) = match inputs {
        [one] if one.is_dir() && !holds_only_one_checkpoint(one) => {
            (expand_dir(one)?, run_dir_of(one))
        }
        _ => (inputs.to_vec(), None),
    };
    for p in &paths {
        if !p.exists() {
            return Err(CompareError::Input(format!(
                "{}: no such file",
                p.display()
            )));
        }
    }
    if paths.len() < 3 {
        return Err(CompareError::Input(format!(
            "{} snapshots; ρ and every slope over time need at least 3",
            paths.len()
        )));
    }
    let meta = paths
        .iter()
        .map(|p| metadata(p))
        .collect::<Result<Vec<_>, _>>()?;
    let key = |m: &TimeMeta| match axis {
        TimeAxis::Step => m.0.map(|v| v as f64),
        TimeAxis::Tokens => m.1.map(|v| v as f64),
        TimeAxis::LrSum => m.2,
    };
    let times: Option<Vec<f64>> = meta.iter().map(key).collect();
    let mut items: Vec<(PathBuf, TimeMeta, f64)>;
    let order;
    match times {
        Some(t) => {
            items = paths
                .into_iter()
                .zip(meta)
                .zip(t)
                .map(|((p, m), t)| (p, m, t))
                .collect();
            items.sort_by(|a, b| {
                a.2.total_cmp(&b.2)
                    .then_with(|| natural_cmp(&a.0.to_string_lossy(), &b.0.to_string_lossy()))
            });
            order = format!("by the snapshots' `{}` metadata", axis.key());
        }
        None => {
            let mut p = paths.into_iter().zip(meta).collect::<Vec<_>>();
            p.sort_by(|a, b| natural_cmp(&a.0.to_string_lossy(), &b.0.to_string_lossy()));
            let numbers: Option<Vec<u64>> = p.iter().map(|(p, _)| trailing_number(p)).collect();
            let distinct = numbers.as_ref().is_some_and(|n| {
                n.windows(2).all(|w| w[0] < w[1]) && n.first().is_some_and(|&f| f > 0)
            });
            if distinct {
                let n = numbers.unwrap();
                items = p
                    .into_iter()
                    .zip(n)
                    .map(|((p, m), n)| (p, m, n as f64))
                    .collect();
                order = format!(
                    "natural path order (no `{}` metadata in every snapshot); t = the number at the end of each name",
                    axis.key()
                );
            } else {
                items = p
                    .into_iter()
                    .enumerate()
                    .map(|(i, (p, m))| (p, m, (i + 1) as f64))
                    .collect();
                order = format!(
                    "natural path order (no `{}` metadata in every snapshot, names without increasing numbers); t = 1, 2, 3, …",
                    axis.key()
                );
            }
        }
    }
    if let Some(w) = items.windows(2).find(|w| w[0].2 == w[1].2) {
        return Err(CompareError::Input(format!(
            "{} and {} have the same time t = {}",
            w[0].0.display(),
            w[1].0.display(),
            w[0].2
        )));
    }
    Ok(Series {
        snapshots: items
            .into_iter()
            .enumerate()
            .map(|(index, (path, m, t))| SnapshotRef {
                index,
                path,
                step: m.0,
                tokens: m.1,
                lr_sum: m.2,
                t,
            })
            .collect(),
        order,
        run_dir,
    })
}

/// A directory that is itself one (sharded) checkpoint: it holds an
/// index file.
fn holds_only_one_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok()).any(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(".safetensors.index.json")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_numbers() {
        assert_eq!(
            trailing_number(Path::new("a/step-1500.safetensors")),
            Some(1500)
        );
        assert_eq!(trailing_number(Path::new("ckpt-0007")), Some(7));
        assert_eq!(trailing_number(Path::new("final.safetensors")), None);
        assert_eq!(
            trailing_number(Path::new("run2/model.safetensors.index.json")),
            None
        );
    }
}
