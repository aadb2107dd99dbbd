//! `firedrill schedule check|run|tick FILE`: unattended drills and faults.
//!
//! `check` validates and previews; `run` is the long-running scheduler (stops on SIGTERM
//! or Ctrl-C, after reverting what it started); `tick` is the one-shot form for cron,
//! systemd timers and Kubernetes CronJobs.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::Global;
use crate::drill::view::Mode;
use crate::guardrails::Guardrails;
use crate::output::{Format, emit};
use crate::schedule::clock::SystemClock;
use crate::schedule::fire::AwsFirer;
use crate::schedule::scheduler::{Line, Scheduler};
use crate::schedule::{self, Schedule, ScheduleFile, Trigger, What};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Validate a schedule file and print each schedule's next fire times (changes nothing).
    Check {
        file: PathBuf,
        /// How many fire times (or windows) to print per schedule.
        #[arg(long, short = 'n', default_value_t = 5)]
        count: usize,
        /// Preview from this instant (RFC 3339, e.g. 2027-03-27T00:00:00Z) instead of now.
        #[arg(long)]
        from: Option<Timestamp>,
    },
    /// Run the scheduler until SIGTERM or Ctrl-C; then revert what it started and exit 0.
    Run {
        file: PathBuf,
        /// On a schedule's first tick, fire a slot missed by at most this long (e.g. 10m).
        #[arg(long, value_parser = catch_up, default_value = "1m")]
        catch_up: SignedDuration,
    },
    /// Revert scheduled faults whose time is up, fire what is due since the last tick, exit.
    Tick {
        file: PathBuf,
        /// On a schedule's first tick, fire a slot missed by at most this long (e.g. 10m).
        #[arg(long, value_parser = catch_up, default_value = "1m")]
        catch_up: SignedDuration,
    },
}

fn catch_up(s: &str) -> std::result::Result<SignedDuration, String> {
    schedule::parse::interval(s)
}

/// What `schedule check --output json` prints (its schema: `firedrill schema --command
/// schedule`).
pub(super) type Output = Preview;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    match args.command {
        Sub::Check { file, count, from } => check(&file, count, from.unwrap_or_else(Timestamp::now), g),
        Sub::Run { file, catch_up } => run(&file, catch_up, g).await,
        Sub::Tick { file, catch_up } => tick(&file, catch_up, g).await,
    }
}

fn load(path: &std::path::Path) -> Result<ScheduleFile> {
    schedule::load(path).map_err(Error::Input)
}

fn scheduler<'a>(
    file: &'a ScheduleFile,
    store: &'a crate::store::Store,
    g: &Global,
) -> Result<Scheduler<'a, AwsFirer<'a>>> {
    let guard = Guardrails::load(g.config.as_deref())?;
    let mode = if g.output == Format::Json { Mode::Json } else { Mode::Lines };
    Ok(Scheduler::new(file, store, AwsFirer::new(store, g.aws.clone(), guard, mode)))
}

async fn tick(path: &std::path::Path, catch_up: SignedDuration, g: &Global) -> Result<()> {
    let file = load(path)?;
    let store = g.store()?;
    let mut s = scheduler(&file, &store, g)?;
    s.catch_up = catch_up;
    let lines = s.tick(Timestamp::now()).await?;
    for l in &lines {
        print_line(g.output, l);
    }
    if lines.is_empty() && g.output == Format::Text {
        crate::outln!("nothing due");
    }
    let failed = lines.iter().filter(|l| l.decision == "failed").count();
    if failed > 0 {
        return Err(Error::Failed(format!("{failed} scheduled fire(s) failed; see the lines above")));
    }
    Ok(())
}

async fn run(path: &std::path::Path, catch_up: SignedDuration, g: &Global) -> Result<()> {
    let file = load(path)?;
    let store = g.store()?;
    let mut s = scheduler(&file, &store, g)?;
    s.catch_up = catch_up;
    tracing::info!(file = %path.display(), schedules = file.schedules.len(), "scheduler started");
    let stopped = s.run(&SystemClock, None, super::inject::interrupted(), |l| print_line(g.output, l)).await?;
    if let Some(signal) = stopped {
        tracing::info!("{signal}: scheduler stopped; what it started is reverted");
    }
    Ok(())
}

fn print_line(format: Format, l: &Line) {
    match format {
        Format::Json => crate::outln!("{}", serde_json::to_string(l).expect("line serializes")),
        Format::Text => {
            let slot = l.slot.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            crate::outln!(
                "{}  {:<24} {:<8} slot {slot}: {}",
                Timestamp::now().strftime("%FT%TZ"),
                l.schedule,
                l.decision,
                l.detail
            );
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Preview {
    file: String,
    from: Timestamp,
    schedules: Vec<SchedulePreview>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct SchedulePreview {
    name: String,
    what: &'static str,
    source: String,
    trigger: String,
    probability: f64,
    /// Cron slots, or windows (for random schedules), in order.
    next: Vec<Slot>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Slot {
    /// `fire` (a cron slot) or `window` (a random fire time somewhere inside it).
    kind: &'static str,
    at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<Timestamp>,
    local: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    blackout: Option<String>,
}

fn check(path: &std::path::Path, count: usize, from: Timestamp, g: &Global) -> Result<()> {
    let file = load(path)?;
    let preview = Preview {
        file: path.display().to_string(),
        from,
        schedules: file.schedules.iter().map(|s| preview(&file, s, from, count)).collect(),
    };
    emit(g.output, &preview, preview_text);
    Ok(())
}

fn preview(file: &ScheduleFile, s: &Schedule, from: Timestamp, count: usize) -> SchedulePreview {
    let local = |t: Timestamp| t.to_zoned(s.tz.clone()).strftime("%a %F %H:%M %Z").to_string();
    let blackout = |t: Timestamp| file.blackout(s, t).map(|b| b.describe());
    let next: Vec<Slot> = match &s.trigger {
        Trigger::Cron(c) => c
            .after(from, &s.tz)
            .take(count)
            .map(|at| Slot { kind: "fire", at, until: None, local: local(at), blackout: blackout(at) })
            .collect(),
        Trigger::Window(w) => w
            .from_day(from.to_zoned(s.tz.clone()).date())
            .filter(|(_, end)| *end > from)
            .take(count)
            .map(|(start, end)| {
                let text = format!("{} to {}", local(start), end.to_zoned(s.tz.clone()).strftime("%H:%M"));
                Slot { kind: "window", at: start, until: Some(end), local: text, blackout: blackout(start) }
            })
            .collect(),
    };
    let source = match &s.what {
        What::Fault { duration, .. } => format!("{} (broken {})", s.what.source(), crate::drill::human(*duration)),
        What::Drill(_) => s.what.source(),
    };
    SchedulePreview {
        name: s.name.clone(),
        what: s.what.kind(),
        source,
        trigger: s.describe(),
        probability: s.probability(),
        next,
    }
}

fn preview_text(p: &Preview) -> String {
    let mut out = format!("{}: valid, {} schedule(s); from {}\n", p.file, p.schedules.len(), p.from);
    for s in &p.schedules {
        out += &format!("\nschedule {}: {} {}\n  {}\n", s.name, s.what, s.source, s.trigger);
        for slot in &s.next {
            let kind = if slot.kind == "window" { format!("window (p={:.2})", s.probability) } else { "fire".into() };
            let skip = slot.blackout.as_ref().map(|b| format!("  SKIPPED: {b}")).unwrap_or_default();
            out += &format!("  {kind:<16} {}  [{}]{skip}\n", slot.local, slot.at);
        }
    }
    out
}
