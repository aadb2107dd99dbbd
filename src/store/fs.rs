//! The state store's file-system primitives, hardened against the store's worst day: a
//! file replaced by a symbolic link, a directory someone else can write, a disk that
//! fills up mid-write, a crash between two steps.
//!
//! - Files are opened with `O_NOFOLLOW` and must be regular files: a `lock` or
//!   `journal.jsonl` replaced by a link to a victim file is refused, never written through.
//! - Directories of the store must be real directories (the root may be a link, to put
//!   the store on another disk), owned by the user running firedrill, and writable by
//!   nobody else (a group write counts unless the group is the user's own): otherwise
//!   someone else could plant a run, a snapshot or a link.
//! - Whole-file writes go to a temporary file created exclusively, are fsync'd and renamed
//!   over the target, then the directory is fsync'd; a failed write (ENOSPC) removes the
//!   temporary file, so nothing half-written is left.
//! - Everything is private: 0700 directories, 0600 files (snapshots hold IAM policies and
//!   DNS data).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{Error, Result};

/// The largest file the store reads back whole (a journal, a snapshot): far above what a
/// fleet of 10,000 targets writes, far below what would exhaust memory.
pub const MAX_FILE: u64 = 1 << 30;

/// Options for a private file (0600 when created), opened without following a link.
pub fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    o
}

/// Open `path` with `options` (from [`private_file`]) and check it is a regular file.
pub fn open(path: &Path, options: &OpenOptions, doing: &'static str) -> Result<File> {
    let file = options.open(path).map_err(|e| io_error(doing, path, e))?;
    let meta = file.metadata().map_err(Error::store(doing, path))?;
    if !meta.is_file() {
        return Err(Error::Refused(format!(
            "{} is not a regular file: the state store only reads and writes its own files",
            path.display()
        )));
    }
    Ok(file)
}

/// The bytes of the regular file `path`, not following a link, at most [`MAX_FILE`].
pub fn read(path: &Path, doing: &'static str) -> Result<Vec<u8>> {
    let file = open(path, private_file().read(true), doing)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes).map_err(Error::store(doing, path))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::Corrupt { path: path.to_owned(), message: format!("larger than {MAX_FILE} bytes") });
    }
    Ok(bytes)
}

/// Whether `path` exists without following a link (a dangling link exists).
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Create `dir` (and its parents) as 0700, then check it as [`check_dir`] does.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::store("create directory", dir))?;
    check_dir(dir)
}

/// Create `dir` as 0700; it must not exist yet (a run's directory is made once).
pub fn create_new_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new().mode(0o700).create(dir).map_err(Error::store("create directory", dir))
}

/// Refuse a directory inside the store that is a link, is not a directory, belongs to
/// someone else or that others can write.
pub fn check_dir(dir: &Path) -> Result<()> {
    check_meta(dir, std::fs::symlink_metadata(dir).map_err(Error::store("look at", dir))?)
}

/// [`check_dir`] for the store's root, which may be a link to a directory (a store on
/// another disk): its target is checked.
pub fn check_root(dir: &Path) -> Result<()> {
    check_meta(dir, std::fs::metadata(dir).map_err(Error::store("look at", dir))?)
}

fn check_meta(dir: &Path, meta: std::fs::Metadata) -> Result<()> {
    let refuse = |why: String| Err(Error::Refused(format!("state directory {}: {why}", dir.display())));
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link; the state store never follows links inside itself".into());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    let me = euid();
    if meta.uid() != me {
        return refuse(format!("belongs to uid {}, not to you (uid {me}); use your own --state", meta.uid()));
    }
    // Writable by others, or by a group other than the user's own (a user-private group,
    // as a umask of 002 gives every directory, is only the user).
    let mode = meta.permissions().mode() & 0o777;
    let group_writes = mode & 0o020 != 0 && meta.gid() != egid();
    if mode & 0o002 != 0 || group_writes {
        return refuse(format!(
            "is writable by others (mode {mode:o}); make it private with `chmod 700 {}`",
            dir.display()
        ));
    }
    Ok(())
}

/// Replace `path` with `bytes` so that it holds either the old or the new content, whole,
/// whatever happens: write a temporary file, fsync it, rename it over, fsync the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    write_synced(path, bytes)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// [`write_durably`] but for the directory fsync, which the caller does once for many.
/// The temporary file is created exclusively (a leftover one, or a link planted in its
/// place, is removed first, never written through) and removed again if anything fails.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    if exists(&tmp) {
        std::fs::remove_file(&tmp).map_err(Error::store("remove a stale temporary file", &tmp))?;
    }
    let written = (|| {
        let mut file = open(&tmp, private_file().create_new(true).write(true), "create")?;
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(Error::store("write", &tmp))?;
        refuse_link(path)?;
        std::fs::rename(&tmp, path).map_err(Error::store("rename into place", path))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A link where the store expects its own file is refused, not replaced silently.
fn refuse_link(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Refused(format!(
            "{} is a symbolic link: the state store never follows links; remove it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Fsync a directory, so an entry created or renamed in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::store("fsync directory", dir))
}

/// The effective user id: who must own the store.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective group id.
fn egid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// An open error, with links named as such (ELOOP is what `O_NOFOLLOW` answers).
fn io_error(doing: &'static str, path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::Refused(format!(
            "{} is a symbolic link: the state store never follows links; remove it",
            path.display()
        ));
    }
    Error::store(doing, path)(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("firedrill-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        create_private_dir(&d).unwrap();
        d
    }

    #[test]
    fn a_link_is_refused_and_its_target_untouched() {
        let d = dir("link");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("lock")).unwrap();
        let opened = open(&d.join("lock"), private_file().write(true).create(true), "open lock");
        assert!(matches!(opened, Err(Error::Refused(ref m)) if m.contains("symbolic link")), "{opened:?}");
        assert!(write_durably(&d.join("lock"), b"x").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let d = dir("mode");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check_dir(&d), Err(Error::Refused(m)) if m.contains("writable by others")));
        // Group-writable by the user's own group (a umask of 002): still only the user.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o770)).unwrap();
        check_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_dir(&d).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let d = dir("tmp");
        // The rename fails: the target is a directory.
        std::fs::create_dir(d.join("target")).unwrap();
        assert!(write_durably(&d.join("target"), b"x").is_err());
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("target")]);
    }
}
