//! Planning: everything up to, and not including, the first mutation. Checks the region
//! and account, lists and picks targets, applies guardrails, describes every target and
//! computes its exact change. `firedrill plan` prints this; `inject` executes it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::action::Fault;
use crate::aws::{self, Aws};
use crate::fault::FaultSpec;
use crate::guardrails::Guardrails;
use crate::target::{self, Target};
use crate::{Error, Result, with_fault};

#[derive(Debug, Serialize)]
pub struct Plan {
    pub account: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub faults: Vec<PlannedFault>,
}

#[derive(Debug, Serialize)]
pub struct PlannedFault {
    pub name: String,
    pub action: &'static str,
    /// False for one-shot actions (a reboot): nothing to revert.
    pub revertible: bool,
    pub source: String,
    /// How many resources matched the selector before the pick.
    pub matched: usize,
    pub seed: u64,
    pub targets: Vec<PlannedTarget>,
    #[serde(skip)]
    pub spec: FaultSpec,
}

#[derive(Debug, Serialize)]
pub struct PlannedTarget {
    #[serde(flatten)]
    pub target: Target,
    pub changes: Vec<String>,
    #[serde(skip)]
    pub state: Value,
    #[serde(skip)]
    pub change: Value,
}

pub async fn plan(aws: &Aws, guard: &Guardrails, faults: Vec<FaultSpec>) -> Result<Plan> {
    guard.check_region(&aws.region)?;
    // Who we are and what the selectors match are both reads: ask at once, one round
    // trip instead of two, and check the account before anything else is decided.
    let listing =
        futures_util::future::join_all(faults.iter().map(|s| aws::list(aws, s.action.info().target, &s.target)));
    let (account, lists) = tokio::join!(aws.account(), listing);
    let account = account?;
    guard.check_account(&account)?;
    tracing::debug!(%account, region = %aws.region, endpoint = ?aws.endpoint, "planning");

    let mut refusals = Vec::new();
    let mut planned = Vec::new();
    for (spec, candidates) in faults.into_iter().zip(lists) {
        let info = spec.action.info();
        let what = format!("fault `{}` ({})", spec.name, spec.source.display());
        let candidates = candidates?;
        // An id may be given as an ARN whose last part is the target's id (IAM roles).
        let found = |id: &str| candidates.iter().any(|c| c.id == id || id.ends_with(&format!("/{}", c.id)));
        let missing: Vec<&String> = spec.target.ids.iter().filter(|id| !found(id)).collect();
        if !missing.is_empty() {
            let ids: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            refusals.push(format!("{what}: no {} {} matches {}", info.target, ids.join(", "), spec.target));
            continue;
        }
        if candidates.is_empty() {
            refusals.push(format!(
                "{what}: no {} matches {} in account {account}, {}: nothing to break",
                info.target, spec.target, aws.region
            ));
            continue;
        }
        let matched = candidates.len();
        let seed = spec.target.seed.unwrap_or_else(target::fresh_seed);
        let targets = target::pick(candidates, spec.target.pick, seed);
        tracing::debug!(fault = %spec.name, matched, picked = targets.len(), seed, "targets selected");
        let problems = guard.check_targets(&spec, &targets);
        if !problems.is_empty() {
            refusals.extend(problems);
            continue;
        }
        match with_fault!(&spec.action, |f| plan_targets(f, aws, targets).await)? {
            Ok(targets) => planned.push(PlannedFault {
                name: spec.name.clone(),
                action: info.name,
                revertible: !info.one_shot,
                source: spec.source.display().to_string(),
                matched,
                seed,
                targets,
                spec,
            }),
            Err(problems) => refusals.extend(problems.into_iter().map(|p| format!("{what}: {p}"))),
        }
    }

    // Two faults on one resource would each snapshot it before either changed it, and
    // reverting one would undo part of the other: refuse.
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for f in &planned {
        for t in &f.targets {
            if let Some(other) = seen.insert(&t.target.id, &f.name) {
                refusals.push(format!(
                    "{} is a target of both `{other}` and `{}`: a run may break a resource once",
                    t.target.id, f.name
                ));
            }
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Refused(refusals.join("\n")));
    }
    Ok(Plan { account, region: aws.region.clone(), endpoint: aws.endpoint.clone(), faults: planned })
}

/// Describe each target and plan its change. `Err` inside `Ok` lists targets with
/// nothing to break; the outer `Err` is a failed AWS call.
async fn plan_targets<F: Fault>(
    f: &F,
    aws: &Aws,
    targets: Vec<Target>,
) -> Result<std::result::Result<Vec<PlannedTarget>, Vec<String>>> {
    let refs: Vec<&Target> = targets.iter().collect();
    let states = super::batch::describe_all(f, aws, &refs).await.into_iter().collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (target, state) in targets.into_iter().zip(states) {
        match f.plan(&target, &state) {
            Ok(change) => out.push(PlannedTarget {
                changes: f.summarize(&change),
                state: serde_json::to_value(&state).expect("state serializes"),
                change: serde_json::to_value(&change).expect("change serializes"),
                target,
            }),
            Err(p) => problems.push(p),
        }
    }
    Ok(if problems.is_empty() { Ok(out) } else { Err(problems) })
}
