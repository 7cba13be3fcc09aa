//! `specscope._specscope`: the engine of the `specscope` crate for the
//! Python package. Each function takes a source (a path, or arrays read in
//! place: `source`), the CLI's options (`options`), and an optional
//! progress callable (`progress`); it releases the interpreter while the
//! engine runs and returns the report the CLI would write as JSON, as
//! Python values (`convert`), with the failures and notes the CLI would
//! print on stderr. The Python layer (`python/specscope/__init__.py`)
//! turns sources into arrays and reports into DataFrames. The console
//! script `specscope` runs the CLI itself through [`cli`].
//!
//! Errors are `specscope.SpecscopeError` carrying the library's message.

mod convert;
mod options;
mod progress;
mod source;

use options::{EngineOptions, choice, within};
use progress::PyProgress;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use source::Source;
use specscope::analysis::{self, Analysis};
use specscope::compare::{self as cmp, CompareOptions, TimeAxis};
use specscope::load::Checkpoint;
use specscope::load::quant::{DEFAULT_GROUP, Granularity, QuantSpec, Scheme};
use specscope::predict::PredictOptions;
use specscope::report::{AnalyzeReport, LayerRow, PredictRow};
use specscope::theory::{Keep, Request};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The CLI binary's allocator: the per-matrix Gram and solver workspaces
/// reuse freed pages instead of faulting in fresh ones (`src/main.rs`).
/// Only Rust's own allocations use it; Python objects do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    specscope,
    SpecscopeError,
    pyo3::exceptions::PyException,
    "An error of the specscope engine; the message is the library's (it names the file or tensor)."
);

fn error(e: impl std::fmt::Display) -> PyErr {
    SpecscopeError::new_err(e.to_string())
}

/// `{"report", "columns", "failures", "notes"}`: what the CLI writes, the
/// row table's columns, and what it prints on stderr.
fn result<'py, T: serde::Serialize>(
    py: Python<'py>,
    report: &T,
    columns: Py<PyAny>,
    failures: Vec<String>,
    notes: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("report", convert::to_py(py, report)?)?;
    out.set_item("columns", columns)?;
    out.set_item("failures", failures)?;
    out.set_item("notes", notes)?;
    Ok(out)
}

/// The checkpoint of `source` with a non-empty plan, or an error that
/// says why nothing can be analysed and lists what could not be read.
fn planned(py: Python<'_>, source: &Source, opts: &analysis::Options) -> PyResult<Checkpoint> {
    let ck = source::checkpoint(py, source)?;
    let plan = specscope::pipeline::plan(&ck, &opts.selection);
    if let Err(e) = analysis::nonempty(&ck, &plan) {
        let mut lines = vec![e.to_string()];
        lines.extend(ck.problems.iter().map(|p| p.to_string()));
        lines.extend(
            plan.skipped
                .iter()
                .filter(|s| s.failed)
                .map(|s| s.reason.clone()),
        );
        return Err(SpecscopeError::new_err(lines.join("\n")));
    }
    Ok(ck)
}

/// Analyses a source as `specscope analyze` does.
#[pyfunction]
#[pyo3(signature = (source, options, progress=None))]
fn analyze<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    options: EngineOptions,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = Source::of(source)?;
    let (opts, pool, mut notes) = options.options(py)?;
    let ck = planned(py, &source, &opts)?;
    let bar = PyProgress::new(progress);
    let an: Analysis = py
        .detach(|| within(&pool, || analysis::analyze(&ck, &opts, &bar)))
        .map_err(error)?;
    notes.extend(an.init_warnings.iter().cloned());
    let rep = AnalyzeReport::new(&an);
    let columns = convert::columns(py, &rep.layers, &LayerRow::default())?;
    result(py, &rep, columns, an.failures(), notes)
}

/// What `specscope predict` asks for, as the Python layer passes it.
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
struct PredictArgs {
    rank: Option<usize>,
    sparsity: Option<f64>,
    bits: Option<u32>,
    group: Option<usize>,
    scheme: String,
    granularity: Option<String>,
    verify: bool,
    losses: Option<PathBuf>,
    loss_column: Option<String>,
}

impl PredictArgs {
    /// The validated request, with the CLI's rules and messages.
    fn request(&self) -> PyResult<Request> {
        let keep = match (self.rank, self.sparsity) {
            (Some(_), Some(_)) => return Err(error("give rank or sparsity, not both")),
            (Some(r), None) => Some(Keep::Rank(r)),
            (None, Some(s)) if (0.0..=1.0).contains(&s) => Some(Keep::Sparsity(s)),
            (None, Some(s)) => return Err(error(format!("sparsity={s}: must be between 0 and 1"))),
            (None, None) => None,
        };
        let quant = match self.bits {
            Some(b) => {
                let granularity = match &self.granularity {
                    Some(g) => choice::<Granularity>("granularity", g)?,
                    None if self.group.is_some() => Granularity::Group,
                    None => Granularity::Channel,
                };
                if self.group.is_some() && granularity != Granularity::Group {
                    return Err(error("group needs granularity=\"group\""));
                }
                let scheme = choice::<Scheme>("scheme", &self.scheme)?;
                let group = self.group.unwrap_or(DEFAULT_GROUP);
                Some(QuantSpec::new(b, scheme, granularity, group).map_err(error)?)
            }
            None if self.group.is_some() || self.granularity.is_some() => {
                return Err(error("group and granularity need bits"));
            }
            None => None,
        };
        if keep.is_none() && quant.is_none() {
            return Err(error("give rank, sparsity or bits (or several)"));
        }
        Ok(Request { keep, quant })
    }

