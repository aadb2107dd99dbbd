//! A schedule's memory in the state store, so that no slot fires twice, across restarts
//! and across schedulers sharing the store:
//!
//! ```text
//! .firedrill/schedules/<name>/
//!     state.json     last tick, last slot fired, the seed for random draws (replaced durably)
//!     journal.jsonl  every decision: fired, skipped (with the reason), failed, reverted
//!     lock           taken (without waiting) while deciding and claiming a slot
//! ```
//!
//! A slot is claimed (written to `state.json`, fsync'd) before it fires: a crash after
//! the claim loses the slot rather than firing it twice. At most once is the safe side
//! for breaking things.

use std::fs::File;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::store::{Journal, Store, create_private_dir, private_file, write_durably};
use crate::{Error, Result};

/// A schedule's state: its last tick, and what it fired.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The seed for this schedule's random draws when the file gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The last instant a scheduler looked at this schedule: slots up to it are decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired: Option<Fired>,
}

/// An occurrence that fired, and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    pub slot: Timestamp,
    /// When it was claimed (the fire time).
    pub at: Timestamp,
}

/// Every decision about a schedule, appended to its journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Decision {
    /// The slot was claimed and fired: the run or drill it started, and how that went.
    Fired { at: Timestamp, slot: Timestamp, by: String, id: String, outcome: String },
    /// The slot was not fired, and why.
    Skipped {
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<Timestamp>,
        reason: String,
    },
    /// The slot was claimed, but firing it failed (an AWS error, an unreadable store).
    Failed { at: Timestamp, slot: Timestamp, error: String },
    /// A scheduled fault's duration ran out and its run was reverted.
    Reverted { at: Timestamp, run_id: String, outcome: String },
}

/// A schedule's directory in the store.
pub struct ScheduleDir {
    pub dir: PathBuf,
    journal: Journal,
}

impl ScheduleDir {
    /// The directory of schedule `name`, created if new.
    pub fn open(store: &Store, name: &str) -> Result<ScheduleDir> {
        let dir = store.root().join("schedules").join(name);
        create_private_dir(&dir)?;
        let journal = Journal::open(&dir.join("journal.jsonl"))?;
        Ok(ScheduleDir { dir, journal })
    }

    /// The schedule's lock, or `None` when another scheduler holds it.
    pub fn try_lock(&self) -> Result<Option<File>> {
        let path = self.dir.join("lock");
        let file =
            private_file().create(true).truncate(false).write(true).open(&path).map_err(Error::store("open", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::store("lock", &path)(e)),
        }
    }

    /// The schedule's state; empty if none was written.
    pub fn read(&self) -> Result<State> {
        let path = self.dir.join("state.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt { path: path.clone(), message: format!("not a schedule state: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::store("read", &path)(e)),
        }
    }

    /// Replace the state durably. Call only while holding the lock.
    pub fn write(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        write_durably(&self.dir.join("state.json"), &bytes)
    }

    /// Append a decision to the schedule's log.
    pub fn log(&self, d: &Decision) -> Result<()> {
        self.journal.append(d)
    }

    /// Every decision the schedule's log holds.
    pub fn decisions(&self) -> Result<Vec<Decision>> {
        Journal::read(&self.dir.join("journal.jsonl"))
    }
}
