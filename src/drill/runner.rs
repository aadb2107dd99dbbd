//! Running a drill: every team at once, on one clock.
//!
//! 1. Connect to each team's account and plan every step for every team (nothing
//!    changes): no targets, a guardrail, a wrong account refuses the whole drill.
//! 2. Steady state: the listed probes must pass for every team, or nothing starts.
//! 3. One run per team in the state store; probes start on their intervals.
//! 4. The loop, every `poll`: start steps that are due, release hints, look at every
//!    broken target (fixed by the team? probes passing?), auto-revert steps whose
//!    duration ran out, check the stop conditions.
//! 5. At the end (all steps done, `end:` reached, a stop condition, or Ctrl-C / SIGTERM):
//!    revert what is still broken, record, score.
//!
//! A second Ctrl-C exits at once; the runs' journals let `firedrill revert` finish.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{mpsc, watch};

use super::journal::{self, DrillEvent, StepInfo, TeamStart};
use super::probe::{Outcome, ProbeKind};
use super::steps::{self, StepState, TeamRun};
use super::view::View;
use super::{Drill, Team, control, score};
use crate::aws::{Aws, AwsArgs};
use crate::executor::{self, Plan};
use crate::guardrails::Guardrails;
use crate::store::journal::{DrillLink, now};
use crate::store::{Journal, Store};
use crate::{Error, Result};

/// A team, connected: its clients and account.
pub struct Connected {
    pub team: Team,
    pub aws: Aws,
    pub account: String,
}

/// Connect every team (profile or role, region, endpoint; defaults from the command line).
pub async fn connect(drill: &Drill, base: &AwsArgs) -> Result<Vec<Connected>> {
    let mut out: Vec<Connected> = Vec::new();
    for team in &drill.teams {
        let args = AwsArgs {
            profile: team.profile.clone().or_else(|| base.profile.clone()),
            region: team.region.clone().or_else(|| base.region.clone()),
            endpoint_url: team.endpoint_url.clone().or_else(|| base.endpoint_url.clone()),
            role_arn: None,
            external_id: None,
            concurrency: base.concurrency,
            api_share: base.api_share,
            deadline: base.deadline,
        };
        let role = team.role.clone().or_else(|| base.role());
        let mut aws = Aws::connect_as(&args, role.as_ref()).await?;
        if let Some(first) = out.first() {
            aws.share_limit(&first.aws);
        }
        let account = aws.account().await.map_err(|e| Error::Failed(format!("team {}: {e}", team.name)))?;
        out.push(Connected { team: team.clone(), aws, account });
    }
    Ok(out)
}

/// Plan every step for every team, changing nothing. Any refusal refuses the drill: a
/// target another open run of `holds` holds too, when given (not with `--stack`).
pub async fn preflight(
    drill: &Drill,
    teams: &[Connected],
    guard: &Guardrails,
    holds: Option<&Store>,
) -> Result<Vec<(String, String, Plan)>> {
    let mut plans = Vec::new();
    let mut refusals = Vec::new();
    for c in teams {
        for step in &drill.steps {
            match executor::plan(&c.aws, guard, vec![c.team.scoped(&step.fault)], holds).await {
                Ok(p) => plans.push((c.team.name.clone(), step.name.clone(), p)),
                Err(Error::Refused(why)) => refusals.push(format!("team {}, step {}: {why}", c.team.name, step.name)),
                Err(e) => return Err(e),
            }
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Refused(format!("{}\nnothing was changed", refusals.join("\n"))));
    }
    Ok(plans)
}

/// What `run` needs besides the drill and the teams.
pub struct RunOptions {
    /// The drill's id (the caller chooses it, so a board can wait for its journal).
    pub drill_id: String,
    /// Let steps break targets another open run already holds.
    pub stack: bool,
    /// The SHA-256 of each board token, by who holds it (see [`crate::board::Tokens`]).
    pub tokens: BTreeMap<String, String>,
}

/// How a drill ended.
#[derive(Debug)]
pub struct Finished {
    pub drill_id: String,
    pub outcome: String,
    pub interrupted: Option<&'static str>,
    pub stopped: Option<String>,
    pub not_restored: Vec<String>,
    pub scores: Vec<score::StepScore>,
}

/// Records drill events: the journal first (durably), then the view.
pub(super) struct Recorder {
    journal: std::sync::Arc<Journal>,
    view: Mutex<View>,
    t0: Instant,
}

