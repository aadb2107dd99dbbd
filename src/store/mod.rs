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
//! .firedrill/sandbox/<account>/<region>/<name>.json   what `sandbox up` made (see sandbox)
//! ```
//!
//! [`Store`] finds, creates, locks and reads runs; [`RunRecord`] is a run folded from its
//! journal (phases per target, what was created); [`journal`] writes events durably, in
//! one fsync per batch of events; [`snapshot`] writes and checks the snapshot files;
//! [`fs`] opens files without following links and writes them privately.
//!
//! Snapshots are written to a temporary file, fsync'd, renamed into place, and the
//! directory fsync'd, so a snapshot either exists whole or not at all. Everything here
//! is plain JSON for an investigator to open.

pub mod fs;
pub mod journal;
pub mod record;
pub mod snapshot;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use fs::{create_private_dir, private_file, write_durably};
pub use journal::{Event, Journal};
pub use record::{Phase, RunRecord};

use crate::{Error, Result};

/// The state store: runs, drills, schedules and sandbox manifests under one directory.
#[derive(Clone, Debug)]
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

/// One directory of `runs/`, as [`Store::entries`] finds it.
pub enum Entry {
    Run(Box<RunRecord>),
    /// Not readable as a run: a journal whose first line is not `run-started`, a link, a
    /// name that is not a run id. Reported and skipped; its files are left for a person.
    Damaged {
        id: String,
        reason: String,
    },
}

/// A run directory that could not be read: `(id, why)`.
pub type Damaged = (String, String);

/// Who holds a run's lock, as its lock file says: a process on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.is_empty() {
            write!(f, "pid {}", self.pid)
        } else {
            write!(f, "pid {} on {}", self.pid, self.host)
        }
    }
}

/// Check an id (a run's, a drill's) given on the command line or read from a file: it
/// names a directory of the store, so it is one path component of a fixed character
/// set, never `..`, never a path.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "`{id}` is not a run id: ids are letters, digits, `.`, `_` and `-` (see `firedrill runs`)"
        )))
    }
}

impl Store {
    /// The store at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Where the store is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// A short name for this store, the same from any working directory: the host and a
    /// digest of the store's absolute path. Hold tags carry it, so a store can tell its
    /// own lost runs from another store's.
    pub fn identity(&self) -> String {
        // The same whether the store exists yet or not (it may have been lost).
        let path = std::fs::canonicalize(&self.root).unwrap_or_else(|_| {
            let parent = self.root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = self.root.file_name().unwrap_or_default();
            std::fs::canonicalize(parent).map(|p| p.join(name)).unwrap_or_else(|_| self.root.clone())
        });
        let digest = snapshot::sha256(format!("{}\0{}", journal::hostname(), path.display()).as_bytes());
        format!("store {}", &digest[..12])
    }

