//! Where entries live, and the upgrade of a cache written by an earlier version.
//!
//! Version 2 (this one) names an entry by its digest alone, so that finding it is one `stat` of a
//! name computed from the lockfile's integrity, in one directory per algorithm:
//!
//! ```text
//! sha512/abcdef…   the hex of the digest
//! layout           "2": written once the layout is in place
//! ```
//!
//! No fan-out directories: ext4 (`dir_index`) and XFS index a directory by name hash, so a look-up
//! or a new name in a directory of a million entries costs what it costs in one of a hundred,
//! while each fan-out directory is one more inode to allocate. On ext4 without a journal that
//! allocation scans past every inode deleted in the last minute, and making 256 of them cost a new
//! cache about as much as writing its first 300 tarballs.
//!
//! Version 1 (no `layout` file) named entries `sha512/ab/cdef…-48213`: a fan-out directory and the
//! size, so that finding an entry meant listing its directory. Opening such a cache **migrates**
//! it: every entry whose file is the size its name says is renamed to its version-2 name, the
//! others (cut short by a crash) are removed, and so are the emptied fan-out directories. Then
//! `layout` is written (by the cache's writer threads, while a run's first responses are awaited);
//! a cache with `layout` is never listed again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{CacheError, io_err};
use crate::integrity::{Algorithm, Integrity};

/// The layout's version, the content of the `layout` file.
const VERSION: &str = "2";
/// The file that says the layout is in place.
const MARKER: &str = "layout";
/// The algorithms an entry can be named by (directory names).
pub(super) const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Sha512,
    Algorithm::Sha384,
    Algorithm::Sha256,
    Algorithm::Sha1,
];

/// `<root>/<algo>/<hex>`.
pub(super) fn entry_path(root: &Path, integrity: &Integrity) -> PathBuf {
    root.join(integrity.algorithm().name())
        .join(integrity.hex())
}

/// What opening the cache found of an earlier layout.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Upgrade {
    /// Version-1 entries renamed to their version-2 names.
    pub migrated: usize,
    /// Version-1 entries removed because their file was not the size their name said.
    pub removed: usize,
}

/// Whether `root` has this version's layout (its `layout` file says so).
pub(super) fn is_current(root: &Path) -> bool {
    fs::read_to_string(root.join(MARKER)).is_ok_and(|v| v.trim() == VERSION)
}

/// Migrates the version-1 entries under `root`, if any: to be done before any look-up.
pub(super) fn migrate_all(root: &Path) -> Result<Upgrade, CacheError> {
    let mut upgrade = Upgrade::default();
    for algorithm in ALGORITHMS {
        migrate(&root.join(algorithm.name()), algorithm, &mut upgrade)?;
    }
    Ok(upgrade)
}

/// Makes the sha512 directory, then writes the `layout` file through `scratch` (a directory on
/// the same file system).
pub(super) fn complete(root: &Path, scratch: &Path) -> Result<(), CacheError> {
    let sha512 = root.join(Algorithm::Sha512.name());
    match fs::create_dir(&sha512) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(io_err("create directory", &sha512)(e));
        }
        _ => {}
    }
    let temp = scratch.join(MARKER);
    fs::write(&temp, format!("{VERSION}\n")).map_err(io_err("write", &temp))?;
    let marker = root.join(MARKER);
    fs::rename(&temp, &marker).map_err(io_err("write", &marker))
}

/// Renames the version-1 entries (`<hex[..2]>/<hex[2..]>-<size>`) under `dir` (`<root>/sha512`)
/// to `<hex>`, and removes the fan-out directories it empties.
fn migrate(dir: &Path, algorithm: Algorithm, upgrade: &mut Upgrade) -> Result<(), CacheError> {
    let Ok(fans) = fs::read_dir(dir) else {
        return Ok(());
    };
    let rest_len = algorithm.digest_len() * 2 - 2;
    for fan in fans.flatten() {
        let fan_name = fan.file_name();
        let Some(fan_name) = fan_name.to_str().filter(|n| n.len() == 2) else {
            continue;
        };
        let Ok(entries) = fs::read_dir(fan.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some((rest, size)) = name.to_str().and_then(|n| n.split_once('-')) else {
                continue;
            };
            let Ok(size) = size.parse::<u64>() else {
                continue;
            };
            if rest.len() != rest_len {
                continue;
            }
            let old = entry.path();
            let whole = entry
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() == size);
            let result = if whole {
                upgrade.migrated += 1;
                fs::rename(&old, dir.join(format!("{fan_name}{rest}")))
            } else {
                upgrade.removed += 1;
                fs::remove_file(&old)
            };
            match result {
                // Another process migrating the same cache got there first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("migrate", &old)(e)),
                Ok(()) => {}
            }
        }
        // Only if empty: anything else in it is left alone.
        let _ = fs::remove_dir(fan.path());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_entries_are_renamed_or_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let scratch = root.join("scratch");
        fs::create_dir(&scratch).unwrap();
        // A version-1 cache: one whole entry, one cut short, one foreign file.
        let whole = Integrity::compute(Algorithm::Sha512, b"whole");
        let short = Integrity::compute(Algorithm::Sha1, b"short");
        let v1 = |i: &Integrity, size: usize| {
            let hex = i.hex();
            root.join(i.algorithm().name())
                .join(&hex[..2])
                .join(format!("{}-{size}", &hex[2..]))
        };
        for (i, bytes) in [(&whole, &b"whole"[..]), (&short, &b"sh"[..])] {
            fs::create_dir_all(v1(i, 5).parent().unwrap()).unwrap();
            fs::write(v1(i, 5), bytes).unwrap();
        }
        let foreign = root.join("sha512/00/README");
        fs::create_dir_all(foreign.parent().unwrap()).unwrap();
        fs::write(&foreign, b"x").unwrap();

        assert!(!is_current(root));
        let upgrade = migrate_all(root).unwrap();
        complete(root, &scratch).unwrap();
        assert_eq!(
            upgrade,
            Upgrade {
                migrated: 1,
                removed: 1
            }
        );
        assert_eq!(fs::read(entry_path(root, &whole)).unwrap(), b"whole");
        assert!(!v1(&whole, 5).exists());
        assert!(!v1(&short, 5).exists());
        assert!(!entry_path(root, &short).exists());
        assert!(foreign.exists(), "files of no layout are left alone");
        let hex = whole.hex();
        assert!(
            !root.join("sha512").join(&hex[..2]).exists(),
            "emptied fan-out removed"
        );
        assert_eq!(fs::read_to_string(root.join(MARKER)).unwrap(), "2\n");

        // With `layout` in place the cache needs no migration (and is not listed again).
        assert!(is_current(root));
    }
}
