//! The scoreboard's state, folded from the drill's journal alone (so a board in another
//! process, or after the drill, shows the same thing): teams ranked by points, each
//! step's state per team, when it broke, was noticed, fixed and recovered, the hints each
//! team was shown, and the last events. Pure: no AWS, no clock but the journal's.
//!
//! What each page sees: the room everything but the hints' texts ([`Board::for_room`]);
//! a team its own steps, hints and score, and its rank ([`Board::for_team`]); the
//! instructor everything.

use serde::Serialize;

use crate::drill::journal::{DrillEvent, StepInfo};
use crate::drill::score;

/// How many recent events the board shows.
const RECENT: usize = 12;

/// The scoreboard of one drill.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Board {
    pub drill_id: String,
    pub name: String,
    pub started_at: String,
    /// Seconds into the drill of the latest event.
    pub t: f64,
    /// How it ended, once it has.
    pub outcome: Option<String>,
    /// Why it is stopping, while it reverts everything.
    pub stopping: Option<String>,
    /// The scoring rule in words.
    pub rule: String,
    /// What a hint costs.
    pub hint_cost: u32,
    pub steps: Vec<StepHead>,
    /// Best first.
    pub teams: Vec<TeamBoard>,
    /// The latest events, newest last.
    pub events: Vec<Line>,
}

/// A step as every team has it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepHead {
    pub name: String,
    pub action: String,
    pub runbook: Option<String>,
    pub hints: usize,
}

/// One team's row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TeamBoard {
    pub name: String,
    /// 1 for the most points; teams with equal points share a rank.
    pub rank: usize,
    pub points: u32,
    /// Steps the team fixed.
    pub fixed: usize,
    pub steps: Vec<StepBoard>,
}

/// One team's step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepBoard {
    pub step: String,
    /// `pending`, `broken`, `fixed` (every target fixed; the step's probes not yet
    /// passing), `recovered`, `reverted`, `failed` or `done` (one-shot).
    pub state: &'static str,
    /// Seconds into the drill: when it broke, was noticed, fixed (every target),
    /// recovered, reverted.
    pub broken_at: Option<f64>,
    pub detected_at: Option<f64>,
    pub fixed_at: Option<f64>,
    pub recovered_at: Option<f64>,
    pub ended_at: Option<f64>,
    /// When firedrill reverts it, seconds after it broke (after any extension).
    pub duration_s: Option<f64>,
    pub targets: Vec<TargetBoard>,
    pub hints: Vec<HintShown>,
    /// `exact`, `changed` or `regression` once fixed.
    pub fix: &'static str,
    pub points: u32,
}

/// A target of a team's step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetBoard {
    pub target: String,
    /// `broken`, `restored` or `changed`.
    pub state: String,
    pub fixed_at: Option<f64>,
}

/// A hint shown to a team.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HintShown {
    pub t: f64,
    /// Empty on the room's board.
    pub text: String,
    /// `schedule`, `team` or `instructor`.
    pub by: String,
    pub cost: u32,
}

/// One event in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    pub t: f64,
    pub text: String,
}

impl Board {
    /// The board after `events` (a drill's journal, from its first line).
    pub fn from_events(events: &[DrillEvent]) -> Board {
        let Some(DrillEvent::Started { drill_id, name, at, teams, steps, scoring, scores, .. }) = events.first() else {
            return Board::default();
        };
        let mut b = Board {
            drill_id: drill_id.clone(),
            name: name.clone(),
            started_at: at.clone(),
            rule: scoring.clone(),
            hint_cost: scores.hint,
            steps: steps.iter().map(head).collect(),
            teams: teams
                .iter()
                .map(|t| TeamBoard {
                    name: t.name.clone(),
                    rank: 1,
                    points: 0,
                    fixed: 0,
                    steps: steps.iter().map(|s| pending(&s.name, s.duration_s)).collect(),
                })
                .collect(),
            ..Board::default()
        };
        for e in events {
            b.apply(e);
        }
        b.score(events);
        b
    }

    /// Fold one event in.
    fn apply(&mut self, e: &DrillEvent) {
        if let Some(t) = e.t() {
            self.t = self.t.max(t);
        }
        if let Some(text) = line(e) {
            self.events.push(Line { t: e.t().unwrap_or(self.t), text });
            if self.events.len() > RECENT {
                self.events.remove(0);
            }
        }
        match e {
            DrillEvent::Stopping { reason, .. } => self.stopping = Some(reason.clone()),
            DrillEvent::Ended { outcome, .. } => {
                self.outcome = Some(outcome.clone());
                self.stopping = None;
            }
            _ => {}
        }
        let Some((team, step)) = score::team_step(e) else { return };
        let Some(s) =
            self.teams.iter_mut().find(|x| x.name == team).and_then(|x| x.steps.iter_mut().find(|s| s.step == step))
        else {
            return;
        };
        match e {
            DrillEvent::StepStarted { t, targets, .. } => {
                (s.state, s.broken_at) = ("broken", Some(*t));
                s.targets = targets
                    .iter()
                    .map(|t| TargetBoard { target: t.clone(), state: "broken".into(), fixed_at: None })
                    .collect();
            }
            DrillEvent::StepFailed { t, .. } => (s.state, s.ended_at) = ("failed", Some(*t)),
            DrillEvent::StepDone { t, .. } => (s.state, s.ended_at) = ("done", Some(*t)),
            DrillEvent::Hint { t, text, by, cost, .. } => {
                let cost = cost.unwrap_or(self.hint_cost);
                s.hints.push(HintShown { t: *t, text: text.clone(), by: by.clone(), cost });
            }
            DrillEvent::Detected { t, .. } => s.detected_at = s.detected_at.or(Some(*t)),
            DrillEvent::StepExtended { duration_s, .. } => s.duration_s = Some(*duration_s),
            DrillEvent::TargetFixed { t, target, live, .. } => {
                if let Some(x) = s.targets.iter_mut().find(|x| &x.target == target) {
                    (x.state, x.fixed_at) = (live.clone(), Some(*t));
                }
                if s.state == "broken" && s.targets.iter().all(|x| x.fixed_at.is_some()) {
                    (s.state, s.fixed_at) = ("fixed", Some(*t));
                }
            }
            DrillEvent::StepRecovered { t, targets, .. } => {
                for o in targets {
                    if let Some(x) = s.targets.iter_mut().find(|x| x.target == o.target) {
                        x.state = o.live.clone();
                        x.fixed_at = x.fixed_at.or(Some(*t));
                    }
                }
                s.fixed_at = s.fixed_at.or(Some(*t));
                (s.state, s.recovered_at) = ("recovered", Some(*t));
            }
            DrillEvent::StepReverted { t, .. } if s.state != "recovered" => {
                (s.state, s.ended_at) = ("reverted", Some(*t));
            }
            _ => {}
        }
    }

