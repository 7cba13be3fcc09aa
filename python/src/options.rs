//! From the Python keyword options to the library's options: the tensor
//! selection (regexes checked), the backend (opened once per process and
//! kind, then reused: a training loop that analyses every N steps does not
//! probe for a GPU each time), and the run settings. The names and
//! spellings are the CLI's flags (`--top-k` is `top_k`); enum values parse
//! with the CLI's own `clap::ValueEnum`, so they cannot drift apart.

use crate::SpecscopeError;
use clap::ValueEnum;
use pyo3::prelude::*;
use specscope::analysis::{DiffractLevel, Options};
use specscope::backend::{GpuContext, GpuOptions};
use specscope::load::ConvMode;
use specscope::pipeline::{Method, Preset, RunOptions, Selection};
use specscope::spectrum::KrylovOptions;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A thread pool of `threads` workers, one per count and process: with
/// `threads=` given, every parallel step of a call runs in it (the
/// pipeline's workers and the per-matrix fits alike), so a background
/// analysis takes no more cores than asked. Without it, the global pool,
/// as the CLI.
pub type Pool = Option<Arc<rayon::ThreadPool>>;
type PoolMap = HashMap<usize, Arc<rayon::ThreadPool>>;
static POOLS: Mutex<Option<PoolMap>> = Mutex::new(None);

fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let pools = pools.get_or_insert_with(HashMap::new);
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("specscope-{i}"))
        .build()
        .map_err(|e| SpecscopeError::new_err(format!("threads={threads}: {e}")))?;
    let p = Arc::new(p);
    pools.insert(threads, p.clone());
    Ok(p)
}

/// Runs `f` in the pool, or on the caller's thread with the global pool.
pub fn within<T: Send>(pool: &Pool, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// The options every command shares, as the Python layer passes them
/// (every key present; `None` where the CLI flag would be absent).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
pub struct EngineOptions {
    include: Option<String>,
    exclude: Option<String>,
    conv: String,
    preset: String,
    threads: Option<usize>,
    backend: String,
    adapter: Option<String>,
    method: String,
    top_k: usize,
    tol: f64,
    slq_probes: usize,
    slq_steps: usize,
    init: Option<PathBuf>,
    diffract: bool,
    diffract_tpl: bool,
}

/// An option's value parsed as one of the CLI's enums.
pub fn choice<T: ValueEnum>(option: &str, value: &str) -> PyResult<T> {
    T::from_str(value, false).map_err(|_| {
        let allowed: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        SpecscopeError::new_err(format!(
            "{option}={value:?}: expected one of {}",
            allowed.join(", ")
        ))
    })
}

fn positive(option: &str, v: usize) -> PyResult<usize> {
    if v == 0 {
        return Err(SpecscopeError::new_err(format!(
            "{option}=0: must be at least 1"
        )));
    }
    Ok(v)
}

impl EngineOptions {
    /// The tensor selection, with both regexes checked.
    pub fn selection(&self) -> PyResult<Selection> {
        let re = |option: &str, v: &Option<String>| -> PyResult<Option<regex::Regex>> {
            v.as_deref()
                .map(|p| {
                    regex::Regex::new(p).map_err(|e| {
                        SpecscopeError::new_err(format!("{option}={p:?} is not a valid regex: {e}"))
                    })
                })
                .transpose()
        };
        Ok(Selection {
            include: re("include", &self.include)?,
            exclude: re("exclude", &self.exclude)?,
            conv: choice::<ConvMode>("conv", &self.conv)?,
            preset: choice::<Preset>("preset", &self.preset)?,
        })
    }

    /// The analysis options on an open backend, the pool to run them in,
    /// and the notes worth logging (a GPU that `auto` could not use).
    pub fn options(&self, py: Python<'_>) -> PyResult<(Options, Pool, Vec<String>)> {
        let selection = self.selection()?;
        let threads = match self.threads {
            Some(t) => positive("threads", t)?,
            None => RunOptions::default().threads,
        };
        let method = choice::<Method>("method", &self.method)?;
        let krylov = KrylovOptions {
            top_k: positive("top_k", self.top_k)?,
            tol: self.tol,
            probes: positive("slq_probes", self.slq_probes)?,
            steps: positive("slq_steps", self.slq_steps)?,
            ..Default::default()
        };
        let mut notes = Vec::new();
        let gpu = py.detach(|| backend(&self.backend, self.adapter.as_deref(), &mut notes))?;
        if self.diffract_tpl && !self.diffract {
            return Err(SpecscopeError::new_err(
                "diffract_tpl=True needs diffract=True (as --diffract-tpl needs --diffract)",
            ));
        }
        let options = Options {
            selection,
            run: RunOptions {
                threads,
                method,
                krylov,
                gpu,
                ..RunOptions::default()
            },
            init: self.init.clone(),
            diffract: match (self.diffract, self.diffract_tpl) {
                (_, true) => DiffractLevel::Full,
                (true, false) => DiffractLevel::Null,
                (false, false) => DiffractLevel::Spectrum,
            },
        };
        let pool = self.threads.map(pool).transpose()?;
        Ok((options, pool, notes))
    }
}

/// The GPU opened for each (backend, adapter) pair, or why none was.
type Opened = Result<Arc<GpuContext>, String>;
type OpenedMap = HashMap<(bool, Option<String>), Opened>;
static OPENED: Mutex<Option<OpenedMap>> = Mutex::new(None);

/// Opens a GPU once per (allow_software, adapter) and process.
fn open_gpu(allow_software: bool, adapter: Option<&str>) -> Opened {
    let mut cache = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    let key = (allow_software, adapter.map(str::to_string));
    cache
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(|| {
            GpuContext::open(&GpuOptions {
                adapter: adapter.map(str::to_string),
                allow_software,
                ..Default::default()
            })
            .map(Arc::new)
            .map_err(|e| e.to_string())
        })
        .clone()
}

/// The backend `backend=` asks for: None is the CPU. As the CLI: `gpu`
/// accepts a software adapter and fails without one; `auto` takes a
/// hardware GPU or falls back to the CPU with a note.
fn backend(
    choice: &str,
    adapter: Option<&str>,
    notes: &mut Vec<String>,
) -> PyResult<Option<Arc<GpuContext>>> {
    match choice {
        "cpu" => {
            if let Some(a) = adapter {
                notes.push(format!(
                    "adapter={a:?} is ignored with backend=\"cpu\" (it picks a GPU adapter)"
                ));
            }
            Ok(None)
        }
        "gpu" => open_gpu(true, adapter)
            .map(Some)
            .map_err(|e| SpecscopeError::new_err(format!("backend=\"gpu\": {e}"))),
        "auto" => Ok(match open_gpu(false, adapter) {
            Ok(g) => Some(g),
            Err(e) => {
                notes.push(format!("{e}; using the CPU backend"));
                None
            }
        }),
        other => Err(SpecscopeError::new_err(format!(
            "backend={other:?}: expected one of cpu, gpu, auto"
        ))),
    }
}
