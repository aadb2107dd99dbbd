//! Deciding what fires, and when.
//!
//! A tick at `now`, for each schedule, under the schedule's lock (another scheduler
//! holding it means "skip, it is theirs"):
//!
//! 1. Slots due: after the previous tick, up to `now`. With no previous tick, only those
//!    within `catch_up` (a minute unless told otherwise); older ones are logged as
//!    missed, never fired late.
//! 2. Of several due slots, only the latest fires; the others are logged (in one line) as
//!    superseded.
//!    A window the random draw passed over is not due at all.
//! 3. The slot is skipped, with the reason in the schedule's journal and the log, if it
//!    was fired already (by a restarted or another scheduler), falls in a blackout, its
//!    window has closed, or the last fire was less than `min_time_between` ago.
//! 4. Otherwise it is claimed: the state, with this slot as the last fired, is written
//!    durably, and only then handed to the [`Firer`], which makes the checks that need
//!    AWS (targets, guardrails, open runs, the drill's steady state) and fires.
//!
//! Every tick also asks the firer to revert scheduled faults whose duration is up.

use std::future::Future;
use std::pin::pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::clock::Clock;
use super::state::{Decision, Fired, ScheduleDir};
use super::{Occurrence, Schedule, ScheduleFile};
use crate::Result;
use crate::store::Store;

/// How a fire went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FireResult {
    /// A run or drill started (and, for a drill, finished): its id and outcome.
    Started { id: String, outcome: String },
    /// A check failed; nothing was changed.
    Skipped(String),
    /// Firing failed part-way; the executor rolled back what it could.
    Failed(String),
}

/// What fires a claimed slot. [`super::fire::AwsFirer`] in real life.
#[allow(async_fn_in_trait)] // one thread (a current-thread runtime): no Send bound needed
pub trait Firer {
    /// Fire schedule `s` for occurrence `occ`.
    async fn fire(&self, file: &ScheduleFile, s: &Schedule, occ: &Occurrence) -> FireResult;
    /// Revert scheduled runs whose time is up at `now`; the earliest expiry still ahead.
    async fn expire(&self, now: Timestamp) -> Option<Timestamp>;
    /// Revert what this firer started and is still broken (on SIGTERM).
    async fn shutdown(&self);
}

/// A slot that is due and claimed, ready to fire.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub schedule: usize,
    pub occ: Occurrence,
}

/// One line per decision, for the command's output.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<Timestamp>,
    pub decision: &'static str,
    pub detail: String,
}

/// Decides what is due and fires it, at most once per occurrence.
pub struct Scheduler<'a, F> {
    pub file: &'a ScheduleFile,
    pub store: &'a Store,
    pub firer: F,
    /// How far back the first tick of a schedule fires a slot.
    pub catch_up: SignedDuration,
    /// Who is scheduling, for the journal (`user@host pid N`).
    pub by: String,
}

/// How far back a first tick looks for missed slots to report.
const MISSED_LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 7);

impl<'a, F: Firer> Scheduler<'a, F> {
    /// A scheduler of `file`, keeping its state in `store`, firing with `firer`.
    pub fn new(file: &'a ScheduleFile, store: &'a Store, firer: F) -> Self {
        let by = format!("{} pid {}", crate::store::journal::who(), std::process::id());
        Scheduler { file, store, firer, catch_up: SignedDuration::from_mins(1), by }
    }

    /// Decide and claim what is due at `now`, for every schedule. Nothing fires here.
    pub fn claim(&self, now: Timestamp, lines: &mut Vec<Line>) -> Result<Vec<Claim>> {
        let mut claims = Vec::new();
        for (i, s) in self.file.schedules.iter().enumerate() {
            if let Some(occ) = self.claim_one(s, now, lines)? {
                claims.push(Claim { schedule: i, occ });
            }
        }
        Ok(claims)
    }

