//! `firedrill state migrate --from A --to B`: move a store between a directory and S3.

use super::Global;
use crate::Result;
use crate::output::emit;
use crate::store::location::Location;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Copy a whole store (runs, drills, schedules, sandbox manifests) into an empty one:
    /// a directory to s3://BUCKET/PREFIX or back. Refused while a run is locked.
    Migrate {
        /// The store to copy (a directory or s3://BUCKET/PREFIX).
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
        from: String,
        /// The empty store to copy it into.
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
        to: String,
    },
}

/// What `state migrate --output json` prints (its schema: `firedrill schema --command state`).
pub(super) type Output = crate::store::migrate::Copied;

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let Command::Migrate { from, to } = args.command;
    let from = g.state.open_at(&Location::parse(&from)?, &g.aws)?;
    let to = g.state.open_at(&Location::parse(&to)?, &g.aws)?;
    let copied = crate::store::migrate::migrate(&from, &to)?;
    emit(g.output, &copied, |c| {
        format!(
            "copied {} run{} ({} journals, {} files) from {} to {}; the source is unchanged: remove it once you have checked the copy (`firedrill runs --state {}`)\n",
            c.runs,
            if c.runs == 1 { "" } else { "s" },
            c.logs,
            c.files,
            c.from,
            c.to,
            c.to
        )
    });
    Ok(())
}
