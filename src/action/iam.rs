//! IAM faults: detach a role's managed policies, deny it actions with an inline policy,
//! take instances' profiles away, break a role's trust policy.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws, iam::percent_decode};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// A role as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    pub role_name: String,
    /// Attached managed policies' ARNs, sorted.
    pub attached: Vec<String>,
    /// Inline policy names, sorted.
    pub inline: Vec<String>,
    /// The trust policy, decoded, as IAM returned it.
    pub trust_document: String,
}

async fn describe_role(aws: &Aws, name: &str) -> Result<RoleState> {
    let role = aws
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(Error::aws(format!("read role {name} (iam:GetRole)")))?;
    let trust_document = percent_decode(role.role().and_then(|r| r.assume_role_policy_document()).unwrap_or_default());
    let mut attached: Vec<String> = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws(format!("list the policies of {name} (iam:ListAttachedRolePolicies)")))?
        .into_iter()
        .filter_map(|p| p.policy_arn)
        .collect();
    attached.sort();
    let mut inline: Vec<String> = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws(format!("list the inline policies of {name} (iam:ListRolePolicies)")))?;
    inline.sort();
    Ok(RoleState { role_name: name.to_owned(), attached, inline, trust_document })
}

fn trust_json(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap_or(Value::Null)
}

/// A role's attached and inline policies and its trust policy: what the role actions
/// change and are judged by.
pub struct Roles;

impl Resource for Roles {
    type State = RoleState;

    async fn describe(aws: &Aws, target: &Target) -> Result<RoleState> {
        describe_role(aws, &target.id).await
    }

    fn differences(before: &RoleState, now: &RoleState) -> Vec<String> {
        role_differences(before, now)
    }

    /// A managed policy the snapshot did not have that grants everything, or everything
    /// of a service (`AdministratorAccess`, `PowerUserAccess`, `*FullAccess`).
    fn regressions(before: &RoleState, now: &RoleState) -> Vec<String> {
        let broad = |arn: &str| {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            name == "AdministratorAccess" || name == "PowerUserAccess" || name.ends_with("FullAccess")
        };
        now.attached
            .iter()
            .filter(|p| !before.attached.contains(p) && broad(p))
            .map(|p| format!("policy {p} attached: it allows `*` on every resource it covers"))
            .collect()
    }

    /// Detach the managed policies the snapshot did not have, attach those it had,
    /// delete inline policies it did not have, and put its trust policy back. An inline
    /// policy the snapshot had and the role lost cannot be written back (the snapshot
    /// holds its name, not its text): it stays a difference.
    async fn reset(aws: &Aws, _target: &Target, before: &RoleState, now: &RoleState) -> Result<()> {
        let role = &before.role_name;
        for p in now.attached.iter().filter(|p| !before.attached.contains(p)) {
            let call = aws.iam.detach_role_policy().role_name(role).policy_arn(p);
            aws::call(call.send(), format!("detach {p} from {role} (iam:DetachRolePolicy)")).await?;
        }
        for p in before.attached.iter().filter(|p| !now.attached.contains(p)) {
            let call = aws.iam.attach_role_policy().role_name(role).policy_arn(p);
            aws::call(call.send(), format!("attach {p} to {role} (iam:AttachRolePolicy)")).await?;
        }
        for p in now.inline.iter().filter(|p| !before.inline.contains(p)) {
            let call = aws.iam.delete_role_policy().role_name(role).policy_name(p);
            aws::call(call.send(), format!("delete inline policy {p} from {role} (iam:DeleteRolePolicy)")).await?;
        }
        if trust_json(&now.trust_document) != trust_json(&before.trust_document) {
            update_trust(aws, role, &before.trust_document).await?;
        }
        Ok(())
    }
}

