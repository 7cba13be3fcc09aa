//! `specscope inspect`: a checkpoint's tensors from their headers alone.

use super::args::Format;
use super::engine::selection;
use super::output::{emit, exit, warn_all};
use crate::load::Checkpoint;
use crate::report::{self, InspectReport};
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A .safetensors file, a directory of them, or a *.safetensors.index.json.
    pub path: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub selection: super::args::Selection,
}

pub fn run(a: InspectArgs) -> Result<u8> {
    let sel = selection(&a.selection)?;
    let ck = Checkpoint::open(&a.path)?;
    let rep = InspectReport::new(&ck, &sel);
    warn_all(&rep.problems);
    emit(&a.output, |w| match a.format {
        Format::Table => Ok(report::write_inspect_table(&rep, w)?),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &rep)?;
            writeln!(w)?;
            Ok(())
        }
        Format::Csv => Ok(report::write_csv_rows(&rep.tensors, w)?),
    })?;
    Ok(if rep.has_failures() {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}
