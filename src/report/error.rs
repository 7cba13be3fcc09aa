//! Errors of the report layer: reading and writing report files, saved
//! eigenvalues and figures. Each names the file.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An I/O failure on a named file (`what`: cannot read, cannot write,
    /// cannot create, cannot create directory).
    #[error("{}: {what}: {source}", path.display())]
    File {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    /// A file that is not what it should be.
    #[error("{}: {why}", path.display())]
    Invalid { path: PathBuf, why: String },
    /// Writing to standard output or an already open file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Doc(#[from] super::doc::DocError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    #[error(transparent)]
    Plot(#[from] super::plot::PlotError),
    #[error("{0}")]
    Input(String),
}

impl ReportError {
    /// `path: what: source`, for an I/O failure on a named file.
    pub fn file(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> ReportError {
        let path = path.to_path_buf();
        move |source| ReportError::File { path, what, source }
    }

    pub fn invalid(path: &Path, why: impl Into<String>) -> ReportError {
        ReportError::Invalid {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;
