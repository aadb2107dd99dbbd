//! `firedrill status [RUN]`: per fault and target, where the run stands, and — unless
//! `--offline` — what each still-injected target looks like now: broken, restored,
//! changed or gone.

use super::Global;
use crate::Result;
use crate::executor::drift;
use crate::output::{RunView, emit};
use crate::store::journal::{Event, now};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults, else the newest run).
    pub run: Option<String>,
    /// Only what the state store holds; no AWS calls.
    #[arg(long)]
    pub offline: bool,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store();
    let id = store.resolve_or_newest(args.run.as_deref())?;
    let rec = store.read(&id)?;
    let mut view = RunView::new(&rec);
    if !args.offline {
        match live(g, &rec).await {
            Ok(seen) => {
                // Record when a target is first seen restored, if no one else holds the run.
                let run = store.open_run(&id).ok();
                for (fi, target, o) in seen {
                    let name = &rec.faults[fi].name;
                    if let Some(t) = view
                        .faults
                        .iter_mut()
                        .filter(|f| &f.name == name)
                        .flat_map(|f| f.targets.iter_mut())
                        .find(|t| t.id == target)
                    {
                        t.live = Some(o.live.as_str());
                    }
                    if o.live == drift::Live::Restored
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
            Err(e) => eprintln!("warning: cannot look at the targets live ({e}); showing the state store only"),
        }
    }
    emit(g.output, &view, RunView::text);
    Ok(())
}

async fn live(g: &Global, rec: &crate::store::RunRecord) -> Result<Vec<(usize, String, drift::Observation)>> {
    let aws = g.aws().await?;
    drift::observe_run(&aws, rec, None, None).await
}