    /// The directory of run `id` (checked: see [`check_id`]).
    pub fn run_dir(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.runs_dir().join(id))
    }

    /// Check the store's root and `runs/` (when they exist) before reading or writing.
    fn check(&self) -> Result<bool> {
        if !fs::exists(&self.root) {
            return Ok(false);
        }
        fs::check_root(&self.root)?;
        let runs = self.runs_dir();
        if !fs::exists(&runs) {
            return Ok(false);
        }
        fs::check_dir(&runs)?;
        Ok(true)
    }

    /// A new run id: UTC time to the millisecond, then 4 random hex digits; ids sort by
    /// start time, which `runs` and the default RUN of `status` / `revert` rely on.
    pub fn new_run_id() -> String {
        let ts = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
        format!("{ts}-{:04x}", crate::target::fresh_seed() & 0xffff)
    }

    /// Create run `id` (its directory must not exist yet), take its lock, and start its
    /// journal with `first` (its `run-started`), atomically: a run directory either has a
    /// journal that says what the run is, or nothing was ever done from it.
    pub fn create_run(&self, id: &str, first: &Event) -> Result<RunDir> {
        let dir = self.run_dir(id)?;
        fs::create_private_dir(&self.root)?;
        fs::check_root(&self.root)?;
        fs::create_private_dir(&self.runs_dir())?;
        fs::create_new_dir(&dir)?;
        fs::create_private_dir(&dir.join("snapshots"))?;
        fs::sync_dir(&self.runs_dir())?;
        let lock = take_lock(id, &dir)?;
        let journal = Arc::new(Journal::create(&dir.join("journal.jsonl"), first)?);
        Ok(RunDir { id: id.to_owned(), dir, journal, _lock: lock })
    }

    /// Open an existing run for mutation, taking its lock. Refuses, writing nothing, a
    /// directory that is not a run (no journal, or one that does not start with
    /// `run-started`).
    pub fn open_run(&self, id: &str) -> Result<RunDir> {
        let dir = self.existing(id)?;
        first_event(&dir)?;
        let lock = take_lock(id, &dir)?;
        let journal = Arc::new(Journal::open(&dir.join("journal.jsonl"))?);
        Ok(RunDir { id: id.to_owned(), dir, journal, _lock: lock })
    }

    /// Who holds run `id`'s lock now, if anyone does.
    pub fn holder(&self, id: &str) -> Result<Option<Holder>> {
        let dir = self.existing(id)?;
        let path = dir.join("lock");
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

    /// The directory of run `id`, which must exist and be a real directory.
    fn existing(&self, id: &str) -> Result<PathBuf> {
        let dir = self.run_dir(id)?;
        if !self.check()? || !fs::exists(&dir) {
            return Err(Error::Usage(format!("no run {id} in {}", self.root.display())));
        }
        fs::check_dir(&dir)?;
        Ok(dir)
    }

    /// Read a run's record (no lock: a reader may see a run mid-flight).
    pub fn read(&self, id: &str) -> Result<RunRecord> {
        let dir = self.existing(id)?;
        let path = dir.join("journal.jsonl");
        if !fs::exists(&path) {
            return Err(not_a_run(&dir, "it has no journal.jsonl"));
        }
        let read = Journal::read_all(&path)?;
        let mut rec = RunRecord::fold(&path, read.events)?;
        rec.warnings.splice(0..0, read.warnings);
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

    /// Every run directory, newest first: a readable run, or a damaged one with the
    /// reason. A directory with no journal yet (a crash before the run began: nothing
    /// was done from it) is not listed.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        if !self.check()? {
            return Ok(Vec::new());
        }
        let runs = self.runs_dir();
        let dirs = std::fs::read_dir(&runs).map_err(Error::store("read state directory", &runs))?;
        let mut names: Vec<String> = dirs.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::with_capacity(names.len());
        for id in names {
            if id.starts_with('.') {
                continue;
            }
            let dir = runs.join(&id);
            let journal = dir.join("journal.jsonl");
            let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
            if is_dir && std::fs::symlink_metadata(&journal).map_or(true, |m| m.is_file() && m.len() == 0) {
                continue;
            }
            out.push(match self.read(&id) {
                Ok(rec) => Entry::Run(Box::new(rec)),
                Err(e) => Entry::Damaged { id, reason: e.to_string() },
            });
        }
        Ok(out)
    }

    /// Every readable run, newest first, and the damaged ones.
    pub fn runs(&self) -> Result<(Vec<RunRecord>, Vec<Damaged>)> {
        let mut runs = Vec::new();
        let mut damaged = Vec::new();
        for e in self.entries()? {
            match e {
                Entry::Run(rec) => runs.push(*rec),
                Entry::Damaged { id, reason } => damaged.push((id, reason)),
            }
        }
        Ok((runs, damaged))
    }

    /// The run `id`, or the newest run that still has something injected, or else (for
    /// commands that only look) the newest run.
    pub fn resolve_or_newest(&self, id: Option<&str>) -> Result<String> {
        match self.resolve(id) {
            Ok(id) => Ok(id),
            Err(e) => self.runs()?.0.into_iter().next().map(|r| r.run_id).ok_or(e),
        }
    }

    /// The run `id`, or the newest run that still has something injected. Damaged runs
    /// are skipped (`firedrill runs` lists them).
    pub fn resolve(&self, id: Option<&str>) -> Result<String> {
        if let Some(id) = id {
            check_id(id)?;
            return Ok(id.to_owned());
        }
        if let Some(rec) = self.runs()?.0.into_iter().find(|r| r.needs_revert()) {
            return Ok(rec.run_id);
        }
        Err(Error::Usage(format!(
            "no run in {} has injected faults; name one (see `firedrill runs`)",
            self.root.display()
        )))
    }
}

