//! The state store: everything firedrill must remember, in a local directory
//! (`.firedrill/` by default, [`local`]) or under an S3 prefix ([`s3`]), behind one
//! interface ([`backend`]): files written whole and durably, append-only logs, locks.
//! Nothing above this module knows which store it has.
//!
//! ```text
//! runs/<run-id>/
//!     journal                    append-only events (journal.jsonl locally; one object
//!                                per write on S3: journal/<seq>.jsonl)
//!     snapshots/<n>-<fault>.json         every target's state before the fault, and the
//!                                        change (see snapshot.rs)
//!     snapshots/<n>-<fault>.after.json   every target's state right after it
//!     lock                       held by the process mutating the run (flock; an S3 lease)
//! drills/<drill-id>/journal, controls    a drill's timeline and requests (see drill::journal)
//! schedules/<name>/                      a schedule's state (see schedule::state)
//! sandbox/<account>/<region>/<name>.json what `sandbox up` made (see sandbox)
//! ```
//!
//! [`Store`] finds, creates, locks and reads runs; [`RunRecord`] is a run folded from its
//! journal (phases per target, what was created); [`journal`] writes events durably, one
//! write per batch of events; [`snapshot`] checks snapshot files against the digests the
//! journal recorded; [`location`] says which store the options name; [`migrate`] copies
//! one store into another; [`fs`] opens local files without following links and writes
//! them privately.
//!
//! A snapshot either exists whole or not at all (locally: temporary file, fsync, rename,
//! directory fsync; on S3: one PUT, checked against its SHA-256). Everything here is plain
//! JSON for an investigator to open.

pub mod backend;
pub mod fs;
pub mod journal;
pub mod local;
pub mod location;
pub mod migrate;
pub mod record;
pub mod s3;
pub mod snapshot;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use backend::{Backend, Held, Holder};
pub use fs::{create_private_dir, private_file, write_durably};
pub use journal::{Event, Journal};
pub use location::{Location, StateArgs};
pub use record::{Phase, RunRecord};

use crate::{Error, Result};

/// The state store: runs, drills, schedules and sandbox manifests, in a local directory
/// or under an S3 prefix ([`backend`]). Cloning shares it.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

/// An open run: its journal and the lock that keeps other processes out.
pub struct RunDir {
    pub id: String,
    pub files: RunFiles,
    pub journal: Arc<Journal>,
    _lock: Box<dyn Held>,
}

/// A run's files in the store: its snapshots and post-break states.
#[derive(Clone, Debug)]
pub struct RunFiles {
    store: Store,
    run_id: String,
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

/// The key of run `id`'s `rest` (`journal`, `lock`, `snapshots/0-web.json`).
fn run_key(id: &str, rest: &str) -> String {
    format!("runs/{id}/{rest}")
}

impl Store {
    /// The local store at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store::with(Arc::new(local::Local::new(root)))
    }

