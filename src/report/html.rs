//! The self-contained HTML report: one file with inline CSS, inline JS and
//! inline SVG figures, that makes no request of its own (no fonts, scripts,
//! styles or images from anywhere; the favicon is an empty data URL).
//! Sections: the model summary, a sortable and filterable per-matrix table
//! (the fitter's fields appear as extra columns as soon as the report has
//! them), the per-matrix figures, and any further tables (snapshot series,
//! validation) given as [`Section`]s. Owns markup only; figures come in as
//! SVG strings. The style sheet and script live beside this file in
//! `html/report.css` and `html/report.js`, embedded with `include_str!`.

use super::doc::ReportDoc;
use serde_json::{Map, Value};
use std::io::Write;

/// HTML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table: column names and rows of JSON values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// A table from an array of objects: columns in first-seen order.
    pub fn from_objects(objects: &[Value]) -> Table {
        let mut columns: Vec<String> = Vec::new();
        for o in objects {
            if let Some(m) = o.as_object() {
                for k in m.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
        }
        let rows = objects
            .iter()
            .map(|o| {
                columns
                    .iter()
                    .map(|c| o.get(c).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect();
        Table { columns, rows }
    }
}

/// A further part of the report (snapshot series, validation, skipped
/// tensors): a title, an optional note, an optional table, figures.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Anchor id; letters, digits and `-` are kept, the rest become `-`.
    pub id: String,
    pub title: String,
    pub note: Option<String>,
    pub table: Option<Table>,
    /// (caption, SVG)
    pub figures: Vec<(String, String)>,
}

/// Every figure of one matrix.
#[derive(Debug, Clone)]
pub struct MatrixFigures {
    /// The matrix name, as in the report's `name` column.
    pub name: String,
    /// (caption, SVG)
    pub figures: Vec<(String, String)>,
}

/// Everything the page shows.
pub struct HtmlReport<'a> {
    pub doc: &'a ReportDoc,
    pub figures: Vec<MatrixFigures>,
    /// Shown in the figures section when there are none (why not).
    pub figures_note: Option<String>,
    pub sections: Vec<Section>,
}

/// The per-matrix table's leading columns, in order, when present.
const PRIMARY: &[&str] = &[
    "layer_id",
    "name",
    "status",
    "warning",
    "N",
    "M",
    "alpha",
    "xmin",
    "D",
    "sigma",
    "num_pl_spikes",
    "log_norm",
    "log_spectral_norm",
    "stable_rank",
    "entropy",
];

/// The per-matrix columns shown before "all columns" is pressed: enough
/// to read a matrix (its shape, fit, status, frontier and theory verdict)
/// in a table that fits a 1400 px window. The rest are hidden, not gone.
const SHOWN: &[&str] = &[
    "layer_id",
    "name",
    "status",
    "warning",
    "N",
    "M",
    "alpha",
    "D",
    "xmin",
    "sigma",
    "num_pl_spikes",
    "stable_rank",
    "k_star",
    "density",
    "a",
    "k_q4",
    "theory_verdict",
    "error",
];

/// Column headers that carry their meaning where the same quantity is
/// shown twice on one page from different sources: the matrices table's
/// k_* is the fitter's at this snapshot, a series table's is from the
/// matrix's one series source (`k_star_source`).
fn header_label(table: &str, column: &str, columns: &[String]) -> String {
    let has = |c: &str| columns.iter().any(|x| x == c);
    match column {
        "k_star" if table == "layers" => "k_star (fitter, this snapshot)".into(),
        "density" if table == "layers" => "density (fitter, this snapshot)".into(),
        "k_star" if has("k_star_source") => "k_star (series source)".into(),
        "density" if has("k_star_source") => "density (series source)".into(),
        "k_star_fitter" => "k_star_fitter (fitter, each snapshot)".into(),
        c => c.to_string(),
    }
}

/// Header tooltips for columns whose name alone can mislead.
const COLUMN_HELP: &[(&str, &str)] = &[
    (
        "D",
        "Kolmogorov-Smirnov distance of the power-law fit (the peer's D), not the density",
    ),
    ("N", "the larger side of the matrix"),
    ("M", "the smaller side: the number of eigenvalues"),
    ("alpha", "power-law exponent of the ESD tail"),
    ("xmin", "start of the fitted tail"),
    ("sigma", "standard error of alpha"),
    ("num_pl_spikes", "eigenvalues in the fitted tail"),
    ("stable_rank", "sum of eigenvalues over the largest"),
];

/// Columns of the foundation's rows that the table leaves out (they repeat
/// other columns, or are file bookkeeping). Any other field, such as the
/// fitter's, is shown after the primary columns.
const HIDDEN: &[&str] = &[
    "longname",
    "Q",
    "alpha_weighted",
    "has_esd",
    "lambda_max",
    "layer_type",
    "log_alpha_norm",
    "matrix_rank",
    "norm",
    "rank_loss",
    "rf",
    "spectral_norm",
    "sv_max",
    "sv_min",
    "weak_rank_loss",
    "xmax",
    "tensor",
    "rule",
    "file",
    "n_fit",
    "n_tail",
    "num_evals",
    "dtype",
    "shape",
];

/// The per-matrix table's columns for these rows: the primary ones, then
/// every other field not hidden, then `error` last.
pub fn layer_columns(layers: &[Value]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for l in layers {
        if let Some(m) = l.as_object() {
            for k in m.keys() {
                if !all.contains(k) {
                    all.push(k.clone());
                }
            }
        }
    }
    let mut cols: Vec<String> = PRIMARY
        .iter()
        .filter(|c| all.iter().any(|a| a == *c))
        .map(|c| c.to_string())
        .collect();
    for k in &all {
        if !PRIMARY.contains(&k.as_str()) && !HIDDEN.contains(&k.as_str()) && k != "error" {
            cols.push(k.clone());
        }
    }
    // `error` goes last, and only when some row has one.
    if layers
        .iter()
        .any(|l| l.get("error").is_some_and(|e| !e.is_null()))
    {
        cols.push("error".into());
    }
    cols
}

/// A cell: the shown text and the sort key (numbers sort numerically,
/// empty cells last).
fn cell(v: &Value) -> (String, String) {
    match v {
        Value::Null => ("—".into(), String::new()),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let shown = if n.is_i64() || n.is_u64() {
                n.to_string()
            } else {
                short(x)
            };
            (shown, format!("{x:e}"))
        }
        Value::String(s) => (s.clone(), s.clone()),
        Value::Bool(b) => (b.to_string(), b.to_string()),
        other => {
            let s = other.to_string();
            (s.clone(), s)
        }
    }
}

