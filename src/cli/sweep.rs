//! `firedrill sweep [--delete]`: what firedrill created that no open run owns.

use super::Global;
use crate::output::emit;
use crate::{Error, Result, sweep};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete them (those not in use).
    #[arg(long)]
    pub delete: bool,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let aws = g.aws().await?;
    let mut found = sweep::find(&aws, &g.store()).await?;
    if args.delete {
        sweep::delete(&aws, &mut found).await;
    }
    emit(g.output, &found, |found| {
        if found.is_empty() {
            return "no leftovers: everything firedrill created belongs to an open run, or is gone\n".into();
        }
        let mut s = String::new();
        for l in found.iter() {
            let state = match (&l.error, l.deleted) {
                (Some(e), _) => format!("  NOT deleted: {e}"),
                (None, true) => "  deleted".into(),
                (None, false) => String::new(),
            };
            s += &format!("{} {} ({}), run {}: {}{state}\n", l.kind, l.id, l.detail, l.run_id, l.why);
        }
        if !args.delete {
            s += "run `firedrill sweep --delete` to remove them\n";
        }
        s
    });
    if found.iter().any(|l| l.error.is_some()) {
        return Err(Error::RevertIncomplete("some leftovers could not be deleted; see above".into()));
    }
    Ok(())
}