impl Recorder {
    /// Seconds since the drill started.
    pub(super) fn t(&self) -> f64 {
        (self.t0.elapsed().as_millis() as f64) / 1000.0
    }

    /// Journal `e` durably, then show it.
    pub(super) fn record(&self, e: DrillEvent) -> Result<()> {
        self.journal.append(&e)?;
        self.view.lock().unwrap_or_else(|e| e.into_inner()).event(&e);
        Ok(())
    }

    fn redraw(&self) {
        self.view.lock().unwrap_or_else(|e| e.into_inner()).redraw(self.t());
    }
}

/// Latest probe results and how long each has been failing, per (team, probe).
#[derive(Default)]
pub(super) struct ProbeBoard {
    latest: BTreeMap<(String, String), Outcome>,
    failing_since: BTreeMap<(String, String), f64>,
}

impl ProbeBoard {
    fn update(&mut self, team: &str, probe: &str, t: f64, o: &Outcome) {
        let key = (team.to_owned(), probe.to_owned());
        if o.ok {
            self.failing_since.remove(&key);
        } else {
            self.failing_since.entry(key.clone()).or_insert(t);
        }
        self.latest.insert(key, o.clone());
    }

    /// Whether the probe's latest result for the team passed.
    pub(super) fn passing(&self, team: &str, probe: &str) -> bool {
        self.latest.get(&(team.to_owned(), probe.to_owned())).is_some_and(|o| o.ok)
    }

    /// Since when (seconds into the drill) the probe has been failing for the team.
    pub(super) fn failing_since(&self, team: &str, probe: &str) -> Option<f64> {
        self.failing_since.get(&(team.to_owned(), probe.to_owned())).copied()
    }
}

/// Run the drill (after [`connect`] and [`preflight`]). Never returns an error for a
/// drill that started: the outcome says how it ended. `stack` lets a step break a target
/// another open run holds (see [`executor::holds`]).
pub async fn run(
    drill: &Drill,
    teams: Vec<Connected>,
    guard: &Guardrails,
    store: &Store,
    view: View,
    opts: RunOptions,
) -> Result<Finished> {
    // Signals first: from here on, the first Ctrl-C or SIGTERM stops and reverts, the second exits.
    let (stop_tx, mut stop_rx) = watch::channel::<Option<&'static str>>(None);
    let signals = tokio::spawn(watch_signals(stop_tx));

    let RunOptions { drill_id, stack, tokens } = opts;
    let journal = journal::create(store, &drill_id)?;
    let rec = Recorder { journal, view: Mutex::new(view), t0: Instant::now() };
    let run_ids: Vec<String> = teams.iter().map(|_| Store::new_run_id()).collect();
    rec.record(started(drill, &drill_id, &teams, &run_ids, tokens))?;

    // 2. Steady state, before anything breaks.
    let mut board = ProbeBoard::default();
    if let Err(e) = steady_state(drill, &teams, &rec, &mut board).await {
        signals.abort();
        return Err(e);
    }

    // 3. One run per team; probes on their own clocks, their results on a channel.
    let mut runs = Vec::new();
    for (c, id) in teams.into_iter().zip(&run_ids) {
        let empty = Plan {
            account: c.account.clone(),
            region: c.aws.region.clone(),
            endpoint: c.aws.endpoint.clone(),
            access: c.aws.access.clone(),
            faults: vec![],
        };
        let link = DrillLink { drill_id: drill_id.clone(), team: c.team.name.clone() };
        let run = executor::start_run(store, id, &empty, Some(link), None)?;
        runs.push(TeamRun { c, run, steps: vec![StepState::Pending; drill.steps.len()] });
    }
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<(String, String, Outcome)>();
    let probe_tasks = start_probes(drill, &runs, &probe_tx)?;

    // 4. The loop.
    let mut stopped: Option<String> = None;
    let mut interrupted: Option<&'static str> = None;
    let mut inbox = control::Inbox::new(store, &drill_id);
    let mut ending = steps::Ending::normal(drill);
    let outcome = 'drill: loop {
        while let Ok((team, probe, outcome)) = probe_rx.try_recv() {
            let t = rec.t();
            board.update(&team, &probe, t, &outcome);
            rec.record(DrillEvent::Probe { at: now(), t, team, probe, outcome })?;
        }
        if let Some(signal) = *stop_rx.borrow() {
            interrupted = Some(signal);
            ending = steps::Ending::Everything;
            break format!("interrupted by {signal}");
        }
        for req in inbox.take()? {
            if let steps::Next::End(how, why) = steps::handle(&req, drill, &mut runs, store, &rec).await? {
                (ending, stopped) = (how, Some(why.clone()));
                break 'drill why;
            }
        }
        if let Some(reason) = stop_condition(drill, &runs, &board, rec.t()).await {
            stopped = Some(reason.clone());
            ending = steps::Ending::Everything;
            break format!("stopped: {reason}");
        }
        let tick = join_all(runs.iter_mut().map(|tr| steps::tick(drill, tr, (guard, stack), store, &rec, &board)));
        let results = tokio::select! {
            r = tick => r,
            _ = stop_rx.changed() => continue,
        };
        for r in results {
            r?;
        }
        restored_probes(drill, &runs, &rec, &mut board)?;
        if runs.iter().all(TeamRun::finished) {
            break "completed".to_owned();
        }
        if drill.end.is_some_and(|end| rec.t() >= end.as_secs_f64()) {
            break format!("the drill's end ({}) was reached", super::human(drill.end.unwrap_or_default()));
        }
        rec.redraw();
        tokio::select! {
            _ = tokio::time::sleep(drill.poll) => {}
            _ = stop_rx.changed() => {}
        }
    };
    for t in probe_tasks {
        t.abort();
    }

    // 5. Revert what is still broken. On a stop or a signal, everything the drill changed
    // (the team's own fixes too, with force); at a normal end, the steps nobody fixed, or
    // with `reset: exact` every target back to its snapshot.
    let everything = stopped.is_some() || interrupted.is_some();
    if everything {
        rec.record(DrillEvent::Stopping { at: now(), t: rec.t(), reason: outcome.clone() })?;
    }
    let why = if everything { outcome.clone() } else { "the drill ended".to_owned() };
    let reverts = join_all(runs.iter_mut().map(|tr| steps::wind_down(drill, tr, store, &rec, &why, ending))).await;
    let mut not_restored = Vec::new();
    for r in reverts {
        not_restored.extend(r?);
    }
    rec.record(DrillEvent::Ended { at: now(), t: rec.t(), outcome: outcome.clone() })?;
    signals.abort();
    let events = journal::read(store, &drill_id)?;
    Ok(Finished { drill_id, outcome, interrupted, stopped, not_restored, scores: score::steps(&events) })
}

