//! The local store: a private directory (`.firedrill/` by default), hardened as
//! [`super::fs`] says. Files are written to a temporary file, fsync'd and renamed into
//! place, then their directory fsync'd; logs are `<key>.jsonl` files appended and
//! fsync'd; locks are `flock`s on a file that names its holder, released by the kernel
//! when the process ends, however it ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::backend::{Backend, Held, Holder, Log, Stored};
use super::fs::{self, private_file};
use super::journal::{TORN, hostname};
use crate::{Error, Result};

/// A store in a local directory.
#[derive(Clone, Debug)]
pub struct Local {
    root: PathBuf,
}

impl Local {
    /// The store at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Local {
        Local { root: root.into() }
    }

    /// Where the store is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key`, after checking the root and every directory on the way that
    /// exists: a real directory, the user's own, private (see [`fs::check_dir`]).
    fn path(&self, key: &str) -> Result<PathBuf> {
        let (dirs, _) = key.rsplit_once('/').unwrap_or(("", key));
        self.dir_path(dirs)?;
        Ok(self.root.join(key))
    }

    /// The path of directory `dir` (`""`: the root), checked as [`Local::path`] says,
    /// itself included.
    fn dir_path(&self, dir: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        if !fs::exists(&path) {
            return Ok(self.root.join(dir));
        }
        fs::check_root(&path)?;
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            if !fs::exists(&path) {
                return Ok(self.root.join(dir));
            }
            fs::check_dir(&path)?;
        }
        Ok(path)
    }

    /// The path of `key`, its directories created private (0700) and checked.
    fn path_to_write(&self, key: &str) -> Result<PathBuf> {
        fs::create_private_dir(&self.root)?;
        fs::check_root(&self.root)?;
        let path = self.root.join(key);
        let mut dir = self.root.clone();
        if let Some((dirs, _)) = key.rsplit_once('/') {
            for part in dirs.split('/') {
                dir.push(part);
                fs::create_private_dir(&dir)?;
            }
        }
        Ok(path)
    }

    fn log_path(&self, key: &str) -> Result<PathBuf> {
        self.path(&format!("{key}.jsonl"))
    }
}

impl Backend for Local {
    fn location(&self, key: &str) -> PathBuf {
        if key.is_empty() { self.root.clone() } else { self.root.join(key) }
    }

    /// The host and a digest of the store's absolute path.
    fn identity(&self) -> String {
        // The same whether the store exists yet or not (it may have been lost).
        let path = std::fs::canonicalize(&self.root).unwrap_or_else(|_| {
            let parent = self.root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = self.root.file_name().unwrap_or_default();
            std::fs::canonicalize(parent).map(|p| p.join(name)).unwrap_or_else(|_| self.root.clone())
        });
        let digest = super::snapshot::sha256(format!("{}\0{}", hostname(), path.display()).as_bytes());
        format!("store {}", &digest[..12])
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        if !fs::exists(&path) {
            return Ok(None);
        }
        fs::read(&path, "read").map(Some)
    }

