//! The merge: reads the parts, checks that they belong to one run (same
//! tool, command, shard count, settings and inputs, and the inputs
//! unchanged since) and that every unit of the run is in exactly one part,
//! then assembles what the parts measured with the code a whole run uses:
//! `analysis::assemble_plan` per checkpoint, `predict::predict_analysis`,
//! `compare::compare_series_with`. It reads checkpoint headers to plan,
//! never weights, except `compare`'s mode matching, which follows the
//! last snapshot's singular vectors through the earlier snapshots' weights
//! as a whole run does (skipped with `--no-modes`).

use super::assign::{Unit, assign};
use super::fingerprint::{InputFingerprint, difference, fingerprint};
use super::part::{Manifest, Part};
use super::record::{EngineRecord, SnapshotRecord, measured};
use super::run::{Settings, matrix_units, snapshot_units};
use super::{ShardError, ShardSpec};
use crate::analysis::{self, Analysis};
use crate::compare::{self, Analysed, CompareError, SnapshotRef};
use crate::load::Checkpoint;
use crate::load::quant::RangeStats;
use crate::pipeline::Progress;
use crate::predict::{PredictOptions, Predicted, predict_analysis};
use crate::report::series::CompareReport;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A merged run, as the whole command would have produced it.
pub enum Merged {
    Analyze(Analysis),
    Predict(Predicted),
    Compare(CompareReport, Vec<Analysed>),
}

/// Merges the part files `paths`; `threads` for the assembly (and
/// `compare`'s mode matching), `plots`: draw `predict`'s figures. Returns
/// the merged run and the report format the first part asks for.
pub fn merge(
    paths: &[PathBuf],
    threads: usize,
    plots: bool,
    progress: &dyn Progress,
) -> Result<(Merged, String), ShardError> {
    let parts: Vec<(String, Part)> = paths
        .iter()
        .map(|p| Ok((p.display().to_string(), Part::read(p)?)))
        .collect::<Result<_, ShardError>>()?;
    let Some((first, p0)) = parts.first() else {
        return Err(ShardError::NoParts);
    };
    for (label, p) in &parts[1..] {
        agree(first, &p0.manifest, label, &p.manifest)?;
    }
    let settings = p0.manifest.settings.clone();
    let format = p0.format.clone();
    let engine = p0.engine.clone();
    let count = p0.manifest.shard.count;
    let command = p0.manifest.command.clone();
    let inputs = p0.manifest.inputs.clone();
    let opts = settings.options(threads)?;
    let merged = match command.as_str() {
        "analyze" | "predict" => {
            let ck = Checkpoint::open(Path::new(&inputs[0].path))?;
            unchanged(&ck, &inputs[0])?;
            let plan = analysis::plan_nonempty(&ck, &opts.selection)?;
            let units = matrix_units(&plan);
            let found = parts.into_iter().map(|(l, p)| (l, p.matrices));
            let records = cover("matrix", &units, count, found, |r| (r.index, &r.name))?;
            let ranges: Vec<Option<RangeStats>> = records
                .iter()
                .map(|r| r.quant_ranges.map(RangeStats::from))
                .collect();
            let m = measured(&plan.jobs, records, &engine)?;
            let an = analysis::assemble_plan(&ck, &plan, &opts, m);
            if command == "analyze" {
                Merged::Analyze(an)
            } else {
                let wanted = settings.predict.as_ref().ok_or_else(|| {
                    ShardError::Input("a predict part without its request".into())
                })?;
                let p = PredictOptions {
                    request: wanted.request()?,
                    verify: false,
                    plots,
                    loss: wanted.loss()?,
                };
                Merged::Predict(predict_analysis(&ck, &an, &opts, &p, Some(&ranges)))
            }
        }
        "compare" => merge_compare(parts, &settings, &opts, &engine, progress)?,
        other => {
            return Err(ShardError::NotPart {
                path: PathBuf::from(first),
                why: format!("unknown command `{other}`"),
            });
        }
    };
    Ok((merged, format))
}

fn merge_compare(
    parts: Vec<(String, Part)>,
    settings: &Settings,
    opts: &analysis::Options,
    engine: &EngineRecord,
    progress: &dyn Progress,
) -> Result<Merged, ShardError> {
    let cs = settings
        .compare
        .as_ref()
        .ok_or_else(|| ShardError::Input("a compare part without its options".into()))?;
    let (paths, cmp) = cs.options()?;
    let count = parts[0].1.manifest.shard.count;
    let inputs = parts[0].1.manifest.inputs.clone();
    let s = compare::series(&paths, cmp.time)?;
    let (units, prints) = snapshot_units(&s, &opts.selection)?;
    for (now, then) in prints.iter().zip(&inputs) {
        if let Some(why) = difference(then, now) {
            return Err(ShardError::Changed {
                path: PathBuf::from(&now.path),
                why,
            });
        }
    }
    let found = parts.into_iter().map(|(l, p)| (l, p.snapshots));
    let snaps = cover("snapshot", &units, count, found, |r| (r.index, &r.path))?;
    let slots: Mutex<Vec<Option<SnapshotRecord>>> =
        Mutex::new(snaps.into_iter().map(Some).collect());
    // `compare`'s snapshot sources return its (large) error type.
    #[allow(clippy::result_large_err)]
    let source = |snap: &SnapshotRef, o: &analysis::Options, _: &dyn Progress| {
        let taken = slots.lock().unwrap_or_else(|e| e.into_inner())[snap.index].take();
        let rec = taken.ok_or_else(|| {
            CompareError::Input(format!("{}: analysed twice", snap.path.display()))
        })?;
        snapshot_analysis(snap, o, rec, engine)
    };
    let (report, analysed) = compare::compare_series_with(&s, opts, &cmp, progress, &source)?;
    Ok(Merged::Compare(report, analysed))
}

