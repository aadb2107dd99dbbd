//! Reverting: from the store alone — the journal names the faults (with their params),
//! the targets and their phases; the snapshots hold the state before and the change.
//! Idempotent: targets already reverted are skipped; a target whose revert failed is
//! tried again. Refuses to run against another account or region than the run's.
//! [`abort`] reverts every open run at once.

use super::RunCtx;
use super::batch::{self, describe_all};
use super::drift::{self, Live};
use crate::action::{Fault, RevertItem};
use crate::aws::Aws;
use crate::store::journal::{Event, command_line, now, who};
use crate::store::record::{Phase, TargetRecord};
use crate::store::snapshot::BeforeEntry;
use crate::store::{RunDir, RunRecord, Store};
use crate::{Error, Result, with_fault};

/// How a revert treats targets the team changed, and which targets to leave alone.
#[derive(Clone, Debug, Default)]
pub struct RevertOptions {
    /// Restore targets that changed since the fault anyway.
    pub force: bool,
    /// Targets a person chose to leave as they are.
    pub abandon: Vec<String>,
}

/// Revert run `id`; returns its record afterwards (check `needs_revert()`).
pub async fn revert(aws: &Aws, store: &Store, id: &str, opts: &RevertOptions) -> Result<RunRecord> {
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
    revert_open(aws, store, &run, opts.force, None).await
}

/// Revert a run whose lock the caller holds: every fault, or only the faults `only`
/// lists (a drill step's). `force` restores targets the team changed, too.
pub async fn revert_open(
    aws: &Aws,
    store: &Store,
    run: &RunDir,
    force: bool,
    only: Option<&[usize]>,
) -> Result<RunRecord> {
    let journal = run.journal.clone();
    let rec = store.read(&run.id)?;
    // Checking the account and each fault's first look at its targets are reads: they
    // go at once, one round trip instead of two. The faults write and change nothing
    // until the check has passed (the gate).
    let gate = Gate::new();
    let check = async {
        let checked = check_where(aws, &rec, force).await;
        gate.open(checked.is_ok());
        checked
    };

    // Faults never share a target (plan refuses that), so they are reverted side by side:
    // the wall time is the slowest target's, not the sum.
    let rec = &rec;
    let gate = &gate;
    let faults = rec.faults.iter().enumerate().filter(|(fi, _)| only.is_none_or(|o| o.contains(fi)));
    let reverting = futures_util::future::join_all(faults.map(|(fi, spec)| {
        let journal = journal.clone();
        async move {
            let created = rec.created.iter().filter(|c| c.fault == fi).cloned().collect();
            let ctx = RunCtx::new(&rec.run_id, fi, &rec.dir, journal, created);
            let targets: Vec<&TargetRecord> = rec.targets.iter().filter(|t| t.fault == fi).collect();
            with_fault!(&spec.action, |f| revert_fault(f, aws, &ctx, rec, &targets, force, gate).await)
        }
    }));
    let (checked, results) = tokio::join!(check, reverting);
    checked?;
    let errors: Vec<Error> = results.into_iter().filter_map(|r| r.err()).collect();
    for e in &errors {
        tracing::error!("{e}");
        eprintln!("error: {e}");
    }
    store.read(&run.id)
}

