//! `firedrill runs`: runs in the state directory, newest first.

use serde::Serialize;

use super::Global;
use crate::Result;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct Row {
    run_id: String,
    status: &'static str,
    needs_revert: bool,
    started_at: String,
    account: String,
    region: String,
    faults: Vec<String>,
    targets: usize,
}

pub fn exec(_args: Args, g: &Global) -> Result<()> {
    let store = g.store();
    let mut rows = Vec::new();
    for id in store.run_ids()? {
        let rec = store.read(&id)?;
        rows.push(Row {
            status: rec.status(),
            needs_revert: rec.needs_revert(),
            targets: rec.targets.len(),
            faults: rec.faults.iter().map(|f| f.name.clone()).collect(),
            run_id: rec.run_id,
            started_at: rec.started_at,
            account: rec.account,
            region: rec.region,
        });
    }
    emit(g.output, &rows, |rows| {
        if rows.is_empty() {
            return format!("no runs in {}\n", g.state.display());
        }
        let mut s =
            format!("{:<24} {:<14} {:<12} {:<10} {:>7}  FAULTS\n", "RUN", "STATUS", "ACCOUNT", "REGION", "TARGETS");
        for r in rows {
            s += &format!(
                "{:<24} {:<14} {:<12} {:<10} {:>7}  {}\n",
                r.run_id,
                r.status,
                r.account,
                r.region,
                r.targets,
                r.faults.join(", ")
            );
        }
        s
    });
    Ok(())
}
