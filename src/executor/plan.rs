//! Planning: everything up to, and not including, the first mutation. Checks the region
//! and account, lists and picks targets, applies guardrails, describes every target and
//! computes its exact change. `firedrill plan` prints this; `inject` executes it.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::action::with_fault;
use crate::action::{Fault, Resource, State};
use crate::aws::{self, Aws};
use crate::fault::FaultSpec;
use crate::guardrails::Guardrails;
use crate::store::Store;
use crate::target::{self, Target};
use crate::{Error, Result};

/// What an inject would do: where, and each fault's targets with their changes.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub account: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// How the credentials were obtained: recorded with the run.
    #[serde(skip)]
    pub access: crate::aws::access::Access,
    pub faults: Vec<PlannedFault>,
}

/// One fault of a plan: its spec, the targets picked, and why any were refused.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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

/// One target of a plan: its state now (the snapshot to be), the change, and the change in words.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlannedTarget {
    #[serde(flatten)]
    pub target: Target,
    pub changes: Vec<String>,
    #[serde(skip)]
    pub state: Value,
    #[serde(skip)]
    pub change: Value,
}

/// Plan `faults`: resolve, guard, describe, compute each change; change nothing. With
/// `holds` (the state store, unless `--stack`), a target another open run holds is
/// refused first, naming the run — before "nothing to break", which is what a target
/// already broken by that run would otherwise say.
pub async fn plan(aws: &Aws, guard: &Guardrails, faults: Vec<FaultSpec>, holds: Option<&Store>) -> Result<Plan> {
    guard.check_region(&aws.region)?;
    // Who we are and what each fault would touch are all reads: ask at once, so a
    // one-target run waits one round trip, not three. Nothing is decided before the
    // account is checked.
    let planning = futures_util::future::join_all(
        faults.iter().map(|spec| async move { with_fault!(&spec.action, |f| plan_fault(f, aws, guard, spec).await) }),
    );
    let (account, outcomes) = tokio::join!(aws.account(), planning);
    let account = account?;
    guard.check_account(&account)?;
    tracing::debug!(%account, region = %aws.region, endpoint = ?aws.endpoint, "planning");
    let known = holds.map(super::holds::Known::read).transpose()?;

    let mut refusals = Vec::new();
    let mut planned = Vec::new();
    for (spec, outcome) in faults.into_iter().zip(outcomes) {
        let outcome = outcome?;
        if let Some(known) = &known {
            let kind = spec.action.info().target;
            let held: Vec<String> = outcome
                .picked()
                .iter()
                .filter_map(|t| known.refusal(&account, &aws.region, kind, t))
                .map(|why| format!("fault `{}` ({}): {why}", spec.name, spec.source.display()))
                .collect();
            if !held.is_empty() {
                refusals.extend(held);
                continue;
            }
        }
        match outcome {
            Outcome::Planned { matched, seed, targets } => planned.push(PlannedFault {
                name: spec.name.clone(),
                action: spec.action.info().name,
                revertible: !spec.action.info().one_shot,
                source: spec.source.display().to_string(),
                matched,
                seed,
                targets,
                spec,
            }),
            Outcome::NothingMatched => refusals.push(format!(
                "fault `{}` ({}): no {} matches {} in account {account}, {}: nothing to break",
                spec.name,
                spec.source.display(),
                spec.action.info().target,
                spec.target,
                aws.region
            )),
            Outcome::Refused { why, .. } => refusals.extend(why),
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
        if known.is_some() && refusals.iter().any(|r| r.contains(super::holds::HELD)) {
            refusals.push(super::holds::ONE_RUN_PER_TARGET.to_owned());
        }
        return Err(Error::Refused(refusals.join("\n")));
    }
    Ok(Plan {
        account,
        region: aws.region.clone(),
        endpoint: aws.endpoint.clone(),
        access: aws.access.clone(),
        faults: planned,
    })
}

/// What planning one fault came to.
enum Outcome {
    Planned {
        matched: usize,
        seed: u64,
        targets: Vec<PlannedTarget>,
    },
    /// The selector matched nothing (the refusal names the account, checked later).
    NothingMatched,
    /// Refused, with what was picked (to tell a target another run holds).
    Refused {
        why: Vec<String>,
        picked: Vec<Target>,
    },
}

impl Outcome {
    /// The targets picked, whatever came of them.
    fn picked(&self) -> Vec<&Target> {
        match self {
            Outcome::Planned { targets, .. } => targets.iter().map(|t| &t.target).collect(),
            Outcome::Refused { picked, .. } => picked.iter().collect(),
            Outcome::NothingMatched => Vec::new(),
        }
    }
}

/// List, pick, guard, describe and plan one fault's targets. The outer `Err` is a failed
/// AWS call.
async fn plan_fault<F: Fault>(f: &F, aws: &Aws, guard: &Guardrails, spec: &FaultSpec) -> Result<Outcome> {
    let info = spec.action.info();
    let what = format!("fault `{}` ({})", spec.name, spec.source.display());
    // Where the listing is a describe, keep its states: they are the snapshots.
    let (candidates, mut listed) = match F::On::list(aws, &spec.target).await {
        Some(described) => {
            let described = described?;
            let mut states = HashMap::with_capacity(described.len());
            let targets: Vec<Target> = described
                .into_iter()
                .map(|(t, s)| {
                    states.insert(t.id.clone(), s);
                    t
                })
                .collect();
            (targets, Some(states))
        }
        None => (aws::list(aws, info.target, &spec.target).await?, None),
    };
    // An id may be given as an ARN whose last part is the target's id (IAM roles).
    let found = |id: &str| candidates.iter().any(|c| c.id == id || id.ends_with(&format!("/{}", c.id)));
    let missing: Vec<&str> = spec.target.ids.iter().map(String::as_str).filter(|id| !found(id)).collect();
    if !missing.is_empty() {
        let why = format!("{what}: no {} {} matches {}", info.target, missing.join(", "), spec.target);
        return Ok(Outcome::Refused { why: vec![why], picked: Vec::new() });
    }
    if candidates.is_empty() {
        return Ok(Outcome::NothingMatched);
    }
    let matched = candidates.len();
    let seed = spec.target.seed.unwrap_or_else(target::fresh_seed);
    let targets = target::pick(candidates, spec.target.pick, seed);
    tracing::debug!(fault = %spec.name, matched, picked = targets.len(), seed, "targets selected");
    let problems = guard.check_targets(spec, &targets);
    if !problems.is_empty() {
        return Ok(Outcome::Refused { why: problems, picked: targets });
    }
    let states: Vec<State<F>> = match &mut listed {
        Some(states) => targets
            .iter()
            .map(|t| states.remove(&t.id).ok_or_else(|| Error::Failed(format!("internal: {} was not listed", t.id))))
            .collect::<Result<_>>()?,
        None => {
            let refs: Vec<&Target> = targets.iter().collect();
            super::batch::describe_all::<F::On>(aws, &refs).await.into_iter().collect::<Result<_>>()?
        }
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut refused = Vec::new();
    for (target, state) in targets.into_iter().zip(states) {
        match f.plan(&target, &state) {
            Ok(change) => out.push(PlannedTarget {
                changes: f.summarize(&change),
                state: serde_json::to_value(&state).expect("state serializes"),
                change: serde_json::to_value(&change).expect("change serializes"),
                target,
            }),
            Err(p) => {
                problems.push(located(spec, &what, &p));
                refused.push(target);
            }
        }
    }
    if problems.is_empty() {
        return Ok(Outcome::Planned { matched, seed, targets: out });
    }
    refused.extend(out.into_iter().map(|t| t.target));
    Ok(Outcome::Refused { why: problems, picked: refused })
}

/// A plan refusal, at the param it names first (`` `desired` …``) in the fault's file when
/// it is written there (`path:line:col: error: …`), else after the fault's name.
fn located(spec: &FaultSpec, what: &str, problem: &str) -> String {
    let at = crate::yaml::read_input(&spec.source).ok().and_then(|source| {
        let pos = crate::fault::param_pos(&spec.source, &source, problem)?;
        Some(crate::diagnostic::Diagnostic::at(&spec.source, &source, pos, format!("fault `{}`: {problem}", spec.name)))
    });
    match at {
        Some(d) => d.to_string(),
        None => format!("{what}: {problem}"),
    }
}
