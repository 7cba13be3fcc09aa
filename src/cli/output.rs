//! Where the commands' output goes: exit codes, the report on standard
//! output or `-o FILE`, and warnings on stderr.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit codes (documented in `--help` and the README).
pub mod exit {
    use crate::report::series::CompareReport;
    use crate::report::{AnalyzeReport, PredictReport};

    pub const SUCCESS: u8 = 0;
    pub const VIOLATION: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const PARTIAL: u8 = 3;

    /// `analyze`'s (and a merged one's): nothing analysed, some failed,
    /// or success.
    pub fn analyze(rep: &AnalyzeReport) -> u8 {
        if rep.summary.analysed == 0 {
            ERROR
        } else if rep.has_failures() {
            PARTIAL
        } else {
            SUCCESS
        }
    }

    /// `predict`'s: nothing predicted, some failed, or success.
    pub fn predict(rep: &PredictReport) -> u8 {
        if rep.summary.predicted == 0 {
            ERROR
        } else if rep.summary.failed > 0 || !rep.problems.is_empty() {
            PARTIAL
        } else {
            SUCCESS
        }
    }

    /// `compare`'s: partial when a snapshot's matrices failed.
    pub fn compare(rep: &CompareReport) -> u8 {
        if rep.notes.iter().any(|n| n.contains("matrices failed")) {
            PARTIAL
        } else {
            SUCCESS
        }
    }
}

/// `analyze --plots DIR` (and a merged one's): each matrix's ESD, rank,
/// pruning and quantization figures; says how many it wrote.
pub fn write_matrix_plots(
    dir: &std::path::Path,
    png: bool,
    an: &crate::analysis::Analysis,
    rows: &[crate::report::LayerRow],
) -> Result<()> {
    use crate::report::plot::{self, ImageFormat};
    let format = if png {
        ImageFormat::Png
    } else {
        ImageFormat::Svg
    };
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let evals: Vec<Option<&[f64]>> = an.matrices.iter().map(|m| m.evals()).collect();
    let written = plot::write_matrix_plots(dir, format, &rows, &evals, &an.channel_ranges())?;
    wrote_figures(dir, written.len());
    Ok(())
}

/// `compare --plots DIR` (and a merged one's): D(t), k_*(t), α(t) (one
/// line per matrix, and the model's D), each matrix's ρ fit, and with
/// `--overlap K` the overlap heat maps.
pub fn write_snapshot_plots(
    r: &crate::report::series::CompareReport,
    dir: &std::path::Path,
    format: crate::report::plot::ImageFormat,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let mut written = Vec::new();
    for (name, p) in crate::report::plot::snapshot_figures(r) {
        let path = dir.join(format!("{name}.{}", format.extension()));
        p.write(&path, format)?;
        written.push(path);
    }
    Ok(written)
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  check: a rule was violated
  2  error: nothing could be analysed (bad arguments, missing path, no readable tensor),
     or check's rules file is wrong (the message gives its line)
  3  partial: the report was written, but some tensors or matrices failed";

/// Writes to `-o FILE` or standard output.
pub fn emit(
    output: &Option<PathBuf>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    match output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("{}: cannot create", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            w.flush()
                .with_context(|| format!("{}: cannot write", p.display()))?;
            drop(w);
            wrote(p, "");
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = stdout.lock();
            write(&mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

/// The table layout `flags` ask for, checked against the table's columns
/// before any work is done. The width is `COLUMNS`, else the terminal's
/// when standard output is one (and no `-o FILE`), else 100.
pub fn table_view(
    flags: &super::args::TableFlags,
    table: &'static str,
    cols: &[crate::report::table::Col],
    to_file: bool,
) -> Result<crate::report::TableView> {
    use crate::report::Columns;
    let columns = if flags.wide {
        Columns::Wide
    } else if flags.columns.is_empty() {
        Columns::Compact
    } else {
        crate::report::table::check_columns(table, cols, &flags.columns)?;
        Columns::Named(flags.columns.clone())
    };
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| (!to_file).then(terminal_width).flatten())
        .unwrap_or(100);
    Ok(crate::report::TableView { width, columns })
}

/// The width of the terminal on standard output, if it is one.
#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// One line on stderr for a file a command wrote: its name, size and
/// `detail` (`wrote report.html (1.9 MB, 40 matrices)`); `--quiet`
/// silences it.
pub fn wrote(path: &std::path::Path, detail: &str) {
    let size = std::fs::metadata(path).map_or(String::new(), |m| human_size(m.len()));
    let inner = [size.as_str(), detail]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if inner.is_empty() {
        note(&format!("wrote {}", path.display()));
    } else {
        note(&format!("wrote {} ({inner})", path.display()));
    }
}

/// One line on stderr for figures a command wrote into `dir`
/// (`wrote 56 figures to plots/`); `--quiet` silences it.
pub fn wrote_figures(dir: &std::path::Path, count: usize) {
    note(&format!(
        "wrote {} to {}",
        crate::report::fmt::plural(count, "figure", "figures"),
        dir.display()
    ));
}

/// Bytes for people: `812 B`, `12.3 kB`, `1.9 MB`, `2.4 GB` (powers of
/// 1000).
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: notes are not printed (failures and errors still are).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Something failed (a file, a tensor, a matrix): always on stderr.
pub fn warn(msg: &str) {
    eprintln!("specscope: {msg}");
}

/// Each failure on its own line.
pub fn warn_all(msgs: &[String]) {
    for m in msgs {
        warn(m);
    }
}

/// Worth knowing, but nothing failed (the backend chosen, a fallback):
/// silenced by `--quiet`.
pub fn note(msg: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("specscope: {msg}");
    }
}

/// An analysis's notes: why an init σ is missing, and why `--method auto`
/// took a partial method or fell back from it.
pub fn analysis_notes(an: &crate::analysis::Analysis) {
    note_all(&an.init_warnings);
    for m in &an.engine.method_notes {
        note(&m.line());
    }
}

/// Each note on its own line.
pub fn note_all(msgs: &[String]) {
    for m in msgs {
        note(m);
    }
}

/// The error and its causes on one line, `: `-separated, leaving out a
/// cause whose text the message before it already holds (a library error
/// that prints its source, under an anyhow context, would otherwise end
/// in `(os error 2): No such file or directory (os error 2)`).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !prev.is_empty() && prev.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        prev = text;
    }
    out
}

/// A closed standard output (`specscope analyze … | head`) ends the run
/// quietly, as it does for cat and ripgrep: the reader has what it wanted.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        let csv = c.downcast_ref::<csv::Error>().and_then(|e| match e.kind() {
            csv::ErrorKind::Io(io) => Some(io.kind()),
            _ => None,
        });
        let json = c
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        [io, csv, json]
            .into_iter()
            .flatten()
            .any(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_its_message_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("truth.json: {source}")]
        struct E {
            source: std::io::Error,
        }
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let e = anyhow::Error::new(E { source: io }).context("validate");
        assert_eq!(error_text(&e), format!("validate: truth.json: {text}"));
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(1_900_000), "1.9 MB");
    }
}