    /// The store `backend` keeps.
    pub fn with(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// What keeps the store's bytes.
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    /// Where the store is, for messages (`.firedrill`, `s3://bucket/prefix`).
    pub fn root(&self) -> PathBuf {
        self.backend.location("")
    }

    /// Where `key` is, for messages.
    pub fn location(&self, key: &str) -> PathBuf {
        self.backend.location(key)
    }

    /// A short name for this store, the same from any working directory: hold tags carry
    /// it, so a store can tell its own lost runs from another store's.
    pub fn identity(&self) -> String {
        self.backend.identity()
    }

    /// A new run id: UTC time to the millisecond, then 4 random hex digits; ids sort by
    /// start time, which `runs` and the default RUN of `status` / `revert` rely on.
    pub fn new_run_id() -> String {
        let ts = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
        format!("{ts}-{:04x}", crate::target::fresh_seed() & 0xffff)
    }

    /// Create run `id` (it must not exist yet), take its lock, and start its journal with
    /// `first` (its `run-started`), atomically: a run either has a journal that says what
    /// the run is, or nothing was ever done from it.
    pub fn create_run(&self, id: &str, first: &Event) -> Result<RunDir> {
        check_id(id)?;
        self.backend.create_dir(&format!("runs/{id}"))?;
        let lock = self.lock_run(id)?;
        let journal = self.create_log(&run_key(id, "journal"), first)?.fenced_by(&*lock);
        Ok(RunDir { id: id.to_owned(), files: self.files(id), journal: Arc::new(journal), _lock: lock })
    }

    /// Open an existing run for mutation, taking its lock. Refuses, writing nothing, a
    /// directory that is not a run (no journal, or one that does not start with
    /// `run-started`). A lock whose lease expired (S3) is taken over, and the journal
    /// says so.
    pub fn open_run(&self, id: &str) -> Result<RunDir> {
        check_id(id)?;
        self.first_event(id)?;
        let lock = self.lock_run(id)?;
        let journal = self.open_log(&run_key(id, "journal"), false)?.fenced_by(&*lock);
        if let Some(from) = lock.took_over() {
            journal.append(&Event::LockTakenOver { at: journal::now(), by: journal::who(), from: from.to_string() })?;
        }
        Ok(RunDir { id: id.to_owned(), files: self.files(id), journal: Arc::new(journal), _lock: lock })
    }

    fn lock_run(&self, id: &str) -> Result<Box<dyn Held>> {
        match self.backend.lock(&run_key(id, "lock"))? {
            Ok(held) => Ok(held),
            Err(holder) => Err(Error::Locked { run: id.to_owned(), holder: format!(" ({holder})") }),
        }
    }

    /// Run `id`'s files.
    pub fn files(&self, id: &str) -> RunFiles {
        RunFiles { store: self.clone(), run_id: id.to_owned() }
    }

    /// Who holds run `id`'s lock now, if anyone does.
    pub fn holder(&self, id: &str) -> Result<Option<Holder>> {
        self.existing(id)?;
        self.backend.holder(&run_key(id, "lock"))
    }

    /// Take lock `key` (a schedule's) without waiting: `None` when another holds it.
    pub fn try_lock(&self, key: &str) -> Result<Option<Box<dyn Held>>> {
        Ok(self.backend.lock(key)?.ok())
    }

    /// Check that run `id` exists.
    fn existing(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let known = self.backend.read_log(&run_key(id, "journal"))?.is_some()
            || self.backend.list("runs")?.iter().any(|r| r == id);
        if !known {
            return Err(Error::Usage(format!("no run {id} in {}", self.root().display())));
        }
        Ok(())
    }

    /// Read a run's record (no lock: a reader may see a run mid-flight).
    pub fn read(&self, id: &str) -> Result<RunRecord> {
        check_id(id)?;
        let Some(bytes) = self.backend.read_log(&run_key(id, "journal"))? else {
            self.existing(id)?;
            return Err(self.not_a_run(id, "it has no journal"));
        };
        self.record(id, &bytes)
    }

    /// Run `id`'s record from its journal's text.
    fn record(&self, id: &str, bytes: &[u8]) -> Result<RunRecord> {
        let location = self.log_location(&run_key(id, "journal"));
        let read = Journal::parse(&location, bytes);
        let mut rec = RunRecord::fold(&location, read.events, self.files(id))?;
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

    /// Every run, newest first: a readable run, or a damaged one with the reason. A run
    /// with no journal yet (a crash before the run began: nothing was done from it) is
    /// not listed.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut names = self.backend.list("runs")?;
        names.sort_by(|a, b| b.cmp(a));
        // Read side by side where the store waits for each answer (S3); a name that is
        // not a run id is not read, and is listed as damaged.
        let keys: Vec<String> =
            names.iter().filter(|id| check_id(id).is_ok()).map(|id| run_key(id, "journal")).collect();
        let mut reads = self.backend.read_logs(&keys).into_iter();
        let mut out = Vec::with_capacity(names.len());
        for id in names {
            let read = check_id(&id).and_then(|()| reads.next().expect("one read per run id"));
            let entry = match read {
                Ok(None) => continue,
                Ok(Some(bytes)) if bytes.is_empty() => continue,
                Ok(Some(bytes)) => self.record(&id, &bytes),
                Err(e) => Err(e),
            };
            out.push(match entry {
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
            self.root().display()
        )))
    }

    /// Whether run `id` has a journal (it is a run, readable or not).
    pub fn has_run(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        Ok(self.backend.read_log(&run_key(id, "journal"))?.is_some_and(|b| !b.is_empty()))
    }

    /// Run `id`'s events, as its journal holds them.
    pub fn run_events(&self, id: &str) -> Result<Vec<Event>> {
        let events = self.read_log(&run_key(id, "journal"))?;
        if events.is_empty() {
            self.existing(id)?;
        }
        Ok(events)
    }

    /// The first event of run `id`, which must be its `run-started`.
    fn first_event(&self, id: &str) -> Result<()> {
        let Some(bytes) = self.backend.read_log(&run_key(id, "journal"))? else {
            self.existing(id)?;
            return Err(self.not_a_run(id, "it has no journal"));
        };
        let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        match serde_json::from_slice::<Event>(first) {
            Ok(Event::RunStarted { .. }) => Ok(()),
            _ => Err(self.not_a_run(id, "its journal does not start with run-started")),
        }
    }

    fn not_a_run(&self, id: &str, why: &str) -> Error {
        Error::Refused(format!(
            "{} is not a firedrill run ({why}); nothing was written to it",
            self.location(&format!("runs/{id}")).display()
        ))
    }

    /// Where log `key` is, for messages.
    pub fn log_location(&self, key: &str) -> PathBuf {
        self.backend.location(&format!("{key}.jsonl"))
    }

    /// Create log `key` (a journal) holding `first`; it must not exist yet. The
    /// failpoints `before-<event>` and `after-<event>` surround the write.
    pub fn create_log<E: Serialize>(&self, key: &str, first: &E) -> Result<Journal> {
        let (line, names) = Journal::first(first);
        for name in &names {
            crate::failpoint::hit(&format!("before-{name}"));
        }
        let log = self.backend.create_log(key, &line)?;
        for name in &names {
            crate::failpoint::hit(&format!("after-{name}"));
        }
        Ok(Journal::new(self.log_location(key), log))
    }

    /// Open log `key` for appending (created if new); `shared` when several processes
    /// append to it (see [`Backend::open_log`]).
    pub fn open_log(&self, key: &str, shared: bool) -> Result<Journal> {
        Ok(Journal::new(self.log_location(key), self.backend.open_log(key, shared)?))
    }

    /// Every readable event of log `key` (none when there is no such log); unreadable
    /// lines are skipped with a warning in the log.
    pub fn read_log<E: DeserializeOwned>(&self, key: &str) -> Result<Vec<E>> {
        let read = self.read_log_all(key)?;
        for w in &read.warnings {
            tracing::warn!("{w}");
        }
        Ok(read.events)
    }

    /// Every event of log `key`, whether it is damaged, and what was skipped.
    pub fn read_log_all<E: DeserializeOwned>(&self, key: &str) -> Result<journal::Read<E>> {
        let bytes = self.backend.read_log(key)?.unwrap_or_default();
        Ok(Journal::parse(&self.log_location(key), &bytes))
    }

    /// The file `key`, parsed as JSON; `None` when there is none. A file that does not
    /// parse is [`Error::Corrupt`], naming it.
    pub fn read_json<T: DeserializeOwned>(&self, key: &str, what: &str) -> Result<Option<T>> {
        let Some(bytes) = self.backend.read(key)? else { return Ok(None) };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt { path: self.location(key), message: format!("not {what}: {e}") })
    }

