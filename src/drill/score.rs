//! Scores, from the drill's journal alone: per team and step, who recovered it (the team,
//! firedrill's revert, or nobody), how long the team took, and points by [`RULE`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::journal::DrillEvent;

/// The scoring rule, printed next to every score table.
pub const RULE: &str = "A step the team recovers scores 100 x (1 - time to recover / time allowed), \
minus 10 per hint released before recovery, and at least 10. Time allowed is the step's duration \
(or until the drill ended). A step firedrill had to revert scores 0. Time to recover runs from \
the break to the first look that finds no target still broken and the step's probes passing.";

/// One team's score for one step.
#[derive(Clone, Debug, Serialize)]
pub struct StepScore {
    pub team: String,
    pub step: String,
    /// `team`, `revert` or `none`.
    pub recovered_by: &'static str,
    /// Seconds from the break to recovery, when the team recovered it.
    pub time_to_recover_s: Option<f64>,
    pub hints_before_recovery: usize,
    pub points: u32,
    /// Seconds from the drill's start to the break.
    pub started_s: Option<f64>,
    /// Why there is no score, or what the revert left.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A team's total.
#[derive(Clone, Debug, Serialize)]
pub struct TeamScore {
    pub team: String,
    pub points: u32,
    pub recovered: usize,
    pub steps: usize,
}

/// Every (team, step) of the drill, in the drill's step order.
pub fn steps(events: &[DrillEvent]) -> Vec<StepScore> {
    let Some(DrillEvent::Started { teams, steps, .. }) = events.first() else {
        return Vec::new();
    };
    let end_t = events.iter().rev().find_map(|e| match e {
        DrillEvent::Ended { t, .. } | DrillEvent::Stopping { t, .. } => Some(*t),
        _ => None,
    });
    let mut out = Vec::new();
    for team in teams {
        for info in steps {
            let mine = |e: &&DrillEvent| match e {
                DrillEvent::StepStarted { team: tm, step, .. }
                | DrillEvent::StepFailed { team: tm, step, .. }
                | DrillEvent::Hint { team: tm, step, .. }
                | DrillEvent::StepRecovered { team: tm, step, .. }
                | DrillEvent::StepReverted { team: tm, step, .. }
                | DrillEvent::StepDone { team: tm, step, .. } => tm == &team.name && step == &info.name,
                _ => false,
            };
            let mut s = StepScore {
                team: team.name.clone(),
                step: info.name.clone(),
                recovered_by: "none",
                time_to_recover_s: None,
                hints_before_recovery: 0,
                points: 0,
                started_s: None,
                note: String::new(),
            };
            for e in events.iter().filter(mine) {
                match e {
                    DrillEvent::StepStarted { t, .. } => s.started_s = Some(*t),
                    DrillEvent::StepFailed { error, .. } => s.note = format!("did not start: {error}"),
                    DrillEvent::StepDone { .. } => s.note = "one-shot: nothing to recover".into(),
                    DrillEvent::StepRecovered { time_to_recover_s, hints_before, .. } => {
                        s.recovered_by = "team";
                        s.time_to_recover_s = Some(*time_to_recover_s);
                        s.hints_before_recovery = *hints_before;
                    }
                    DrillEvent::StepReverted { why, not_restored, .. } if s.recovered_by != "team" => {
                        if not_restored.is_empty() {
                            s.recovered_by = "revert";
                            s.note = format!("reverted by firedrill ({why})");
                        } else {
                            s.note = format!("revert ({why}) left not restored: {}", not_restored.join(", "));
                        }
                    }
                    _ => {}
                }
            }
            if let (Some(ttr), Some(start)) = (s.time_to_recover_s, s.started_s) {
                let allowed = info.duration_s.or(end_t.map(|e| e - start)).unwrap_or(ttr).max(ttr).max(1.0);
                let raw = 100.0 * (1.0 - ttr / allowed) - 10.0 * s.hints_before_recovery as f64;
                s.points = raw.round().max(10.0) as u32;
            } else if s.started_s.is_none() && s.note.is_empty() {
                s.note = "not started".into();
            }
            out.push(s);
        }
    }
    out
}

/// Per team: total points and steps recovered, in the drill's team order.
pub fn teams(steps: &[StepScore]) -> Vec<TeamScore> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, TeamScore> = BTreeMap::new();
    for s in steps {
        if !order.contains(&s.team) {
            order.push(s.team.clone());
        }
        let t = by.entry(s.team.clone()).or_insert_with(|| TeamScore {
            team: s.team.clone(),
            points: 0,
            recovered: 0,
            steps: 0,
        });
        t.points += s.points;
        t.steps += 1;
        t.recovered += usize::from(s.recovered_by == "team");
    }
    order.into_iter().filter_map(|t| by.remove(&t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::journal::{StepInfo, TeamStart};

    fn started() -> DrillEvent {
        let team =
            |n: &str| TeamStart { name: n.into(), run_id: format!("r-{n}"), account: "1".into(), region: "r".into() };
        DrillEvent::Started {
            at: "t".into(),
            drill_id: "d".into(),
            name: "x".into(),
            file: "f".into(),
            by: "me".into(),
            command: "c".into(),
            teams: vec![team("blue"), team("red")],
            steps: vec![StepInfo {
                name: "s1".into(),
                action: "a".into(),
                start: "at 0s".into(),
                duration_s: Some(100.0),
                runbook: None,
                source: "f".into(),
            }],
            scoring: RULE.into(),
        }
    }

    #[test]
    fn team_recovery_scores_by_time_and_hints_and_revert_scores_zero() {
        let ev = |team: &str, e: fn(String) -> DrillEvent| e(team.to_owned());
        let events = vec![
            started(),
            ev("blue", |team| DrillEvent::StepStarted {
                at: "".into(),
                t: 0.0,
                team,
                step: "s1".into(),
                fault: 0,
                targets: vec![],
            }),
            ev("red", |team| DrillEvent::StepStarted {
                at: "".into(),
                t: 0.0,
                team,
                step: "s1".into(),
                fault: 0,
                targets: vec![],
            }),
            ev("blue", |team| DrillEvent::StepRecovered {
                at: "".into(),
                t: 25.0,
                team,
                step: "s1".into(),
                time_to_recover_s: 25.0,
                hints_before: 1,
                targets: vec![],
            }),
            ev("red", |team| DrillEvent::StepReverted {
                at: "".into(),
                t: 100.0,
                team,
                step: "s1".into(),
                why: "duration".into(),
                not_restored: vec![],
            }),
        ];
        let s = steps(&events);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].team.as_str(), s[0].recovered_by, s[0].time_to_recover_s), ("blue", "team", Some(25.0)));
        assert_eq!(s[0].points, 65); // 100 x (1 - 25/100) - 10
        assert_eq!((s[1].recovered_by, s[1].points), ("revert", 0));
        let t = teams(&s);
        assert_eq!((t[0].points, t[0].recovered, t[1].points), (65, 1, 0));
    }
}
