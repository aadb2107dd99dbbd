//! One target, one open run. A second run on a resource an open run still holds would
//! snapshot the first run's broken state as "pre-break", and reverting it would put the
//! break back. So `inject`, `run` and the scheduler refuse a target that an open run
//! holds, naming that run (exit 2), unless `--stack` is given; stacked runs are then
//! reverted newest first, each from its own snapshot ([`newest_first_waves`], and
//! `revert` refuses an older run while a newer one is open on the same target).
//!
//! Holds are seen two ways: the open runs of this state store, and the hold tags
//! ([`crate::aws::holds`]) every run puts on what it breaks, so that runs of other
//! stores (another instructor, a CI job) are seen too. A hold tag naming a run this store
//! knows is closed is stale (a crash before its tags were removed) and ignored.

use std::collections::{BTreeMap, BTreeSet};

use super::Plan;
use crate::aws::{self, Aws};
use crate::store::{RunRecord, Store};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// Where a target is, for telling whether two runs hold the same resource: its account,
/// its region (empty for IAM and Route 53, which are global), its id within its
/// service's names ([`TargetKind::namespace`]: a function and a table may share a name).
pub type Key = (String, String, String);

/// The key a hold is known by: account, region, and the kind's namespace with the id.
pub fn key(account: &str, region: &str, kind: TargetKind, id: &str) -> Key {
    let region = if kind.is_global() { String::new() } else { region.to_owned() };
    (account.to_owned(), region, format!("{}:{id}", kind.namespace()))
}

/// The targets run `rec` still holds (not yet reverted, restored, gone...).
pub fn held_by(rec: &RunRecord) -> BTreeSet<Key> {
    rec.targets
        .iter()
        .filter(|t| t.phase.needs_revert())
        .filter_map(|t| {
            let kind = rec.faults.get(t.fault)?.action.info().target;
            Some(key(&rec.account, &rec.region, kind, &t.target.id))
        })
        .collect()
}

/// What the store knows of holds: the open runs on each target, and every run id it has.
pub struct Known {
    open: BTreeMap<Key, Vec<String>>,
    runs: BTreeSet<String>,
    damaged: Vec<String>,
    /// This store's [`Store::identity`], as its hold tags end.
    identity: String,
}

impl Known {
    /// The holds of every open run of the store.
    pub fn read(store: &Store) -> Result<Known> {
        let (runs, damaged) = store.runs()?;
        let mut open: BTreeMap<Key, Vec<String>> = BTreeMap::new();
        for rec in &runs {
            for k in held_by(rec) {
                open.entry(k).or_default().push(rec.run_id.clone());
            }
        }
        let runs = runs.iter().map(|r| r.run_id.clone()).chain(damaged.iter().map(|(id, _)| id.clone())).collect();
        Ok(Known { open, runs, damaged: damaged.into_iter().map(|(id, _)| id).collect(), identity: store.identity() })
    }

    /// Why `target` (of `kind`, in `account` and `region`) may not be broken now, if it
    /// may not: an open run of this store holds it, or a run unknown to this store
    /// (another store's) holds it by tag.
    pub fn refusal(&self, account: &str, region: &str, kind: TargetKind, target: &Target) -> Option<String> {
        let label = target.label();
        if let Some(run) = self.open.get(&key(account, region, kind, &target.id)).and_then(|runs| runs.first()) {
            return Some(format!("{label} {HELD} open run {run} of this state store"));
        }
        let run = aws::holds::holders(&target.tags).into_iter().find(|r| !self.runs.contains(r))?;
        let key = aws::holds::key(&run);
        let value = target.tags.get(&key).cloned().unwrap_or_default();
        if value.ends_with(&self.identity) {
            return Some(format!(
                "{label} {HELD} run {run} of this state store, which no longer has that run (its directory was removed?): the target may still be broken by it; `firedrill sweep --delete` releases the hold once you have checked"
            ));
        }
        Some(format!(
            "{label} {HELD} run {run} (by {value}), which this state store does not know: another instructor's or job's open run (its hold tag {key} says so)"
        ))
    }
}

/// How a refusal names a target's holder: "sg-1 (web) is held by ...".
pub const HELD: &str = "is held by";

/// Why a held target is refused, and what to do.
pub const ONE_RUN_PER_TARGET: &str = "one open run per target: a second would snapshot the first one's break as \"before\"; revert the other run first (`firedrill revert RUN`), or pass --stack to break it on top (runs on one target are then reverted newest first)";

