//! `specscope compare` and `specscope validate`: raw flags, one analysis
//! per snapshot through the shared `analysis` (so the backend flags
//! work), mode matching on the last snapshot, and the outputs. The
//! numerics are `crate::compare` and `crate::fit::series`.

use super::args::{AnalysisFlags, EngineArgs, Format, Selection};
use super::{AnalysisArgs, analysis, emit, exit, selection, warn};
use crate::compare::modes::ModeBasis;
use crate::compare::validate::{self, EFFECTIVE};
use crate::compare::{
    self, Analysed, LossCurve, MeasuredPruning, Settings, TimeAxis, Trajectories, point_fit,
};
use crate::load::Checkpoint;
use crate::pipeline;
use crate::report::plot::{self, Figure, ImageFormat, Series};
use crate::report::series::{CompareReport, ValidateReport};
use crate::simulate::Run;
use anyhow::{Context, Result};
use faer::Par;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The snapshots: checkpoint files or directories (one snapshot each),
    /// or one directory holding them (a `simulate` run directory included:
    /// its losses.csv, init.safetensors and compression.csv are used).
    #[arg(required = true, value_name = "PATHS|DIR")]
    pub paths: Vec<PathBuf>,
    /// A loss curve (CSV with a header): the time column named like
    /// --time (`step`, `tokens`, `lr_sum`, or `t`) and `test_loss`, `loss`
    /// or `train_loss`.
    #[arg(long, value_name = "CSV")]
    pub losses: Option<PathBuf>,
    /// The time axis: snapshot metadata `step`, `tokens` or `lr_sum`
    /// (without it, natural path order).
    #[arg(long, value_enum, default_value_t = TimeAxis::Step)]
    pub time: TimeAxis,
    /// An init snapshot: the noise σ of each matrix is its init's RMS entry.
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Keep k_c modes in the complementarity check [default: a rank near
    /// the last snapshot's k_*/4].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// A known operator exponent b (e.g. of the data covariance): ρ = φ·b
    /// and b/ψ use it instead of an estimate.
    #[arg(long, value_name = "B")]
    pub b: Option<f64>,
    /// Skip mode matching (no singular vectors, no ψ).
    #[arg(long)]
    pub no_modes: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write D(t), k_*(t), α(t) and the ρ fits into DIR (SVG; PNG with --png).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Write the --plots figures as PNG instead of SVG.
    #[arg(long, requires = "plots")]
    pub png: bool,
    #[command(flatten)]
    pub analysis: AnalysisFlags,
}

/// Output of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    Table,
    Json,
    Csv,
    /// The tables of docs/compare-and-validate.md.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// A `specscope simulate` run directory.
    pub dir: PathBuf,
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// k_c of the complementarity check [default: near the last k_*/4].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Everything a series needs besides the snapshots.
pub(super) struct SeriesArgs<'a> {
    /// How each snapshot is analysed (init σ included).
    pub analysis: AnalysisArgs<'a>,
    pub losses: Option<LossCurve>,
    pub measured: Option<MeasuredPruning>,
    pub time: TimeAxis,
    pub rank: Option<usize>,
    pub b: Option<f64>,
    pub modes: bool,
    pub min_half_time: Option<f64>,
    pub notes: Vec<String>,
}

