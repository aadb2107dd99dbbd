//! Injecting: snapshot every target durably, then change them, observing each change.
//!
//! Order of writes, each fsync'd before the next step (see the store):
//! `run-started` → a snapshot file per fault, then every target's `planned` event (one
//! write) → before a call, `injecting` for its targets (and those of the next calls in
//! its window: see [`batch::change_all`]) → the AWS calls → one describe of the targets
//! whose call's answer did not prove their new state → the fault's `.after` file (every
//! target's state after the change), then each target's `injected` or `inject-failed`
//! (one write). A crash anywhere leaves a run `revert` can finish. If any target fails,
//! everything this run changed is rolled back before returning.

use serde::Serialize;
use serde_json::Value;

use super::batch;
use super::{FaultRun, Parts, Plan, PlannedFault};
use crate::action::{Batch, Fault, RunCtx, Shared, State, ToInject, with_fault};
use crate::aws::Aws;
use crate::store::journal::{DrillLink, ScheduleLink};
use crate::store::journal::{Event, now};
use crate::store::snapshot::{After, Before, TargetAfter, TargetBefore};
use crate::store::{RunDir, RunRecord, Store};
use crate::target::Target;
use crate::{Error, Result, failpoint};

/// What an inject did: the run, and its record afterwards.
#[derive(Debug, Serialize)]
pub struct InjectReport {
    pub run_id: String,
    pub record: RunRecord,
}

/// How [`inject`] goes about it.
#[derive(Clone, Debug, Default)]
pub struct InjectOptions {
    /// Break targets another open run holds, on top of its break (see [`super::holds`]).
    pub stack: bool,
    /// The schedule that fired the run, to record.
    pub schedule: Option<ScheduleLink>,
}

/// Inject `plan` as run `run_id` (from [`Store::new_run_id`]). Refuses, changing nothing,
/// targets another open run holds (unless `opts.stack`). If this future is dropped
/// part-way (Ctrl-C), the journal holds everything `revert` needs to finish the run.
pub async fn inject(aws: &Aws, store: &Store, plan: &Plan, run_id: &str, opts: &InjectOptions) -> Result<InjectReport> {
    super::holds::check(store, &[plan], opts.stack)?;
    let run = start_run(store, run_id, plan, None, opts.schedule.clone())?;
    inject_planned(aws, store, &run, plan, 0, opts.stack).await?;
    let record = store.read(run_id)?;
    Ok(InjectReport { run_id: run_id.to_owned(), record })
}

/// Create run `run_id` and record how it started: `plan`'s account, region and faults
/// (a drill starts with none and adds them with [`add_faults`]). Holds the run's lock.
pub fn start_run(
    store: &Store,
    run_id: &str,
    plan: &Plan,
    drill: Option<DrillLink>,
    schedule: Option<ScheduleLink>,
) -> Result<RunDir> {
    store.create_run(
        run_id,
        &Event::RunStarted {
            at: now(),
            run_id: run_id.to_owned(),
            by: crate::store::journal::who(),
            command: crate::store::journal::command_line(),
            firedrill_version: env!("CARGO_PKG_VERSION").into(),
            account: plan.account.clone(),
            region: plan.region.clone(),
            endpoint: plan.endpoint.clone(),
            access: Some(plan.access.clone()),
            faults: plan.faults.iter().map(|f| f.spec.clone()).collect(),
            seeds: plan.faults.iter().map(|f| f.seed).collect(),
            drill,
            schedule,
        },
    )
}

/// Add `plan`'s faults to a started run and inject them, with the same guarantees as
/// [`inject`]: targets another open run holds refused (unless `stack`), snapshots first,
/// and if any target fails, these faults are rolled back (faults injected earlier in the
/// run are left as they are). Returns their indices.
pub async fn add_faults(aws: &Aws, store: &Store, run: &RunDir, plan: &Plan, stack: bool) -> Result<Vec<usize>> {
    super::holds::check(store, &[plan], stack)?;
    let first = store.read(&run.id)?.faults.len();
    for (i, f) in plan.faults.iter().enumerate() {
        run.journal.append(&Event::FaultAdded { at: now(), fault: first + i, spec: f.spec.clone(), seed: f.seed })?;
    }
    inject_planned(aws, store, run, plan, first, stack).await?;
    Ok((first..first + plan.faults.len()).collect())
}

