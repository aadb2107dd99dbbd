//! `firedrill actions`: the catalogue.

use super::Global;
use crate::Result;
use crate::action::CATALOGUE;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {}

/// What `--output json` prints: the catalogue (its schema: `firedrill schema --command actions`).
pub(super) type Output = Vec<ActionView>;

/// One action as `firedrill actions` shows it.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(super) struct ActionView {
    name: &'static str,
    target: crate::target::TargetKind,
    summary: &'static str,
    /// What revert does; "not revertible" for one-shot actions.
    revert: &'static str,
    one_shot: bool,
    params: &'static [crate::action::ParamInfo],
    /// Every IAM action it may call, with any params: its target kind's and its own.
    permissions: Vec<&'static str>,
}

impl ActionView {
    fn new(a: &'static crate::action::ActionInfo) -> ActionView {
        ActionView {
            name: a.name,
            target: a.target,
            summary: a.summary,
            revert: a.revert,
            one_shot: a.one_shot,
            params: a.params,
            permissions: a.all_permissions().into_iter().collect(),
        }
    }
}

pub fn exec(_args: Args, g: &Global) -> Result<()> {
    let view: Output = CATALOGUE.iter().map(ActionView::new).collect();
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