/// The last snapshot's mode bases, for every single-view matrix with a
/// frontier: vectors up to 0.7·k_*. A mode the ψ fit can use has saturated
/// by T/2, so it lies inside k_*(T/2) = 2^(−φ)·k_*(T), with room to spare
/// (measured: the last used mode is 0.36·k_* on the linear run, 0.6·k_* on
/// the deep-linear one, whose logistic modes saturate fast).
fn mode_bases(
    last: &Analysed,
    sel: &pipeline::Selection,
    notes: &mut Vec<String>,
) -> Result<Vec<ModeBasis>> {
    let ck = Checkpoint::open(&last.snapshot.path)?;
    let plan = pipeline::plan(&ck, sel);
    let wanted: Vec<(&pipeline::Job, usize)> = plan
        .jobs
        .iter()
        .filter_map(|job| {
            let i = last.rows().iter().position(|r| r.name == job.spec.name)?;
            let pf = point_fit(&last.rows()[i], last.evals[i].as_deref());
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
    sel: &pipeline::Selection,
) -> Result<Vec<Option<Vec<f64>>>> {
    let ck = Checkpoint::open(path)?;
    let plan = pipeline::plan(&ck, sel);
    Ok(bases
        .par_iter()
        .map(|b| {
            let job = plan.jobs.iter().find(|j| j.spec.name == b.name)?;
            b.strengths(&ck, job).ok()
        })
        .collect())
}

/// Analyses every snapshot once and assembles the comparison. The last
/// snapshot goes first (its vectors are the modes to follow); every other
/// snapshot is projected right after its analysis, while its pages are
/// still in memory.
pub(super) fn series_report(
    s: &compare::Series,
    a: SeriesArgs<'_>,
) -> Result<(CompareReport, Vec<Analysed>)> {
    let run = || -> Result<(CompareReport, Vec<Analysed>)> {
        let mut backend = None;
        let mut notes = a.notes;
        let sel = selection(a.analysis.selection)?;
        let mut analyse =
            |snap: &compare::SnapshotRef, notes: &mut Vec<String>| -> Result<Analysed> {
                let (rep, outcomes) = analysis(&snap.path, &a.analysis)
                    .with_context(|| format!("snapshot {}", snap.path.display()))?;
                if rep.has_failures() {
                    notes.push(format!(
                        "{}: {} matrices failed",
                        snap.path.display(),
                        rep.summary.failed + rep.summary.tensors_failed
                    ));
                }
                backend.get_or_insert(rep.backend.clone());
                let channel_ranges = outcomes.iter().map(|o| o.channel_ranges).collect();
                Ok(Analysed {
                    snapshot: snap.clone(),
                    evals: outcomes.into_iter().map(|o| o.evals.ok()).collect(),
                    report: rep,
                    channel_ranges,
                })
            };
        let (last_snap, rest) = s.snapshots.split_last().expect("a series has snapshots");
        let last = analyse(last_snap, &mut notes)?;
        let bases = if a.modes {
            mode_bases(&last, &sel, &mut notes)?
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
            analysed.push(analyse(snap, &mut notes)?);
            if !bases.is_empty() && j <= bracket {
                projected_t.push(snap.t);
                for (i, v) in project(&bases, &snap.path, &sel)?.into_iter().enumerate() {
                    strength[i].push(v);
                }
            }
        }
        analysed.push(last);
        projected_t.push(last_snap.t);
        let mut traj = Vec::new();
        for (b, mut st) in bases.into_iter().zip(strength) {
            // At the last snapshot s_k = u_kᵀ·W·v_k = ‖W·v_k‖²/σ_k = σ_k.
            st.push(Some(b.sigma.clone()));
            match st.into_iter().collect::<Option<Vec<Vec<f64>>>>() {
                Some(st) => traj.push(Trajectories {
                    name: b.name.clone(),
                    ranks: b.ranks.clone(),
                    sigma_last: b.sigma.clone(),
                    t: projected_t.clone(),
                    strength: st,
                }),
                None => notes.push(format!(
                    "modes of `{}` not matched: missing or unreadable in a snapshot",
                    b.name
                )),
            }
        }
        let settings = Settings {
            time: Some(a.time),
            order: s.order.clone(),
            noise: a
                .analysis
                .init
                .map_or("median".into(), |p| format!("init {}", p.display())),
            rank: a.rank,
            b: a.b,
            min_half_time: a.min_half_time,
            backend,
            notes,
        };
        let report = compare::assemble(
            &analysed,
            &traj,
            a.losses.as_ref(),
            a.measured.as_ref(),
            &settings,
        );
        Ok((report, analysed))
    };
    match a.analysis.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build()
            .context("thread pool")?
            .install(run),
        None => run(),
    }
}

/// `--plots DIR`: D(t), k_*(t), α(t) (one line per matrix, and the model's
/// D), and each matrix's ρ fit.
fn write_plots(r: &CompareReport, dir: &Path, format: ImageFormat) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut written = Vec::new();
    for (name, p) in snapshot_figures(r) {
        let path = dir.join(format!("{name}.{}", format.extension()));
        Figure::Xy(p).write(&path, format)?;
        written.push(path);
    }
    Ok(written)
}

