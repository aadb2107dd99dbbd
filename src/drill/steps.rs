//! Each team's steps as the drill plays them: when a step starts, its hints, every look
//! at its targets (each one fixed? noticed? probes passing?), its time running out, the
//! requests that reach it from the board, and its revert at the end.
//!
//! A target counts as fixed the first time a look finds it restored or changed,
//! whatever the step's probes say ([`DrillEvent::TargetFixed`]): a probe shared with a
//! step still broken no longer delays a team's credit. The step is recovered when every
//! target is fixed and its probes pass.

use std::collections::BTreeSet;
use std::time::Duration;

use super::control::Request;
use super::journal::{DrillEvent, TargetOutcome};
use super::probe::{Outcome, ProbeKind};
use super::runner::{Connected, ProbeBoard, Recorder};
use super::{Detect, Drill, Reset, Start};
use crate::action::with_fault;
use crate::executor::{self, Restore, drift};
use crate::guardrails::Guardrails;
use crate::store::journal::{Event, now};
use crate::store::{RunDir, RunRecord, Store};
use crate::{Error, Result};

/// Where one team's step is.
#[derive(Clone, Debug)]
pub(super) enum StepState {
    Pending,
    Active(Active),
    Recovered,
    Reverted,
    Failed,
    Done,
}

/// A step that is broken, or being fixed.
#[derive(Clone, Debug)]
pub(super) struct Active {
    /// The fault's index in the team's run.
    fault: usize,
    /// Seconds into the drill when it broke.
    start: f64,
    /// Hints released so far.
    hints: usize,
    /// Whether the last look found a target still broken.
    pub(super) broken: bool,
    /// Targets seen fixed.
    fixed: BTreeSet<String>,
    /// Whether something the step lists under `detect:` noticed the break.
    detected: bool,
    /// When firedrill reverts it if the team has not fixed it (extended by the board).
    duration: Option<Duration>,
}

/// One team's run of the drill.
pub(super) struct TeamRun {
    pub c: Connected,
    pub run: RunDir,
    pub steps: Vec<StepState>,
}

impl TeamRun {
    /// Whether every step is over (recovered, reverted, failed, done).
    pub fn finished(&self) -> bool {
        self.steps.iter().all(|s| !matches!(s, StepState::Pending | StepState::Active(_)))
    }

    /// Answer a `restored` probe of `step` from what the last look saw.
    pub fn restored(&self, drill: &Drill, step: &str) -> Outcome {
        let i = drill.steps.iter().position(|s| s.name == step);
        match i.map(|i| &self.steps[i]) {
            Some(StepState::Active(a)) if a.broken => Outcome { ok: false, detail: format!("step {step} is broken") },
            Some(StepState::Active(_)) => Outcome { ok: true, detail: format!("step {step}: nothing broken") },
            Some(StepState::Pending) => Outcome { ok: true, detail: format!("step {step} not started") },
            _ => Outcome { ok: true, detail: format!("step {step} is over") },
        }
    }
}

/// How the steps still open are reverted when the drill ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// A normal end: the steps nobody fixed; the teams' fixes stay.
    Normal,
    /// A stop (a signal, a stop condition, the board's stop): everything the drill
    /// changed, what the teams changed on top of the faults too.
    Everything,
    /// Every target exactly as its snapshot (`end: { reset: exact }`, the board's abort).
    Exact,
}

impl Ending {
    /// How a drill that ended normally is wound down.
    pub fn normal(drill: &Drill) -> Ending {
        match drill.reset {
            Reset::Keep => Ending::Normal,
            Reset::Exact => Ending::Exact,
        }
    }
}

/// One look at a team: start the steps that are due, release hints, look at every
/// broken step's targets, record fixes, detection and recovery, revert steps whose time
/// ran out.
pub(super) async fn tick(
    drill: &Drill,
    tr: &mut TeamRun,
    guard: (&Guardrails, bool),
    store: &Store,
    rec: &Recorder,
    board: &ProbeBoard,
) -> Result<()> {
    for i in 0..drill.steps.len() {
        match tr.steps[i].clone() {
            StepState::Pending if due(drill, i, tr, rec)? => {
                tr.steps[i] = start(drill, i, tr, guard, store, rec).await?;
            }
            StepState::Active(a) => tr.steps[i] = tick_active(drill, i, tr, a, store, rec, board).await?,
            _ => {}
        }
    }
    Ok(())
}

