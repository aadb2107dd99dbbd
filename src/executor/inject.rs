//! Injecting: snapshot every target durably, then change them, observing each change.
//!
//! Order of writes, each fsync'd before the next step (see the store):
//! `run-started` → every snapshot + `planned` → per target `injecting` → the AWS calls →
//! `injected` or `inject-failed`. A crash anywhere leaves a run `revert` can finish.
//! If any target fails, everything this run changed is rolled back before returning.

use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;

use super::{CONCURRENCY, Plan, PlannedFault, RunCtx, SnapshotFile};
use crate::action::Fault;
use crate::aws::Aws;
use crate::store::journal::{DrillLink, ScheduleLink};
use crate::store::journal::{Event, now};
use crate::store::{RunDir, RunRecord, Store};
use crate::target::Target;
use crate::{Error, Result, failpoint, with_fault};

#[derive(Debug, Serialize)]
pub struct InjectReport {
    pub run_id: String,
    pub record: RunRecord,
}

/// Inject `plan` as run `run_id` (from [`Store::new_run_id`]). If this future is dropped
/// part-way (Ctrl-C), the journal holds everything `revert` needs to finish the run.
pub async fn inject(aws: &Aws, store: &Store, plan: &Plan, run_id: &str) -> Result<InjectReport> {
    inject_as(aws, store, plan, run_id, None).await
}

/// [`inject`], recording the schedule that fired the run.
pub async fn inject_as(
    aws: &Aws,
    store: &Store,
    plan: &Plan,
    run_id: &str,
    schedule: Option<ScheduleLink>,
) -> Result<InjectReport> {
    let run = start_run(store, run_id, plan, None, schedule)?;
    inject_planned(aws, store, &run, plan, 0).await?;
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
    let run = store.create_run(run_id)?;
    run.journal.append(&Event::RunStarted {
        at: now(),
        run_id: run_id.to_owned(),
        by: crate::store::journal::who(),
        command: crate::store::journal::command_line(),
        firedrill_version: env!("CARGO_PKG_VERSION").into(),
        account: plan.account.clone(),
        region: plan.region.clone(),
        endpoint: plan.endpoint.clone(),
        faults: plan.faults.iter().map(|f| f.spec.clone()).collect(),
        seeds: plan.faults.iter().map(|f| f.seed).collect(),
        drill,
        schedule,
    })?;
    Ok(run)
}

/// Add `plan`'s faults to a started run and inject them, with the same guarantees as
/// [`inject`]: snapshots first, and if any target fails, these faults are rolled back
/// (faults injected earlier in the run are left as they are). Returns their indices.
pub async fn add_faults(aws: &Aws, store: &Store, run: &RunDir, plan: &Plan) -> Result<Vec<usize>> {
    let first = store.read(&run.id)?.faults.len();
    for (i, f) in plan.faults.iter().enumerate() {
        run.journal.append(&Event::FaultAdded { at: now(), fault: first + i, spec: f.spec.clone(), seed: f.seed })?;
    }
    inject_planned(aws, store, run, plan, first).await?;
    Ok((first..first + plan.faults.len()).collect())
}

