//! `firedrill report`: a drill written up from its journal, as Markdown, a single
//! self-contained HTML page (inline CSS and SVG, no scripts, no external files), or JSON.
//!
//! Contents: the outcome, a score table per team with the rule next to it, every
//! team's result per step (who recovered it, how fast, hints released before), each
//! fault with its runbook, what the team changed (against the pre-break snapshot), the
//! timeline, and the probe history (a chart in the HTML).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::journal::{DrillEvent, StepInfo, TargetOutcome, TeamStart};
use super::score::{self, StepScore, TeamScore};
use super::view::mmss;

/// A drill written up: teams, steps, scores, timeline, what the teams changed.
#[derive(Debug, Serialize)]
pub struct Report {
    pub drill_id: String,
    pub name: String,
    pub file: String,
    pub started_at: String,
    pub started_by: String,
    pub outcome: String,
    pub duration_s: f64,
    pub teams: Vec<TeamStart>,
    pub steps: Vec<StepInfo>,
    pub scoring: String,
    pub team_scores: Vec<TeamScore>,
    /// One object per team and step: `team`, `step`, `recovered_by`, `time_to_recover_s`, ...
    pub scores: Vec<StepScore>,
    pub changes: Vec<TeamChange>,
    pub timeline: Vec<DrillEvent>,
    /// Per team, per probe: (seconds since start, passing) samples.
    pub probes: BTreeMap<String, BTreeMap<String, Vec<(f64, bool)>>>,
}

/// A change a team made to a target, as the report shows it.
#[derive(Debug, Serialize)]
pub struct TeamChange {
    pub team: String,
    pub step: String,
    pub targets: Vec<TargetOutcome>,
}

/// The report of a drill, from its journal's events.
pub fn build(events: Vec<DrillEvent>) -> Report {
    let scores = score::steps(&events);
    let team_scores = score::teams(&scores);
    let mut r = Report {
        drill_id: String::new(),
        name: String::new(),
        file: String::new(),
        started_at: String::new(),
        started_by: String::new(),
        outcome: "still running (or crashed): no end recorded".into(),
        duration_s: 0.0,
        teams: Vec::new(),
        steps: Vec::new(),
        scoring: score::RULE.into(),
        team_scores,
        scores,
        changes: Vec::new(),
        timeline: Vec::new(),
        probes: BTreeMap::new(),
    };
    for e in events {
        match &e {
            DrillEvent::Started { at, drill_id, name, file, by, teams, steps, scoring, .. } => {
                (r.drill_id, r.name, r.file, r.started_at, r.started_by) =
                    (drill_id.clone(), name.clone(), file.clone(), at.clone(), by.clone());
                (r.teams, r.steps, r.scoring) = (teams.clone(), steps.clone(), scoring.clone());
            }
            DrillEvent::Probe { t, team, probe, outcome, .. } => {
                r.probes.entry(team.clone()).or_default().entry(probe.clone()).or_default().push((*t, outcome.ok));
                r.duration_s = r.duration_s.max(*t);
                continue;
            }
            DrillEvent::StepRecovered { team, step, targets, .. } => {
                r.changes.push(TeamChange { team: team.clone(), step: step.clone(), targets: targets.clone() })
            }
            DrillEvent::Ended { t, outcome, .. } => {
                r.outcome = outcome.clone();
                r.duration_s = r.duration_s.max(*t);
            }
            _ => {}
        }
        r.timeline.push(e);
    }
    r
}

fn event_time(e: &DrillEvent) -> Option<f64> {
    match e {
        DrillEvent::Probe { t, .. }
        | DrillEvent::StepStarted { t, .. }
        | DrillEvent::StepFailed { t, .. }
        | DrillEvent::Hint { t, .. }
        | DrillEvent::StepRecovered { t, .. }
        | DrillEvent::StepReverted { t, .. }
        | DrillEvent::StepDone { t, .. }
        | DrillEvent::Stopping { t, .. }
        | DrillEvent::Ended { t, .. } => Some(*t),
        DrillEvent::Started { .. } | DrillEvent::Refused { .. } => None,
    }
}

/// One line of the timeline, in words.
fn describe(e: &DrillEvent) -> String {
    match e {
        DrillEvent::Started { name, by, .. } => format!("drill {name} started by {by}"),
        DrillEvent::Probe { team, probe, outcome, .. } => format!("{team}: probe {probe}: {}", outcome.detail),
        DrillEvent::Refused { reason, .. } => format!("refused: {reason}"),
        DrillEvent::StepStarted { team, step, targets, .. } => {
            format!("{team}: {step} broken ({})", targets.join(", "))
        }
        DrillEvent::StepFailed { team, step, error, .. } => format!("{team}: {step} did not start: {error}"),
        DrillEvent::Hint { team, step, text, .. } => format!("{team}: {step}: hint released: {text}"),
        DrillEvent::StepRecovered { team, step, time_to_recover_s, .. } => {
            format!("{team}: {step} recovered by the team in {}", mmss(*time_to_recover_s))
        }
        DrillEvent::StepReverted { team, step, why, not_restored, .. } if not_restored.is_empty() => {
            format!("{team}: {step} reverted by firedrill ({why})")
        }
        DrillEvent::StepReverted { team, step, why, not_restored, .. } => {
            format!("{team}: {step}: revert ({why}) left not restored: {}", not_restored.join(", "))
        }
        DrillEvent::StepDone { team, step, .. } => format!("{team}: {step} done (one-shot)"),
        DrillEvent::Stopping { reason, .. } => format!("stopping: {reason}"),
        DrillEvent::Ended { outcome, .. } => format!("drill over: {outcome}"),
    }
}

