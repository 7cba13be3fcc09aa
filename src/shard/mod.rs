//! Sharded runs without a coordinator: `analyze`, `predict` and `compare`
//! split into N independent parts (Slurm job arrays, Kubernetes Indexed
//! Jobs, or N shells), and a merge that checks the parts and writes the
//! report one whole run would have written.
//!
//! Owns the shard of a process (`--shard I/N`, or the scheduler's
//! variables: [`ShardSpec::resolve`]), the assignment of units to shards
//! (`assign`: matrices for `analyze` and `predict`, snapshots for
//! `compare`, balanced by estimated cost), the input fingerprint
//! (`fingerprint`), the part file (`part`: a manifest and, per unit, what
//! reading the weights produced, written atomically), and the merge
//! (`merge`). A part holds `analysis::Measured` — spectra, ranges, init σ,
//! Diffract's columns — and the merge assembles them with the same code a
//! whole run uses (`analysis::assemble_plan`, `predict::predict_analysis`,
//! `compare::compare_series_with`), so its report is the whole run's by
//! construction. Knows nothing of clap or of writing reports.

pub mod assign;
pub mod fingerprint;
mod merge;
pub mod part;
mod record;
mod run;

pub use assign::{Unit, assign, matrix_cost};
pub use merge::{Merged, merge};
pub use part::{Manifest, Part, PartPath};
pub use run::{
    CompareSettings, PredictSettings, SeriesPlan, Settings, analyze_part, compare_part,
    init_fingerprint, manifest_for, matrix_units, predict_part, series_plan, snapshot_units,
};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    /// `I/N` with 0 ≤ I < N.
    fn from_str(s: &str) -> Result<ShardSpec, ShardError> {
        let bad = || ShardError::Spec(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        ShardSpec::new(index, count).ok_or_else(bad)
    }
}

/// Where a process's shard came from, for the note that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSource {
    /// `--shard I/N`.
    Flag,
    /// `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, `SLURM_ARRAY_TASK_MIN`
    /// (and `_MAX`, `_STEP` when set).
    Slurm,
    /// `JOB_COMPLETION_INDEX` with `--shard-count` or `SPECSCOPE_SHARDS`.
    Kubernetes,
}

/// The scheduler variables read when `--shard` is absent.
pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
pub const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
pub const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
pub const SLURM_TASK_MAX: &str = "SLURM_ARRAY_TASK_MAX";
pub const SLURM_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
pub const SHARDS_VAR: &str = "SPECSCOPE_SHARDS";

impl ShardSpec {
    pub fn new(index: usize, count: usize) -> Option<ShardSpec> {
        (count >= 1 && index < count).then_some(ShardSpec { index, count })
    }

