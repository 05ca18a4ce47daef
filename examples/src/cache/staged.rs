//! [`Staged`]: an entry's file while it is written, invisible to readers until
//! [`Staged::publish`] gives it its final name.
//!
//! Where the file system has `O_TMPFILE` (ext4, XFS, btrfs and tmpfs on Linux) the file has no
//! name at all until `linkat` gives it one: a failed or dropped download, a `kill -9` or a crash
//! leave nothing behind, and publishing is one call. Elsewhere it is a named file in the run's
//! temp directory, renamed into place ([`Staging::Named`]). Which one a cache uses is decided
//! once, when it is opened ([`Staging::probe`]).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes are gathered into pieces of this size: an HTTP/2 body arrives in frames of 16 KiB or
/// less, and most tarballs are smaller than this, so most are written with one call.
const WRITE_BUFFER: usize = 128 * 1024;

/// Entries are shared, read-only content: `0644` before the umask.
const MODE: u32 = 0o644;

/// A file at least this large has its write-back started when it is published, so that the
/// run's one `syncfs` at the end finds less to write.
const EARLY_WRITEBACK: u64 = 1 << 20;

/// How a cache stages its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Staging {
    /// `O_TMPFILE` in the run directory, then `linkat` to the final name.
    Anonymous,
    /// A named file in the run directory, then `rename` to the final name.
    Named,
}

impl Staging {
    /// [`Staging::Anonymous`] if an `O_TMPFILE` file can be made in `dir` and linked to a name
    /// there (the file system supports it and `/proc` is mounted), else [`Staging::Named`].
    pub(super) fn probe(dir: &Path) -> Staging {
        let probe = dir.join("probe");
        let works = Staged::create(Staging::Anonymous, dir)
            .and_then(|staged| staged.publish(&probe))
            .is_ok();
        let _ = fs::remove_file(&probe);
        if works {
            Staging::Anonymous
        } else {
            Staging::Named
        }
    }
}

/// A file being written: no reader can see it until it is published. Dropping it discards it.
#[derive(Debug)]
pub(super) struct Staged {
    file: BufWriter<fs::File>,
    /// Bytes written.
    len: u64,
    /// The temp file's name with [`Staging::Named`]; `None` once renamed, or for an anonymous file.
    temp: Option<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

impl Staged {
    /// A new, empty file in `dir` (the run's temp directory, on the cache's file system).
    pub(super) fn create(staging: Staging, dir: &Path) -> io::Result<Staged> {
        let (file, temp) = match staging {
            Staging::Anonymous => (anonymous(dir)?, None),
            Staging::Named => {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let temp = dir.join(format!("{}.tmp", NEXT.fetch_add(1, Ordering::Relaxed)));
                (named(&temp)?, Some(temp))
            }
        };
        Ok(Staged {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            len: 0,
            temp,
        })
    }

    /// Appends `bytes`.
    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.len += bytes.len() as u64;
        self.file.write_all(bytes)
    }

    /// Gives the file the name `target`, creating its directory if it is missing. If `target`
    /// exists already it is kept (`Anonymous`: the same name means the same content) or replaced
    /// (`Named`). Not fsynced: see the cache's docs for durability.
    pub(super) fn publish(mut self, target: &Path) -> io::Result<()> {
        self.file.flush()?;
        if self.len >= EARLY_WRITEBACK {
            start_writeback(self.file.get_ref());
        }
        let result = match self.place(target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dir = target.parent().unwrap_or(Path::new("."));
                fs::create_dir_all(dir)?;
                self.place(target)
            }
            other => other,
        };
        if result.is_ok() {
            self.temp = None;
        }
        result
    }

    fn place(&self, target: &Path) -> io::Result<()> {
        match &self.temp {
            Some(temp) => fs::rename(temp, target),
            None => match link(self.file.get_ref(), target) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            },
        }
    }
}

/// Starts writing the file's dirty pages to disk without waiting: `POSIX_FADV_DONTNEED` begins
/// write-back (Linux, `WB_SYNC_NONE`) and then drops only the pages already clean, which right
/// after writing are none, so the file stays in the page cache. Best effort.
fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

fn named(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, MODE);
    options.open(path)
}

#[cfg(target_os = "linux")]
fn anonymous(dir: &Path) -> io::Result<fs::File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let fd = openat(
        CWD,
        dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(MODE),
    )?;
    Ok(fs::File::from(fd))
}

#[cfg(not(target_os = "linux"))]
fn anonymous(_dir: &Path) -> io::Result<fs::File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// `linkat` of an `O_TMPFILE` file through its `/proc/self/fd` link (as `open(2)` shows: this
/// needs no privilege, unlike `AT_EMPTY_PATH` on older kernels).
#[cfg(target_os = "linux")]
fn link(file: &fs::File, target: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    linkat(CWD, proc.as_str(), CWD, target, AtFlags::SYMLINK_FOLLOW)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn link(_file: &fs::File, _target: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn both_stagings_show_nothing_until_published() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::probe(dir.path());
        assert!(names(dir.path()).is_empty(), "the probe left a file");
        // The machine the tests run on has O_TMPFILE where it is Linux (tmpfs and ext4 do).
        if cfg!(target_os = "linux") {
            assert_eq!(staging, Staging::Anonymous);
        }
        for staging in [staging, Staging::Named] {
            let run = dir.path().join(format!("{staging:?}"));
            fs::create_dir(&run).unwrap();
            let mut s = Staged::create(staging, &run).unwrap();
            s.write_all(b"abc").unwrap();
            let target = dir.path().join("out").join(format!("{staging:?}"));
            assert!(!target.exists());
            s.publish(&target).unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"abc");
            assert!(names(&run).is_empty(), "{staging:?} left {:?}", names(&run));

            // A dropped one leaves nothing.
            let mut s = Staged::create(staging, &run).unwrap();
            s.write_all(b"partial").unwrap();
            drop(s);
            assert!(names(&run).is_empty());

            // Publishing over an existing entry leaves a whole file either way.
            let mut s = Staged::create(staging, &run).unwrap();
            s.write_all(b"abc").unwrap();
            s.publish(&target).unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"abc");
        }
    }

    #[cfg(unix)]
    #[test]
    fn entries_get_0644_under_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // What the umask leaves of 0644, from a file made the plain way.
        let reference = dir.path().join("reference");
        named(&reference).unwrap();
        let want = mode(&reference);
        assert_ne!(want & 0o400, 0);
        for staging in [Staging::probe(dir.path()), Staging::Named] {
            let target = dir.path().join(format!("{staging:?}"));
            Staged::create(staging, dir.path())
                .unwrap()
                .publish(&target)
                .unwrap();
            assert_eq!(mode(&target), want, "{staging:?}");
        }
    }
}