fn ttr(s: &StepScore) -> String {
    s.time_to_recover_s.map(mmss).unwrap_or_else(|| "-".into())
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Drill report: {}\n", r.name);
    let _ = writeln!(s, "- Drill `{}` from `{}`, started {} by {}", r.drill_id, r.file, r.started_at, r.started_by);
    let _ = writeln!(s, "- Outcome: **{}** after {}", r.outcome, mmss(r.duration_s));
    for t in &r.teams {
        let _ = writeln!(s, "- Team **{}**: account {}, region {}, run `{}`", t.name, t.account, t.region, t.run_id);
    }
    let _ = writeln!(s, "\n## Scores\n\n| Team | Points | Recovered |\n|---|---:|---:|");
    for t in &r.team_scores {
        let _ = writeln!(s, "| {} | {} | {} of {} |", t.team, t.points, t.recovered, t.steps);
    }
    let _ = writeln!(s, "\n_Scoring:_ {}\n", r.scoring);
    let _ = writeln!(
        s,
        "## Steps\n\n| Team | Step | Recovered by | Time to recover | Hints before | Points | Note |\n|---|---|---|---:|---:|---:|---|"
    );
    for x in &r.scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.team,
            x.step,
            x.recovered_by,
            ttr(x),
            x.hints_before_recovery,
            x.points,
            x.note.replace('|', "\\|")
        );
    }
    let _ = writeln!(s, "\n## Faults\n");
    for st in &r.steps {
        let runbook = st.runbook.as_deref().map(|rb| format!(", runbook: [{rb}]({rb})")).unwrap_or_default();
        let dur = st.duration_s.map(|d| format!(", auto-revert after {}", mmss(d))).unwrap_or_default();
        let _ = writeln!(s, "- **{}**: `{}`, {}{dur}{runbook} (`{}`)", st.name, st.action, st.start, st.source);
    }
    let _ = writeln!(s, "\n## What the teams changed\n");
    if r.changes.is_empty() {
        let _ = writeln!(s, "No team fixed a fault itself.");
    }
    for c in &r.changes {
        for t in &c.targets {
            let how = if t.differences.is_empty() {
                "restored exactly to its pre-break snapshot".to_owned()
            } else {
                format!("fixed differently; differs from the pre-break snapshot: {}", t.differences.join("; "))
            };
            let _ = writeln!(s, "- {} / {}: `{}` {} ({how})", c.team, c.step, t.target, t.live);
        }
    }
    let _ = writeln!(s, "\n## Timeline\n");
    for e in &r.timeline {
        let at = event_time(e).map(mmss).unwrap_or_else(|| "     ".into());
        let _ = writeln!(s, "- `{at}` {}", describe(e));
    }
    let _ = writeln!(s, "\n## Probe history\n");
    for (team, probes) in &r.probes {
        for (probe, samples) in probes {
            let fails = samples.iter().filter(|(_, ok)| !ok).count();
            let strip: String = samples.iter().map(|(_, ok)| if *ok { '+' } else { 'x' }).collect();
            let _ = writeln!(s, "- {team} / {probe}: {} samples, {fails} failing: `{strip}`", samples.len());
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const CSS: &str = "body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2330;background:#fbfbfd}\
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e6e6ef;vertical-align:top}\
th{background:#f0f1f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.team{color:#0b6e4f;font-weight:600}.revert{color:#a15c00}.none{color:#b3261e}.muted{color:#667}\
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:#eef;font-size:.85rem}\
.timeline{list-style:none;padding:0}.timeline li{padding:.15rem 0}.timeline code{color:#556;margin-right:.6rem}\
svg{background:#fff;border:1px solid #e6e6ef;border-radius:4px}code{font-size:.9em}";

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Drill report: {}</title><style>{CSS}</style></head><body>\n",
        esc(&r.name)
    );
    let _ = write!(
        s,
        "<h1>Drill report: {}</h1><p class=\"muted\">Drill <code>{}</code> from <code>{}</code>, started {} by {}.</p>\
<p>Outcome: <span class=\"badge\">{}</span> after {}</p>",
        esc(&r.name),
        esc(&r.drill_id),
        esc(&r.file),
        esc(&r.started_at),
        esc(&r.started_by),
        esc(&r.outcome),
        mmss(r.duration_s)
    );
    let _ = write!(
        s,
        "<h2>Scores</h2><table><tr><th>Team</th><th>Account</th><th>Run</th><th>Points</th><th>Recovered</th></tr>"
    );
    for t in &r.team_scores {
        let start = r.teams.iter().find(|x| x.name == t.team);
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{} of {}</td></tr>",
            esc(&t.team),
            esc(start.map(|x| x.account.as_str()).unwrap_or("")),
            esc(start.map(|x| x.run_id.as_str()).unwrap_or("")),
            t.points,
            t.recovered,
            t.steps
        );
    }
    let _ = writeln!(s, "</table><p class=\"muted\"><b>Scoring:</b> {}</p>", esc(&r.scoring));
    let _ = write!(
        s,
        "<h2>Steps</h2><table><tr><th>Team</th><th>Step</th><th>Recovered by</th><th>Time to recover</th><th>Hints before</th><th>Points</th><th>Note</th></tr>"
    );
    for x in &r.scores {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"muted\">{}</td></tr>",
            esc(&x.team),
            esc(&x.step),
            x.recovered_by,
            x.recovered_by,
            ttr(x),
            x.hints_before_recovery,
            x.points,
            esc(&x.note)
        );
    }
    s += "</table>\n<h2>Faults</h2><table><tr><th>Step</th><th>Action</th><th>When</th><th>Auto-revert</th><th>Runbook</th></tr>";
    for st in &r.steps {
        let runbook = st
            .runbook
            .as_deref()
            .map(|rb| format!("<a href=\"{}\">{}</a>", esc(rb), esc(rb)))
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{runbook}</td></tr>",
            esc(&st.name),
            esc(&st.action),
            esc(&st.start),
            st.duration_s.map(mmss).unwrap_or_else(|| "-".into())
        );
    }
    s += "</table>\n<h2>What the teams changed</h2>";
    if r.changes.is_empty() {
        s += "<p class=\"muted\">No team fixed a fault itself.</p>";
    } else {
        s += "<table><tr><th>Team</th><th>Step</th><th>Target</th><th>Against the pre-break snapshot</th></tr>";
        for c in &r.changes {
            for t in &c.targets {
                let how = if t.differences.is_empty() {
                    "restored exactly".to_owned()
                } else {
                    format!("differs: <code>{}</code>", esc(&t.differences.join("; ")))
                };
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{how}</td></tr>",
                    esc(&c.team),
                    esc(&c.step),
                    esc(&t.target)
                );
            }
        }
        s += "</table>";
    }
    s += "\n<h2>Probe history</h2>";
    s += &chart(r);
    s += "\n<h2>Timeline</h2><ul class=\"timeline\">";
    for e in &r.timeline {
        let at = event_time(e).map(mmss).unwrap_or_default();
        let _ = write!(s, "<li><code>{at}</code>{}</li>", esc(&describe(e)));
    }
    s += "</ul></body></html>\n";
    s
}