    /// The shard of this process: `flag` (`--shard`), else a Slurm array
    /// task's (`(ID − MIN)/STEP` of `COUNT`), else a Kubernetes Indexed
    /// Job's (`JOB_COMPLETION_INDEX` of `count`, the `--shard-count` flag,
    /// else `SPECSCOPE_SHARDS`); `None`: a whole run. `env` reads a
    /// variable (`std::env::var` in the binary). A variable that is set
    /// but unusable is an error naming it, never a silent whole run.
    pub fn resolve(
        flag: Option<ShardSpec>,
        count: Option<usize>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(ShardSpec, ShardSource)>, ShardError> {
        if let Some(s) = flag {
            return Ok(Some((s, ShardSource::Flag)));
        }
        if env(SLURM_TASK_ID).is_some() {
            let s = slurm(env)?;
            if let Some(c) = count.filter(|c| *c != s.count) {
                return Err(ShardError::Environment(format!(
                    "--shard-count {c} disagrees with {SLURM_TASK_COUNT}={}",
                    s.count
                )));
            }
            return Ok(Some((s, ShardSource::Slurm)));
        }
        if let Some(v) = env(K8S_INDEX) {
            let index = number(K8S_INDEX, &v)?;
            let count = match count {
                Some(c) => c,
                None => {
                    let v = env(SHARDS_VAR).ok_or_else(|| {
                        ShardError::Environment(format!(
                            "{K8S_INDEX}={index} is set but not the shard count: give --shard-count N or set {SHARDS_VAR}"
                        ))
                    })?;
                    number(SHARDS_VAR, &v)?
                }
            };
            let s = ShardSpec::new(index, count).ok_or_else(|| ShardError::Env {
                var: K8S_INDEX,
                value: v.clone(),
                why: format!("must be below the shard count {count}"),
            })?;
            return Ok(Some((s, ShardSource::Kubernetes)));
        }
        match count {
            Some(c) => Err(ShardError::Environment(format!(
                "--shard-count {c} needs {K8S_INDEX} (or a Slurm array task); give --shard I/N instead"
            ))),
            None => Ok(None),
        }
    }
}

fn number(var: &'static str, v: &str) -> Result<usize, ShardError> {
    v.trim().parse().map_err(|_| ShardError::Env {
        var,
        value: v.to_string(),
        why: "not a non-negative integer".into(),
    })
}

/// A Slurm array task's shard: arrays `MIN-MAX[:STEP]` only (a list such
/// as `--array=0,3,7` has no position to read off the task id).
fn slurm(env: &dyn Fn(&str) -> Option<String>) -> Result<ShardSpec, ShardError> {
    let get = |var: &'static str| -> Result<Option<usize>, ShardError> {
        env(var).map(|v| number(var, &v)).transpose()
    };
    let id = get(SLURM_TASK_ID)?.expect("checked by the caller");
    let count = get(SLURM_TASK_COUNT)?.ok_or_else(|| {
        ShardError::Environment(format!(
            "{SLURM_TASK_ID}={id} is set but not {SLURM_TASK_COUNT}"
        ))
    })?;
    let min = get(SLURM_TASK_MIN)?.unwrap_or(0);
    let step = get(SLURM_TASK_STEP)?.unwrap_or(1).max(1);
    let off = id.checked_sub(min).filter(|o| o % step == 0);
    let index = off.map(|o| o / step).filter(|i| *i < count);
    let max_ok = get(SLURM_TASK_MAX)?.is_none_or(|max| max == min + (count.max(1) - 1) * step);
    match index {
        Some(index) if max_ok && count >= 1 => Ok(ShardSpec { index, count }),
        _ => Err(ShardError::Environment(format!(
            "{SLURM_TASK_ID}={id} is not position I of a range array MIN-MAX[:STEP] with {SLURM_TASK_COUNT}={count}, {SLURM_TASK_MIN}={min} (a list array has no position): give --shard I/N"
        ))),
    }
}

/// Errors of sharded runs and merges; each names the flag, variable,
/// file, option or unit at fault.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("--shard `{0}`: expected I/N with 0 ≤ I < N (e.g. 2/8)")]
    Spec(String),
    #[error("{var}={value}: {why}")]
    Env {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("{0}")]
    Environment(String),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a specscope part: {why}", path.display())]
    NotPart { path: PathBuf, why: String },
    #[error("{}: {why}", path.display())]
    Stale { path: PathBuf, why: String },
    #[error("no parts to merge")]
    NoParts,
    #[error("the parts disagree on {what}: {a} has {va}, {b} has {vb}")]
    Mismatch {
        what: String,
        a: String,
        va: String,
        b: String,
        vb: String,
    },
    #[error("{unit} is in no part (it belongs to shard {shard}, whose part is missing)")]
    Missing { unit: String, shard: ShardSpec },
    #[error("{unit} is in more than one part: {a} and {b}")]
    Duplicate { unit: String, a: String, b: String },
    #[error("{}: {unit} is not a unit of this run", path.display())]
    Unknown { path: PathBuf, unit: String },
    #[error("{}: changed since the parts were written ({why})", path.display())]
    Changed { path: PathBuf, why: String },
    #[error("tensor `{tensor}`: cannot record {what}")]
    Unrecordable { tensor: String, what: String },
    #[error("{0}")]
    Input(String),
    // The library's errors, boxed: they are large, and rare here.
    #[error(transparent)]
    Load(Box<crate::load::LoadError>),
    #[error(transparent)]
    Analysis(Box<crate::analysis::AnalysisError>),
    #[error(transparent)]
    Compare(Box<crate::compare::CompareError>),
}

impl From<crate::load::LoadError> for ShardError {
    fn from(e: crate::load::LoadError) -> ShardError {
        ShardError::Load(Box::new(e))
    }
}

