//! `firedrill actions`: the catalogue.

use super::Global;
use crate::Result;
use crate::action::CATALOGUE;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn exec(_args: Args, g: &Global) -> Result<()> {
    // Each action's whole set of permissions: its target kind's and its own.
    let view: Vec<serde_json::Value> = CATALOGUE
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).expect("the catalogue serializes");
            v["permissions"] = serde_json::json!(a.all_permissions());
            v
        })
        .collect();
    emit(g.output, &view, |_| {
        let mut s = String::new();
        for a in CATALOGUE {
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
            let all: Vec<&str> = a.all_permissions().into_iter().collect();
            s += &format!("  permissions: {}\n\n", all.join(", "));
        }
        s
    });
    Ok(())
}
