//! [`RunDir`]: one process's temp directory in the cache, and the removal of those left by
//! processes that are gone.
//!
//! Each run writes its partial downloads into `tmp/run-<pid>-<random>/`, holding an exclusive
//! `flock` on the `lock` file inside for as long as it lives. The kernel drops that lock when the
//! process ends, however it ends (`kill -9` included), so a directory whose lock can be taken
//! belongs to nobody and is removed; one whose lock is held is never touched.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A run directory without a `lock` file younger than this is being set up; older, it is litter.
const SETUP_GRACE: Duration = Duration::from_secs(60);
/// Loose temp files directly in `tmp/` (left by an older version) older than this are removed.
const STALE_TEMP: Duration = Duration::from_secs(60 * 60);

/// This process's temp directory, removed when the last `Cache` clone is dropped.
#[derive(Debug)]
pub(super) struct RunDir {
    path: PathBuf,
    /// Holds the exclusive lock that tells other runs this directory is in use.
    _lock: fs::File,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

impl RunDir {
    /// Creates this process's directory in `tmp`, locks it, and removes those of dead runs.
    /// The error names the action and path.
    pub(super) fn create(tmp: &Path) -> Result<RunDir, (&'static str, PathBuf, io::Error)> {
        let path = tempfile::Builder::new()
            .prefix(&format!("run-{}-", std::process::id()))
            .tempdir_in(tmp)
            .map_err(|e| ("write to the cache directory", tmp.to_path_buf(), e))?
            .keep();
        let lock_path = path.join("lock");
        let lock = fs::File::create(&lock_path)
            .and_then(|f| try_lock(&f).map(|()| f))
            .map_err(|e| ("lock", lock_path.clone(), e))?;
        remove_dead_runs(tmp, &path);
        Ok(RunDir { path, _lock: lock })
    }

    /// The directory.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes an exclusive lock on `file` without waiting (`flock`; the kernel drops it when the
/// process ends, however it ends).
fn try_lock(file: &fs::File) -> io::Result<()> {
    #[cfg(unix)]
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Removes the run directories in `tmp` whose owner is gone (their lock is free), and loose
/// temp files of an older layout.
fn remove_dead_runs(tmp: &Path, own: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    let age = |m: &fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == own {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_dir() {
            if age(&meta) > STALE_TEMP {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        match fs::File::open(path.join("lock")) {
            // Taking the lock proves the owner is gone; holding it while removing keeps a
            // second cleaner from racing on the same directory.
            Ok(lock) => {
                if try_lock(&lock).is_ok() {
                    let _ = fs::remove_dir_all(&path);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && age(&meta) > SETUP_GRACE => {
                let _ = fs::remove_dir_all(&path);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use std::path::PathBuf;

    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files(&e.path()));
            } else if e.file_name() != "lock" {
                out.push(e.path());
            }
        }
        out
    }

    #[test]
    fn temp_dirs_of_dead_runs_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = Cache::open(dir.path()).unwrap();
        let mut w = live.writer(None).unwrap();
        w.write(b"partial").unwrap();
        // A run killed mid-download: its directory and partial file, its lock free.
        let dead = dir.path().join("tmp/run-1-dead");
        fs::create_dir_all(&dead).unwrap();
        fs::write(dead.join("lock"), b"").unwrap();
        fs::write(dead.join("fetch-x.tmp"), b"partial").unwrap();

        let second = Cache::open(dir.path()).unwrap();
        assert!(!dead.exists(), "the dead run's litter is gone");
        assert!(live.tmp_dir().exists(), "the live run's directory stays");
        assert_eq!(files(live.tmp_dir()).len(), 1);
        assert_ne!(live.tmp_dir(), second.tmp_dir());

        // Closing a run removes its directory.
        let own = second.tmp_dir().to_path_buf();
        drop(second);
        assert!(!own.exists());
        drop(w);
        let live_dir = live.tmp_dir().to_path_buf();
        drop(live);
        assert!(!live_dir.exists());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
