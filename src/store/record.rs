//! A run's state, folded from its journal: per fault and target, the phase it reached.
//!
//! Phases follow chaos-mesh's records: a target whose revert failed stays in a phase
//! that needs reverting, so the next `revert` retries it.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::journal::Event;
use super::snapshot;
use crate::action::Created;
use crate::aws::access::{Access, RunPlace};
use crate::fault::FaultSpec;
use crate::target::Target;
use crate::{Error, Result};

/// Where a target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Snapshot taken; nothing changed.
    NotInjected,
    /// The change was started and may be partly made.
    Injecting,
    Injected,
    /// A one-shot change was made; nothing to revert.
    Done,
    /// Injecting failed; the change may be partly made.
    Failed,
    Reverting,
    Reverted,
    /// Revert ran but the target does not match its snapshot (or the call failed).
    RevertFailed,
    /// The change cannot be undone (a terminated instance); the note says what was kept.
    Irreversible,
    /// The team put the target back exactly as it was; nothing for firedrill to do.
    Restored,
    /// Revert found it changed since the fault and left it alone (see `firedrill diff`).
    Changed,
    /// The target no longer exists.
    Gone,
    /// A person chose to leave the target as it is.
    Abandoned,
}

impl Phase {
    /// Whether something firedrill did is still in place.
    pub fn needs_revert(self) -> bool {
        !matches!(
            self,
            Phase::NotInjected
                | Phase::Reverted
                | Phase::Done
                | Phase::Irreversible
                | Phase::Restored
                | Phase::Gone
                | Phase::Abandoned
        )
    }

    /// The phase as `status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::NotInjected => "not-injected",
            Phase::Injecting => "injecting",
            Phase::Injected => "injected",
            Phase::Done => "done",
            Phase::Failed => "failed",
            Phase::Reverting => "reverting",
            Phase::Reverted => "reverted",
            Phase::RevertFailed => "revert-failed",
            Phase::Irreversible => "irreversible",
            Phase::Restored => "restored",
            Phase::Changed => "changed",
            Phase::Gone => "gone",
            Phase::Abandoned => "abandoned",
        }
    }
}

/// A target of a run, with its phase and what happened to it.
#[derive(Clone, Debug, Serialize)]
pub struct TargetRecord {
    pub fault: usize,
    pub target: Target,
    pub snapshot: String,
    /// The state right after the change, once it was injected.
    pub after: Option<String>,
    /// When the target was first seen restored by someone other than firedrill.
    pub first_restored_at: Option<String>,
    pub changes: Vec<String>,
    /// The SHA-256 of the planned change, as recorded when it was planned.
    #[serde(skip)]
    pub change_sha256: Option<String>,
    pub phase: Phase,
    pub updated_at: String,
    pub error: Option<String>,
    pub differences: Vec<String>,
}

/// The resource a snapshot's state or change is about, when it is not `target`: the
/// first of the fields that name the subject of every state and change in the catalogue
/// (`group_id`, `instance_id`, `arn`, ...) that is present. `None` when it is `target` or
/// names none. A defence in depth behind the digests, for runs recorded without them.
/// `json` is the state's or the change's JSON text; only those fields are read.
pub fn own_target(json: &str, target: &str) -> Option<String> {
    use serde_json::Value;
    #[derive(serde::Deserialize)]
    struct Subject {
        // Most specific first: an instance's state names its subnet, a subnet's its ACL.
        instance_id: Option<Value>,
        group_id: Option<Value>,
        subnet_id: Option<Value>,
        route_table_id: Option<Value>,
        network_acl_id: Option<Value>,
        role_name: Option<Value>,
        arn: Option<Value>,
        name: Option<Value>,
        id: Option<Value>,
        health_check: Option<Value>,
    }
    let s: Subject = serde_json::from_str(json).ok()?;
    let subject = [s.instance_id, s.group_id, s.subnet_id, s.route_table_id, s.network_acl_id, s.role_name, s.arn]
        .into_iter()
        .chain([s.name, s.id])
        .flatten()
        .next()
        .or_else(|| s.health_check.and_then(|h| h.get("id").cloned()))?;
    let subject = subject.as_str()?;
    (subject != target).then(|| subject.to_owned())
}

