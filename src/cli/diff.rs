//! `firedrill diff [RUN] [--fault NAME] [--target ID]`: for each target still injected,
//! what the fault did (pre-break vs now) and what happened since (post-break vs now).

use serde::Serialize;

use super::Global;
use crate::Result;
use crate::executor::drift::{self, json_diff};
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults).
    pub run: Option<String>,
    /// Only this fault (by name).
    #[arg(long)]
    pub fault: Option<String>,
    /// Only this target (by id).
    #[arg(long)]
    pub target: Option<String>,
}

/// What `--output json` prints (its schema: `firedrill schema --command diff`).
pub(super) type Output = Vec<TargetDiff>;

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct TargetDiff {
    fault: String,
    id: String,
    live: &'static str,
    /// From the pre-break snapshot to now.
    snapshot_to_now: Vec<String>,
    /// From the state right after the fault to now: what changed since the break.
    injected_to_now: Vec<String>,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = store.resolve(args.run.as_deref())?;
    let rec = store.read(&id)?;
    super::warn_all(&rec.warnings);
    let aws = g.reach(&rec).await?;
    let looking = drift::Looking { fault: args.fault.as_deref(), target: args.target.as_deref(), verify: false };
    let seen = drift::observe_run(&aws, &rec, looking).await?;
    for w in seen.iter().filter_map(|(_, _, o)| o.warning.as_ref()) {
        crate::errln!("warning: {w}");
    }
    let diffs: Vec<TargetDiff> = seen
        .into_iter()
        .map(|(fi, target, o)| {
            let now = o.now.clone().unwrap_or(serde_json::Value::Null);
            TargetDiff {
                fault: rec.faults[fi].name.clone(),
                id: target,
                live: o.live.as_str(),
                snapshot_to_now: json_diff(&o.before, &now),
                injected_to_now: o.after.as_ref().map(|a| json_diff(a, &now)).unwrap_or_default(),
            }
        })
        .collect();
    emit(g.output, &diffs, |diffs| {
        if diffs.is_empty() {
            return format!("run {id}: no target is still injected\n");
        }
        let mut s = String::new();
        for d in diffs {
            s += &format!("fault {}  target {}  ({})\n", d.fault, d.id, d.live);
            s += "  pre-break snapshot -> now:\n";
            for l in &d.snapshot_to_now {
                s += &format!("    {l}\n");
            }
            if d.snapshot_to_now.is_empty() {
                s += "    (identical: restored)\n";
            }
            s += "  right after the fault -> now:\n";
            for l in &d.injected_to_now {
                s += &format!("    {l}\n");
            }
            if d.injected_to_now.is_empty() {
                s += "    (identical: nobody changed it since)\n";
            }
        }
        s
    });
    Ok(())
}
