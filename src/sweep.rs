//! Leftovers: what firedrill created in AWS that no open run in this state store owns —
//! its run is closed, or unknown here (the state directory was lost, or the run was made
//! from another machine). `firedrill sweep` lists them; `--delete` removes them.
//!
//! Deleted only when unmistakably firedrill's: the full tag set firedrill writes (run,
//! fault and kind: [`crate::aws::KIND_TAG`]) **and** the shape it creates — an empty
//! quarantine group, an ACL clone with firedrill's deny-all entries at the top, a rule,
//! an inline policy of firedrill's name holding only firedrill's deny statement. Anything
//! else that merely looks like it (a production group carrying a stale `firedrill:run`
//! tag) is listed with the reason and left. Stale hold tags (of runs this store knows are
//! closed) are removed; holds of runs it does not know are listed and left: they may be
//! another store's open runs. Never swept: images, EBS snapshots and relaunched instances
//! — evidence and restored capacity, kept on purpose — and anything still in use.
//!
//! A sweep looks in one account and region: the one the credentials point at.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::ec2::{filter, tags_map};
use crate::aws::retry::retry;
use crate::aws::{Aws, FAULT_TAG, KIND_TAG, RUN_TAG, holds, kind};
use crate::store::Store;
use crate::{Error, Result};

/// The IAM actions a sweep calls to find leftovers, whatever the runs' faults were
/// (deleting one needs what the action that created it needs to revert it: see each
/// action's permissions).
pub const PERMISSIONS: &[&str] = &[
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeTags",
    "iam:ListRoles",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
];

/// Something firedrill created that no open run owns.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Leftover {
    pub kind: &'static str,
    pub id: String,
    pub run_id: String,
    /// "run closed", "run unknown to this state store", or "run damaged".
    pub why: &'static str,
    /// Where it is: a group's VPC, a rule's group, a policy's role, a hold's resource.
    pub detail: String,
    /// Why `--delete` leaves it, when it does: not firedrill's full tag set or shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the store knows of runs: which are open, which it knows at all.
struct Runs {
    open: BTreeSet<String>,
    known: BTreeSet<String>,
    damaged: BTreeSet<String>,
    /// The store's identity, as the hold tags it writes end.
    identity: String,
}

impl Runs {
    fn read(store: &Store) -> Result<Runs> {
        let (runs, damaged) = store.runs()?;
        Ok(Runs {
            open: runs.iter().filter(|r| r.needs_revert()).map(|r| r.run_id.clone()).collect(),
            known: runs.iter().map(|r| r.run_id.clone()).collect(),
            damaged: damaged.into_iter().map(|(id, _)| id).collect(),
            identity: store.identity(),
        })
    }

    /// Why `--delete` must leave a hold tag of `run` (valued `value`), if it must: a
    /// hold of a run this store does not know, unless this store wrote it (and so lost
    /// the run), may be another store's open run.
    fn hold_kept(&self, run: &str, value: &str) -> Option<String> {
        (!self.known.contains(run) && !value.ends_with(&self.identity)).then(|| {
            format!("held by {value}, a run of another state store: it may be open there; remove the tag by hand if it is not")
        })
    }

    /// Why a resource of `run` is a leftover, or `None` when an open run owns it.
    fn why(&self, run: &str) -> Option<&'static str> {
        if self.open.contains(run) {
            None
        } else if self.damaged.contains(run) {
            Some("run damaged")
        } else if self.known.contains(run) {
            Some("run closed")
        } else {
            Some("run unknown to this state store")
        }
    }
}