/// Snapshot and inject `plan`'s faults, which the run knows as `first`, `first + 1`, ...
async fn inject_planned(aws: &Aws, store: &Store, run: &RunDir, plan: &Plan, first: usize, stack: bool) -> Result<()> {
    let run_id = run.id.clone();
    let journal = run.journal.clone();
    // Every snapshot is durable before the first mutating call: a file per fault, one
    // directory fsync, then one journal write naming them.
    let taken_at = now();
    let files: Vec<(String, Before<'_, Value, Value>)> = plan
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let before = Before {
                run_id: &run_id,
                fault: first + i,
                fault_name: &f.name,
                action: f.action,
                taken_at: taken_at.clone(),
                targets: f
                    .targets
                    .iter()
                    .map(|t| TargetBefore { target: &t.target, state: &t.state, change: &t.change })
                    .collect(),
            };
            (file_name(first + i, &f.name), before)
        })
        .collect();
    let written = run.files.write_json_all(&files)?;
    let mut planned: Vec<Event> = written
        .iter()
        .enumerate()
        .map(|(i, (file, sha256))| Event::Snapshot {
            at: now(),
            fault: first + i,
            file: file.clone(),
            sha256: sha256.clone(),
        })
        .collect();
    planned.extend(plan.faults.iter().enumerate().zip(&written).flat_map(|((i, f), (snapshot, _))| {
        f.targets.iter().map(move |t| Event::Planned {
            at: now(),
            fault: first + i,
            target: t.target.clone(),
            snapshot: snapshot.clone(),
            changes: t.changes.clone(),
            change_sha256: Some(crate::store::snapshot::change_sha256(&t.change)),
        })
    }));
    // Which faults' targets are about to be tagged as held, in the same write.
    let holds = |f: &PlannedFault| f.revertible && crate::aws::holds::taggable(f.spec.action.info().target);
    planned.extend(
        plan.faults
            .iter()
            .enumerate()
            .filter(|(_, f)| holds(f))
            .map(|(i, _)| Event::Held { at: now(), fault: first + i }),
    );
    journal.append_all(&planned)?;
    failpoint::hit("after-snapshot");
    tracing::debug!(run = %run_id, store = %run.files.location().display(), targets = planned.len(), "snapshots durable");

    // Hold every target (tagged where the service allows) before the first break; a run
    // of another store that took hold of one at the same moment refuses the lot.
    for (i, f) in plan.faults.iter().enumerate() {
        let kind = f.spec.action.info().target;
        if !holds(f) {
            continue;
        }
        let targets: Vec<&Target> = f.targets.iter().map(|t| &t.target).collect();
        let took = super::holds::take(aws, store, kind, &targets, &run_id, stack).await;
        failpoint::hit("after-hold");
        if let Err(e) = took {
            for (j, f) in plan.faults[..=i].iter().enumerate() {
                let ids: Vec<&str> = f.targets.iter().map(|t| t.target.id.as_str()).collect();
                match super::holds::release(aws, f.spec.action.info().target, &ids, &run_id).await {
                    Some(w) => tracing::warn!("{w}"),
                    None => journal.append(&Event::Released { at: now(), fault: first + j })?,
                }
            }
            return Err(e);
        }
    }

    let mut failure = None;
    // Each target whose change call went through, by fault: what may be broken if the
    // journal cannot say so (a full disk).
    let touched = std::sync::Mutex::new(Vec::new());
    for (i, f) in plan.faults.iter().enumerate() {
        let ctx = RunCtx::new(&run_id, first + i, journal.clone(), Vec::new());
        let result = with_fault!(&f.spec.action, |fault, shared, batch| inject_fault(
            Parts { fault, shared, batch },
            aws,
            FaultRun { ctx: &ctx, journal: &journal, files: &run.files },
            f,
            &touched
        )
        .await);
        if let Err(e) = result {
            failure = Some(e);
            break;
        }
    }
    let Some(err) = failure else {
        return Ok(());
    };
    tracing::warn!("injecting failed, rolling back run {run_id}: {err}");
    let these: Vec<usize> = (first..first + plan.faults.len()).collect();
    let rollback = super::revert::revert_open(aws, store, run, super::Restore::Force, Some(&these)).await;
    let touched = touched.into_inner().unwrap_or_else(|e| e.into_inner());
    let snapshots = run.files.location_of("snapshots");
    let how = match rollback {
        Ok(rec) if !rec.targets.iter().any(|t| these.contains(&t.fault) && t.phase.needs_revert()) => {
            "everything it changed was reverted".to_owned()
        }
        Ok(rec) => {
            let open = rec.targets.iter().filter(|t| these.contains(&t.fault) && t.phase.needs_revert());
            let (broken, marked): (Vec<_>, Vec<_>) = open.partition(|t| touched.contains(&t.target.id));
            let ids = |ts: Vec<&crate::store::record::TargetRecord>| {
                ts.iter().map(|t| t.target.id.as_str()).collect::<Vec<_>>().join(", ")
            };
            let mut how = format!("the rollback did not finish; still broken: {}", ids(broken));
            if !marked.is_empty() {
                how += &format!("; marked but never changed: {}", ids(marked));
            }
            how + &format!("; their snapshots are in {}; run `firedrill revert {run_id}`", snapshots.display())
        }
        Err(e) => {
            let mut broken: Vec<&str> = touched.iter().map(String::as_str).collect();
            broken.sort_unstable();
            let what = if broken.is_empty() {
                "no change call had gone through, so nothing is broken".to_owned()
            } else {
                format!("still broken: {}; their snapshots are in {}", broken.join(", "), snapshots.display())
            };
            format!(
                "the rollback failed ({e}); {what}; once {} can be written again, run `firedrill revert {run_id}`",
                run.files.location().display()
            )
        }
    };
    Err(Error::Failed(format!("run {run_id}: {err}; {how}")))
}

