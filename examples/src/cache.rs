//! A content-addressed tarball cache: files are named by their hash, never by package name.
//!
//! Layout under the cache root (see [`layout`] for the upgrade of an earlier one):
//!
//! ```text
//! sha512/abcdef…             one verified tarball, named by the hex of its digest
//! sha1/123456…
//! layout                     the layout's version
//! tmp/run-<pid>-<boot>-<n>/  one directory per running process, holding a `lock` file the
//!                            process holds an exclusive lock on while it lives
//! ```
//!
//! # Looking up
//! An entry's name is computed from the lockfile's integrity, so [`Cache::lookup`] is one `stat`:
//! no directory is listed and no name is searched for.
//!
//! # Writing
//! An entry is written into a file no reader can see — an `O_TMPFILE` file where the file system
//! has them (ext4, XFS, btrfs, tmpfs), else a temp file in the run's directory — while it is
//! hashed; only if the hash matches is the file given its name (`linkat`, else `rename`). A
//! reader that sees `sha512/abcdef…` therefore sees a whole, verified file; a writer that fails
//! or is dropped leaves nothing. There are no fan-out directories (see [`layout`] for why), so no
//! download makes a directory. Async code writes through a [`DiskWriter`]:
//! file creation and writes run on a thread of their own, off the executor.
//!
//! # Durability without a round trip per file
//! Nothing is fsynced per file. A `kill -9` loses nothing that was published (the data is in the
//! page cache, which outlives the process); only a crash of the machine can, and two things
//! cover that case:
//! - **One `syncfs` per run.** [`Cache::sync`] flushes the whole file system once, after the
//!   last download, before the run reports success: one barrier instead of an fsync of every
//!   file and its directory on the hot path.
//! - **A run that did not sync is found after the reboot.** Its temp directory, named after the
//!   boot it ran in, stays until a run ends with its `syncfs` done. The next [`Cache::open`]
//!   that finds such a directory from another boot re-hashes every entry changed since it was
//!   made and removes the wrong ones (a file whose name reached the disk before its data), see
//!   [`recovery`]. `--verify` re-hashes every entry, for the rest.
//!
//! # Litter
//! A killed run leaves its temp directory behind. [`Cache::open`] removes every run directory
//! whose `lock` it can take (its owner is gone: the kernel drops a lock when its process dies),
//! and never one a live run holds.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod disk;
mod error;
pub mod layout;
pub mod recovery;
mod run_dir;
mod staged;
mod writer;

pub use disk::{DiskWriter, EntryWriter, QUEUED};
pub use error::CacheError;
pub use layout::Upgrade;
pub use writer::{CacheWriter, Stored};

use crate::integrity::{Algorithm, Hasher, Integrity};
use error::io_err;
use recovery::VerifierWriter;
use run_dir::RunDir;
use staged::{Staged, Staging};

/// A content-addressed cache directory, opened by this process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    run: Arc<RunDir>,
    staging: Staging,
    opened: Opened,
    /// The sha512 directory and `layout` file are still to be made (a new or migrated cache).
    incomplete: Arc<Mutex<bool>>,
}

/// What [`Cache::open`] found and repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Entries of an earlier layout, migrated or removed.
    pub upgrade: Upgrade,
    /// Entries removed because a run cut short by a crash of the machine may have published
    /// them without their data.
    pub damaged: usize,
}

/// What the cache holds for one integrity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// An entry.
    Hit {
        /// Its path.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Nothing.
    Miss,
}

