//! ECS: `ecs.scale-service` — a service's desired count set to 0 (or N), and with it, if
//! asked, the deployment's minimum healthy and maximum percent. The snapshot is the
//! service's desired count, deployment percents and network configuration; revert puts
//! back the desired count, and the percents if the fault changed them. The running
//! count is shown, never compared: the scheduler brings it to the desired count.
//!
//! `ecs.swap-security-groups` — the service's awsvpc groups replaced by an empty
//! quarantine group (`quarantine`), by a new deployment, and the tasks on the old groups
//! stopped. The snapshot is the service's network configuration; revert sets it back
//! exactly, by another deployment, and the quarantine group goes once its interfaces do.
//!
//! `ecs.stop-tasks` — a count or percent of a service's running tasks stopped. One-shot,
//! as a reboot: the service replaces them itself. Its state is the service's running
//! tasks; a look is "restored" once as many run as before, which `status` says.

use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, DeploymentConfiguration, NetworkConfiguration};
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert, quarantine};
use crate::aws::ecs::cluster_of;
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// A service's awsvpc network configuration (Fargate's, or EC2 tasks in awsvpc mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<String>,
}

/// What the ECS actions change of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The service's ARN.
    pub service: String,
    pub cluster: String,
    pub desired: i32,
    /// Tasks running when read: shown, not compared.
    pub running: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// An ECS service: what the ECS actions change and are judged by.
pub struct Services;

impl Resource for Services {
    type State = ServiceState;

    async fn describe(aws: &Aws, target: &Target) -> Result<ServiceState> {
        let (arn, cluster) = (&target.id, cluster_of(&target.id));
        let out = aws
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(arn)
            .send()
            .await
            .map_err(Error::aws(format!("describe service {arn} (ecs:DescribeServices)")))?;
        // A deleted service is answered as a failure (`MISSING`), or `INACTIVE` for a while.
        let s = match out.services().first() {
            Some(s) if s.status() != Some("INACTIVE") => s,
            _ => return Err(Error::Gone(format!("service {arn} no longer exists"))),
        };
        let deployment = s.deployment_configuration();
        Ok(ServiceState {
            service: arn.clone(),
            cluster: cluster.to_owned(),
            desired: s.desired_count(),
            running: s.running_count(),
            min_percent: deployment.and_then(|d| d.minimum_healthy_percent()),
            max_percent: deployment.and_then(|d| d.maximum_percent()),
            network: s.network_configuration().and_then(|n| n.awsvpc_configuration()).map(|v| Network {
                subnets: v.subnets().to_vec(),
                security_groups: v.security_groups().to_vec(),
                public_ip: v.assign_public_ip().map(|p| p.as_str().to_owned()),
            }),
        })
    }

    fn differences(before: &ServiceState, now: &ServiceState) -> Vec<String> {
        let name = now.service.rsplit('/').next().unwrap_or(&now.service);
        let mut out = Vec::new();
        if before.desired != now.desired {
            out.push(format!("{name}: desired count {} (the snapshot: {})", now.desired, before.desired));
        }
        let show = |p: Option<i32>| p.map_or("unset".to_owned(), |p| format!("{p}%"));
        if before.min_percent != now.min_percent {
            let (n, b) = (show(now.min_percent), show(before.min_percent));
            out.push(format!("{name}: minimum healthy percent {n} (the snapshot: {b})"));
        }
        if before.max_percent != now.max_percent {
            let (n, b) = (show(now.max_percent), show(before.max_percent));
            out.push(format!("{name}: maximum percent {n} (the snapshot: {b})"));
        }
        if before.network != now.network {
            out.push(format!("{name}: network configuration differs from the snapshot"));
        }
        out
    }

    /// The snapshot's desired count and percents back, and its network configuration.
    async fn reset(aws: &Aws, _target: &Target, before: &ServiceState, now: &ServiceState) -> Result<()> {
        let percents = (before.min_percent != now.min_percent || before.max_percent != now.max_percent)
            .then_some((before.min_percent, before.max_percent));
        update(aws, before, Some(before.desired), percents).await?;
        match &before.network {
            Some(network) if before.network != now.network => {
                set_network(aws, &before.cluster, &before.service, network).await
            }
            _ => Ok(()),
        }
    }
}

