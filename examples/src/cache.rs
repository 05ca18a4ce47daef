//! A content-addressed tarball cache: files are named by their hash, never by package name.
//!
//! Layout under the cache root:
//!
//! ```text
//! sha512/ab/cdef…-48213   one verified tarball: the hex of its digest (the first two hex digits
//! sha1/12/3456…-913       as a fan-out directory), then its size in bytes
//! tmp/run-<pid>-<n>/      one directory per running process: its partial downloads, and a
//!                         `lock` file the process holds an exclusive lock on while it lives
//! ```
//!
//! # Writing
//! A [`CacheWriter`] writes into its run's temp directory while hashing; [`CacheWriter::commit`]
//! checks the hash and renames the file into place. A reader that sees `sha512/ab/cdef…-N`
//! therefore sees a whole, verified file; a writer that fails or is dropped removes its temp file.
//!
//! # Durability without a round trip per file
//! Nothing is fsynced per file. A `kill -9` loses nothing that was renamed (the data is in the
//! page cache, which outlives the process); only a crash of the machine can. Two things cover
//! that case:
//! - **The size is part of the name.** If the machine dies after a rename reached the disk but
//!   before the file's data did, the file is found shorter than its name says (file systems such
//!   as ext4 and XFS extend a file's size only once its data is written). [`Cache::lookup`]
//!   compares the two with one `stat`, so such a file counts as damaged and is fetched again: a
//!   hit is cheap but not blind. `--verify` re-hashes every entry for the rest.
//! - **One `syncfs` per run.** [`Cache::sync`] flushes the whole file system once, after the
//!   last download, before the run reports success: one barrier instead of an fsync of every
//!   file and its directory on the hot path.
//!
//! # Litter
//! A killed run leaves its temp directory behind. [`Cache::open`] removes every run directory
//! whose `lock` it can take (its owner is gone: the kernel drops a lock when its process dies),
//! and never one a live run holds.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::NamedTempFile;

use crate::integrity::{Algorithm, Hasher, Integrity, Mismatch};

mod run_dir;

use run_dir::RunDir;

/// A content-addressed cache directory, opened by this process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    run: Arc<RunDir>,
}

