//! Leftovers: what firedrill created in AWS that no open run in this state store owns —
//! its run is closed, or unknown here (the state directory was lost, or the run was made
//! from another machine). `firedrill sweep` lists them; `--delete` removes them.
//!
//! Found by the run tag (`firedrill:run`): quarantine security groups, network ACL clones,
//! security-group rules firedrill added; and by name: inline deny policies
//! (`firedrill-deny-<run>-<n>`). Never swept: images, EBS snapshots and relaunched
//! instances — evidence and restored capacity, kept on purpose. Anything still in use
//! (a group on an interface, an ACL on a subnet) is reported, not deleted.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::aws::ec2::filter;
use crate::aws::{Aws, RUN_TAG};
use crate::store::Store;
use crate::{Error, Result};

#[derive(Debug, Serialize)]
pub struct Leftover {
    pub kind: &'static str,
    pub id: String,
    pub run_id: String,
    /// "run closed" or "run unknown to this state store".
    pub why: &'static str,
    /// Where it is: a group's VPC, a rule's group, a policy's role.
    pub detail: String,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn tag_of(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(RUN_TAG)).and_then(|t| t.value().map(str::to_owned))
}

/// Every leftover in the account the credentials point at.
pub async fn find(aws: &Aws, store: &Store) -> Result<Vec<Leftover>> {
    let mut known = BTreeSet::new();
    let mut open = BTreeSet::new();
    for id in store.run_ids()? {
        if store.read(&id)?.needs_revert() {
            open.insert(id.clone());
        }
        known.insert(id);
    }
    let why = |run: &str| -> Option<&'static str> {
        if open.contains(run) {
            None
        } else if known.contains(run) {
            Some("run closed")
        } else {
            Some("run unknown to this state store")
        }
    };
    let mut out = Vec::new();
    let mut push = |kind, id: String, run: String, detail: String| {
        if let Some(why) = why(&run) {
            out.push(Leftover { kind, id, run_id: run, why, detail, deleted: false, error: None });
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
        if let Some(run) = tag_of(g.tags()) {
            push(
                "security-group",
                g.group_id().unwrap_or_default().into(),
                run,
                format!("in {}", g.vpc_id().unwrap_or("?")),
            );
        }
    }
    let acls = aws
        .ec2
        .describe_network_acls()
        .filters(tagged.clone())
        .send()
        .await
        .map_err(Error::aws("find firedrill's network ACLs (ec2:DescribeNetworkAcls)"))?;
    for a in acls.network_acls() {
        if let Some(run) = tag_of(a.tags()) {
            push(
                "network-acl",
                a.network_acl_id().unwrap_or_default().into(),
                run,
                format!("in {}", a.vpc_id().unwrap_or("?")),
            );
        }
    }
    let rules = aws
        .ec2
        .describe_security_group_rules()
        .filters(tagged)
        .send()
        .await
        .map_err(Error::aws("find firedrill's security group rules (ec2:DescribeSecurityGroupRules)"))?;
    for r in rules.security_group_rules() {
        if let Some(run) = tag_of(r.tags()) {
            let dir = if r.is_egress() == Some(true) { "egress" } else { "ingress" };
            push(
                "security-group-rule",
                r.security_group_rule_id().unwrap_or_default().into(),
                run,
                format!("{dir} of {}", r.group_id().unwrap_or("?")),
            );
        }
    }
    let roles = aws
        .iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list roles (iam:ListRoles)"))?;
    for role in roles {
        let names =
            aws.iam.list_role_policies().role_name(role.role_name()).send().await.map_err(Error::aws(format!(
                "list the inline policies of {} (iam:ListRolePolicies)",
                role.role_name()
            )))?;
        for name in names.policy_names() {
            // firedrill-deny-<run id, '.' as '_'>-<fault>
            let Some(rest) = name.strip_prefix("firedrill-deny-") else { continue };
            let Some((run, _fault)) = rest.rsplit_once('-') else { continue };
            push("inline-policy", name.clone(), run.replacen('_', ".", 1), format!("on role {}", role.role_name()));
        }
    }
    Ok(out)
}

/// Delete each leftover that is not in use; record what happened on it.
pub async fn delete(aws: &Aws, leftovers: &mut [Leftover]) {
    for l in leftovers.iter_mut() {
        let result =
            match l.kind {
                "security-group" => delete_group(aws, &l.id).await,
                "network-acl" => delete_acl(aws, &l.id).await,
                "security-group-rule" => delete_rule(aws, &l.id, &l.detail).await,
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
    aws.ec2
        .delete_security_group()
        .group_id(id)
        .send()
        .await
        .map(drop)
        .map_err(Error::aws(format!("delete security group {id} (ec2:DeleteSecurityGroup)")))
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
    aws.ec2
        .delete_network_acl()
        .network_acl_id(id)
        .send()
        .await
        .map(drop)
        .map_err(Error::aws(format!("delete network ACL {id} (ec2:DeleteNetworkAcl)")))
}

async fn delete_rule(aws: &Aws, id: &str, detail: &str) -> Result<()> {
    let (dir, group) = detail.split_once(" of ").unwrap_or(("ingress", detail));
    let doing = format!("remove rule {id} from {group}");
    if dir == "egress" {
        aws.ec2
            .revoke_security_group_egress()
            .group_id(group)
            .security_group_rule_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(Error::aws(format!("{doing} (ec2:RevokeSecurityGroupEgress)")))
    } else {
        aws.ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .security_group_rule_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(Error::aws(format!("{doing} (ec2:RevokeSecurityGroupIngress)")))
    }
}
