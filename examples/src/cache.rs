//! A content-addressed tarball cache: files are named by their hash, never by package name.
//!
//! Layout under the cache root:
//!
//! ```text
//! sha512/ab/cdef…        one verified tarball, named by the hex of its digest (first two
//! sha1/12/3456…          hex digits as a fan-out directory)
//! tmp/                   files being written; never visible under a hash name
//! ```
//!
//! A [`CacheWriter`] writes into `tmp/` while hashing, then on [`CacheWriter::commit`] fsyncs,
//! verifies the hash and renames the file into place (and fsyncs the directory). A reader that
//! sees `sha512/ab/cdef…` therefore always sees the whole, verified file; a writer that fails or is
//! dropped removes its temp file.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

use crate::integrity::{Algorithm, Hasher, Integrity, Mismatch};

/// Temp files older than this are left by a crashed run and removed by [`Cache::open`].
const STALE_TEMP: Duration = Duration::from_secs(24 * 60 * 60);

/// A content-addressed cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

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

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl Cache {
    /// Opens (creating it if needed) the cache at `root` and checks that it is writable.
    pub fn open(root: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let root = root.into();
        let cache = Cache { root };
        let tmp = cache.tmp_dir();
        fs::create_dir_all(&tmp).map_err(io_err("create the cache directory", &tmp))?;
        // Probe: the directory may exist but be read-only.
        NamedTempFile::new_in(&tmp).map_err(io_err("write to the cache directory", &tmp))?;
        cache.remove_stale_temps();
        Ok(cache)
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content with `integrity` lives: `<root>/<algo>/<hex[..2]>/<hex[2..]>`.
    pub fn path_of(&self, integrity: &Integrity) -> PathBuf {
        let hex = integrity.hex();
        self.root
            .join(integrity.algorithm().name())
            .join(&hex[..2])
            .join(&hex[2..])
    }

    /// Whether the content with `integrity` is in the cache (it was verified when stored).
    pub fn contains(&self, integrity: &Integrity) -> bool {
        self.path_of(integrity).is_file()
    }

    /// Re-hashes a cached entry: `Ok(false)` if it is missing, `Err` on a mismatch.
    pub fn verify(&self, integrity: &Integrity) -> Result<bool, CacheError> {
        let path = self.path_of(integrity);
        let mut file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let mut verifier = integrity.verifier();
        io::copy(&mut file, &mut VerifierWriter(&mut verifier)).map_err(io_err("read", &path))?;
        verifier
            .finish()
            .map(|_| true)
            .map_err(CacheError::Mismatch)
    }

    /// Starts writing one entry. With `expected`, the content must hash to it; without, it is
    /// stored under its sha512.
    pub fn writer(&self, expected: Option<&Integrity>) -> Result<CacheWriter, CacheError> {
        let tmp = self.tmp_dir();
        let file = tempfile::Builder::new()
            .prefix("fetch-")
            .suffix(".tmp")
            .tempfile_in(&tmp)
            .map_err(io_err("create a temp file in", &tmp))?;
        let algorithm = expected.map_or(Algorithm::Sha512, Integrity::algorithm);
        Ok(CacheWriter {
            cache: self.clone(),
            file,
            hasher: Hasher::new(algorithm),
            expected: expected.cloned(),
            bytes: 0,
        })
    }

    /// The directory temp files are written in (inside the root, so renames are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn remove_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TEMP);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// One entry being written: a temp file in the cache plus a running hash.
///
/// Dropping it without [`commit`](CacheWriter::commit) removes the temp file.
#[derive(Debug)]
pub struct CacheWriter {
    cache: Cache,
    file: NamedTempFile,
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
    /// Appends `bytes` to the temp file and the hash.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        self.file
            .write_all(bytes)
            .map_err(io_err("write", self.file.path()))?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and fsyncs the temp file, checks the hash, and renames the file into place.
    ///
    /// Blocking (fsync): call it from a blocking context, e.g. `smol::unblock`.
    pub fn commit(self) -> Result<Stored, CacheError> {
        let CacheWriter {
            cache,
            mut file,
            hasher,
            expected,
            bytes,
        } = self;
        let actual = hasher.finish();
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(CacheError::Mismatch(Mismatch {
                expected,
                actual,
                bytes,
            }));
        }
        let temp = file.path().to_path_buf();
        file.flush().map_err(io_err("write", &temp))?;
        file.as_file().sync_all().map_err(io_err("fsync", &temp))?;
        set_readable(file.as_file()).map_err(io_err("set permissions of", &temp))?;

        let path = cache.path_of(&actual);
        let dir = path.parent().unwrap_or(cache.root());
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        file.persist(&path)
            .map_err(|e| io_err("rename the temp file to", &path)(e.error))?;
        sync_dir(dir).map_err(io_err("fsync directory", dir))?;
        Ok(Stored {
            integrity: actual,
            path,
            bytes,
        })
    }
}

/// Cache entries are shared, read-only content: `0644` on Unix (temp files start as `0600`).
fn set_readable(file: &fs::File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Makes a rename durable: fsync the directory holding the new name (Unix only).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

struct VerifierWriter<'a>(&'a mut crate::integrity::Verifier);

impl Write for VerifierWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(entries(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }

    #[test]
    fn stores_by_hash_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let want = Integrity::compute(Algorithm::Sha512, b"tarball bytes");
        assert!(!cache.contains(&want));
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"tarball ").unwrap();
        w.write(b"bytes").unwrap();
        let stored = w.commit().unwrap();
        assert_eq!(stored.integrity, want);
        assert_eq!(stored.bytes, 13);
        assert!(cache.contains(&want));
        assert!(cache.verify(&want).unwrap());
        let hex = want.hex();
        let expected = dir.path().join("c/sha512").join(&hex[..2]).join(&hex[2..]);
        assert_eq!(stored.path, expected);
        assert_eq!(fs::read(&expected).unwrap(), b"tarball bytes");
        assert!(entries(&cache.tmp_dir()).is_empty());

        // Writing the same content again is harmless.
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"tarball bytes").unwrap();
        w.commit().unwrap();
        assert_eq!(entries(cache.root()).len(), 1);
    }

    #[test]
    fn mismatch_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let want = Integrity::compute(Algorithm::Sha1, b"right");
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"wrong").unwrap();
        let err = w.commit().unwrap_err();
        assert!(matches!(err, CacheError::Mismatch(_)));
        assert!(
            err.to_string()
                .starts_with("integrity mismatch: expected sha1-")
        );
        assert!(!cache.contains(&want));
        assert!(entries(dir.path()).is_empty());

        // A dropped writer leaves nothing either.
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"half").unwrap();
        drop(w);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn without_expected_integrity_stores_under_sha512() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let mut w = cache.writer(None).unwrap();
        w.write(b"x").unwrap();
        let stored = w.commit().unwrap();
        assert_eq!(
            stored.integrity,
            Integrity::compute(Algorithm::Sha512, b"x")
        );
        assert!(cache.contains(&stored.integrity));
    }

    #[test]
    fn verify_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let want = Integrity::compute(Algorithm::Sha512, b"abc");
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"abc").unwrap();
        let stored = w.commit().unwrap();
        fs::write(&stored.path, b"abd").unwrap();
        assert!(matches!(cache.verify(&want), Err(CacheError::Mismatch(_))));
        let other = Integrity::compute(Algorithm::Sha512, b"zzz");
        assert!(!cache.verify(&other).unwrap());
    }

    #[test]
    fn unusable_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"").unwrap();
        let err = Cache::open(&file).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot create the cache directory"),
            "{msg}"
        );
        assert!(msg.contains("not-a-dir"), "{msg}");
    }
}