    fn claim_one(&self, s: &Schedule, now: Timestamp, lines: &mut Vec<Line>) -> Result<Option<Occurrence>> {
        let dir = ScheduleDir::open(self.store, &s.name)?;
        let mut skip = |slot: Option<Timestamp>, reason: String| -> Result<()> {
            tracing::info!(schedule = %s.name, slot = ?slot.map(|t| t.to_string()), "skipped: {reason}");
            dir.log(&Decision::Skipped { at: now, slot, reason: reason.clone() })?;
            lines.push(Line { schedule: s.name.clone(), slot, decision: "skipped", detail: reason });
            Ok(())
        };
        let Some(_lock) = dir.try_lock()? else {
            skip(None, "another scheduler holds this schedule's lock: it is deciding this slot".into())?;
            return Ok(None);
        };
        let mut state = dir.read()?;
        let seed = match s.seed.or(state.seed) {
            Some(seed) => seed,
            None => *state.seed.insert(crate::target::fresh_seed()),
        };
        let prev = match state.last_tick {
            Some(t) => t,
            None => {
                // A slot exactly `catch_up` ago still counts.
                let prev = now - self.catch_up - SignedDuration::from_nanos(1);
                let missed: Vec<Occurrence> = s
                    .between(seed, now - MISSED_LOOKBACK.max(self.catch_up), prev)
                    .into_iter()
                    .filter(|o| o.fires)
                    .collect();
                if let Some(last) = missed.last() {
                    skip(
                        Some(last.slot),
                        format!(
                            "missed: due at {} before this schedule's first tick ({} slot(s) in the last week); \
                             only slots within --catch-up ({}) fire late",
                            last.at,
                            missed.len(),
                            super::human(self.catch_up)
                        ),
                    )?;
                }
                prev
            }
        };
        if now <= prev {
            // The clock went back (or two ticks in one instant): nothing new is due.
            return Ok(None);
        }
        let due: Vec<Occurrence> = s.between(seed, prev, now);
        for o in due.iter().filter(|o| !o.fires) {
            tracing::debug!(schedule = %s.name, window = %o.slot, p = s.probability(), "window not drawn");
        }
        let mut firing: Vec<Occurrence> = due.into_iter().filter(|o| o.fires).collect();
        let chosen = firing.pop();
        // One line for all of them: a scheduler down for a week on `* * * * *` is one skip.
        if let (Some(older), Some(c)) = (firing.last(), chosen) {
            skip(
                Some(older.slot),
                format!(
                    "superseded: {} earlier slot(s) since the last tick (from {}); only the latest ({}) fires",
                    firing.len(),
                    firing[0].at,
                    c.at
                ),
            )?;
        }
        let mut claimed = None;
        if let Some(o) = chosen {
            let last = state.last_fired.as_ref();
            let reason = if last.is_some_and(|l| l.slot >= o.slot) {
                Some("already fired for this slot (by this or another scheduler)".to_owned())
            } else if let Some(b) = self.file.blackout(s, o.at).or_else(|| self.file.blackout(s, now)) {
                Some(b.describe())
            } else if let Some(closes) = o.closes.filter(|c| *c <= now) {
                Some(format!("the window closed at {closes} before this tick"))
            } else if let (Some(min), Some(l)) = (s.min_between, last)
                && now.duration_since(l.at) < min
            {
                Some(format!("min_time_between {}: last fired at {}", super::human(min), l.at))
            } else {
                None
            };
            match reason {
                Some(r) => skip(Some(o.slot), r)?,
                None => {
                    state.last_fired = Some(Fired { slot: o.slot, at: now });
                    claimed = Some(o);
                }
            }
        }
        state.last_tick = Some(now);
        // Durable before anything fires: a crash from here on loses the slot, never repeats it.
        dir.write(&state)?;
        Ok(claimed)
    }

    /// Fire a claimed slot and record how it went.
    /// `now` is the claim's time, which the journal records.
    pub async fn fire(&self, c: Claim, now: Timestamp, lines: &mut Vec<Line>) -> Result<()> {
        let s = &self.file.schedules[c.schedule];
        tracing::info!(schedule = %s.name, slot = %c.occ.slot, what = s.what.kind(), "firing");
        let result = self.firer.fire(self.file, s, &c.occ).await;
        self.record(s, c.occ, now, result, lines)
    }

