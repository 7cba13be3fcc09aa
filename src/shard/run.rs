//! A shard's side of a run: the settings a part records (every option
//! that changes a number, and enough to rebuild the library's options in
//! the merge), the units of a run with their estimated costs, the
//! manifest of one shard, and the part it measures (`analysis::measure_plan`
//! over its units only).

use super::assign::{Unit, assign, matrix_cost};
use super::fingerprint::{InputFingerprint, fingerprint};
use super::part::{Manifest, Num, Part};
use super::record::{EngineRecord, SnapshotRecord, records};
use super::{ShardError, ShardSpec};
use crate::analysis::{self, DiffractLevel, init::job_ranges};
use crate::compare::{CompareError, CompareOptions, Series, TimeAxis};
use crate::load::Checkpoint;
use crate::load::ConvMode;
use crate::load::quant::{Granularity, QuantSpec, Scheme};
use crate::pipeline::{Job, Method, Plan, Preset, Progress, RunOptions, Selection};
use crate::spectrum::KrylovOptions;
use crate::theory::{Keep, Request};
use clap::ValueEnum;
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every option that changes a number of the merged report; parts of one
/// run agree on all of them. Thread counts and progress are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub include: Option<String>,
    pub exclude: Option<String>,
    pub conv: String,
    pub preset: String,
    pub method: String,
    pub top_k: usize,
    pub tol: Num,
    pub slq_probes: usize,
    pub slq_steps: usize,
    /// Bytes of solver workspace in flight; also whether a matrix is small
    /// enough for Diffract's permuted null.
    pub memory_budget: u64,
    /// `spectrum`, `null` or `full` (`--diffract`, `--diffract-tpl`).
    pub diffract: String,
    pub init: Option<String>,
    /// `cpu` (f64) or `gpu` (an f32 Gram): where the spectra are computed.
    pub backend: String,
    #[serde(default)]
    pub predict: Option<PredictSettings>,
    #[serde(default)]
    pub compare: Option<CompareSettings>,
}

/// `predict`'s request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictSettings {
    pub rank: Option<usize>,
    pub sparsity: Option<Num>,
    pub bits: Option<u32>,
    pub scheme: Option<Scheme>,
    pub granularity: Option<Granularity>,
    pub group: Option<usize>,
    /// `--losses`: the loss log ΔL is calibrated on (read by the merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub losses: Option<String>,
    /// `--loss-column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_column: Option<String>,
}

/// `compare`'s options besides the analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSettings {
    /// The paths as given (a directory is expanded by `compare::series`).
    pub paths: Vec<String>,
    pub time: String,
    pub init: Option<String>,
    pub losses: Option<String>,
    /// `--loss-column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_column: Option<String>,
    pub rank: Option<usize>,
    pub b: Option<Num>,
    pub modes: bool,
    /// `--overlap K` (computed by the merge, which reads every snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<usize>,
}

fn name_of<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

fn parse<T: ValueEnum>(what: &str, s: &str) -> Result<T, ShardError> {
    T::from_str(s, false).map_err(|_| ShardError::Input(format!("unknown {what} `{s}`")))
}

fn path_str(p: &Option<PathBuf>) -> Option<String> {
    p.as_ref().map(|p| p.display().to_string())
}

impl Settings {
    /// The settings of `opts`.
    pub fn of(opts: &analysis::Options) -> Settings {
        let sel = &opts.selection;
        let k = &opts.run.krylov;
        Settings {
            include: sel.include.as_ref().map(|r| r.as_str().to_string()),
            exclude: sel.exclude.as_ref().map(|r| r.as_str().to_string()),
            conv: name_of(sel.conv),
            preset: name_of(sel.preset),
            method: opts.run.method.as_str().to_string(),
            top_k: k.top_k,
            tol: Num(k.tol),
            slq_probes: k.probes,
            slq_steps: k.steps,
            memory_budget: opts.run.memory_budget,
            diffract: match opts.diffract {
                DiffractLevel::Spectrum => "spectrum",
                DiffractLevel::Null => "null",
                DiffractLevel::Full => "full",
            }
            .into(),
            init: path_str(&opts.init),
            backend: if opts.run.gpu.is_some() { "gpu" } else { "cpu" }.into(),
            predict: None,
            compare: None,
        }
    }

