//! An `analyze` report held as JSON, with its fields looked up by name.
//!
//! `check` and the HTML report read reports written by any build (older
//! ones, and newer ones whose rows carry fields this build has never heard
//! of, such as the fitter's), so they work on the JSON document rather than
//! on `LayerRow`: a fresh analysis is serialized once and read the same way
//! as a file. Owns loading and field access; knows nothing of rules or
//! HTML.

use super::AnalyzeReport;
use serde_json::{Map, Value};
use std::path::Path;

/// Why a report file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: not a specscope analyze report ({why})")]
    NotAnalyze { path: String, why: String },
}

/// A report: where it came from and its JSON.
#[derive(Debug, Clone)]
pub struct ReportDoc {
    /// The file the report was read from, or the checkpoint analysed.
    pub source: String,
    pub value: Value,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl ReportDoc {
    /// Serializes a fresh analysis.
    pub fn from_report(rep: &AnalyzeReport) -> ReportDoc {
        ReportDoc {
            source: rep.input.path.clone(),
            value: serde_json::to_value(rep).expect("the report serializes"),
        }
    }

    /// Reads an `analyze --format json` file. It must have `layers` (an
    /// array of objects) and a `summary` object; `command`, when present,
    /// must be `analyze`.
    pub fn read(path: &Path) -> Result<ReportDoc, DocError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| DocError::Read {
            path: p.clone(),
            source,
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|source| DocError::Json {
            path: p.clone(),
            source,
        })?;
        let not = |why: &str| DocError::NotAnalyze {
            path: p.clone(),
            why: why.to_string(),
        };
        let obj = value.as_object().ok_or_else(|| not("not an object"))?;
        if let Some(c) = obj.get("command")
            && c.as_str() != Some("analyze")
        {
            return Err(not(&format!("its command is {c}")));
        }
        let layers = obj
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| not("no `layers` array"))?;
        if !layers.iter().all(Value::is_object) {
            return Err(not("a `layers` entry is not an object"));
        }
        if !obj.get("summary").is_some_and(Value::is_object) {
            return Err(not("no `summary` object"));
        }
        Ok(ReportDoc { source: p, value })
    }

    /// One object per matrix, in report order.
    pub fn layers(&self) -> &[Value] {
        self.value
            .get("layers")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    pub fn summary(&self) -> &Map<String, Value> {
        self.value
            .get("summary")
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY)
    }

    /// A layer's name (`name`, else `longname`, else its index).
    pub fn layer_name(layer: &Value, index: usize) -> String {
        ["name", "longname"]
            .iter()
            .find_map(|k| layer.get(k).and_then(Value::as_str))
            .map_or_else(|| format!("#{index}"), str::to_string)
    }
}

/// What a field holds across rows, for telling a typo from a real metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// No object has the key.
    Absent,
    /// Numbers (and nulls: a failed fit, or a non-finite value).
    Numeric,
    /// Only nulls so far: numeric as far as anyone can tell.
    AllNull,
    /// Strings, booleans, arrays or objects.
    Other,
}

/// Classifies field `key` over `objects`.
pub fn field_kind<'a>(objects: impl IntoIterator<Item = &'a Value>, key: &str) -> FieldKind {
    let mut seen = false;
    let mut numeric = false;
    for o in objects {
        match o.get(key) {
            None => {}
            Some(Value::Null) => seen = true,
            Some(Value::Number(_)) => {
                seen = true;
                numeric = true;
            }
            Some(_) => return FieldKind::Other,
        }
    }
    match (seen, numeric) {
        (false, _) => FieldKind::Absent,
        (true, true) => FieldKind::Numeric,
        (true, false) => FieldKind::AllNull,
    }
}

/// A numeric field as f64; `None` for null, absent or non-numeric.
pub fn number(o: &Value, key: &str) -> Option<f64> {
    o.get(key).and_then(Value::as_f64)
}

/// The sides of one view of a matrix row (`N`, `M`; either order), as the
/// fitter and the theory take them.
pub fn row_dims(row: &Value) -> Option<crate::fit::noise::Dims> {
    let side = |k: &str| row.get(k).and_then(Value::as_u64).filter(|v| *v > 0);
    Some(crate::fit::noise::Dims::of(
        side("N")? as usize,
        side("M")? as usize,
    ))
}

/// The noise σ a row's fit took from an init snapshot (`noise_source` =
/// `init`), so a refit from the row's eigenvalues reproduces its
/// estimates; `None` when the row used the median estimate.
pub fn row_sigma_init(row: &Value) -> Option<f64> {
    (row.get("noise_source").and_then(Value::as_str) == Some("init"))
        .then(|| number(row, "noise_sigma"))
        .flatten()
}
