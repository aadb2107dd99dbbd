//! IAM: roles by name, ARN or tag, or the roles of instances' profiles (`via: instances`).
//! `ListRoles` does not return tags, so tags are read per role when the selector needs them.

use std::collections::BTreeMap;

use super::{Aws, ec2};
use crate::target::{Target, TargetSpec, Via};
use crate::{Error, Result};

fn role_name(id_or_arn: &str) -> &str {
    id_or_arn.rsplit('/').next().unwrap_or(id_or_arn)
}

/// Every role of the account, every page.
pub async fn all_roles(iam: &aws_sdk_iam::Client) -> Result<Vec<aws_sdk_iam::types::Role>> {
    iam.list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list roles (iam:ListRoles)"))
}

/// A role's tags.
pub async fn role_tags(iam: &aws_sdk_iam::Client, name: &str) -> Result<BTreeMap<String, String>> {
    let out = iam
        .list_role_tags()
        .role_name(name)
        .send()
        .await
        .map_err(Error::aws(format!("read the tags of role {name} (iam:ListRoleTags)")))?;
    Ok(out.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
}

async fn role_target(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<Target>> {
    match iam.get_role().role_name(name).send().await {
        Ok(_) => Ok(Some(Target { id: name.to_owned(), tags: role_tags(iam, name).await?, ..Target::default() })),
        Err(e) => {
            let err = Error::aws(format!("read role {name} (iam:GetRole)"))(e);
            if err.aws_code() == Some("NoSuchEntity") { Ok(None) } else { Err(err) }
        }
    }
}

/// The role of an instance profile (by ARN), if it has one.
pub async fn profile_role(iam: &aws_sdk_iam::Client, profile_arn: &str) -> Result<Option<String>> {
    let name = role_name(profile_arn);
    let out = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(Error::aws(format!("read instance profile {name} (iam:GetInstanceProfile)")))?;
    Ok(out.instance_profile().and_then(|p| p.roles().first()).map(|r| r.role_name().to_owned()))
}

/// Role targets are identified by role name.
pub async fn list_roles(aws: &Aws, spec: &TargetSpec) -> Result<Vec<Target>> {
    let iam = &aws.iam;
    let mut out: BTreeMap<String, Target> = BTreeMap::new();
    if spec.via == Some(Via::Instances) {
        let instances = ec2::list_instances(&aws.ec2, spec).await?;
        for i in instances {
            let Some(inst) = ec2::describe_instance(&aws.ec2, &i.id).await? else { continue };
            let Some(arn) = inst.iam_instance_profile().and_then(|p| p.arn()) else { continue };
            if let Some(role) = profile_role(iam, arn).await?
                && let Some(t) = role_target(iam, &role).await?
            {
                out.insert(t.id.clone(), t);
            }
        }
        return Ok(out.into_values().collect());
    }
    let named: Vec<&str> = spec.ids.iter().chain(&spec.names).map(|s| role_name(s)).collect();
    if !named.is_empty() {
        for name in named {
            if let Some(t) = role_target(iam, name).await? {
                out.insert(t.id.clone(), t);
            }
        }
    } else {
        let roles = all_roles(iam).await?;
        for r in roles {
            let name = r.role_name().to_owned();
            let tags = role_tags(iam, &name).await?;
            out.insert(name.clone(), Target { id: name, tags, ..Target::default() });
        }
    }
    let mut spec = spec.clone();
    // Ids may be ARNs: they were matched by name above.
    spec.ids.clear();
    spec.names.clear();
    Ok(out.into_values().filter(|t| t.matches(&spec)).collect())
}

/// IAM returns policy documents URL-encoded (RFC 3986); decode `%XX` escapes.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(super::percent_decode(r#"{"a":"100%"}"#), r#"{"a":"100%"}"#);
    }
}
