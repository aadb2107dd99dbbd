//! Route 53: record sets (in a zone, by name, type and set identifier) and health checks.
//!
//! A record set's target id is `<zone id>/<name>/<type>[/<set identifier>]`, names fully
//! qualified with the trailing dot, as Route 53 returns them.

use std::collections::BTreeMap;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{ResourceRecordSet, TagResourceType};

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// A name with its final dot, as Route 53 writes names.
pub fn fqdn(name: &str) -> String {
    let n = name.to_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

/// The hosted zone id for a zone name (`example.com`) or id (`Z123`, `/hostedzone/Z123`).
pub async fn zone_id(r53: &Client, zone: &str) -> Result<Option<String>> {
    let zones = r53
        .list_hosted_zones()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list hosted zones (route53:ListHostedZones)"))?;
    let bare = |id: &str| id.trim_start_matches("/hostedzone/").to_owned();
    let want = fqdn(zone);
    Ok(zones.iter().find(|z| bare(z.id()) == bare(zone) || fqdn(z.name()) == want).map(|z| bare(z.id())))
}

/// A record set's target id: `<zone>/<name>/<type>[/<set identifier>]`.
pub fn record_id(zone: &str, r: &ResourceRecordSet) -> String {
    let mut id = format!("{zone}/{}/{}", r.name(), r.r#type().as_str());
    if let Some(s) = r.set_identifier() {
        id = format!("{id}/{s}");
    }
    id
}

/// Split a record target id into (zone id, name, type, set identifier).
pub fn parse_record_id(id: &str) -> (String, String, String, Option<String>) {
    let mut parts = id.splitn(4, '/');
    let zone = parts.next().unwrap_or_default().to_owned();
    let name = parts.next().unwrap_or_default().to_owned();
    let ty = parts.next().unwrap_or_default().to_owned();
    (zone, name, ty, parts.next().map(str::to_owned))
}

/// Every record set in a zone.
pub async fn zone_records(r53: &Client, zone: &str) -> Result<Vec<ResourceRecordSet>> {
    let mut out = Vec::new();
    let mut next: Option<(String, Option<String>, Option<String>)> = None;
    loop {
        let mut req = r53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, ty, set)) = next.take() {
            req = req.start_record_name(name).set_start_record_identifier(set);
            if let Some(ty) = ty {
                req = req.start_record_type(ty.as_str().into());
            }
        }
        let page =
            req.send().await.map_err(Error::aws(format!("list records of {zone} (route53:ListResourceRecordSets)")))?;
        out.extend(page.resource_record_sets().iter().cloned());
        if !page.is_truncated() {
            break;
        }
        next = page.next_record_name().map(|n| {
            (
                n.to_owned(),
                page.next_record_type().map(|t| t.as_str().to_owned()),
                page.next_record_identifier().map(str::to_owned),
            )
        });
        if next.is_none() {
            break;
        }
    }
    Ok(out)
}

/// One record set, or `None` if it is gone.
pub async fn find_record(r53: &Client, id: &str) -> Result<Option<ResourceRecordSet>> {
    let (zone, name, ty, set) = parse_record_id(id);
    let records = zone_records(r53, &zone).await?;
    Ok(records
        .into_iter()
        .find(|r| r.name() == name && r.r#type().as_str() == ty && r.set_identifier().map(str::to_owned) == set))
}

/// The record sets `spec` selects.
pub async fn list_records(r53: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let zone_name = spec.zone.as_deref().unwrap_or_default();
    let Some(zone) = zone_id(r53, zone_name).await? else {
        return Err(Error::Refused(format!("no hosted zone {zone_name}")));
    };
    let names: Vec<String> = spec.names.iter().map(|n| fqdn(n)).collect();
    let mut out = Vec::new();
    for r in zone_records(r53, &zone).await? {
        let ty = r.r#type().as_str();
        let typed = spec.record_type.as_deref();
        // The zone's own NS and SOA are never targets unless asked for by type.
        if (ty == "NS" || ty == "SOA") && typed != Some(ty) {
            continue;
        }
        if !names.is_empty() && !names.contains(&fqdn(r.name())) {
            continue;
        }
        if typed.is_some_and(|t| t != ty)
            || spec.set_identifier.as_deref().is_some_and(|s| r.set_identifier() != Some(s))
        {
            continue;
        }
        let id = record_id(&zone, &r);
        if !spec.ids.is_empty() && !spec.ids.contains(&id) {
            continue;
        }
        out.push(Target { name: Some(format!("{} {ty}", r.name())), id, ..Target::default() });
    }
    Ok(out)
}

/// The health checks `spec` selects.
pub async fn list_health_checks(r53: &Client, spec: &TargetSpec) -> Result<Vec<Target>> {
    let checks = r53
        .list_health_checks()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list health checks (route53:ListHealthChecks)"))?;
    let mut out = Vec::new();
    for hc in checks {
        let id = hc.id().to_owned();
        let tags = r53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(&id)
            .send()
            .await
            .map_err(Error::aws(format!("read the tags of health check {id} (route53:ListTagsForResource)")))?;
        let tags: BTreeMap<String, String> = tags
            .resource_tag_set()
            .map(|s| s.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned()))).collect())
            .unwrap_or_default();
        out.push(Target { name: tags.get("Name").cloned(), id, tags, vpc: None });
    }
    out.retain(|t| t.matches(spec));
    Ok(out)
}