/// A part of a snapshot entry, as its JSON text.
pub type RawJson = Box<serde_json::value::RawValue>;

/// A run, folded from its journal: where and by whom, its faults, each target's phase, what was created.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub started_at: String,
    pub started_by: String,
    pub firedrill_version: String,
    pub account: String,
    pub region: String,
    pub endpoint: Option<String>,
    /// How the run's credentials were obtained (`None` for runs of older versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    pub faults: Vec<FaultSpec>,
    pub seeds: Vec<u64>,
    /// The drill and team this run belongs to, if it was started by `firedrill run`.
    pub drill: Option<super::journal::DrillLink>,
    /// The schedule that fired this run, if `firedrill schedule` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::journal::ScheduleLink>,
    pub targets: Vec<TargetRecord>,
    pub created: Vec<Created>,
    /// The faults whose targets carry this run's hold tags (taken, not yet released).
    #[serde(skip)]
    pub held: std::collections::BTreeSet<usize>,
    /// What reading the run skipped or doubted (damaged lines), for the command to show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The run's files in the store (snapshots, post-break states).
    #[serde(skip)]
    pub files: super::RunFiles,
    /// The snapshot files read so far.
    #[serde(skip)]
    snapshots: snapshot::Reader,
}

/// A journal that is not a run's, or is damaged past reading.
fn corrupt(path: &Path, message: &str) -> Error {
    Error::Corrupt { path: path.to_owned(), message: message.to_owned() }
}

/// Where each fault's targets are in `RunRecord::targets`, by id: a fleet's journal has
/// thousands of events, each naming a target.
#[derive(Default)]
struct TargetIndex(HashMap<usize, HashMap<String, usize>>);

impl TargetIndex {
    fn add(&mut self, fault: usize, id: &str, at: usize) {
        self.0.entry(fault).or_default().entry(id.to_owned()).or_insert(at);
    }

    fn find(&self, fault: usize, target: &str) -> Option<usize> {
        self.0.get(&fault).and_then(|ids| ids.get(target)).copied()
    }
}

/// A target's phase change, as one journal event says it.
struct Step {
    fault: usize,
    target: String,
    phase: Phase,
    at: String,
    error: Option<String>,
    differences: Vec<String>,
}

impl RunRecord {
    /// The run as its journal tells it: the header (`run-started`), then each event in
    /// order, either about the run (snapshots, faults added, holds, what was created) or
    /// a step of one target's phase.
    pub fn fold(path: &Path, events: Vec<Event>, files: super::RunFiles) -> Result<RunRecord> {
        let mut events = events.into_iter();
        let mut run = RunRecord::started(path, events.next(), files)?;
        let mut index = TargetIndex::default();
        for event in events {
            if let Some(step) = run.apply(path, &mut index, event)? {
                run.step(path, &index, step);
            }
        }
        Ok(run)
    }

    /// The fold's first step, the run's header: the journal's first event must be
    /// `run-started`.
    fn started(path: &Path, first: Option<Event>, files: super::RunFiles) -> Result<RunRecord> {
        let Some(Event::RunStarted {
            at,
            run_id,
            by,
            firedrill_version,
            account,
            region,
            endpoint,
            access,
            faults,
            seeds,
            drill,
            schedule,
            ..
        }) = first
        else {
            return Err(corrupt(path, "the journal does not start with run-started"));
        };
        Ok(RunRecord {
            run_id,
            started_at: at,
            started_by: by,
            firedrill_version,
            account,
            region,
            endpoint,
            access,
            faults,
            seeds,
            drill,
            schedule,
            targets: Vec::new(),
            created: Vec::new(),
            held: Default::default(),
            warnings: Vec::new(),
            files,
            snapshots: snapshot::Reader::default(),
        })
    }

