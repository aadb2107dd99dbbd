//! `firedrill run DRILL.yaml`: a game day. Validates the drill, plans every step for
//! every team (refusing before any change if something does not resolve), checks the
//! steady state, then runs the timeline with a live view; prints the scores at the end.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use serde::Serialize;

use super::Global;
use crate::drill::view::{Mode, View};
use crate::drill::{self, runner, score};
use crate::guardrails::Guardrails;
use crate::output::{Format, emit};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The drill file.
    pub drill: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Resolve every team's targets for every step and print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Let steps break targets another open run already holds, on top of its break
    /// (refused otherwise). Stacked runs are reverted newest first.
    #[arg(long)]
    pub stack: bool,
    /// Serve the live scoreboard on this address while the drill runs (the room at `/`,
    /// each team's page and the instructor's with their tokens, printed at start).
    /// `127.0.0.1:8080` for this machine; `0.0.0.0:8080` for a room's network.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<std::net::SocketAddr>,
    /// Write the board's tokens here (one line each: who, token, page), readable by you
    /// only, to hand them out; `firedrill board` in another process accepts them too.
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
}

#[derive(Serialize)]
struct DryRun<'a> {
    drill: &'a drill::Drill,
    plans: Vec<TeamStepPlan<'a>>,
}

#[derive(Serialize)]
struct TeamStepPlan<'a> {
    team: &'a str,
    step: &'a str,
    plan: &'a crate::executor::Plan,
}

#[derive(Serialize)]
struct Summary<'a> {
    drill_id: &'a str,
    outcome: &'a str,
    rule: &'a str,
    scores: &'a [score::StepScore],
    team_scores: Vec<score::TeamScore>,
    not_restored: &'a [String],
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let drill = drill::load(&args.drill).map_err(Error::Input)?;
    let guard = Guardrails::load(g.config.as_deref())?;
    let teams = runner::connect(&drill, &g.aws).await?;
    let store = g.store()?;
    let plans = runner::preflight(&drill, &teams, &guard, (!args.stack).then_some(&store)).await?;
    if args.dry_run {
        let out = DryRun {
            drill: &drill,
            plans: plans.iter().map(|(team, step, plan)| TeamStepPlan { team, step, plan }).collect(),
        };
        emit(g.output, &out, dry_run_text);
        return Ok(());
    }
    if !args.yes {
        confirm(&drill, &teams)?;
    }
    let mode = match g.output {
        Format::Json => Mode::Json,
        Format::Text if std::io::stdout().is_terminal() => Mode::Live,
        Format::Text => Mode::Lines,
    };
    let drill_id = crate::store::Store::new_run_id();
    let tokens = crate::board::Tokens::generate(drill.teams.iter().map(|t| t.name.as_str()))?;
    let addr = match args.serve {
        Some(listen) => Some(crate::board::serve(store.clone(), drill_id.clone(), listen).await?),
        None => None,
    };
    if let Some(file) = &args.tokens_file {
        write_tokens(file, &tokens, addr)?;
    }
    if let Some(addr) = addr {
        crate::errln!("{}", board_links(addr, &tokens));
    }
    let opts = runner::RunOptions { drill_id, stack: args.stack, tokens: tokens.hashes() };
    let fin = runner::run(&drill, teams, &guard, &store, View::new(mode, &drill), opts).await?;

    let rule = score::rule(&drill.scoring);
    let summary = Summary {
        drill_id: &fin.drill_id,
        outcome: &fin.outcome,
        rule: &rule,
        scores: &fin.scores,
        team_scores: score::teams(&fin.scores),
        not_restored: &fin.not_restored,
    };
    match g.output {
        // The event stream already went to stdout; the summary is its last line.
        Format::Json => crate::outln!("{}", serde_json::to_string(&summary).expect("summary serializes")),
        Format::Text => crate::outln!("{}", summary_text(&summary)),
    }
    if let Some(signal) = fin.interrupted {
        return Err(Error::Interrupted(format!(
            "drill {} interrupted by {signal}; everything it injected was reverted",
            fin.drill_id
        )));
    }
    if !fin.not_restored.is_empty() {
        return Err(Error::RevertIncomplete(format!(
            "{} target(s) not restored: see `firedrill status RUN`, then `firedrill revert RUN`",
            fin.not_restored.len()
        )));
    }
    if let Some(reason) = fin.stopped {
        return Err(Error::Failed(format!("drill {} stopped early: {reason}; everything was reverted", fin.drill_id)));
    }
    Ok(())
}

