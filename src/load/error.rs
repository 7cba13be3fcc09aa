//! Errors of the loading layer. Every variant names the file, and the tensor
//! where there is one, so a message alone tells the user where to look.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, Clone)]
pub enum LoadError {
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },

    #[error("{}: directory holds no *.safetensors file and no *.safetensors.index.json", path.display())]
    EmptyDir { path: PathBuf },

    #[error("{}: cannot read: {message}", path.display())]
    Io { path: PathBuf, message: String },

    #[error("{}: is a {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },

    #[error("{}: dangling symlink (its target `{}` does not resolve)", path.display(), target.display())]
    Dangling { path: PathBuf, target: PathBuf },

    #[error("{}: symlink loop (too many levels of symbolic links)", path.display())]
    SymlinkLoop { path: PathBuf },

    #[error("{}: index names shard `{shard}` (holding tensor `{tensor}` and {others} more), which lies outside the index's directory; it is not opened (SPECSCOPE_ALLOW_OUTSIDE_SHARDS=1 allows it)", path.display())]
    ShardOutside {
        path: PathBuf,
        shard: String,
        tensor: String,
        others: usize,
    },

    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    NotSafetensors { path: PathBuf, reason: String },

    #[error("{}: invalid sharded-checkpoint index: {reason}", path.display())]
    BadIndex { path: PathBuf, reason: String },

    #[error("{}: index names shard `{shard}` (holding tensor `{tensor}` and {others} more), which does not exist", path.display())]
    MissingShard {
        path: PathBuf,
        shard: String,
        tensor: String,
        others: usize,
    },

    #[error("{}: tensor `{tensor}`: {reason}", path.display())]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },

    #[error("{}: tensor `{tensor}` has dtype {dtype}; supported: {supported}", path.display(), supported = super::dtype::SUPPORTED)]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    #[error("{}: tensor `{tensor}` holds {count} non-finite values (NaN or Inf)", path.display())]
    NonFinite {
        path: PathBuf,
        tensor: String,
        count: usize,
    },
}

impl LoadError {
    pub fn io(path: impl Into<PathBuf>, e: &std::io::Error) -> LoadError {
        LoadError::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }

    /// The error for a failed `stat` (following symlinks) of `path`: a
    /// missing path, a dangling symlink, a symlink loop, or another I/O
    /// error, each named.
    pub fn stat(path: &Path, e: &std::io::Error) -> LoadError {
        let path_buf = path.to_path_buf();
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return LoadError::SymlinkLoop { path: path_buf };
        }
        if e.kind() == std::io::ErrorKind::NotFound {
            return match std::fs::read_link(path) {
                Ok(target) => LoadError::Dangling {
                    path: path_buf,
                    target,
                },
                Err(_) => LoadError::NotFound { path: path_buf },
            };
        }
        LoadError::io(path, e)
    }

    /// The tensor this error is about, if any.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            LoadError::MissingShard { tensor, .. }
            | LoadError::ShardOutside { tensor, .. }
            | LoadError::BadTensor { tensor, .. }
            | LoadError::UnsupportedDtype { tensor, .. }
            | LoadError::NonFinite { tensor, .. } => Some(tensor),
            _ => None,
        }
    }
}