/// Whether pending step `i` starts now; a step waiting on one that did not run is
/// recorded as skipped.
fn due(drill: &Drill, i: usize, tr: &mut TeamRun, rec: &Recorder) -> Result<bool> {
    let step = &drill.steps[i];
    let t = rec.t();
    match &step.start {
        Start::At(at) => Ok(t >= at.as_secs_f64()),
        Start::After(name) => {
            let j = drill.steps.iter().position(|s| &s.name == name).unwrap_or(i);
            match tr.steps[j] {
                StepState::Failed => {
                    let error = format!("skipped: step {name} did not run");
                    let (team, step) = (tr.c.team.name.clone(), step.name.clone());
                    rec.record(DrillEvent::StepFailed { at: now(), t, team, step, error })?;
                    tr.steps[i] = StepState::Failed;
                    Ok(false)
                }
                StepState::Pending | StepState::Active(_) => Ok(false),
                _ => Ok(true),
            }
        }
    }
}

/// One look at an active step.
async fn tick_active(
    drill: &Drill,
    i: usize,
    tr: &mut TeamRun,
    mut a: Active,
    store: &Store,
    rec: &Recorder,
    board: &ProbeBoard,
) -> Result<StepState> {
    let step = &drill.steps[i];
    let team = tr.c.team.name.clone();
    let t = rec.t();
    while a.hints < step.hints.len() && t >= a.start + step.hints[a.hints].after.as_secs_f64() {
        release_hint(drill, i, &team, &mut a, "schedule", rec)?;
    }
    let (broken, outcomes) = match look(tr, store, a.fault).await {
        Ok(x) => x,
        Err(e) => {
            // A failed look (throttling, a network blip) is neither a fix nor a recovery.
            tracing::warn!(team = %team, step = %step.name, "could not look at the targets: {e}");
            (true, Vec::new())
        }
    };
    a.broken = broken;
    for o in outcomes.iter().filter(|o| matches!(o.live.as_str(), "restored" | "changed")) {
        if a.fixed.insert(o.target.clone()) {
            rec.record(DrillEvent::TargetFixed {
                at: now(),
                t: rec.t(),
                team: team.clone(),
                step: step.name.clone(),
                target: o.target.clone(),
                live: o.live.clone(),
                differences: o.differences.clone(),
                regressions: o.regressions.clone(),
            })?;
        }
    }
    if !a.detected
        && let Some(by) = detected(&step.detect, &tr.c, board, a.start).await
    {
        a.detected = true;
        rec.record(DrillEvent::Detected { at: now(), t: rec.t(), team: team.clone(), step: step.name.clone(), by })?;
    }
    let probes_pass = step.probes.iter().all(|p| board.passing(&team, p));
    if !broken && probes_pass {
        // The team fixed it: record what firedrill must no longer undo.
        for o in &outcomes {
            let target = o.target.clone();
            let event = match o.live.as_str() {
                "restored" => Event::Restored { at: now(), fault: a.fault, target },
                "gone" => Event::Gone { at: now(), fault: a.fault, target },
                _ => Event::Drifted { at: now(), fault: a.fault, target, differences: o.differences.clone() },
            };
            tr.run.journal.append(&event)?;
        }
        let t = rec.t();
        rec.record(DrillEvent::StepRecovered {
            at: now(),
            t,
            team,
            step: step.name.clone(),
            time_to_recover_s: ((t - a.start) * 1000.0).round() / 1000.0,
            hints_before: a.hints,
            targets: outcomes,
        })?;
        return Ok(StepState::Recovered);
    }
    if a.duration.is_some_and(|d| t >= a.start + d.as_secs_f64()) {
        let why = format!("its duration ({}) ran out", super::human(a.duration.unwrap_or_default()));
        return revert_step(drill, i, tr, &a, store, rec, &why).await;
    }
    Ok(StepState::Active(a))
}

