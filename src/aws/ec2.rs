//! EC2: listing security groups and instances for target selection, and describing them.
//!
//! Listing filters on the server where EC2 can (ids, names, tags), then checks every
//! criterion again locally ([`Target::matches`]), so a service that ignores a filter
//! cannot widen the blast radius. Paging uses the SDK's paginators.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, Instance, NetworkAcl, RouteTable, SecurityGroup, Tag};

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// An EC2 describe filter.
pub fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

fn tag_filters(spec: &TargetSpec) -> Vec<Filter> {
    spec.tags.iter().map(|(k, v)| filter(&format!("tag:{k}"), [v.clone()])).collect()
}

/// The `vpc-id` filter when the selector pins a VPC (checked again locally).
fn vpc_filter(spec: &TargetSpec) -> Option<Filter> {
    spec.vpc.as_ref().map(|v| filter("vpc-id", [v.clone()]))
}

/// EC2 tags as a map.
pub fn tags_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

/// Security groups matching the selector (before any count/percent pick).
pub async fn list_security_groups(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    Ok(list_security_groups_with(ec2, spec, |_| ()).await?.into_iter().map(|(t, ())| t).collect())
}

/// How many resources one page of a listing asks for: EC2's most, which bounds the
/// memory a page takes however large the fleet.
const PAGE: i32 = 1000;

/// [`list_security_groups`], keeping `keep(group)` of each: the listing is a describe,
/// so planning can snapshot from it. Page by page: only what `keep` returns outlives
/// its page.
pub async fn list_security_groups_with<T>(
    ec2: &aws_sdk_ec2::Client,
    spec: &TargetSpec,
    keep: impl Fn(&SecurityGroup) -> T,
) -> Result<Vec<(Target, T)>> {
    let mut filters = tag_filters(spec);
    if !spec.ids.is_empty() {
        filters.push(filter("group-id", spec.ids.clone()));
    }
    if !spec.names.is_empty() {
        filters.push(filter("group-name", spec.names.clone()));
    }
    filters.extend(vpc_filter(spec));
    let mut pages = ec2.describe_security_groups().set_filters(Some(filters)).max_results(PAGE).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(Error::aws("list security groups (ec2:DescribeSecurityGroups)"))?;
        for g in page.security_groups() {
            let t = Target {
                id: g.group_id().unwrap_or_default().to_owned(),
                name: g.group_name().map(str::to_owned),
                tags: tags_map(g.tags()),
                vpc: g.vpc_id().map(str::to_owned),
            };
            if t.matches(spec) {
                out.push((t, keep(g)));
            }
        }
    }
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

/// How many ids one batched describe asks for (one filter's values).
pub const DESCRIBE_BATCH: usize = 200;

/// The security groups with these ids that exist, over every page. Asked by id list
/// (an id lookup: 65 ms for 200 of 1000 groups in the emulator, against 490 ms as a
/// `group-id` filter); if one no longer exists EC2 fails the whole call, and the filter,
/// which leaves it out, is asked instead.
pub async fn describe_security_groups(ec2: &aws_sdk_ec2::Client, ids: &[&str]) -> Result<Vec<SecurityGroup>> {
    let ask = |by_id: bool| {
        let request = ec2.describe_security_groups();
        let request = if by_id {
            request.set_group_ids(Some(ids.iter().map(|s| (*s).to_owned()).collect()))
        } else {
            request.filters(filter("group-id", ids.iter().copied()))
        };
        request.into_paginator().items().send().try_collect()
    };
    let doing = || format!("describe {} security groups (ec2:DescribeSecurityGroups)", ids.len());
    match ask(true).await.map_err(Error::aws(doing())) {
        Err(e) if e.aws_code() == Some("InvalidGroup.NotFound") => ask(false).await.map_err(Error::aws(doing())),
        other => other,
    }
}

