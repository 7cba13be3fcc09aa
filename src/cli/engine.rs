//! From the shared flags to the library's options: the tensor selection
//! (regexes checked), the backend opened once per command (a GPU, or the
//! CPU with one line saying why), and the analysis options passed down to
//! every library call of the command.

use super::args::{self, BackendChoice};
use super::output::{note, warn};
use super::progress::Bar;
use crate::analysis;
use crate::backend::{GpuContext, GpuOptions};
use crate::load::Checkpoint;
use crate::pipeline::{Plan, RunOptions, Selection};
use anyhow::{Context, Result};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub fn selection(s: &args::Selection) -> Result<Selection> {
    let re = |flag: &str, v: &Option<String>| -> Result<Option<Regex>> {
        v.as_deref()
            .map(|p| Regex::new(p).with_context(|| format!("--{flag} `{p}` is not a valid regex")))
            .transpose()
    };
    Ok(Selection {
        include: re("include", &s.include)?,
        exclude: re("exclude", &s.exclude)?,
        conv: s.conv,
        preset: s.preset,
    })
}

/// Opens the GPU the arguments ask for; None: run on the CPU.
pub fn open_backend(a: &args::EngineArgs) -> Result<Option<Arc<GpuContext>>> {
    let opts = |allow_software| GpuOptions {
        adapter: a.adapter.clone(),
        allow_software,
        ..Default::default()
    };
    match a.backend {
        BackendChoice::Cpu => {
            if let Some(s) = &a.adapter {
                note(&format!(
                    "--adapter `{s}` is ignored with --backend cpu (it picks a GPU adapter)"
                ));
            }
            Ok(None)
        }
        BackendChoice::Gpu => Ok(Some(Arc::new(
            GpuContext::open(&opts(true)).context("--backend gpu")?,
        ))),
        BackendChoice::Auto => match GpuContext::open(&opts(false)) {
            Ok(c) => Ok(Some(Arc::new(c))),
            Err(e) => {
                let e = e.to_string();
                // A refused software match already says how to force it.
                let hint = if e.contains("--backend gpu") {
                    ""
                } else {
                    " (--backend gpu accepts a software adapter)"
                };
                note(&format!("{e}; using the CPU backend{hint}"));
                Ok(None)
            }
        },
    }
}

/// The plan of a checkpoint, or why there is nothing to analyse (with the
/// file problems and unreadable tensors that explain it on stderr).
pub fn planned(ck: &Checkpoint, sel: &Selection) -> Result<Plan> {
    let plan = crate::pipeline::plan(ck, sel);
    if let Err(e) = analysis::nonempty(ck, &plan) {
        for p in &ck.problems {
            warn(&p.to_string());
        }
        for s in plan.skipped.iter().filter(|s| s.failed) {
            warn(&s.reason);
        }
        return Err(e.into());
    }
    Ok(plan)
}

/// The worker threads the flags ask for (default: all cores).
pub fn threads(flags: &args::AnalysisFlags) -> usize {
    flags
        .threads
        .map_or_else(|| RunOptions::default().threads, usize::from)
}

/// The pipeline's options for the engine flags on an open backend.
pub fn run_options(
    e: &args::EngineArgs,
    threads: usize,
    gpu: Option<Arc<GpuContext>>,
) -> RunOptions {
    RunOptions {
        threads,
        method: e.method,
        krylov: crate::spectrum::KrylovOptions {
            top_k: e.top_k as usize,
            tol: e.tol,
            probes: e.slq_probes as usize,
            steps: e.slq_steps as usize,
            ..Default::default()
        },
        gpu,
        ..RunOptions::default()
    }
}

/// What a command analyses with: the tensor selection, the init snapshot,
/// the backend (opened on first use, once: a command that reads a saved
/// report never probes for a GPU) and the progress bar.
pub struct Engine<'a> {
    flags: &'a args::AnalysisFlags,
    selection: Selection,
    init: Option<PathBuf>,
    gpu: Mutex<Option<Option<Arc<GpuContext>>>>,
    pub bar: Bar,
}

impl<'a> Engine<'a> {
    /// For tensors chosen by `selection` (from [`selection`], checked
    /// before anything is opened); `init` is the init snapshot for the
    /// noise σ, if any.
    pub fn new(
        flags: &'a args::AnalysisFlags,
        selection: Selection,
        init: Option<&Path>,
    ) -> Engine<'a> {
        Engine {
            flags,
            selection,
            init: init.map(Path::to_path_buf),
            gpu: Mutex::new(None),
            bar: Bar::new(flags.quiet),
        }
    }

    /// The analysis options, with the backend opened the first time.
    pub fn options(&self) -> Result<analysis::Options> {
        let mut gpu = self.gpu.lock().unwrap_or_else(|e| e.into_inner());
        if gpu.is_none() {
            *gpu = Some(open_backend(&self.flags.engine)?);
        }
        let gpu = gpu.clone().flatten();
        Ok(analysis::Options {
            selection: self.selection.clone(),
            run: run_options(&self.flags.engine, threads(self.flags), gpu),
            init: self.init.clone(),
            diffract: match (self.flags.diffract, self.flags.diffract_tpl) {
                (_, true) => analysis::DiffractLevel::Full,
                (true, false) => analysis::DiffractLevel::Null,
                (false, false) => analysis::DiffractLevel::Spectrum,
            },
        })
    }

    pub fn threads(&self) -> usize {
        threads(self.flags)
    }
}
