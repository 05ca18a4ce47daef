//! [`CacheError`]: a failed cache operation, naming what was done and to which path.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::integrity::Mismatch;

/// A failed cache operation, naming the path.
#[derive(Debug)]
pub enum CacheError {
    /// A file system operation failed.
    Io {
        /// What was being done (`create the cache directory`, `write`, …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The content did not match the expected integrity; nothing was stored.
    Mismatch(Mismatch),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            CacheError::Mismatch(m) => m.fmt(f),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Io { source, .. } => Some(source),
            CacheError::Mismatch(m) => Some(m),
        }
    }
}

/// `map_err(io_err("write", path))`: an I/O error as a [`CacheError::Io`] naming `path`.
pub(super) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