impl From<crate::analysis::AnalysisError> for ShardError {
    fn from(e: crate::analysis::AnalysisError) -> ShardError {
        ShardError::Analysis(Box::new(e))
    }
}

impl From<crate::compare::CompareError> for ShardError {
    fn from(e: crate::compare::CompareError) -> ShardError {
        ShardError::Compare(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn resolve(
        flag: Option<&str>,
        count: Option<usize>,
        vars: &[(&str, &str)],
    ) -> Result<Option<(ShardSpec, ShardSource)>, ShardError> {
        let flag = flag.map(|f| f.parse().unwrap());
        ShardSpec::resolve(flag, count, &env(vars))
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!(
            "2/8".parse::<ShardSpec>().unwrap(),
            ShardSpec { index: 2, count: 8 }
        );
        assert_eq!(" 0 / 1 ".parse::<ShardSpec>().unwrap().to_string(), "0/1");
        for bad in ["8/8", "1/0", "2", "a/3", "-1/3", "1/2/3"] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let r = resolve(Some("1/3"), None, &[(SLURM_TASK_ID, "0")]).unwrap();
        assert_eq!(
            r,
            Some((ShardSpec { index: 1, count: 3 }, ShardSource::Flag))
        );
    }

    #[test]
    fn slurm_range_arrays() {
        let v = [
            (SLURM_TASK_ID, "5"),
            (SLURM_TASK_COUNT, "4"),
            (SLURM_TASK_MIN, "2"),
            (SLURM_TASK_MAX, "5"),
        ];
        let r = resolve(None, None, &v).unwrap().unwrap();
        assert_eq!(r, (ShardSpec { index: 3, count: 4 }, ShardSource::Slurm));
        // --array=0-6:2 → ids 0, 2, 4, 6.
        let v = [
            (SLURM_TASK_ID, "4"),
            (SLURM_TASK_COUNT, "4"),
            (SLURM_TASK_MIN, "0"),
            (SLURM_TASK_MAX, "6"),
            (SLURM_TASK_STEP, "2"),
        ];
        assert_eq!(resolve(None, None, &v).unwrap().unwrap().0.index, 2);
    }

    #[test]
    fn slurm_list_arrays_and_bad_values_are_errors() {
        // --array=0,3,7: COUNT 3, MIN 0, MAX 7.
        let v = [
            (SLURM_TASK_ID, "3"),
            (SLURM_TASK_COUNT, "3"),
            (SLURM_TASK_MIN, "0"),
            (SLURM_TASK_MAX, "7"),
        ];
        let e = resolve(None, None, &v).unwrap_err().to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID=3") && e.contains("--shard"),
            "{e}"
        );
        let e = resolve(None, None, &[(SLURM_TASK_ID, "x")]).unwrap_err();
        assert!(e.to_string().starts_with("SLURM_ARRAY_TASK_ID=x"), "{e}");
        let e = resolve(None, None, &[(SLURM_TASK_ID, "1")]).unwrap_err();
        assert!(e.to_string().contains("SLURM_ARRAY_TASK_COUNT"), "{e}");
        let v = [(SLURM_TASK_ID, "1"), (SLURM_TASK_COUNT, "4")];
        assert!(resolve(None, Some(3), &v).is_err());
    }

    #[test]
    fn kubernetes_index_with_a_count() {
        let r = resolve(None, Some(4), &[(K8S_INDEX, "3")])
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            (ShardSpec { index: 3, count: 4 }, ShardSource::Kubernetes)
        );
        let r = resolve(None, None, &[(K8S_INDEX, "1"), (SHARDS_VAR, "2")]);
        assert_eq!(r.unwrap().unwrap().0, ShardSpec { index: 1, count: 2 });
        let e = resolve(None, None, &[(K8S_INDEX, "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--shard-count") && e.contains(SHARDS_VAR), "{e}");
        let e = resolve(None, Some(2), &[(K8S_INDEX, "2")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("JOB_COMPLETION_INDEX=2"), "{e}");
    }

    #[test]
    fn no_variables_is_a_whole_run() {
        assert!(resolve(None, None, &[]).unwrap().is_none());
        assert!(resolve(None, Some(4), &[]).is_err());
    }
}