fn role_differences(before: &RoleState, now: &RoleState) -> Vec<String> {
    let mut out = Vec::new();
    let r = &before.role_name;
    for p in before.attached.iter().filter(|p| !now.attached.contains(p)) {
        out.push(format!("{r}: policy {p} not attached"));
    }
    for p in now.attached.iter().filter(|p| !before.attached.contains(p)) {
        out.push(format!("{r}: policy {p} attached, not in snapshot"));
    }
    for p in before.inline.iter().filter(|p| !now.inline.contains(p)) {
        out.push(format!("{r}: inline policy {p} missing"));
    }
    for p in now.inline.iter().filter(|p| !before.inline.contains(p)) {
        out.push(format!("{r}: inline policy {p} not in snapshot"));
    }
    if trust_json(&before.trust_document) != trust_json(&now.trust_document) {
        out.push(format!("{r}: trust policy differs from snapshot"));
    }
    out
}

// ---------------------------------------------------------------------------------------
// iam.detach-policies

/// `iam.detach-policies`: which managed policies to detach.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetachPolicies {
    /// Policy names or ARNs; all attached policies when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
}

impl Params for DetachPolicies {}

/// The policies a detach took away: exactly what revert attaches again.
#[derive(Debug, Serialize, Deserialize)]
pub struct PoliciesChange {
    pub role_name: String,
    pub policies: Vec<String>,
}

impl Fault for DetachPolicies {
    type On = Roles;
    type Change = PoliciesChange;

    fn plan(&self, target: &Target, state: &RoleState) -> Result<PoliciesChange, String> {
        let wanted = |arn: &String| {
            self.policies.is_empty()
                || self.policies.iter().any(|p| p == arn || arn.rsplit('/').next() == Some(p.as_str()))
        };
        let policies: Vec<String> = state.attached.iter().filter(|a| wanted(a)).cloned().collect();
        if policies.is_empty() {
            return Err(format!("{}: none of those policies is attached: nothing to break", target.label()));
        }
        Ok(PoliciesChange { role_name: state.role_name.clone(), policies })
    }