/// The first event of the run in `dir`, which must be its `run-started`.
fn first_event(dir: &Path) -> Result<()> {
    let path = dir.join("journal.jsonl");
    if !fs::exists(&path) {
        return Err(not_a_run(dir, "it has no journal.jsonl"));
    }
    let bytes = fs::read(&path, "read journal")?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    match serde_json::from_slice::<Event>(first) {
        Ok(Event::RunStarted { .. }) => Ok(()),
        _ => Err(not_a_run(dir, "its journal does not start with run-started")),
    }
}

fn not_a_run(dir: &Path, why: &str) -> Error {
    Error::Refused(format!("{} is not a firedrill run ({why}); nothing was written to it", dir.display()))
}

/// Take the lock of the run in `dir` and write who holds it (`pid host`).
fn take_lock(id: &str, dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let mut lock = fs::open(&path, private_file().create(true).truncate(false).read(true).write(true), "open lock")?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = read_holder(&mut lock);
            return Err(Error::Locked { run: id.to_owned(), holder: format!(" ({holder})") });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::store("lock", &path)(e)),
    }
    lock.set_len(0).and_then(|_| lock.rewind()).map_err(Error::store("write lock", &path))?;
    let _ = write!(lock, "{} {}", std::process::id(), journal::hostname());
    Ok(lock)
}

fn read_holder(lock: &mut File) -> Holder {
    let mut text = String::new();
    let _ = lock.take(256).read_to_string(&mut text);
    let mut words = text.split_whitespace();
    let pid = words.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Holder { pid, host: words.next().unwrap_or_default().to_owned() }
}

/// Write `snapshots/<name>.json` in a run directory for each `(name, value)`, durably
/// (see [`write_durably`]) with one directory fsync for all of them; returns each file's
/// path relative to the run directory and the SHA-256 of what was written, in order.
pub fn write_json_all<T: Serialize>(run_dir: &Path, files: &[(String, T)]) -> Result<Vec<(String, String)>> {
    let dir = run_dir.join("snapshots");
    let mut out = Vec::with_capacity(files.len());
    for (name, value) in files {
        let rel = format!("snapshots/{name}.json");
        let bytes = serde_json::to_vec_pretty(value).expect("snapshots serialize");
        fs::write_synced(&run_dir.join(&rel), &bytes)?;
        out.push((rel, snapshot::sha256(&bytes)));
    }
    if !files.is_empty() {
        fs::sync_dir(&dir)?;
    }
    Ok(out)
}

