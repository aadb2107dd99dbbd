//! Reverting: from the store alone — the journal names the faults (with their params),
//! the targets and their phases; the snapshots hold the state before and the change.
//! Idempotent: targets already reverted are skipped; a target whose revert failed is
//! tried again. Refuses, changing nothing, to act in another account or region than the
//! run's (`--force` never overrides that), and to restore from a snapshot that is not the
//! one the run wrote. [`abort`](super::abort) reverts every open run at once.

use super::batch::{self, describe_all};
use super::drift::{self, Live};
use super::{FaultRun, Parts};
use crate::action::{Batch, Fault, Resource, RunCtx, Shared, State, ToRevert, with_fault};
use crate::aws::Aws;
use crate::aws::access::check_account;
use crate::store::journal::{Event, Journal, command_line, now, who};
use crate::store::record::{Phase, TargetRecord};
use crate::store::snapshot::BeforeEntry;
use crate::store::{RunDir, RunRecord, Store};
use crate::{Error, Result};

/// How a revert treats targets the team changed, and which targets to leave alone.
#[derive(Clone, Debug, Default)]
pub struct RevertOptions {
    /// Restore targets that changed since the fault anyway.
    pub force: bool,
    /// Targets a person chose to leave as they are.
    pub abandon: Vec<String>,
    /// Look at targets already reverted or restored too, and restore any that is broken
    /// again (as firedrill left it): a journal line that says "reverted" is not proof.
    pub verify: bool,
    /// Restore every target exactly as its snapshot, undoing the team's changes too
    /// (implies `force`).
    pub exact: bool,
}

/// How far a revert goes with what the team changed since the fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Restore {
    /// Leave targets the team changed as they are (journaled `drifted`).
    #[default]
    Unchanged,
    /// Restore what the fault changed on them too.
    Force,
    /// Make them equal to their snapshots in everything, the team's changes undone too.
    Exact,
}

/// Revert run `id` with `aws` (clients for the run's own account: see
/// [`crate::aws::access::reach`]); returns its record afterwards (check `needs_revert()`).
pub async fn revert(aws: &Aws, store: &Store, id: &str, opts: &RevertOptions) -> Result<RunRecord> {
    let newer = super::holds::Known::read(store)?.newer_on(&store.read(id)?);
    if !newer.is_empty() {
        return Err(Error::Refused(format!(
            "{} newer and still open on targets of run {id} (stacked with --stack): revert {} first, or `firedrill abort`, which reverts stacked runs newest first; nothing was changed",
            if newer.len() == 1 { format!("run {} is", newer[0]) } else { format!("runs {} are", newer.join(", ")) },
            if newer.len() == 1 { "it" } else { "them" }
        )));
    }
    let run = store.open_run(id)?;
    run.journal.append(&Event::Command { at: now(), by: who(), command: command_line() })?;
    let rec = store.read(&run.id)?;
    let unknown: Vec<&String> =
        opts.abandon.iter().filter(|a| !rec.targets.iter().any(|t| &t.target.id == *a)).collect();
    if !unknown.is_empty() {
        let ids: Vec<&str> = rec.targets.iter().map(|t| t.target.id.as_str()).collect();
        return Err(Error::Usage(format!(
            "run {id} has no target {}; its targets: {}",
            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            ids.join(", ")
        )));
    }
    for t in rec.targets.iter().filter(|t| opts.abandon.contains(&t.target.id) && t.phase.needs_revert()) {
        run.journal.append(&Event::Abandoned { at: now(), fault: t.fault, target: t.target.id.clone(), by: who() })?;
    }
    let restore = match (opts.exact, opts.force) {
        (true, _) => Restore::Exact,
        (false, true) => Restore::Force,
        (false, false) => Restore::Unchanged,
    };
    revert_run(aws, store, &run, restore, None, opts.verify).await
}

/// Revert a run whose lock the caller holds: every fault, or only the faults `only`
/// lists (a drill step's), as far as `restore` says.
pub async fn revert_open(
    aws: &Aws,
    store: &Store,
    run: &RunDir,
    restore: Restore,
    only: Option<&[usize]>,
) -> Result<RunRecord> {
    revert_run(aws, store, run, restore, only, false).await
}

