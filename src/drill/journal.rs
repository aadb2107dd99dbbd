//! A drill's own journal (`<state>/drills/<id>/journal.jsonl`): the timeline, probe
//! history, hints, and who fixed what. The team runs' journals hold the snapshots and
//! every change to AWS; this one holds the game. Same format and guarantees as a run's
//! journal (fsync'd JSON lines); `--output json` streams these events as they happen.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::probe::Outcome;
use super::{Reset, Scoring};
use crate::store::{Journal, Store};
use crate::{Error, Result};
use std::collections::BTreeMap;

/// One line of a drill's journal: what happened, when (`at`, and `t` seconds into the drill), to which team and step.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DrillEvent {
    Started {
        at: String,
        drill_id: String,
        name: String,
        file: String,
        by: String,
        command: String,
        teams: Vec<TeamStart>,
        steps: Vec<StepInfo>,
        /// The scoring rule, as printed next to the scores.
        scoring: String,
        /// The scoring's numbers (absent in journals of earlier versions: the defaults).
        #[serde(default)]
        scores: Scoring,
        /// What the drill's end leaves.
        #[serde(default)]
        reset: Reset,
        /// The SHA-256 of each board token, by who holds it (a team's name, or
        /// `instructor`): a board in any process checks a token against these.
        #[serde(default)]
        tokens: BTreeMap<String, String>,
    },
    /// A probe's result (every result: this is the probe history).
    Probe {
        at: String,
        t: f64,
        team: String,
        probe: String,
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// The steady-state check before the first break failed: nothing was injected.
    Refused {
        at: String,
        reason: String,
    },
    StepStarted {
        at: String,
        t: f64,
        team: String,
        step: String,
        /// The fault's index in the team's run.
        fault: usize,
        targets: Vec<String>,
    },
    /// The step could not start (nothing to break, a refused plan, a failed inject that
    /// was rolled back): the team has nothing to fix.
    StepFailed {
        at: String,
        t: f64,
        team: String,
        step: String,
        error: String,
    },
    /// A hint, shown to the team.
    Hint {
        at: String,
        t: f64,
        team: String,
        step: String,
        text: String,
        /// Who released it: `schedule` (its time came), `team` (asked for it early) or
        /// `instructor`.
        #[serde(default = "by_schedule")]
        by: String,
        /// What it costs the team if it comes before the fix (absent in journals of
        /// earlier versions: the drill's hint cost).
        #[serde(default)]
        cost: Option<u32>,
    },
    /// A target of a step is seen fixed for the first time (restored exactly, or
    /// changed), whatever the step's probes say.
    TargetFixed {
        at: String,
        t: f64,
        team: String,
        step: String,
        target: String,
        /// `restored` or `changed`.
        live: String,
        /// How it differs from its snapshot (empty when restored).
        differences: Vec<String>,
        /// What the fix opened up that the snapshot did not (a rule open to the world, ...).
        regressions: Vec<String>,
    },
    /// Something the step lists under `detect:` noticed the break.
    Detected {
        at: String,
        t: f64,
        team: String,
        step: String,
        by: String,
    },
    /// An instructor's action on the board (extend or end a step, release a hint, stop,
    /// abort), or a team's request; what came of it follows as its own event.
    Control {
        at: String,
        t: f64,
        by: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// A step's time was extended: it now auto-reverts `duration_s` after its break.
    StepExtended {
        at: String,
        t: f64,
        team: String,
        step: String,
        duration_s: f64,
    },
    /// The team fixed it: no target is broken any more and the step's probes pass.
    StepRecovered {
        at: String,
        t: f64,
        team: String,
        step: String,
        time_to_recover_s: f64,
        hints_before: usize,
        /// Per target: how the team left it compared with the pre-break snapshot (empty
        /// when restored exactly).
        targets: Vec<TargetOutcome>,
    },
    /// firedrill reverted the step (its duration ran out, the drill ended or stopped).
    StepReverted {
        at: String,
        t: f64,
        team: String,
        step: String,
        why: String,
        /// Targets still not restored after the revert.
        not_restored: Vec<String>,
    },
    /// A one-shot step (a reboot): nothing to fix or revert.
    StepDone {
        at: String,
        t: f64,
        team: String,
        step: String,
    },
    /// A stop condition fired, or a signal arrived: everything is being reverted.
    Stopping {
        at: String,
        t: f64,
        reason: String,
    },
    Ended {
        at: String,
        t: f64,
        outcome: String,
    },
}

/// A team as the drill started it: its run, account and region.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TeamStart {
    pub name: String,
    pub run_id: String,
    pub account: String,
    pub region: String,
}

