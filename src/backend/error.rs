//! Errors of the backend layer. A GPU failure is always one of these, never
//! a zeroed or partial result: validation, out-of-memory and internal
//! errors are caught with error scopes around every submission, a lost
//! device is remembered by its callback, and results are checked.

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum BackendError {
    #[error("no GPU adapter: {reason}")]
    NoAdapter { reason: String },

    #[error("adapter {adapter}: cannot open a device: {message}")]
    RequestDevice { adapter: String, message: String },

    #[error("GPU validation error in {op}: {message}")]
    Validation { op: String, message: String },

    #[error("GPU out of memory in {op}")]
    OutOfMemory { op: String },

    #[error("GPU internal error in {op}: {message}")]
    Internal { op: String, message: String },

    #[error("GPU device lost: {reason}")]
    DeviceLost { reason: String },

    #[error("{what} needs {bytes} bytes but the adapter's {limit_name} is {limit}")]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },

    #[error("cannot read back {op}: {message}")]
    Map { op: String, message: String },

    #[error("{op} produced {count} non-finite values from finite weights")]
    NonFinite { op: String, count: usize },

    #[error("{op} is inconsistent with the weights: {detail}")]
    Inconsistent { op: String, detail: String },
}
