//! Plain-text tables for the terminal: one renderer that fits a table of
//! named columns to a width (a compact default set, `--columns` or
//! `--wide`), eliding long matrix names in the middle and a long status at
//! its end, and the analyze and inspect tables built on it. Column names
//! are distinct in every human view (`ks_distance` and `density`, never
//! two `D`s); the JSON and CSV writers keep the peer's names and are not
//! touched here.

use super::fmt::fixed as num;
use super::{AnalyzeReport, InspectReport};
use std::io::Write;

/// Which columns a table shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Columns {
    /// The command's compact set, fitted to the width.
    #[default]
    Compact,
    /// Every column, at its full width.
    Wide,
    /// These columns, in this order, fitted to the width.
    Named(Vec<String>),
}

/// How a table is laid out: its width in characters and its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableView {
    pub width: usize,
    pub columns: Columns,
}

impl Default for TableView {
    fn default() -> Self {
        TableView {
            width: 100,
            columns: Columns::Compact,
        }
    }
}

/// A `--columns` name the table does not have.
#[derive(Debug, thiserror::Error)]
#[error("unknown column `{name}` for the {table} table; valid columns: {valid}")]
pub struct UnknownColumn {
    pub name: String,
    pub table: &'static str,
    pub valid: String,
}

/// One column: its `--columns` name (also its head), whether it is
/// left-aligned, and whether the compact view shows it.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub key: &'static str,
    pub left: bool,
    pub compact: bool,
}

const fn col(key: &'static str, compact: bool) -> Col {
    Col {
        key,
        left: false,
        compact,
    }
}

const fn left(key: &'static str, compact: bool) -> Col {
    Col {
        key,
        left: true,
        compact,
    }
}

/// Checks `names` against `cols` (the `--columns` list, checked before
/// any work is done).
pub fn check_columns(
    table: &'static str,
    cols: &[Col],
    names: &[String],
) -> Result<Vec<usize>, UnknownColumn> {
    names
        .iter()
        .map(|n| {
            cols.iter()
                .position(|c| c.key == n.as_str())
                .ok_or_else(|| UnknownColumn {
                    name: n.clone(),
                    table,
                    valid: cols.iter().map(|c| c.key).collect::<Vec<_>>().join(","),
                })
        })
        .collect()
}

/// Columns `s` takes on a terminal: its characters less the combining
/// marks (`b̂` is one column).
fn chars(s: &str) -> usize {
    s.chars()
        .filter(|c| !('\u{0300}'..='\u{036F}').contains(c))
        .count()
}

/// `s` cut to `w` characters by replacing its middle with `…`, keeping
/// twice as much of the end as of the start (a matrix's name ends in
/// what tells it from its neighbours: `…layer.3.attention.self.query`).
pub fn elide_middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w || w < 3 {
        return s.to_string();
    }
    let head = (w - 1) / 3;
    let tail = w - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// `s` cut to `w` characters, ending in `…`.
fn elide_end(s: &str, w: usize) -> String {
    if chars(s) <= w || w < 2 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(w - 1).collect();
    t.push('…');
    t
}