/// One `UpdateService`: the desired count and the deployment percents, when given.
async fn update(
    aws: &Aws,
    s: &ServiceState,
    desired: Option<i32>,
    percents: Option<(Option<i32>, Option<i32>)>,
) -> Result<()> {
    let deployment = percents.map(|(min, max)| {
        DeploymentConfiguration::builder().set_minimum_healthy_percent(min).set_maximum_percent(max).build()
    });
    let call = aws
        .ecs
        .update_service()
        .cluster(&s.cluster)
        .service(&s.service)
        .set_desired_count(desired)
        .set_deployment_configuration(deployment);
    aws::call(call.send(), format!("update service {} (ecs:UpdateService)", s.service)).await
}

/// One `UpdateService` that sets the service's awsvpc configuration to `network`
/// exactly, with a new deployment: its tasks are replaced by tasks on `network`.
async fn set_network(aws: &Aws, cluster: &str, service: &str, network: &Network) -> Result<()> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(network.subnets.clone()))
        .set_security_groups(Some(network.security_groups.clone()))
        .set_assign_public_ip(network.public_ip.as_deref().map(AssignPublicIp::from))
        .build()
        .map_err(|e| Error::Failed(format!("the network configuration of {service}: {e}")))?;
    let call = aws
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .force_new_deployment(true);
    aws::call(call.send(), format!("set the network configuration of service {service} (ecs:UpdateService)")).await
}

/// `ecs.scale-service`: the desired count, and the percents, to set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScaleService {
    /// Desired count to set: 0 (the default) stops every task.
    pub desired: u32,
    /// Deployment minimum healthy percent to set (0–100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<u32>,
    /// Deployment maximum percent to set (100–200 for most services).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<u32>,
}

impl Params for ScaleService {
    fn check(&self) -> Result<(), String> {
        if let Some(p) = self.minimum_healthy_percent.filter(|p| *p > 100) {
            return Err(format!("`minimum_healthy_percent` is {p}: at most 100"));
        }
        if let Some(p) = self.maximum_percent.filter(|p| *p < 100 || *p > 200) {
            return Err(format!("`maximum_percent` is {p}: ECS takes 100 to 200 for a rolling deployment"));
        }
        if self.desired > 5000 {
            return Err(format!("`desired` is {}: a service runs at most 5000 tasks", self.desired));
        }
        Ok(())
    }
}

/// The count and percents planned (the percents only when they change).
#[derive(Debug, Serialize, Deserialize)]
pub struct ScaleChange {
    pub desired: i32,
    pub was: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percents: Option<(Option<i32>, Option<i32>)>,
}

impl Fault for ScaleService {
    type On = Services;
    type Change = ScaleChange;

    fn plan(&self, target: &Target, state: &ServiceState) -> Result<ScaleChange, String> {
        let desired = self.desired as i32;
        let min = self.minimum_healthy_percent.map(|p| p as i32).or(state.min_percent);
        let max = self.maximum_percent.map(|p| p as i32).or(state.max_percent);
        let percents = ((min, max) != (state.min_percent, state.max_percent)).then_some((min, max));
        if desired == state.desired && percents.is_none() {
            return Err(format!("{}: its desired count is {desired} already: nothing to break", target.label()));
        }
        Ok(ScaleChange { desired, was: state.desired, percents })
    }

