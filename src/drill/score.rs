//! Scores, from the drill's journal alone: per team and step, who fixed it (the team,
//! firedrill's revert, or nobody), how the team left it (exactly as before, changed, or
//! opened up: a security regression), how long detection, the fix and the recovery took,
//! and points by [`rule`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::Scoring;
use super::journal::DrillEvent;

/// The scoring rule in words, with the drill's numbers, printed next to every score table.
pub fn rule(s: &Scoring) -> String {
    format!(
        "A step the team fixes scores 100 x (1 - time to fix / time allowed), minus {} per hint \
         released before the fix, and at least 10; then x1 if every target is exactly as before the \
         break, x{} if the fix works but differs from it (changed), x{} if it opens up what was \
         closed (a security regression: a rule open to the world, a wider port range, an allow-all \
         entry, an admin policy). Time allowed is the step's duration (or until the drill ended). \
         Time to fix runs from the break to the first look that finds every target fixed; time to \
         recover, to the first look that also finds the step's probes passing. A step firedrill had \
         to revert scores 0.",
        s.hint, s.changed, s.regression
    )
}

/// One team's score for one step.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct StepScore {
    pub team: String,
    pub step: String,
    /// `team`, `revert` or `none`.
    pub recovered_by: &'static str,
    /// How the team's fix left the targets: `exact`, `changed` or `regression`; empty
    /// when the team did not fix the step.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub fix: &'static str,
    /// Seconds from the break to every target fixed, when the team fixed it.
    pub time_to_fix_s: Option<f64>,
    /// Seconds from the break to the step's probes passing too.
    pub time_to_recover_s: Option<f64>,
    /// Seconds from the break to the first of the step's `detect:` noticing it.
    pub time_to_detect_s: Option<f64>,
    /// What noticed the break first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_by: Option<String>,
    /// Whether the step lists anything that should notice the break.
    pub detection_expected: bool,
    pub hints_before_recovery: usize,
    /// Points the hints released before the fix cost.
    pub hint_cost: u32,
    /// What the fix opened up, when it did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<String>,
    pub points: u32,
    /// Seconds from the drill's start to the break.
    pub started_s: Option<f64>,
    /// Why there is no score, or what the revert left.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A team's total.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct TeamScore {
    pub team: String,
    pub points: u32,
    pub recovered: usize,
    pub steps: usize,
    /// Means over the steps where each was measured.
    pub mean_time_to_detect_s: Option<f64>,
    pub mean_time_to_fix_s: Option<f64>,
    pub mean_time_to_recover_s: Option<f64>,
}

/// The (team, step) an event is about, if it is about one.
pub fn team_step(e: &DrillEvent) -> Option<(&str, &str)> {
    match e {
        DrillEvent::StepStarted { team, step, .. }
        | DrillEvent::StepFailed { team, step, .. }
        | DrillEvent::Hint { team, step, .. }
        | DrillEvent::TargetFixed { team, step, .. }
        | DrillEvent::Detected { team, step, .. }
        | DrillEvent::StepExtended { team, step, .. }
        | DrillEvent::StepRecovered { team, step, .. }
        | DrillEvent::StepReverted { team, step, .. }
        | DrillEvent::StepDone { team, step, .. } => Some((team, step)),
        _ => None,
    }
}

/// Every (team, step) of the drill, in the drill's step order.
pub fn steps(events: &[DrillEvent]) -> Vec<StepScore> {
    let Some(DrillEvent::Started { teams, steps, scores, .. }) = events.first() else {
        return Vec::new();
    };
    let end_t = events.iter().rev().find_map(|e| match e {
        DrillEvent::Ended { t, .. } | DrillEvent::Stopping { t, .. } => Some(*t),
        _ => None,
    });
    let mut out = Vec::new();
    for team in teams {
        for info in steps {
            let mine: Vec<&DrillEvent> =
                events.iter().filter(|e| team_step(e) == Some((team.name.as_str(), info.name.as_str()))).collect();
            let mut s = score_one(&team.name, info, &mine, scores);
            let duration = mine.iter().rev().find_map(|e| match e {
                DrillEvent::StepExtended { duration_s, .. } => Some(*duration_s),
                _ => None,
            });
            s.points = points(&s, duration.or(info.duration_s), end_t, scores);
            out.push(s);
        }
    }
    out
}

