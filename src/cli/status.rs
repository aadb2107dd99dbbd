//! `firedrill status [RUN]`: per fault and target, where the run stands, and — unless
//! `--offline` — what each still-injected target looks like now: broken, restored,
//! changed or gone, looked at in the run's own account and region. With `--verify`,
//! targets the journal says are done are looked at too, and one found broken again is
//! reported (exit 3): a journal line is not proof.

use super::Global;
use crate::executor::drift::{self, Live, Looking};
use crate::output::{RunView, emit};
use crate::store::journal::{Event, now};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults, else the newest run).
    pub run: Option<String>,
    /// Only what the state store holds; no AWS calls.
    #[arg(long, conflicts_with = "verify")]
    pub offline: bool,
    /// Look at reverted and restored targets too, and say if one is broken again.
    #[arg(long)]
    pub verify: bool,
}

/// What `--output json` prints (its schema: `firedrill schema --command status`).
pub(super) type Output = crate::output::RunView;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = store.resolve_or_newest(args.run.as_deref())?;
    let rec = store.read(&id)?;
    super::warn_all(&rec.warnings);
    let mut view = RunView::new(&rec);
    let mut broken_again = Vec::new();
    if !args.offline {
        let looking = Looking { verify: args.verify, ..Looking::default() };
        let seen = async { drift::observe_run(&g.reach(&rec).await?, &rec, looking).await };
        match seen.await {
            Ok(seen) => {
                // Record when a target is first seen restored, if no one else holds the run.
                let run = store.open_run(&id).ok();
                for (fi, target, o) in seen {
                    if let Some(w) = &o.warning {
                        crate::errln!("warning: {w}");
                    }
                    let name = &rec.faults[fi].name;
                    let Some(t) = view
                        .faults
                        .iter_mut()
                        .filter(|f| &f.name == name)
                        .flat_map(|f| f.targets.iter_mut())
                        .find(|t| t.id == target)
                    else {
                        continue;
                    };
                    let done = matches!(t.status, "reverted" | "restored");
                    t.live = Some(o.live.as_str());
                    if done && o.live == Live::Broken {
                        broken_again.push(format!("{target} (recorded {}, broken now)", t.status));
                        continue;
                    }
                    if !done
                        && t.status != "done"
                        && o.live == Live::Restored
                        && let Some(run) = &run
                    {
                        let seen = rec.targets.iter().any(|t| t.target.id == target && t.first_restored_at.is_some());
                        if !seen {
                            run.journal.append(&Event::Observed {
                                at: now(),
                                fault: fi,
                                target,
                                live: "restored".into(),
                            })?;
                        }
                    }
                }
            }
            Err(e) if args.verify => return Err(e),
            Err(e) => crate::errln!("warning: cannot look at the targets live ({e}); showing the state store only"),
        }
    }
    emit(g.output, &view, RunView::text);
    if !broken_again.is_empty() {
        return Err(Error::RevertIncomplete(format!(
            "run {id}: broken again: {}; `firedrill revert {id} --verify` restores them",
            broken_again.join(", ")
        )));
    }
    Ok(())
}