    fn summarize(&self, change: &ScaleChange) -> Vec<String> {
        let mut out = vec![format!("set the desired count to {} (from {})", change.desired, change.was)];
        if let Some((min, max)) = change.percents {
            let show = |p: Option<i32>| p.map_or("unset".to_owned(), |p| format!("{p}%"));
            out.push(format!("set the deployment's minimum healthy to {}, maximum to {}", show(min), show(max)));
        }
        out
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<ServiceState>> {
        update(aws, item.before, Some(item.change.desired), item.change.percents).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &ScaleChange, now: &ServiceState) -> Result<(), String> {
        if now.desired != change.desired {
            return Err(format!("the desired count is {}, not {} yet", now.desired, change.desired));
        }
        match change.percents {
            Some((min, max)) if (now.min_percent, now.max_percent) != (min, max) => {
                Err("the deployment percents are not set yet".into())
            }
            _ => Ok(()),
        }
    }

    /// The snapshot's desired count back, and its percents if the fault changed them.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<ServiceState>> {
        let (before, now) = (item.before, item.now);
        let desired = (now.desired != before.desired).then_some(before.desired);
        let percents_moved = (now.min_percent, now.max_percent) != (before.min_percent, before.max_percent);
        let percents =
            (item.change.percents.is_some() && percents_moved).then_some((before.min_percent, before.max_percent));
        if desired.is_none() && percents.is_none() {
            return Ok(None);
        }
        update(aws, before, desired, percents).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `ecs.scale-service`.
pub const SCALE_SERVICE: ActionInfo = ActionInfo {
    name: "ecs.scale-service",
    target: TargetKind::EcsService,
    summary: "Set the service's desired count to 0 (every task stopped, the load balancer answers 503) or to N, and optionally its deployment's minimum healthy and maximum percent.",
    revert: "Restores the exact previous desired count, and the deployment percents if they were changed; the scheduler then starts the tasks.",
    one_shot: false,
    params: &[
        ParamInfo { name: "desired", ty: "integer", default: "0", doc: "Desired count to set." },
        ParamInfo {
            name: "minimum_healthy_percent",
            ty: "integer (percent)",
            default: "unchanged",
            doc: "Deployment minimum healthy percent to set.",
        },
        ParamInfo {
            name: "maximum_percent",
            ty: "integer (percent)",
            default: "unchanged",
            doc: "Deployment maximum percent to set.",
        },
    ],
    permissions: &["ecs:UpdateService"],
};

// ---------------------------------------------------------------------------------------
// ecs.stop-tasks

/// A service's desired count and running tasks (their ARNs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningTasks {
    pub service: String,
    pub cluster: String,
    pub desired: i32,
    #[serde(default)]
    pub tasks: Vec<String>,
}

/// A service's running tasks: what `ecs.stop-tasks` stops.
pub struct Tasks;

impl Resource for Tasks {
    type State = RunningTasks;

    async fn describe(aws: &Aws, target: &Target) -> Result<RunningTasks> {
        let s = Services::describe(aws, target).await?;
        let tasks = running_tasks(aws, &s.cluster, &s.service).await?;
        Ok(RunningTasks { service: s.service, cluster: s.cluster, desired: s.desired, tasks })
    }

    /// Fewer tasks running than before: the service has not replaced them yet. Which
    /// tasks run is not compared (replacements are new tasks).
    fn differences(before: &RunningTasks, now: &RunningTasks) -> Vec<String> {
        let name = now.service.rsplit('/').next().unwrap_or(&now.service);
        let mut out = Vec::new();
        if now.tasks.len() < before.tasks.len() {
            out.push(format!("{name}: {} task(s) running (before: {})", now.tasks.len(), before.tasks.len()));
        }
        if now.desired != before.desired {
            out.push(format!("{name}: desired count {} (before: {})", now.desired, before.desired));
        }
        out
    }
}

/// The ARNs of a service's running tasks (desired `RUNNING`), sorted.
async fn running_tasks(aws: &Aws, cluster: &str, service: &str) -> Result<Vec<String>> {
    let name = service.rsplit('/').next().unwrap_or(service);
    let arns: Vec<String> = aws
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws(format!("list the tasks of service {name} (ecs:ListTasks)")))?;
    // Only the service's own (`group: service:NAME`), running or about to: a task
    // listing is filtered again here rather than trusted.
    let group = format!("service:{name}");
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = aws
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(Error::aws(format!("describe the tasks of service {name} (ecs:DescribeTasks)")))?;
        tasks.extend(
            out.tasks()
                .iter()
                .filter(|t| t.group() == Some(group.as_str()) && t.desired_status() == Some("RUNNING"))
                .filter_map(|t| t.task_arn().map(str::to_owned)),
        );
    }
    tasks.sort();
    Ok(tasks)
}

/// Stop `tasks` of `cluster`, naming the run as the reason.
async fn stop(aws: &Aws, run: &RunCtx, cluster: &str, tasks: &[String]) -> Result<()> {
    for task in tasks {
        let call = aws.ecs.stop_task().cluster(cluster).task(task).reason(format!("firedrill run {}", run.run_id));
        aws::call(call.send(), format!("stop task {task} (ecs:StopTask)")).await?;
    }
    Ok(())
}

/// `ecs.stop-tasks`: how many of the service's running tasks to stop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StopTasks {
    /// How many tasks to stop (default 1, when `percent` is not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Or what share of them (1–100, rounded up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
}

impl Params for StopTasks {
    fn check(&self) -> Result<(), String> {
        match (self.count, self.percent) {
            (Some(_), Some(_)) => Err("`count` and `percent` both given: give one".into()),
            (Some(0), _) => Err("`count` is 0: stop at least one task".into()),
            (_, Some(p)) if p == 0 || p > 100 => Err(format!("`percent` is {p}: give 1 to 100")),
            _ => Ok(()),
        }
    }
}