/// The snapshot figures of a comparison, each with its file stem: D(t),
/// k_*(t) and α(t) of every matrix (and D of the model), and each matrix's
/// ρ fit (k_* against t with the fitted slope φ).
pub(super) fn snapshot_figures(r: &CompareReport) -> Vec<(String, plot::XyPlot)> {
    let time = format!("t ({})", r.time);
    let names: Vec<&str> = r
        .dynamics
        .iter()
        .filter(|d| d.m.is_some())
        .map(|d| d.name.as_str())
        .collect();
    let per_matrix = |f: fn(&crate::report::series::SeriesRow) -> Option<f64>| -> Vec<Series> {
        names
            .iter()
            .map(|n| {
                Series::new(
                    *n,
                    r.series
                        .iter()
                        .filter(|s| s.name == *n)
                        .filter_map(|s| f(s).map(|v| (s.t, v))),
                )
            })
            .collect()
    };
    let mut density = per_matrix(|s| s.density);
    density.push(Series::new(
        "model",
        r.model_series
            .iter()
            .filter_map(|m| m.density.map(|d| (m.t, d))),
    ));
    let mut figs = vec![
        (
            "density",
            plot::snapshot_series("density D", &time, density, true, true),
        ),
        (
            "k_star",
            plot::snapshot_series("k*", &time, per_matrix(|s| s.k_star), true, true),
        ),
        (
            "alpha",
            plot::snapshot_series("alpha", &time, per_matrix(|s| s.alpha), true, false),
        ),
    ];
    let stems = crate::report::file_stems(names.iter().enumerate().map(|(i, n)| (*n, i)));
    let mut rho = Vec::new();
    for (d, stem) in r.dynamics.iter().filter(|d| d.m.is_some()).zip(&stems) {
        let (Some(phi), Some(b)) = (d.phi, d.b.or(d.b_spectra)) else {
            continue;
        };
        let pts: Vec<(f64, f64)> = r
            .series
            .iter()
            .filter(|s| s.name == d.name)
            .filter_map(|s| s.k_star.map(|k| (s.t, k)))
            .collect();
        let (t, k): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
        // Intercept of the fit through the window points (the slope is φ).
        let m = d.m.unwrap_or(0) as f64;
        let win: Vec<(f64, f64)> = t
            .iter()
            .zip(&k)
            .filter(|(t, k)| {
                **t > 0.0
                    && **k > crate::fit::series::FRONTIER_K_MIN
                    && **k < m * crate::fit::series::FRONTIER_MAX_FRACTION
            })
            .map(|(t, k)| (t.ln(), k.ln()))
            .collect();
        let c = win.iter().map(|(x, y)| y - phi * x).sum::<f64>() / win.len().max(1) as f64;
        let mut p = plot::rho_fit(&time, &t, &k, phi, c, b);
        p.title = format!("{}: {}", d.name, p.title);
        rho.push((format!("rho-fit.{stem}"), p));
    }
    figs.drain(..)
        .map(|(n, p)| (n.to_string(), p))
        .chain(rho)
        .collect()
}

fn image_format(png: bool) -> ImageFormat {
    if png {
        ImageFormat::Png
    } else {
        ImageFormat::Svg
    }
}

pub(super) fn run(a: CompareArgs) -> Result<u8> {
    let s = compare::series(&a.paths, a.time)?;
    let opts = CompareOptions {
        init: a.init.clone(),
        losses: a.losses.clone(),
        time: a.time,
        rank: a.rank,
        b: a.b,
        modes: !a.no_modes,
    };
    let (rep, _) = compare_series(&s, &a.analysis, &opts)?;
    if let Some(dir) = &a.plots {
        write_plots(&rep, dir, image_format(a.png))?;
    }
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(rep.write_table(w)?),
        Format::Json => rep.write_json(w),
        Format::Csv => rep.write_csv(w),
    })?;
    let failed = rep.notes.iter().any(|n| n.contains("matrices failed"));
    Ok(if failed { exit::PARTIAL } else { exit::SUCCESS })
}

