//! `firedrill inject FILE... --yes`: snapshot, break, verify.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use super::Global;
use crate::executor;
use crate::output::{RunView, emit};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fault files (or directories of them); together they form one run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Break targets another open run already holds, on top of its break (refused
    /// otherwise). Stacked runs are reverted newest first, each from its own snapshot.
    #[arg(long)]
    pub stack: bool,
}

/// What `--output json` prints (its schema: `firedrill schema --command inject`): the
/// run, as `status` shows it.
pub(super) type Output = RunView;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let (aws, plan) = super::plan::make(&args.files, g, args.stack).await?;
    if !args.yes {
        confirm(&plan)?;
    }
    let store = g.store()?;
    let run_id = crate::store::Store::new_run_id();
    // Ctrl-C or SIGTERM stops the injection and rolls back what this run changed.
    let opts = executor::InjectOptions { stack: args.stack, schedule: None };
    let report = tokio::select! {
        r = executor::inject(&aws, &store, &plan, &run_id, &opts) => r?,
        signal = interrupted() => {
            crate::errln!("firedrill: {signal}: stopping, and rolling back run {run_id} (again to exit at once)");
            executor::stop::exit_on_next_signal();
            let opts = executor::RevertOptions { force: true, ..Default::default() };
            let how = match executor::revert(&aws, &store, &run_id, &opts).await {
                Ok(rec) if !rec.needs_revert() => "everything it changed was reverted".to_owned(),
                Ok(_) => format!("the rollback did not finish: run `firedrill revert {run_id}`"),
                Err(e) => format!("the rollback failed ({e}): run `firedrill revert {run_id}`"),
            };
            return Err(Error::Interrupted(format!("run {run_id} interrupted by {signal}; {how}")));
        }
    };
    let out: Output = RunView::new(&report.record);
    emit(g.output, &out, |r| format!("{}\ninjected. revert with: firedrill revert {}\n", r.text(), r.run_id));
    Ok(())
}

/// The first of SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn confirm(plan: &executor::Plan) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Refused(
            "inject changes AWS resources: pass --yes to confirm (stdin is not a terminal)".into(),
        ));
    }
    crate::errln!("{}", super::plan::text(plan));
    let n: usize = plan.faults.iter().map(|f| f.targets.len()).sum();
    crate::output::err(&format!(
        "Break {n} target(s) in account {} ({})? Type `yes` to continue: ",
        plan.account, plan.region
    ));
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).map_err(|e| Error::Usage(format!("failed to read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(Error::Refused("not confirmed; nothing was changed".into()));
    }
    Ok(())
}