/// The tasks planned to stop.
#[derive(Debug, Serialize, Deserialize)]
pub struct StopChange {
    pub cluster: String,
    pub tasks: Vec<String>,
    pub of: usize,
}

impl Fault for StopTasks {
    type On = Tasks;
    type Change = StopChange;

    /// The first tasks by ARN (task ARNs are random, so this is an arbitrary pick that
    /// the plan shows and the inject keeps).
    fn plan(&self, target: &Target, state: &RunningTasks) -> Result<StopChange, String> {
        let n = state.tasks.len();
        if n == 0 {
            return Err(format!("{}: no task is running: nothing to break", target.label()));
        }
        let take = match (self.count, self.percent) {
            (_, Some(p)) => crate::target::pick_size(crate::target::Pick::Percent(p), n),
            (count, None) => (count.unwrap_or(1) as usize).min(n),
        };
        Ok(StopChange { cluster: state.cluster.clone(), tasks: state.tasks[..take].to_vec(), of: n })
    }

    fn summarize(&self, change: &StopChange) -> Vec<String> {
        vec![format!("stop {} of {} running task(s); the service starts replacements", change.tasks.len(), change.of)]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RunningTasks>> {
        stop(aws, run, &item.change.cluster, &item.change.tasks).await?;
        Ok(None)
    }

    /// The stopped tasks no longer run (replacements may already).
    fn observe(&self, _run: &RunCtx, change: &StopChange, now: &RunningTasks) -> Result<(), String> {
        match change.tasks.iter().find(|t| now.tasks.contains(t)) {
            Some(t) => Err(format!("task {t} is still running")),
            None => Ok(()),
        }
    }
}

/// The catalogue's entry for `ecs.stop-tasks`.
pub const STOP_TASKS: ActionInfo = ActionInfo {
    name: "ecs.stop-tasks",
    target: TargetKind::EcsService,
    summary: "Stop a count (default 1) or percent of the service's running tasks; the service replaces them, as after a crash.",
    revert: "not revertible (one-shot): the service starts replacements itself; `status` says once as many run as before",
    one_shot: true,
    params: &[
        ParamInfo { name: "count", ty: "integer", default: "1", doc: "How many running tasks to stop." },
        ParamInfo {
            name: "percent",
            ty: "integer (percent)",
            default: "none",
            doc: "Or what share of them, rounded up.",
        },
    ],
    permissions: &["ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"],
};

// ---------------------------------------------------------------------------------------
// ecs.swap-security-groups

/// A service's awsvpc network configuration, and the VPC its subnets are in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    pub service: String,
    pub cluster: String,
    /// The VPC of its first subnet (a service's subnets are all in one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// None: not in awsvpc mode (EC2 tasks in bridge or host mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// A service's network configuration: what `ecs.swap-security-groups` changes.
pub struct ServiceNetworks;

impl Resource for ServiceNetworks {
    type State = ServiceNetwork;

    async fn describe(aws: &Aws, target: &Target) -> Result<ServiceNetwork> {
        let s = Services::describe(aws, target).await?;
        let vpc_id = match s.network.as_ref().and_then(|n| n.subnets.first()) {
            Some(subnet) => {
                let out = aws.ec2.describe_subnets().subnet_ids(subnet).send().await.map_err(Error::aws(format!(
                    "read the VPC of subnet {subnet} of service {} (ec2:DescribeSubnets)",
                    s.service
                )))?;
                out.subnets().first().and_then(|s| s.vpc_id()).map(str::to_owned)
            }
            None => None,
        };
        Ok(ServiceNetwork { service: s.service, cluster: s.cluster, vpc_id, network: s.network })
    }

    fn differences(before: &ServiceNetwork, now: &ServiceNetwork) -> Vec<String> {
        let name = now.service.rsplit('/').next().unwrap_or(&now.service);
        let groups = |n: &ServiceNetwork| n.network.as_ref().map(|n| n.security_groups.clone()).unwrap_or_default();
        let mut out = super::compare(name, "security groups", &groups(before), &groups(now));
        let rest = |n: &ServiceNetwork| n.network.as_ref().map(|n| (n.subnets.clone(), n.public_ip.clone()));
        if rest(before) != rest(now) {
            out.push(format!("{name}: subnets or public IP assignment differ from the snapshot"));
        }
        out
    }

