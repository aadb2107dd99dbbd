//! `firedrill schema KIND`: the JSON Schema of a kind of file, for editors
//! (yaml-language-server) and other validators. `schemas/` holds the same, shipped.

use super::Global;
use crate::Result;
use crate::schema::{Kind, input};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which file's schema.
    #[arg(value_enum)]
    kind: Kind,
}

pub fn exec(args: Args, _g: &Global) -> Result<()> {
    let text = serde_json::to_string_pretty(&input(args.kind)).expect("a schema serializes");
    crate::outln!("{text}");
    Ok(())
}