    /// Replace the file `key` with `value` as JSON, durably.
    pub fn write_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.backend.write(key, &serde_json::to_vec_pretty(value).expect("the store's files serialize"))
    }

    /// The ids (checked, see [`check_id`]) directly under `dir` whose log `<id>/<log>`
    /// has something in it, newest first: ids sort by start time. A log still empty
    /// crashed before it recorded anything, so before it changed anything.
    pub fn ids_with_log(&self, dir: &str, log: &str) -> Result<Vec<String>> {
        let ids: Vec<String> = self.backend.list(dir)?.into_iter().filter(|id| check_id(id).is_ok()).collect();
        let keys: Vec<String> = ids.iter().map(|id| format!("{dir}/{id}/{log}")).collect();
        let reads = self.backend.read_logs(&keys);
        let mut ids: Vec<String> = ids
            .into_iter()
            .zip(reads)
            .filter(|(_, read)| matches!(read, Ok(Some(b)) if !b.is_empty()))
            .map(|(id, _)| id)
            .collect();
        ids.sort_by(|a, b| b.cmp(a));
        Ok(ids)
    }
}

/// Follows a log as it grows (a drill's journal for the board, its requests for the
/// runner): each complete line once, in order; a line still being written waits.
#[derive(Debug)]
pub struct Follow {
    key: String,
    cursor: u64,
    partial: Vec<u8>,
}

