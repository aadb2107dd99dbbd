//! `firedrill abort`: the kill switch. Reverts every open run at once, each in its own
//! account and region through the credentials it recorded, restoring changed targets
//! too; stops a firedrill process that is still injecting or running a drill first; and
//! says what is still not restored. "everything restored" is printed only when every
//! target was seen restored in its own account.

use std::time::Duration;

use serde::Serialize;

use super::Global;
use crate::executor::{self, stop};
use crate::output::{RunView, emit};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How long to wait for a firedrill process that holds a run (an inject, a drill) to
    /// let go of it after abort told it to stop.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse_offset)]
    pub wait: Duration,
}

/// What `--output json` prints (its schema: `firedrill schema --command abort`).
pub(super) type Output = Report;

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Report {
    runs: Vec<RunView>,
    errors: Vec<String>,
    /// Targets still not restored, as "run: target (status)".
    not_restored: Vec<String>,
    /// Run directories that could not be read, as "run: why".
    damaged: Vec<String>,
    /// Firedrill processes told to stop first.
    stopped: Vec<String>,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    stop::on_signals("abort");
    let aborted = executor::abort(&g.aws, &store, args.wait).await?;
    let mut report = Report {
        runs: Vec::new(),
        errors: Vec::new(),
        not_restored: Vec::new(),
        damaged: aborted.damaged.iter().map(|(id, why)| format!("{id}: {why}")).collect(),
        stopped: aborted.stopped,
    };
    for (id, outcome) in aborted.runs {
        match outcome {
            Ok(rec) => {
                super::warn_all(&rec.warnings);
                for t in rec.targets.iter().filter(|t| t.phase.needs_revert()) {
                    report.not_restored.push(format!("{}: {} ({})", rec.run_id, t.target.id, t.phase.as_str()));
                }
                report.runs.push(RunView::new(&rec));
            }
            Err(e) => {
                report.not_restored.push(format!("{id}: not reverted: {e}"));
                report.errors.push(format!("{id}: {e}"));
            }
        }
    }
    emit(g.output, &report, |r| {
        if r.runs.is_empty() && r.errors.is_empty() && r.damaged.is_empty() {
            return "nothing to abort: no run has anything injected\n".into();
        }
        let mut s: String = r.stopped.iter().map(|p| format!("told {p} to stop\n")).collect();
        s += &r
            .runs
            .iter()
            .map(|v| format!("run {}  {}  (account {}, {})\n", v.run_id, v.status, v.account, v.region))
            .collect::<String>();
        for d in &r.damaged {
            s += &format!(
                "DAMAGED run directory {d}\n  (not read, not reverted: its snapshots are there for a person to restore from)\n"
            );
        }
        if r.not_restored.is_empty() && r.damaged.is_empty() {
            s += "everything restored\n";
        } else if !r.not_restored.is_empty() {
            s += "still not restored:\n";
            for n in &r.not_restored {
                s += &format!("  {n}\n");
            }
        }
        s
    });
    if let Some(signal) = stop::requested() {
        return Err(Error::Interrupted(format!(
            "abort stopped by {signal}: the calls in flight finished and were journaled; run `firedrill abort` again to finish"
        )));
    }
    if report.not_restored.is_empty() && report.damaged.is_empty() {
        return Ok(());
    }
    let mut why = Vec::new();
    if !report.not_restored.is_empty() {
        why.push(format!("{} still not restored", report.not_restored.len()));
    }
    if !report.damaged.is_empty() {
        why.push(format!(
            "{} damaged run director{} not read",
            report.damaged.len(),
            if report.damaged.len() == 1 { "y" } else { "ies" }
        ));
    }
    Err(Error::RevertIncomplete(format!("{}; see above", why.join(", "))))
}