/// Writes `rows` (one cell per column of `cols`) under a head line, laid
/// out as `view` asks. In a fitted view the `name` column shrinks (elided
/// in the middle, down to 12 characters) and then a last `status` column
/// (elided at its end) until each line fits the width.
pub fn render(
    table: &'static str,
    cols: &[Col],
    rows: &[Vec<String>],
    view: &TableView,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let picked: Vec<usize> = match &view.columns {
        Columns::Compact => (0..cols.len()).filter(|&i| cols[i].compact).collect(),
        Columns::Wide => (0..cols.len()).collect(),
        Columns::Named(names) => check_columns(table, cols, names)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    };
    let mut widths: Vec<usize> = picked
        .iter()
        .map(|&i| {
            rows.iter()
                .map(|r| chars(&r[i]))
                .chain([chars(cols[i].key)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    if view.columns != Columns::Wide {
        fit(cols, &picked, &mut widths, view.width);
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut out = String::new();
        for (j, cell) in cells.enumerate() {
            let c = cols[picked[j]];
            let wd = widths[j];
            let text = if c.key == "name" {
                elide_middle(cell, wd)
            } else {
                elide_end(cell, wd)
            };
            if j > 0 {
                out.push_str("  ");
            }
            let pad = wd.saturating_sub(chars(&text));
            if c.left {
                out.push_str(&text);
                out.extend(std::iter::repeat_n(' ', pad));
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&text);
            }
        }
        out.trim_end().to_string()
    };
    writeln!(w, "{}", line(&mut picked.iter().map(|&i| cols[i].key)))?;
    for r in rows {
        writeln!(w, "{}", line(&mut picked.iter().map(|&i| r[i].as_str())))?;
    }
    Ok(())
}

/// Shrinks a last `status` column to 10 characters, then the `name`
/// column to 20, then the status to 6 and the name to 12, until the
/// columns and their two-space gaps fit `width`.
fn fit(cols: &[Col], picked: &[usize], widths: &mut [usize], width: usize) {
    let total = |ws: &[usize]| ws.iter().sum::<usize>() + 2 * ws.len().saturating_sub(1);
    let mut over = total(widths).saturating_sub(width);
    let status = picked
        .len()
        .checked_sub(1)
        .filter(|&j| cols[picked[j]].key == "status");
    let name = picked.iter().position(|&i| cols[i].key == "name");
    for (col, floor) in [(status, 10), (name, 20), (status, 6), (name, 12)] {
        if let Some(j) = col {
            let cut = over.min(widths[j].saturating_sub(floor));
            widths[j] -= cut;
            over -= cut;
        }
    }
}

/// Writes `items` joined by two spaces, starting a new line (indented by
/// `indent` spaces) before an item that would pass `width`; an item is
/// never split, so one longer than the width stands alone on its line.
pub fn write_wrapped(
    w: &mut dyn Write,
    items: &[String],
    width: usize,
    indent: usize,
) -> std::io::Result<()> {
    let mut line = String::new();
    for item in items {
        let gap = if line.trim().is_empty() { 0 } else { 2 };
        if !line.trim().is_empty() && chars(&line) + gap + chars(item) > width {
            writeln!(w, "{}", line.trim_end())?;
            line = " ".repeat(indent);
        } else if gap > 0 {
            line.push_str("  ");
        }
        line.push_str(item);
    }
    if !line.trim().is_empty() {
        writeln!(w, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `text` as words, for [`write_wrapped`] with single-space joins: the
/// words of each line are joined again by one space.
pub fn write_words(
    w: &mut dyn Write,
    text: &str,
    width: usize,
    indent: usize,
) -> std::io::Result<()> {
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.trim().is_empty() && chars(&line) + 1 + chars(word) > width {
            writeln!(w, "{}", line.trim_end())?;
            line = " ".repeat(indent);
        } else if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    writeln!(w, "{}", line.trim_end())
}

/// The width the lines around a table keep to: the view's, none for
/// `--wide`.
pub fn text_width(view: &TableView) -> usize {
    if view.columns == Columns::Wide {
        usize::MAX
    } else {
        view.width
    }
}

/// The analyze table's columns.
pub const ANALYZE_COLUMNS: &[Col] = &[
    col("id", false),
    left("name", true),
    col("N×M", true),
    col("alpha", true),
    col("xmin", false),
    col("ks_distance", false),
    col("spikes", false),
    col("log_norm", true),
    col("log_spec", false),
    col("stable_rank", false),
    col("sigma", false),
    col("b", true),
    col("k_star", true),
    col("density", true),
    left("status", true),
];

/// The predict table's columns (`kept` and the last three are
/// predicted/measured pairs; those three only when a matrix was verified).
pub const PREDICT_COLUMNS: &[Col] = &[
    left("name", true),
    col("b", false),
    col("k_star", true),
    col("density", true),
    col("rank", true),
    col("trunc_energy", false),
    col("sigma_q", false),
    col("k_q", false),
    col("err_pred", true),
    col("err_meas", true),
    col("kept", true),
    col("dl_frac", true),
    col("phase", false),
    col("shift_top", false),
    col("shift_kept", false),
    col("overlap", false),
    left("status", true),
];

/// The analyze table with the default view.
pub fn write_table(r: &AnalyzeReport, w: impl Write) -> std::io::Result<()> {
    write_table_view(r, &TableView::default(), w)
}

/// The analyze table: one line per matrix, then the run's totals.
pub fn write_table_view(
    r: &AnalyzeReport,
    view: &TableView,
    mut w: impl Write,
) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            let status = match (&l.error, l.warning.as_str()) {
                (Some(e), _) => format!("{}: {e}", l.status),
                (None, "") => l.status.to_string(),
                (None, warn) => format!("{} ({warn})", l.status),
            };
            vec![
                l.layer_id.to_string(),
                l.name.clone(),
                format!("{}×{}", l.n, l.m),
                num(l.alpha, 3),
                num(l.xmin, 4),
                num(l.d, 3),
                l.num_pl_spikes.map_or("-".into(), |v| v.to_string()),
                num(l.log_norm, 3),
                num(l.log_spectral_norm, 3),
                num(l.stable_rank, 2),
                // The peer writes a negative σ as "not defined" (a
                // spectrum of two eigenvalues); JSON and CSV keep it.
                match l.sigma {
                    Some(s) if s < 0.0 => "—".into(),
                    s => num(s, 3),
                },
                num(l.b, 3),
                l.k_star.map_or("-".into(), |k| k.to_string()),
                num(l.density, 3),
                status,
            ]
        })
        .collect();
    render("analyze", ANALYZE_COLUMNS, &rows, view, &mut w)?;
    write_totals(r, text_width(view), &mut w)
}

/// The counts, the backend and the means, wrapped to `width`.
fn write_totals(r: &AnalyzeReport, width: usize, w: &mut dyn Write) -> std::io::Result<()> {
    let s = &r.summary;
    writeln!(w)?;
    let counts = [
        format!(
            "{}: {} analysed, {} failed; {} skipped, {} failed",
            super::fmt::plural(s.matrices, "matrix", "matrices"),
            s.analysed,
            s.failed,
            super::fmt::plural(s.tensors_skipped, "tensor", "tensors"),
            s.tensors_failed
        ),
        format!(
            "[backend {} {} {}]",
            r.backend.name, r.backend.method, r.backend.precision
        ),
    ];
    write_wrapped(w, &counts, width, 2)?;
    let means = [
        format!("mean alpha {}", num(s.alpha, 3)),
        format!("alpha_weighted {}", num(s.alpha_weighted, 3)),
        format!("log_norm {}", num(s.log_norm, 3)),
        format!("log_spectral_norm {}", num(s.log_spectral_norm, 3)),
        format!("log_alpha_norm {}", num(s.log_alpha_norm, 3)),
        format!("stable_rank {}", num(s.stable_rank, 2)),
    ];
    write_wrapped(w, &means, width, 2)
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
        "{} in {} {}, {} parameters, {}",
        super::fmt::plural(r.tensors.len(), "tensor", "tensors"),
        r.input.files.len(),
        if r.input.files.len() == 1 {
            "file"
        } else {
            "files"
        },
        r.total_params,
        super::fmt::plural(r.matrices, "matrix", "matrices"),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_elided_in_the_middle() {
        assert_eq!(
            elide_middle("encoder.layer.10.attention", 11),
            "enc…tention"
        );
        assert_eq!(elide_middle("short", 11), "short");
        assert_eq!(chars(&elide_middle("abcdefghijklmnop", 12)), 12);
    }

    #[test]
    fn a_fitted_table_keeps_to_its_width_and_wide_does_not() {
        let cols = [left("name", true), col("x", true), left("status", true)];
        let rows = vec![vec![
            "model.layers.0.self_attn.q_proj.weight".to_string(),
            "1.000".to_string(),
            "success (over-trained, and a long reason)".to_string(),
        ]];
        for width in [40, 60, 100] {
            let mut out = Vec::new();
            let view = TableView {
                width,
                columns: Columns::Compact,
            };
            render("t", &cols, &rows, &view, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.lines().all(|l| chars(l) <= width), "{text}");
        }
        let mut out = Vec::new();
        let view = TableView {
            width: 40,
            columns: Columns::Wide,
        };
        render("t", &cols, &rows, &view, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("q_proj.weight  "));
    }

    #[test]
    fn an_unknown_column_names_the_valid_ones() {
        let e = check_columns("analyze", ANALYZE_COLUMNS, &["alpha".into(), "D".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown column `D`") && e.contains("ks_distance"),
            "{e}"
        );
    }
}