/// The names of the directories in `dir` that hold a non-empty `journal.jsonl` (drills),
/// newest first: ids sort by start time. A journal still empty crashed before it
/// recorded anything, so before it changed anything: nothing to show or revert.
pub fn ids_with_journal(dir: &Path) -> Result<Vec<String>> {
    if !fs::exists(dir) {
        return Ok(Vec::new());
    }
    fs::check_dir(dir)?;
    let entries = std::fs::read_dir(dir).map_err(Error::store("read state directory", dir))?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir()))
        .filter(|e| std::fs::symlink_metadata(e.path().join("journal.jsonl")).is_ok_and(|m| m.is_file() && m.len() > 0))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| check_id(id).is_ok())
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;

    use super::*;

    fn temp_store(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("firedrill-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Store::new(dir)
    }

    fn started(id: &str) -> Event {
        Event::RunStarted {
            at: "t".into(),
            run_id: id.into(),
            by: String::new(),
            command: String::new(),
            firedrill_version: "0".into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            endpoint: None,
            access: None,
            faults: vec![],
            seeds: vec![],
            drill: None,
            schedule: None,
        }
    }

    fn create(store: &Store, id: &str) -> RunDir {
        store.create_run(id, &started(id)).unwrap()
    }

    #[test]
    fn the_state_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let store = temp_store("perm");
        let run = create(&store, "r1");
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
        let held = create(&store, "r1");
        // flock locks belong to the open file, so a second open in the same process is
        // refused just as another process would be.
        let me = format!("pid {} on {}", std::process::id(), journal::hostname());
        match store.open_run("r1") {
            Err(Error::Locked { run, holder }) => {
                assert_eq!(run, "r1");
                assert_eq!(holder, format!(" ({me})"));
            }
            other => panic!("expected Locked, got {:?}", other.map(|r| r.id)),
        }
        assert_eq!(store.holder("r1").unwrap().map(|h| h.to_string()), Some(me));
        drop(held);
        assert_eq!(store.holder("r1").unwrap(), None);
        assert!(store.open_run("r1").is_ok(), "the lock is released with the run");
        assert!(store.create_run("r1", &started("r1")).is_err(), "a run is created once");
    }

    #[test]
    fn torn_last_line_is_ignored_and_damage_is_reported_not_fatal() {
        let store = temp_store("torn");
        let run = create(&store, "r1");
        run.journal.append(&Event::Injecting { at: "t".into(), fault: 0, target: "sg-1".into() }).unwrap();
        let path = run.dir.join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"inj").unwrap();
        assert_eq!(Journal::read::<Event>(&path).unwrap().len(), 2);
        f.write_all(b"\n{}\n").unwrap();
        let read = Journal::read_all::<Event>(&path).unwrap();
        assert_eq!(read.events.len(), 2, "what is readable is kept");
        assert!(read.damaged, "and the damage is known");
        assert_eq!(read.warnings.len(), 2, "{:?}", read.warnings);
    }

    #[test]
    fn an_append_after_a_torn_line_starts_a_new_line_and_the_torn_one_is_not_damage() {
        let store = temp_store("torn-append");
        let run = create(&store, "r1");
        let path = run.dir.join("journal.jsonl");
        drop(run);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"event\":\"inj").unwrap();
        let run = store.open_run("r1").unwrap();
        run.journal.append(&Event::Injecting { at: "t".into(), fault: 0, target: "sg-1".into() }).unwrap();
        let read = Journal::read_all::<Event>(&path).unwrap();
        assert_eq!(read.events.len(), 2, "run-started and the new event, not glued to the torn line");
        assert!(!read.damaged && read.warnings.is_empty(), "{:?}", read.warnings);
    }

    #[test]
    fn ids_that_are_paths_are_refused() {
        for bad in ["../../elsewhere/dir", "a/b", ".hidden", "", "..", "r 1"] {
            assert!(matches!(check_id(bad), Err(Error::Usage(_))), "{bad:?}");
        }
        check_id("20261122T222909.627Z-72c9").unwrap();
        let store = temp_store("ids");
        assert!(store.open_run("../../x").is_err());
        assert!(!store.root().join("x").exists() && !store.root().parent().unwrap().join("x").exists());
    }

    #[test]
    fn a_directory_that_is_not_a_run_is_never_written_to() {
        let store = temp_store("stray");
        create(&store, "r1");
        let stray = store.root().join("runs/stray");
        std::fs::create_dir(&stray).unwrap();
        assert!(matches!(store.open_run("stray"), Err(Error::Refused(m)) if m.contains("not a firedrill run")));
        assert_eq!(std::fs::read_dir(&stray).unwrap().count(), 0, "no lock, no journal");
        // A journal with a garbled first line: listed as damaged, the rest still listed.
        std::fs::write(stray.join("journal.jsonl"), "garbage\n").unwrap();
        assert!(matches!(store.open_run("stray"), Err(Error::Refused(_))));
        let entries = store.entries().unwrap();
        let listed: Vec<(&str, bool)> = entries
            .iter()
            .map(|e| match e {
                Entry::Run(r) => (r.run_id.as_str(), true),
                Entry::Damaged { id, .. } => (id.as_str(), false),
            })
            .collect();
        assert_eq!(listed, [("stray", false), ("r1", true)]);
        assert_eq!(store.resolve_or_newest(None).unwrap(), "r1");
    }

    #[test]
    fn a_symlinked_lock_or_journal_is_refused_and_its_target_untouched() {
        let store = temp_store("links");
        let run = create(&store, "r1");
        let dir = run.dir.clone();
        drop(run);
        let victim = store.root().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::remove_file(dir.join("lock")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("lock")).unwrap();
        assert!(matches!(store.open_run("r1"), Err(Error::Refused(m)) if m.contains("symbolic link")));
        std::fs::remove_file(dir.join("lock")).unwrap();
        let journal = std::fs::read(dir.join("journal.jsonl")).unwrap();
        std::fs::remove_file(dir.join("journal.jsonl")).unwrap();
        std::fs::write(store.root().join("journal-copy"), &journal).unwrap();
        std::os::unix::fs::symlink(store.root().join("journal-copy"), dir.join("journal.jsonl")).unwrap();
        assert!(matches!(store.open_run("r1"), Err(Error::Refused(_))));
        assert!(store.read("r1").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
}
