//! `firedrill policy`: the least-privilege IAM policy for exactly these faults (or this
//! drill's faults and probes) — every call firedrill makes to plan, inject, observe,
//! revert and sweep them, the account check, and the state store's needs when it is on
//! S3 — with resources narrowed where the action allows.
//!
//! What each call needs comes from where the call is made: a target kind's listing and
//! hold tags ([`crate::target::TargetKind::permissions`]), each action's own calls
//! ([`crate::action::ActionInfo::permissions`], less what its params never need),
//! `via:` ([`crate::target::Via::permissions`]), the sweep ([`crate::sweep::PERMISSIONS`])
//! and the probes ([`crate::drill::probe::ProbeKind::permissions`]). A test records the
//! calls a round trip of every shipped fault makes, at the proxy, and checks this policy
//! allows each and nothing the catalogue never calls.
//!
//! Narrowing: reads (`Describe*`, `List*`, `Get*`) are on `*`, as most of them support no
//! resource-level permissions; changes are on their service's ARNs in the guardrails'
//! accounts and regions (or every one); `iam:PassRole` only to EC2; the state store only
//! its bucket's prefix and KMS key. Tag conditions are not written: a wrong one denies a
//! revert in the middle of a game day, and no emulator here evaluates IAM conditions to
//! prove one right.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::drill::Drill;
use crate::fault::FaultSpec;
use crate::store::Location;

/// Every command checks the account its credentials reach before anything else.
pub const ACCOUNT_CHECK: &[&str] = &["sts:GetCallerIdentity"];

/// What the policy is for, beyond the faults: where (accounts and regions, from the
/// guardrails; empty means any), and the state store.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub state: Option<Location>,
    pub state_kms_key: Option<String>,
}

/// The IAM actions the faults need, whatever the resource.
pub fn fault_actions<'a>(faults: impl IntoIterator<Item = &'a FaultSpec>) -> BTreeSet<&'static str> {
    let mut actions: BTreeSet<&'static str> = ACCOUNT_CHECK.iter().chain(crate::sweep::PERMISSIONS).copied().collect();
    for f in faults {
        actions.extend(f.action.permissions());
        if let Some(via) = f.target.via {
            actions.extend(via.permissions());
        }
    }
    actions
}

/// The IAM actions a drill needs in each team's account: its faults', and its probes'
/// and alarms'.
pub fn drill_actions(drill: &Drill) -> BTreeSet<&'static str> {
    let mut actions = fault_actions(drill.steps.iter().map(|s| &s.fault));
    for p in drill.probes.values() {
        actions.extend(p.kind.permissions());
    }
    let alarms = drill.steps.iter().flat_map(|s| &s.detect).any(|d| matches!(d, crate::drill::Detect::Alarm(_)))
        || drill.stop_when.iter().any(|s| matches!(s, crate::drill::StopCondition::Alarm { .. }));
    if alarms {
        actions.insert("cloudwatch:DescribeAlarms");
    }
    actions
}

/// The IAM actions the state store calls, and what they need on KMS.
pub fn state_actions(scope: &Scope) -> BTreeSet<&'static str> {
    let mut actions = BTreeSet::new();
    if let Some(Location::S3 { .. }) = scope.state {
        actions.extend(["s3:ListBucket", "s3:GetBucketVersioning", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]);
        if scope.state_kms_key.is_some() {
            actions.extend(["kms:GenerateDataKey", "kms:Decrypt"]);
        }
    }
    actions
}

/// Whether an IAM action only reads.
fn is_read(action: &str) -> bool {
    let op = action.split_once(':').map_or(action, |(_, op)| op);
    // API Gateway's IAM actions are its HTTP methods.
    op == "GET" || ["Describe", "List", "Get"].iter().any(|p| op.starts_with(p))
}