    /// The loss curve's first and last values, as `--losses` and
    /// `--loss-column` read them.
    fn loss(&self) -> PyResult<Option<specscope::predict::Loss>> {
        match (&self.losses, &self.loss_column) {
            (None, Some(_)) => Err(error("loss_column needs losses")),
            (None, None) => Ok(None),
            (Some(p), col) => specscope::predict::read_loss(p, col.as_deref())
                .map(Some)
                .map_err(error),
        }
    }
}

/// Predicts compression effects as `specscope predict` does.
#[pyfunction]
#[pyo3(signature = (source, options, request, progress=None))]
fn predict<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    options: EngineOptions,
    request: PredictArgs,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let req = PredictOptions {
        request: request.request()?,
        verify: request.verify,
        plots: false,
        loss: request.loss()?,
    };
    let source = Source::of(source)?;
    let (opts, pool, mut notes) = options.options(py)?;
    let ck = planned(py, &source, &opts)?;
    let bar = PyProgress::new(progress);
    let out = py
        .detach(|| {
            within(&pool, || {
                specscope::predict::predict(&ck, &opts, &req, &bar)
            })
        })
        .map_err(error)?;
    notes.extend(out.notes);
    let columns = convert::columns(py, &out.report.rows, &PredictRow::default())?;
    result(py, &out.report, columns, out.failures, notes)
}

/// What `specscope compare` asks for besides the engine options.
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
struct CompareArgs {
    losses: Option<PathBuf>,
    loss_column: Option<String>,
    time: String,
    init: Option<PathBuf>,
    rank: Option<usize>,
    b: Option<f64>,
    modes: bool,
    overlap: Option<usize>,
}

/// Compares a series of snapshots (paths, or one directory) as
/// `specscope compare` does.
#[pyfunction]
#[pyo3(signature = (paths, options, args, progress=None))]
fn compare<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    options: EngineOptions,
    args: CompareArgs,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let time = choice::<TimeAxis>("time", &args.time)?;
    let (opts, pool, mut notes) = options.options(py)?;
    let copts = CompareOptions {
        init: args.init,
        losses: args.losses,
        loss_column: args.loss_column,
        time,
        rank: args.rank,
        b: args.b,
        modes: args.modes,
        overlap: args.overlap,
    };
    let bar = PyProgress::new(progress);
    let (rep, analysed) = py
        .detach(|| {
            within(&pool, || {
                let s = cmp::series(&paths, time).map_err(|e| e.to_string())?;
                cmp::compare_series(&s, &opts, &copts, &bar).map_err(|e| e.to_string())
            })
        })
        .map_err(error)?;
    let mut failures = Vec::new();
    for x in &analysed {
        failures.extend(x.analysis.failures());
        notes.extend(x.analysis.init_warnings.iter().cloned());
    }
    let columns = match rep.series.first() {
        Some(_) => convert::columns(py, &rep.series, &rep.series[0])?,
        None => pyo3::types::PyList::empty(py).into_any().unbind(),
    };
    result(py, &rep, columns, failures, notes)
}

/// Writes arrays as one safetensors file with string metadata.
#[pyfunction]
fn write_snapshot(
    py: Python<'_>,
    path: PathBuf,
    source: &Bound<'_, PyAny>,
    metadata: BTreeMap<String, String>,
) -> PyResult<()> {
    source::write_snapshot(py, &path, &Source::of(source)?, &metadata)
}

/// (name, address) of the bytes the engine reads for each tensor of a
/// source: equal to the arrays' own data pointers when nothing was copied.
#[pyfunction]
fn buffer_addresses(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<Vec<(String, usize)>> {
    let ck = source::checkpoint(py, &Source::of(source)?)?;
    Ok(source::addresses(&ck))
}

/// Runs the command line (`argv[0]` is the program name) and returns its
/// exit code, as the `specscope` binary does.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    use clap::Parser;
    use specscope::cli::{self as c, Cli};
    let parsed = match Cli::try_parse_from(argv) {
        Ok(p) => p,
        Err(e) => {
            // Help and version go to stdout with code 0; usage errors to
            // stderr with clap's code 2, as in the binary.
            let _ = e.print();
            return e.exit_code() as u8;
        }
    };
    py.detach(|| match c::run(parsed) {
        Ok(code) => code,
        Err(e) if c::is_broken_pipe(&e) => c::exit::SUCCESS,
        Err(e) => {
            eprintln!("specscope: error: {e:#}");
            c::exit::ERROR
        }
    })
}

#[pymodule]
mod _specscope {
    #[pymodule_export]
    use super::{SpecscopeError, analyze, buffer_addresses, cli, compare, predict, write_snapshot};

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("MEMORY_ROOT", super::source::MEMORY_ROOT)?;
        Ok(())
    }
}