/// The instances with these ids that exist, over every page: by id list, and by filter
/// when one no longer exists (as [`describe_security_groups`]).
pub async fn describe_instances(ec2: &aws_sdk_ec2::Client, ids: &[&str]) -> Result<Vec<Instance>> {
    let ask = |by_id: bool| {
        let request = ec2.describe_instances();
        let request = if by_id {
            request.set_instance_ids(Some(ids.iter().map(|s| (*s).to_owned()).collect()))
        } else {
            request.filters(filter("instance-id", ids.iter().copied()))
        };
        request.into_paginator().items().send().try_collect()
    };
    let doing = || format!("describe {} instances (ec2:DescribeInstances)", ids.len());
    let reservations: Vec<_> = match ask(true).await.map_err(Error::aws(doing())) {
        Err(e) if e.aws_code() == Some("InvalidInstanceID.NotFound") => {
            ask(false).await.map_err(Error::aws(doing()))?
        }
        other => other?,
    };
    Ok(reservations.into_iter().flat_map(|r| r.instances.unwrap_or_default()).collect())
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
    Ok(list_instances_with(ec2, spec, |_| ()).await?.into_iter().map(|(t, ())| t).collect())
}

/// [`list_instances`], keeping `keep(instance)` of each, page by page (see
/// [`list_security_groups_with`]).
pub async fn list_instances_with<T>(
    ec2: &aws_sdk_ec2::Client,
    spec: &TargetSpec,
    keep: impl Fn(&Instance) -> T,
) -> Result<Vec<(Target, T)>> {
    let mut filters = tag_filters(spec);
    filters.push(filter("instance-state-name", ["pending", "running", "stopping", "stopped"]));
    if !spec.ids.is_empty() {
        filters.push(filter("instance-id", spec.ids.clone()));
    }
    if !spec.names.is_empty() {
        filters.push(filter("tag:Name", spec.names.clone()));
    }
    filters.extend(vpc_filter(spec));
    let mut pages = ec2.describe_instances().set_filters(Some(filters)).max_results(PAGE).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(Error::aws("list instances (ec2:DescribeInstances)"))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let tags = tags_map(i.tags());
            let t = Target {
                id: i.instance_id().unwrap_or_default().to_owned(),
                name: tags.get("Name").cloned(),
                tags,
                vpc: i.vpc_id().map(str::to_owned),
            };
            if t.matches(spec) {
                out.push((t, keep(i)));
            }
        }
    }
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

/// Subnets matching the selector; `names` match the `Name` tag.
pub async fn list_subnets(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let mut filters = tag_filters(spec);
    if !spec.ids.is_empty() {
        filters.push(filter("subnet-id", spec.ids.clone()));
    }
    if !spec.names.is_empty() {
        filters.push(filter("tag:Name", spec.names.clone()));
    }
    filters.extend(vpc_filter(spec));
    let subnets = ec2
        .describe_subnets()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list subnets (ec2:DescribeSubnets)"))?;
    let mut out: Vec<Target> = subnets
        .iter()
        .map(|s| {
            let tags = tags_map(s.tags());
            Target {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                name: tags.get("Name").cloned(),
                tags,
                vpc: s.vpc_id().map(str::to_owned),
            }
        })
        .collect();
    out.retain(|t| t.matches(spec));
    Ok(out)
}

/// The network ACL a subnet is associated with, and the association's id.
pub async fn subnet_acl(ec2: &aws_sdk_ec2::Client, subnet: &str) -> Result<Option<(NetworkAcl, String)>> {
    let out = ec2
        .describe_network_acls()
        .filters(filter("association.subnet-id", [subnet]))
        .send()
        .await
        .map_err(Error::aws(format!("find the network ACL of {subnet} (ec2:DescribeNetworkAcls)")))?;
    Ok(out.network_acls.unwrap_or_default().into_iter().find_map(|acl| {
        let assoc =
            acl.associations().iter().find(|a| a.subnet_id() == Some(subnet))?.network_acl_association_id()?.to_owned();
        Some((acl, assoc))
    }))
}