    async fn reset(aws: &Aws, _target: &Target, before: &ServiceNetwork, _now: &ServiceNetwork) -> Result<()> {
        match &before.network {
            Some(network) => set_network(aws, &before.cluster, &before.service, network).await,
            None => Ok(()),
        }
    }
}

/// `ecs.swap-security-groups`: whether to stop the tasks that run on the old groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EcsSwapSecurityGroups {
    /// Stop the tasks running on the old groups once the new deployment is made (the
    /// default). Without this, a deployment that keeps 100% healthy leaves them serving
    /// while its new tasks fail, and the break shows only as a stuck deployment.
    pub stop_old_tasks: bool,
}

impl Default for EcsSwapSecurityGroups {
    fn default() -> Self {
        EcsSwapSecurityGroups { stop_old_tasks: true }
    }
}

impl Params for EcsSwapSecurityGroups {}

/// A swap: the service, the VPC whose quarantine group it goes on, and its network.
#[derive(Debug, Serialize, Deserialize)]
pub struct EcsSwapChange {
    pub service: String,
    pub cluster: String,
    pub vpc_id: String,
    pub network: Network,
}

impl Fault for EcsSwapSecurityGroups {
    type On = ServiceNetworks;
    type Change = EcsSwapChange;

    fn plan(&self, target: &Target, state: &ServiceNetwork) -> Result<EcsSwapChange, String> {
        let (Some(network), Some(vpc_id)) = (&state.network, &state.vpc_id) else {
            return Err(format!(
                "{}: has no awsvpc network configuration (tasks in bridge or host mode have no groups of their own): nothing to swap",
                target.label()
            ));
        };
        Ok(EcsSwapChange {
            service: state.service.clone(),
            cluster: state.cluster.clone(),
            vpc_id: vpc_id.clone(),
            network: network.clone(),
        })
    }

    fn summarize(&self, change: &EcsSwapChange) -> Vec<String> {
        let mut out = vec![format!(
            "replace its tasks' security groups [{}] with a new empty quarantine group in {}, by a new deployment",
            change.network.security_groups.join(", "),
            change.vpc_id
        )];
        if self.stop_old_tasks {
            out.push("stop the tasks running on the old groups".into());
        }
        out
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<ServiceNetwork>> {
        let c = item.change;
        let q = quarantine::ensure(aws, run, &c.vpc_id).await?;
        // The tasks on the old groups, read before the new deployment starts others.
        let old = if self.stop_old_tasks { running_tasks(aws, &c.cluster, &c.service).await? } else { Vec::new() };
        let quarantined = Network { security_groups: vec![q], ..c.network.clone() };
        set_network(aws, &c.cluster, &c.service, &quarantined).await?;
        stop(aws, run, &c.cluster, &old).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, change: &EcsSwapChange, now: &ServiceNetwork) -> Result<(), String> {
        let q = run.created_in(quarantine::KIND, &change.vpc_id).unwrap_or_default();
        let groups = now.network.as_ref().map(|n| n.security_groups.clone()).unwrap_or_default();
        if groups == [q.clone()] {
            Ok(())
        } else {
            Err(format!("groups are [{}], not only the quarantine group {q}", groups.join(", ")))
        }
    }

    /// The exact network configuration back, by a new deployment; the quarantine group
    /// is deleted after (`quarantine::PerVpc`), once the quarantined tasks let it go.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<ServiceNetwork>> {
        if item.now.network.as_ref() != Some(&item.change.network) {
            set_network(aws, &item.change.cluster, &item.change.service, &item.change.network).await?;
        }
        Ok(None)
    }
}

impl quarantine::InVpc for EcsSwapChange {
    fn vpc(&self) -> &str {
        &self.vpc_id
    }
}