/// Refuse `plans` if any of their targets is held by another open run, unless `stack`.
pub fn check(store: &Store, plans: &[&Plan], stack: bool) -> Result<()> {
    if stack {
        return Ok(());
    }
    let known = Known::read(store)?;
    let mut refusals = Vec::new();
    for plan in plans {
        for f in &plan.faults {
            let kind = f.spec.action.info().target;
            for t in &f.targets {
                if let Some(why) = known.refusal(&plan.account, &plan.region, kind, &t.target) {
                    refusals.push(format!("fault `{}`: {why}", f.name));
                }
            }
        }
    }
    if !known.damaged.is_empty() {
        tracing::warn!(
            "damaged run directories (see `firedrill runs`) were not checked for holds: {:?}",
            known.damaged
        );
    }
    if refusals.is_empty() {
        return Ok(());
    }
    Err(Error::Refused(format!("{}\n{ONE_RUN_PER_TARGET}", refusals.join("\n"))))
}

/// Take hold of `targets` (of `kind`) for run `run_id`: tag them, read the tags back, and
/// refuse if another run took hold of one at the same moment (unless `stack`). On a
/// refusal this run's tags are removed again. Nothing else is changed either way.
pub async fn take(
    aws: &Aws,
    store: &Store,
    kind: TargetKind,
    targets: &[&Target],
    run_id: &str,
    stack: bool,
) -> Result<()> {
    if !aws::holds::taggable(kind) || targets.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let value = format!("{} {}", crate::store::journal::who(), store.identity());
    aws::holds::add(aws, kind, &ids, run_id, &value).await?;
    if stack {
        return Ok(());
    }
    // Tags are read back once every target shows this run's own: a read that lags the
    // write (AWS's tags are eventually consistent) could miss another run's too.
    let mine = |seen: &BTreeMap<String, Vec<String>>| {
        ids.iter().all(|id| seen.get(*id).is_some_and(|runs| runs.iter().any(|r| r == run_id)))
    };
    let look = || async {
        let seen = aws::holds::read(aws, kind, &ids).await?;
        Ok(mine(&seen).then_some(seen))
    };
    let seen = match crate::aws::retry::poll(kind.consistency(), look).await? {
        Some(seen) => seen,
        None => aws::holds::read(aws, kind, &ids).await?,
    };
    let known = Known::read(store)?;
    let raced: Vec<String> = seen
        .iter()
        .filter_map(|(id, runs)| {
            let other = runs.iter().find(|r| *r != run_id && (!known.runs.contains(*r) || known.is_open(r)))?;
            Some(format!("{id}: run {other} took hold of it at the same moment"))
        })
        .collect();
    if raced.is_empty() {
        return Ok(());
    }
    if let Err(e) = aws::holds::remove(aws, kind, &ids, run_id).await {
        tracing::warn!("could not remove this run's hold tags again: {e}");
    }
    Err(Error::Refused(format!("{}; nothing was broken (one open run per target, or --stack)", raced.join("; "))))
}

/// Let go of `ids` (of `kind`): remove run `run_id`'s hold tags. A failure is a warning
/// for the caller: the targets are restored either way, and `sweep` finds stale tags.
pub async fn release(aws: &Aws, kind: TargetKind, ids: &[&str], run_id: &str) -> Option<String> {
    if !aws::holds::taggable(kind) || ids.is_empty() {
        return None;
    }
    aws::holds::remove(aws, kind, ids, run_id).await.err().map(|e| {
        format!("the targets are restored, but their hold tags stay ({e}); `firedrill sweep --delete` removes them")
    })
}

impl Known {
    fn is_open(&self, run: &str) -> bool {
        self.open.values().any(|runs| runs.iter().any(|r| r == run))
    }

    /// The open runs of this store, other than `run`, that are newer than it and hold
    /// one of its targets: they must be reverted before it.
    pub fn newer_on(&self, rec: &RunRecord) -> Vec<String> {
        let mut newer: BTreeSet<String> = BTreeSet::new();
        for k in held_by(rec) {
            for other in self.open.get(&k).into_iter().flatten() {
                if other.as_str() > rec.run_id.as_str() {
                    newer.insert(other.clone());
                }
            }
        }
        newer.into_iter().collect()
    }
}

/// `open` runs in waves to revert one after the other: a run comes after every newer run
/// that shares one of its targets; runs that share none go side by side.
pub fn newest_first_waves(open: &[RunRecord]) -> Vec<Vec<RunRecord>> {
    let mut runs: Vec<&RunRecord> = open.iter().collect();
    runs.sort_by(|a, b| b.run_id.cmp(&a.run_id));
    let held: Vec<BTreeSet<Key>> = runs.iter().map(|r| held_by(r)).collect();
    let mut wave = vec![0usize; runs.len()];
    for i in 0..runs.len() {
        for j in 0..i {
            if !held[i].is_disjoint(&held[j]) {
                wave[i] = wave[i].max(wave[j] + 1);
            }
        }
    }
    let mut waves: Vec<Vec<RunRecord>> = vec![Vec::new(); wave.iter().max().map_or(0, |m| m + 1)];
    for (i, r) in runs.into_iter().enumerate() {
        waves[wave[i]].push(r.clone());
    }
    waves
}
