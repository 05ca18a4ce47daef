//! [`RunDir`]: one process's temp directory in the cache, and the removal of those left by
//! processes that are gone.
//!
//! Each run writes its partial downloads (where they need a name at all) into
//! `tmp/run-<pid>-<boot>-<random>/`, holding an exclusive `flock` on the `lock` file inside for as
//! long as it lives. The kernel drops that lock when the process ends, however it ends (`kill -9`
//! included), so a directory whose lock can be taken belongs to nobody and is removed; one whose
//! lock is held is never touched. A run that published entries and did not sync them leaves its
//! directory behind on purpose: if it is found after a reboot, its entries are re-hashed (see
//! [`recovery`](super::recovery)).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::recovery;

/// A run directory without a `lock` file younger than this is being set up; older, it is litter.
const SETUP_GRACE: Duration = Duration::from_secs(60);
/// Loose temp files directly in `tmp/` (left by an older version) older than this are removed.
const STALE_TEMP: Duration = Duration::from_secs(60 * 60);
/// The boot part of a run directory's name where the boot cannot be told.
const UNKNOWN_BOOT: &str = "unknown";

/// This process's temp directory: removed when the last `Cache` clone is dropped, unless entries
/// were published since the last sync.
#[derive(Debug)]
pub(super) struct RunDir {
    path: PathBuf,
    /// Entries were published and not synced since.
    unsynced: AtomicBool,
    /// Holds the exclusive lock that tells other runs this directory is in use.
    _lock: fs::File,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.unsynced.load(Ordering::SeqCst) {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// What opening found of the runs that are gone.
#[derive(Debug, Default)]
pub(super) struct DeadRuns {
    /// Entries removed because a run of an earlier boot may have published them without data.
    pub(super) damaged: usize,
}

impl RunDir {
    /// Creates this process's directory in `tmp` (under the cache `root`) and locks it; then
    /// removes those of dead runs, first re-hashing what a run of an earlier boot published.
    /// The error names the action and path.
    pub(super) fn create(
        root: &Path,
        tmp: &Path,
    ) -> Result<(RunDir, DeadRuns), (&'static str, PathBuf, io::Error)> {
        let boot = recovery::boot_id();
        let prefix = format!(
            "run-{}-{}-",
            std::process::id(),
            boot.as_deref().unwrap_or(UNKNOWN_BOOT)
        );
        let path = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(tmp)
            .map_err(|e| ("write to the cache directory", tmp.to_path_buf(), e))?
            .keep();
        let lock_path = path.join("lock");
        let lock = fs::File::create(&lock_path)
            .and_then(|f| try_lock(&f).map(|()| f))
            .map_err(|e| ("lock", lock_path.clone(), e))?;
        let dead = remove_dead_runs(root, tmp, &path, boot.as_deref());
        let run = RunDir {
            path,
            unsynced: AtomicBool::new(false),
            _lock: lock,
        };
        Ok((run, dead))
    }

    /// The directory.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// An entry was published: until [`RunDir::synced`], the directory outlives the process.
    pub(super) fn published(&self) {
        self.unsynced.store(true, Ordering::SeqCst);
    }

    /// Runs `sync`; if it succeeds, everything published before it is durable.
    pub(super) fn sync<E>(&self, sync: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let was = self.unsynced.swap(false, Ordering::SeqCst);
        sync().inspect_err(|_| {
            if was {
                self.unsynced.store(true, Ordering::SeqCst);
            }
        })
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

/// The boot a run directory's name gives (`run-<pid>-<boot>-<random>`); `None` for a name of an
/// older version (`run-<pid>-<random>`), whose runs named entries by their size instead.
fn boot_of(name: &str) -> Option<&str> {
    let mut parts = name.strip_prefix("run-")?.split('-');
    let (_pid, boot, _random) = (parts.next()?, parts.next()?, parts.next()?);
    Some(boot)
}

/// Removes the run directories in `tmp` whose owner is gone (their lock is free), and loose
/// temp files of an older layout. A directory of another boot (or of an unknown one) has the
/// entries changed since it was made re-hashed first, while its lock is held.
fn remove_dead_runs(root: &Path, tmp: &Path, own: &Path, boot: Option<&str>) -> DeadRuns {
    let mut dead = DeadRuns::default();
    let Ok(entries) = fs::read_dir(tmp) else {
        return dead;
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
        let lock_path = path.join("lock");
        match fs::File::open(&lock_path) {
            // Taking the lock proves the owner is gone; holding it while re-hashing and
            // removing keeps a second cleaner from racing on the same directory.
            Ok(lock) => {
                if try_lock(&lock).is_err() {
                    continue;
                }
                let name = entry.file_name();
                let run_boot = boot_of(name.to_str().unwrap_or_default());
                let crashed = match (run_boot, boot) {
                    (None, _) => false,
                    (Some(then), Some(now)) => then != now,
                    (Some(_), None) => true,
                };
                if crashed {
                    let since = recovery::changed(&lock_path);
                    dead.damaged += recovery::recheck(root, since);
                }
                let _ = fs::remove_dir_all(&path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && age(&meta) > SETUP_GRACE => {
                let _ = fs::remove_dir_all(&path);
            }
            Err(_) => {}
        }
    }
    dead
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::UNKNOWN_BOOT;
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
        // Runs killed mid-download (of this version and of the one before): their directories
        // and partial files, their locks free.
        let boot = super::super::recovery::boot_id().unwrap_or_else(|| UNKNOWN_BOOT.into());
        let dead = [
            dir.path().join(format!("tmp/run-1-{boot}-dead")),
            dir.path().join("tmp/run-1-dead"),
        ];
        for dead in &dead {
            fs::create_dir_all(dead).unwrap();
            fs::write(dead.join("lock"), b"").unwrap();
            fs::write(dead.join("0.tmp"), b"partial").unwrap();
        }

        let second = Cache::open(dir.path()).unwrap();
        assert!(
            dead.iter().all(|d| !d.exists()),
            "the dead runs' litter is gone"
        );
        assert!(live.tmp_dir().exists(), "the live run's directory stays");
        // The live run's partial file: named in its directory, or anonymous.
        let named = usize::from(live.staging == Staging::Named);
        assert_eq!(files(live.tmp_dir()).len(), named);
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
