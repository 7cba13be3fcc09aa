//! Reports into Python values. Rows are serialised by `pythonize` from the
//! same serde structs the CLI writes as CSV and JSON, so the names, order
//! and numbers of the columns are the CLI's: a float is the same f64 (never
//! a decimal string read back; NaN and ±inf stay floats, as in the CSV),
//! an empty field is `None`.

use crate::SpecscopeError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde::Serialize;

/// Any serialisable value as a Python value (structs become dicts in
/// field order).
pub fn to_py<T: Serialize>(py: Python<'_>, v: &T) -> PyResult<Py<PyAny>> {
    pythonize::pythonize(py, v)
        .map(Bound::unbind)
        .map_err(|e| SpecscopeError::new_err(e.to_string()))
}

/// The column names of a row table, in field order (the CSV header's):
/// those of the first row, or of `empty` (a default row) for a table
/// without rows.
pub fn columns<T: Serialize>(py: Python<'_>, rows: &[T], empty: &T) -> PyResult<Py<PyAny>> {
    let row = to_py(py, rows.first().unwrap_or(empty))?;
    // Iterating a dict gives its keys, in insertion (field) order.
    let names = row.bind(py).try_iter()?.collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, names)?.into_any().unbind())
}