    fn summarize(&self, change: &PoliciesChange) -> Vec<String> {
        change.policies.iter().map(|p| format!("detach {p}")).collect()
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RoleState>> {
        let change = item.change;
        let now = describe_role(aws, &change.role_name).await?;
        for p in change.policies.iter().filter(|p| now.attached.contains(p)) {
            aws.iam
                .detach_role_policy()
                .role_name(&change.role_name)
                .policy_arn(p)
                .send()
                .await
                .map_err(Error::aws(format!("detach {p} from {} (iam:DetachRolePolicy)", change.role_name)))?;
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &PoliciesChange, now: &RoleState) -> Result<(), String> {
        match change.policies.iter().find(|p| now.attached.contains(p)) {
            Some(p) => Err(format!("{p} is still attached")),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RoleState>> {
        let change = item.change;
        for p in change.policies.iter().filter(|p| !item.now.attached.contains(p)) {
            aws.iam
                .attach_role_policy()
                .role_name(&change.role_name)
                .policy_arn(p)
                .send()
                .await
                .map_err(Error::aws(format!("attach {p} to {} (iam:AttachRolePolicy)", change.role_name)))?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `iam.detach-policies`.
pub const DETACH_POLICIES: ActionInfo = ActionInfo {
    name: "iam.detach-policies",
    target: TargetKind::Role,
    summary: "Detach managed policies (all, or the named ones) from the roles. Target roles by name or tag, or `via: instances` for the roles of instances' profiles.",
    revert: "Re-attaches exactly the policies it detached.",
    one_shot: false,
    params: &[ParamInfo {
        name: "policies",
        ty: "list of names or ARNs",
        default: "every attached policy",
        doc: "Which policies to detach.",
    }],
    permissions: &["iam:DetachRolePolicy", "iam:AttachRolePolicy"],
};

// ---------------------------------------------------------------------------------------
// iam.deny-actions

/// `iam.deny-actions`: the actions and resources the inline deny covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyActions {
    pub actions: Vec<String>,
    #[serde(default = "DenyActions::default_resources")]
    pub resources: Vec<String>,
}

impl DenyActions {
    fn default_resources() -> Vec<String> {
        vec!["*".into()]
    }

    fn document(&self) -> String {
        json!({
            "Version": "2012-10-17",
            "Statement": [{ "Sid": "FiredrillDeny", "Effect": "Deny", "Action": self.actions, "Resource": self.resources }]
        })
        .to_string()
    }
}

/// The inline policy's name: the run's, so revert finds it from the store alone.
fn deny_policy_name(run: &RunCtx) -> String {
    format!("firedrill-deny-{}-{}", run.run_id.replace('.', "_"), run.fault)
}

impl Params for DenyActions {
    fn check(&self) -> Result<(), String> {
        if self.actions.is_empty() {
            return Err("`actions` is required, e.g. `actions: [\"s3:GetObject\"]`".into());
        }
        if let Some(a) = self.actions.iter().find(|a| a.as_str() != "*" && !a.contains(':')) {
            return Err(format!("`{a}` is not an IAM action (service:Action, e.g. s3:GetObject)"));
        }
        Ok(())
    }
}

/// The inline deny policy planned for a role.
#[derive(Debug, Serialize, Deserialize)]
pub struct DenyChange {
    pub role_name: String,
    pub document: String,
}

impl Fault for DenyActions {
    type On = Roles;
    type Change = DenyChange;

    fn plan(&self, _target: &Target, state: &RoleState) -> Result<DenyChange, String> {
        Ok(DenyChange { role_name: state.role_name.clone(), document: self.document() })
    }

    fn summarize(&self, _change: &DenyChange) -> Vec<String> {
        vec![format!(
            "put inline policy firedrill-deny-<run>: deny {} on {}",
            self.actions.join(", "),
            self.resources.join(", ")
        )]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RoleState>> {
        let (change, name) = (item.change, deny_policy_name(run));
        let call = aws.iam.put_role_policy().role_name(&change.role_name).policy_name(&name);
        let doing = format!("put inline policy {name} on {} (iam:PutRolePolicy)", change.role_name);
        aws::call(call.policy_document(&change.document).send(), doing).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, _change: &DenyChange, now: &RoleState) -> Result<(), String> {
        let name = deny_policy_name(run);
        if now.inline.contains(&name) {
            Ok(())
        } else {
            Err(format!("inline policy {name} is missing after putting it"))
        }
    }

    async fn revert(&self, aws: &Aws, run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RoleState>> {
        let (role, name) = (&item.change.role_name, deny_policy_name(run));
        if item.now.inline.contains(&name) && !item.before.inline.contains(&name) {
            let call = aws.iam.delete_role_policy().role_name(role).policy_name(&name);
            aws::call(call.send(), format!("delete inline policy {name} from {role} (iam:DeleteRolePolicy)")).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `iam.deny-actions`.
pub const DENY_ACTIONS: ActionInfo = ActionInfo {
    name: "iam.deny-actions",
    target: TargetKind::Role,
    summary: "Put an inline explicit-deny policy (actions, resources) on the roles, named firedrill-deny-<run id>. An explicit deny beats every allow.",
    revert: "Deletes that inline policy.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "actions",
            ty: "list of IAM actions",
            default: "(required)",
            doc: "e.g. [s3:GetObject, dynamodb:*].",
        },
        ParamInfo {
            name: "resources",
            ty: "list of ARNs",
            default: "[\"*\"]",
            doc: "Which resources the deny covers.",
        },
    ],
    permissions: &["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"],
};

// ---------------------------------------------------------------------------------------
// iam.break-trust

/// `iam.break-trust`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakTrust {}

impl Params for BreakTrust {}

/// The trust policy planned for a role (a deny of its own principals first).
#[derive(Debug, Serialize, Deserialize)]
pub struct TrustChange {
    pub role_name: String,
    pub document: String,
}

async fn update_trust(aws: &Aws, role: &str, doc: &str) -> Result<()> {
    let call = aws.iam.update_assume_role_policy().role_name(role).policy_document(doc);
    aws::call(call.send(), format!("set the trust policy of {role} (iam:UpdateAssumeRolePolicy)")).await
}

impl Fault for BreakTrust {
    type On = Roles;
    type Change = TrustChange;

    /// Keep every statement and put, first, an explicit Deny of `sts:AssumeRole` (and its
    /// variants) for the same principals the Allow statements name.
    fn plan(&self, target: &Target, state: &RoleState) -> Result<TrustChange, String> {
        let mut doc = trust_json(&state.trust_document);
        let statements = doc
            .get("Statement")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| format!("{}: its trust policy has no Statement list", target.label()))?;
        let denies: Vec<Value> = statements
            .iter()
            .filter(|s| s.get("Effect") == Some(&json!("Allow")))
            .filter_map(|s| s.get("Principal"))
            .map(|p| json!({ "Sid": "FiredrillBreakTrust", "Effect": "Deny", "Principal": p, "Action": s_actions(&statements) }))
            .collect();
        if denies.is_empty() {
            return Err(format!("{}: its trust policy allows no principal: nothing to break", target.label()));
        }
        let mut all = denies;
        all.extend(statements);
        doc["Statement"] = Value::Array(all);
        Ok(TrustChange { role_name: state.role_name.clone(), document: doc.to_string() })
    }

    fn summarize(&self, _change: &TrustChange) -> Vec<String> {
        vec!["prepend to the trust policy an explicit Deny of sts:AssumeRole for its own principals".into()]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RoleState>> {
        update_trust(aws, &item.change.role_name, &item.change.document).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &TrustChange, now: &RoleState) -> Result<(), String> {
        if trust_json(&now.trust_document) == trust_json(&change.document) {
            Ok(())
        } else {
            Err("the trust policy did not change".into())
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RoleState>> {
        let before = item.before;
        if trust_json(&item.now.trust_document) != trust_json(&before.trust_document) {
            // The exact text the snapshot holds, not a re-serialization of it.
            update_trust(aws, &before.role_name, &before.trust_document).await?;
        }
        Ok(None)
    }
}

/// The assume-role actions the trust policy allows (at least `sts:AssumeRole`).
fn s_actions(statements: &[Value]) -> Value {
    let mut actions: Vec<String> = statements
        .iter()
        .filter(|s| s.get("Effect") == Some(&json!("Allow")))
        .flat_map(|s| match s.get("Action") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(v)) => v.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            _ => vec![],
        })
        .collect();
    if actions.is_empty() {
        actions.push("sts:AssumeRole".into());
    }
    actions.sort();
    actions.dedup();
    json!(actions)
}

/// The catalogue's entry for `iam.break-trust`.
pub const BREAK_TRUST: ActionInfo = ActionInfo {
    name: "iam.break-trust",
    target: TargetKind::Role,
    summary: "Put an explicit Deny for the role's own principals first in its trust policy, so its service (EC2, Lambda, ...) can no longer assume it.",
    revert: "Restores the exact trust policy document.",
    one_shot: false,
    params: &[],
    permissions: &["iam:UpdateAssumeRolePolicy"],
};

// ---------------------------------------------------------------------------------------
// iam.disassociate-instance-profile

/// `iam.disassociate-instance-profile`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisassociateProfile {}

impl Params for DisassociateProfile {}

/// An instance's instance profile, if it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_id: Option<String>,
}

async fn describe_profile(aws: &Aws, instance: &str) -> Result<ProfileState> {
    let out = aws
        .ec2
        .describe_iam_instance_profile_associations()
        .filters(crate::aws::ec2::filter("instance-id", [instance]))
        .send()
        .await
        .map_err(Error::aws(format!(
            "read the instance profile of {instance} (ec2:DescribeIamInstanceProfileAssociations)"
        )))?;
    let assoc = out
        .iam_instance_profile_associations()
        .iter()
        .find(|a| a.state().map(|s| s.as_str()) == Some("associated") && a.instance_id() == Some(instance));
    Ok(ProfileState {
        instance_id: instance.to_owned(),
        profile_arn: assoc.and_then(|a| a.iam_instance_profile()).and_then(|p| p.arn()).map(str::to_owned),
        association_id: assoc.and_then(|a| a.association_id()).map(str::to_owned),
    })
}

/// The profile a disassociate took away: what revert associates again.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileChange {
    pub instance_id: String,
    pub profile_arn: String,
}

/// An instance's instance profile: what disassociating changes and is judged by.
pub struct Profiles;

impl Resource for Profiles {
    type State = ProfileState;

    async fn describe(aws: &Aws, target: &Target) -> Result<ProfileState> {
        describe_profile(aws, &target.id).await
    }

    fn differences(before: &ProfileState, now: &ProfileState) -> Vec<String> {
        super::compare(&before.instance_id, "instance profile", &before.profile_arn, &now.profile_arn)
    }
}

impl Fault for DisassociateProfile {
    type On = Profiles;
    type Change = ProfileChange;

    fn plan(&self, target: &Target, state: &ProfileState) -> Result<ProfileChange, String> {
        let arn = state
            .profile_arn
            .clone()
            .ok_or_else(|| format!("{}: has no instance profile: nothing to break", target.label()))?;
        Ok(ProfileChange { instance_id: state.instance_id.clone(), profile_arn: arn })
    }

    fn summarize(&self, change: &ProfileChange) -> Vec<String> {
        vec![format!("disassociate instance profile {}", change.profile_arn)]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<ProfileState>> {
        let instance = &item.change.instance_id;
        if let Some(assoc) = describe_profile(aws, instance).await?.association_id {
            let call = aws.ec2.disassociate_iam_instance_profile().association_id(&assoc);
            let doing = format!("disassociate the profile of {instance} (ec2:DisassociateIamInstanceProfile)");
            aws::call(call.send(), doing).await?;
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, _change: &ProfileChange, now: &ProfileState) -> Result<(), String> {
        match &now.profile_arn {
            Some(p) => Err(format!("{} still has profile {p}", now.instance_id)),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<ProfileState>> {
        let change = item.change;
        if item.now.profile_arn.is_none() {
            let profile =
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(&change.profile_arn).build();
            let call = aws.ec2.associate_iam_instance_profile().instance_id(&change.instance_id);
            let doing = format!(
                "associate {} with {} (ec2:AssociateIamInstanceProfile)",
                change.profile_arn, change.instance_id
            );
            aws::call(call.iam_instance_profile(profile).send(), doing).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `iam.disassociate-instance-profile`.
pub const DISASSOCIATE_PROFILE: ActionInfo = ActionInfo {
    name: "iam.disassociate-instance-profile",
    target: TargetKind::Instance,
    summary: "Remove the instance profile from the instances: the software on them loses its AWS credentials.",
    revert: "Associates the same instance profile again.",
    one_shot: false,
    params: &[],
    permissions: &[
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DisassociateIamInstanceProfile",
        "ec2:AssociateIamInstanceProfile",
        "iam:PassRole",
    ],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

    fn role(attached: &[&str], inline: &[&str]) -> RoleState {
        RoleState {
            role_name: "web".into(),
            attached: attached.iter().map(|p| p.to_string()).collect(),
            inline: inline.iter().map(|p| p.to_string()).collect(),
            trust_document: TRUST.into(),
        }
    }

    #[test]
    fn detach_picks_policies_by_name_or_arn_and_sees_them_detached() {
        let run = RunCtx::for_tests();
        let (logs, s3) = ("arn:aws:iam::1:policy/logs", "arn:aws:iam::1:policy/s3");
        let before = role(&[logs, s3], &[]);
        let by_name = DetachPolicies { policies: vec!["logs".into()] };
        let c = by_name.plan(&Target::for_tests("web"), &before).unwrap();
        assert_eq!(c.policies, [logs]);
        assert_eq!(DetachPolicies::default().plan(&Target::for_tests("web"), &before).unwrap().policies, [logs, s3]);
        assert_eq!(by_name.observe(&run, &c, &role(&[s3], &[])), Ok(()));
        assert!(by_name.observe(&run, &c, &before).is_err());
        let other = DetachPolicies { policies: vec!["admin".into()] };
        assert!(other.plan(&Target::for_tests("web"), &before).unwrap_err().contains("nothing to break"));
        assert_eq!(
            Roles::differences(&before, &role(&[s3], &[])),
            ["web: policy arn:aws:iam::1:policy/logs not attached"]
        );
    }

    #[test]
    fn deny_actions_is_seen_by_its_run_named_inline_policy() {
        let run = RunCtx::for_tests();
        let f = DenyActions { actions: vec!["s3:GetObject".into()], resources: DenyActions::default_resources() };
        let c = f.plan(&Target::for_tests("web"), &role(&[], &[])).unwrap();
        let doc: Value = serde_json::from_str(&c.document).unwrap();
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(doc["Statement"][0]["Action"], json!(["s3:GetObject"]));
        let name = deny_policy_name(&run);
        assert_eq!(f.observe(&run, &c, &role(&[], &[&name])), Ok(()));
        assert!(f.observe(&run, &c, &role(&[], &[])).is_err());
        assert!(DenyActions { actions: vec!["GetObject".into()], resources: vec![] }.check().is_err());
    }

    #[test]
    fn break_trust_denies_the_allowed_principals_first_and_keeps_every_statement() {
        let run = RunCtx::for_tests();
        let before = role(&[], &[]);
        let c = BreakTrust {}.plan(&Target::for_tests("web"), &before).unwrap();
        let doc: Value = serde_json::from_str(&c.document).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0]["Effect"], "Deny");
        assert_eq!(statements[0]["Principal"], json!({"Service": "ec2.amazonaws.com"}));
        assert_eq!(statements[1], trust_json(TRUST)["Statement"][0], "the original statement is kept, after the deny");
        let broken = RoleState { trust_document: c.document.clone(), ..before.clone() };
        assert_eq!(BreakTrust {}.observe(&run, &c, &broken), Ok(()));
        assert!(BreakTrust {}.observe(&run, &c, &before).is_err());
        assert_eq!(Roles::differences(&before, &broken), ["web: trust policy differs from snapshot"]);
        let reformatted =
            RoleState { trust_document: serde_json::to_string_pretty(&trust_json(TRUST)).unwrap(), ..before.clone() };
        assert!(Roles::differences(&before, &reformatted).is_empty(), "the same policy, written otherwise");
    }

    #[test]
    fn disassociate_needs_a_profile_and_sees_it_gone() {
        let run = RunCtx::for_tests();
        let with = ProfileState {
            instance_id: "i-1".into(),
            profile_arn: Some("arn:p".into()),
            association_id: Some("a-1".into()),
        };
        let without = ProfileState { profile_arn: None, association_id: None, ..with.clone() };
        let c = DisassociateProfile {}.plan(&Target::for_tests("i-1"), &with).unwrap();
        assert_eq!(c.profile_arn, "arn:p");
        assert_eq!(DisassociateProfile {}.observe(&run, &c, &without), Ok(()));
        assert!(DisassociateProfile {}.observe(&run, &c, &with).is_err());
        assert!(DisassociateProfile {}.plan(&Target::for_tests("i-1"), &without).is_err());
        let reassociated = ProfileState { association_id: Some("a-2".into()), ..with.clone() };
        assert!(Profiles::differences(&with, &reassociated).is_empty(), "a new association of the same profile");
    }
}
