//! The command line: one module per command, each with its clap `Args` and an `exec`
//! that calls the library and prints the result. Global options live here.

mod abort;
mod actions;
mod board;
mod completions;
mod diff;
mod inject;
mod man;
mod plan;
mod policy;
mod report;
mod revert;
mod run;
mod runs;
mod sandbox;
mod schedule;
mod schema;
mod show;
mod state;
mod status;
mod sweep;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::aws::{Aws, AwsArgs};
use crate::fault::{self, FaultSpec};
use crate::output::Format;
use crate::store::{StateArgs, Store};
use crate::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "firedrill",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("FIREDRILL_COMMIT"), ")"),
    about = "Chaos and incident drills (game days) on AWS: break, snapshot, revert exactly."
)]
/// The command line.
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    /// The store, once opened: a command that asks twice (plan, then inject) connects
    /// and checks an S3 store once.
    #[arg(skip)]
    opened: std::sync::OnceLock<Store>,
    /// Guardrails file (default: ./firedrill.yaml when it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More logging (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check fault files; every problem is reported as path:line:col.
    Validate(validate::Args),
    /// List the fault actions, their params and how they revert.
    Actions(actions::Args),
    /// Resolve targets and show the exact changes; changes nothing.
    Plan(plan::Args),
    /// Snapshot the targets, break them, verify; prints the run id.
    Inject(inject::Args),
    /// Run a drill: faults on a timeline against every team, with probes, hints and scores.
    Run(run::Args),
    /// A drill's report: scores, timeline, what the teams changed, probe history.
    Report(report::Args),
    /// Serve a drill's live scoreboard (a running drill, or one that ended) from the store.
    Board(board::Args),
    /// Show a run per fault and target (default: the newest run with injected faults, else the newest).
    Status(status::Args),
    /// List runs in the state directory, newest first.
    Runs(runs::Args),
    /// Field-level differences: pre-break vs now, and post-break vs now.
    Diff(diff::Args),
    /// A run's timeline from its journal: who ran what, when, every state change.
    Show(show::Args),
    /// Restore every target of a run from its snapshot, and verify.
    Revert(revert::Args),
    /// The kill switch: revert every open run at once, changed targets too.
    Abort(abort::Args),
    /// Find (and with --delete remove) what firedrill created that no open run owns.
    Sweep(sweep::Args),
    /// Create or delete the practice stack (for drills, demos and tests).
    Sandbox(sandbox::Args),
    /// Scheduled drills and faults: check a schedule file, run the scheduler, or tick once.
    Schedule(schedule::Args),
    /// The state store itself: move it between a directory and S3.
    State(state::Args),
    /// Print the least-privilege IAM policy for these faults (or a drill), as JSON.
    Policy(policy::Args),
    /// Print the JSON Schema of fault, drill, schedule or firedrill.yaml files (for editors).
    Schema(schema::Args),
    /// Print a shell's completion script.
    Completions(completions::Args),
    /// Print the manual page, or write one per command into a directory.
    Man(man::Args),
}

impl Global {
    /// The state store the options name (`--state`, else `state:` in the guardrails
    /// file, else `.firedrill`).
    pub fn store(&self) -> Result<Store> {
        if let Some(store) = self.opened.get() {
            return Ok(store.clone());
        }
        let configured = match &self.state.state {
            Some(_) => None,
            None => crate::guardrails::Guardrails::load(self.config.as_deref())?.state,
        };
        let store = self.state.open(&self.aws, configured.as_deref())?;
        Ok(self.opened.get_or_init(|| store).clone())
    }

    /// Clients for the account and region the options name.
    pub async fn aws(&self) -> Result<Aws> {
        Aws::connect(&self.aws).await
    }

    /// Clients for acting on run `rec`: its own region, endpoint and recorded
    /// credentials, unless `--profile` / `--role-arn` override them.
    pub async fn reach(&self, rec: &crate::store::RunRecord) -> Result<Aws> {
        crate::aws::access::reach(&self.aws, rec.place(), None).await
    }
}

/// Print what reading or reverting a run warned of, on stderr.
pub fn warn_all(warnings: &[String]) {
    for w in warnings {
        crate::errln!("warning: {w}");
    }
}

/// Load fault files, or fail with every problem found in them.
pub fn load_faults(paths: &[PathBuf]) -> Result<Vec<FaultSpec>> {
    let (faults, problems) = fault::load_paths(paths);
    problems.into_result(faults)
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    crate::aws::name_profile(cli.global.aws.profile.as_deref());
    // The scheduler runs unattended: its decisions are logged at info by default.
    init_tracing(cli.global.verbose, matches!(cli.command, Command::Schedule(_)));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::errln!("error: failed to start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => 0,
        Err(e) => {
            match &e {
                // Diagnostics already read "path:line:col: error: ...".
                Error::Input(d) => crate::errln!("{d}"),
                e => crate::errln!("error: {e}"),
            }
            e.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Validate(a) => validate::exec(a, g),
        Command::Actions(a) => actions::exec(a, g),
        Command::Plan(a) => plan::exec(a, g).await,
        Command::Inject(a) => inject::exec(a, g).await,
        Command::Run(a) => run::exec(a, g).await,
        Command::Report(a) => report::exec(a, g),
        Command::Board(a) => board::exec(a, g).await,
        Command::Status(a) => status::exec(a, g).await,
        Command::Diff(a) => diff::exec(a, g).await,
        Command::Show(a) => show::exec(a, g),
        Command::Runs(a) => runs::exec(a, g),
        Command::Revert(a) => revert::exec(a, g).await,
        Command::Sandbox(a) => sandbox::exec(a, g).await,
        Command::Abort(a) => abort::exec(a, g).await,
        Command::Sweep(a) => sweep::exec(a, g).await,
        Command::State(a) => state::exec(a, g),
        Command::Schedule(a) => schedule::exec(a, g).await,
        Command::Policy(a) => policy::exec(a, g),
        Command::Schema(a) => schema::exec(a, g),
        Command::Completions(a) => completions::exec(a, g),
        Command::Man(a) => man::exec(a, g),
    }
}

fn init_tracing(verbose: u8, info: bool) {
    use tracing_subscriber::EnvFilter;
    // Without -v, only firedrill's own warnings: the SDK's (a credential provider that
    // failed, with its error's Debug dump) are what firedrill's one-line error already
    // says; -v shows them, -vv everything.
    let default = match verbose {
        0 if info => "firedrill=info,off",
        0 => "firedrill=warn,off",
        1 => "firedrill=debug,warn",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A log line that cannot be written (stderr closed) is dropped; the subscriber would
    // otherwise report it with `eprintln!`, which panics on a closed stderr.
    // Colour only on a terminal: logs piped to a file or the journal stay plain text;
    // and never with NO_COLOR set (to anything but empty: no-color.org).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .log_internal_errors(false)
        .init();
}