/// The drill's first journal line: who started what, each team's run, account and
/// region, each step, and the scoring rule.
fn started(
    drill: &Drill,
    drill_id: &str,
    teams: &[Connected],
    run_ids: &[String],
    tokens: BTreeMap<String, String>,
) -> DrillEvent {
    DrillEvent::Started {
        at: now(),
        drill_id: drill_id.to_owned(),
        name: drill.name.clone(),
        file: drill.path.display().to_string(),
        by: crate::store::journal::who(),
        command: crate::store::journal::command_line(),
        teams: teams
            .iter()
            .zip(run_ids)
            .map(|(c, id)| TeamStart {
                name: c.team.name.clone(),
                run_id: id.clone(),
                account: c.account.clone(),
                region: c.aws.region.clone(),
            })
            .collect(),
        steps: drill
            .steps
            .iter()
            .map(|s| StepInfo {
                name: s.name.clone(),
                action: s.fault.action.info().name.into(),
                start: s.start.to_string(),
                duration_s: s.duration.map(|d| d.as_secs_f64()),
                runbook: s.fault.runbook.clone(),
                source: s.fault.source.display().to_string(),
                runbook_link: s.fault.runbook.as_deref().map(|r| super::runbook_link(drill, &s.fault.source, r)),
                detect: s.detect.iter().map(ToString::to_string).collect(),
                hints: s.hints.len(),
            })
            .collect(),
        scoring: score::rule(&drill.scoring),
        scores: drill.scoring,
        reset: drill.reset,
        tokens,
    }
}

/// Check the steady-state probes for every team, recording each result. If one fails,
/// the drill is refused (and ended in its journal) before anything breaks.
async fn steady_state(drill: &Drill, teams: &[Connected], rec: &Recorder, board: &mut ProbeBoard) -> Result<()> {
    let mut unsteady = Vec::new();
    for c in teams {
        for name in &drill.steady_state {
            let outcome = check(drill, c, name).await;
            board.update(&c.team.name, name, rec.t(), &outcome);
            if !outcome.ok {
                unsteady.push(format!("team {}: probe {name}: {}", c.team.name, outcome.detail));
            }
            let (team, probe, t) = (c.team.name.clone(), name.clone(), rec.t());
            rec.record(DrillEvent::Probe { at: now(), t, team, probe, outcome })?;
        }
    }
    if unsteady.is_empty() {
        return Ok(());
    }
    let reason = format!("steady state does not hold: {}", unsteady.join("; "));
    rec.record(DrillEvent::Refused { at: now(), reason: reason.clone() })?;
    rec.record(DrillEvent::Ended { at: now(), t: rec.t(), outcome: "refused".into() })?;
    Err(Error::Refused(format!("{reason}; nothing was injected")))
}