async fn revert_run(
    aws: &Aws,
    store: &Store,
    run: &RunDir,
    restore: Restore,
    only: Option<&[usize]>,
    verify: bool,
) -> Result<RunRecord> {
    let journal = run.journal.clone();
    let rec = store.read(&run.id)?;
    let chosen = |fi: usize| only.is_none_or(|o| o.contains(&fi));
    // Every snapshot this revert would restore from must be the one the run wrote (its
    // digest, its change's digest, about its own target) before anything is written.
    for t in rec.targets.iter().filter(|t| chosen(t.fault) && wanted(t, verify)) {
        match rec.checked_before(t) {
            Err(e @ Error::Tampered(_)) => return Err(e),
            _ => continue,
        }
    }
    // Checking the account and each fault's first look at its targets are reads: they
    // go at once, one round trip instead of two. The faults write and change nothing
    // until the check has passed (the gate).
    let gate = Gate::new();
    let check = async {
        let checked = check_where(aws, &rec).await;
        gate.open(checked.is_ok());
        checked
    };

    // Faults never share a target (plan refuses that), so they are reverted side by side:
    // the wall time is the slowest target's, not the sum.
    let rec = &rec;
    let gate = &gate;
    let faults = rec.faults.iter().enumerate().filter(|(fi, _)| chosen(*fi));
    let reverting = futures_util::future::join_all(faults.map(|(fi, spec)| {
        let journal = journal.clone();
        async move {
            let created = rec.created.iter().filter(|c| c.fault == fi).cloned().collect();
            let ctx = RunCtx::new(&rec.run_id, fi, journal.clone(), created);
            let targets: Vec<&TargetRecord> = rec.targets.iter().filter(|t| t.fault == fi).collect();
            let how = How { force: restore != Restore::Unchanged, exact: restore == Restore::Exact, verify };
            with_fault!(&spec.action, |fault, shared, batch| revert_fault(
                Parts { fault, shared, batch },
                aws,
                FaultRun { ctx: &ctx, journal: &journal, files: &rec.files },
                rec,
                &targets,
                how,
                gate
            )
            .await)
        }
    }));
    let (checked, results) = tokio::join!(check, reverting);
    checked?;
    let mut warnings = Vec::new();
    for r in results {
        match r {
            Ok(w) => warnings.extend(w),
            Err(e) => warnings.push(format!("error: {e}")),
        }
    }
    let mut after = store.read(&run.id)?;
    after.warnings.extend(warnings);
    Ok(after)
}

/// Whether a revert looks at target `t`: it needs reverting, or `verify` asks to look at
/// what the journal says is done too.
fn wanted(t: &TargetRecord, verify: bool) -> bool {
    t.phase.needs_revert() || (verify && matches!(t.phase, Phase::Reverted | Phase::Restored))
}

/// Refuse a revert in another region or account than the run's: a look there would find
/// none of its targets and call them all gone. `--force` does not override this.
async fn check_where(aws: &Aws, rec: &RunRecord) -> Result<()> {
    if aws.region != rec.region {
        return Err(Error::Refused(format!(
            "run {} was injected in region {}, not {}: nothing was changed",
            rec.run_id, rec.region, aws.region
        )));
    }
    check_account(aws, rec.place()).await
}

/// Opens once [`check_where`] has answered: until then a revert may read, not write.
struct Gate(tokio::sync::watch::Sender<Option<bool>>);

impl Gate {
    fn new() -> Self {
        Gate(tokio::sync::watch::Sender::new(None))
    }

    fn open(&self, passed: bool) {
        self.0.send_replace(Some(passed));
    }

    /// Wait for the check; whether it passed.
    async fn passed(&self) -> bool {
        let mut rx = self.0.subscribe();
        let answer = rx.wait_for(Option::is_some).await.map(|v| *v == Some(true));
        answer.unwrap_or(false)
    }
}

/// A target's snapshot: its state before the fault, and the change.
type Snapshot<F> = BeforeEntry<State<F>, <F as Fault>::Change>;