/// What the cache holds for one integrity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A complete entry.
    Hit {
        /// Its path.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// An entry whose file is not the size its name says (cut short by a crash, or tampered
    /// with): it must be fetched again.
    Damaged {
        /// Its path.
        path: PathBuf,
        /// The size its name says.
        size: u64,
    },
    /// Nothing.
    Miss,
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
    /// Opens (creating it if needed) the cache at `root`: makes this run's temp directory (which
    /// also checks that the cache is writable) and removes those of runs that are gone.
    pub fn open(root: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err("create the cache directory", &tmp))?;
        let run = RunDir::create(&tmp).map_err(|(action, path, source)| CacheError::Io {
            action,
            path,
            source,
        })?;
        Ok(Cache {
            root,
            run: Arc::new(run),
        })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content with `integrity` and `size` bytes lives:
    /// `<root>/<algo>/<hex[..2]>/<hex[2..]>-<size>`.
    pub fn path_of(&self, integrity: &Integrity, size: u64) -> PathBuf {
        let hex = integrity.hex();
        self.fan_out(integrity)
            .join(format!("{}-{size}", &hex[2..]))
    }

    fn fan_out(&self, integrity: &Integrity) -> PathBuf {
        let hex = integrity.hex();
        self.root.join(integrity.algorithm().name()).join(&hex[..2])
    }

    /// The entries stored for `integrity`, as `(path, size in the name)`.
    fn entries(&self, integrity: &Integrity) -> Vec<(PathBuf, u64)> {
        let hex = integrity.hex();
        let prefix = format!("{}-", &hex[2..]);
        let Ok(dir) = fs::read_dir(self.fan_out(integrity)) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let size = name.to_str()?.strip_prefix(&prefix)?.parse().ok()?;
                Some((e.path(), size))
            })
            .collect()
    }

    /// What the cache holds for `integrity`: one directory listing and one `stat`.
    pub fn lookup(&self, integrity: &Integrity) -> Lookup {
        let mut found = Lookup::Miss;
        for (path, size) in self.entries(integrity) {
            match fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() == size => return Lookup::Hit { path, size },
                Ok(_) => found = Lookup::Damaged { path, size },
                Err(_) => {}
            }
        }
        found
    }

    /// Whether a complete entry for `integrity` is in the cache.
    pub fn contains(&self, integrity: &Integrity) -> bool {
        matches!(self.lookup(integrity), Lookup::Hit { .. })
    }

    /// Re-hashes the entry for `integrity`: `Ok(false)` if there is none (or it is damaged),
    /// `Err` with a mismatch if its content is wrong.
    pub fn verify(&self, integrity: &Integrity) -> Result<bool, CacheError> {
        let Lookup::Hit { path, .. } = self.lookup(integrity) else {
            return Ok(false);
        };
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

    /// Removes every entry for `integrity` (a damaged or wrong one, before fetching it again).
    pub fn remove(&self, integrity: &Integrity) -> Result<(), CacheError> {
        for (path, _) in self.entries(integrity) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &path)(e)),
            }
        }
        Ok(())
    }

    /// Starts writing one entry. With `expected`, the content must hash to it; without, it is
    /// stored under its sha512.
    pub fn writer(&self, expected: Option<&Integrity>) -> Result<CacheWriter, CacheError> {
        let tmp = self.tmp_dir();
        let file = tempfile::Builder::new()
            .prefix("fetch-")
            .suffix(".tmp")
            .tempfile_in(tmp)
            .map_err(io_err("create a temp file in", tmp))?;
        let algorithm = expected.map_or(Algorithm::Sha512, Integrity::algorithm);
        Ok(CacheWriter {
            cache: self.clone(),
            file,
            hasher: Hasher::new(algorithm),
            expected: expected.cloned(),
            bytes: 0,
        })
    }

    /// This run's temp directory (inside the root, so renames are atomic).
    pub fn tmp_dir(&self) -> &Path {
        self.run.path()
    }

    /// Makes everything written so far durable: one `syncfs` of the cache's file system (an
    /// `fsync` of the root elsewhere). Blocking: call it from a blocking context.
    pub fn sync(&self) -> Result<(), CacheError> {
        let dir = fs::File::open(&self.root).map_err(io_err("open", &self.root))?;
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&dir)
            .map_err(io::Error::from)
            .map_err(io_err("sync the file system of", &self.root))?;
        #[cfg(not(target_os = "linux"))]
        dir.sync_all().map_err(io_err("fsync", &self.root))?;
        Ok(())
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

    /// Checks the hash and renames the temp file into place (replacing any damaged entry of
    /// the same content). Not fsynced: see the module docs for durability.
    ///
    /// Blocking (file system calls): call it from a blocking context, e.g. `smol::unblock`.
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
        set_readable(file.as_file()).map_err(io_err("set permissions of", &temp))?;

        let path = cache.path_of(&actual, bytes);
        for (other, _) in cache.entries(&actual) {
            if other != path {
                let _ = fs::remove_file(other);
            }
        }
        let dir = path.parent().unwrap_or(cache.root());
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        file.persist(&path)
            .map_err(|e| io_err("rename the temp file to", &path)(e.error))?;
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

    /// Every file under `dir`, except run directories' `lock` files.
    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(entries(&e.path()));
            } else if e.file_name() != "lock" {
                out.push(e.path());
            }
        }
        out
    }

    fn store(cache: &Cache, bytes: &[u8]) -> Stored {
        let want = Integrity::compute(Algorithm::Sha512, bytes);
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(bytes).unwrap();
        w.commit().unwrap()
    }

    #[test]
    fn stores_by_hash_and_size_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let want = Integrity::compute(Algorithm::Sha512, b"tarball bytes");
        assert_eq!(cache.lookup(&want), Lookup::Miss);
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"tarball ").unwrap();
        w.write(b"bytes").unwrap();
        let stored = w.commit().unwrap();
        assert_eq!(stored.integrity, want);
        assert_eq!(stored.bytes, 13);
        assert!(cache.contains(&want));
        assert!(cache.verify(&want).unwrap());
        let hex = want.hex();
        let expected = dir
            .path()
            .join("c/sha512")
            .join(&hex[..2])
            .join(format!("{}-13", &hex[2..]));
        assert_eq!(stored.path, expected);
        assert_eq!(
            cache.lookup(&want),
            Lookup::Hit {
                path: expected.clone(),
                size: 13
            }
        );
        assert_eq!(fs::read(&expected).unwrap(), b"tarball bytes");
        assert!(entries(cache.tmp_dir()).is_empty());

        // Writing the same content again is harmless.
        store(&cache, b"tarball bytes");
        assert_eq!(entries(cache.root()).len(), 1);
        cache.sync().unwrap();
    }

    #[test]
    fn a_file_of_the_wrong_size_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let stored = store(&cache, b"0123456789");
        // Cut short, as a crash between rename and write-back leaves it.
        fs::write(&stored.path, b"01234").unwrap();
        assert_eq!(
            cache.lookup(&stored.integrity),
            Lookup::Damaged {
                path: stored.path.clone(),
                size: 10
            }
        );
        assert!(!cache.contains(&stored.integrity));
        assert!(!cache.verify(&stored.integrity).unwrap());
        // Storing it again replaces the damaged file.
        store(&cache, b"0123456789");
        assert!(cache.contains(&stored.integrity));
        assert_eq!(fs::read(&stored.path).unwrap(), b"0123456789");
        cache.remove(&stored.integrity).unwrap();
        assert_eq!(cache.lookup(&stored.integrity), Lookup::Miss);
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
        let stored = store(&cache, b"abc");
        fs::write(&stored.path, b"abd").unwrap();
        assert!(matches!(
            cache.verify(&stored.integrity),
            Err(CacheError::Mismatch(_))
        ));
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
