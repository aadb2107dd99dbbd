//! Firing a claimed slot against AWS, and reverting scheduled faults when their time is up.
//!
//! Before anything changes: the fault's (or every drill step's) selector gets the file's
//! `opt_in_tag` and the guardrails require it, targets are planned (zero targets,
//! guardrails and a wrong account refuse), and no open run may hold any of the targets.
//! A drill then checks its own steady state. A refusal is a skip, with its reason.
//!
//! A fault is injected through the executor as a run linked to the schedule, with the
//! instant its duration runs out; whichever scheduler ticks after that reverts it. A
//! drill runs to its end (it reverts everything itself).

use std::cell::RefCell;
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::scheduler::{FireResult, Firer};
use super::state::{Decision, ScheduleDir};
use super::{Occurrence, Schedule, ScheduleFile, What};
use crate::aws::{Aws, AwsArgs};
use crate::drill::view::{Mode, View};
use crate::drill::{Drill, runner};
use crate::executor::{self, Plan};
use crate::fault::FaultSpec;
use crate::guardrails::Guardrails;
use crate::store::Store;
use crate::store::journal::ScheduleLink;
use crate::{Error, Result};

/// Fires schedules against AWS: plans and injects faults, runs drills.
pub struct AwsFirer<'a> {
    pub store: &'a Store,
    /// Profile, region and endpoint for faults (a drill's teams bring their own).
    pub aws: AwsArgs,
    pub guard: Guardrails,
    /// How a fired drill reports its progress on stdout.
    pub view: Mode,
    /// Runs this process started, reverted on shutdown.
    started: RefCell<Vec<String>>,
}

impl<'a> AwsFirer<'a> {
    /// A firer writing to `store`, reaching AWS with `aws`, within `guard`.
    pub fn new(store: &'a Store, aws: AwsArgs, guard: Guardrails, view: Mode) -> Self {
        AwsFirer { store, aws, guard, view, started: RefCell::new(Vec::new()) }
    }

    /// The guardrails, plus the opt-in tag on every target.
    fn guard(&self, file: &ScheduleFile) -> Guardrails {
        let mut g = self.guard.clone();
        g.require_tag.extend(file.opt_in_tag.clone());
        g
    }

    async fn fire_fault(
        &self,
        file: &ScheduleFile,
        s: &Schedule,
        occ: &Occurrence,
        spec: &FaultSpec,
        duration: std::time::Duration,
    ) -> Result<FireResult> {
        let aws = Aws::connect(&self.aws).await?;
        let spec = vec![opted_in(spec, &file.opt_in_tag)];
        let plan = match executor::plan(&aws, &self.guard(file), spec, Some(self.store)).await {
            Ok(p) => p,
            Err(Error::Refused(why)) => return Ok(FireResult::Skipped(why)),
            Err(e) => return Err(e),
        };
        if let Some(why) = self.busy(&[&plan])? {
            return Ok(FireResult::Skipped(why));
        }
        let run_id = Store::new_run_id();
        let expires = Timestamp::now() + jiff::SignedDuration::try_from(duration).unwrap_or_default();
        let link = ScheduleLink { name: s.name.clone(), slot: occ.slot.to_string(), expires_at: expires.to_string() };
        self.started.borrow_mut().push(run_id.clone());
        let opts = executor::InjectOptions { stack: false, schedule: Some(link) };
        let report = match executor::inject(&aws, self.store, &plan, &run_id, &opts).await {
            Err(Error::Refused(why)) => return Ok(FireResult::Skipped(why)),
            other => other?,
        };
        let n = report.record.targets.len();
        Ok(FireResult::Started { id: run_id, outcome: format!("injected {n} target(s); reverts at {expires}") })
    }

