//! What `firedrill run` shows while a drill runs.
//!
//! - On a terminal: one table, redrawn in place every poll: per team and step its state
//!   (pending / broken / restored by team / changed / reverted), time since the break,
//!   the next hint, and each probe's health; the last few messages below it.
//! - Not a terminal: one line per change (a step starts, a hint, a recovery, a probe
//!   turning red or green), not a line per probe sample.
//! - `--output json`: every drill event as a JSON line, as written to the journal.

use std::collections::BTreeMap;
use std::io::Write;

use super::Drill;
use super::journal::DrillEvent;

/// How `firedrill run` shows the drill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Lines,
    Json,
}

/// The drill as `firedrill run` shows it while it runs.
pub struct View {
    mode: Mode,
    name: String,
    teams: Vec<String>,
    steps: Vec<(String, Vec<(f64, String)>)>,
    /// (team, step) -> (state, since t)
    state: BTreeMap<(String, String), (String, f64)>,
    probes: BTreeMap<(String, String), bool>,
    hints: BTreeMap<(String, String), usize>,
    messages: Vec<String>,
    drawn: usize,
}

impl View {
    /// A view of `drill`, shown as `mode` says.
    pub fn new(mode: Mode, drill: &Drill) -> View {
        View {
            mode,
            name: drill.name.clone(),
            teams: drill.teams.iter().map(|t| t.name.clone()).collect(),
            steps: drill
                .steps
                .iter()
                .map(|s| (s.name.clone(), s.hints.iter().map(|h| (h.after.as_secs_f64(), h.text.clone())).collect()))
                .collect(),
            state: BTreeMap::new(),
            probes: BTreeMap::new(),
            hints: BTreeMap::new(),
            messages: Vec::new(),
            drawn: 0,
        }
    }

