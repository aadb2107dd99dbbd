//! firedrill: chaos and incident drills ("game days") on AWS.
//!
//! The module tree mirrors the concepts:
//!
//! - [`fault`]: fault files (YAML) — raw parsing with source spans, then validation into
//!   typed [`fault::FaultSpec`]s. Every problem points at `path:line:col`.
//! - [`action`]: the catalogue of fault actions, one table row each. A
//!   [`action::Resource`] per kind of state (read one, read many, list, differences),
//!   shared by the actions on it; each action a [`action::Fault`] for **one target**:
//!   plan, summarize, inject, observe, revert. Opt-in extras for what targets share
//!   ([`action::Shared`]) and calls that take many ids ([`action::Batch`]).
//! - [`target`]: target selectors (ids, names, tags, count/percent, seed) and the
//!   repeatable random pick.
//! - [`executor`]: owns everything around a fault: resolving targets, guardrails,
//!   snapshot-before-mutate, the journal, bounded concurrency, verification, rollback.
//! - [`store`]: the state directory: one directory per run with an fsync'd append-only
//!   journal, a snapshot file per fault holding every target's state before and its
//!   change (its SHA-256 in the journal, each entry checked on read), the state right
//!   after, and a lock; files opened without following links, damaged runs listed and
//!   skipped.
//! - [`guardrails`]: `firedrill.yaml`: allowed accounts and regions, required tag,
//!   target limits — checked before any mutation.
//! - [`aws`]: the one place that turns CLI options into SDK clients (and a run's
//!   recorded access back into clients for its own account), the pacer that keeps every
//!   call within the account's request limits ([`aws::pace`]), retries of answers that
//!   mean "not yet" ([`aws::retry`]), hold tags, and the service adapters that list and
//!   describe resources.
//! - [`drill`]: game days: drill files, the runner (many teams, one clock, probes, stop
//!   conditions, hints, detection), scoring and the report.
//! - [`board`]: the live scoreboard the room, each team and the instructor open in a
//!   browser, fed from a drill's journal.
//! - [`schedule`]: unattended drills and faults: cron slots and random windows in time
//!   zones, blackouts, opt-in tags, and a scheduler that never fires a slot twice.
//! - [`sweep`]: what firedrill created that no open run owns (lost state, closed runs).
//! - [`sandbox`]: the practice stack (`firedrill sandbox up|down`), one list of steps each
//!   with its create and delete; also the tests' fixture.
//! - [`cli`]: one file per command; each parses its arguments and calls the library.
//! - [`error`] and [`diagnostic`]: errors as a kind plus context, exit codes, and
//!   source-located messages; [`duration`]: durations as files and options write them.

pub mod action;
pub mod aws;
pub mod board;
pub mod cli;
pub mod diagnostic;
pub mod drill;
pub mod duration;
pub mod error;
pub mod executor;
pub mod failpoint;
pub mod fault;
pub mod guardrails;
pub mod output;
pub mod policy;
pub mod sandbox;
pub mod schedule;
pub mod schema;
pub mod store;
pub mod sweep;
pub mod target;
pub mod yaml;

pub use error::{Error, Result};