/// Snapshot and inject `plan`'s faults, which the run knows as `first`, `first + 1`, ...
async fn inject_planned(aws: &Aws, store: &Store, run: &RunDir, plan: &Plan, first: usize) -> Result<()> {
    let run_id = run.id.clone();
    let journal = run.journal.clone();
    // Every snapshot is durable before the first mutating call.
    for (i, f) in plan.faults.iter().enumerate() {
        let fi = first + i;
        for (ti, t) in f.targets.iter().enumerate() {
            let snap = SnapshotFile {
                run_id: run_id.clone(),
                fault: fi,
                fault_name: f.name.clone(),
                action: f.action.into(),
                target: t.target.clone(),
                taken_at: now(),
                state: &t.state,
                change: &t.change,
            };
            let rel = run.write_snapshot(&snapshot_name(fi, ti, &t.target.id), &snap)?;
            journal.append(&Event::Planned {
                at: now(),
                fault: fi,
                target: t.target.clone(),
                snapshot: rel,
                changes: t.changes.clone(),
            })?;
        }
    }
    failpoint::hit("after-snapshot");
    tracing::debug!(run = %run_id, dir = %run.dir.display(), "snapshots durable");

    let mut failure = None;
    for (i, f) in plan.faults.iter().enumerate() {
        let ctx = RunCtx::new(&run_id, first + i, &run.dir, journal.clone(), Vec::new());
        let result = with_fault!(&f.spec.action, |fault| inject_fault(fault, aws, &ctx, f).await);
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
    let rollback = super::revert::revert_open(aws, store, run, true, Some(&these)).await;
    let how = match rollback {
        Ok(rec) if !rec.targets.iter().any(|t| these.contains(&t.fault) && t.phase.needs_revert()) => {
            "everything it changed was reverted".to_owned()
        }
        Ok(_) => {
            format!("the rollback did not finish: see `firedrill status {run_id}`, then `firedrill revert {run_id}`")
        }
        Err(e) => format!("the rollback failed ({e}): run `firedrill revert {run_id}`"),
    };
    Err(Error::Failed(format!("run {run_id}: {err}; {how}")))
}

async fn inject_fault<F: Fault>(f: &F, aws: &Aws, ctx: &RunCtx, planned: &PlannedFault) -> Result<()> {
    // Use what was stored, not what was planned in memory: they are the same by
    // construction, and revert will read the stored form.
    let mut items: Vec<(Target, F::State, F::Change)> = Vec::new();
    for t in &planned.targets {
        items.push((t.target.clone(), decode(&t.state)?, decode(&t.change)?));
    }
    let refs: Vec<(&Target, &F::State, &F::Change)> = items.iter().map(|(t, s, c)| (t, s, c)).collect();
    f.setup(aws, ctx, &refs).await?;
    let one_shot = planned.spec.action.info().one_shot;

    let results: Vec<Result<()>> = stream::iter(items.iter().enumerate())
        .map(|(ti, (target, _, change))| async move {
            let journal = &ctx.journal;
            let (fault, id) = (ctx.fault, target.id.clone());
            journal.append(&Event::Injecting { at: now(), fault, target: id.clone() })?;
            tracing::debug!(fault, target = %id, "injecting");
            let outcome = async {
                f.inject(aws, ctx, target, change).await?;
                failpoint::hit("after-inject-call");
                failpoint::pause("after-inject-call").await;
                failpoint::fail("inject", &target.id)?;
                let now_state = f.describe(aws, target).await?;
                f.observe(ctx, change, &now_state)
                    .map_err(|why| Error::Failed(format!("{}: the change did not take effect: {why}", target.id)))?;
                Ok::<_, Error>(now_state)
            }
            .await;
            match outcome {
                Ok(after) => {
                    tracing::debug!(fault, target = %id, "injected and observed");
                    if one_shot {
                        journal.append(&Event::Done { at: now(), fault, target: id })
                    } else {
                        let name = format!("{}.after", snapshot_name(fault, ti, &id));
                        let after = AfterFile { taken_at: now(), state: &after };
                        let rel =
                            ctx.run_dir.as_ref().map(|d| crate::store::write_json(d, &name, &after)).transpose()?;
                        journal.append(&Event::Injected { at: now(), fault, target: id, after: rel })
                    }
                }
                Err(e) => {
                    tracing::warn!(fault, target = %id, "inject failed: {e}");
                    journal.append(&Event::InjectFailed { at: now(), fault, target: id, error: e.to_string() })?;
                    Err(e)
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The state right after a change: what "still broken" looks like.
#[derive(Serialize, serde::Deserialize)]
pub struct AfterFile<S> {
    pub taken_at: String,
    pub state: S,
}

/// A snapshot's file name: unique by fault and target index, readable by the target's id
/// (ARNs and record ids hold `/` and `:`, which file names cannot).
fn snapshot_name(fault: usize, target: usize, id: &str) -> String {
    let readable: String = id
        .rsplit(['/', ':'])
        .filter(|p| !p.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(80)
        .collect();
    format!("{fault}-{target}-{readable}")
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::Failed(format!("internal: planned state does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshot_names_are_file_names() {
        assert_eq!(super::snapshot_name(0, 1, "sg-123"), "0-1-sg-123");
        let arn = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/05f31bb452f96f11";
        assert_eq!(super::snapshot_name(2, 0, arn), "2-0-targetgroup-web-05f31bb452f96f11");
        assert_eq!(super::snapshot_name(0, 0, "Z1/www.example.com./A/blue"), "0-0-www.example.com.-A-blue");
    }
}