/// One strip per team and probe: green where it passed, red where it failed, with the
/// breaks (steps started) marked.
fn chart(r: &Report) -> String {
    type Row<'a> = (&'a String, &'a String, &'a Vec<(f64, bool)>);
    let rows: Vec<Row> = r.probes.iter().flat_map(|(team, ps)| ps.iter().map(move |(p, v)| (team, p, v))).collect();
    if rows.is_empty() {
        return "<p class=\"muted\">No probes.</p>".into();
    }
    let (label_w, width, row_h) = (180.0, 900.0, 26.0);
    let span = r.duration_s.max(1.0);
    let x = |t: f64| label_w + (t / span) * (width - label_w - 10.0);
    let height = rows.len() as f64 * row_h + 30.0;
    let mut s = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"probe history\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, (team, probe, samples)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let _ = write!(
            s,
            "<text x=\"6\" y=\"{:.1}\" font-size=\"13\" fill=\"#1d2330\">{} / {}</text>",
            y + 15.0,
            esc(team),
            esc(probe)
        );
        for (j, (t, ok)) in samples.iter().enumerate() {
            let end = samples.get(j + 1).map(|n| n.0).unwrap_or(span);
            let (x0, x1) = (x(*t), x(end.max(*t)));
            let color = if *ok { "#2e9e5b" } else { "#d93a2b" };
            let _ = write!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} / {} at {}: {}</title></rect>",
                (x1 - x0).max(1.0),
                row_h - 8.0,
                esc(team),
                esc(probe),
                mmss(*t),
                if *ok { "passing" } else { "failing" }
            );
        }
    }
    for e in &r.timeline {
        if let DrillEvent::StepStarted { t, team, step, .. } = e {
            let _ = write!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1:.1}\" stroke=\"#1d2330\" stroke-dasharray=\"3 3\"><title>{2}: {3} broken at {4}</title></line>",
                x(*t),
                height - 24.0,
                esc(team),
                esc(step),
                mmss(*t)
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{label_w}\" y=\"{:.1}\" font-size=\"12\" fill=\"#667\">0:00</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#667\" text-anchor=\"end\">{}</text></svg>",
        height - 6.0,
        width - 10.0,
        height - 6.0,
        mmss(span)
    );
    s
}