    /// The analysis options these settings describe, on the CPU with
    /// `threads` threads (a merge computes no spectrum).
    pub fn options(&self, threads: usize) -> Result<analysis::Options, ShardError> {
        let re = |flag: &str, v: &Option<String>| {
            v.as_deref()
                .map(|p| {
                    Regex::new(p).map_err(|e| ShardError::Input(format!("--{flag} `{p}`: {e}")))
                })
                .transpose()
        };
        Ok(analysis::Options {
            selection: Selection {
                include: re("include", &self.include)?,
                exclude: re("exclude", &self.exclude)?,
                conv: parse::<ConvMode>("conv mode", &self.conv)?,
                preset: parse::<Preset>("preset", &self.preset)?,
            },
            run: RunOptions {
                threads: threads.max(1),
                memory_budget: self.memory_budget,
                method: parse::<Method>("method", &self.method)?,
                needs: crate::pipeline::Needs::All,
                krylov: KrylovOptions {
                    top_k: self.top_k,
                    tol: self.tol.0,
                    probes: self.slq_probes,
                    steps: self.slq_steps,
                    ..Default::default()
                },
                gpu: None,
            },
            init: self.init.as_ref().map(PathBuf::from),
            diffract: match self.diffract.as_str() {
                "null" => DiffractLevel::Null,
                "full" => DiffractLevel::Full,
                _ => DiffractLevel::Spectrum,
            },
        })
    }
}

impl PredictSettings {
    /// The request and the loss log (`--losses`, `--loss-column`).
    pub fn of(r: &Request, losses: Option<&Path>, loss_column: Option<&str>) -> PredictSettings {
        PredictSettings {
            losses: losses.map(|p| p.display().to_string()),
            loss_column: loss_column.map(str::to_string),
            rank: match r.keep {
                Some(Keep::Rank(k)) => Some(k),
                _ => None,
            },
            sparsity: match r.keep {
                Some(Keep::Sparsity(s)) => Some(Num(s)),
                _ => None,
            },
            bits: r.quant.map(|q| q.bits),
            scheme: r.quant.map(|q| q.scheme),
            granularity: r.quant.map(|q| q.granularity),
            group: r.quant.map(|q| q.group),
        }
    }

    pub fn request(&self) -> Result<Request, ShardError> {
        let keep = match (self.rank, self.sparsity) {
            (Some(r), _) => Some(Keep::Rank(r)),
            (None, Some(s)) => Some(Keep::Sparsity(s.0)),
            (None, None) => None,
        };
        let quant = match (self.bits, self.scheme, self.granularity, self.group) {
            (Some(b), Some(s), Some(g), Some(n)) => {
                Some(QuantSpec::new(b, s, g, n).map_err(|e| ShardError::Input(e.to_string()))?)
            }
            _ => None,
        };
        Ok(Request { keep, quant })
    }

    /// The loss log's first and last value, when the shards were given one.
    pub fn loss(&self) -> Result<Option<crate::predict::Loss>, ShardError> {
        self.losses
            .as_deref()
            .map(|p| crate::predict::read_loss(Path::new(p), self.loss_column.as_deref()))
            .transpose()
            .map_err(|e| ShardError::Input(e.to_string()))
    }
}

impl CompareSettings {
    pub fn of(paths: &[PathBuf], a: &CompareOptions) -> CompareSettings {
        CompareSettings {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
            time: name_of(a.time),
            init: path_str(&a.init),
            losses: path_str(&a.losses),
            loss_column: a.loss_column.clone(),
            rank: a.rank,
            b: a.b.map(Num),
            modes: a.modes,
            overlap: a.overlap,
        }
    }

    /// The paths as given, and the options.
    pub fn options(&self) -> Result<(Vec<PathBuf>, CompareOptions), ShardError> {
        let paths = self.paths.iter().map(PathBuf::from).collect();
        Ok((
            paths,
            CompareOptions {
                init: self.init.as_ref().map(PathBuf::from),
                losses: self.losses.as_ref().map(PathBuf::from),
                loss_column: self.loss_column.clone(),
                time: parse::<TimeAxis>("time axis", &self.time)?,
                rank: self.rank,
                b: self.b.map(|b| b.0),
                modes: self.modes,
                overlap: self.overlap,
            },
        ))
    }
}