    /// The fold's second step, one event after the header: a run-level event is folded
    /// in here; a target's phase change is returned as a [`Step`].
    fn apply(&mut self, path: &Path, index: &mut TargetIndex, event: Event) -> Result<Option<Step>> {
        let run = self;
        let (fault, target, phase, at, error, differences) = match event {
            Event::RunStarted { .. } => return Err(corrupt(path, "a second run-started event")),
            Event::Snapshot { file, sha256, .. } => {
                run.snapshots.expect(&file, &sha256);
                return Ok(None);
            }
            Event::Planned { at, fault, target, snapshot, changes, change_sha256 } => {
                index.add(fault, &target.id, run.targets.len());
                run.targets.push(TargetRecord {
                    fault,
                    target,
                    snapshot,
                    after: None,
                    first_restored_at: None,
                    changes,
                    change_sha256,
                    phase: Phase::NotInjected,
                    updated_at: at,
                    error: None,
                    differences: Vec::new(),
                });
                return Ok(None);
            }
            Event::Command { .. } | Event::LockTakenOver { .. } => return Ok(None),
            Event::Held { fault, .. } => {
                run.held.insert(fault);
                return Ok(None);
            }
            Event::Released { fault, .. } => {
                run.held.remove(&fault);
                return Ok(None);
            }
            Event::FaultAdded { fault, spec, seed, .. } => {
                if fault != run.faults.len() {
                    return Err(corrupt(path, &format!("fault {fault} added after {} faults", run.faults.len())));
                }
                run.faults.push(spec);
                run.seeds.push(seed);
                return Ok(None);
            }
            Event::Observed { at, fault, target, live } => {
                if let Some(i) = index.find(fault, &target)
                    && live == "restored"
                    && run.targets[i].first_restored_at.is_none()
                {
                    run.targets[i].first_restored_at = Some(at);
                }
                return Ok(None);
            }
            Event::Created { fault, kind, id, scope, .. } => {
                run.created.push(Created { fault, kind, id, scope, deleted: false });
                return Ok(None);
            }
            Event::Deleted { fault, kind, id, .. } => {
                for c in run.created.iter_mut().filter(|c| c.fault == fault && c.kind == kind && c.id == id) {
                    c.deleted = true;
                }
                return Ok(None);
            }
            Event::Injecting { at, fault, target } => (fault, target, Phase::Injecting, at, None, vec![]),
            Event::Injected { at, fault, target, after } => {
                if let Some(i) = index.find(fault, &target) {
                    run.targets[i].after = after;
                }
                (fault, target, Phase::Injected, at, None, vec![])
            }
            Event::Restored { at, fault, target } => {
                if let Some(i) = index.find(fault, &target) {
                    run.targets[i].first_restored_at.get_or_insert_with(|| at.clone());
                }
                (fault, target, Phase::Restored, at, None, vec![])
            }
            Event::Gone { at, fault, target } => (fault, target, Phase::Gone, at, None, vec![]),
            Event::Drifted { at, fault, target, differences } => (
                fault,
                target,
                Phase::Changed,
                at,
                Some("changed since the fault: see `firedrill diff`; `revert --force` restores it anyway".into()),
                differences,
            ),
            Event::Abandoned { at, fault, target, by } => {
                (fault, target, Phase::Abandoned, at, Some(format!("abandoned by {by}")), vec![])
            }
            Event::Done { at, fault, target } => (fault, target, Phase::Done, at, None, vec![]),
            Event::InjectFailed { at, fault, target, error } => (fault, target, Phase::Failed, at, Some(error), vec![]),
            Event::Reverting { at, fault, target } => (fault, target, Phase::Reverting, at, None, vec![]),
            Event::Reverted { at, fault, target } => (fault, target, Phase::Reverted, at, None, vec![]),
            Event::Irreversible { at, fault, target, note } => {
                (fault, target, Phase::Irreversible, at, Some(note), vec![])
            }
            Event::RevertFailed { at, fault, target, error, differences } => {
                (fault, target, Phase::RevertFailed, at, Some(error), differences)
            }
        };
        Ok(Some(Step { fault, target, phase, at, error, differences }))
    }

