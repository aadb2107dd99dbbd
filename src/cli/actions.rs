//! `firedrill actions`: the catalogue.

use super::Global;
use crate::Result;
use crate::action::CATALOGUE;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, g: &Global) -> Result<()> {
    emit(g.output, &CATALOGUE, |cat| {
        let mut s = String::new();
        for a in cat.iter() {
            s += &format!("{}\n  targets: {}\n  {}\n", a.name, a.target, a.summary);
            if a.one_shot {
                s += "  revert: not revertible (one-shot)\n";
            } else {
                s += &format!("  revert: {}\n", a.revert);
            }
            if a.params.is_empty() {
                s += "  params: none\n";
            } else {
                s += "  params:\n";
                for p in a.params {
                    s += &format!("    {:<12} {}  (default: {})\n      {}\n", p.name, p.ty, p.default, p.doc);
                }
            }
            s += &format!("  permissions: {}\n\n", a.permissions.join(", "));
        }
        s
    });
    Ok(())
}
