//! Hold tags: every resource a run breaks carries `firedrill:hold:<run id>` while the run
//! holds it, where the service lets a resource be tagged, so a second state store (a
//! second instructor, a CI job) sees the hold and refuses to break the resource again on
//! top of a break it knows nothing of. One key per run, so two runs tagging at once never
//! overwrite each other: each sees the other's key on reading back.
//!
//! Route 53 record sets cannot be tagged, and an S3 bucket's tags are one set replaced whole
//! (a hold tag would race another writer): both are held in the store only. The tag
//! is part of no snapshot: states are described without it ([`without_holds`]).

use std::collections::BTreeMap;

use crate::target::TargetKind;
use crate::{Error, Result};

use super::Aws;
use super::ec2::filter;

/// The prefix of the tag that says which run holds a resource.
pub const HOLD_PREFIX: &str = "firedrill:hold:";

/// The tag key of run `run_id`'s hold.
pub fn key(run_id: &str) -> String {
    format!("{HOLD_PREFIX}{run_id}")
}

/// The runs holding a resource, from its tags.
pub fn holders(tags: &BTreeMap<String, String>) -> Vec<String> {
    tags.keys().filter_map(|k| k.strip_prefix(HOLD_PREFIX)).map(str::to_owned).collect()
}

/// `tags` without hold tags: a resource's state does not include who holds it.
pub fn without_holds(mut tags: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.retain(|k, _| !k.starts_with(HOLD_PREFIX));
    tags
}

/// Whether resources of `kind` can carry a hold tag.
pub fn taggable(kind: TargetKind) -> bool {
    !matches!(
        kind,
        TargetKind::Record
            | TargetKind::Bucket
            | TargetKind::Function
            | TargetKind::Table
            | TargetKind::EcsService
            | TargetKind::ApiStage
    )
}

