//! Running a comparison: every snapshot analysed once through `analysis`
//! (on whichever backend the options hold), the last snapshot's modes
//! followed through the earlier ones, and the report assembled; and
//! `validate`'s run of the same on a `simulate` run directory against its
//! truth.

use super::modes::ModeBasis;
use super::validate::{self, EFFECTIVE};
use super::{
    Analysed, CompareError, LossCurve, MeasuredPruning, ResetTruth, Series, Settings, SnapshotRef,
    TimeAxis, Trajectories, assemble, point_fit, read_losses, read_measured_pruning,
    read_reset_truth, series, weight_changes,
};
use crate::analysis::{self, Analysis};
use crate::load::Checkpoint;
use crate::pipeline::{self, Progress, Selection};
use crate::report::Backend;
use crate::report::series::{CompareReport, ValidateReport};
use crate::simulate::Run;
use faer::Par;
use rayon::prelude::*;
use regex::Regex;
use std::path::{Path, PathBuf};

/// `compare`'s options besides how each snapshot is analysed.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// An init snapshot for the noise σ (default: a run directory's own).
    pub init: Option<PathBuf>,
    /// A loss curve (default: a run directory's `losses.csv`).
    pub losses: Option<PathBuf>,
    /// Its loss column (default: the first of `LOSS_COLUMNS` present).
    pub loss_column: Option<String>,
    pub time: TimeAxis,
    /// k_c of the complementarity check.
    pub rank: Option<usize>,
    /// A known operator exponent b.
    pub b: Option<f64>,
    /// Match modes across snapshots (ψ).
    pub modes: bool,
    /// Singular-vector overlap of the top K vectors between consecutive
    /// snapshots and with the init (`compare::overlap`).
    pub overlap: Option<usize>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            init: None,
            losses: None,
            loss_column: None,
            time: TimeAxis::Step,
            rank: None,
            b: None,
            modes: true,
            overlap: None,
        }
    }
}

/// Everything a series needs besides the snapshots and the analysis.
struct SeriesInputs {
    losses: Option<LossCurve>,
    measured: Option<MeasuredPruning>,
    time: TimeAxis,
    rank: Option<usize>,
    b: Option<f64>,
    modes: bool,
    overlap: Option<usize>,
    min_half_time: Option<f64>,
    reset_truth: Option<ResetTruth>,
    notes: Vec<String>,
}

/// The comparison of a series as `compare` makes it, with every snapshot's
/// analysis (the last one last): a `simulate` run directory's init
/// snapshot, losses and measured compression are picked up unless the
/// options name others.
pub fn compare_series(
    s: &Series,
    analysis: &analysis::Options,
    a: &CompareOptions,
    progress: &dyn Progress,
) -> Result<(CompareReport, Vec<Analysed>), CompareError> {
    compare_series_with(s, analysis, a, progress, &analyse_snapshot)
}

/// How a snapshot's analysis is obtained: [`analyse_snapshot`] computes it;
/// a merge of `shard` parts assembles it from what the parts measured.
pub type SnapshotSource<'a> = dyn Fn(&SnapshotRef, &analysis::Options, &dyn Progress) -> Result<Analysis, CompareError>
    + Sync
    + 'a;

/// Opens a snapshot and analyses it.
pub fn analyse_snapshot(
    snap: &SnapshotRef,
    opts: &analysis::Options,
    progress: &dyn Progress,
) -> Result<Analysis, CompareError> {
    let ck = Checkpoint::open(&snap.path).map_err(|source| CompareError::Load {
        path: snap.path.clone(),
        source,
    })?;
    analysis::analyze(&ck, opts, progress).map_err(|source| CompareError::Snapshot {
        path: snap.path.clone(),
        source: Box::new(source),
    })
}