/// One snapshot's analysis from its record.
#[allow(clippy::result_large_err)]
fn snapshot_analysis(
    snap: &SnapshotRef,
    opts: &analysis::Options,
    rec: SnapshotRecord,
    engine: &EngineRecord,
) -> Result<Analysis, CompareError> {
    let ck = Checkpoint::open(&snap.path).map_err(|source| CompareError::Load {
        path: snap.path.clone(),
        source,
    })?;
    let plan =
        analysis::plan_nonempty(&ck, &opts.selection).map_err(|source| CompareError::Snapshot {
            path: snap.path.clone(),
            source: Box::new(source),
        })?;
    let planned: Vec<(usize, &str)> = plan
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (i, j.spec.name.as_str()))
        .collect();
    let recorded: Vec<(usize, &str)> = rec
        .matrices
        .iter()
        .map(|r| (r.index, r.name.as_str()))
        .collect();
    if planned != recorded {
        return Err(CompareError::Input(format!(
            "{}: the part's matrices are not the snapshot's plan",
            snap.path.display()
        )));
    }
    let m = measured(&plan.jobs, rec.matrices, engine)
        .map_err(|e| CompareError::Input(e.to_string()))?;
    Ok(analysis::assemble_plan(&ck, &plan, opts, m))
}

/// The checkpoint still has the fingerprint the parts recorded.
fn unchanged(ck: &Checkpoint, then: &InputFingerprint) -> Result<(), ShardError> {
    match difference(then, &fingerprint(ck)?) {
        Some(why) => Err(ShardError::Changed {
            path: ck.root.clone(),
            why,
        }),
        None => Ok(()),
    }
}

/// Two manifests describe the same run.
fn agree(a: &str, x: &Manifest, b: &str, y: &Manifest) -> Result<(), ShardError> {
    let mismatch = |what: String, va: String, vb: String| ShardError::Mismatch {
        what,
        a: a.to_string(),
        va,
        b: b.to_string(),
        vb,
    };
    if x.tool != y.tool {
        return Err(mismatch("the tool".into(), x.tool.clone(), y.tool.clone()));
    }
    if x.command != y.command {
        return Err(mismatch(
            "the command".into(),
            x.command.clone(),
            y.command.clone(),
        ));
    }
    if x.shard.count != y.shard.count {
        return Err(mismatch(
            "the shard count".into(),
            x.shard.count.to_string(),
            y.shard.count.to_string(),
        ));
    }
    if x.settings != y.settings {
        let (key, va, vb) = first_difference(
            &serde_json::to_value(&x.settings).unwrap_or_default(),
            &serde_json::to_value(&y.settings).unwrap_or_default(),
            "",
        )
        .unwrap_or_default();
        return Err(mismatch(format!("option `{key}`"), va, vb));
    }
    if x.inputs.len() != y.inputs.len() {
        return Err(mismatch(
            "the inputs".into(),
            format!("{} checkpoints", x.inputs.len()),
            format!("{}", y.inputs.len()),
        ));
    }
    for (i, j) in x.inputs.iter().zip(&y.inputs) {
        if let Some(why) = difference(i, j) {
            return Err(mismatch("the inputs".into(), why, "the other".into()));
        }
    }
    if x.units != y.units {
        return Err(mismatch(
            "the unit count".into(),
            x.units.to_string(),
            y.units.to_string(),
        ));
    }
    Ok(())
}

/// The first key (dotted) whose values differ, with both values.
fn first_difference(a: &Value, b: &Value, prefix: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let Some(d) = first_difference(va, vb, &key) {
                    return Some(d);
                }
            }
            None
        }
        _ if a == b => None,
        _ => Some((prefix.to_string(), a.to_string(), b.to_string())),
    }
}

/// Every unit's record, in run order: each in exactly one part. `key`
/// gives a record's unit index and name.
fn cover<R>(
    kind: &str,
    units: &[Unit],
    shards: usize,
    parts: impl Iterator<Item = (String, Vec<R>)>,
    key: impl Fn(&R) -> (usize, &String),
) -> Result<Vec<R>, ShardError> {
    let describe = |u: &Unit| format!("{kind} {} `{}`", u.index, u.name);
    let mut slots: Vec<Option<(R, String)>> = (0..units.len()).map(|_| None).collect();
    for (label, records) in parts {
        for r in records {
            let (i, name) = key(&r);
            let Some(u) = units.get(i).filter(|u| u.name == *name) else {
                return Err(ShardError::Unknown {
                    path: PathBuf::from(&label),
                    unit: format!("{kind} {i} `{name}`"),
                });
            };
            if let Some((_, first)) = &slots[i] {
                return Err(ShardError::Duplicate {
                    unit: describe(u),
                    a: first.clone(),
                    b: label,
                });
            }
            slots[i] = Some((r, label.clone()));
        }
    }
    let owner = assign(&units.iter().map(|u| u.cost).collect::<Vec<_>>(), shards);
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.map(|(r, _)| r).ok_or_else(|| ShardError::Missing {
                unit: describe(&units[i]),
                shard: ShardSpec {
                    index: owner[i],
                    count: shards,
                },
            })
        })
        .collect()
}