/// The policy document: `actions` (from [`fault_actions`] or [`drill_actions`]) and the
/// state store's ([`state_actions`]), grouped into statements by what they may touch.
pub fn document(actions: &BTreeSet<&'static str>, scope: &Scope) -> Value {
    let any = |v: &[String]| if v.is_empty() { vec!["*".to_owned()] } else { v.to_vec() };
    let (accounts, regions) = (any(&scope.accounts), any(&scope.regions));
    let arns = |f: &dyn Fn(&str, &str) -> String| -> Vec<String> {
        let mut out = Vec::new();
        for r in &regions {
            for a in &accounts {
                out.push(f(r, a));
            }
        }
        out.dedup();
        out
    };
    let mut statements = Statements::default();
    // The state store's are its own statements, narrowed to its bucket and key.
    let store = state_actions(scope);
    let theirs = |a: &&str| !store.contains(a);
    let (reads, changes): (Vec<&str>, Vec<&str>) = actions.iter().copied().filter(theirs).partition(|a| is_read(a));
    let mut by_service: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in changes {
        by_service.entry(a.split_once(':').map_or(a, |(s, _)| s)).or_default().push(a);
    }
    statements.push("FiredrillRead", reads, vec!["*".into()], None);
    for (service, list) in by_service {
        match service {
            "ec2" => {
                let mut resources = arns(&|r, a| format!("arn:aws:ec2:{r}:{a}:*"));
                // Images and snapshots have no account in their ARNs: what terminate
                // preserves, and what a relaunch starts from.
                if list.iter().any(|a| matches!(*a, "ec2:CreateImage" | "ec2:RunInstances" | "ec2:CreateSnapshot")) {
                    resources.extend(arns(&|r, _| format!("arn:aws:ec2:{r}::image/*")));
                    resources.extend(arns(&|r, _| format!("arn:aws:ec2:{r}::snapshot/*")));
                    resources.dedup();
                }
                statements.push("FiredrillEc2Changes", list, resources, None);
            }
            "elasticloadbalancing" => {
                let resources = arns(&|r, a| format!("arn:aws:elasticloadbalancing:{r}:{a}:*"));
                statements.push("FiredrillLoadBalancingChanges", list, resources, None);
            }
            "autoscaling" => {
                let resources =
                    arns(&|r, a| format!("arn:aws:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/*"));
                statements.push("FiredrillAutoScalingChanges", list, resources, None);
            }
            "iam" => {
                let roles: Vec<String> =
                    any(&scope.accounts).iter().map(|a| format!("arn:aws:iam::{a}:role/*")).collect();
                let (pass, rest): (Vec<&str>, Vec<&str>) = list.into_iter().partition(|a| *a == "iam:PassRole");
                statements.push("FiredrillRoleChanges", rest, roles.clone(), None);
                let to_ec2 = json!({ "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } });
                statements.push("FiredrillPassRoleToEc2", pass, roles, Some(to_ec2));
            }
            "route53" => {
                let mut resources = Vec::new();
                for (action, kind) in [
                    ("route53:ChangeResourceRecordSets", "hostedzone"),
                    ("route53:UpdateHealthCheck", "healthcheck"),
                    ("route53:ChangeTagsForResource", "healthcheck"),
                ] {
                    if list.contains(&action) {
                        resources.push(format!("arn:aws:route53:::{kind}/*"));
                    }
                }
                resources.dedup();
                statements.push("FiredrillRoute53Changes", list, resources, None);
            }
            "lambda" => {
                let resources = arns(&|r, a| format!("arn:aws:lambda:{r}:{a}:function:*"));
                statements.push("FiredrillLambdaChanges", list, resources, None);
            }
            "dynamodb" => {
                let resources = arns(&|r, a| format!("arn:aws:dynamodb:{r}:{a}:table/*"));
                statements.push("FiredrillDynamoDbChanges", list, resources, None);
            }
            "ecs" => {
                let resources = arns(&|r, a| format!("arn:aws:ecs:{r}:{a}:service/*"));
                statements.push("FiredrillEcsChanges", list, resources, None);
            }
            // API Gateway's ARNs name no account.
            "apigateway" => {
                let resources = arns(&|r, _| format!("arn:aws:apigateway:{r}::/restapis/*"));
                statements.push("FiredrillApiGatewayChanges", list, resources, None);
            }
            // Bucket ARNs name no account or region.
            "s3" => statements.push("FiredrillBucketChanges", list, vec!["arn:aws:s3:::*".into()], None),
            _ => statements.push(&format!("Firedrill{service}"), list, vec!["*".into()], None),
        }
    }
    state_statements(scope, &mut statements);
    json!({ "Version": "2012-10-17", "Statement": statements.0 })
}

/// A policy's statements, as they are added.
#[derive(Default)]
struct Statements(Vec<Value>);

impl Statements {
    /// Allow `actions` on `resources` (when there are actions), under `condition`.
    fn push(&mut self, sid: &str, actions: Vec<&str>, resources: Vec<String>, condition: Option<Value>) {
        if actions.is_empty() {
            return;
        }
        let mut s = json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources });
        if let Some(c) = condition {
            s["Condition"] = c;
        }
        self.0.push(s);
    }
}