/// Each target as described now. A look that shows a target as its snapshot is trusted
/// only once firedrill's own last change to it is older than the service's consistency
/// window: right after a change (a crash just after the call, an abort straight after an
/// inject) AWS may still answer with the state before it, and revert would take a broken
/// target for restored. Those are described again once the window has passed.
async fn look<F: Fault>(
    aws: &Aws,
    live: &[(&TargetRecord, Snapshot<F>)],
    window: std::time::Duration,
) -> Vec<Result<State<F>>> {
    let ids: Vec<&crate::target::Target> = live.iter().map(|(t, _)| &t.target).collect();
    let mut seen = describe_all::<F::On>(aws, &ids).await;
    let mut wait = std::time::Duration::ZERO;
    let mut recent = Vec::new();
    for (k, ((t, snap), now)) in live.iter().zip(&seen).enumerate() {
        let changing = matches!(
            t.phase,
            Phase::Injecting | Phase::Injected | Phase::Failed | Phase::Reverting | Phase::RevertFailed
        );
        let Some(since) = since(&t.updated_at).filter(|since| changing && *since < window) else { continue };
        if now.as_ref().is_ok_and(|now| F::On::differences(&snap.state, now).is_empty()) {
            recent.push(k);
            wait = wait.max(window - since);
        }
    }
    if recent.is_empty() {
        return seen;
    }
    tracing::debug!(
        targets = recent.len(),
        "look like their snapshots, but firedrill changed them moments ago: looking again in {wait:?}"
    );
    let until = crate::aws::pace::command_deadline();
    let wait = until.map_or(wait, |d| wait.min(d.saturating_duration_since(tokio::time::Instant::now())));
    tokio::time::sleep(wait).await;
    let again: Vec<&crate::target::Target> = recent.iter().map(|&k| ids[k]).collect();
    for (k, now) in recent.into_iter().zip(describe_all::<F::On>(aws, &again).await) {
        seen[k] = now;
    }
    seen
}

/// How long ago a journal time was; `None` if it does not parse or is in the future.
fn since(at: &str) -> Option<std::time::Duration> {
    let at: jiff::Timestamp = at.parse().ok()?;
    jiff::Timestamp::now().duration_since(at).try_into().ok()
}

/// How one revert treats targets: see [`RevertOptions`].
#[derive(Clone, Copy)]
struct How {
    force: bool,
    exact: bool,
    verify: bool,
}

/// Revert one fault's targets: read their snapshots, describe them all at once, leave
/// alone those restored, gone or changed by the team, restore the rest (each batch
/// journaled `reverting` before its call, a window of calls at a time), then compare
/// each with its snapshot, in the state its call's answer proved or as described at once
/// again. Nothing is written before `gate` opens. Each step's outcomes are journaled in
/// one write. With `how.verify`, targets the journal says are done are looked at too:
/// one found broken again is restored; one found otherwise is left, with a warning.
/// Returns the warnings for the person running the revert.
async fn revert_fault<F: Fault, S: Shared<F>, B: Batch<F>>(
    parts: Parts<'_, F, S, B>,
    aws: &Aws,
    fr: FaultRun<'_>,
    rec: &RunRecord,
    targets: &[&TargetRecord],
    how: How,
    gate: &Gate,
) -> Result<Vec<String>> {
    let (ctx, journal) = (fr.ctx, fr.journal);
    let Parts { fault: f, shared, batch: b } = parts;
    let pending: Vec<&TargetRecord> = targets.iter().copied().filter(|t| wanted(t, how.verify)).collect();
    let mut r = Outcomes { fault: ctx.fault, events: Vec::new(), warnings: Vec::new(), settled: 0 };

    // 1. Snapshots, from the store.
    let live = r.snapshots(f, ctx, rec, &pending);
    // 2. One description of each target serves both the drift check and the revert.
    let to_revert = r.triage::<F>(aws, rec, live, how).await;
    if !gate.passed().await {
        return Err(Error::Refused("the run's account or region could not be confirmed".into()));
    }
    journal.append_all(&std::mem::take(&mut r.events))?;
    if let Some(why) = super::stop::requested() {
        // Stopped before anything was changed: nothing more to journal.
        r.warnings.push(format!("stopped by {why} before restoring {} target(s)", to_revert.len()));
        return Ok(r.warnings);
    }
    // 3. Restore: one call per target, or per batch where the API takes many ids; with
    // `exact`, then whatever still differs from its snapshot, through its resource.
    let mut calls = restore(b, aws, fr, &to_revert).await;
    if how.exact {
        calls = reset::<F>(aws, rec, fr.ctx.fault, &to_revert, calls).await;
    }
    // 4. Verify each restored target against its snapshot.
    r.verify::<F>(aws, rec, &to_revert, calls).await;
    journal.append_all(&r.events)?;
    tracing::debug!(fault = r.fault, pending = pending.len(), settled = r.settled, "reverted");
    // 5. Shared resources go only when no target still depends on them.
    if r.settled == pending.len() && super::stop::requested().is_none() {
        tracing::debug!(fault = r.fault, "every target restored: deleting what the fault created");
        shared.teardown(aws, ctx).await?;
        release(aws, journal, rec, r.fault, targets, &mut r.warnings).await?;
    }
    Ok(r.warnings)
}

/// A target to restore: its record, its snapshot, its state as just described.
type ToRestore<'a, F> = (&'a TargetRecord, Snapshot<F>, State<F>);

