//! `firedrill report`: a drill written up from its journal, as Markdown, a single
//! self-contained HTML page (inline CSS and SVG, no scripts, no external files), or JSON.
//!
//! Contents, for the review after the game day: the outcome; per team its points, steps
//! fixed and mean times to detect, fix and recover, with the scoring rule next to them;
//! per team and step who fixed it, how (exactly, changed, a security regression), how
//! fast, and the hints released before; per step across teams; the regressions, named;
//! the breaks nothing noticed (detection gaps); every hint, when and to whom; each fault
//! with a runbook link that works wherever the report is read; what the teams changed,
//! in words; the timeline; the probe history (a chart in the HTML). Names and texts from
//! the drill are escaped in both Markdown and HTML.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::journal::{DrillEvent, StepInfo, TargetOutcome, TeamStart};
use super::score::{self, StepScore, TeamScore};
use super::view::mmss;

/// A drill written up: teams, steps, scores, timeline, what the teams changed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    /// One object per team and step: `team`, `step`, `recovered_by`, `fix`,
    /// `time_to_detect_s`, `time_to_fix_s`, `time_to_recover_s`, ...
    pub scores: Vec<StepScore>,
    /// Per step, across teams.
    pub step_summary: Vec<StepSummary>,
    pub changes: Vec<TeamChange>,
    /// Fixes that opened up what was closed, by team, step and target.
    pub regressions: Vec<Regression>,
    /// Breaks a step said something should notice, and nothing did.
    pub detection_gaps: Vec<DetectionGap>,
    /// Every hint shown, to whom and when.
    pub hints: Vec<HintShown>,
    pub timeline: Vec<DrillEvent>,
    /// Per team, per probe: (seconds since start, passing) samples.
    pub probes: BTreeMap<String, BTreeMap<String, Vec<(f64, bool)>>>,
}

/// A change a team made to a target, as the report shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TeamChange {
    pub team: String,
    pub step: String,
    pub targets: Vec<TargetOutcome>,
}

/// One step across every team.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StepSummary {
    pub step: String,
    pub teams: usize,
    pub fixed: usize,
    pub best_time_to_fix_s: Option<f64>,
    pub mean_time_to_fix_s: Option<f64>,
    pub mean_time_to_detect_s: Option<f64>,
}

/// A fix that is a security regression.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Regression {
    pub team: String,
    pub step: String,
    /// `target: what it opens up`.
    pub what: String,
}

/// A break nothing noticed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DetectionGap {
    pub team: String,
    pub step: String,
    /// What should have noticed it.
    pub expected: Vec<String>,
}

/// A hint as a team saw it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HintShown {
    pub team: String,
    pub step: String,
    pub t: f64,
    /// `schedule`, `team` (asked early) or `instructor`.
    pub by: String,
    pub cost: Option<u32>,
    pub text: String,
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
        scoring: score::rule(&Default::default()),
        team_scores,
        step_summary: Vec::new(),
        regressions: scores
            .iter()
            .flat_map(|s| {
                s.regressions.iter().map(|w| Regression { team: s.team.clone(), step: s.step.clone(), what: w.clone() })
            })
            .collect(),
        detection_gaps: scores
            .iter()
            .filter(|s| s.detection_expected && s.started_s.is_some() && s.time_to_detect_s.is_none())
            .map(|s| DetectionGap { team: s.team.clone(), step: s.step.clone(), expected: Vec::new() })
            .collect(),
        scores,
        changes: Vec::new(),
        hints: Vec::new(),
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
            DrillEvent::Hint { t, team, step, text, by, cost, .. } => r.hints.push(HintShown {
                team: team.clone(),
                step: step.clone(),
                t: *t,
                by: by.clone(),
                cost: *cost,
                text: text.clone(),
            }),
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
    for gap in &mut r.detection_gaps {
        gap.expected = r.steps.iter().find(|s| s.name == gap.step).map(|s| s.detect.clone()).unwrap_or_default();
    }
    r.step_summary = r.steps.iter().map(|st| summary(st, &r.scores)).collect();
    r
}

