//! Recovery after the machine went down during a run: the entries that run published may have
//! reached the disk without their data, so each is re-hashed and removed if wrong.
//!
//! A run names its temp directory after the boot it runs in (`tmp/run-<pid>-<boot>-…`,
//! `/proc/sys/kernel/random/boot_id`). A run that ends cleanly — its one `syncfs` done — removes
//! that directory; a run killed in this boot leaves it, but its files are whole in the page
//! cache. Only a directory left from **another boot** means the machine stopped before the
//! run's `syncfs`: the next run re-hashes every entry changed since that directory was made
//! (its `lock` file's ctime, which no user can set back). ext4 (with its journal, the default) and
//! XFS write metadata to their journal in order, so if a link of that run reached the disk, the
//! directory's did too. ext4 made without a journal promises no order: after a crash there,
//! `lockfetch fetch --verify` re-hashes the whole cache.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::layout::ALGORITHMS;
use crate::integrity::Integrity;

/// Timestamps may be coarser than the clock: entries changed this long before the run's start
/// are re-hashed too.
const SLACK: Duration = Duration::from_secs(2);

/// This boot's id, 32 hex digits (Linux); `None` elsewhere.
pub(super) fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id: String = id.trim().chars().filter(|c| *c != '-').collect();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// When the file at `path` last changed status (its ctime); `None` if it cannot be read.
pub(super) fn changed(path: &Path) -> Option<SystemTime> {
    let meta = fs::symlink_metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let secs = u64::try_from(meta.ctime()).ok()?;
        let nanos = u32::try_from(meta.ctime_nsec()).ok()?;
        Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    meta.modified().ok()
}

/// Re-hashes every entry under `root` changed since `since` (less [`SLACK`]; `None`: all of
/// them), removing those whose content is not their name. Returns how many were removed.
pub(super) fn recheck(root: &Path, since: Option<SystemTime>) -> usize {
    let since = since.and_then(|t| t.checked_sub(SLACK));
    let mut removed = 0;
    for algorithm in ALGORITHMS {
        let Ok(entries) = fs::read_dir(root.join(algorithm.name())) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if since.is_some_and(|since| changed(&path).is_some_and(|c| c < since)) {
                continue;
            }
            let name = entry.file_name();
            let Some(integrity) = Integrity::from_hex(algorithm.name(), &name.to_string_lossy())
            else {
                continue;
            };
            if !matches(&path, &integrity) && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Whether the file at `path` hashes to `integrity` (`false` if it cannot be read).
pub(super) fn matches(path: &Path, integrity: &Integrity) -> bool {
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    let mut verifier = integrity.verifier();
    let mut sink = VerifierWriter(&mut verifier);
    io::copy(&mut file, &mut sink).is_ok() && verifier.finish().is_ok()
}

/// Feeds what is written to a verifier.
pub(super) struct VerifierWriter<'a>(pub(super) &'a mut crate::integrity::Verifier);

impl io::Write for VerifierWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
