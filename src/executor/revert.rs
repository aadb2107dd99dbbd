//! Reverting: from the store alone — the journal names the faults (with their params),
//! the targets and their phases; the snapshots hold the state before and the change.
//! Idempotent: targets already reverted are skipped; a target whose revert failed is
//! tried again. Refuses to run against another account or region than the run's.
//! [`abort`] reverts every open run at once.

use futures_util::{StreamExt, stream};

use super::drift::{self, Live};
use super::{CONCURRENCY, RunCtx, SnapshotFile};
use crate::action::Fault;
use crate::aws::Aws;
use crate::store::journal::{Event, command_line, now, who};
use crate::store::record::{Phase, TargetRecord};
use crate::store::{RunDir, RunRecord, Store, read_snapshot};
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
    let account = aws.account().await?;
    let wrong = if aws.region != rec.region {
        Some(format!(
            "run {} was injected in region {}, not {}: pass --region {}",
            rec.run_id, rec.region, aws.region, rec.region
        ))
    } else if account != rec.account {
        Some(format!(
            "run {} was injected in account {}, but these credentials are for account {account}",
            rec.run_id, rec.account
        ))
    } else {
        None
    };
    match wrong {
        Some(why) if !force => return Err(Error::Refused(format!("{why} (--force overrides)"))),
        Some(why) => eprintln!("warning: {why}; going on because of --force"),
        None => {}
    }

    // Faults never share a target (plan refuses that), so they are reverted side by side:
    // the wall time is the slowest target's, not the sum.
    let rec = &rec;
    let faults = rec.faults.iter().enumerate().filter(|(fi, _)| only.is_none_or(|o| o.contains(fi)));
    let errors: Vec<Error> = futures_util::future::join_all(faults.map(|(fi, spec)| {
        let journal = journal.clone();
        async move {
            let created = rec.created.iter().filter(|c| c.fault == fi).cloned().collect();
            let ctx = RunCtx::new(&rec.run_id, fi, &rec.dir, journal, created);
            let targets: Vec<&TargetRecord> = rec.targets.iter().filter(|t| t.fault == fi).collect();
            with_fault!(&spec.action, |f| revert_fault(f, aws, &ctx, rec, &targets, force).await)
        }
    }))
    .await
    .into_iter()
    .filter_map(|r| r.err())
    .collect();
    for e in &errors {
        tracing::error!("{e}");
        eprintln!("error: {e}");
    }
    store.read(&run.id)
}

async fn revert_fault<F: Fault>(
    f: &F,
    aws: &Aws,
    ctx: &RunCtx,
    rec: &RunRecord,
    targets: &[&TargetRecord],
    force: bool,
) -> Result<()> {
    let pending: Vec<&TargetRecord> = targets.iter().copied().filter(|t| t.phase.needs_revert()).collect();
    let results: Vec<bool> = stream::iter(pending)
        .map(|t| async move {
            let (fault, id) = (ctx.fault, t.target.id.clone());
            let journal = &ctx.journal;
            journal.append(&Event::Reverting { at: now(), fault, target: id.clone() })?;
            let snap: SnapshotFile<F::State, F::Change> = match read_snapshot(&rec.dir, &t.snapshot) {
                Ok(s) => s,
                Err(e) => {
                    let error = e.to_string();
                    journal.append(&Event::RevertFailed {
                        at: now(),
                        fault,
                        target: id,
                        error,
                        differences: vec![],
                    })?;
                    return Ok(false);
                }
            };
            if let Some(note) = f.irreversible(&snap.state, &snap.change, ctx) {
                journal.append(&Event::Irreversible { at: now(), fault, target: id, note })?;
                return Ok(true);
            }
            // One description of the target serves both the drift check and the revert.
            let current = match f.describe(aws, &t.target).await {
                Ok(current) => current,
                Err(Error::Gone(_)) => {
                    journal.append(&Event::Gone { at: now(), fault, target: id })?;
                    return Ok(true);
                }
                Err(e) => {
                    let error = e.to_string();
                    journal.append(&Event::RevertFailed {
                        at: now(),
                        fault,
                        target: id,
                        error,
                        differences: vec![],
                    })?;
                    return Ok(false);
                }
            };
            // Respect what happened since the fault, unless firedrill itself was midway
            // through restoring this target (then it is its own work, not the team's).
            if !matches!(t.phase, Phase::Reverting | Phase::RevertFailed) {
                let after = match drift::read_after::<F>(rec, t) {
                    Ok(after) => after,
                    Err(e) => {
                        let error = e.to_string();
                        journal.append(&Event::RevertFailed {
                            at: now(),
                            fault,
                            target: id,
                            error,
                            differences: vec![],
                        })?;
                        return Ok(false);
                    }
                };
                match drift::classify(f, &snap.state, after.as_ref(), &current) {
                    (Live::Restored, _) => {
                        journal.append(&Event::Restored { at: now(), fault, target: id })?;
                        return Ok(true);
                    }
                    (Live::Changed, differences) if !force => {
                        journal.append(&Event::Drifted { at: now(), fault, target: id, differences })?;
                        return Ok(false);
                    }
                    _ => {}
                }
            }
            let outcome = async {
                f.revert(aws, ctx, &t.target, &snap.state, &snap.change, &current).await?;
                crate::failpoint::hit("after-revert-call");
                let after = f.describe(aws, &t.target).await?;
                Ok::<_, Error>(f.differences(&snap.state, &after))
            }
            .await;
            let event = match outcome {
                Ok(diffs) if diffs.is_empty() => Event::Reverted { at: now(), fault, target: id },
                Ok(differences) => Event::RevertFailed {
                    at: now(),
                    fault,
                    target: id,
                    error: "not restored exactly: the target differs from its snapshot".into(),
                    differences,
                },
                Err(e) => {
                    Event::RevertFailed { at: now(), fault, target: id, error: e.to_string(), differences: vec![] }
                }
            };
            let ok = matches!(event, Event::Reverted { .. });
            tracing::debug!(fault, target = %t.target.id, restored = ok, "reverted");
            journal.append(&event)?;
            Ok::<_, Error>(ok)
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<Result<bool>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;

    // Shared resources go only when no target still depends on them.
    let untouched = targets.iter().filter(|t| !t.phase.needs_revert()).count();
    let all_reverted = results.iter().all(|ok| *ok) && untouched + results.len() == targets.len();
    if all_reverted {
        tracing::debug!(fault = ctx.fault, "every target restored: deleting what the fault created");
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