/// The analysis options of every snapshot of `s`: `analysis` with the init
/// snapshot for the noise σ (the options', else a `simulate` run
/// directory's own, with a note saying so).
pub fn snapshot_options(
    s: &Series,
    analysis: &analysis::Options,
    a: &CompareOptions,
) -> (analysis::Options, Vec<String>) {
    let mut notes = vec![];
    let init = a.init.clone().or_else(|| {
        let p = s.run_dir.as_ref()?.join("init.safetensors");
        p.is_file().then(|| {
            notes.push(format!("init: {} (the run's)", p.display()));
            p
        })
    });
    let opts = analysis::Options {
        init,
        ..analysis.clone()
    };
    (opts, notes)
}

/// [`compare_series`] with each snapshot's analysis from `source`.
pub fn compare_series_with(
    s: &Series,
    analysis: &analysis::Options,
    a: &CompareOptions,
    progress: &dyn Progress,
    source: &SnapshotSource<'_>,
) -> Result<(CompareReport, Vec<Analysed>), CompareError> {
    let (opts, notes) = snapshot_options(s, analysis, a);
    let losses_path = a.losses.clone().or_else(|| {
        let p = s.run_dir.as_ref()?.join("losses.csv");
        p.is_file().then_some(p)
    });
    let losses = losses_path
        .map(|p| read_losses(&p, a.time, a.loss_column.as_deref()))
        .transpose()?;
    let reset_truth = match &s.run_dir {
        Some(d) if d.join("lm_truth.csv").is_file() => {
            Some(read_reset_truth(&d.join("lm_truth.csv"))?)
        }
        _ => None,
    };
    let measured = match &s.run_dir {
        Some(d) if d.join("compression.csv").is_file() => Some(read_measured_pruning(
            &d.join("compression.csv"),
            &s.snapshots,
        )?),
        _ => None,
    };
    series_report(
        s,
        &opts,
        SeriesInputs {
            losses,
            measured,
            time: a.time,
            rank: a.rank,
            b: a.b,
            modes: a.modes,
            overlap: a.overlap,
            min_half_time: None,
            reset_truth,
            notes,
        },
        progress,
        source,
    )
}

/// Validation of a `simulate` run directory against its truth: the
/// effective map of each snapshot is written to a scratch directory and
/// compared like any series.
pub fn validate_run(
    dir: &Path,
    rank: Option<usize>,
    analysis: &analysis::Options,
    progress: &dyn Progress,
) -> Result<ValidateReport, CompareError> {
    let run = Run::open(dir)?;
    let scratch = tempfile::Builder::new()
        .prefix("specscope-validate-")
        .tempdir()
        .map_err(|e| CompareError::io(&std::env::temp_dir(), e))?;
    validate::write_effective(&run, scratch.path())?;
    let s = series(&[scratch.path().to_path_buf()], TimeAxis::Step)?;
    let losses = read_losses(&dir.join("losses.csv"), TimeAxis::Step, None)?;
    let measured = read_measured_pruning(&dir.join("compression.csv"), &s.snapshots)?;
    let opts = analysis::Options {
        selection: Selection {
            include: Some(Regex::new(&format!("^{EFFECTIVE}$")).expect("a fixed regex")),
            exclude: None,
            conv: crate::load::ConvMode::Pooled,
            preset: pipeline::Preset::Default,
        },
        init: Some(scratch.path().join("init.safetensors")),
        ..analysis.clone()
    };
    let (cmp, analysed) = series_report(
        &s,
        &opts,
        SeriesInputs {
            losses: Some(losses),
            measured: Some(measured),
            time: TimeAxis::Step,
            rank,
            b: None,
            modes: true,
            overlap: None,
            // The simulator's own floor for its true half-learning times.
            min_half_time: Some(crate::simulate::MIN_HALF_LEARNING_STEPS),
            reset_truth: None,
            notes: vec![
                "estimates on the effective map of each snapshot, written to a scratch directory and analysed like any checkpoint".to_string(),
            ],
        },
        progress,
        &analyse_snapshot,
    )?;
    validate::validate(&run, cmp, &analysed)
}

