//! ECS: `ecs.scale-service` — a service's desired count set to 0 (or N), and with it, if
//! asked, the deployment's minimum healthy and maximum percent. The snapshot is the
//! service's desired count, deployment percents and network configuration; revert puts
//! back the desired count, and the percents if the fault changed them. The running
//! count is shown, never compared: the scheduler brings it to the desired count.

use aws_sdk_ecs::types::DeploymentConfiguration;
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
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

    /// The snapshot's desired count and percents back.
    async fn reset(aws: &Aws, _target: &Target, before: &ServiceState, now: &ServiceState) -> Result<()> {
        let percents = (before.min_percent != now.min_percent || before.max_percent != now.max_percent)
            .then_some((before.min_percent, before.max_percent));
        update(aws, before, Some(before.desired), percents).await
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
}
