//! `firedrill plan FILE...`: what inject would do; changes nothing.

use std::path::PathBuf;

use super::{Global, load_faults};
use crate::Result;
use crate::aws::Aws;
use crate::executor::{self, Plan};
use crate::guardrails::Guardrails;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fault files (or directories of them); together they form one run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// What `--output json` prints (its schema: `firedrill schema --command plan`).
pub(super) type Output = crate::executor::Plan;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let (_, plan) = make(&args.files, g, false).await?;
    emit(g.output, &plan, text);
    Ok(())
}

/// Load, check guardrails and holds (unless `stack`) and plan: shared by `plan` and
/// `inject`.
pub async fn make(files: &[PathBuf], g: &Global, stack: bool) -> Result<(Aws, Plan)> {
    let faults = load_faults(files)?;
    let guard = Guardrails::load(g.config.as_deref())?;
    let aws = g.aws().await?;
    let store = g.store()?;
    let plan = executor::plan(&aws, &guard, faults, (!stack).then_some(&store)).await?;
    Ok((aws, plan))
}

pub fn text(plan: &Plan) -> String {
    let mut s = format!("account {}, region {}", plan.account, plan.region);
    if let Some(e) = &plan.endpoint {
        s += &format!(", endpoint {e}");
    }
    s += "\n";
    for f in &plan.faults {
        s += &format!(
            "\nfault {}  ({}, {})\n  {} of {} matching target(s), seed {}\n",
            f.name,
            f.action,
            f.source,
            f.targets.len(),
            f.matched,
            f.seed
        );
        if f.spec.action.info().one_shot {
            s += "  one-shot: not revertible; `revert` will have nothing to undo\n";
        }
        for t in &f.targets {
            s += &format!("  {}\n", t.target.label_where());
            for c in &t.changes {
                s += &format!("      {c}\n");
            }
        }
    }
    s
}