/// The last snapshot's mode bases, for every single-view matrix with a
/// frontier: vectors up to 0.7·k_*. A mode the ψ fit can use has saturated
/// by T/2, so it lies inside k_*(T/2) = 2^(−φ)·k_*(T), with room to spare
/// (measured: the last used mode is 0.36·k_* on the linear run, 0.6·k_* on
/// the deep-linear one, whose logistic modes saturate fast).
fn mode_bases(
    last: &Analysed,
    sel: &Selection,
    notes: &mut Vec<String>,
) -> Result<Vec<ModeBasis>, CompareError> {
    let path = &last.snapshot.path;
    let ck = Checkpoint::open(path).map_err(|source| CompareError::Load {
        path: path.clone(),
        source,
    })?;
    let plan = pipeline::plan(&ck, sel);
    let wanted: Vec<(&pipeline::Job, usize)> = plan
        .jobs
        .iter()
        .filter_map(|job| {
            let m = last.analysis.matrix(&job.spec.name)?;
            let pf = point_fit(m);
            let k = pf
                .saturation
                .as_ref()
                .ok()
                .map(|s| s.k_star.value)
                .or(pf.fitter_k_star.map(|k| k as f64))?;
            let k = (0.7 * k).ceil() as usize;
            (k >= 1).then_some((job, k))
        })
        .collect();
    let bases: Vec<(String, Result<ModeBasis, String>)> = wanted
        .par_iter()
        .map(|(job, k)| {
            (
                job.spec.name.clone(),
                ModeBasis::new(&ck, job, *k, Par::Seq).map_err(|e| e.to_string()),
            )
        })
        .collect();
    let mut ok = Vec::new();
    for (name, b) in bases {
        match b {
            Ok(b) => ok.push(b),
            Err(e) => notes.push(format!("modes of `{name}` not matched: {e}")),
        }
    }
    Ok(ok)
}

/// Every basis's strengths in one snapshot (`None` where the matrix is
/// missing or unreadable).
fn project(
    bases: &[ModeBasis],
    path: &Path,
    sel: &Selection,
) -> Result<Vec<Option<Vec<f64>>>, CompareError> {
    let ck = Checkpoint::open(path).map_err(|source| CompareError::Load {
        path: path.to_path_buf(),
        source,
    })?;
    let plan = pipeline::plan(&ck, sel);
    Ok(bases
        .par_iter()
        .map(|b| {
            let job = plan.jobs.iter().find(|j| j.spec.name == b.name)?;
            b.strengths(&ck, job).ok()
        })
        .collect())
}

/// One snapshot's analysis; a failed matrix is a note of the comparison.
fn analyse(
    snap: &SnapshotRef,
    opts: &analysis::Options,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
    source: &SnapshotSource<'_>,
) -> Result<Analysed, CompareError> {
    let analysis = source(snap, opts, progress)?;
    let failed = analysis.matrices.len() - analysis.analysed()
        + analysis.skipped.iter().filter(|s| s.failed).count()
        + analysis.problems.len();
    if failed > 0 {
        notes.push(format!("{}: {failed} matrices failed", snap.path.display()));
    }
    Ok(Analysed {
        snapshot: snap.clone(),
        analysis,
    })
}

/// The modes of the last snapshot followed through the others:
/// trajectories of the bases that every projected snapshot holds.
fn trajectories(
    bases: Vec<ModeBasis>,
    strength: Vec<Vec<Option<Vec<f64>>>>,
    projected_t: &[f64],
    notes: &mut Vec<String>,
) -> Vec<Trajectories> {
    let mut traj = Vec::new();
    for (b, mut st) in bases.into_iter().zip(strength) {
        // At the last snapshot s_k = u_kᵀ·W·v_k = ‖W·v_k‖²/σ_k = σ_k.
        st.push(Some(b.sigma.clone()));
        match st.into_iter().collect::<Option<Vec<Vec<f64>>>>() {
            Some(st) => traj.push(Trajectories {
                name: b.name.clone(),
                ranks: b.ranks.clone(),
                sigma_last: b.sigma.clone(),
                t: projected_t.to_vec(),
                strength: st,
            }),
            None => notes.push(format!(
                "modes of `{}` not matched: missing or unreadable in a snapshot",
                b.name
            )),
        }
    }
    traj
}