/// The matrices of a plan as units.
pub fn matrix_units(plan: &Plan) -> Vec<Unit> {
    plan.jobs
        .iter()
        .enumerate()
        .map(|(index, j)| Unit {
            index,
            name: j.spec.name.clone(),
            cost: matrix_cost(&j.spec),
        })
        .collect()
}

/// A series' snapshots as units (each costs its matrices' sum), with
/// their fingerprints: every snapshot's headers are read.
pub fn snapshot_units(
    s: &Series,
    sel: &Selection,
) -> Result<(Vec<Unit>, Vec<InputFingerprint>), ShardError> {
    let mut units = Vec::new();
    let mut prints = Vec::new();
    for snap in &s.snapshots {
        let ck = Checkpoint::open(&snap.path).map_err(|source| CompareError::Load {
            path: snap.path.clone(),
            source,
        })?;
        let plan = analysis::plan_nonempty(&ck, sel).map_err(|source| CompareError::Snapshot {
            path: snap.path.clone(),
            source: Box::new(source),
        })?;
        units.push(Unit {
            index: snap.index,
            name: snap.path.display().to_string(),
            cost: plan.jobs.iter().map(|j| matrix_cost(&j.spec)).sum(),
        });
        prints.push(fingerprint(&ck)?);
    }
    Ok((units, prints))
}

/// What a `compare` shard works on: the series, the analysis options of
/// its snapshots (`compare::snapshot_options`: a run directory's own init
/// included), every snapshot as a unit, and the fingerprints (the
/// snapshots', then the init's).
pub struct SeriesPlan {
    pub series: Series,
    pub options: analysis::Options,
    pub units: Vec<Unit>,
    pub inputs: Vec<InputFingerprint>,
}

/// The [`SeriesPlan`] of `compare` under `cs`, analysed with `base`.
pub fn series_plan(
    cs: &CompareSettings,
    base: &analysis::Options,
) -> Result<SeriesPlan, ShardError> {
    let (paths, cmp) = cs.options()?;
    let series = crate::compare::series(&paths, cmp.time)?;
    let (options, _) = crate::compare::snapshot_options(&series, base, &cmp);
    let (units, mut inputs) = snapshot_units(&series, &options.selection)?;
    inputs.extend(init_fingerprint(options.init.as_deref())?);
    Ok(SeriesPlan {
        series,
        options,
        units,
        inputs,
    })
}

/// The fingerprint of an init snapshot, when there is one.
pub fn init_fingerprint(init: Option<&Path>) -> Result<Option<InputFingerprint>, ShardError> {
    init.map(|p| fingerprint(&Checkpoint::open(p)?)).transpose()
}

/// The manifest of shard `spec` of a run over `units`.
pub fn manifest_for(
    command: &str,
    inputs: Vec<InputFingerprint>,
    settings: Settings,
    units: Vec<Unit>,
    spec: ShardSpec,
) -> Manifest {
    let costs: Vec<u128> = units.iter().map(|u| u.cost).collect();
    let owner = assign(&costs, spec.count);
    Manifest {
        format: super::part::FORMAT.into(),
        version: super::part::VERSION,
        tool: Manifest::tool(),
        command: command.into(),
        shard: spec,
        inputs,
        settings,
        units: units.len(),
        assigned: units
            .into_iter()
            .zip(owner)
            .filter(|(_, s)| *s == spec.index)
            .map(|(u, _)| u)
            .collect(),
    }
}

/// What ran the spectra of a shard.
fn engine_record(run: &RunOptions) -> EngineRecord {
    EngineRecord::of(&analysis::EngineInfo {
        gpu: run.gpu.as_ref().map(|g| g.adapter.clone()),
        threads: run.threads,
        methods: Vec::new(),
        method_notes: Vec::new(),
    })
}

