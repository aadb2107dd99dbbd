//! `firedrill abort`: the kill switch. Reverts every open run, at once, restoring changed
//! targets too, and says what is still not restored.

use serde::Serialize;

use super::Global;
use crate::executor;
use crate::output::{RunView, emit};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Report {
    runs: Vec<RunView>,
    errors: Vec<String>,
    /// Targets still not restored, as "run: target (status)".
    not_restored: Vec<String>,
}

pub async fn exec(_args: Args, g: &Global) -> Result<()> {
    let aws = g.aws().await?;
    let store = g.store();
    let mut report = Report { runs: Vec::new(), errors: Vec::new(), not_restored: Vec::new() };
    for outcome in executor::abort(&aws, &store).await? {
        match outcome {
            Ok(rec) => {
                for t in rec.targets.iter().filter(|t| t.phase.needs_revert()) {
                    report.not_restored.push(format!("{}: {} ({})", rec.run_id, t.target.id, t.phase.as_str()));
                }
                report.runs.push(RunView::new(&rec));
            }
            Err((id, e)) => {
                report.not_restored.push(format!("{id}: {e}"));
                report.errors.push(format!("{id}: {e}"));
            }
        }
    }
    emit(g.output, &report, |r| {
        if r.runs.is_empty() && r.errors.is_empty() {
            return "nothing to abort: no run has anything injected\n".into();
        }
        let mut s: String = r.runs.iter().map(|v| format!("run {}  {}\n", v.run_id, v.status)).collect();
        for e in &r.errors {
            s += &format!("run {e}\n");
        }
        if r.not_restored.is_empty() {
            s += "everything restored\n";
        } else {
            s += "still not restored:\n";
            for n in &r.not_restored {
                s += &format!("  {n}\n");
            }
        }
        s
    });
    if report.not_restored.is_empty() {
        Ok(())
    } else {
        Err(Error::RevertIncomplete(format!("{} target(s) still not restored; see above", report.not_restored.len())))
    }
}