/// One network ACL, or `None` if it does not exist. (By id, not by the `network-acl-id`
/// filter: the emulator does not implement that filter.)
pub async fn describe_network_acl(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<NetworkAcl>> {
    match ec2.describe_network_acls().network_acl_ids(id).send().await {
        Ok(out) => Ok(out.network_acls.unwrap_or_default().into_iter().next()),
        Err(e) => {
            let err = Error::aws(format!("describe network ACL {id} (ec2:DescribeNetworkAcls)"))(e);
            if err.aws_code() == Some("InvalidNetworkAclID.NotFound") { Ok(None) } else { Err(err) }
        }
    }
}

/// The route table a subnet uses: its explicit association, else its VPC's main table.
pub async fn subnet_route_table(ec2: &aws_sdk_ec2::Client, subnet: &str, vpc: &str) -> Result<Option<RouteTable>> {
    let explicit = ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", [subnet]))
        .send()
        .await
        .map_err(Error::aws(format!("find the route table of {subnet} (ec2:DescribeRouteTables)")))?;
    if let Some(t) = explicit.route_tables.unwrap_or_default().into_iter().next() {
        return Ok(Some(t));
    }
    let main = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", [vpc]))
        .filters(filter("association.main", ["true"]))
        .send()
        .await
        .map_err(Error::aws(format!("find the main route table of {vpc} (ec2:DescribeRouteTables)")))?;
    Ok(main.route_tables.unwrap_or_default().into_iter().next())
}

/// A route table by id; `None` if it does not exist.
pub async fn describe_route_table(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<RouteTable>> {
    let out = ec2
        .describe_route_tables()
        .filters(filter("route-table-id", [id]))
        .send()
        .await
        .map_err(Error::aws(format!("describe route table {id} (ec2:DescribeRouteTables)")))?;
    Ok(out.route_tables.unwrap_or_default().into_iter().next())
}

/// The distinct network ACLs of the subnets `spec` selects. A target's name lists its
/// subnets; its tags are the ACL's own.
pub async fn list_network_acls_of_subnets(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let mut acls: BTreeMap<String, Target> = BTreeMap::new();
    for subnet in list_subnets(ec2, spec).await? {
        if let Some((acl, _)) = subnet_acl(ec2, &subnet.id).await? {
            let id = acl.network_acl_id().unwrap_or_default().to_owned();
            let vpc = acl.vpc_id().map(str::to_owned);
            let t =
                acls.entry(id.clone()).or_insert_with(|| Target { id, tags: tags_map(acl.tags()), vpc, name: None });
            t.name = Some(match t.name.take() {
                Some(n) => format!("{n}, {}", subnet.id),
                None => format!("for {}", subnet.id),
            });
        }
    }
    Ok(acls.into_values().collect())
}

/// The distinct route tables of the subnets `spec` selects.
pub async fn list_route_tables_of_subnets(ec2: &aws_sdk_ec2::Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let subnets = ec2
        .describe_subnets()
        .set_subnet_ids(Some(list_subnets(ec2, spec).await?.into_iter().map(|t| t.id).collect()))
        .send()
        .await
        .map_err(Error::aws("describe subnets (ec2:DescribeSubnets)"))?;
    let mut tables: BTreeMap<String, Target> = BTreeMap::new();
    for subnet in subnets.subnets() {
        let (sid, vpc) = (subnet.subnet_id().unwrap_or_default(), subnet.vpc_id().unwrap_or_default());
        if let Some(rt) = subnet_route_table(ec2, sid, vpc).await? {
            let id = rt.route_table_id().unwrap_or_default().to_owned();
            let vpc = rt.vpc_id().map(str::to_owned);
            let t =
                tables.entry(id.clone()).or_insert_with(|| Target { id, tags: tags_map(rt.tags()), vpc, name: None });
            t.name = Some(match t.name.take() {
                Some(n) => format!("{n}, {sid}"),
                None => format!("for {sid}"),
            });
        }
    }
    Ok(tables.into_values().collect())
}

/// Wait until every instance is in one of `states` (or gone), polling every two seconds.
pub async fn wait_for_instances(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    states: &[&str],
    timeout_secs: u64,
) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_secs);
    loop {
        let out = ec2
            .describe_instances()
            .filters(filter("instance-id", ids.to_vec()))
            .send()
            .await
            .map_err(Error::aws("wait for instances (ec2:DescribeInstances)"))?;
        let pending: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| !states.contains(&i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or("")))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Failed(format!(
                "timed out waiting for {} to be {}",
                pending.join(", "),
                states.join(" or ")
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