fn summary(st: &StepInfo, scores: &[StepScore]) -> StepSummary {
    let mine: Vec<&StepScore> = scores.iter().filter(|s| s.step == st.name).collect();
    let ttf: Vec<f64> = mine.iter().filter_map(|s| s.time_to_fix_s).collect();
    let ttd: Vec<f64> = mine.iter().filter_map(|s| s.time_to_detect_s).collect();
    let mean = |xs: &[f64]| (!xs.is_empty()).then(|| (xs.iter().sum::<f64>() / xs.len() as f64 * 10.0).round() / 10.0);
    StepSummary {
        step: st.name.clone(),
        teams: mine.len(),
        fixed: ttf.len(),
        best_time_to_fix_s: ttf.iter().copied().reduce(f64::min),
        mean_time_to_fix_s: mean(&ttf),
        mean_time_to_detect_s: mean(&ttd),
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
        DrillEvent::Hint { team, step, text, by, .. } => {
            let who = match by.as_str() {
                "team" => "the team asked for a hint",
                "instructor" => "the instructor released a hint",
                _ => "hint released",
            };
            format!("{team}: {step}: {who}: {text}")
        }
        DrillEvent::TargetFixed { team, step, target, live, regressions, .. } => {
            let how = if live == "restored" { "fixed exactly" } else { "fixed, differently" };
            let reg = if regressions.is_empty() {
                String::new()
            } else {
                format!(" (regression: {})", regressions.join("; "))
            };
            format!("{team}: {step}: {target} {how}{reg}")
        }
        DrillEvent::Detected { team, step, by, .. } => format!("{team}: {step} noticed by {by}"),
        DrillEvent::Control { by, action, team, step, detail, .. } => {
            super::journal::control_text(by, action, team.as_deref(), step.as_deref(), detail)
        }
        DrillEvent::StepExtended { team, step, duration_s, .. } => {
            format!("{team}: {step} extended: reverted {} after the break", mmss(*duration_s))
        }
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

fn time(t: Option<f64>) -> String {
    t.map(mmss).unwrap_or_else(|| "-".into())
}

/// A drill's text in Markdown: raw HTML shows as text, a `|` cannot end a table cell.
fn md(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace('\n', " ")
}

/// How a step's fix left the targets, in words.
fn fix_words(s: &StepScore) -> &'static str {
    match s.fix {
        "exact" => "exactly as before",
        "changed" => "changed (works, differs)",
        "regression" => "security regression",
        _ => "-",
    }
}

/// A step's runbook link, as the drill resolved it (a URL, or the file's path).
fn runbook_href(st: &StepInfo) -> Option<String> {
    let link = st.runbook_link.clone().or_else(|| st.runbook.clone())?;
    Some(if link.starts_with('/') { format!("file://{link}") } else { link })
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Drill report: {}\n", md(&r.name));
    let _ = writeln!(
        s,
        "- Drill `{}` from `{}`, started {} by {}",
        r.drill_id,
        md(&r.file),
        r.started_at,
        md(&r.started_by)
    );
    let _ = writeln!(s, "- Outcome: **{}** after {}", md(&r.outcome), mmss(r.duration_s));
    for t in &r.teams {
        let _ =
            writeln!(s, "- Team **{}**: account {}, region {}, run `{}`", md(&t.name), t.account, t.region, t.run_id);
    }
    let _ = writeln!(
        s,
        "\n## Scores\n\n| Team | Points | Fixed | Mean time to detect | Mean time to fix | Mean time to recover |\n|---|---:|---:|---:|---:|---:|"
    );
    for t in &r.team_scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} of {} | {} | {} | {} |",
            md(&t.team),
            t.points,
            t.recovered,
            t.steps,
            time(t.mean_time_to_detect_s),
            time(t.mean_time_to_fix_s),
            time(t.mean_time_to_recover_s)
        );
    }
    let _ = writeln!(s, "\n_Scoring:_ {}\n", md(&r.scoring));
    let _ = writeln!(
        s,
        "## Steps\n\n| Team | Step | Fixed by | Fix | Time to detect | Time to fix | Time to recover | Hints before | Points | Note |\n|---|---|---|---|---:|---:|---:|---:|---:|---|"
    );
    for x in &r.scores {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&x.team),
            md(&x.step),
            x.recovered_by,
            fix_words(x),
            time(x.time_to_detect_s),
            time(x.time_to_fix_s),
            time(x.time_to_recover_s),
            x.hints_before_recovery,
            x.points,
            md(&x.note)
        );
    }
    let _ = writeln!(
        s,
        "\n## Per step\n\n| Step | Fixed | Best time to fix | Mean time to fix | Mean time to detect |\n|---|---:|---:|---:|---:|"
    );
    for x in &r.step_summary {
        let _ = writeln!(
            s,
            "| {} | {} of {} | {} | {} | {} |",
            md(&x.step),
            x.fixed,
            x.teams,
            time(x.best_time_to_fix_s),
            time(x.mean_time_to_fix_s),
            time(x.mean_time_to_detect_s)
        );
    }
    let _ = writeln!(s, "\n## Security regressions\n");
    if r.regressions.is_empty() {
        let _ = writeln!(s, "No fix opened up what the snapshot had closed.");
    }
    for x in &r.regressions {
        let _ = writeln!(s, "- **{}** / {}: {}", md(&x.team), md(&x.step), md(&x.what));
    }
    let _ = writeln!(s, "\n## Detection gaps\n");
    if r.detection_gaps.is_empty() {
        let _ = writeln!(s, "Every break a step expected to be noticed was noticed.\n");
    } else {
        let _ = writeln!(s, "| Team | Step | Should have noticed |\n|---|---|---|");
        for g in &r.detection_gaps {
            let _ = writeln!(s, "| {} | {} | {} |", md(&g.team), md(&g.step), md(&g.expected.join(", ")));
        }
    }
    let _ = writeln!(s, "\n## Hints\n");
    if r.hints.is_empty() {
        let _ = writeln!(s, "No hint was shown.");
    }
    for h in &r.hints {
        let cost = h.cost.map(|c| format!(", -{c} points")).unwrap_or_default();
        let _ = writeln!(s, "- `{}` {} / {} ({}{cost}): {}", mmss(h.t), md(&h.team), md(&h.step), h.by, md(&h.text));
    }
    let _ = writeln!(s, "\n## Faults\n");
    for st in &r.steps {
        let runbook = match (&st.runbook, runbook_href(st)) {
            (Some(rb), Some(href)) => format!(", runbook: [{}](<{href}>)", md(rb)),
            _ => String::new(),
        };
        let dur = st.duration_s.map(|d| format!(", auto-revert after {}", mmss(d))).unwrap_or_default();
        let detect =
            if st.detect.is_empty() { String::new() } else { format!(", noticed by: {}", md(&st.detect.join(", "))) };
        let _ = writeln!(
            s,
            "- **{}**: `{}`, {}{dur}{detect}{runbook} (`{}`)",
            md(&st.name),
            st.action,
            md(&st.start),
            md(&st.source)
        );
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
            let _ = writeln!(s, "- {} / {}: `{}` {} ({})", md(&c.team), md(&c.step), t.target, t.live, md(&how));
        }
    }
    let _ = writeln!(s, "\n## Timeline\n");
    for e in &r.timeline {
        let at = e.t().map(mmss).unwrap_or_else(|| "     ".into());
        let _ = writeln!(s, "- `{at}` {}", md(&describe(e)));
    }
    let _ = writeln!(s, "\n## Probe history\n");
    for (team, probes) in &r.probes {
        for (probe, samples) in probes {
            let fails = samples.iter().filter(|(_, ok)| !ok).count();
            let strip: String = samples.iter().map(|(_, ok)| if *ok { '+' } else { 'x' }).collect();
            let _ =
                writeln!(s, "- {} / {}: {} samples, {fails} failing: `{strip}`", md(team), md(probe), samples.len());
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
.team{color:#0b6e4f;font-weight:600}.revert{color:#a15c00}.none{color:#b3261e}.muted{color:#667}.regression{color:#b3261e;font-weight:600}\
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:#eef;font-size:.85rem}\
.timeline{list-style:none;padding:0}.timeline li{padding:.15rem 0}.timeline code{color:#556;margin-right:.6rem}\
svg{background:#fff;border:1px solid #e6e6ef;border-radius:4px}code{font-size:.9em}";

/// An HTML table: a header row, then rows of cells (already escaped).
fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{h}</th>");
    }
    s += "</tr>";
    for row in rows {
        s += "<tr>";
        for c in row {
            let class = if c.starts_with(char::is_numeric) || c == "-" { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td{class}>{c}</td>");
        }
        s += "</tr>";
    }
    s + "</table>"
}

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
    s += "<h2>Scores</h2>";
    s += &table(
        &[
            "Team",
            "Account",
            "Run",
            "Points",
            "Fixed",
            "Mean time to detect",
            "Mean time to fix",
            "Mean time to recover",
        ],
        r.team_scores.iter().map(|t| {
            let start = r.teams.iter().find(|x| x.name == t.team);
            vec![
                esc(&t.team),
                esc(start.map(|x| x.account.as_str()).unwrap_or("")),
                format!("<code>{}</code>", esc(start.map(|x| x.run_id.as_str()).unwrap_or(""))),
                t.points.to_string(),
                format!("{} of {}", t.recovered, t.steps),
                time(t.mean_time_to_detect_s),
                time(t.mean_time_to_fix_s),
                time(t.mean_time_to_recover_s),
            ]
        }),
    );
    let _ = writeln!(s, "<p class=\"muted\"><b>Scoring:</b> {}</p>", esc(&r.scoring));
    s += "<h2>Steps</h2>";
    s += &table(
        &[
            "Team",
            "Step",
            "Fixed by",
            "Fix",
            "Time to detect",
            "Time to fix",
            "Time to recover",
            "Hints before",
            "Points",
            "Note",
        ],
        r.scores.iter().map(|x| {
            vec![
                esc(&x.team),
                esc(&x.step),
                format!("<span class=\"{}\">{}</span>", x.recovered_by, x.recovered_by),
                format!("<span class=\"{}\">{}</span>", x.fix, fix_words(x)),
                time(x.time_to_detect_s),
                time(x.time_to_fix_s),
                time(x.time_to_recover_s),
                x.hints_before_recovery.to_string(),
                x.points.to_string(),
                format!("<span class=\"muted\">{}</span>", esc(&x.note)),
            ]
        }),
    );
    s += "<h2>Per step</h2>";
    s += &table(
        &["Step", "Fixed", "Best time to fix", "Mean time to fix", "Mean time to detect"],
        r.step_summary.iter().map(|x| {
            vec![
                esc(&x.step),
                format!("{} of {}", x.fixed, x.teams),
                time(x.best_time_to_fix_s),
                time(x.mean_time_to_fix_s),
                time(x.mean_time_to_detect_s),
            ]
        }),
    );
    s += "<h2>Security regressions</h2>";
    if r.regressions.is_empty() {
        s += "<p class=\"muted\">No fix opened up what the snapshot had closed.</p>";
    } else {
        s += &table(
            &["Team", "Step", "What the fix opened up"],
            r.regressions.iter().map(|x| {
                vec![esc(&x.team), esc(&x.step), format!("<span class=\"regression\">{}</span>", esc(&x.what))]
            }),
        );
    }
    s += "<h2>Detection gaps</h2>";
    if r.detection_gaps.is_empty() {
        s += "<p class=\"muted\">Every break a step expected to be noticed was noticed.</p>";
    } else {
        s += &table(
            &["Team", "Step", "Should have noticed"],
            r.detection_gaps.iter().map(|g| vec![esc(&g.team), esc(&g.step), esc(&g.expected.join(", "))]),
        );
    }
    s += "<h2>Hints</h2>";
    if r.hints.is_empty() {
        s += "<p class=\"muted\">No hint was shown.</p>";
    } else {
        s += &table(
            &["At", "Team", "Step", "Released by", "Cost", "Hint"],
            r.hints.iter().map(|h| {
                let cost = h.cost.map(|c| format!("-{c}")).unwrap_or_else(|| "-".into());
                vec![mmss(h.t), esc(&h.team), esc(&h.step), esc(&h.by), cost, esc(&h.text)]
            }),
        );
    }
    s += "\n<h2>Faults</h2>";
    s += &table(
        &["Step", "Action", "When", "Auto-revert", "Noticed by", "Runbook"],
        r.steps.iter().map(|st| {
            let runbook = match (&st.runbook, runbook_href(st)) {
                (Some(rb), Some(href)) => format!("<a href=\"{}\">{}</a>", esc(&href), esc(rb)),
                _ => "-".into(),
            };
            vec![
                esc(&st.name),
                format!("<code>{}</code>", esc(&st.action)),
                esc(&st.start),
                st.duration_s.map(mmss).unwrap_or_else(|| "-".into()),
                if st.detect.is_empty() { "-".into() } else { esc(&st.detect.join(", ")) },
                runbook,
            ]
        }),
    );
    s += "\n<h2>What the teams changed</h2>";
    if r.changes.is_empty() {
        s += "<p class=\"muted\">No team fixed a fault itself.</p>";
    } else {
        let rows = r.changes.iter().flat_map(|c| {
            c.targets.iter().map(|t| {
                let how = if t.differences.is_empty() {
                    "restored exactly".to_owned()
                } else {
                    format!("differs: {}", esc(&t.differences.join("; ")))
                };
                vec![esc(&c.team), esc(&c.step), format!("<code>{}</code>", esc(&t.target)), how]
            })
        });
        s += &table(&["Team", "Step", "Target", "Against the pre-break snapshot"], rows);
    }
    s += "\n<h2>Probe history</h2>";
    s += &chart(r);
    s += "\n<h2>Timeline</h2><ul class=\"timeline\">";
    for e in &r.timeline {
        let at = e.t().map(mmss).unwrap_or_default();
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