/// Release step `i`'s next hint to `team`, journaled with who released it and its cost.
fn release_hint(drill: &Drill, i: usize, team: &str, a: &mut Active, by: &str, rec: &Recorder) -> Result<()> {
    let step = &drill.steps[i];
    let text = step.hints[a.hints].text.clone();
    let (team, step, by, cost) = (team.to_owned(), step.name.clone(), by.to_owned(), Some(drill.scoring.hint));
    rec.record(DrillEvent::Hint { at: now(), t: rec.t(), team, step, text, by, cost })?;
    a.hints += 1;
    Ok(())
}

/// Revert active step `i` now (its time ran out, the instructor ended it).
async fn revert_step(
    drill: &Drill,
    i: usize,
    tr: &mut TeamRun,
    a: &Active,
    store: &Store,
    rec: &Recorder,
    why: &str,
) -> Result<StepState> {
    let after = executor::revert_open(&tr.c.aws, store, &tr.run, Restore::Force, Some(&[a.fault])).await?;
    reverted(drill, i, tr, rec, why, &after, a.fault)?;
    Ok(StepState::Reverted)
}

/// Journal that step `i` (fault `fault`) was reverted, and what `after` says is left.
fn reverted(
    drill: &Drill,
    i: usize,
    tr: &TeamRun,
    rec: &Recorder,
    why: &str,
    after: &RunRecord,
    fault: usize,
) -> Result<()> {
    rec.record(DrillEvent::StepReverted {
        at: now(),
        t: rec.t(),
        team: tr.c.team.name.clone(),
        step: drill.steps[i].name.clone(),
        why: why.to_owned(),
        not_restored: not_restored(after, &[fault]),
    })
}

/// What noticed a break that happened at `start`: an alarm of the list in ALARM in the
/// team's account, or a probe of the list failing since the break.
async fn detected(detect: &[Detect], c: &Connected, board: &ProbeBoard, start: f64) -> Option<String> {
    for d in detect {
        match d {
            Detect::Probe(p) => {
                if board.failing_since(&c.team.name, p).is_some_and(|since| since >= start) {
                    return Some(d.to_string());
                }
            }
            Detect::Alarm(name) => {
                let vars = c.team.template_vars(&c.aws.region);
                let name = super::template::render(name, &vars).unwrap_or_else(|_| name.clone());
                if (ProbeKind::Alarm { name, state: "ALARM".into() }).check(&c.aws).await.ok {
                    return Some(d.to_string());
                }
            }
        }
    }
    None
}

/// Start step `i` for the team: plan it, refuse a target an earlier step still has
/// broken, inject.
async fn start(
    drill: &Drill,
    i: usize,
    tr: &mut TeamRun,
    (guard, stack): (&Guardrails, bool),
    store: &Store,
    rec: &Recorder,
) -> Result<StepState> {
    let step = &drill.steps[i];
    let team = tr.c.team.name.clone();
    let attempt = async {
        let holds = (!stack).then_some(store);
        let plan = executor::plan(&tr.c.aws, guard, vec![tr.c.team.scoped(&step.fault)], holds).await?;
        // A target another step still has broken would be snapshotted broken.
        let open = store.read(&tr.run.id)?;
        // The same resource: the same id among the same service's names.
        let names = plan.faults[0].spec.action.info().target.namespace();
        let same = |o: &crate::store::record::TargetRecord, id: &str| {
            o.target.id == id && open.faults.get(o.fault).is_some_and(|f| f.action.info().target.namespace() == names)
        };
        let busy: Vec<String> = plan.faults[0]
            .targets
            .iter()
            .filter(|t| open.targets.iter().any(|o| same(o, &t.target.id) && o.phase.needs_revert()))
            .map(|t| t.target.id.clone())
            .collect();
        if !busy.is_empty() {
            return Err(Error::Refused(format!("{} still broken by an earlier step", busy.join(", "))));
        }
        let faults = executor::add_faults(&tr.c.aws, store, &tr.run, &plan, stack).await?;
        Ok::<_, Error>((faults[0], plan.faults[0].targets.iter().map(|t| t.target.id.clone()).collect::<Vec<_>>()))
    };
    let t = rec.t();
    match attempt.await {
        Ok((fault, targets)) => {
            let name = step.name.clone();
            rec.record(DrillEvent::StepStarted { at: now(), t, team: team.clone(), step: name, fault, targets })?;
            if step.fault.action.info().one_shot {
                rec.record(DrillEvent::StepDone { at: now(), t: rec.t(), team, step: step.name.clone() })?;
                return Ok(StepState::Done);
            }
            Ok(StepState::Active(Active {
                fault,
                start: t,
                hints: 0,
                broken: true,
                fixed: BTreeSet::new(),
                detected: false,
                duration: step.duration,
            }))
        }
        Err(e) => {
            rec.record(DrillEvent::StepFailed { at: now(), t, team, step: step.name.clone(), error: e.to_string() })?;
            Ok(StepState::Failed)
        }
    }
}