    fn write_all(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (key, bytes) in files {
            let path = self.path_to_write(key)?;
            fs::write_synced(&path, bytes)?;
            let dir = path.parent().expect("a key names a file in the store").to_owned();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        // One directory fsync for every file written in it.
        dirs.iter().try_for_each(|d| fs::sync_dir(d))
    }

    fn remove(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::store("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.dir_path(dir)?;
        if !fs::exists(&path) {
            return Ok(Vec::new());
        }
        let entries = std::fs::read_dir(&path).map_err(Error::store("read state directory", &path))?;
        Ok(entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    fn create_dir(&self, dir: &str) -> Result<()> {
        let path = self.path_to_write(dir)?;
        fs::create_new_dir(&path)?;
        fs::sync_dir(path.parent().expect("a directory of the store"))
    }

    fn keys(&self) -> Result<Vec<Stored>> {
        let mut out = Vec::new();
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let path = self.dir_path(&dir)?;
            if !fs::exists(&path) {
                continue;
            }
            for name in self.list(&dir)? {
                let key = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
                let meta = std::fs::symlink_metadata(self.root.join(&key))
                    .map_err(Error::store("look at", self.root.join(&key)))?;
                if meta.is_dir() {
                    dirs.push(key);
                } else if !meta.is_file() || name == "lock" {
                    continue;
                } else if let Some(log) = key.strip_suffix(".jsonl") {
                    out.push(Stored::Log(log.to_owned()));
                } else {
                    out.push(Stored::File(key));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn create_log(&self, key: &str, first: &[u8]) -> Result<Box<dyn Log>> {
        let path = self.path_to_write(&format!("{key}.jsonl"))?;
        if fs::exists(&path) {
            return Err(Error::Refused(format!("{} exists already; a journal is created once", path.display())));
        }
        fs::write_durably(&path, first)?;
        Ok(Box::new(LocalLog::open(&path)?))
    }

    fn open_log(&self, key: &str, _shared: bool) -> Result<Box<dyn Log>> {
        // O_APPEND writes of whole lines do not interleave: shared or not is the same here.
        let path = self.path_to_write(&format!("{key}.jsonl"))?;
        Ok(Box::new(LocalLog::open(&path)?))
    }

    fn read_log(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.log_path(key)?;
        if !fs::exists(&path) {
            return Ok(None);
        }
        fs::read(&path, "read journal").map(Some)
    }

    fn read_log_since(&self, key: &str, cursor: &mut u64) -> Result<Vec<u8>> {
        let path = self.log_path(key)?;
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return Ok(Vec::new()) };
        if meta.len() <= *cursor {
            return Ok(Vec::new());
        }
        let mut file = fs::open(&path, private_file().read(true), "read journal")?;
        let mut bytes = Vec::with_capacity((meta.len() - *cursor) as usize);
        file.seek(SeekFrom::Start(*cursor))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(Error::store("read journal", &path))?;
        *cursor += bytes.len() as u64;
        Ok(bytes)
    }

    /// `flock` the file `key` and write who holds it (`pid host`).
    fn lock(&self, key: &str) -> Result<std::result::Result<Box<dyn Held>, Holder>> {
        let path = self.path_to_write(key)?;
        let mut lock =
            fs::open(&path, private_file().create(true).truncate(false).read(true).write(true), "open lock")?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut lock))),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::store("lock", &path)(e)),
        }
        lock.set_len(0).and_then(|_| lock.rewind()).map_err(Error::store("write lock", &path))?;
        let _ = write!(lock, "{} {}", std::process::id(), hostname());
        Ok(Ok(Box::new(Flock(lock))))
    }

    fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let path = self.path(key)?;
        if !fs::exists(&path) {
            return Ok(None);
        }
        let mut lock = fs::open(&path, private_file().read(true), "open lock")?;
        match lock.try_lock_shared() {
            Ok(()) => Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Some(read_holder(&mut lock))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::store("lock", &path)(e)),
        }
    }
}

/// A lock file held with `flock`: the kernel releases it when the file is closed.
struct Flock(#[allow(dead_code)] File);

impl Held for Flock {}

fn read_holder(lock: &mut File) -> Holder {
    let mut text = String::new();
    let _ = lock.take(256).read_to_string(&mut text);
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Holder { pid, host: words.next().unwrap_or_default().to_owned(), lease: None }
}

/// An append-only journal file: every append fsync'd before it returns. A torn last line
/// (a crash mid-write) is ended first, with a line saying so (see [`TORN`]).
struct LocalLog {
    path: PathBuf,
    file: Mutex<Appender>,
}

struct Appender {
    file: File,
    /// The file ends in a torn line: the next append ends it first.
    torn: bool,
}

impl LocalLog {
    fn open(path: &Path) -> Result<LocalLog> {
        let file = fs::open(path, private_file().create(true).append(true).read(true), "open journal")?;
        let torn = ends_torn(&file).map_err(Error::store("read journal", path))?;
        Ok(LocalLog { path: path.to_owned(), file: Mutex::new(Appender { file, torn }) })
    }
}

impl Log for LocalLog {
    fn append(&self, lines: &[u8]) -> Result<()> {
        let mut out = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = Vec::with_capacity(lines.len() + TORN.len() + 2);
        if out.torn {
            bytes.push(b'\n');
            bytes.extend_from_slice(TORN.as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(lines);
        out.file.write_all(&bytes).map_err(Error::store("append to journal", &self.path))?;
        out.file.sync_data().map_err(Error::store("fsync journal", &self.path))?;
        out.torn = false;
        Ok(())
    }
}

/// Whether `file` ends in a line with no newline: a write a crash cut short.
fn ends_torn(mut file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}