/// The state store's statements: its bucket, only under its prefix; its KMS key.
fn state_statements(scope: &Scope, statements: &mut Statements) {
    let Some(Location::S3 { bucket, prefix }) = &scope.state else { return };
    let objects = if prefix.is_empty() {
        format!("arn:aws:s3:::{bucket}/*")
    } else {
        format!("arn:aws:s3:::{bucket}/{prefix}/*")
    };
    let under = if prefix.is_empty() { "*".to_owned() } else { format!("{prefix}/*") };
    statements.push(
        "FiredrillStateList",
        vec!["s3:ListBucket"],
        vec![format!("arn:aws:s3:::{bucket}")],
        Some(json!({ "StringLike": { "s3:prefix": [under, prefix] } })),
    );
    statements.push(
        "FiredrillStateBucket",
        vec!["s3:GetBucketVersioning"],
        vec![format!("arn:aws:s3:::{bucket}")],
        None,
    );
    statements.push(
        "FiredrillStateObjects",
        vec!["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        vec![objects],
        None,
    );
    if let Some(key) = &scope.state_kms_key {
        let key = if key.starts_with("arn:") { key.clone() } else { "*".to_owned() };
        let via_s3 = json!({ "StringLike": { "kms:ViaService": "s3.*.amazonaws.com" } });
        statements.push("FiredrillStateKey", vec!["kms:GenerateDataKey", "kms:Decrypt"], vec![key], Some(via_s3));
    }
}

/// Every IAM action a policy document allows.
pub fn allowed(document: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in document["Statement"].as_array().into_iter().flatten() {
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(list) => out.extend(list.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_on_any_resource_and_changes_on_their_service_arns() {
        let actions: BTreeSet<&str> =
            ["ec2:DescribeInstances", "ec2:StopInstances", "iam:PassRole", "iam:TagRole", "route53:GetChange"].into();
        let scope =
            Scope { accounts: vec!["123456789012".into()], regions: vec!["eu-west-1".into()], ..Scope::default() };
        let doc = document(&actions, &scope);
        let st = |sid: &str| doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned().unwrap();
        assert_eq!(st("FiredrillRead")["Resource"], json!(["*"]));
        assert_eq!(st("FiredrillRead")["Action"], json!(["ec2:DescribeInstances", "route53:GetChange"]));
        assert_eq!(st("FiredrillEc2Changes")["Resource"], json!(["arn:aws:ec2:eu-west-1:123456789012:*"]));
        assert_eq!(st("FiredrillRoleChanges")["Resource"], json!(["arn:aws:iam::123456789012:role/*"]));
        assert_eq!(
            st("FiredrillPassRoleToEc2")["Condition"]["StringEquals"]["iam:PassedToService"],
            "ec2.amazonaws.com"
        );
        assert_eq!(allowed(&doc), actions.iter().map(|a| a.to_string()).collect());
    }

    #[test]
    fn the_state_store_is_narrowed_to_its_prefix_and_key() {
        let scope = Scope {
            state: Some(Location::S3 { bucket: "b".into(), prefix: "gd".into() }),
            state_kms_key: Some("arn:aws:kms:eu-west-1:123456789012:key/k".into()),
            ..Scope::default()
        };
        let doc = document(&BTreeSet::new(), &scope);
        assert_eq!(allowed(&doc), state_actions(&scope).iter().map(|a| a.to_string()).collect());
        let text = doc.to_string();
        assert!(text.contains("arn:aws:s3:::b/gd/*") && text.contains("\"gd/*\""), "{doc:#}");
        assert!(text.contains("arn:aws:kms:eu-west-1:123456789012:key/k"), "{doc:#}");
        assert!(!text.contains("FiredrillRead"), "the store's reads are on its bucket only: {doc:#}");
    }
}