/// Look at every target of fault `fault` still needing a revert: is any still broken,
/// and how does each differ from its snapshot?
async fn look(tr: &TeamRun, store: &Store, fault: usize) -> Result<(bool, Vec<TargetOutcome>)> {
    let rec = store.read(&tr.run.id)?;
    let spec = &rec.faults[fault];
    let mut outcomes = Vec::new();
    let mut broken = false;
    for t in rec.targets.iter().filter(|t| t.fault == fault && t.phase.needs_revert()) {
        let o = with_fault!(&spec.action, |f| drift::observe(f, &tr.c.aws, &rec, t).await)?;
        broken |= o.live == drift::Live::Broken;
        outcomes.push(TargetOutcome {
            target: t.target.id.clone(),
            live: o.live.as_str().into(),
            differences: o.since_snapshot,
            regressions: o.regressions,
        });
    }
    Ok((broken, outcomes))
}

/// "target (phase)" for every target of `faults` that a revert left not restored.
fn not_restored(rec: &RunRecord, faults: &[usize]) -> Vec<String> {
    rec.targets
        .iter()
        .filter(|t| faults.contains(&t.fault) && t.phase.needs_revert())
        .map(|t| format!("{} ({})", t.target.id, t.phase.as_str()))
        .collect()
}

/// What a request from the board does, besides what it journals.
pub(super) enum Next {
    /// Nothing more for the loop to do.
    Continue,
    /// End the drill now, reverting as said.
    End(Ending, String),
}

