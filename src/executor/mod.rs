//! The executor: everything around a fault. Resolves targets and applies guardrails
//! ([`plan`]), persists snapshots before any mutation and journals every step
//! ([`inject`]), and restores from the store alone ([`revert`]). Faults only ever see
//! one target at a time, plus the [`RunCtx`] for recording what they create.
//!
//! Each phase works on a fault's targets together: one batched describe for all of them
//! ([`batch::describe_all`]), one mutating call per target (or per batch, where the API
//! takes many ids), at most `--concurrency` AWS calls in flight, and one journal write
//! (one fsync) per step of the phase rather than per target. Faults run in file order; a
//! revert handles them side by side (they never share a target). A drill starts a run
//! with [`start_run`] and adds each step's faults with [`add_faults`].
//!
//! AWS's reads lag its changes, so a break is observed, and a restore verified, by
//! describing again until the target shows it or its service's window passes
//! ([`batch::states_after`]); and a target that looks restored moments after firedrill
//! changed it is looked at again once that window has passed, never taken on trust.
//!
//! Around every run: [`holds`] keeps one open run per target (and tags what a run
//! holds), [`abort`] is the kill switch over every open run of the store, and [`stop`]
//! lets a signal end a revert between calls, never inside one.

mod abort;
pub mod batch;
pub mod drift;
pub mod holds;
mod inject;
mod plan;
mod revert;
pub mod stop;

use std::sync::{Arc, Mutex};

pub use abort::{Aborted, abort};
pub use inject::{InjectOptions, InjectReport, add_faults, inject, start_run};
pub use plan::{Plan, PlannedFault, PlannedTarget, plan};
pub use revert::{RevertOptions, revert, revert_open};

use crate::Result;
use crate::store::journal::{Event, Journal, now};
use crate::store::record::CreatedRecord;

/// What one change call made known of one target: the state its answer proves, or
/// `None` when the executor must describe the target to see.
pub(super) type Proved<S> = Result<Option<S>>;

/// What a fault may know of the run it is part of.
pub struct RunCtx {
    pub run_id: String,
    /// The fault's index in the run.
    pub fault: usize,
    /// The run's directory in the state store.
    pub run_dir: Option<std::path::PathBuf>,
    journal: Arc<Journal>,
    created: Mutex<Vec<CreatedRecord>>,
}

impl RunCtx {
    pub fn new(
        run_id: &str,
        fault: usize,
        run_dir: &std::path::Path,
        journal: Arc<Journal>,
        created: Vec<CreatedRecord>,
    ) -> Self {
        RunCtx {
            run_id: run_id.to_owned(),
            fault,
            run_dir: Some(run_dir.to_owned()),
            journal,
            created: Mutex::new(created),
        }
    }

    /// Record a resource the fault created, durably, before it is used.
    pub fn record_created(&self, kind: &str, id: &str, scope: &str) -> Result<()> {
        self.journal.append(&Event::Created {
            at: now(),
            fault: self.fault,
            kind: kind.into(),
            id: id.into(),
            scope: scope.into(),
        })?;
        self.created.lock().unwrap_or_else(|e| e.into_inner()).push(CreatedRecord {
            fault: self.fault,
            kind: kind.into(),
            id: id.into(),
            scope: scope.into(),
            deleted: false,
        });
        Ok(())
    }

    pub fn record_deleted(&self, kind: &str, id: &str) -> Result<()> {
        self.journal.append(&Event::Deleted { at: now(), fault: self.fault, kind: kind.into(), id: id.into() })?;
        for c in self.created.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            if c.kind == kind && c.id == id {
                c.deleted = true;
            }
        }
        Ok(())
    }

    /// The id of a live resource of `kind` this fault created for `scope` (e.g. a VPC).
    pub fn created_in(&self, kind: &str, scope: &str) -> Option<String> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().find(|c| !c.deleted && c.kind == kind && c.scope == scope).map(|c| c.id.clone())
    }

    /// (kind, id) of every resource this fault created for a scope starting with `prefix`.
    pub fn created_for(&self, prefix: &str) -> Vec<(String, String)> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().filter(|c| c.scope.starts_with(prefix)).map(|c| (c.kind.clone(), c.id.clone())).collect()
    }

    /// Ids of every live resource of `kind` this fault created.
    pub fn created(&self, kind: &str) -> Vec<String> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().filter(|c| !c.deleted && c.kind == kind).map(|c| c.id.clone()).collect()
    }
}