    /// Points so far, and the ranking.
    fn score(&mut self, events: &[DrillEvent]) {
        let scores = score::steps(events);
        for team in &mut self.teams {
            for s in &mut team.steps {
                if let Some(x) = scores.iter().find(|x| x.team == team.name && x.step == s.step) {
                    (s.points, s.fix) = (x.points, x.fix);
                }
            }
            team.points = team.steps.iter().map(|s| s.points).sum();
            team.fixed = team.steps.iter().filter(|s| !s.fix.is_empty()).count();
        }
        self.teams.sort_by(|a, b| b.points.cmp(&a.points).then(b.fixed.cmp(&a.fixed)));
        let points: Vec<u32> = self.teams.iter().map(|t| t.points).collect();
        for (i, team) in self.teams.iter_mut().enumerate() {
            team.rank = points.iter().position(|p| *p == points[i]).unwrap_or(i) + 1;
        }
    }

    /// What the room's screen shows: everything but what the hints say.
    pub fn for_room(&self) -> Board {
        let mut b = self.clone();
        for s in b.teams.iter_mut().flat_map(|t| t.steps.iter_mut()) {
            for h in &mut s.hints {
                h.text.clear();
            }
        }
        b
    }

    /// What team `name` sees: its own row (with its rank and hints) and the events about
    /// it or about the whole drill.
    pub fn for_team(&self, name: &str) -> Board {
        let mut b = self.clone();
        b.teams.retain(|t| t.name == name);
        let mine = format!("{name}:");
        b.events.retain(|l| {
            l.text.starts_with(&mine) || !self.teams.iter().any(|t| l.text.starts_with(&format!("{}:", t.name)))
        });
        b
    }
}

fn head(s: &StepInfo) -> StepHead {
    StepHead {
        name: s.name.clone(),
        action: s.action.clone(),
        runbook: s.runbook_link.clone().or_else(|| s.runbook.clone()),
        hints: s.hints,
    }
}

fn pending(step: &str, duration_s: Option<f64>) -> StepBoard {
    StepBoard {
        step: step.to_owned(),
        state: "pending",
        broken_at: None,
        detected_at: None,
        fixed_at: None,
        recovered_at: None,
        ended_at: None,
        duration_s,
        targets: Vec::new(),
        hints: Vec::new(),
        fix: "",
        points: 0,
    }
}

/// The board's line for an event, for those worth a line (not every probe sample, not
/// what a hint says).
fn line(e: &DrillEvent) -> Option<String> {
    Some(match e {
        DrillEvent::StepStarted { team, step, .. } => format!("{team}: {step} broken"),
        DrillEvent::StepFailed { team, step, .. } => format!("{team}: {step} did not start"),
        DrillEvent::Hint { team, step, by, .. } => match by.as_str() {
            "team" => format!("{team}: asked for a hint on {step}"),
            _ => format!("{team}: hint on {step}"),
        },
        DrillEvent::Detected { team, step, by, .. } => format!("{team}: {step} noticed by {by}"),
        DrillEvent::TargetFixed { team, step, target, live, .. } => format!("{team}: {step}: {target} {live}"),
        DrillEvent::StepExtended { team, step, duration_s, .. } => {
            format!("{team}: {step} extended to {}", crate::drill::view::mmss(*duration_s))
        }
        DrillEvent::StepRecovered { team, step, time_to_recover_s, .. } => {
            format!("{team}: {step} recovered in {}", crate::drill::view::mmss(*time_to_recover_s))
        }
        DrillEvent::StepReverted { team, step, why, .. } => format!("{team}: {step} reverted ({why})"),
        DrillEvent::StepDone { team, step, .. } => format!("{team}: {step} done (one-shot)"),
        DrillEvent::Stopping { reason, .. } => format!("stopping: {reason}"),
        DrillEvent::Ended { outcome, .. } => format!("drill over: {outcome}"),
        DrillEvent::Refused { reason, .. } => format!("refused: {reason}"),
        DrillEvent::Started { .. } | DrillEvent::Probe { .. } | DrillEvent::Control { .. } => return None,
    })
}