    /// The fold's third step: a target's phase change, onto its record. A target whose
    /// `planned` line was lost (a damaged journal) has nothing to attach it to: a
    /// warning, and skipped.
    fn step(&mut self, path: &Path, index: &TargetIndex, step: Step) {
        let Step { fault, target, phase, at, error, differences } = step;
        let Some(rec) = index.find(fault, &target).map(|i| &mut self.targets[i]) else {
            self.warnings.push(format!("{}: event for {target} before its snapshot; skipped", path.display()));
            return;
        };
        rec.phase = phase;
        rec.updated_at = at;
        rec.error = error;
        rec.differences = differences;
    }

    /// Target `t`'s state before the fault, and the change, from its snapshot: checked
    /// against the digests the journal recorded (the file's and the change's), and
    /// checked to describe `t` itself (see [`own_target`]).
    pub fn before<S: DeserializeOwned, C: DeserializeOwned>(
        &self,
        t: &TargetRecord,
    ) -> Result<snapshot::BeforeEntry<S, C>> {
        let entry = self.checked_before(t)?;
        let corrupt =
            |e: serde_json::Error| Error::Corrupt { path: self.files.location_of(&t.snapshot), message: e.to_string() };
        Ok(snapshot::BeforeEntry {
            state: serde_json::from_str(entry.state.get()).map_err(corrupt)?,
            change: serde_json::from_str(entry.change.get()).map_err(corrupt)?,
        })
    }

    /// Target `t`'s snapshot entry as JSON text, checked as [`RunRecord::before`] says,
    /// without building a tree: what a revert checks of every target before it writes.
    pub fn checked_before(&self, t: &TargetRecord) -> Result<snapshot::BeforeEntry<RawJson, RawJson>> {
        let entry: snapshot::BeforeEntry<RawJson, RawJson> =
            self.snapshots.entry(&self.files, &t.snapshot, &t.target.id)?;
        let path = || self.files.location_of(&t.snapshot).display().to_string();
        if let Some(expected) = &t.change_sha256
            && snapshot::raw_sha256(entry.change.get()) != *expected
        {
            return Err(Error::Tampered(format!(
                "{}: the change planned for {} is not the one the journal recorded",
                path(),
                t.target.id
            )));
        }
        for (what, raw) in [("state", &entry.state), ("change", &entry.change)] {
            if let Some(other) = own_target(raw.get(), &t.target.id) {
                return Err(Error::Tampered(format!(
                    "{}: the {what} recorded for {} is about {other}, not {}: a revert touches only the run's own targets",
                    path(),
                    t.target.id,
                    t.target.id
                )));
            }
        }
        Ok(entry)
    }

    /// Target `t`'s state right after the fault, if it was recorded and can be trusted.
    /// It only tells a team's change from firedrill's break, so a post-break file that
    /// is missing or not the one the run wrote is set aside with a warning: the target
    /// then counts as broken unless it is restored, and revert still works from the
    /// pre-break snapshot alone.
    pub fn after<S: DeserializeOwned>(&self, t: &TargetRecord) -> Result<Option<S>, String> {
        let Some(rel) = &t.after else { return Ok(None) };
        match self.snapshots.entry::<snapshot::AfterEntry<S>>(&self.files, rel, &t.target.id) {
            Ok(entry) => Ok(Some(entry.state)),
            Err(e) => Err(format!(
                "{}: the state right after the fault cannot be used ({e}); treating the target as broken unless it is restored",
                t.target.id
            )),
        }
    }