/// Analyses every snapshot once and assembles the comparison. The last
/// snapshot goes first (its vectors are the modes to follow); every other
/// snapshot is projected right after its analysis, while its pages are
/// still in memory.
fn series_report(
    s: &Series,
    opts: &analysis::Options,
    a: SeriesInputs,
    progress: &dyn Progress,
    source: &SnapshotSource<'_>,
) -> Result<(CompareReport, Vec<Analysed>), CompareError> {
    let run = || -> Result<(CompareReport, Vec<Analysed>), CompareError> {
        let mut notes = a.notes;
        let sel = &opts.selection;
        let (last_snap, rest) = s
            .snapshots
            .split_last()
            .ok_or_else(|| CompareError::Input("no snapshots".into()))?;
        let last = analyse(last_snap, opts, &mut notes, progress, source)?;
        let bases = if a.modes {
            mode_bases(&last, sel, &mut notes)?
        } else {
            notes.push("mode matching skipped (--no-modes): no ψ".into());
            Vec::new()
        };
        let mut analysed = Vec::with_capacity(s.snapshots.len());
        let mut strength: Vec<Vec<Option<Vec<f64>>>> = vec![Vec::new(); bases.len()];
        let mut projected_t = Vec::new();
        // The first snapshot at or past T/2 brackets the saturation test;
        // none after it is needed (`Trajectories`).
        let half = last_snap.t / 2.0;
        let bracket = rest.iter().position(|s| s.t >= half).unwrap_or(rest.len());
        for (j, snap) in rest.iter().enumerate() {
            analysed.push(analyse(snap, opts, &mut notes, progress, source)?);
            if !bases.is_empty() && j <= bracket {
                projected_t.push(snap.t);
                for (i, v) in project(&bases, &snap.path, sel)?.into_iter().enumerate() {
                    strength[i].push(v);
                }
            }
        }
        let backend = Backend::of(&last.analysis.engine);
        analysed.push(last);
        projected_t.push(last_snap.t);
        let traj = trajectories(bases, strength, &projected_t, &mut notes);
        // The weight change's W_0: the init snapshot, else the first one.
        let (reference, weight_reference) = match &opts.init {
            Some(p) => (p.clone(), format!("init {}", p.display())),
            None => {
                let p = s.snapshots[0].path.clone();
                let w = format!("first snapshot {}", p.display());
                (p, w)
            }
        };
        let weight_changes = weight_changes(&reference, &last_snap.path, sel)?;
        let settings = Settings {
            time: Some(a.time),
            order: s.order.clone(),
            noise: opts
                .init
                .as_ref()
                .map_or("median".into(), |p| format!("init {}", p.display())),
            rank: a.rank,
            b: a.b,
            min_half_time: a.min_half_time,
            backend: Some(backend),
            notes,
            weight_changes,
            weight_reference,
            reset_truth: a.reset_truth,
        };
        let mut report = assemble(
            &analysed,
            &traj,
            a.losses.as_ref(),
            a.measured.as_ref(),
            &settings,
        );
        if let Some(k) = a.overlap {
            let snaps: Vec<(&Path, f64)> = s
                .snapshots
                .iter()
                .map(|s| (s.path.as_path(), s.t))
                .collect();
            report.overlap = super::overlap::series_overlap(
                &snaps,
                opts.init.as_deref(),
                sel,
                k,
                opts.run.gpu.as_deref(),
                &mut report.notes,
            )?;
            super::overlap::fill_series(&mut report);
        }
        Ok((report, analysed))
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(opts.run.threads.max(1))
        .build()
        .map_err(|e| CompareError::Input(format!("thread pool: {e}")))?
        .install(run)
}