impl Cache {
    /// Opens (creating it if needed) the cache at `root`: makes this run's temp directory (which
    /// also checks that the cache is writable), removes those of runs that are gone (re-hashing
    /// what a run cut short by a crash of the machine published), and puts the layout in place.
    pub fn open(root: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_err("create the cache directory", &tmp))?;
        let (run, dead) =
            RunDir::create(&root, &tmp).map_err(|(action, path, source)| CacheError::Io {
                action,
                path,
                source,
            })?;
        let staging = Staging::probe(run.path());
        let current = layout::is_current(&root);
        let upgrade = if current {
            Upgrade::default()
        } else {
            layout::migrate_all(&root)?
        };
        Ok(Cache {
            root,
            run: Arc::new(run),
            staging,
            opened: Opened {
                upgrade,
                damaged: dead.damaged,
            },
            incomplete: Arc::new(Mutex::new(!current)),
        })
    }

    /// Makes the sha512 directory of a new (or migrated) cache and records its layout; does
    /// nothing the second time. Blocking: [`DiskWriter`] calls it on its thread before the first
    /// download arrives, [`Cache::writer`] before it writes.
    pub fn complete_layout(&self) -> Result<(), CacheError> {
        let mut incomplete = self.incomplete.lock().unwrap_or_else(|e| e.into_inner());
        if *incomplete {
            layout::complete(&self.root, self.run.path())?;
            *incomplete = false;
        }
        Ok(())
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What opening found and repaired.
    pub fn opened(&self) -> Opened {
        self.opened
    }

    /// Where the content with `integrity` lives: `<root>/<algo>/<hex>`.
    pub fn path_of(&self, integrity: &Integrity) -> PathBuf {
        layout::entry_path(&self.root, integrity)
    }

    /// What the cache holds for `integrity`: one `stat`.
    pub fn lookup(&self, integrity: &Integrity) -> Lookup {
        let path = self.path_of(integrity);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Lookup::Hit {
                size: m.len(),
                path,
            },
            _ => Lookup::Miss,
        }
    }

    /// Whether an entry for `integrity` is in the cache.
    pub fn contains(&self, integrity: &Integrity) -> bool {
        matches!(self.lookup(integrity), Lookup::Hit { .. })
    }

    /// Re-hashes the entry for `integrity`: `Ok(false)` if there is none, `Err` with a mismatch
    /// if its content is wrong.
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

    /// Removes the entry for `integrity` (a wrong one, before fetching it again).
    pub fn remove(&self, integrity: &Integrity) -> Result<(), CacheError> {
        let path = self.path_of(integrity);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// Starts writing one entry, blocking. With `expected`, the content must hash to it;
    /// without, it is stored under its sha512.
    pub fn writer(&self, expected: Option<&Integrity>) -> Result<CacheWriter, CacheError> {
        self.complete_layout()?;
        let file = self
            .stage()
            .map_err(io_err("create a new file in", self.tmp_dir()))?;
        let algorithm = expected.map_or(Algorithm::Sha512, Integrity::algorithm);
        Ok(CacheWriter::new(
            self.clone(),
            file,
            Hasher::new(algorithm),
            expected.cloned(),
        ))
    }

    /// A new file no reader can see.
    fn stage(&self) -> io::Result<Staged> {
        Staged::create(self.staging, self.run.path())
    }

    /// Gives `file`, whose content hashes to `integrity`, its name in the cache.
    fn publish(
        &self,
        file: Staged,
        integrity: Integrity,
        bytes: u64,
    ) -> Result<Stored, CacheError> {
        let path = self.path_of(&integrity);
        self.run.published();
        file.publish(&path)
            .map_err(io_err("create the cache entry", &path))?;
        Ok(Stored {
            integrity,
            path,
            bytes,
        })
    }

    /// This run's temp directory (inside the root, so renames are atomic).
    pub fn tmp_dir(&self) -> &Path {
        self.run.path()
    }

    /// Makes everything written so far durable: one `syncfs` of the cache's file system (an
    /// `fsync` of the root elsewhere). Blocking: call it from a blocking context.
    pub fn sync(&self) -> Result<(), CacheError> {
        self.run.sync(|| {
            let dir = fs::File::open(&self.root).map_err(io_err("open", &self.root))?;
            #[cfg(target_os = "linux")]
            rustix::fs::syncfs(&dir)
                .map_err(io::Error::from)
                .map_err(io_err("sync the file system of", &self.root))?;
            #[cfg(not(target_os = "linux"))]
            dir.sync_all().map_err(io_err("fsync", &self.root))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every file under `dir`, except run directories' `lock` files and the `layout` file.
    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(entries(&e.path()));
            } else if e.file_name() != "lock" && e.file_name() != "layout" {
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
    fn stores_by_hash_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let want = Integrity::compute(Algorithm::Sha512, b"tarball bytes");
        assert_eq!(cache.lookup(&want), Lookup::Miss);
        let mut w = cache.writer(Some(&want)).unwrap();
        w.write(b"tarball ").unwrap();
        w.write(b"bytes").unwrap();
        assert!(entries(dir.path()).is_empty(), "visible before commit");
        let stored = w.commit().unwrap();
        assert_eq!(stored.integrity, want);
        assert_eq!(stored.bytes, 13);
        assert!(cache.contains(&want));
        assert!(cache.verify(&want).unwrap());
        let hex = want.hex();
        let expected = dir.path().join("c/sha512").join(&hex);
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
        assert_eq!(entries(cache.root()), [expected]);
        cache.sync().unwrap();
        let run = cache.tmp_dir().to_path_buf();
        drop(cache);
        assert!(!run.exists(), "a synced run removes its directory");
    }

    #[test]
    fn a_run_that_did_not_sync_keeps_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        store(&cache, b"x");
        let run = cache.tmp_dir().to_path_buf();
        drop(cache);
        assert!(
            run.exists(),
            "an unsynced run's directory stays for the next open"
        );
        // The next open in the same boot finds it dead and removes it, re-hashing nothing.
        let next = Cache::open(dir.path()).unwrap();
        assert!(!run.exists());
        assert_eq!(next.opened().damaged, 0);
    }

    /// A run directory as a run of boot `boot` leaves it when the machine stops mid-run.
    fn dead_run(root: &Path, boot: &str) -> PathBuf {
        let dead = root.join(format!("tmp/run-1-{boot}-xyz"));
        fs::create_dir_all(&dead).unwrap();
        fs::write(dead.join("lock"), b"").unwrap();
        dead
    }

    #[test]
    fn entries_of_a_run_cut_short_by_a_crash_are_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let before = store(&cache, b"published long before");
        cache.sync().unwrap();
        drop(cache);
        // Damaged long before the dead run began (by more than the slack): not re-hashed.
        fs::write(&before.path, b"damaged long before").unwrap();
        std::thread::sleep(Duration::from_millis(2100));
        let dead = dead_run(dir.path(), "0123456789abcdef0123456789abcdef");
        // The dead run published these; the machine stopped before their data reached the
        // disk, so one is found empty and one of the right size with the wrong bytes.
        let publish = |content: &[u8], found: &[u8]| {
            let integrity = Integrity::compute(Algorithm::Sha512, content);
            fs::write(layout::entry_path(dir.path(), &integrity), found).unwrap();
            integrity
        };
        let empty = publish(b"lost in the crash", b"");
        let wrong = publish(b"also lost", b"also LOST");
        let whole = publish(b"made it to the disk", b"made it to the disk");

        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.opened().damaged, 2);
        assert!(!dead.exists());
        assert_eq!(cache.lookup(&empty), Lookup::Miss);
        assert_eq!(cache.lookup(&wrong), Lookup::Miss);
        assert!(cache.verify(&whole).unwrap());
        assert!(cache.contains(&before.integrity));
    }

    #[test]
    fn a_run_killed_in_this_boot_is_not_rehashed() {
        let Some(boot) = recovery::boot_id() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let dead = dead_run(dir.path(), &boot);
        let cache = Cache::open(dir.path()).unwrap();
        let stored = store(&cache, b"kept in the page cache");
        drop(cache);
        fs::write(&stored.path, b"tampered").unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert!(!dead.exists());
        assert_eq!(cache.opened().damaged, 0);
        assert!(cache.contains(&stored.integrity), "only --verify looks");
        assert!(matches!(
            cache.verify(&stored.integrity),
            Err(CacheError::Mismatch(_))
        ));
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
    fn verify_detects_tampering_and_remove_clears() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let stored = store(&cache, b"abc");
        fs::write(&stored.path, b"abd").unwrap();
        assert!(matches!(
            cache.verify(&stored.integrity),
            Err(CacheError::Mismatch(_))
        ));
        cache.remove(&stored.integrity).unwrap();
        assert_eq!(cache.lookup(&stored.integrity), Lookup::Miss);
        cache.remove(&stored.integrity).unwrap();
        let other = Integrity::compute(Algorithm::Sha512, b"zzz");
        assert!(!cache.verify(&other).unwrap());
    }

    #[test]
    fn a_version_1_cache_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = b"from an earlier version";
        let integrity = Integrity::compute(Algorithm::Sha512, bytes);
        let hex = integrity.hex();
        let v1 = dir.path().join("sha512").join(&hex[..2]).join(format!(
            "{}-{}",
            &hex[2..],
            bytes.len()
        ));
        fs::create_dir_all(v1.parent().unwrap()).unwrap();
        fs::write(&v1, bytes).unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.opened().upgrade.migrated, 1);
        assert!(cache.verify(&integrity).unwrap());
        assert!(!v1.exists());
    }

    #[test]
    fn disk_writer_publishes_only_verified_files() {
        use crate::http::timeout::timeout;
        use hyper::body::Bytes;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let disk = DiskWriter::start(&cache, 2).unwrap();
        let good = Integrity::compute(Algorithm::Sha512, b"good bytes");
        let bad = Integrity::compute(Algorithm::Sha512, b"expected");
        let empty = Integrity::compute(Algorithm::Sha512, b"");
        smol::block_on(async {
            timeout(Duration::from_secs(20), async {
                let mut w = disk.entry(Some(&good));
                w.write("good ".into()).await.unwrap();
                w.write("bytes".into()).await.unwrap();
                let stored = w.commit().await.unwrap();
                assert_eq!(stored.bytes, 10);
                assert_eq!(fs::read(&stored.path).unwrap(), b"good bytes");

                let mut w = disk.entry(Some(&bad));
                w.write("other".into()).await.unwrap();
                assert!(matches!(w.commit().await, Err(CacheError::Mismatch(_))));

                let mut w = disk.entry(Some(&good));
                w.write("dropped".into()).await.unwrap();
                drop(w);

                // Several batches.
                let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
                let big_integrity = Integrity::compute(Algorithm::Sha512, &big);
                let mut w = disk.entry(Some(&big_integrity));
                for piece in big.chunks(16 * 1024) {
                    w.write(Bytes::copy_from_slice(piece)).await.unwrap();
                }
                let stored = w.commit().await.unwrap();
                assert_eq!(fs::read(&stored.path).unwrap(), big);

                // An empty body: nothing was written, yet the entry is made.
                let stored = disk.entry(Some(&empty)).commit().await.unwrap();
                assert_eq!(fs::read(&stored.path).unwrap(), b"");
            })
            .await
            .expect("test timed out")
        });
        drop(disk);
        // The writer threads recorded the new cache's layout.
        assert!(layout::is_current(dir.path()));
        assert!(!cache.contains(&bad));
        assert_eq!(entries(dir.path()).len(), 3);
        assert!(entries(cache.tmp_dir()).is_empty());
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