    fn record(
        &self,
        s: &Schedule,
        occ: Occurrence,
        at: Timestamp,
        result: FireResult,
        lines: &mut Vec<Line>,
    ) -> Result<()> {
        let dir = ScheduleDir::open(self.store, &s.name)?;
        let (decision, line) = match result {
            FireResult::Started { id, outcome } => {
                tracing::info!(schedule = %s.name, slot = %occ.slot, %id, "fired: {outcome}");
                let detail = format!("{} {id}: {outcome}", s.what.kind());
                (Decision::Fired { at, slot: occ.slot, by: self.by.clone(), id, outcome }, ("fired", detail))
            }
            FireResult::Skipped(reason) => {
                tracing::info!(schedule = %s.name, slot = %occ.slot, "skipped: {reason}");
                (Decision::Skipped { at, slot: Some(occ.slot), reason: reason.clone() }, ("skipped", reason))
            }
            FireResult::Failed(error) => {
                tracing::error!(schedule = %s.name, slot = %occ.slot, "failed: {error}");
                (Decision::Failed { at, slot: occ.slot, error: error.clone() }, ("failed", error))
            }
        };
        dir.log(&decision)?;
        lines.push(Line { schedule: s.name.clone(), slot: Some(occ.slot), decision: line.0, detail: line.1 });
        Ok(())
    }

    /// The one-shot form (`schedule tick`): revert what has expired, then fire what is
    /// due, one at a time.
    pub async fn tick(&self, now: Timestamp) -> Result<Vec<Line>> {
        let mut lines = Vec::new();
        self.firer.expire(now).await;
        for c in self.claim(now, &mut lines)? {
            self.fire(c, now, &mut lines).await?;
        }
        Ok(lines)
    }

    /// The earliest instant something fires, across the schedules.
    fn next_wake(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        let mut next: Option<Timestamp> = None;
        for s in &self.file.schedules {
            let seed = match s.seed {
                Some(seed) => seed,
                None => match ScheduleDir::open(self.store, &s.name)?.read()?.seed {
                    Some(seed) => seed,
                    None => continue,
                },
            };
            if let Some(o) = s.next_fire(seed, now) {
                next = Some(next.map_or(o.at, |n| n.min(o.at)));
            }
        }
        Ok(next)
    }

    /// The long-running form (`schedule run`): tick whenever something is due or expires,
    /// firing in the background so a long drill does not hold up other schedules. Stops
    /// when `stop` resolves (SIGTERM) or the clock passes `until`, lets what is firing
    /// finish (a drill reverts itself on the same signal), then reverts what it started.
    pub async fn run<C: Clock>(
        &self,
        clock: &C,
        until: Option<Timestamp>,
        stop: impl Future<Output = &'static str>,
        mut on_line: impl FnMut(&Line),
    ) -> Result<Option<&'static str>> {
        let mut stop = pin!(stop);
        let mut firing = FuturesUnordered::new();
        let mut stopped = None;
        loop {
            let now = clock.now();
            if until.is_some_and(|u| now >= u) {
                break;
            }
            let mut lines = Vec::new();
            let expiry = self.firer.expire(now).await;
            for c in self.claim(now, &mut lines)? {
                firing.push(async move {
                    let mut lines = Vec::new();
                    let r = self.fire(c, now, &mut lines).await;
                    (r, lines)
                });
            }
            lines.iter().for_each(&mut on_line);
            let mut wake = [self.next_wake(now)?, expiry, until].into_iter().flatten().min();
            // Nothing will ever be due: wake now and then anyway, to reread nothing new but
            // notice the signal; the real clock caps every sleep.
            let far = now + SignedDuration::from_hours(24);
            wake = Some(wake.unwrap_or(far).min(far));
            let sleep = clock.sleep_until(wake.unwrap_or(far));
            tokio::select! {
                biased;
                signal = &mut stop => {
                    tracing::info!("{signal}: stopping the scheduler");
                    stopped = Some(signal);
                    break;
                }
                Some((r, lines)) = firing.next(), if !firing.is_empty() => {
                    lines.iter().for_each(&mut on_line);
                    r?;
                }
                _ = sleep => {}
            }
        }
        while let Some((r, lines)) = firing.next().await {
            lines.iter().for_each(&mut on_line);
            r?;
        }
        if stopped.is_some() {
            self.firer.shutdown().await;
        }
        Ok(stopped)
    }
}
