//! The executor: everything around a fault. Resolves targets and applies guardrails
//! ([`plan`]), persists snapshots before any mutation and journals every step
//! ([`inject`]), and restores from the store alone ([`revert`]). Faults only ever see
//! one target at a time, plus the [`crate::action::RunCtx`] for recording what they
//! create (through the journal, as its [`Recorder`]).
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

pub use abort::{Aborted, abort};
pub use inject::{InjectOptions, InjectReport, add_faults, inject, start_run};
pub use plan::{Plan, PlannedFault, PlannedTarget, plan};
pub use revert::{Restore, RevertOptions, revert, revert_open};

use crate::Result;
use crate::action::Recorder;
use crate::store::journal::{Event, Journal, now};

/// What one change call made known of one target: the state its answer proves, or
/// `None` when the executor must describe the target to see.
pub(super) type Proved<S> = Result<Option<S>>;

/// One fault as its catalogue row builds it ([`crate::action::with_fault!`]): the
/// one-target fault, what its targets share, and how its change calls batch them.
pub(super) struct Parts<'a, F, S, B> {
    pub fault: &'a F,
    pub shared: &'a S,
    pub batch: &'a B,
}

/// What the executor hands the code that runs one fault: the fault's context, and the
/// run's journal it writes each step to.
#[derive(Clone, Copy)]
pub(super) struct FaultRun<'a> {
    pub ctx: &'a crate::action::RunCtx,
    pub journal: &'a Journal,
    /// Where the run's snapshots and post-break states go.
    pub files: &'a crate::store::RunFiles,
}

/// A fault's records of what it created and deleted go into the run's journal, durably,
/// before the fault relies on them.
impl Recorder for Journal {
    fn created(&self, fault: usize, kind: &str, id: &str, scope: &str) -> Result<()> {
        self.append(&Event::Created { at: now(), fault, kind: kind.into(), id: id.into(), scope: scope.into() })
    }

    fn deleted(&self, fault: usize, kind: &str, id: &str) -> Result<()> {
        self.append(&Event::Deleted { at: now(), fault, kind: kind.into(), id: id.into() })
    }
}
