//! `firedrill runs`: runs in the state directory, newest first.

use serde::Serialize;

use super::Global;
use crate::Result;
use crate::output::emit;
use crate::store::Entry;

#[derive(Debug, clap::Args)]
pub struct Args {}

/// What `--output json` prints (its schema: `firedrill schema --command runs`).
pub(super) type Output = Vec<Row>;

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Row {
    run_id: String,
    status: &'static str,
    needs_revert: bool,
    started_at: String,
    account: String,
    region: String,
    faults: Vec<String>,
    targets: usize,
    /// Why the run directory could not be read, for a damaged one (`status: damaged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    damaged: Option<String>,
}

pub fn exec(_args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let mut rows = Vec::new();
    for entry in store.entries()? {
        rows.push(match entry {
            Entry::Run(rec) => Row {
                status: rec.status(),
                needs_revert: rec.needs_revert(),
                targets: rec.targets.len(),
                faults: rec.faults.iter().map(|f| f.name.clone()).collect(),
                run_id: rec.run_id,
                started_at: rec.started_at,
                account: rec.account,
                region: rec.region,
                damaged: None,
            },
            // Unknown: it may hold broken targets; its snapshots are there to read.
            Entry::Damaged { id, reason } => Row {
                run_id: id,
                status: "damaged",
                needs_revert: true,
                started_at: String::new(),
                account: "?".into(),
                region: "?".into(),
                faults: Vec::new(),
                targets: 0,
                damaged: Some(reason),
            },
        });
    }
    emit(g.output, &rows, |rows| {
        if rows.is_empty() {
            return format!("no runs in {}\n", store.root().display());
        }
        let mut s =
            format!("{:<25} {:<14} {:<12} {:<10} {:>7}  FAULTS\n", "RUN", "STATUS", "ACCOUNT", "REGION", "TARGETS");
        for r in rows {
            s += &format!(
                "{:<25} {:<14} {:<12} {:<10} {:>7}  {}\n",
                r.run_id,
                r.status,
                r.account,
                r.region,
                r.targets,
                r.faults.join(", ")
            );
            if let Some(why) = &r.damaged {
                s += &format!("    {why}\n");
            }
        }
        s
    });
    Ok(())
}
