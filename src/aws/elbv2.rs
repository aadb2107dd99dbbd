//! Elastic Load Balancing v2: target groups, load balancers and listeners by ARN, name
//! or tag. Tags come from `DescribeTags`, twenty ARNs a call.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::Client;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

async fn tags(elbv2: &Client, arns: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let resp = elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(Error::aws("read load balancing tags (elasticloadbalancing:DescribeTags)"))?;
        for d in resp.tag_descriptions() {
            let tags = d.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())));
            out.insert(d.resource_arn().unwrap_or_default().to_owned(), tags.collect());
        }
    }
    Ok(out)
}

fn finish(
    mut targets: Vec<Target>,
    mut tagmap: BTreeMap<String, BTreeMap<String, String>>,
    spec: &TargetSpec,
) -> Vec<Target> {
    for t in &mut targets {
        t.tags = tagmap.remove(&t.id).unwrap_or_default();
    }
    targets.retain(|t| t.matches(spec));
    targets
}

/// Every target group of the account and region, every page.
pub async fn all_target_groups(elbv2: &Client) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>> {
    elbv2
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list target groups (elasticloadbalancing:DescribeTargetGroups)"))
}

/// The target groups `spec` selects.
pub async fn list_target_groups(elbv2: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let groups = all_target_groups(elbv2).await?;
    let targets: Vec<Target> = groups
        .iter()
        .map(|g| Target {
            id: g.target_group_arn().unwrap_or_default().to_owned(),
            name: g.target_group_name().map(str::to_owned),
            tags: BTreeMap::new(),
            vpc: g.vpc_id().map(str::to_owned),
        })
        .collect();
    let arns: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
    Ok(finish(targets, tags(elbv2, &arns).await?, spec))
}

/// The load balancers `spec` selects.
pub async fn list_load_balancers(elbv2: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let lbs = elbv2
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list load balancers (elasticloadbalancing:DescribeLoadBalancers)"))?;
    let targets: Vec<Target> = lbs
        .iter()
        .map(|l| Target {
            id: l.load_balancer_arn().unwrap_or_default().to_owned(),
            name: l.load_balancer_name().map(str::to_owned),
            tags: BTreeMap::new(),
            vpc: l.vpc_id().map(str::to_owned),
        })
        .collect();
    let arns: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
    Ok(finish(targets, tags(elbv2, &arns).await?, spec))
}

/// Listeners: by ARN or tag, or those of the load balancers named in `names`; `port`
/// narrows either. A listener's name is "<load balancer>:<port>".
pub async fn list_listeners(elbv2: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let mut lb_spec = TargetSpec::ids(Vec::new());
    lb_spec.names = spec.names.clone();
    let lbs = list_load_balancers(elbv2, &lb_spec).await?;
    let mut targets = Vec::new();
    for lb in &lbs {
        let listeners = elbv2
            .describe_listeners()
            .load_balancer_arn(&lb.id)
            .send()
            .await
            .map_err(Error::aws("list listeners (elasticloadbalancing:DescribeListeners)"))?;
        for l in listeners.listeners() {
            if spec.port.is_some_and(|p| l.port() != Some(i32::from(p))) {
                continue;
            }
            targets.push(Target {
                id: l.listener_arn().unwrap_or_default().to_owned(),
                name: Some(format!("{}:{}", lb.name.as_deref().unwrap_or("?"), l.port().unwrap_or(0))),
                tags: BTreeMap::new(),
                vpc: lb.vpc.clone(),
            });
        }
    }
    let arns: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
    let mut spec = spec.clone();
    spec.names.clear(); // matched as load balancer names above
    Ok(finish(targets, tags(elbv2, &arns).await?, &spec))
}