    /// Take in one drill event.
    pub fn event(&mut self, e: &DrillEvent) {
        if self.mode == Mode::Json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, e);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
            return;
        }
        let clock = |t: f64| format!("[{}]", mmss(t));
        let line = match e {
            DrillEvent::Started { drill_id, teams, .. } => Some(format!(
                "drill {} ({drill_id}): {} team(s): {}",
                self.name,
                teams.len(),
                teams
                    .iter()
                    .map(|t| format!("{} (account {}, run {})", t.name, t.account, t.run_id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            DrillEvent::Probe { t, team, probe, outcome, .. } => {
                let key = (team.clone(), probe.clone());
                let changed = self.probes.insert(key, outcome.ok) != Some(outcome.ok);
                changed.then(|| {
                    let word = if outcome.ok { "passing" } else { "FAILING" };
                    format!("{} {team}  probe {probe} {word}: {}", clock(*t), outcome.detail)
                })
            }
            DrillEvent::Refused { reason, .. } => Some(format!("refused: {reason}")),
            DrillEvent::StepStarted { t, team, step, targets, .. } => {
                self.set(team, step, "broken", *t);
                Some(format!("{} {team}  {step}: broken ({})", clock(*t), targets.join(", ")))
            }
            DrillEvent::StepFailed { t, team, step, error, .. } => {
                self.set(team, step, "did not start", *t);
                Some(format!("{} {team}  {step}: did not start: {error}", clock(*t)))
            }
            DrillEvent::Hint { t, team, step, text, .. } => {
                *self.hints.entry((team.clone(), step.clone())).or_default() += 1;
                Some(format!("{} {team}  {step}: HINT: {text}", clock(*t)))
            }
            DrillEvent::TargetFixed { t, team, step, target, live, regressions, .. } => {
                let how = if live == "restored" { "fixed exactly" } else { "fixed, differently" };
                let reg = if regressions.is_empty() {
                    String::new()
                } else {
                    format!(" (REGRESSION: {})", regressions.join("; "))
                };
                Some(format!("{} {team}  {step}: {target} {how}{reg}", clock(*t)))
            }
            DrillEvent::Detected { t, team, step, by, .. } => {
                Some(format!("{} {team}  {step}: noticed by {by}", clock(*t)))
            }
            DrillEvent::Control { t, by, action, team, step, detail, .. } => {
                let text = super::journal::control_text(by, action, team.as_deref(), step.as_deref(), detail);
                Some(format!("{} {text}", clock(*t)))
            }
            DrillEvent::StepExtended { t, team, step, duration_s, .. } => {
                Some(format!("{} {team}  {step}: extended to {}", clock(*t), mmss(*duration_s)))
            }
            DrillEvent::StepRecovered { t, team, step, time_to_recover_s, targets, .. } => {
                let how =
                    if targets.iter().all(|o| o.live == "restored") { "restored by team" } else { "changed by team" };
                self.set(team, step, how, *t);
                Some(format!("{} {team}  {step}: {how} in {}", clock(*t), mmss(*time_to_recover_s)))
            }
            DrillEvent::StepReverted { t, team, step, why, not_restored, .. } => {
                let what = if not_restored.is_empty() { "reverted" } else { "NOT restored" };
                self.set(team, step, what, *t);
                let left =
                    if not_restored.is_empty() { String::new() } else { format!(": {}", not_restored.join(", ")) };
                Some(format!("{} {team}  {step}: {what} ({why}){left}", clock(*t)))
            }
            DrillEvent::StepDone { t, team, step, .. } => {
                self.set(team, step, "done (one-shot)", *t);
                Some(format!("{} {team}  {step}: done (one-shot)", clock(*t)))
            }
            DrillEvent::Stopping { t, reason, .. } => {
                Some(format!("{} STOPPING: {reason}; reverting everything", clock(*t)))
            }
            DrillEvent::Ended { t, outcome, .. } => Some(format!("{} drill over: {outcome}", clock(*t))),
        };
        let Some(line) = line else { return };
        match self.mode {
            Mode::Lines => crate::outln!("{line}"),
            Mode::Live => {
                self.messages.push(line);
                if self.messages.len() > 6 {
                    self.messages.remove(0);
                }
            }
            Mode::Json => {}
        }
    }

    fn set(&mut self, team: &str, step: &str, state: &str, t: f64) {
        self.state.insert((team.to_owned(), step.to_owned()), (state.to_owned(), t));
    }

    /// Redraw the table in place (terminal only).
    pub fn redraw(&mut self, now: f64) {
        if self.mode != Mode::Live {
            return;
        }
        let mut s = format!("{}  elapsed {}   (Ctrl-C: stop and revert everything)\n", self.name, mmss(now));
        for team in &self.teams {
            let probes: Vec<String> = self
                .probes
                .iter()
                .filter(|((t, _), _)| t == team)
                .map(|((_, p), ok)| format!("{p} {}", if *ok { "ok" } else { "FAIL" }))
                .collect();
            s += &format!("  {team:<12} probes: {}\n", if probes.is_empty() { "-".into() } else { probes.join("  ") });
            for (step, hints) in &self.steps {
                let key = (team.clone(), step.clone());
                let (state, since) = self.state.get(&key).cloned().unwrap_or(("pending".into(), now));
                let mut row = format!("    {step:<28} {state:<18}");
                if state == "broken" {
                    row += &format!(" {}", mmss(now - since));
                    let released = self.hints.get(&key).copied().unwrap_or(0);
                    if let Some((after, _)) = hints.get(released) {
                        row += &format!("  next hint in {}", mmss((since + after - now).max(0.0)));
                    }
                }
                s += &row;
                s += "\n";
            }
        }
        for m in &self.messages {
            s += &format!("  {m}\n");
        }
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            // Up to where the last table started, and clear below.
            let _ = write!(out, "\x1b[{}F\x1b[J", self.drawn);
        }
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
        self.drawn = s.lines().count();
    }
}

/// `mm:ss` (or `h:mm:ss`).
pub fn mmss(t: f64) -> String {
    let s = t.max(0.0).round() as u64;
    if s >= 3600 {
        return format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60);
    }
    format!("{:02}:{:02}", s / 60, s % 60)
}
