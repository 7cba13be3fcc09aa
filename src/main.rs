//! The `specscope` binary: parse, run, map the result to an exit code.

use clap::Parser;
use specscope::cli::{self, Cli};
use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: the per-matrix Gram, tridiagonal
/// workspace and reflector blocks no longer fault in fresh zeroed pages
/// from the kernel for each of a checkpoint's hundreds of matrices.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("specscope: error: {e:#}");
            ExitCode::from(cli::exit::ERROR)
        }
    }
}