/// A step as the drill started it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepInfo {
    pub name: String,
    pub action: String,
    pub start: String,
    pub duration_s: Option<f64>,
    pub runbook: Option<String>,
    pub source: String,
    /// The runbook as a link: an absolute path or a URL (`runbook_base_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_link: Option<String>,
    /// What should notice the break (`alarm NAME`, `probe NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detect: Vec<String>,
    /// How many hints the step has.
    #[serde(default)]
    pub hints: usize,
}

/// A target of a step, as the drill last saw it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetOutcome {
    pub target: String,
    pub live: String,
    pub differences: Vec<String>,
    /// What the state now opens up that the snapshot did not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<String>,
}

/// A `control` event in words: `instructor: extend red http: 300 s more`.
pub fn control_text(by: &str, action: &str, team: Option<&str>, step: Option<&str>, detail: &str) -> String {
    let on = [team, step].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
    format!("{by}: {action} {on}{detail}")
}

fn by_schedule() -> String {
    "schedule".into()
}

impl DrillEvent {
    /// Seconds into the drill, for the events that say.
    pub fn t(&self) -> Option<f64> {
        match self {
            DrillEvent::Probe { t, .. }
            | DrillEvent::StepStarted { t, .. }
            | DrillEvent::StepFailed { t, .. }
            | DrillEvent::Hint { t, .. }
            | DrillEvent::TargetFixed { t, .. }
            | DrillEvent::Detected { t, .. }
            | DrillEvent::Control { t, .. }
            | DrillEvent::StepExtended { t, .. }
            | DrillEvent::StepRecovered { t, .. }
            | DrillEvent::StepReverted { t, .. }
            | DrillEvent::StepDone { t, .. }
            | DrillEvent::Stopping { t, .. }
            | DrillEvent::Ended { t, .. } => Some(*t),
            DrillEvent::Started { .. } | DrillEvent::Refused { .. } => None,
        }
    }

    /// The event's name, as the journal writes it.
    pub fn name(&self) -> &'static str {
        match self {
            DrillEvent::Started { .. } => "started",
            DrillEvent::Probe { .. } => "probe",
            DrillEvent::Refused { .. } => "refused",
            DrillEvent::StepStarted { .. } => "step-started",
            DrillEvent::StepFailed { .. } => "step-failed",
            DrillEvent::Hint { .. } => "hint",
            DrillEvent::TargetFixed { .. } => "target-fixed",
            DrillEvent::Detected { .. } => "detected",
            DrillEvent::Control { .. } => "control",
            DrillEvent::StepExtended { .. } => "step-extended",
            DrillEvent::StepRecovered { .. } => "step-recovered",
            DrillEvent::StepReverted { .. } => "step-reverted",
            DrillEvent::StepDone { .. } => "step-done",
            DrillEvent::Stopping { .. } => "stopping",
            DrillEvent::Ended { .. } => "ended",
        }
    }
}

/// Where drills live in the state store.
pub const DRILLS: &str = "drills";

/// The key of drill `id`'s journal in the store.
pub fn drill_journal(id: &str) -> String {
    format!("{DRILLS}/{id}/journal")
}

/// Create a drill's journal.
pub fn create(store: &Store, id: &str) -> Result<Arc<Journal>> {
    crate::store::check_id(id)?;
    Ok(Arc::new(store.open_log(&drill_journal(id), false)?))
}

/// Every event of drill `id`'s journal, in order.
pub fn read(store: &Store, id: &str) -> Result<Vec<DrillEvent>> {
    crate::store::check_id(id)?;
    let events: Vec<DrillEvent> = store.read_log(&drill_journal(id))?;
    if events.is_empty() {
        return Err(Error::Usage(format!("no drill journal at {}", store.log_location(&drill_journal(id)).display())));
    }
    Ok(events)
}

/// Every drill id, newest first.
pub fn drill_ids(store: &Store) -> Result<Vec<String>> {
    store.ids_with_log(DRILLS, "journal")
}

/// A drill id, the id of one of its team runs, or (none given) the newest drill.
pub fn resolve(store: &Store, id: Option<&str>) -> Result<String> {
    let Some(id) = id else {
        return drill_ids(store)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Usage(format!("no drills in {}", store.root().display())));
    };
    crate::store::check_id(id)?;
    if store.backend().read_log(&drill_journal(id))?.is_some() {
        return Ok(id.to_owned());
    }
    if store.has_run(id)? {
        if let Some(link) = store.read(id)?.drill {
            return Ok(link.drill_id);
        }
        return Err(Error::Usage(format!("run {id} is not part of a drill (it was a `firedrill inject`)")));
    }
    Err(Error::Usage(format!("no drill or run {id} in {}", store.root().display())))
}
