//! Where the store keeps its bytes: the one interface both stores implement, a local
//! directory ([`super::local`]) and an S3 prefix ([`super::s3`]). Everything above it
//! (runs, drills, schedules, sandbox manifests) speaks in keys relative to the store
//! (`runs/<id>/snapshots/0-web.json`) and does not know which store it has.
//!
//! Three kinds of thing live in a store:
//! - **files**, written whole and durably (snapshots, a schedule's state, manifests);
//! - **logs**, append-only lines (journals): a local file appended and fsync'd, or on S3
//!   one object per append with a sequence number in its key, each created only if absent
//!   (`If-None-Match: *`), so two writers can never both write the same entry;
//! - **locks**, held while a process changes a run or a schedule: `flock` locally, a lease
//!   object on S3 that its holder renews and another process may take over once it expired.

use std::path::PathBuf;

use crate::Result;

/// The store's bytes. Keys are `/`-separated, relative to the store, and made of checked
/// ids (see [`super::check_id`]): never absolute, never `..`.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Where `key` is, for messages (`.firedrill/runs/x/journal.jsonl`, `s3://b/p/runs/x/…`).
    fn location(&self, key: &str) -> PathBuf;
    /// A short name for the store, the same from any machine or working directory.
    fn identity(&self) -> String;
    /// The whole of file `key`, or `None` when there is none.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Replace file `key` with `bytes`, durably: it holds the old or the new bytes, whole.
    fn write(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.write_all(&[(key.to_owned(), bytes.to_vec())])
    }
    /// [`Backend::write`] for several files, each durable and checked when this returns.
    fn write_all(&self, files: &[(String, Vec<u8>)]) -> Result<()>;
    /// Remove file `key` (nothing if it is not there).
    fn remove(&self, key: &str) -> Result<()>;
    /// The names of the entries directly under `dir` (runs, drills, schedules), unsorted.
    fn list(&self, dir: &str) -> Result<Vec<String>>;
    /// Make the directory `dir` for a new run; it must not exist yet.
    fn create_dir(&self, dir: &str) -> Result<()>;
    /// Everything the store holds but its locks: each file and each log, by key.
    fn keys(&self) -> Result<Vec<Stored>>;

    /// Create log `key` holding `first` (whole lines), atomically and only if there is no
    /// such log yet: it either starts with `first` or does not exist.
    fn create_log(&self, key: &str, first: &[u8]) -> Result<Box<dyn Log>>;
    /// Open log `key` for appending, creating it if needed. `shared`: several processes
    /// append to it (a drill's requests); otherwise one writer holds the lock, and a
    /// second writer's entry is refused, not interleaved (fencing).
    fn open_log(&self, key: &str, shared: bool) -> Result<Box<dyn Log>>;
    /// The whole text of log `key`, or `None` when there is none.
    fn read_log(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// [`Backend::read_log`] of each of `keys`, in order (a store listing its runs). A
    /// store that waits for each answer reads them side by side.
    fn read_logs(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.read_log(k)).collect()
    }
    /// What log `key` gained since `cursor` (0 at first), moving `cursor` past it. A local
    /// log may end mid-line (a line being written); the caller keeps the rest.
    fn read_log_since(&self, key: &str, cursor: &mut u64) -> Result<Vec<u8>>;

    /// Take the lock `key` without waiting: the lock, or who holds it.
    fn lock(&self, key: &str) -> Result<std::result::Result<Box<dyn Held>, Holder>>;
    /// Who holds lock `key` now, if anyone does.
    fn holder(&self, key: &str) -> Result<Option<Holder>>;
}

/// One thing a store holds, as [`Backend::keys`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stored {
    File(String),
    Log(String),
}

/// An open log.
pub trait Log: Send + Sync {
    /// Append whole lines, durably before returning.
    fn append(&self, lines: &[u8]) -> Result<()>;
}

/// A lock taken: released when dropped.
pub trait Held: Send + Sync {
    /// Whose lock this process took over because its lease had expired, if it did.
    fn took_over(&self) -> Option<&Holder> {
        None
    }
    /// Set once this process has lost the lock (an S3 lease another process took over):
    /// what it journals after that is refused. `None` for a lock that cannot be lost.
    fn lost(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicBool>> {
        None
    }
}

/// Who holds a lock, as the lock says: a process on a host (and on S3, its lease).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// How long the holder's lease has left, as S3's clock judges it (S3 locks only).
    pub lease: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if !self.host.is_empty() {
            write!(f, " on {}", self.host)?;
        }
        if let Some(lease) = &self.lease {
            write!(f, ", {lease}")?;
        }
        Ok(())
    }
}