/// `compare`'s options besides the analysis flags.
pub(super) struct CompareOptions {
    pub init: Option<PathBuf>,
    pub losses: Option<PathBuf>,
    pub time: TimeAxis,
    pub rank: Option<usize>,
    pub b: Option<f64>,
    pub modes: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            init: None,
            losses: None,
            time: TimeAxis::Step,
            rank: None,
            b: None,
            modes: true,
        }
    }
}

/// The comparison of a series as `compare` makes it, with every snapshot's
/// analysis (the last one last): a `simulate` run directory's init
/// snapshot, losses and measured compression are picked up unless the
/// options name others.
pub(super) fn compare_series(
    s: &compare::Series,
    flags: &AnalysisFlags,
    a: &CompareOptions,
) -> Result<(CompareReport, Vec<Analysed>)> {
    let mut notes = vec![];
    let init = a.init.clone().or_else(|| {
        let p = s.run_dir.as_ref()?.join("init.safetensors");
        p.is_file().then(|| {
            notes.push(format!("init: {} (the run's)", p.display()));
            p
        })
    });
    let losses_path = a.losses.clone().or_else(|| {
        let p = s.run_dir.as_ref()?.join("losses.csv");
        p.is_file().then_some(p)
    });
    let losses = losses_path
        .map(|p| compare::read_losses(&p, a.time))
        .transpose()?;
    let measured = match &s.run_dir {
        Some(d) if d.join("compression.csv").is_file() => Some(compare::read_measured_pruning(
            &d.join("compression.csv"),
            &s.snapshots,
        )?),
        _ => None,
    };
    series_report(
        s,
        SeriesArgs {
            analysis: AnalysisArgs::of(flags, init.as_deref()),
            losses,
            measured,
            time: a.time,
            rank: a.rank,
            b: a.b,
            modes: a.modes,
            min_half_time: None,
            notes,
        },
    )
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p =
            std::env::temp_dir().join(format!("specscope-validate-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("{}: cannot create", p.display()))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn validate_cmd(a: ValidateArgs) -> Result<u8> {
    let rep = validate_run(&a.dir, a.rank, a.threads, a.quiet, &a.engine)?;
    for n in &rep.notes {
        warn(n);
    }
    emit(&a.output, |w| match a.format {
        ValidateFormat::Table => Ok(rep.write_table(w)?),
        ValidateFormat::Json => rep.write_json(w),
        ValidateFormat::Csv => rep.write_csv(w),
        ValidateFormat::Markdown => Ok(rep.write_markdown(w)?),
    })?;
    Ok(exit::SUCCESS)
}

/// Validation of a `simulate` run directory against its truth.
pub(super) fn validate_run(
    dir: &Path,
    rank: Option<usize>,
    threads: Option<u16>,
    quiet: bool,
    engine: &EngineArgs,
) -> Result<ValidateReport> {
    let run = Run::open(dir)?;
    let scratch = Scratch::new()?;
    validate::write_effective(&run, &scratch.0)?;
    let s = compare::series(std::slice::from_ref(&scratch.0), TimeAxis::Step)?;
    let losses = compare::read_losses(&dir.join("losses.csv"), TimeAxis::Step)?;
    let measured = compare::read_measured_pruning(&dir.join("compression.csv"), &s.snapshots)?;
    let init = scratch.0.join("init.safetensors");
    let selection = Selection {
        include: Some(format!("^{EFFECTIVE}$")),
        exclude: None,
        conv: crate::load::ConvMode::Pooled,
        preset: pipeline::Preset::Default,
    };
    let (cmp, analysed) = series_report(
        &s,
        SeriesArgs {
            analysis: AnalysisArgs {
                selection: &selection,
                threads,
                quiet,
                engine,
                init: Some(&init),
            },
            losses: Some(losses),
            measured: Some(measured),
            time: TimeAxis::Step,
            rank,
            b: None,
            modes: true,
            // The simulator's own floor for its true half-learning times.
            min_half_time: Some(crate::simulate::MIN_HALF_LEARNING_STEPS),
            notes: vec![format!(
                "estimates on the effective map of each snapshot, written to a scratch directory and analysed like any checkpoint"
            )],
        },
    )?;
    let rep = validate::validate(&run, cmp, &analysed)?;
    drop(scratch);
    Ok(rep)
}