/// Tag `ids` (of `kind`) as held by `run_id`; `value` says by whom.
pub async fn add(aws: &Aws, kind: TargetKind, ids: &[&str], run_id: &str, value: &str) -> Result<()> {
    let key = key(run_id);
    let doing = |call: &str| format!("tag what run {run_id} holds ({call})");
    use TargetKind as K;
    match kind {
        K::SecurityGroup | K::Instance | K::Subnet | K::NetworkAcl | K::RouteTable => {
            each_chunk(aws, ids, EC2_BATCH, |chunk| async {
                let tag = aws_sdk_ec2::types::Tag::builder().key(&key).value(value).build();
                let call =
                    aws.ec2.create_tags().set_resources(Some(chunk.iter().map(|s| s.to_string()).collect())).tags(tag);
                crate::aws::call(call.send(), doing("ec2:CreateTags")).await
            })
            .await?;
        }
        K::Role => {
            for id in ids {
                let tag = aws_sdk_iam::types::Tag::builder().key(&key).value(value).build().expect("key and value");
                aws.iam.tag_role().role_name(*id).tags(tag).send().await.map_err(Error::aws(doing("iam:TagRole")))?;
            }
        }
        K::TargetGroup | K::Listener | K::LoadBalancer => {
            for chunk in ids.chunks(ELB_BATCH) {
                let tag = aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(&key).value(value).build();
                aws.elbv2
                    .add_tags()
                    .set_resource_arns(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .tags(tag)
                    .send()
                    .await
                    .map_err(Error::aws(doing("elasticloadbalancing:AddTags")))?;
            }
        }
        K::AutoScalingGroup => {
            let tags = ids.iter().map(|id| asg_tag(id, &key, Some(value))).collect();
            aws.autoscaling
                .create_or_update_tags()
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(Error::aws(doing("autoscaling:CreateOrUpdateTags")))?;
        }
        K::HealthCheck => {
            for id in ids {
                let tag = aws_sdk_route53::types::Tag::builder().key(&key).value(value).build();
                aws.route53
                    .change_tags_for_resource()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
                    .resource_id(*id)
                    .add_tags(tag)
                    .send()
                    .await
                    .map_err(Error::aws(doing("route53:ChangeTagsForResource")))?;
            }
        }
        K::Record | K::Bucket | K::Function | K::Table | K::EcsService | K::ApiStage => {}
    }
    Ok(())
}

/// Remove run `run_id`'s hold tag from `ids` (of `kind`). Removing a tag that is not
/// there is not an error, so this is idempotent.
pub async fn remove(aws: &Aws, kind: TargetKind, ids: &[&str], run_id: &str) -> Result<()> {
    let key = key(run_id);
    let doing = |call: &str| format!("remove run {run_id}'s hold tags ({call})");
    use TargetKind as K;
    match kind {
        K::SecurityGroup | K::Instance | K::Subnet | K::NetworkAcl | K::RouteTable => {
            each_chunk(aws, ids, EC2_BATCH, |chunk| async {
                let untag = aws
                    .ec2
                    .delete_tags()
                    .set_resources(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .tags(aws_sdk_ec2::types::Tag::builder().key(&key).build())
                    .send()
                    .await;
                ignore_gone(untag.map(drop).map_err(Error::aws(doing("ec2:DeleteTags"))))
            })
            .await?;
        }
        K::Role => {
            for id in ids {
                let untag = aws.iam.untag_role().role_name(*id).tag_keys(&key).send().await;
                ignore_gone(untag.map(drop).map_err(Error::aws(doing("iam:UntagRole"))))?;
            }
        }
        K::TargetGroup | K::Listener | K::LoadBalancer => {
            for chunk in ids.chunks(ELB_BATCH) {
                let untag = aws
                    .elbv2
                    .remove_tags()
                    .set_resource_arns(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .tag_keys(&key)
                    .send()
                    .await;
                ignore_gone(untag.map(drop).map_err(Error::aws(doing("elasticloadbalancing:RemoveTags"))))?;
            }
        }
        K::AutoScalingGroup => {
            let tags = ids.iter().map(|id| asg_tag(id, &key, None)).collect();
            let untag = aws.autoscaling.delete_tags().set_tags(Some(tags)).send().await;
            ignore_gone(untag.map(drop).map_err(Error::aws(doing("autoscaling:DeleteTags"))))?;
        }
        K::HealthCheck => {
            for id in ids {
                let untag = aws
                    .route53
                    .change_tags_for_resource()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
                    .resource_id(*id)
                    .remove_tag_keys(&key)
                    .send()
                    .await;
                ignore_gone(untag.map(drop).map_err(Error::aws(doing("route53:ChangeTagsForResource"))))?;
            }
        }
        K::Record | K::Bucket | K::Function | K::Table | K::EcsService | K::ApiStage => {}
    }
    Ok(())
}

/// The runs holding each of `ids` (of `kind`), read now.
pub async fn read(aws: &Aws, kind: TargetKind, ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = ids.iter().map(|id| (id.to_string(), Vec::new())).collect();
    let mut add = |id: &str, k: &str| {
        if let (Some(run), Some(holders)) = (k.strip_prefix(HOLD_PREFIX), out.get_mut(id)) {
            holders.push(run.to_owned());
        }
    };
    let doing = |call: &str| format!("read hold tags ({call})");
    use TargetKind as K;
    match kind {
        K::SecurityGroup | K::Instance | K::Subnet | K::NetworkAcl | K::RouteTable => {
            // Every hold tag of the region, matched to `ids` here: holds are few, and one
            // paged call beats one per 200 ids (the emulator also matches each tag
            // against every id filter, which made a fleet's read-back cost seconds).
            let mut pages = aws
                .ec2
                .describe_tags()
                .filters(filter("key", [format!("{HOLD_PREFIX}*")]))
                .max_results(1000)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for t in page.map_err(Error::aws(doing("ec2:DescribeTags")))?.tags() {
                    add(t.resource_id().unwrap_or_default(), t.key().unwrap_or_default());
                }
            }
        }
        K::Role => {
            for id in ids {
                for (k, _) in super::iam::role_tags(&aws.iam, id).await? {
                    add(id, &k);
                }
            }
        }
        K::TargetGroup | K::Listener | K::LoadBalancer => {
            for chunk in ids.chunks(ELB_BATCH) {
                let described = aws
                    .elbv2
                    .describe_tags()
                    .set_resource_arns(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .send()
                    .await
                    .map_err(Error::aws(doing("elasticloadbalancing:DescribeTags")))?;
                for d in described.tag_descriptions() {
                    for t in d.tags() {
                        add(d.resource_arn().unwrap_or_default(), t.key().unwrap_or_default());
                    }
                }
            }
        }
        K::AutoScalingGroup => {
            let groups = aws
                .autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(ids.iter().map(|s| s.to_string()).collect()))
                .send()
                .await
                .map_err(Error::aws(doing("autoscaling:DescribeAutoScalingGroups")))?;
            for g in groups.auto_scaling_groups() {
                for t in g.tags() {
                    add(g.auto_scaling_group_name().unwrap_or_default(), t.key().unwrap_or_default());
                }
            }
        }
        K::HealthCheck => {
            for chunk in ids.chunks(R53_BATCH) {
                let listed = aws
                    .route53
                    .list_tags_for_resources()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
                    .set_resource_ids(Some(chunk.iter().map(|s| s.to_string()).collect()))
                    .send()
                    .await
                    .map_err(Error::aws(doing("route53:ListTagsForResources")))?;
                for set in listed.resource_tag_sets() {
                    for t in set.tags() {
                        add(set.resource_id().unwrap_or_default(), t.key().unwrap_or_default());
                    }
                }
            }
        }
        K::Record | K::Bucket | K::Function | K::Table | K::EcsService | K::ApiStage => {}
    }
    Ok(out)
}

/// `call` on each chunk of `ids`, side by side, at most `aws.concurrency` at once (see
/// [`Aws::permit`]); the first error, if any.
async fn each_chunk<'a, F, Fut>(aws: &Aws, ids: &'a [&'a str], size: usize, call: F) -> Result<()>
where
    F: Fn(&'a [&'a str]) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let calls = ids.chunks(size).map(|chunk| {
        let call = &call;
        async move {
            let _turn = aws.permit().await;
            call(chunk).await
        }
    });
    futures_util::future::join_all(calls).await.into_iter().collect()
}

/// Resource ids per EC2 tag call (the filter's limit on values).
const EC2_BATCH: usize = 200;
/// ARNs per load-balancing tag call (the API's limit).
const ELB_BATCH: usize = 20;
/// Health checks per Route 53 tag listing (the API's limit).
const R53_BATCH: usize = 10;

/// The IAM permissions hold tags take for targets of `kind`, for `firedrill actions`.
pub fn permissions(kind: TargetKind) -> &'static [&'static str] {
    use TargetKind as K;
    match kind {
        K::SecurityGroup | K::Instance | K::Subnet | K::NetworkAcl | K::RouteTable => {
            &["ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeTags"]
        }
        K::Role => &["iam:TagRole", "iam:UntagRole", "iam:ListRoleTags"],
        K::TargetGroup | K::Listener | K::LoadBalancer => {
            &["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DescribeTags"]
        }
        K::AutoScalingGroup => &["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"],
        K::HealthCheck => &["route53:ChangeTagsForResource", "route53:ListTagsForResources"],
        K::Record | K::Bucket | K::Function | K::Table | K::EcsService | K::ApiStage => &[],
    }
}

fn asg_tag(group: &str, key: &str, value: Option<&str>) -> aws_sdk_autoscaling::types::Tag {
    aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(key)
        .set_value(value.map(str::to_owned))
        .propagate_at_launch(false)
        .build()
}

/// A hold on a resource that no longer exists is no hold: removing it succeeds.
fn ignore_gone(r: Result<()>) -> Result<()> {
    match r {
        Err(e)
            if e.aws_code()
                .is_some_and(|c| c.contains("NotFound") || c == "NoSuchEntity" || c == "ValidationError") =>
        {
            Ok(())
        }
        other => other,
    }
}
