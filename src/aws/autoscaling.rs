//! Auto Scaling: groups by name or tag.

use aws_sdk_autoscaling::Client;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// The auto scaling groups `spec` selects.
pub async fn list_groups(asg: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let names: Vec<String> = spec.ids.iter().chain(&spec.names).cloned().collect();
    let groups = asg
        .describe_auto_scaling_groups()
        .set_auto_scaling_group_names((!names.is_empty()).then_some(names))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list auto scaling groups (autoscaling:DescribeAutoScalingGroups)"))?;
    let mut out: Vec<Target> = groups
        .iter()
        .map(|g| Target {
            id: g.auto_scaling_group_name().unwrap_or_default().to_owned(),
            name: None,
            tags: g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                .collect(),
            vpc: None,
        })
        .collect();
    let mut spec = spec.clone();
    spec.ids.clear();
    spec.names.clear(); // matched by name above
    out.retain(|t| t.matches(&spec));
    Ok(out)
}
