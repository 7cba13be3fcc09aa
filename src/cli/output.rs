//! Where the commands' output goes: exit codes, the report on standard
//! output or `-o FILE`, and warnings on stderr.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit codes (documented in `--help` and the README).
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const VIOLATION: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const PARTIAL: u8 = 3;
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

/// Each note on its own line.
pub fn note_all(msgs: &[String]) {
    for m in msgs {
        note(m);
    }
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
