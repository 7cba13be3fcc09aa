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
    // The Vulkan loader complains on every adapter probe when the session
    // has no runtime directory; give it a private one (removed at exit).
    // Set before any thread starts.
    let _runtime_dir = cli::private_runtime_dir();
    // A checkpoint truncated while mapped: an error naming it, not SIGBUS.
    specscope::load::guard::install();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::from(cli::exit::SUCCESS),
        Err(e) => {
            eprintln!("specscope: error: {e:#}");
            ExitCode::from(cli::exit::ERROR)
        }
    }
}