/// The catalogue's entry for `ecs.swap-security-groups`.
pub const SWAP_SECURITY_GROUPS: ActionInfo = ActionInfo {
    name: "ecs.swap-security-groups",
    target: TargetKind::EcsService,
    summary: "Put the service's tasks (awsvpc: Fargate, or EC2 in awsvpc mode) on one empty quarantine group per VPC, created and tagged by firedrill, by a new deployment; stop the tasks on the old groups. The load balancer's health checks fail and new tasks cannot pull their image. A deployment circuit breaker with rollback undoes it by itself.",
    revert: "Restores the exact network configuration (subnets, groups, public IP) by a new deployment, then deletes the quarantine group once the quarantined tasks' interfaces let go of it.",
    one_shot: false,
    params: &[ParamInfo {
        name: "stop_old_tasks",
        ty: "boolean",
        default: "true",
        doc: "Stop the tasks still on the old groups (else a 100%-healthy deployment keeps them serving).",
    }],
    permissions: &[
        "ecs:UpdateService",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn service(desired: i32) -> ServiceState {
        ServiceState {
            service: "arn:aws:ecs:eu-west-1:123456789012:service/shop/web".into(),
            cluster: "shop".into(),
            desired,
            running: desired,
            min_percent: Some(100),
            max_percent: Some(200),
            network: None,
        }
    }

    #[test]
    fn scale_plans_the_count_and_only_changed_percents() {
        let t = Target::for_tests("web");
        let change = ScaleService::default().plan(&t, &service(2)).unwrap();
        assert_eq!((change.desired, change.was, change.percents), (0, 2, None));
        assert!(ScaleService::default().plan(&t, &service(0)).unwrap_err().contains("nothing to break"));
        let f = ScaleService { minimum_healthy_percent: Some(0), ..Default::default() };
        assert_eq!(f.plan(&t, &service(2)).unwrap().percents, Some((Some(0), Some(200))));
        let run = RunCtx::for_tests();
        let mut now = service(0);
        now.running = 2;
        assert_eq!(ScaleService::default().observe(&run, &change, &now), Ok(()), "running catches up later");
        assert_eq!(Services::differences(&service(2), &now), ["web: desired count 0 (the snapshot: 2)"]);
        assert!(ScaleService { maximum_percent: Some(50), ..Default::default() }.check().is_err());
    }

    #[test]
    fn stop_tasks_picks_by_count_or_percent_and_is_restored_when_replaced() {
        let tasks = |ids: &[&str]| RunningTasks {
            service: "arn:aws:ecs:eu-west-1:123456789012:service/shop/web".into(),
            cluster: "shop".into(),
            desired: 3,
            tasks: ids.iter().map(|s| s.to_string()).collect(),
        };
        let t = Target::for_tests("web");
        let before = tasks(&["a", "b", "c"]);
        assert_eq!(StopTasks::default().plan(&t, &before).unwrap().tasks, ["a"]);
        let half = StopTasks { percent: Some(50), ..Default::default() };
        assert_eq!(half.plan(&t, &before).unwrap().tasks, ["a", "b"], "50% of 3 rounds up");
        assert!(StopTasks::default().plan(&t, &tasks(&[])).unwrap_err().contains("nothing to break"));
        let change = half.plan(&t, &before).unwrap();
        let run = RunCtx::for_tests();
        assert!(half.observe(&run, &change, &before).is_err());
        let after = tasks(&["c"]);
        assert_eq!(half.observe(&run, &change, &after), Ok(()));
        assert_eq!(Tasks::differences(&before, &after), ["web: 1 task(s) running (before: 3)"]);
        assert!(Tasks::differences(&before, &tasks(&["c", "d", "e"])).is_empty(), "replaced");
        assert!(StopTasks { count: Some(1), percent: Some(5) }.check().is_err());
    }
    #[test]
    fn swap_puts_the_service_on_the_quarantine_group_and_needs_awsvpc() {
        let network =
            Network { subnets: vec!["subnet-1".into()], security_groups: vec!["sg-web".into()], public_ip: None };
        let before = ServiceNetwork {
            service: "arn:aws:ecs:eu-west-1:123456789012:service/shop/web".into(),
            cluster: "shop".into(),
            vpc_id: Some("vpc-1".into()),
            network: Some(network.clone()),
        };
        let t = Target::for_tests("web");
        let f = EcsSwapSecurityGroups::default();
        let c = f.plan(&t, &before).unwrap();
        assert_eq!((c.vpc_id.as_str(), &c.network), ("vpc-1", &network));
        let run = RunCtx::for_tests();
        run.record_created(quarantine::KIND, "sg-q", "vpc-1").unwrap();
        let swapped = ServiceNetwork {
            network: Some(Network { security_groups: vec!["sg-q".into()], ..network.clone() }),
            ..before.clone()
        };
        assert_eq!(f.observe(&run, &c, &swapped), Ok(()));
        assert!(f.observe(&run, &c, &before).is_err());
        assert_eq!(ServiceNetworks::differences(&before, &swapped).len(), 1);
        assert!(ServiceNetworks::differences(&before, &before).is_empty());
        let bridge = ServiceNetwork { network: None, vpc_id: None, ..before };
        assert!(f.plan(&t, &bridge).unwrap_err().contains("no awsvpc"));
    }
}