/// A table number in at most 4 significant digits (the exact value is the
/// cell's sort key and tooltip): plain between 1e-3 and 1e5, else
/// `1.23e-7`.
fn short(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        x.to_string()
    } else if x == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{x:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{e}")
    }
}

fn is_numeric_column(rows: &[Vec<Value>], i: usize) -> bool {
    rows.iter().any(|r| r[i].is_number()) && rows.iter().all(|r| r[i].is_number() || r[i].is_null())
}

fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Writes a sortable table. `link` gives the anchor a row's first text
/// column links to (the figures of that matrix).
fn write_table(
    w: &mut dyn Write,
    id: &str,
    t: &Table,
    link: &dyn Fn(usize) -> Option<String>,
) -> std::io::Result<()> {
    if id != "layers" {
        let button = columns_button(id, &t.columns);
        if !button.is_empty() {
            writeln!(w, r#"<div class="controls">{button}</div>"#)?;
        }
    }
    writeln!(
        w,
        r#"<div class="scroll"><table class="sortable" id="{}">"#,
        escape(id)
    )?;
    write!(w, "<thead><tr>")?;
    for (i, c) in t.columns.iter().enumerate() {
        let ty = if is_numeric_column(&t.rows, i) {
            "num"
        } else {
            "str"
        };
        let help = COLUMN_HELP
            .iter()
            .find(|(k, _)| k == c)
            .map_or(String::new(), |(_, h)| format!("{h}; "));
        write!(
            w,
            r#"<th data-type="{ty}" data-col="{c}"{} tabindex="0" title="{}sort by {c}">{}</th>"#,
            class_attr(id, c, i, None),
            escape(&help),
            // Headers wrap after an underscore rather than mid-word.
            escape(&header_label(id, c, &t.columns)).replace('_', "_<wbr>"),
            c = escape(c)
        )?;
    }
    writeln!(w, "</tr></thead>")?;
    writeln!(w, "<tbody>")?;
    for (r, row) in t.rows.iter().enumerate() {
        write!(w, "<tr>")?;
        for (i, v) in row.iter().enumerate() {
            let (shown, key) = cell(v);
            let class = class_attr(id, &t.columns[i], i, Some(v));
            // The exact number as a tooltip where the cell rounds it.
            let title = match v {
                Value::Number(n) if shown != n.to_string() => format!(r#" title="{n}""#),
                _ => String::new(),
            };
            let shown = escape(&shown);
            let body = match (t.columns[i].as_str(), link(r)) {
                ("name", Some(a)) => format!(r##"<a href="#{}">{shown}</a>"##, escape(&a)),
                _ => shown,
            };
            write!(
                w,
                r#"<td{class}{title} data-v="{}">{body}</td>"#,
                escape(&key)
            )?;
        }
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</tbody></table></div>")
}

/// Columns a further table (not the matrices table) shows before "all
/// columns": its first ones, enough to fit a 1400 px window.
const SHOWN_FURTHER: usize = 14;

/// Whether column `c` (the `i`-th) of table `id` starts hidden.
fn hidden_column(id: &str, c: &str, i: usize) -> bool {
    if id == "layers" {
        !SHOWN.contains(&c)
    } else {
        i >= SHOWN_FURTHER
    }
}

/// The "all columns (+N)" button of table `id`, when it hides any.
fn columns_button(id: &str, columns: &[String]) -> String {
    let hidden = columns
        .iter()
        .enumerate()
        .filter(|(i, c)| hidden_column(id, c, *i))
        .count();
    if hidden == 0 {
        return String::new();
    }
    let own_id = if id == "layers" {
        r#" id="toggle-columns""#
    } else {
        ""
    };
    format!(
        r#"<button{own_id} class="toggle-columns" type="button" data-table="{}" data-hidden="{hidden}">all columns (+{hidden})</button>"#,
        escape(id)
    )
}

/// The class attribute of a cell (`v`: its value) or header (`None`) of
/// column `c` (the `i`-th) in table `id`: `n` for numbers, `name` for the
/// sticky name column, `x` for a column hidden until "all columns".
fn class_attr(id: &str, c: &str, i: usize, v: Option<&Value>) -> String {
    let mut cls = Vec::new();
    if v.is_some_and(Value::is_number) {
        cls.push("n");
    }
    if c == "name" {
        cls.push("name");
    }
    if hidden_column(id, c, i) {
        cls.push("x");
    }
    if cls.is_empty() {
        String::new()
    } else {
        format!(r#" class="{}""#, cls.join(" "))
    }
}

fn write_kv(w: &mut dyn Write, pairs: &[(String, String)]) -> std::io::Result<()> {
    writeln!(w, r#"<table class="kv">"#)?;
    for (k, v) in pairs {
        writeln!(w, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v))?;
    }
    writeln!(w, "</table>")
}

fn scalar(v: &Value) -> String {
    cell(v).0
}

fn flatten(prefix: &str, m: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in m {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) => flatten(&key, o, out),
            Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
                out.push((key, a.iter().map(scalar).collect::<Vec<_>>().join(", ")))
            }
            Value::Array(a) => out.push((key, format!("{} entries", a.len()))),
            v => out.push((key, scalar(v))),
        }
    }
}

/// Top-level keys of an analyze report that the page shows in its own
/// sections; anything else that holds a table becomes a [`Section`].
const KNOWN_KEYS: &[&str] = &[
    "schema_version",
    "tool",
    "command",
    "input",
    "backend",
    "conventions",
    "layers",
    "summary",
    "skipped",
    "problems",
];

/// Sections for every array of objects in `value` (top level, or one level
/// down inside an object), except the keys in `skip`: how snapshot series
/// and validation tables from other commands' JSON appear in the page.
pub fn sections_from_json(title: &str, value: &Value, skip: &[&str]) -> Vec<Section> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        return out;
    };
    for (k, v) in obj {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let mut push = |name: String, arr: &Vec<Value>| {
            if !arr.is_empty() && arr.iter().all(Value::is_object) {
                let t = if title.is_empty() {
                    name.clone()
                } else {
                    format!("{title}: {name}")
                };
                out.push(Section {
                    id: anchor(&t),
                    title: t,
                    note: None,
                    table: Some(Table::from_objects(arr)),
                    figures: Vec::new(),
                });
            }
        };
        match v {
            Value::Array(a) => push(k.clone(), a),
            Value::Object(o) => {
                for (k2, v2) in o {
                    if let Value::Array(a) = v2 {
                        push(format!("{k}.{k2}"), a);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The sections an analyze report itself carries: skipped tensors,
/// file-level problems, and any table under a key this build does not
/// know (a newer report's).
pub fn report_sections(doc: &ReportDoc) -> Vec<Section> {
    let mut out = Vec::new();
    if let Some(skipped) = doc.value.get("skipped").and_then(Value::as_array)
        && !skipped.is_empty()
    {
        out.push(Section {
            id: "skipped".into(),
            title: "Skipped tensors".into(),
            note: Some("Tensors that yield no matrix, and why.".into()),
            table: Some(Table::from_objects(skipped)),
            figures: Vec::new(),
        });
    }
    if let Some(p) = doc.value.get("problems").and_then(Value::as_array)
        && !p.is_empty()
    {
        out.push(Section {
            id: "problems".into(),
            title: "Problems".into(),
            note: Some(p.iter().map(scalar).collect::<Vec<_>>().join("\n")),
            table: None,
            figures: Vec::new(),
        });
    }
    out.extend(sections_from_json("", &doc.value, KNOWN_KEYS));
    out
}

/// The page's style sheet, inlined in `<style>` after a newline.
const STYLE: &str = include_str!("html/report.css");

/// The page's script (sortable tables, the row filter, the figures
/// toggle), inlined in `<script>` after a newline.
const SCRIPT: &str = include_str!("html/report.js");

/// How many matrices' figures start expanded.
const OPEN_FIGURES: usize = 2;

/// Writes the page.
pub fn write_html(r: &HtmlReport<'_>, w: &mut dyn Write) -> std::io::Result<()> {
    let doc = r.doc;
    let v = &doc.value;
    let tool = format!(
        "{} {}",
        v.pointer("/tool/name")
            .and_then(Value::as_str)
            .unwrap_or("specscope"),
        v.pointer("/tool/version")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let input = v
        .pointer("/input/path")
        .and_then(Value::as_str)
        .unwrap_or(&doc.source);
    let layers = doc.layers();
    write_head(w, input, &tool, layers.len())?;
    write_nav(w, &r.sections)?;
    write_summary(w, doc, input, &tool)?;
    write_matrices(w, r, layers)?;
    write_figures(w, r)?;
    for s in &r.sections {
        write_section(w, s)?;
    }
    writeln!(w, "</main><script>\n{SCRIPT}</script></body></html>")
}

/// The document head (title, inline style) and the page header naming the
/// input, its matrix count and the tool.
fn write_head(w: &mut dyn Write, input: &str, tool: &str, matrices: usize) -> std::io::Result<()> {
    writeln!(w, "<!DOCTYPE html>")?;
    writeln!(w, r#"<html lang="en"><head><meta charset="utf-8">"#)?;
    writeln!(
        w,
        r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
    )?;
    writeln!(w, r#"<link rel="icon" href="data:,">"#)?;
    writeln!(w, "<title>specscope report: {}</title>", escape(input))?;
    writeln!(w, "<style>\n{STYLE}</style></head><body>")?;
    writeln!(w, "<header><h1>specscope report</h1>")?;
    writeln!(
        w,
        "<p>{} · {} matrices · {}</p></header>",
        escape(input),
        matrices,
        escape(tool)
    )
}

/// The sticky navigation bar: the three fixed sections, then one link per
/// further section; opens `<main>`.
fn write_nav(w: &mut dyn Write, sections: &[Section]) -> std::io::Result<()> {
    write!(
        w,
        r##"<nav><a href="#summary">Summary</a><a href="#matrices">Matrices</a><a href="#figures">Figures</a>"##
    )?;
    for s in sections {
        write!(
            w,
            r##"<a href="#{}">{}</a>"##,
            escape(&anchor(&s.id)),
            escape(&s.title)
        )?;
    }
    writeln!(w, "</nav><main>")
}

/// Summary: the model-level fields, then how the numbers were made.
fn write_summary(
    w: &mut dyn Write,
    doc: &ReportDoc,
    input: &str,
    tool: &str,
) -> std::io::Result<()> {
    let v = &doc.value;
    writeln!(
        w,
        r#"<section id="summary"><h2>Summary</h2><div class="cols">"#
    )?;
    let mut pairs = Vec::new();
    flatten("", doc.summary(), &mut pairs);
    // The model's k_* and density are the fitter's at this snapshot, as in
    // the matrices table (a series' values come from its own source).
    for (k, _) in &mut pairs {
        if k == "k_star" || k == "density" {
            *k = header_label("layers", k, &[]);
        }
    }
    write_kv(w, &pairs)?;
    let mut meta = vec![("input".to_string(), input.to_string())];
    if let Some(files) = v.pointer("/input/files").and_then(Value::as_array) {
        meta.push(("files".into(), files.len().to_string()));
    }
    for key in ["backend", "conventions"] {
        if let Some(o) = v.get(key).and_then(Value::as_object) {
            flatten(key, o, &mut meta);
        }
    }
    meta.push((
        "schema_version".into(),
        v.get("schema_version").map_or("—".into(), scalar),
    ));
    meta.push(("tool".into(), tool.to_string()));
    write_kv(w, &meta)?;
    writeln!(w, "</div></section>")
}

/// The per-matrix table with its filter box; each name links to the
/// matrix's figures when it has any.
fn write_matrices(w: &mut dyn Write, r: &HtmlReport<'_>, layers: &[Value]) -> std::io::Result<()> {
    writeln!(w, r#"<section id="matrices"><h2>Matrices</h2>"#)?;
    writeln!(
        w,
        r#"<div class="controls"><input id="filter" type="search" placeholder="filter rows (substring)" aria-label="filter rows"><span id="shown" class="note">{} matrices</span><span class="note">click a column header to sort</span>{}</div>"#,
        layers.len(),
        columns_button("layers", &layer_columns(layers))
    )?;
    let columns = layer_columns(layers);
    let table = Table {
        rows: layers
            .iter()
            .map(|l| {
                columns
                    .iter()
                    .map(|c| l.get(c).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect(),
        columns,
    };
    let figure_ids: std::collections::HashMap<&str, usize> = r
        .figures
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let link = |row: usize| {
        let name = ReportDoc::layer_name(&layers[row], row);
        figure_ids.get(name.as_str()).map(|i| format!("fig-{i}"))
    };
    write_table(w, "layers", &table, &link)?;
    writeln!(w, "</section>")
}

/// The per-matrix figures, one collapsible block per matrix (the first
/// [`OPEN_FIGURES`] open), or the note saying why there are none.
fn write_figures(w: &mut dyn Write, r: &HtmlReport<'_>) -> std::io::Result<()> {
    writeln!(w, r#"<section id="figures"><h2>Figures</h2>"#)?;
    if r.figures.is_empty() {
        writeln!(
            w,
            r#"<p class="note">{}</p>"#,
            escape(r.figures_note.as_deref().unwrap_or("No figures."))
        )?;
    } else {
        writeln!(
            w,
            r#"<div class="controls"><button id="toggle-figures" type="button" data-open="0">expand all</button><span class="note">{}</span></div>"#,
            escape(r.figures_note.as_deref().unwrap_or(""))
        )?;
        for (i, f) in r.figures.iter().enumerate() {
            let open = if i < OPEN_FIGURES { " open" } else { "" };
            writeln!(
                w,
                r#"<details id="fig-{i}"{open}><summary>{}</summary>"#,
                escape(&f.name)
            )?;
            for (caption, svg) in &f.figures {
                writeln!(
                    w,
                    "<figure>{svg}<figcaption>{}</figcaption></figure>",
                    escape(caption)
                )?;
            }
            writeln!(w, "</details>")?;
        }
    }
    writeln!(w, "</section>")
}

/// One further section: its note, table and figures.
fn write_section(w: &mut dyn Write, s: &Section) -> std::io::Result<()> {
    writeln!(
        w,
        r#"<section id="{}"><h2>{}</h2>"#,
        escape(&anchor(&s.id)),
        escape(&s.title)
    )?;
    if let Some(n) = &s.note {
        writeln!(w, r#"<p class="note">{}</p>"#, escape(n))?;
    }
    if let Some(t) = &s.table {
        write_table(w, &format!("table-{}", anchor(&s.id)), t, &|_| None)?;
    }
    for (caption, svg) in &s.figures {
        writeln!(
            w,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            escape(caption)
        )?;
    }
    writeln!(w, "</section>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_fields_become_columns_in_order() {
        let mut rows = vec![
            json!({"layer_id": 0, "name": "a", "alpha": 2.5, "longname": "a", "k_star": 12, "error": null, "density": 0.1}),
        ];
        // `error` only when some row has one.
        assert_eq!(
            layer_columns(&rows),
            ["layer_id", "name", "alpha", "k_star", "density"]
        );
        rows.push(json!({"layer_id": 1, "name": "b", "alpha": null, "error": "bad"}));
        assert_eq!(
            layer_columns(&rows),
            ["layer_id", "name", "alpha", "k_star", "density", "error"]
        );
    }

    #[test]
    fn numeric_cells_sort_by_value() {
        assert_eq!(cell(&json!(2.5)), ("2.5".into(), "2.5e0".into()));
        assert_eq!(cell(&json!(12)), ("12".into(), "1.2e1".into()));
        assert_eq!(cell(&Value::Null).1, "");
    }

    #[test]
    fn unknown_tables_become_sections() {
        let v = json!({"layers": [{"a": 1}], "snapshots": [{"t": 1, "k_star": 3}], "validation": {"rows": [{"x": 1}]}, "note": "x"});
        let s = sections_from_json("", &v, &["layers"]);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["snapshots", "validation.rows"]);
        assert_eq!(s[0].table.as_ref().unwrap().columns, ["t", "k_star"]);
    }

    #[test]
    fn numbers_are_short() {
        for (x, s) in [
            (2.061082254338589, "2.061"),
            (0.08719676155057368, "0.0872"),
            (1234.5678, "1235"),
            (39.77, "39.77"),
            (1.6067321423260372e-9, "1.61e-9"),
            (123456.0, "1.23e5"),
            (-0.5, "-0.5"),
        ] {
            assert_eq!(short(x), s);
        }
    }

    #[test]
    fn k_star_headers_say_their_source() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            header_label("layers", "k_star", &cols(&["k_star"])),
            "k_star (fitter, this snapshot)"
        );
        let series = cols(&["k_star", "k_star_source", "k_star_fitter"]);
        assert_eq!(
            header_label("table-compare--series", "k_star", &series),
            "k_star (series source)"
        );
        assert_eq!(
            header_label("table-compare--series", "k_star_fitter", &series),
            "k_star_fitter (fitter, each snapshot)"
        );
        assert_eq!(header_label("t", "k_star", &cols(&["k_star"])), "k_star");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
