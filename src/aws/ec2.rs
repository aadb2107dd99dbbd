//! EC2: listing security groups and instances for target selection, and describing them.
//!
//! Listing filters on the server where EC2 can (ids, names, tags), then checks every
//! criterion again locally ([`Target::matches`]), so a service that ignores a filter
//! cannot widen the blast radius. Paging uses the SDK's paginators.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, Instance, SecurityGroup, Tag};

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

fn tag_filters(spec: &TargetSpec) -> Vec<Filter> {
    spec.tags.iter().map(|(k, v)| filter(&format!("tag:{k}"), [v.clone()])).collect()
}

pub fn tags_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// Security groups matching the selector (before any count/percent pick).
pub async fn list_security_groups(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let mut filters = tag_filters(spec);
    if !spec.ids.is_empty() {
        filters.push(filter("group-id", spec.ids.clone()));
    }
    if !spec.names.is_empty() {
        filters.push(filter("group-name", spec.names.clone()));
    }
    let groups = ec2
        .describe_security_groups()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list security groups (ec2:DescribeSecurityGroups)"))?;
    let mut out: Vec<Target> = groups
        .iter()
        .map(|g| Target {
            id: g.group_id().unwrap_or_default().to_owned(),
            name: g.group_name().map(str::to_owned),
            tags: tags_map(g.tags()),
        })
        .collect();
    out.retain(|t| t.matches(spec));
    Ok(out)
}

/// One security group, or `None` if it no longer exists.
pub async fn describe_security_group(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<SecurityGroup>> {
    let out = ec2
        .describe_security_groups()
        .filters(filter("group-id", [id]))
        .send()
        .await
        .map_err(Error::aws(format!("describe security group {id} (ec2:DescribeSecurityGroups)")))?;
    Ok(out.security_groups.unwrap_or_default().into_iter().next())
}

/// Security groups carrying `key=value`, e.g. what a run created.
pub async fn security_groups_tagged(ec2: &aws_sdk_ec2::Client, key: &str, value: &str) -> Result<Vec<SecurityGroup>> {
    let out = ec2
        .describe_security_groups()
        .filters(filter(&format!("tag:{key}"), [value]))
        .send()
        .await
        .map_err(Error::aws(format!("find security groups tagged {key}={value} (ec2:DescribeSecurityGroups)")))?;
    Ok(out.security_groups.unwrap_or_default())
}

/// Instances matching the selector that are not terminated or terminating.
pub async fn list_instances(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let mut filters = tag_filters(spec);
    filters.push(filter("instance-state-name", ["pending", "running", "stopping", "stopped"]));
    if !spec.ids.is_empty() {
        filters.push(filter("instance-id", spec.ids.clone()));
    }
    if !spec.names.is_empty() {
        filters.push(filter("tag:Name", spec.names.clone()));
    }
    let reservations = ec2
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list instances (ec2:DescribeInstances)"))?;
    let mut out: Vec<Target> = reservations
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let tags = tags_map(i.tags());
            Target { id: i.instance_id().unwrap_or_default().to_owned(), name: tags.get("Name").cloned(), tags }
        })
        .collect();
    out.retain(|t| t.matches(spec));
    Ok(out)
}

/// One instance, or `None` if it does not exist.
pub async fn describe_instance(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<Instance>> {
    let out = ec2
        .describe_instances()
        .filters(filter("instance-id", [id]))
        .send()
        .await
        .map_err(Error::aws(format!("describe instance {id} (ec2:DescribeInstances)")))?;
    Ok(out.reservations().iter().flat_map(|r| r.instances()).next().cloned())
}
