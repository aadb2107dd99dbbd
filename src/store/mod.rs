//! The state directory (`.firedrill/` by default): one directory per run.
//!
//! ```text
//! .firedrill/runs/<run-id>/
//!     journal.jsonl              append-only events, fsync'd (see journal.rs)
//!     snapshots/<n>-<fault>.json         every target's state before the fault, and the
//!                                        change (see snapshot.rs)
//!     snapshots/<n>-<fault>.after.json   every target's state right after it
//!     lock                       held by the process mutating the run
//! .firedrill/drills/<drill-id>/journal.jsonl   a drill's timeline (see drill::journal)
//! .firedrill/schedules/<name>/                 a schedule's state (see schedule::state)
//! ```
//!
//! Snapshots are written to a temporary file, fsync'd, renamed into place, and the
//! directory fsync'd, so a snapshot either exists whole or not at all. Everything here
//! is plain JSON for an investigator to open.

pub mod journal;
pub mod record;
pub mod snapshot;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use journal::{Event, Journal};
pub use record::{Phase, RunRecord};

use crate::{Error, Result};

pub struct Store {
    root: PathBuf,
}

/// An open run: its journal and the lock that keeps other processes out.
pub struct RunDir {
    pub id: String,
    pub dir: PathBuf,
    pub journal: Arc<Journal>,
    _lock: File,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }

    /// A new run id: UTC time to the millisecond, then 4 random hex digits; ids sort by
    /// start time, which `runs` and the default RUN of `status` / `revert` rely on.
    pub fn new_run_id() -> String {
        let ts = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
        format!("{ts}-{:04x}", crate::target::fresh_seed() & 0xffff)
    }

    /// Create a run's directory and take its lock.
    pub fn create_run(&self, id: &str) -> Result<RunDir> {
        let dir = self.run_dir(id);
        create_private_dir(&dir.join("snapshots"))?;
        sync_dir(&self.runs_dir())?;
        sync_dir(&dir)?;
        self.open_run(id)
    }

    /// Open an existing run for mutation, taking its lock.
    pub fn open_run(&self, id: &str) -> Result<RunDir> {
        let dir = self.run_dir(id);
        if !dir.is_dir() {
            return Err(Error::Usage(format!("no run {id} in {}", self.root.display())));
        }
        let lock_path = dir.join("lock");
        let mut lock = private_file()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(Error::store("open lock", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                return Err(Error::Locked { run: id.to_owned(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::store("lock", &lock_path)(e));
            }
        }
        lock.set_len(0).and_then(|_| lock.rewind()).map_err(Error::store("write lock", &lock_path))?;
        let _ = write!(lock, "{}", std::process::id());
        let journal = Arc::new(Journal::open(&dir.join("journal.jsonl"))?);
        Ok(RunDir { id: id.to_owned(), dir, journal, _lock: lock })
    }

    /// Every run id, newest first.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        ids_with_journal(&self.runs_dir())
    }

    /// Read a run's record (no lock: a reader may see a run mid-flight).
    pub fn read(&self, id: &str) -> Result<RunRecord> {
        let dir = self.run_dir(id);
        let path = dir.join("journal.jsonl");
        if !path.is_file() {
            return Err(Error::Usage(format!("no run {id} in {}", self.root.display())));
        }
        let read = Journal::read_all(&path)?;
        let mut rec = RunRecord::fold(&path, read.events)?;
        if read.damaged {
            // A lost line may have been a target's `injecting`: treat every target that
            // looks untouched as possibly changed. Revert's drift check then finds it
            // untouched (restored) or restores it; it can never skip a broken one.
            for t in rec.targets.iter_mut().filter(|t| t.phase == record::Phase::NotInjected) {
                t.phase = record::Phase::Injecting;
            }
        }
        Ok(rec)
    }

    /// The run `id`, or the newest run that still has something injected, or else (for
    /// commands that only look) the newest run.
    pub fn resolve_or_newest(&self, id: Option<&str>) -> Result<String> {
        match self.resolve(id) {
            Ok(id) => Ok(id),
            Err(e) => self.run_ids()?.into_iter().next().ok_or(e),
        }
    }

    /// The run `id`, or the newest run that still has something injected.
    pub fn resolve(&self, id: Option<&str>) -> Result<String> {
        if let Some(id) = id {
            return Ok(id.to_owned());
        }
        for id in self.run_ids()? {
            if self.read(&id)?.needs_revert() {
                return Ok(id);
            }
        }
        Err(Error::Usage(format!(
            "no run in {} has injected faults; name one (see `firedrill runs`)",
            self.root.display()
        )))
    }
}

