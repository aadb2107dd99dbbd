//! `firedrill status [RUN]`: per fault and target, where the run stands.

use super::Global;
use crate::Result;
use crate::output::{RunView, emit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults).
    pub run: Option<String>,
}

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store();
    let id = store.resolve(args.run.as_deref())?;
    let view = RunView::new(&store.read(&id)?);
    emit(g.output, &view, RunView::text);
    Ok(())
}