/// One (team, step) from its own events, before points.
fn score_one(team: &str, info: &super::journal::StepInfo, mine: &[&DrillEvent], scores: &Scoring) -> StepScore {
    let mut s = StepScore {
        team: team.to_owned(),
        step: info.name.clone(),
        recovered_by: "none",
        fix: "",
        time_to_fix_s: None,
        time_to_recover_s: None,
        time_to_detect_s: None,
        detected_by: None,
        detection_expected: !info.detect.is_empty(),
        hints_before_recovery: 0,
        hint_cost: 0,
        regressions: Vec::new(),
        points: 0,
        started_s: None,
        note: String::new(),
    };
    let mut targets: Vec<String> = Vec::new();
    let mut fixed: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    let mut hints: Vec<(f64, u32)> = Vec::new();
    // Hints an earlier version's journal counted in its recovery, not as events.
    let mut counted_hints = 0;
    for e in mine {
        match e {
            DrillEvent::StepStarted { t, targets: ts, .. } => {
                s.started_s = Some(*t);
                targets = ts.clone();
            }
            DrillEvent::StepFailed { error, .. } => s.note = format!("did not start: {error}"),
            DrillEvent::StepDone { .. } => s.note = "one-shot: nothing to recover".into(),
            DrillEvent::Hint { t, cost, .. } => hints.push((*t, cost.unwrap_or(scores.hint))),
            DrillEvent::Detected { t, by, .. } if s.time_to_detect_s.is_none() => {
                s.time_to_detect_s = s.started_s.map(|start| round(t - start));
                s.detected_by = Some(by.clone());
            }
            DrillEvent::TargetFixed { t, target, live, regressions, .. } => {
                fixed.entry(target.as_str()).or_insert((*t, live.as_str()));
                s.regressions.extend(regressions.iter().map(|r| format!("{target}: {r}")));
            }
            DrillEvent::StepRecovered { time_to_recover_s, targets: outcomes, hints_before, .. } => {
                s.recovered_by = "team";
                counted_hints = *hints_before;
                s.time_to_recover_s = Some(*time_to_recover_s);
                // A journal of an earlier version: the recovery is the fix.
                if fixed.is_empty() {
                    for o in outcomes {
                        let t = s.started_s.unwrap_or(0.0) + time_to_recover_s;
                        fixed.insert(o.target.as_str(), (t, o.live.as_str()));
                        s.regressions.extend(o.regressions.iter().map(|r| format!("{}: {r}", o.target)));
                    }
                    s.time_to_fix_s = Some(*time_to_recover_s);
                }
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
    let all_fixed = !targets.is_empty() && targets.iter().all(|t| fixed.contains_key(t.as_str()));
    if let (true, Some(start)) = (all_fixed, s.started_s) {
        let last = fixed.values().map(|(t, _)| *t).fold(start, f64::max);
        s.time_to_fix_s = Some(round(last - start));
        s.recovered_by = "team";
        if !s.note.is_empty() && s.time_to_recover_s.is_none() {
            s.note = format!("fixed; the step's probes never passed before it ended ({})", s.note);
        }
    }
    if s.time_to_fix_s.is_some() {
        s.fix = if !s.regressions.is_empty() {
            "regression"
        } else if fixed.values().any(|(_, live)| *live != "restored") {
            "changed"
        } else {
            "exact"
        };
        let fix_t = s.started_s.unwrap_or(0.0) + s.time_to_fix_s.unwrap_or(0.0);
        let before: Vec<&(f64, u32)> = hints.iter().filter(|(t, _)| *t <= fix_t).collect();
        s.hints_before_recovery = before.len();
        s.hint_cost = before.iter().map(|(_, c)| c).sum();
        if hints.is_empty() && counted_hints > 0 {
            s.hints_before_recovery = counted_hints;
            s.hint_cost = counted_hints as u32 * scores.hint;
        }
    } else if s.started_s.is_none() && s.note.is_empty() {
        s.note = "not started".into();
    }
    s
}

/// Points by [`rule`]: only a step the team fixed scores.
fn points(s: &StepScore, duration_s: Option<f64>, end_t: Option<f64>, scores: &Scoring) -> u32 {
    let (Some(ttf), Some(start)) = (s.time_to_fix_s, s.started_s) else { return 0 };
    let allowed = duration_s.or(end_t.map(|e| e - start)).unwrap_or(ttf).max(ttf).max(1.0);
    let base = (100.0 * (1.0 - ttf / allowed) - f64::from(s.hint_cost)).max(10.0);
    let share = match s.fix {
        "regression" => scores.regression,
        "changed" => scores.changed,
        _ => 1.0,
    };
    (base * share).round() as u32
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Per team: total points, steps recovered and mean times, in the drill's team order.
pub fn teams(steps: &[StepScore]) -> Vec<TeamScore> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<&StepScore>> = BTreeMap::new();
    for s in steps {
        if !order.contains(&s.team) {
            order.push(s.team.clone());
        }
        by.entry(s.team.clone()).or_default().push(s);
    }
    let mean = |xs: Vec<f64>| (!xs.is_empty()).then(|| round(xs.iter().sum::<f64>() / xs.len() as f64));
    order
        .into_iter()
        .filter_map(|team| {
            let mine = by.remove(&team)?;
            Some(TeamScore {
                points: mine.iter().map(|s| s.points).sum(),
                recovered: mine.iter().filter(|s| s.recovered_by == "team").count(),
                steps: mine.len(),
                mean_time_to_detect_s: mean(mine.iter().filter_map(|s| s.time_to_detect_s).collect()),
                mean_time_to_fix_s: mean(mine.iter().filter_map(|s| s.time_to_fix_s).collect()),
                mean_time_to_recover_s: mean(mine.iter().filter_map(|s| s.time_to_recover_s).collect()),
                team,
            })
        })
        .collect()
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
                runbook_link: None,
                detect: vec![],
                hints: 0,
            }],
            scoring: rule(&Scoring::default()),
            scores: Scoring::default(),
            reset: Default::default(),
            tokens: Default::default(),
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