/// What reverting one fault's targets has come to so far: the journal events not yet
/// written, the warnings for the person, and how many of the pending targets are
/// settled (restored, gone, irreversible); teardown waits for all of them.
struct Outcomes {
    fault: usize,
    events: Vec<Event>,
    warnings: Vec<String>,
    settled: usize,
}

impl Outcomes {
    fn failed(&self, t: &TargetRecord, error: String) -> Event {
        Event::RevertFailed { at: now(), fault: self.fault, target: t.target.id.clone(), error, differences: vec![] }
    }

    /// Step 1: each pending target's snapshot, checked as the run wrote it; a target
    /// that cannot be restored (a terminated instance without a relaunch) is recorded
    /// so, once, and settled.
    fn snapshots<'a, F: Fault>(
        &mut self,
        f: &F,
        ctx: &RunCtx,
        rec: &RunRecord,
        pending: &[&'a TargetRecord],
    ) -> Vec<(&'a TargetRecord, Snapshot<F>)> {
        let mut live = Vec::new();
        for t in pending {
            match rec.before(t) {
                Err(e) => self.events.push(self.failed(t, e.to_string())),
                Ok(snap) => match f.irreversible(&snap.state, &snap.change, ctx) {
                    Some(_) if done(t) => self.settled += 1,
                    Some(note) => {
                        let target = t.target.id.clone();
                        self.events.push(Event::Irreversible { at: now(), fault: self.fault, target, note });
                        self.settled += 1;
                    }
                    None => live.push((*t, snap)),
                },
            }
        }
        live
    }

    /// Step 2: describe every target once ([`look`]) and sort them: gone, restored by
    /// the team, changed by the team (left alone unless `how.force`), or to restore.
    /// Respects what happened since the fault, unless firedrill itself was midway
    /// through restoring a target (then it is its own work, not the team's).
    async fn triage<'a, F: Fault>(
        &mut self,
        aws: &Aws,
        rec: &RunRecord,
        live: Vec<(&'a TargetRecord, Snapshot<F>)>,
        how: How,
    ) -> Vec<ToRestore<'a, F>> {
        let fault = self.fault;
        let window = rec.faults[fault].action.info().target.consistency();
        let looks = look::<F>(aws, &live, window).await;
        let mut to_revert = Vec::new();
        for ((t, snap), current) in live.into_iter().zip(looks) {
            let id = t.target.id.clone();
            let current = match current {
                Ok(current) => current,
                Err(Error::Gone(_)) => {
                    if done(t) {
                        self.warnings.push(format!("{id}: {} before, and gone now", t.phase.as_str()));
                    } else {
                        self.events.push(Event::Gone { at: now(), fault, target: id });
                    }
                    self.settled += 1;
                    continue;
                }
                Err(e) => {
                    self.events.push(self.failed(t, e.to_string()));
                    continue;
                }
            };
            if !matches!(t.phase, Phase::Reverting | Phase::RevertFailed) {
                let after = rec.after(t).unwrap_or_else(|w| {
                    self.warnings.push(w);
                    None
                });
                match drift::classify::<F::On>(&snap.state, after.as_ref(), &current) {
                    (Live::Restored, _) => {
                        if !done(t) {
                            self.events.push(Event::Restored { at: now(), fault, target: id });
                        }
                        self.settled += 1;
                        continue;
                    }
                    (Live::Changed, differences) if done(t) => {
                        let since = differences.join("; ");
                        self.warnings
                            .push(format!("{id}: {}, but changed since by someone: {since}", t.phase.as_str()));
                        continue;
                    }
                    (Live::Changed, differences) if !how.force => {
                        self.events.push(Event::Drifted { at: now(), fault, target: id, differences });
                        continue;
                    }
                    (Live::Broken, _) if done(t) => {
                        let phase = t.phase.as_str();
                        self.warnings.push(format!("{id}: recorded {phase}, but broken again: restoring it"));
                    }
                    _ => {}
                }
            }
            to_revert.push((t, snap, current));
        }
        to_revert
    }

    /// Step 4: compare each restored target with its snapshot, as its call's answer
    /// proved it or else as described (every such target at once, again while AWS's
    /// reads lag the change).
    async fn verify<F: Fault>(
        &mut self,
        aws: &Aws,
        rec: &RunRecord,
        to_revert: &[ToRestore<'_, F>],
        calls: Vec<(usize, super::Proved<State<F>>)>,
    ) {
        let fault = self.fault;
        let mut changed = Vec::new();
        for (i, called) in calls {
            match called {
                Ok(proved) => changed.push((i, proved)),
                Err(error) => self.events.push(self.failed(to_revert[i].0, error.to_string())),
            }
        }
        let window = rec.faults[fault].action.info().target.consistency();
        let restored = |i: usize, s: &State<F>| F::On::differences(&to_revert[i].1.state, s).is_empty();
        for (i, after) in batch::states_after::<F::On>(aws, changed, |i| &to_revert[i].0.target, window, restored).await
        {
            let (t, snap, _) = &to_revert[i];
            let target = t.target.id.clone();
            let event = match after.map(|after| F::On::differences(&snap.state, &after)) {
                Ok(diffs) if diffs.is_empty() => {
                    self.settled += 1;
                    Event::Reverted { at: now(), fault, target }
                }
                Ok(differences) => Event::RevertFailed {
                    at: now(),
                    fault,
                    target,
                    error: "not restored exactly: the target differs from its snapshot".into(),
                    differences,
                },
                Err(e) => self.failed(t, e.to_string()),
            };
            self.events.push(event);
        }
    }
}