/// Inject one fault's targets: change them (each batch journaled `injecting` before its
/// call, a window of calls at a time), then observe each in the state its call's answer
/// proved or, for the rest, as described all at once, then journal the outcome of every
/// target in one write.
async fn inject_fault<F: Fault, S: Shared<F>, B: Batch<F>>(
    parts: Parts<'_, F, S, B>,
    aws: &Aws,
    fr: FaultRun<'_>,
    planned: &PlannedFault,
    touched: &std::sync::Mutex<Vec<String>>,
) -> Result<()> {
    let (ctx, journal) = (fr.ctx, fr.journal);
    // Use what was stored, not what was planned in memory: they are the same by
    // construction, and revert will read the stored form.
    let Parts { fault: f, shared, batch: b } = parts;
    let mut items: Vec<(Target, State<F>, F::Change)> = Vec::new();
    for t in &planned.targets {
        items.push((t.target.clone(), decode(&t.state)?, decode(&t.change)?));
    }
    let refs: Vec<ToInject<'_, F>> =
        items.iter().map(|(target, before, change)| ToInject { target, before, change }).collect();
    shared.setup(aws, ctx, &refs).await?;
    let one_shot = planned.spec.action.info().one_shot;
    let fault = ctx.fault;

    // 1. Change: one call per target, or per batch where the API takes many ids.
    let injecting = |i: usize| Event::Injecting { at: now(), fault, target: items[i].0.id.clone() };
    let call = |range: std::ops::Range<usize>| b.inject_many(aws, ctx, &refs[range]);
    let calls = batch::change_all(aws, journal, items.len(), B::SIZE, "after-inject-call", injecting, call).await;
    let mut outcomes: Vec<Option<Result<()>>> = (0..items.len()).map(|_| None).collect();
    let mut changed = Vec::new();
    for (i, r) in calls {
        if r.is_ok() {
            touched.lock().unwrap_or_else(|e| e.into_inner()).push(items[i].0.id.clone());
        }
        let r = r.and_then(|proved| failpoint::fail("inject", &items[i].0.id).map(|()| proved));
        outcomes[i] = Some(r.map(|proved| changed.push((i, proved))));
    }

    // 2. Observe: the state each call's answer proved, or else describe every other
    // changed target at once; again, for a while, those that do not show it yet.
    let mut afters = Vec::new();
    let window = planned.spec.action.info().target.consistency();
    let shows = |i: usize, s: &State<F>| f.observe(ctx, &items[i].2, s).is_ok();
    for (i, now_state) in batch::states_after::<F::On>(aws, changed, |i| &items[i].0, window, shows).await {
        let (target, _, change) = &items[i];
        let observed = now_state.and_then(|s| {
            f.observe(ctx, change, &s)
                .map(|()| s)
                .map_err(|why| Error::Failed(format!("{}: the change did not take effect: {why}", target.id)))
        });
        match observed {
            Ok(after) if !one_shot => afters.push((i, after)),
            Ok(_) => {}
            Err(e) => outcomes[i] = Some(Err(e)),
        }
    }
    let mut after_of: Vec<Option<String>> = vec![None; items.len()];
    let mut written = None;
    if !afters.is_empty() {
        let file = After {
            run_id: &ctx.run_id,
            fault,
            taken_at: now(),
            targets: afters.iter().map(|(i, state)| TargetAfter { id: &items[*i].0.id, state }).collect(),
        };
        let name = format!("{}.after", file_name(fault, &planned.name));
        let (rel, sha256) = fr.files.write_json_all(&[(name, file)])?.remove(0);
        for (i, _) in &afters {
            after_of[*i] = Some(rel.clone());
        }
        written = Some(Event::Snapshot { at: now(), fault, file: rel, sha256 });
    }

    // 3. Journal every target's outcome in one write.
    let mut events: Vec<Event> = written.into_iter().collect();
    let mut first_error = None;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let id = items[i].0.id.clone();
        match outcome.expect("every target was tried") {
            Ok(()) if one_shot => events.push(Event::Done { at: now(), fault, target: id }),
            Ok(()) => events.push(Event::Injected { at: now(), fault, target: id, after: after_of[i].take() }),
            Err(e) => {
                tracing::warn!(fault, target = %id, "inject failed: {e}");
                events.push(Event::InjectFailed { at: now(), fault, target: id, error: e.to_string() });
                first_error.get_or_insert(e);
            }
        }
    }
    journal.append_all(&events)?;
    tracing::debug!(fault, targets = items.len(), failed = first_error.is_some(), "injected and observed");
    first_error.map_or(Ok(()), Err)
}

/// A fault's snapshot file name: unique by the fault's index, readable by its name.
fn file_name(fault: usize, name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(80)
        .collect();
    format!("{fault}-{readable}")
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::Failed(format!("internal: planned state does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_file_names_are_file_names() {
        assert_eq!(super::file_name(0, "web-ssh"), "0-web-ssh");
        assert_eq!(super::file_name(2, "dns/www: blue"), "2-dns_www__blue");
    }
}