    /// Where the run was made, and how to reach it again.
    pub fn place(&self) -> RunPlace<'_> {
        RunPlace {
            run_id: &self.run_id,
            account: &self.account,
            region: &self.region,
            endpoint: self.endpoint.as_deref(),
            access: self.access.as_ref(),
        }
    }

    /// Whether some target could not be restored and never will be.
    pub fn has_irreversible(&self) -> bool {
        self.targets.iter().any(|t| t.phase == Phase::Irreversible)
    }

    /// Whether anything is left to undo: a target not reverted, or a created resource
    /// not deleted (resources kept as evidence do not count: see `Created::kept`).
    pub fn needs_revert(&self) -> bool {
        self.targets.iter().any(|t| t.phase.needs_revert()) || self.created.iter().any(|c| !c.deleted && !c.kept())
    }

    /// One word for the whole run.
    pub fn status(&self) -> &'static str {
        let any = |p: Phase| self.targets.iter().any(|t| t.phase == p);
        if any(Phase::RevertFailed) {
            "revert-failed"
        } else if any(Phase::Changed) {
            "changed"
        } else if any(Phase::Irreversible) {
            "irreversible"
        } else if any(Phase::Failed) {
            "failed"
        } else if any(Phase::Injecting) || any(Phase::Reverting) {
            "interrupted"
        } else if any(Phase::Injected) {
            "injected"
        } else if any(Phase::Done) && !any(Phase::Reverted) {
            "done"
        } else if self.targets.iter().all(|t| t.phase == Phase::NotInjected) {
            if self.created.iter().any(|c| !c.deleted && !c.kept()) { "interrupted" } else { "not-injected" }
        } else if self.created.iter().any(|c| !c.deleted && !c.kept()) {
            "interrupted"
        } else {
            "reverted"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_or_change_about_another_resource_is_named() {
        let own = |v: serde_json::Value, target: &str| own_target(&v.to_string(), target);
        use serde_json::json;
        assert_eq!(own(json!({"group_id": "sg-1", "rules": []}), "sg-1"), None);
        assert_eq!(own(json!({"group_id": "sg-2", "rules": []}), "sg-1").as_deref(), Some("sg-2"));
        // A subnet's ACL state names its ACL too; the subnet is its subject.
        let acl = json!({"subnet_id": "subnet-1", "network_acl_id": "acl-9", "vpc_id": "vpc-1"});
        assert_eq!(own(acl, "subnet-1"), None);
        assert_eq!(own(json!({"health_check": {"id": "hc-2"}}), "hc-1").as_deref(), Some("hc-2"));
        let instance = json!({"instance_id": "i-1", "subnet_id": "subnet-1", "security_groups": ["sg-1"]});
        assert_eq!(own(instance, "i-1"), None);
        assert_eq!(own(json!("x"), "sg-1"), None);
    }

    #[test]
    fn events_reach_their_fault_s_target_even_when_two_faults_share_an_id() {
        let at = || "t".to_owned();
        let target = |id: &str| Target { id: id.into(), ..Target::default() };
        let planned = |fault, id: &str| Event::Planned {
            at: at(),
            fault,
            target: target(id),
            snapshot: format!("snapshots/{fault}.json"),
            changes: vec![],
            change_sha256: None,
        };
        let events = vec![
            Event::RunStarted {
                at: at(),
                run_id: "r".into(),
                by: String::new(),
                command: String::new(),
                firedrill_version: "0".into(),
                account: "1".into(),
                region: "r".into(),
                endpoint: None,
                access: None,
                faults: vec![],
                seeds: vec![],
                drill: None,
                schedule: None,
            },
            planned(0, "i-1"),
            planned(0, "i-2"),
            planned(1, "i-1"),
            Event::Injected { at: at(), fault: 1, target: "i-1".into(), after: Some("a".into()) },
            Event::Injecting { at: at(), fault: 0, target: "i-2".into() },
            Event::Reverted { at: at(), fault: 7, target: "i-1".into() },
        ];
        let run =
            RunRecord::fold(Path::new("/x/journal.jsonl"), events, crate::store::Store::new("/x").files("r")).unwrap();
        let phases: Vec<(usize, &str, Phase)> =
            run.targets.iter().map(|t| (t.fault, t.target.id.as_str(), t.phase)).collect();
        assert_eq!(
            phases,
            [(0, "i-1", Phase::NotInjected), (0, "i-2", Phase::Injecting), (1, "i-1", Phase::Injected)],
            "an event for a target never planned changes nothing"
        );
        assert_eq!(run.targets[2].after.as_deref(), Some("a"));
    }
}
