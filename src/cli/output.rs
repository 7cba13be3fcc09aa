//! Where the commands' output goes: exit codes, the report on standard
//! output or `-o FILE`, and warnings on stderr.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

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

pub fn warn(msg: &str) {
    eprintln!("specscope: {msg}");
}

/// Each warning on its own line.
pub fn warn_all(msgs: &[String]) {
    for m in msgs {
        warn(m);
    }
}
