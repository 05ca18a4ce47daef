//! [`CacheWriter`]: one entry being written and hashed, published only once its hash is checked.

use std::path::PathBuf;

use super::Cache;
use super::error::{CacheError, io_err};
use super::staged::Staged;
use crate::integrity::{Hasher, Integrity, Mismatch};

/// One entry being written: a staged file no reader can see, plus a running hash.
///
/// Blocking (file system calls): async code uses a [`DiskWriter`](super::DiskWriter) instead.
/// Dropping it without [`commit`](CacheWriter::commit) discards the file.
#[derive(Debug)]
pub struct CacheWriter {
    cache: Cache,
    file: Staged,
    hasher: Hasher,
    expected: Option<Integrity>,
    bytes: u64,
}

/// A committed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The verified (or, without an expected one, computed) integrity.
    pub integrity: Integrity,
    /// The entry's path.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

impl CacheWriter {
    pub(super) fn new(
        cache: Cache,
        file: Staged,
        hasher: Hasher,
        expected: Option<Integrity>,
    ) -> Self {
        CacheWriter {
            cache,
            file,
            hasher,
            expected,
            bytes: 0,
        }
    }

    /// Appends `bytes` to the file and the hash.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        self.file
            .write_all(bytes)
            .map_err(io_err("write to a new file in", self.cache.tmp_dir()))?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks the hash and gives the file its name (an entry of the same content already there
    /// is kept). Not fsynced: see the cache's docs for durability.
    pub fn commit(self) -> Result<Stored, CacheError> {
        let CacheWriter {
            cache,
            file,
            hasher,
            expected,
            bytes,
        } = self;
        let actual = check(hasher, expected.as_ref(), bytes)?;
        cache.publish(file, actual, bytes)
    }
}

/// The integrity of what `hasher` was fed, if it is `expected` (or nothing was expected).
pub(super) fn check(
    hasher: Hasher,
    expected: Option<&Integrity>,
    bytes: u64,
) -> Result<Integrity, CacheError> {
    let actual = hasher.finish();
    match expected {
        Some(expected) if *expected != actual => Err(CacheError::Mismatch(Mismatch {
            expected: expected.clone(),
            actual,
            bytes,
        })),
        _ => Ok(actual),
    }
}