/// `opts` for measuring `sub`, a part of `whole`, with the same arithmetic
/// as the whole run. The pipeline hands a matrix that is alone in its plan
/// every thread (its Gram and solve run in parallel, summing in another
/// order); in a plan of several each is solved on one thread. A matrix
/// alone in its shard but not in the run is therefore solved on one
/// thread too, or its last bits would differ from the whole run's.
fn whole_run_arithmetic(opts: &analysis::Options, sub: &Plan, whole: &Plan) -> analysis::Options {
    let mut o = opts.clone();
    if sub.jobs.len() == 1 && whole.jobs.len() > 1 {
        o.run.threads = 1;
    }
    o
}

/// The assigned jobs of `plan`.
fn assigned_jobs(plan: &Plan, m: &Manifest) -> (Vec<usize>, Plan) {
    let indices: Vec<usize> = m.assigned.iter().map(|u| u.index).collect();
    let jobs: Vec<Job> = indices.iter().map(|&i| plan.jobs[i].clone()).collect();
    (
        indices,
        Plan {
            jobs,
            skipped: Vec::new(),
        },
    )
}

/// The `analyze` part of the shard `manifest` describes (the manifest of
/// [`manifest_for`] over [`matrix_units`] of `plan`).
pub fn analyze_part(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &analysis::Options,
    manifest: Manifest,
    format: &str,
    progress: &dyn Progress,
) -> Result<Part, ShardError> {
    matrix_part(ck, plan, opts, None, manifest, format, progress)
}

/// The `predict` part: as [`analyze_part`], with the weights' ranges
/// under the requested quantizer for every matrix whose spectrum was
/// computed.
pub fn predict_part(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &analysis::Options,
    request: &Request,
    manifest: Manifest,
    format: &str,
    progress: &dyn Progress,
) -> Result<Part, ShardError> {
    matrix_part(ck, plan, opts, request.quant, manifest, format, progress)
}

/// The assigned matrices measured as the whole run would, with their
/// ranges under `quant` when given.
fn matrix_part(
    ck: &Checkpoint,
    plan: &Plan,
    opts: &analysis::Options,
    quant: Option<QuantSpec>,
    manifest: Manifest,
    format: &str,
    progress: &dyn Progress,
) -> Result<Part, ShardError> {
    let (indices, sub) = assigned_jobs(plan, &manifest);
    let m = analysis::measure_plan(ck, &sub, &whole_run_arithmetic(opts, &sub, plan), progress)?;
    let quant = quant.map(|q| {
        sub.jobs
            .par_iter()
            .zip(&m.outcomes)
            .map(|(job, out)| out.evals.is_ok().then(|| job_ranges(ck, job, &q)))
            .collect()
    });
    Ok(Part {
        format: format.to_string(),
        engine: engine_record(&opts.run),
        matrices: records(&indices, &sub.jobs, m, opts.init.is_some(), quant)?,
        snapshots: Vec::new(),
        manifest,
    })
}

/// The `compare` part: every assigned snapshot measured whole, under the
/// snapshot options of the series (`compare::snapshot_options`).
pub fn compare_part(
    s: &Series,
    opts: &analysis::Options,
    manifest: Manifest,
    format: &str,
    progress: &dyn Progress,
) -> Result<Part, ShardError> {
    let mut snapshots = Vec::new();
    for u in &manifest.assigned {
        let snap = &s.snapshots[u.index];
        let ck = Checkpoint::open(&snap.path).map_err(|source| CompareError::Load {
            path: snap.path.clone(),
            source,
        })?;
        let snapshot_error = |source| CompareError::Snapshot {
            path: snap.path.clone(),
            source: Box::new(source),
        };
        let plan = analysis::plan_nonempty(&ck, &opts.selection).map_err(snapshot_error)?;
        let m = analysis::measure_plan(&ck, &plan, opts, progress).map_err(snapshot_error)?;
        let indices: Vec<usize> = (0..plan.jobs.len()).collect();
        snapshots.push(SnapshotRecord {
            index: snap.index,
            path: snap.path.display().to_string(),
            matrices: records(&indices, &plan.jobs, m, opts.init.is_some(), None)?,
        });
    }
    Ok(Part {
        format: format.to_string(),
        engine: engine_record(&opts.run),
        matrices: Vec::new(),
        snapshots,
        manifest,
    })
}
