//! `specscope completions SHELL` and `specscope man [COMMAND]`: shell
//! completion scripts and roff man pages generated from the clap
//! definitions, written on standard output. Nothing here is kept by hand.

use super::Cli;
use super::output::exit;
use anyhow::{Result, bail};
use clap::CommandFactory;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A command's own page (`specscope man analyze`); without it, the
    /// page of specscope and its list of commands.
    pub command: Option<String>,
}

pub fn completions(a: CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    clap_complete::generate(a.shell, &mut cmd, "specscope", &mut w);
    w.flush()?;
    Ok(exit::SUCCESS)
}

pub fn man(a: ManArgs) -> Result<u8> {
    let cmd = Cli::command();
    let page = match &a.command {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name).cloned() else {
                let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
                bail!("no command `{name}`; commands: {}", names.join(", "));
            };
            sub.name(format!("specscope-{name}"))
        }
    };
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    clap_mangen::Man::new(page).render(&mut w)?;
    w.flush()?;
    Ok(exit::SUCCESS)
}