/// Whether the journal says a target needs nothing more (reverted, restored, done).
fn done(t: &TargetRecord) -> bool {
    !t.phase.needs_revert()
}

/// Step 3: the change calls that restore `to_revert`, one per target or per batch where
/// the API takes many ids, each batch journaled `reverting` before its call. Returns
/// what each call made known, by index.
async fn restore<F: Fault, B: Batch<F>>(
    b: &B,
    aws: &Aws,
    fr: FaultRun<'_>,
    to_revert: &[ToRestore<'_, F>],
) -> Vec<(usize, super::Proved<State<F>>)> {
    let (ctx, fault) = (fr.ctx, fr.ctx.fault);
    let reverting = |i: usize| Event::Reverting { at: now(), fault, target: to_revert[i].0.target.id.clone() };
    let items: Vec<ToRevert<'_, F>> = to_revert
        .iter()
        .map(|(t, snap, current)| ToRevert {
            target: &t.target,
            before: &snap.state,
            change: &snap.change,
            now: current,
        })
        .collect();
    let call = |range: std::ops::Range<usize>| b.revert_many(aws, ctx, &items[range]);
    batch::change_all(aws, fr.journal, items.len(), B::SIZE, "after-revert-call", reverting, call).await
}

/// Step 3, with `exact`: describe what the change calls did not prove, and make each
/// target that still differs from its snapshot equal to it ([`Resource::reset`]).
/// Returns what each target's verification starts from: the proved state of one that
/// was equal, `None` (describe again) for one reset, the error of one that failed.
async fn reset<F: Fault>(
    aws: &Aws,
    rec: &RunRecord,
    fault: usize,
    to_revert: &[ToRestore<'_, F>],
    calls: Vec<(usize, super::Proved<State<F>>)>,
) -> Vec<(usize, super::Proved<State<F>>)> {
    let mut out = Vec::with_capacity(calls.len());
    let mut changed = Vec::new();
    for (i, called) in calls {
        match called {
            Ok(proved) => changed.push((i, proved)),
            Err(e) => out.push((i, Err(e))),
        }
    }
    let window = rec.faults[fault].action.info().target.consistency();
    let equal = |i: usize, s: &State<F>| F::On::differences(&to_revert[i].1.state, s).is_empty();
    for (i, now) in batch::states_after::<F::On>(aws, changed, |i| &to_revert[i].0.target, window, equal).await {
        let (t, snap, _) = &to_revert[i];
        let next = match now {
            Ok(now) if F::On::differences(&snap.state, &now).is_empty() => Ok(Some(now)),
            Ok(now) => {
                let _turn = aws.permit().await;
                F::On::reset(aws, &t.target, &snap.state, &now).await.map(|()| None)
            }
            Err(e) => Err(e),
        };
        out.push((i, next));
    }
    out
}

/// Step 5, after teardown: give up the run's hold on the fault's targets (their hold
/// tags), journaled; a hold that could not be released is a warning.
async fn release(
    aws: &Aws,
    journal: &Journal,
    rec: &RunRecord,
    fault: usize,
    targets: &[&TargetRecord],
    warnings: &mut Vec<String>,
) -> Result<()> {
    if !rec.held.contains(&fault) {
        return Ok(());
    }
    let kind = rec.faults[fault].action.info().target;
    let ids: Vec<&str> = targets.iter().map(|t| t.target.id.as_str()).collect();
    match super::holds::release(aws, kind, &ids, &rec.run_id).await {
        Some(w) => warnings.push(w),
        None => journal.append(&Event::Released { at: now(), fault })?,
    }
    Ok(())
}
