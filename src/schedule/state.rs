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

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::store::{Held, Journal, Store};

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

/// A schedule's place in the store.
pub struct ScheduleDir {
    store: Store,
    /// `schedules/<name>`.
    dir: String,
    journal: Journal,
}

impl ScheduleDir {
    /// The place of schedule `name`, its journal created if new.
    pub fn open(store: &Store, name: &str) -> Result<ScheduleDir> {
        crate::store::check_id(name)?;
        let dir = format!("schedules/{name}");
        let journal = store.open_log(&format!("{dir}/journal"), false)?;
        Ok(ScheduleDir { store: store.clone(), dir, journal })
    }

    /// The schedule's lock, or `None` when another scheduler holds it.
    pub fn try_lock(&self) -> Result<Option<Box<dyn Held>>> {
        self.store.try_lock(&format!("{}/lock", self.dir))
    }

    /// The schedule's state; empty if none was written.
    pub fn read(&self) -> Result<State> {
        Ok(self.store.read_json(&format!("{}/state.json", self.dir), "a schedule state")?.unwrap_or_default())
    }

    /// Replace the state durably. Call only while holding the lock.
    pub fn write(&self, state: &State) -> Result<()> {
        self.store.write_json(&format!("{}/state.json", self.dir), state)
    }

    /// Append a decision to the schedule's log.
    pub fn log(&self, d: &Decision) -> Result<()> {
        self.journal.append(d)
    }

    /// Every decision the schedule's log holds.
    pub fn decisions(&self) -> Result<Vec<Decision>> {
        self.store.read_log(&format!("{}/journal", self.dir))
    }
}