    async fn fire_drill(&self, file: &ScheduleFile, drill: &Drill) -> Result<FireResult> {
        let mut drill = drill.clone();
        for step in &mut drill.steps {
            step.fault = opted_in(&step.fault, &file.opt_in_tag);
        }
        let guard = self.guard(file);
        let teams = runner::connect(&drill, &self.aws).await?;
        let plans = match runner::preflight(&drill, &teams, &guard, Some(self.store)).await {
            Ok(p) => p,
            Err(Error::Refused(why)) => return Ok(FireResult::Skipped(why)),
            Err(e) => return Err(e),
        };
        if let Some(why) = self.busy(&plans.iter().map(|(_, _, p)| p).collect::<Vec<_>>())? {
            return Ok(FireResult::Skipped(why));
        }
        // Nobody watches an unattended drill on a board: no tokens (a board shows its room).
        let opts = runner::RunOptions { drill_id: Store::new_run_id(), stack: false, tokens: Default::default() };
        match runner::run(&drill, teams, &guard, self.store, View::new(self.view, &drill), opts).await {
            Ok(fin) => {
                let mut outcome = fin.outcome.clone();
                if !fin.not_restored.is_empty() {
                    outcome += &format!("; NOT restored: {}", fin.not_restored.join(", "));
                }
                Ok(FireResult::Started { id: fin.drill_id, outcome })
            }
            // The steady state does not hold: don't break what is already broken.
            Err(Error::Refused(why)) => Ok(FireResult::Skipped(why)),
            Err(e) => Err(e),
        }
    }

    /// An open run already holding one of the plans' targets, as a reason to skip.
    fn busy(&self, plans: &[&Plan]) -> Result<Option<String>> {
        match executor::holds::check(self.store, plans, false) {
            Ok(()) => Ok(None),
            Err(Error::Refused(why)) => Ok(Some(why)),
            Err(e) => Err(e),
        }
    }

    /// Revert run `id` (force: the schedule's time is up, whatever the team did).
    async fn revert(&self, id: &str, link: &ScheduleLink, now: Timestamp) -> Result<()> {
        let run = match self.store.open_run(id) {
            Ok(run) => run,
            // Another process is on it (a revert, another scheduler): theirs.
            Err(Error::Locked { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let rec = self.store.read(id)?;
        let aws = crate::aws::access::reach(&self.aws, rec.place(), None).await?;
        let outcome = match executor::revert_open(&aws, self.store, &run, executor::Restore::Force, None).await {
            Ok(rec) if !rec.needs_revert() => "reverted".to_owned(),
            Ok(rec) => format!("not fully restored ({}): see `firedrill status {id}`", rec.status()),
            Err(e) => format!("revert failed: {e}"),
        };
        tracing::info!(schedule = %link.name, run = id, "duration over: {outcome}");
        ScheduleDir::open(self.store, &link.name)?.log(&Decision::Reverted { at: now, run_id: id.into(), outcome })
    }
}

/// `spec` with the opt-in tags added to its selector.
fn opted_in(spec: &FaultSpec, tags: &BTreeMap<String, String>) -> FaultSpec {
    let mut f = spec.clone();
    f.target.tags.extend(tags.clone());
    f
}

impl Firer for AwsFirer<'_> {
    async fn fire(&self, file: &ScheduleFile, s: &Schedule, occ: &Occurrence) -> FireResult {
        let r = match &s.what {
            What::Fault { spec, duration } => self.fire_fault(file, s, occ, spec, *duration).await,
            What::Drill(d) => self.fire_drill(file, d).await,
        };
        r.unwrap_or_else(|e| FireResult::Failed(e.to_string()))
    }

    async fn expire(&self, now: Timestamp) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        let runs = self.store.runs().map(|(runs, _)| runs).unwrap_or_default();
        for rec in &runs {
            let id = &rec.run_id;
            let Some(link) = rec.schedule.as_ref().filter(|_| rec.needs_revert()) else { continue };
            let Ok(expires) = link.expires_at.parse::<Timestamp>() else { continue };
            if expires > now {
                next = Some(next.map_or(expires, |n| n.min(expires)));
                continue;
            }
            if let Err(e) = self.revert(id, link, now).await {
                tracing::error!(run = %id, "reverting a scheduled run failed: {e}");
            }
        }
        next
    }

    async fn shutdown(&self) {
        let started = self.started.borrow().clone();
        for id in started {
            let Ok(rec) = self.store.read(&id) else { continue };
            if let Some(link) = rec.schedule.as_ref().filter(|_| rec.needs_revert())
                && let Err(e) = self.revert(&id, link, Timestamp::now()).await
            {
                tracing::error!(run = %id, "reverting on shutdown failed: {e}");
            }
        }
    }
}
