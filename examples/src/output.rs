//! Writing an output file (a plot, a trace) whole or not at all.

use std::io::Write as _;
use std::path::Path;

/// Writes `contents` to `path` through a temporary file in the same directory, renamed into place
/// once complete, so a failed write leaves neither a partial file nor litter behind. The error
/// names the path and the cause.
pub fn write_whole(path: &Path, contents: &[u8]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut file = tempfile::NamedTempFile::new_in(parent_dir(path)).map_err(|e| fail(&e))?;
    file.write_all(contents).map_err(|e| fail(&e))?;
    // A temporary file is private to its owner; the output is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::Permissions::from_mode(0o644);
        file.as_file().set_permissions(mode).map_err(|e| fail(&e))?;
    }
    file.as_file().sync_all().map_err(|e| fail(&e))?;
    file.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// Checks, before a long run, that `path` could be written: its directory exists and it is not a
/// directory itself. `flag` names the option in the error.
pub fn check_writable(path: &Path, flag: &str) -> Result<(), String> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(format!(
            "{flag} {}: no directory {}",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("{flag} {}: is a directory", path.display()));
    }
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