impl Follow {
    /// Follow log `key` from its start.
    pub fn new(key: &str) -> Follow {
        Follow { key: key.to_owned(), cursor: 0, partial: Vec::new() }
    }

    /// The log followed.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The complete lines appended since the last call, each with its newline.
    pub fn lines(&mut self, store: &Store) -> Result<Vec<Vec<u8>>> {
        let bytes = store.backend.read_log_since(&self.key, &mut self.cursor)?;
        self.partial.extend_from_slice(&bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if line.len() > 1 {
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

impl RunFiles {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's own place in the store, for messages.
    pub fn location(&self) -> PathBuf {
        self.store.location(&format!("runs/{}", self.run_id))
    }

    /// Where the run's file `rel` (`snapshots/0-web.json`) is, for messages.
    pub fn location_of(&self, rel: &str) -> PathBuf {
        self.store.location(&run_key(&self.run_id, rel))
    }

    /// The bytes of the run's file `rel`, checked to be the store's own (see
    /// [`Backend::read`]); a missing file is an error naming it.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let key = run_key(&self.run_id, rel);
        self.store.backend.read(&key)?.ok_or_else(|| Error::Corrupt {
            path: self.store.location(&key),
            message: "missing: the run's journal names it, but it is not in the store".into(),
        })
    }

    /// Write `snapshots/<name>.json` for each `(name, value)`, durably (on S3, checked
    /// against what S3 says it stored) before returning; returns each file's path
    /// relative to the run and the SHA-256 of what was written, in order.
    pub fn write_json_all<T: Serialize>(&self, files: &[(String, T)]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(files.len());
        let mut bytes_of = Vec::with_capacity(files.len());
        for (name, value) in files {
            let rel = format!("snapshots/{name}.json");
            let bytes = serde_json::to_vec_pretty(value).expect("snapshots serialize");
            out.push((rel.clone(), snapshot::sha256(&bytes)));
            bytes_of.push((run_key(&self.run_id, &rel), bytes));
        }
        self.store.backend.write_all(&bytes_of)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::Path;

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

    /// Run `id`'s directory in a local store.
    fn dir_of(store: &Store, id: &str) -> std::path::PathBuf {
        store.root().join("runs").join(id)
    }

    fn read_journal(path: &Path) -> journal::Read<Event> {
        Journal::parse(path, &std::fs::read(path).unwrap())
    }

    #[test]
    fn the_state_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let store = temp_store("perm");
        let run = create(&store, "r1");
        run.files.write_json_all(&[("x".to_owned(), 1)]).unwrap();
        let dir = dir_of(&store, "r1");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("snapshots")), 0o700);
        assert_eq!(mode(&dir.join("snapshots/x.json")), 0o600);
        assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
        assert_eq!(mode(&dir.join("lock")), 0o600);
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
        let path = dir_of(&store, "r1").join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"inj").unwrap();
        assert_eq!(read_journal(&path).events.len(), 2);
        f.write_all(b"\n{}\n").unwrap();
        let read = read_journal(&path);
        assert_eq!(read.events.len(), 2, "what is readable is kept");
        assert!(read.damaged, "and the damage is known");
        assert_eq!(read.warnings.len(), 2, "{:?}", read.warnings);
    }

    #[test]
    fn an_append_after_a_torn_line_starts_a_new_line_and_the_torn_one_is_not_damage() {
        let store = temp_store("torn-append");
        let run = create(&store, "r1");
        let path = dir_of(&store, "r1").join("journal.jsonl");
        drop(run);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"event\":\"inj").unwrap();
        let run = store.open_run("r1").unwrap();
        run.journal.append(&Event::Injecting { at: "t".into(), fault: 0, target: "sg-1".into() }).unwrap();
        let read = read_journal(&path);
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
        let dir = dir_of(&store, "r1");
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
