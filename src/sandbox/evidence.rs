//! The evidence firedrill took of the stack's instances before terminating them (images
//! and EBS snapshots, tagged `firedrill:kind=evidence` and `firedrill:instance=<id>`):
//! `sandbox down` lists it and keeps it, unless told to delete it (`--evidence delete`).
//! It is the only thing firedrill creates that outlives the stack, so it is never
//! deleted without being asked.

use aws_sdk_ec2::types::Filter;
use serde::{Deserialize, Serialize};

use super::{SANDBOX_TAG, Sandbox};
use crate::aws::ec2::{filter, tags_map};
use crate::aws::retry::retry;
use crate::aws::{INSTANCE_TAG, KIND_TAG, RUN_TAG, kind};
use crate::{Error, Result};

/// One image or snapshot taken of one of the stack's instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// `image` or `snapshot`.
    pub kind: String,
    pub id: String,
    /// The instance it was taken of.
    pub of: String,
    /// The run that took it.
    pub run: Option<String>,
    /// Whether `down` deleted it (`--evidence delete`); kept otherwise.
    pub deleted: bool,
}

/// Every instance that was ever part of the stack as far as EC2 still says: those `up`
/// launched, those tagged with the sandbox (a relaunch copies its original's tags), and
/// any in its VPC, in any state.
async fn instances(ec2: &aws_sdk_ec2::Client, sb: &Sandbox) -> Result<Vec<String>> {
    let mut ids = sb.instances.clone();
    let mut ask = vec![vec![filter(&format!("tag:{SANDBOX_TAG}"), [sb.name.as_str()])]];
    if let Some(vpc) = &sb.vpc {
        ask.push(vec![filter("vpc-id", [vpc.as_str()])]);
    }
    for filters in ask {
        let mut pages = ec2.describe_instances().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::aws("list the sandbox's instances (ec2:DescribeInstances)".to_owned()))?;
            ids.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter_map(|i| i.instance_id())
                    .map(str::to_owned),
            );
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The evidence of the stack's instances, images first (their snapshots can only go
/// after them).
pub async fn find(ec2: &aws_sdk_ec2::Client, sb: &Sandbox) -> Result<Vec<Evidence>> {
    let ids = instances(ec2, sb).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let filters = || -> Vec<Filter> {
        vec![filter(&format!("tag:{KIND_TAG}"), [kind::EVIDENCE]), filter(&format!("tag:{INSTANCE_TAG}"), ids.clone())]
    };
    let evidence = |kind: &str, id: Option<&str>, tags: &[aws_sdk_ec2::types::Tag]| {
        let mut tags = tags_map(tags);
        Evidence {
            kind: kind.to_owned(),
            id: id.unwrap_or_default().to_owned(),
            of: tags.remove(INSTANCE_TAG).unwrap_or_default(),
            run: tags.remove(RUN_TAG),
            deleted: false,
        }
    };
    let images = ec2
        .describe_images()
        .owners("self")
        .set_filters(Some(filters()))
        .send()
        .await
        .map_err(Error::aws("list the evidence images (ec2:DescribeImages)".to_owned()))?;
    let mut found: Vec<Evidence> = images.images().iter().map(|i| evidence("image", i.image_id(), i.tags())).collect();
    let mut pages = ec2.describe_snapshots().owner_ids("self").set_filters(Some(filters())).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(Error::aws("list the evidence snapshots (ec2:DescribeSnapshots)".to_owned()))?;
        found.extend(page.snapshots().iter().map(|s| evidence("snapshot", s.snapshot_id(), s.tags())));
    }
    found.sort_by(|a, b| (a.kind != "image", &a.id).cmp(&(b.kind != "image", &b.id)));
    Ok(found)
}

/// Delete `evidence` (images, then snapshots), marking each deleted. What is already
/// gone counts as deleted; a snapshot still held by an image that was just deregistered
/// is tried again while AWS catches up.
pub async fn delete(ec2: &aws_sdk_ec2::Client, evidence: &mut [Evidence]) -> Result<()> {
    for e in evidence.iter_mut() {
        let done = match e.kind.as_str() {
            "image" => ec2
                .deregister_image()
                .image_id(&e.id)
                .send()
                .await
                .map(drop)
                .map_err(Error::aws(format!("delete the evidence image {} (ec2:DeregisterImage)", e.id))),
            _ => {
                retry(|| async {
                    ec2.delete_snapshot()
                        .snapshot_id(&e.id)
                        .send()
                        .await
                        .map(drop)
                        .map_err(Error::aws(format!("delete the evidence snapshot {} (ec2:DeleteSnapshot)", e.id)))
                })
                .await
            }
        };
        match done {
            Ok(()) => {}
            Err(err) if err.aws_code().is_some_and(|c| c.contains("NotFound")) => {}
            Err(err) => return Err(err),
        }
        e.deleted = true;
    }
    Ok(())
}
