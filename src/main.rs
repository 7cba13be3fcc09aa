//! The `specscope` binary: parse, run, map the result to an exit code.

use clap::Parser;
use specscope::cli::{self, args::Cli};
use std::process::ExitCode;

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