/// Act on one request from the board: journal it (with what came of it), then do it.
pub(super) async fn handle(
    req: &Request,
    drill: &Drill,
    runs: &mut [TeamRun],
    store: &Store,
    rec: &Recorder,
) -> Result<Next> {
    let (by, team, step) = match req {
        Request::AskHint { team, step, .. } => (format!("team {team}"), Some(team.clone()), Some(step.clone())),
        Request::ReleaseHint { team, step, .. } => ("instructor".into(), Some(team.clone()), Some(step.clone())),
        Request::Extend { team, step, .. } | Request::EndStep { team, step, .. } => {
            ("instructor".into(), team.clone(), Some(step.clone()))
        }
        Request::Stop { .. } | Request::Abort { .. } => ("instructor".into(), None, None),
    };
    let control = |detail: String| DrillEvent::Control {
        at: now(),
        t: rec.t(),
        by: by.clone(),
        action: req.action().into(),
        team: team.clone(),
        step: step.clone(),
        detail,
    };
    match req {
        Request::Stop { .. } => {
            rec.record(control(String::new()))?;
            return Ok(Next::End(Ending::Everything, "stopped by the instructor".into()));
        }
        Request::Abort { .. } => {
            rec.record(control(String::new()))?;
            return Ok(Next::End(Ending::Exact, "aborted by the instructor".into()));
        }
        _ => {}
    }
    let Some(i) = step.as_ref().and_then(|s| drill.steps.iter().position(|x| &x.name == s)) else {
        rec.record(control(format!("no step {}: nothing done", step.clone().unwrap_or_default())))?;
        return Ok(Next::Continue);
    };
    let chosen: Vec<usize> =
        (0..runs.len()).filter(|&k| team.as_ref().is_none_or(|n| &runs[k].c.team.name == n)).collect();
    if chosen.is_empty() {
        rec.record(control(format!("no team {}: nothing done", team.clone().unwrap_or_default())))?;
        return Ok(Next::Continue);
    }
    let active: Vec<usize> = chosen.into_iter().filter(|&k| matches!(runs[k].steps[i], StepState::Active(_))).collect();
    if active.is_empty() {
        rec.record(control(format!("step {} is not running: nothing done", drill.steps[i].name)))?;
        return Ok(Next::Continue);
    }
    match req {
        Request::AskHint { .. } | Request::ReleaseHint { .. } => {
            let who = if matches!(req, Request::AskHint { .. }) { "team" } else { "instructor" };
            for k in active {
                let StepState::Active(mut a) = runs[k].steps[i].clone() else { continue };
                if a.hints >= drill.steps[i].hints.len() {
                    rec.record(control("no hint left".into()))?;
                    continue;
                }
                rec.record(control(format!("hint {} of {}", a.hints + 1, drill.steps[i].hints.len())))?;
                let name = runs[k].c.team.name.clone();
                release_hint(drill, i, &name, &mut a, who, rec)?;
                runs[k].steps[i] = StepState::Active(a);
            }
        }
        Request::Extend { seconds, .. } => {
            rec.record(control(format!("{seconds} s more")))?;
            for k in active {
                let StepState::Active(mut a) = runs[k].steps[i].clone() else { continue };
                // A step without a time limit gets one: from now.
                let base = a.duration.map_or(rec.t() - a.start, |d| d.as_secs_f64());
                let d = Duration::from_secs_f64((base + seconds).max(0.0));
                a.duration = Some(d);
                let (team, step) = (runs[k].c.team.name.clone(), drill.steps[i].name.clone());
                rec.record(DrillEvent::StepExtended {
                    at: now(),
                    t: rec.t(),
                    team,
                    step,
                    duration_s: d.as_secs_f64(),
                })?;
                runs[k].steps[i] = StepState::Active(a);
            }
        }
        Request::EndStep { .. } => {
            rec.record(control(String::new()))?;
            for k in active {
                let StepState::Active(a) = runs[k].steps[i].clone() else { continue };
                let tr = &mut runs[k];
                tr.steps[i] = revert_step(drill, i, tr, &a, store, rec, "ended by the instructor").await?;
            }
        }
        Request::Stop { .. } | Request::Abort { .. } => {}
    }
    Ok(Next::Continue)
}

/// At the drill's end: revert the team's steps as `ending` says, journal each open
/// step's revert, and return what is still not restored.
pub(super) async fn wind_down(
    drill: &Drill,
    tr: &mut TeamRun,
    store: &Store,
    rec: &Recorder,
    why: &str,
    ending: Ending,
) -> Result<Vec<String>> {
    let active: Vec<(usize, usize)> = tr
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            StepState::Active(a) => Some((i, a.fault)),
            _ => None,
        })
        .collect();
    let all: Vec<usize> = (0..store.read(&tr.run.id)?.faults.len()).collect();
    let (faults, restore) = match ending {
        // Also what the team fixed its own way, and anything a crash mid-step left.
        Ending::Everything => (all, Restore::Force),
        Ending::Exact => (all, Restore::Exact),
        Ending::Normal => {
            // The steps the teams recovered: their fixes stay (no force), and what the
            // faults created and the hold tags go, now that nothing depends on them.
            let open: Vec<usize> = active.iter().map(|(_, f)| *f).collect();
            let recovered: Vec<usize> = all.iter().copied().filter(|f| !open.contains(f)).collect();
            if !recovered.is_empty() {
                executor::revert_open(&tr.c.aws, store, &tr.run, Restore::Unchanged, Some(&recovered)).await?;
            }
            (open, Restore::Force)
        }
    };
    if faults.is_empty() {
        return Ok(Vec::new());
    }
    let after = executor::revert_open(&tr.c.aws, store, &tr.run, restore, Some(&faults)).await?;
    for (i, fault) in active {
        reverted(drill, i, tr, rec, why, &after, fault)?;
        tr.steps[i] = StepState::Reverted;
    }
    Ok(not_restored(&after, &faults).into_iter().map(|n| format!("{}: {n}", tr.c.team.name)).collect())
}
