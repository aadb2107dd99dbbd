//! `firedrill schema KIND`: the JSON Schema of a kind of file, for editors
//! (yaml-language-server) and other validators; `firedrill schema --command CMD`: the
//! JSON Schema of what `CMD --output json` prints, from the type it serializes.
//! `schemas/` and `schemas/output/` hold the same, shipped.

use serde_json::Value;

use super::Global;
use crate::Result;
use crate::schema::{Kind, input, output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which file's schema.
    #[arg(value_enum, required_unless_present = "command", conflicts_with = "command")]
    kind: Option<Kind>,
    /// The schema of this command's `--output json` instead.
    #[arg(long, value_enum)]
    command: Option<Command>,
}

/// The commands whose `--output json` has a schema: one row each, naming the type the
/// command prints (its module's `Output`).
macro_rules! commands {
    ($($variant:ident = $name:literal, $module:ident;)*) => {
        /// A command whose `--output json` has a published schema.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum Command {
            $( #[value(name = $name)] $variant, )*
        }

        impl Command {
            /// The JSON Schema of what the command prints.
            pub fn schema(self) -> Value {
                match self { $(Command::$variant => output::<super::$module::Output>($name),)* }
            }
        }
    };
}

commands! {
    Validate = "validate", validate;
    Actions = "actions", actions;
    Plan = "plan", plan;
    Inject = "inject", inject;
    Status = "status", status;
    Revert = "revert", revert;
    Runs = "runs", runs;
    Diff = "diff", diff;
    Abort = "abort", abort;
    Sweep = "sweep", sweep;
    Show = "show", show;
    Report = "report", report;
    Sandbox = "sandbox", sandbox;
    State = "state", state;
    Schedule = "schedule", schedule;
}

pub fn exec(args: Args, _g: &Global) -> Result<()> {
    let schema = match (args.kind, args.command) {
        (Some(kind), _) => input(kind),
        (None, Some(command)) => command.schema(),
        (None, None) => unreachable!("clap requires one"),
    };
    crate::outln!("{}", serde_json::to_string_pretty(&schema).expect("a schema serializes"));
    Ok(())
}
