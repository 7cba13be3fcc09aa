//! Plain-text tables for the terminal.

use super::fmt::fixed as num;
use super::{AnalyzeReport, InspectReport};
use std::io::Write;

pub fn write_table(r: &AnalyzeReport, mut w: impl Write) -> std::io::Result<()> {
    let width = r
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    writeln!(
        w,
        "{:>5}  {:<width$}  {:>13}  {:>7}  {:>10}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  status",
        "id", "name", "N×M", "alpha", "xmin", "D", "spikes", "log_norm", "log_spec", "st_rank"
    )?;
    for l in &r.layers {
        let status = match (&l.error, l.warning.as_str()) {
            (Some(e), _) => format!("{}: {e}", l.status),
            (None, "") => l.status.to_string(),
            (None, warn) => format!("{} ({warn})", l.status),
        };
        writeln!(
            w,
            "{:>5}  {:<width$}  {:>13}  {:>7}  {:>10}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  {status}",
            l.layer_id,
            l.name,
            format!("{}×{}", l.n, l.m),
            num(l.alpha, 3),
            num(l.xmin, 4),
            num(l.d, 3),
            l.num_pl_spikes.map_or("-".into(), |v| v.to_string()),
            num(l.log_norm, 3),
            num(l.log_spectral_norm, 3),
            num(l.stable_rank, 2),
        )?;
    }
    let s = &r.summary;
    writeln!(w)?;
    writeln!(
        w,
        "{} matrices: {} analysed, {} failed; {} tensors skipped, {} failed  [backend {} {} {}]",
        s.matrices,
        s.analysed,
        s.failed,
        s.tensors_skipped,
        s.tensors_failed,
        r.backend.name,
        r.backend.method,
        r.backend.precision
    )?;
    writeln!(
        w,
        "mean alpha {}  alpha_weighted {}  log_norm {}  log_spectral_norm {}  log_alpha_norm {}  stable_rank {}",
        num(s.alpha, 3),
        num(s.alpha_weighted, 3),
        num(s.log_norm, 3),
        num(s.log_spectral_norm, 3),
        num(s.log_alpha_norm, 3),
        num(s.stable_rank, 2)
    )?;
    Ok(())
}

pub fn write_inspect_table(r: &InspectReport, mut w: impl Write) -> std::io::Result<()> {
    let width = r
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    writeln!(
        w,
        "{:<width$}  {:<7}  {:<18}  {:<11}  {:>12}  note",
        "name", "dtype", "shape", "rule", "params"
    )?;
    for t in &r.tensors {
        writeln!(
            w,
            "{:<width$}  {:<7}  {:<18}  {:<11}  {:>12}  {}",
            t.name, t.dtype, t.shape, t.rule, t.params, t.note
        )?;
    }
    writeln!(w)?;
    writeln!(
        w,
        "{} tensors in {} file(s), {} parameters, {} matrices",
        r.tensors.len(),
        r.input.files.len(),
        r.total_params,
        r.matrices
    )?;
    Ok(())
}
