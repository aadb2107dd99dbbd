//! The quarantine group: an empty security group (no rules either way) that isolating
//! faults put an instance's, a load balancer's or a service's tasks' interfaces on. One
//! per run, fault and VPC, created once, journaled before it is used, and deleted when
//! the fault is reverted (`security-group.isolate-instance`, `elbv2.swap-security-groups`,
//! `ecs.swap-security-groups`). Those faults share it through [`PerVpc`], named in their
//! catalogue rows.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::ResourceType;

use super::security_group::{Direction, describe_group, revoke};
use super::{Fault, RunCtx, Shared, ToInject};
use crate::aws::retry::retry;
use crate::aws::{Aws, FAULT_TAG, RUN_TAG, ec2};
use crate::{Error, Result, failpoint};

/// The kind a quarantine group is journaled as (`RunCtx::record_created`).
pub(crate) const KIND: &str = "security-group";

/// The fault's quarantine group in `vpc`: an empty security group (no inbound, no
/// outbound rules), created and tagged once per run, fault and VPC, and journaled
/// before it is used. Shared by every fault that isolates something.
pub(crate) async fn ensure(aws: &Aws, run: &RunCtx, vpc: &str) -> Result<String> {
    if let Some(id) = run.created_in(KIND, vpc) {
        return Ok(id);
    }
    let name = format!("firedrill-quarantine-{}-{}", run.run_id, run.fault);
    let out = aws
        .ec2
        .create_security_group()
        .group_name(&name)
        .description(format!("firedrill quarantine group for run {}: no rules, by design", run.run_id))
        .vpc_id(vpc)
        .tag_specifications(super::run_tags(
            run,
            ResourceType::SecurityGroup,
            crate::aws::kind::QUARANTINE_GROUP,
            &[("Name", name.clone())],
        ))
        .send()
        .await
        .map_err(Error::aws(format!("create a quarantine security group in {vpc} (ec2:CreateSecurityGroup)")))?;
    let id = out.group_id().unwrap_or_default().to_owned();
    failpoint::hit("after-create");
    run.record_created(KIND, &id, vpc)?;
    // A new group allows all outbound traffic: remove that, so the group is empty.
    let q = describe_group(aws, &id).await?;
    revoke(aws, &id, Direction::Egress, &q.egress).await?;
    Ok(id)
}

/// Delete the fault's quarantine groups: those the journal recorded, and any tagged for
/// this run and fault that a crash kept out of the journal. Idempotent.
pub(crate) async fn delete_all(aws: &Aws, run: &RunCtx) -> Result<()> {
    let mut ids: BTreeSet<String> = run.created(KIND).into_iter().collect();
    for g in ec2::security_groups_tagged(&aws.ec2, RUN_TAG, &run.run_id).await? {
        if ec2::tags_map(g.tags()).get(FAULT_TAG) == Some(&run.fault.to_string()) {
            ids.extend(g.group_id().map(str::to_owned));
        }
    }
    for id in ids {
        // DependencyViolation while an interface still holds it: wait for it to let go.
        let deleted = retry(|| async {
            let doing = format!("delete quarantine group {id} (ec2:DeleteSecurityGroup)");
            crate::aws::call(aws.ec2.delete_security_group().group_id(&id).send(), doing).await
        });
        if let Err(err) = deleted.await
            && err.aws_code() != Some("InvalidGroup.NotFound")
        {
            return Err(err);
        }
        run.record_deleted(KIND, &id)?;
    }
    Ok(())
}

/// A change that puts a target on the quarantine group of its VPC.
pub(crate) trait InVpc {
    fn vpc(&self) -> &str;
}

/// What isolating faults share: one quarantine group per VPC of their planned targets,
/// made before the first change and deleted after the last revert.
pub struct PerVpc;

impl<F: Fault> Shared<F> for PerVpc
where
    F::Change: InVpc,
{
    async fn setup(&self, aws: &Aws, run: &RunCtx, planned: &[ToInject<'_, F>]) -> Result<()> {
        let vpcs: BTreeSet<&str> = planned.iter().map(|i| i.change.vpc()).collect();
        for vpc in vpcs {
            ensure(aws, run, vpc).await?;
        }
        Ok(())
    }

    async fn teardown(&self, aws: &Aws, run: &RunCtx) -> Result<()> {
        delete_all(aws, run).await
    }
}