/// Refuse a revert in another region or account than the run's, unless `force`.
async fn check_where(aws: &Aws, rec: &RunRecord, force: bool) -> Result<()> {
    let wrong = if aws.region != rec.region {
        Some(format!(
            "run {} was injected in region {}, not {}: pass --region {}",
            rec.run_id, rec.region, aws.region, rec.region
        ))
    } else {
        let account = aws.account().await?;
        (account != rec.account).then(|| {
            format!(
                "run {} was injected in account {}, but these credentials are for account {account}",
                rec.run_id, rec.account
            )
        })
    };
    match wrong {
        Some(why) if !force => Err(Error::Refused(format!("{why} (--force overrides)"))),
        Some(why) => {
            eprintln!("warning: {why}; going on because of --force");
            Ok(())
        }
        None => Ok(()),
    }
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
type Snapshot<F> = BeforeEntry<<F as Fault>::State, <F as Fault>::Change>;

/// Revert one fault's targets: read their snapshots, describe them all at once, leave
/// alone those restored, gone or changed by the team, restore the rest (each batch
/// journaled `reverting` before its call, a window of calls at a time), then compare
/// each with its snapshot, in the state its call's answer proved or as described at once
/// again. Nothing is written before `gate` opens. Each step's outcomes are journaled in
/// one write.
async fn revert_fault<F: Fault>(
    f: &F,
    aws: &Aws,
    ctx: &RunCtx,
    rec: &RunRecord,
    targets: &[&TargetRecord],
    force: bool,
    gate: &Gate,
) -> Result<()> {
    let fault = ctx.fault;
    let journal = &ctx.journal;
    let pending: Vec<&TargetRecord> = targets.iter().copied().filter(|t| t.phase.needs_revert()).collect();
    let failed = |t: &TargetRecord, error: String| Event::RevertFailed {
        at: now(),
        fault,
        target: t.target.id.clone(),
        error,
        differences: vec![],
    };
    // How many pending targets are settled (restored, gone, irreversible): teardown
    // waits for all of them.
    let mut settled = 0;
    let mut events = Vec::new();

    // 1. Snapshots, from the store.
    let mut live: Vec<(&TargetRecord, Snapshot<F>)> = Vec::new();
    for t in &pending {
        match rec.before(t) {
            Err(e) => events.push(failed(t, e.to_string())),
            Ok(snap) => match f.irreversible(&snap.state, &snap.change, ctx) {
                Some(note) => {
                    events.push(Event::Irreversible { at: now(), fault, target: t.target.id.clone(), note });
                    settled += 1;
                }
                None => live.push((t, snap)),
            },
        }
    }

    // 2. One description of each target serves both the drift check and the revert.
    let ids: Vec<&crate::target::Target> = live.iter().map(|(t, _)| &t.target).collect();
    let mut to_revert = Vec::new();
    for ((t, snap), current) in live.iter().zip(describe_all(f, aws, &ids).await) {
        let id = t.target.id.clone();
        let current = match current {
            Ok(current) => current,
            Err(Error::Gone(_)) => {
                events.push(Event::Gone { at: now(), fault, target: id });
                settled += 1;
                continue;
            }
            Err(e) => {
                events.push(failed(t, e.to_string()));
                continue;
            }
        };
        // Respect what happened since the fault, unless firedrill itself was midway
        // through restoring this target (then it is its own work, not the team's).
        if !matches!(t.phase, Phase::Reverting | Phase::RevertFailed) {
            let after = match rec.after(t) {
                Ok(after) => after,
                Err(e) => {
                    events.push(failed(t, e.to_string()));
                    continue;
                }
            };
            match drift::classify(f, &snap.state, after.as_ref(), &current) {
                (Live::Restored, _) => {
                    events.push(Event::Restored { at: now(), fault, target: id });
                    settled += 1;
                    continue;
                }
                (Live::Changed, differences) if !force => {
                    events.push(Event::Drifted { at: now(), fault, target: id, differences });
                    continue;
                }
                _ => {}
            }
        }
        to_revert.push((*t, snap, current));
    }
    if !gate.passed().await {
        return Err(Error::Refused("the run's account or region could not be confirmed".into()));
    }
    journal.append_all(&events)?;
    events.clear();

    // 3. Restore: one call per target, or per batch where the API takes many ids.
    let reverting = |i: usize| Event::Reverting { at: now(), fault, target: to_revert[i].0.target.id.clone() };
    let call = |range: std::ops::Range<usize>| {
        let to_revert = &to_revert;
        async move {
            if F::CHANGE_BATCH == 0 {
                let (t, snap, current) = &to_revert[range.start];
                f.revert_confirmed(aws, ctx, &t.target, &snap.state, &snap.change, current).await.map(|s| vec![s])
            } else {
                let items: Vec<RevertItem<'_, F>> = to_revert[range]
                    .iter()
                    .map(|(t, snap, current)| RevertItem {
                        target: &t.target,
                        before: &snap.state,
                        change: &snap.change,
                        now: current,
                    })
                    .collect();
                f.revert_batch(aws, ctx, &items).await
            }
        }
    };
    let calls =
        batch::change_all(aws, journal, to_revert.len(), F::CHANGE_BATCH, "after-revert-call", reverting, call).await;

    // 4. Verify: compare each restored target with its snapshot, as the call's answer
    // proved it or else as described (every such target at once).
    let mut changed = Vec::new();
    for (i, called) in calls {
        match called {
            Ok(proved) => changed.push((i, proved)),
            Err(error) => events.push(failed(to_revert[i].0, error.to_string())),
        }
    }
    for (i, after) in batch::states_after(f, aws, changed, |i| &to_revert[i].0.target).await {
        let (t, snap, _) = &to_revert[i];
        let target = t.target.id.clone();
        let event = match after.map(|after| f.differences(&snap.state, &after)) {
            Ok(diffs) if diffs.is_empty() => {
                settled += 1;
                Event::Reverted { at: now(), fault, target }
            }
            Ok(differences) => Event::RevertFailed {
                at: now(),
                fault,
                target,
                error: "not restored exactly: the target differs from its snapshot".into(),
                differences,
            },
            Err(e) => failed(t, e.to_string()),
        };
        events.push(event);
    }
    journal.append_all(&events)?;
    tracing::debug!(fault, pending = pending.len(), settled, "reverted");

    // Shared resources go only when no target still depends on them.
    if settled == pending.len() {
        tracing::debug!(fault, "every target restored: deleting what the fault created");
        f.teardown(aws, ctx).await?;
    }
    Ok(())
}

/// The kill switch: revert every run in the store that still has something to undo, all
/// at once, restoring changed targets too (`--force`). Returns each run's record after.
pub async fn abort(aws: &Aws, store: &Store) -> Result<Vec<std::result::Result<RunRecord, (String, Error)>>> {
    let mut open = Vec::new();
    for id in store.run_ids()? {
        if store.read(&id)?.needs_revert() {
            open.push(id);
        }
    }
    let opts = RevertOptions { force: true, abandon: Vec::new() };
    let opts = &opts;
    Ok(futures_util::future::join_all(
        open.into_iter().map(|id| async move { revert(aws, store, &id, opts).await.map_err(|e| (id, e)) }),
    )
    .await)
}
