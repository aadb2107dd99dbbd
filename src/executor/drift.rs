//! What happened to a target since the fault: compare it, live, with its pre-break
//! snapshot and with its post-break state.
//!
//! - `broken`: still as firedrill left it;
//! - `restored`: equal to the snapshot again (the team fixed it exactly);
//! - `changed`: equal to neither (fixed another way, or something else moved);
//! - `gone`: the resource no longer exists.
//!
//! A run injected before post-break states were recorded, or a target caught mid-change
//! by a crash, has no post-break state: it counts as `broken` unless it is `restored`.

use serde::Serialize;
use serde_json::Value;

use crate::action::{Fault, Resource, State};
use crate::aws::Aws;
use crate::store::record::{RunRecord, TargetRecord};
use crate::{Error, Result};

/// What a target looks like now, against its snapshot and its post-break state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Live {
    Broken,
    Restored,
    Changed,
    Gone,
}

impl Live {
    /// The word `status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Live::Broken => "broken",
            Live::Restored => "restored",
            Live::Changed => "changed",
            Live::Gone => "gone",
        }
    }
}

/// A target compared with its snapshot and its post-break state.
#[derive(Debug, Serialize)]
pub struct Observation {
    pub live: Live,
    /// How the target now differs from the pre-break snapshot (what is still broken, or
    /// what the team did differently).
    pub since_snapshot: Vec<String>,
    /// What the target now opens up that the snapshot did not (see
    /// [`crate::action::Resource::regressions`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regressions: Vec<String>,
    /// Field-level: pre-break vs now, post-break vs now.
    #[serde(skip)]
    pub before: Value,
    #[serde(skip)]
    pub after: Option<Value>,
    #[serde(skip)]
    pub now: Option<Value>,
    /// Why the post-break state could not be used, if it could not.
    #[serde(skip)]
    pub warning: Option<String>,
}

/// Look at target `t` of run `rec` now, as fault `f`'s resource reads it, and judge it.
pub async fn observe<F: Fault>(_f: &F, aws: &Aws, rec: &RunRecord, t: &TargetRecord) -> Result<Observation> {
    let snapshot = rec.before::<State<F>, F::Change>(t)?.state;
    let (after, warning): (Option<State<F>>, _) = match rec.after(t) {
        Ok(after) => (after, None),
        Err(w) => (None, Some(w)),
    };
    let before = serde_json::to_value(&snapshot).expect("state serializes");
    let after_value = after.as_ref().map(|a| serde_json::to_value(a).expect("state serializes"));
    let now = match F::On::describe(aws, &t.target).await {
        Ok(now) => now,
        Err(Error::Gone(_)) => {
            let (since_snapshot, regressions, now) = (Vec::new(), Vec::new(), None);
            let after = after_value;
            return Ok(Observation { live: Live::Gone, since_snapshot, regressions, before, after, now, warning });
        }
        Err(e) => return Err(e),
    };
    let (live, since_snapshot) = classify::<F::On>(&snapshot, after.as_ref(), &now);
    let regressions = F::On::regressions(&snapshot, &now);
    let now = Some(serde_json::to_value(&now).expect("state serializes"));
    Ok(Observation { live, since_snapshot, regressions, before, after: after_value, now, warning })
}

/// Where `now` stands between the snapshot (`before`) and the post-break state (`after`),
/// and how it differs from the snapshot. Pure: the caller describes the target once.
pub fn classify<R: Resource>(before: &R::State, after: Option<&R::State>, now: &R::State) -> (Live, Vec<String>) {
    let since_snapshot = R::differences(before, now);
    let live = if since_snapshot.is_empty() {
        Live::Restored
    } else if after.is_some_and(|a| !R::differences(a, now).is_empty()) {
        Live::Changed
    } else {
        Live::Broken
    };
    (live, since_snapshot)
}

/// Field-level differences from `a` to `b`, as `path: a -> b` lines; lists are compared
/// as sets (`+ item` / `- item`), since their order carries no meaning here.
pub fn json_diff(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", a, b, &mut out);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    let here = if path.is_empty() { "." } else { path };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff_at(&p, va, vb, out),
                    (Some(va), None) => out.push(format!("{p}: {va} -> (absent)")),
                    (None, Some(vb)) => out.push(format!("{p}: (absent) -> {vb}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for item in x.iter().filter(|i| !y.contains(i)) {
                out.push(format!("{here}: - {item}"));
            }
            for item in y.iter().filter(|i| !x.contains(i)) {
                out.push(format!("{here}: + {item}"));
            }
        }
        _ if a != b => out.push(format!("{here}: {a} -> {b}")),
        _ => {}
    }
}

/// Which targets [`observe_run`] looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Looking<'a> {
    /// Only the targets of the fault of this name.
    pub fault: Option<&'a str>,
    /// Only this target.
    pub target: Option<&'a str>,
    /// Targets the journal says are done (reverted, restored) too: a journal line is
    /// not proof, a look is.
    pub verify: bool,
}

/// Observe every target of `rec` that still has a fault applied (or, with
/// `looking.verify`, that was reverted or restored). Returns (fault index, target id,
/// observation). Only a look in the run's own account and region can say `gone`, so
/// any other is refused.
pub async fn observe_run(
    aws: &Aws,
    rec: &RunRecord,
    looking: Looking<'_>,
) -> Result<Vec<(usize, String, Observation)>> {
    if aws.region != rec.region {
        return Err(Error::Refused(format!(
            "run {} is in region {}, not {}: a look there would find none of its targets",
            rec.run_id, rec.region, aws.region
        )));
    }
    crate::aws::access::check_account(aws, rec.place()).await?;
    let Looking { fault, target, verify } = looking;
    let mut out = Vec::new();
    for (fi, spec) in rec.faults.iter().enumerate() {
        if fault.is_some_and(|n| n != spec.name) {
            continue;
        }
        let targets: Vec<&TargetRecord> = rec
            .targets
            .iter()
            .filter(|t| t.fault == fi && target.is_none_or(|id| id == t.target.id))
            .filter(|t| {
                t.phase.needs_revert()
                    || (verify && matches!(t.phase, crate::store::Phase::Reverted | crate::store::Phase::Restored))
                    // A one-shot fault's target (a reboot, stopped tasks): has it come back?
                    || t.phase == crate::store::Phase::Done
            })
            .collect();
        for t in targets {
            let o = crate::action::with_fault!(&spec.action, |f| observe(f, aws, rec, t).await)?;
            out.push((fi, t.target.id.clone(), o));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_objects_by_key_and_lists_as_sets() {
        let a = json!({"id": "sg-1", "rules": [{"port": 80}, {"port": 22}], "name": "web"});
        let b = json!({"id": "sg-1", "rules": [{"port": 22}, {"port": 8080}], "desc": "x"});
        assert_eq!(
            json_diff(&a, &b),
            [
                ".desc: (absent) -> \"x\"",
                ".name: \"web\" -> (absent)",
                ".rules: - {\"port\":80}",
                ".rules: + {\"port\":8080}",
            ]
        );
        assert!(json_diff(&a, &a).is_empty());
    }
}