/// The board's pages, with each one's token.
fn board_links(addr: std::net::SocketAddr, tokens: &crate::board::Tokens) -> String {
    let mut out = format!("board: the room at http://{addr}/");
    for (who, token) in &tokens.0 {
        let page = if who == crate::board::tokens::INSTRUCTOR { "instructor" } else { "team" };
        out += &format!("\n  {who}: http://{addr}/{page}?token={token}");
    }
    out
}

/// Write the tokens where `--tokens-file` says, readable by the owner only.
fn write_tokens(
    file: &std::path::Path,
    tokens: &crate::board::Tokens,
    serve: Option<std::net::SocketAddr>,
) -> Result<()> {
    let base = serve.map(|a| format!("http://{a}")).unwrap_or_else(|| "http://ADDR".into());
    // A bare file name is in the working directory (whose entry the write fsyncs).
    let file = if file.parent().is_some_and(|p| p.as_os_str().is_empty()) {
        &std::path::Path::new(".").join(file)
    } else {
        file
    };
    let mut text = String::new();
    for (who, token) in &tokens.0 {
        let page = if who == crate::board::tokens::INSTRUCTOR { "instructor" } else { "team" };
        text += &format!("{who}\t{token}\t{base}/{page}?token={token}\n");
    }
    crate::store::write_durably(file, text.as_bytes())
}

fn summary_text(s: &Summary) -> String {
    let mut out = format!("\ndrill {}: {}\n\n", s.drill_id, s.outcome);
    out +=
        &format!("{:<12} {:<28} {:<13} {:>8} {:>6} {:>6}\n", "team", "step", "recovered by", "time", "hints", "points");
    for x in s.scores {
        let time = x.time_to_recover_s.map(drill::view::mmss).unwrap_or_else(|| "-".into());
        out += &format!(
            "{:<12} {:<28} {:<13} {:>8} {:>6} {:>6}\n",
            x.team, x.step, x.recovered_by, time, x.hints_before_recovery, x.points
        );
    }
    out += "\n";
    for t in &s.team_scores {
        out += &format!("{:<12} {} points, {} of {} recovered\n", t.team, t.points, t.recovered, t.steps);
    }
    out += &format!("\nscoring: {}\n", s.rule);
    for n in s.not_restored {
        out += &format!("NOT restored: {n}\n");
    }
    out += &format!("report: firedrill report {} --format html > report.html\n", s.drill_id);
    out
}

fn dry_run_text(d: &DryRun) -> String {
    let mut s = format!("drill {} ({}): dry run, nothing changed\n", d.drill.name, d.drill.path.display());
    for step in &d.drill.steps {
        let dur = step.duration.map(|x| format!(", auto-revert after {}", drill::human(x))).unwrap_or_default();
        s += &format!("\nstep {}: {} ({}){dur}\n", step.name, step.start, step.fault.action.info().name);
        for p in d.plans.iter().filter(|p| p.step == step.name) {
            s += &format!("  team {}:\n", p.team);
            for line in super::plan::text(p.plan).lines() {
                s += &format!("    {line}\n");
            }
        }
    }
    s
}

fn confirm(drill: &drill::Drill, teams: &[runner::Connected]) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Refused(
            "run changes AWS resources: pass --yes to confirm (stdin is not a terminal)".into(),
        ));
    }
    let who: Vec<String> =
        teams.iter().map(|c| format!("{} (account {}, {})", c.team.name, c.account, c.aws.region)).collect();
    crate::output::err(&format!(
        "Run drill {} ({} step(s)) against {}? Type `yes` to continue: ",
        drill.name,
        drill.steps.len(),
        who.join(", ")
    ));
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).map_err(|e| Error::Usage(format!("failed to read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(Error::Refused("not confirmed; nothing was changed".into()));
    }
    Ok(())
}
