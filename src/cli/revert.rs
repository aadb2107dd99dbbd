//! `firedrill revert [RUN]`: restore every target from its snapshot, and verify.

use super::Global;
use crate::executor::{self, stop};
use crate::output::{RunView, emit};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults).
    pub run: Option<String>,
    /// Restore targets the team changed since the fault too (they are left alone
    /// otherwise). Never another account: a run is reverted in its own account only.
    #[arg(long)]
    pub force: bool,
    /// Leave this target as it is, and record that a person chose to (repeatable).
    #[arg(long, value_name = "TARGET")]
    pub abandon: Vec<String>,
    /// Look at targets already reverted or restored too, and restore any found broken
    /// again.
    #[arg(long)]
    pub verify: bool,
    /// Make every target exactly as its snapshot, undoing what the team changed too (a
    /// rule it opened, a policy it attached), not only what the fault took away.
    /// Implies --force.
    #[arg(long)]
    pub exact: bool,
}

/// What `--output json` prints (its schema: `firedrill schema --command revert`).
pub(super) type Output = crate::output::RunView;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = store.resolve(args.run.as_deref())?;
    let rec = store.read(&id)?;
    let aws = g.reach(&rec).await?;
    // From here a signal finishes the calls in flight, journals them, and stops.
    stop::on_signals("revert");
    let opts =
        executor::RevertOptions { force: args.force, abandon: args.abandon, verify: args.verify, exact: args.exact };
    let rec = executor::revert(&aws, &store, &id, &opts).await?;
    super::warn_all(&rec.warnings);
    let view = RunView::new(&rec);
    emit(g.output, &view, RunView::text);
    if let Some(signal) = stop::requested() {
        return Err(Error::Interrupted(format!(
            "revert of run {id} stopped by {signal}: the calls in flight finished and were journaled; run `firedrill revert {id}` to finish"
        )));
    }
    if rec.has_irreversible() {
        return Err(Error::RevertIncomplete(format!(
            "run {id}: some targets cannot be restored (see `irreversible` above, and what was preserved)"
        )));
    }
    if rec.needs_revert() {
        return Err(Error::RevertIncomplete(format!(
            "run {id} is not fully restored: see the differences above and `firedrill diff {id}`; then `firedrill revert {id}` again, with `--force` to restore changed targets anyway or `--abandon TARGET` to leave one"
        )));
    }
    Ok(())
}