/// Every leftover in the account the credentials point at.
pub async fn find(aws: &Aws, store: &Store) -> Result<Vec<Leftover>> {
    let runs = Runs::read(store)?;
    let mut out = Vec::new();
    let mut push = |kind, id: String, run: String, detail: String, kept: Option<String>| {
        if let Some(why) = runs.why(&run) {
            // A run this store has not closed may still be someone's: never delete for it.
            let kept = kept.or_else(|| (why == "run damaged").then(|| "its run directory is damaged".to_owned()));
            out.push(Leftover { kind, id, run_id: run, why, detail, kept, deleted: false, error: None });
        }
    };
    let tagged = filter("tag-key", [RUN_TAG]);
    let groups = aws
        .ec2
        .describe_security_groups()
        .filters(tagged.clone())
        .send()
        .await
        .map_err(Error::aws("find firedrill's security groups (ec2:DescribeSecurityGroups)"))?;
    for g in groups.security_groups() {
        let tags = tags_map(g.tags());
        let Some(run) = tags.get(RUN_TAG).cloned() else { continue };
        // Empty, or (a crash between creating it and emptying it) with only the
        // allow-all egress rule AWS gives every new group.
        let new_egress = |p: &aws_sdk_ec2::types::IpPermission| {
            p.ip_protocol() == Some("-1")
                && p.user_id_group_pairs().is_empty()
                && p.prefix_list_ids().is_empty()
                && p.ip_ranges().iter().all(|r| r.cidr_ip() == Some("0.0.0.0/0"))
                && p.ipv6_ranges().iter().all(|r| r.cidr_ipv6() == Some("::/0"))
        };
        let rules = g.ip_permissions().len() + g.ip_permissions_egress().iter().filter(|p| !new_egress(p)).count();
        let kept = missing_tags(&tags, kind::QUARANTINE_GROUP).or_else(|| {
            (rules > 0).then(|| format!("has {rules} rule set(s): firedrill's quarantine groups have none"))
        });
        let id = g.group_id().unwrap_or_default().to_owned();
        push("security-group", id, run, format!("in {}", g.vpc_id().unwrap_or("?")), kept);
    }
    let acls = aws
        .ec2
        .describe_network_acls()
        .filters(tagged.clone())
        .send()
        .await
        .map_err(Error::aws("find firedrill's network ACLs (ec2:DescribeNetworkAcls)"))?;
    for a in acls.network_acls() {
        let tags = tags_map(a.tags());
        let Some(run) = tags.get(RUN_TAG).cloned() else { continue };
        let denies_first = [false, true].iter().all(|egress| {
            a.entries().iter().any(|e| {
                e.rule_number() == Some(1)
                    && e.egress() == Some(*egress)
                    && e.rule_action().is_some_and(|r| r.as_str() == "deny")
                    && e.protocol() == Some("-1")
            })
        });
        let kept = missing_tags(&tags, kind::ACL_CLONE)
            .or_else(|| (a.is_default() == Some(true)).then(|| "is its VPC's default ACL".to_owned()))
            .or_else(|| (!denies_first).then(|| "lacks firedrill's deny-all entries at rule 1".to_owned()));
        let id = a.network_acl_id().unwrap_or_default().to_owned();
        push("network-acl", id, run, format!("in {}", a.vpc_id().unwrap_or("?")), kept);
    }
    let rules = aws
        .ec2
        .describe_security_group_rules()
        .filters(tagged)
        .send()
        .await
        .map_err(Error::aws("find firedrill's security group rules (ec2:DescribeSecurityGroupRules)"))?;
    for r in rules.security_group_rules() {
        let tags = tags_map(r.tags());
        let Some(run) = tags.get(RUN_TAG).cloned() else { continue };
        let dir = if r.is_egress() == Some(true) { "egress" } else { "ingress" };
        let id = r.security_group_rule_id().unwrap_or_default().to_owned();
        push(
            "security-group-rule",
            id,
            run,
            format!("{dir} of {}", r.group_id().unwrap_or("?")),
            missing_tags(&tags, kind::RULE),
        );
    }
    let hold_tags = aws
        .ec2
        .describe_tags()
        .filters(filter("key", [format!("{}*", holds::HOLD_PREFIX)]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("find hold tags (ec2:DescribeTags)"))?;
    for t in hold_tags {
        let Some(run) = t.key().and_then(|k| k.strip_prefix(holds::HOLD_PREFIX)) else { continue };
        let kept = runs.hold_kept(run, t.value().unwrap_or_default());
        push(
            "hold-tag",
            t.key().unwrap_or_default().to_owned(),
            run.to_owned(),
            format!("on {}", t.resource_id().unwrap_or("?")),
            kept,
        );
    }
    let roles = crate::aws::iam::all_roles(&aws.iam).await?;
    for role in roles {
        let name = role.role_name();
        let policies = aws
            .iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(Error::aws(format!("list the inline policies of {name} (iam:ListRolePolicies)")))?;
        for policy in policies.policy_names() {
            // firedrill-deny-<run id, '.' as '_'>-<fault>
            let Some(rest) = policy.strip_prefix("firedrill-deny-") else { continue };
            let Some((run, _fault)) = rest.rsplit_once('-') else { continue };
            let run = run.replacen('_', ".", 1);
            if runs.why(&run).is_none() {
                continue;
            }
            let kept = deny_policy_shape(aws, name, policy).await?;
            push("inline-policy", policy.clone(), run, format!("on role {name}"), kept);
        }
        for (key, value) in crate::aws::iam::role_tags(&aws.iam, name).await? {
            let Some(run) = key.strip_prefix(holds::HOLD_PREFIX) else { continue };
            let kept = runs.hold_kept(run, &value);
            push("hold-tag", key.clone(), run.to_owned(), format!("on role {name}"), kept);
        }
    }
    Ok(out)
}

/// Which of firedrill's tags a resource of `kind` lacks, if any: without all three it is
/// not unmistakably firedrill's.
fn missing_tags(tags: &std::collections::BTreeMap<String, String>, kind: &str) -> Option<String> {
    if tags.get(KIND_TAG).map(String::as_str) == Some(kind) && tags.contains_key(FAULT_TAG) {
        return None;
    }
    Some(format!(
        "lacks firedrill's full tag set ({RUN_TAG}, {FAULT_TAG}, {KIND_TAG}={kind}): not unmistakably firedrill's"
    ))
}

/// Why the inline policy `policy` of `role` is not firedrill's deny policy, if it is not:
/// firedrill's holds only statements with its `Sid` and `Effect: Deny`.
async fn deny_policy_shape(aws: &Aws, role: &str, policy: &str) -> Result<Option<String>> {
    let got = aws
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
        .map_err(Error::aws(format!("read inline policy {policy} of {role} (iam:GetRolePolicy)")))?;
    let doc: serde_json::Value =
        serde_json::from_str(&crate::aws::iam::percent_decode(got.policy_document())).unwrap_or_default();
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(s) => s.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let firedrills = !statements.is_empty()
        && statements
            .iter()
            .all(|s| s["Sid"] == "FiredrillDeny" && s["Effect"] == "Deny" && s.get("NotAction").is_none());
    Ok((!firedrills).then(|| "its document is not firedrill's deny statement".to_owned()))
}

/// Delete each leftover that is firedrill's and not in use; record what happened on it.
pub async fn delete(aws: &Aws, leftovers: &mut [Leftover]) {
    for l in leftovers.iter_mut().filter(|l| l.kept.is_none()) {
        let result =
            match l.kind {
                "security-group" => delete_group(aws, &l.id).await,
                "network-acl" => delete_acl(aws, &l.id).await,
                "security-group-rule" => delete_rule(aws, &l.id, &l.detail).await,
                "hold-tag" => delete_hold(aws, &l.id, &l.detail).await,
                "inline-policy" => {
                    let role = l.detail.trim_start_matches("on role ");
                    aws.iam.delete_role_policy().role_name(role).policy_name(&l.id).send().await.map(drop).map_err(
                        Error::aws(format!("delete inline policy {} from {role} (iam:DeleteRolePolicy)", l.id)),
                    )
                }
                _ => Ok(()),
            };
        match result {
            Ok(()) => l.deleted = true,
            Err(e) => l.error = Some(e.to_string()),
        }
    }
}

async fn delete_group(aws: &Aws, id: &str) -> Result<()> {
    let enis = aws
        .ec2
        .describe_network_interfaces()
        .filters(filter("group-id", [id]))
        .send()
        .await
        .map_err(Error::aws("find interfaces using the group (ec2:DescribeNetworkInterfaces)"))?;
    let users: Vec<&str> = enis.network_interfaces().iter().filter_map(|n| n.network_interface_id()).collect();
    if !users.is_empty() {
        return Err(Error::Refused(format!("{id} is still used by {}: restore their groups first", users.join(", "))));
    }
    // DependencyViolation while an interface lets go of it (a load balancer's, minutes
    // after its groups changed): wait for it.
    retry(|| async {
        let doing = format!("delete security group {id} (ec2:DeleteSecurityGroup)");
        aws.ec2.delete_security_group().group_id(id).send().await.map(drop).map_err(Error::aws(doing))
    })
    .await
}

async fn delete_acl(aws: &Aws, id: &str) -> Result<()> {
    if let Some(acl) = crate::aws::ec2::describe_network_acl(&aws.ec2, id).await? {
        let subnets: Vec<&str> = acl.associations().iter().filter_map(|a| a.subnet_id()).collect();
        if !subnets.is_empty() {
            return Err(Error::Refused(format!(
                "{id} is still associated with {}: re-associate them first",
                subnets.join(", ")
            )));
        }
    }
    retry(|| async {
        let doing = format!("delete network ACL {id} (ec2:DeleteNetworkAcl)");
        aws.ec2.delete_network_acl().network_acl_id(id).send().await.map(drop).map_err(Error::aws(doing))
    })
    .await
}

async fn delete_rule(aws: &Aws, id: &str, detail: &str) -> Result<()> {
    let (dir, group) = detail.split_once(" of ").unwrap_or(("ingress", detail));
    let doing = format!("remove rule {id} from {group}");
    if dir == "egress" {
        let call = aws.ec2.revoke_security_group_egress().group_id(group).security_group_rule_ids(id);
        crate::aws::call(call.send(), format!("{doing} (ec2:RevokeSecurityGroupEgress)")).await
    } else {
        let call = aws.ec2.revoke_security_group_ingress().group_id(group).security_group_rule_ids(id);
        crate::aws::call(call.send(), format!("{doing} (ec2:RevokeSecurityGroupIngress)")).await
    }
}

/// Remove a stale hold tag (`key`) from the resource `detail` names.
async fn delete_hold(aws: &Aws, key: &str, detail: &str) -> Result<()> {
    let run = key.strip_prefix(holds::HOLD_PREFIX).unwrap_or(key);
    if let Some(role) = detail.strip_prefix("on role ") {
        return holds::remove(aws, crate::target::TargetKind::Role, &[role], run).await;
    }
    let resource = detail.trim_start_matches("on ");
    // Any EC2 kind: the tag call is the same for all of them.
    holds::remove(aws, crate::target::TargetKind::SecurityGroup, &[resource], run).await
}