/// One task per team and probe (but `restored` ones, which the loop answers), each
/// checking on its own interval and sending (team, probe, outcome) to `tx`.
fn start_probes(
    drill: &Drill,
    runs: &[TeamRun],
    tx: &mpsc::UnboundedSender<(String, String, Outcome)>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for tr in runs {
        let vars = tr.c.team.template_vars(&tr.c.aws.region);
        for p in drill.probes.values().filter(|p| !matches!(p.kind, ProbeKind::Restored { .. })) {
            let kind = p.kind.render(&vars).map_err(Error::Usage)?;
            let (aws, tx, every) = (tr.c.aws.clone(), tx.clone(), Duration::from_secs_f64(p.every_s));
            let (team, name) = (tr.c.team.name.clone(), p.name.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let o = kind.check(&aws).await;
                    if tx.send((team.clone(), name.clone(), o)).is_err() {
                        return;
                    }
                }
            }));
        }
    }
    Ok(tasks)
}

/// Answer the `restored` probes from what the loop saw of each step, recording an
/// answer when it changes.
fn restored_probes(drill: &Drill, runs: &[TeamRun], rec: &Recorder, board: &mut ProbeBoard) -> Result<()> {
    for tr in runs {
        for p in drill.probes.values() {
            if let ProbeKind::Restored { step } = &p.kind {
                let o = tr.restored(drill, step);
                let (team, probe, t) = (tr.c.team.name.clone(), p.name.clone(), rec.t());
                if board.latest.get(&(team.clone(), probe.clone())) != Some(&o) {
                    let (team, probe, outcome) = (team.clone(), probe.clone(), o.clone());
                    rec.record(DrillEvent::Probe { at: now(), t, team, probe, outcome })?;
                }
                board.update(&team, &probe, t, &o);
            }
        }
    }
    Ok(())
}

async fn watch_signals(stop: watch::Sender<Option<&'static str>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return;
    };
    let first = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    crate::errln!(
        "\nfiredrill: {first}: stopping the drill and reverting everything it injected (Ctrl-C again to exit at once)"
    );
    let _ = stop.send(Some(first));
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    crate::errln!("firedrill: second signal: exiting now; finish with `firedrill abort` or `firedrill revert RUN`");
    std::process::exit(130);
}

async fn check(drill: &Drill, c: &Connected, name: &str) -> Outcome {
    let Some(p) = drill.probes.get(name) else {
        return Outcome { ok: false, detail: format!("no probe {name}") };
    };
    if let ProbeKind::Restored { step } = &p.kind {
        return Outcome { ok: true, detail: format!("step {step} not started") };
    }
    match p.kind.render(&c.team.template_vars(&c.aws.region)) {
        Ok(kind) => kind.check(&c.aws).await,
        Err(e) => Outcome { ok: false, detail: e },
    }
}

async fn stop_condition(drill: &Drill, runs: &[TeamRun], board: &ProbeBoard, t: f64) -> Option<String> {
    for cond in &drill.stop_when {
        match cond {
            super::StopCondition::Probe { probe, failing_for } => {
                for tr in runs {
                    let key = (tr.c.team.name.clone(), probe.clone());
                    if let Some(since) = board.failing_since.get(&key)
                        && t - since >= failing_for.as_secs_f64()
                    {
                        let detail = board.latest.get(&key).map(|o| o.detail.clone()).unwrap_or_default();
                        return Some(format!("team {}: {cond} ({detail})", tr.c.team.name));
                    }
                }
            }
            super::StopCondition::Alarm { alarm } => {
                let looks = join_all(runs.iter().map(|tr| async move {
                    let kind = ProbeKind::Alarm { name: alarm.clone(), state: "ALARM".into() };
                    (tr.c.team.name.clone(), kind.check(&tr.c.aws).await)
                }))
                .await;
                if let Some((team, o)) = looks.into_iter().find(|(_, o)| o.ok) {
                    return Some(format!("team {team}: {cond} ({})", o.detail));
                }
            }
        }
    }
    None
}
