//! Progress reported to a Python callable: `callback("start", matrices,
//! bytes)`, `callback("done", name, bytes)` per matrix, and
//! `callback("finish")`. The engine's workers call it from their own
//! threads, each taking the interpreter only for the call; an exception in
//! the callable is printed as unraisable and the run goes on.

use pyo3::prelude::*;
use specscope::pipeline::Progress;

pub struct PyProgress {
    callback: Option<Py<PyAny>>,
}

impl PyProgress {
    pub fn new(callback: Option<Py<PyAny>>) -> PyProgress {
        PyProgress { callback }
    }

    fn call(&self, f: impl FnOnce(Python<'_>, &Py<PyAny>) -> PyResult<Py<PyAny>>) {
        let Some(cb) = &self.callback else { return };
        Python::attach(|py| {
            if let Err(e) = f(py, cb) {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        });
    }
}

impl Progress for PyProgress {
    fn start(&self, matrices: usize, bytes: u64) {
        self.call(|py, cb| cb.call1(py, ("start", matrices, bytes)));
    }

    fn matrix_done(&self, name: &str, bytes: u64) {
        self.call(|py, cb| cb.call1(py, ("done", name, bytes)));
    }

    fn finish(&self) {
        self.call(|py, cb| cb.call1(py, ("finish",)));
    }
}