/// Write `snapshots/<name>.json` in a run directory for each `(name, value)`, durably
/// (see [`write_durably`]) with one directory fsync for all of them; returns the paths
/// relative to the run directory, in order.
pub fn write_json_all<T: Serialize>(run_dir: &Path, files: &[(String, T)]) -> Result<Vec<String>> {
    let dir = run_dir.join("snapshots");
    let mut out = Vec::with_capacity(files.len());
    for (name, value) in files {
        let rel = format!("snapshots/{name}.json");
        write_synced(&run_dir.join(&rel), &serde_json::to_vec_pretty(value).expect("snapshots serialize"))?;
        out.push(rel);
    }
    if !files.is_empty() {
        sync_dir(&dir)?;
    }
    Ok(out)
}

/// Replace `path` with `bytes` so that it holds either the old or the new content, whole,
/// whatever happens: write a temporary file, fsync it, rename it over, fsync the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    write_synced(path, bytes)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// [`write_durably`] but for the directory fsync, which the caller does once for many.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file =
        private_file().create(true).write(true).truncate(true).open(&tmp).map_err(Error::store("create", &tmp))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(Error::store("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::store("rename into place", path))
}

/// The names of the directories in `dir` that hold a non-empty `journal.jsonl` (runs or
/// drills), newest first: ids sort by start time. A journal still empty crashed before
/// it recorded anything, so before it changed anything: nothing to show or revert.
pub fn ids_with_journal(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::store("read state directory", dir)(e)),
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| std::fs::metadata(e.path().join("journal.jsonl")).is_ok_and(|m| m.len() > 0))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    Ok(ids)
}

/// Snapshots can hold IAM policies and DNS data: the state directory is the user's only
/// (0700 directories, 0600 files).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(Error::store("create directory", dir))
}

pub fn private_file() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::store("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("firedrill-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Store::new(dir)
    }

    #[test]
    fn the_state_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let store = temp_store("perm");
        let run = store.create_run("r1").unwrap();
        write_json_all(&run.dir, &[("x".to_owned(), 1)]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&run.dir), 0o700);
        assert_eq!(mode(&run.dir.join("snapshots")), 0o700);
        assert_eq!(mode(&run.dir.join("snapshots/x.json")), 0o600);
        assert_eq!(mode(&run.dir.join("journal.jsonl")), 0o600);
        assert_eq!(mode(&run.dir.join("lock")), 0o600);
    }

    #[test]
    fn a_locked_run_refuses_a_second_opener() {
        let store = temp_store("lock");
        let held = store.create_run("r1").unwrap();
        // flock locks belong to the open file, so a second open in the same process is
        // refused just as another process would be.
        match store.open_run("r1") {
            Err(Error::Locked { run, holder }) => {
                assert_eq!(run, "r1");
                assert_eq!(holder, format!(" (pid {})", std::process::id()));
            }
            other => panic!("expected Locked, got {:?}", other.map(|r| r.id)),
        }
        drop(held);
        assert!(store.open_run("r1").is_ok(), "the lock is released with the run");
    }

    #[test]
    fn torn_last_line_is_ignored_and_damage_is_reported_not_fatal() {
        let store = temp_store("torn");
        let run = store.create_run("r1").unwrap();
        run.journal.append(&Event::Injecting { at: "t".into(), fault: 0, target: "sg-1".into() }).unwrap();
        let path = run.dir.join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"inj").unwrap();
        assert_eq!(Journal::read::<Event>(&path).unwrap().len(), 1);
        f.write_all(b"\n{}\n").unwrap();
        let read = Journal::read_all::<Event>(&path).unwrap();
        assert_eq!(read.events.len(), 1, "what is readable is kept");
        assert!(read.damaged, "and the damage is known");
    }
}
