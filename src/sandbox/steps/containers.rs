//! `--with containers`: an ECS cluster with a Fargate service of two tasks (nginx,
//! answering `/container/` with 200) behind the load balancer's second target group,
//! which a listener rule sends `/container*` to. Tagged `Tier: containers`. Each is
//! recorded as it is made; `down` scales the service to 0, deletes it, the task
//! definition, the rule, the target group and the cluster.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, LoadBalancer,
    NetworkConfiguration, NetworkMode, PortMapping, Tag as EcsTag,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, ProtocolEnum, RuleCondition, TargetTypeEnum,
};

use super::{Ctx, delete, lb_tags, made};
use crate::Result;
use crate::aws::retry::retry;
use crate::sandbox::{Extra, SANDBOX_TAG, Sandbox};

fn wanted(sb: &Sandbox) -> bool {
    sb.with.contains(&Extra::Containers)
}

/// The cluster's and the service's name.
fn name(sb: &Sandbox) -> String {
    format!("{}-containers", sb.name)
}

fn tags(sb: &Sandbox) -> Vec<EcsTag> {
    let tag = |k: &str, v: &str| EcsTag::builder().key(k).value(v).build();
    vec![tag(SANDBOX_TAG, &sb.name), tag("Tier", "containers")]
}

/// The container: nginx serving `/container/` (what the target group checks).
const SERVE: &str = "mkdir -p /usr/share/nginx/html/container && echo ok > /usr/share/nginx/html/container/index.html && exec nginx -g 'daemon off;'";

/// The second target group (IP targets: Fargate's awsvpc interfaces) and the listener
/// rule that sends `/container*` to it.
pub mod target_group {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        if !wanted(sb) {
            return Ok(());
        }
        let elb = &c.aws.elbv2;
        let create = elb
            .create_target_group()
            .name(format!("{}-ecs", sb.name))
            .protocol(ProtocolEnum::Http)
            .port(80)
            .target_type(TargetTypeEnum::Ip)
            .vpc_id(sb.vpc.clone().unwrap_or_default())
            .health_check_path("/container/")
            .set_tags(Some(lb_tags(&sb.name, "containers")));
        let tg = create.send().await.map_err(made("containers' target group"))?;
        let arn = tg.target_groups().first().and_then(|t| t.target_group_arn()).map(str::to_owned);
        sb.container_target_group = arn.clone();
        c.save(sb)?;
        let forward = LbAction::builder().r#type(ActionTypeEnum::Forward).set_target_group_arn(arn).build();
        let path = RuleCondition::builder().field("path-pattern").values("/container*").build();
        let rule = elb
            .create_rule()
            .listener_arn(sb.listener.clone().unwrap_or_default())
            .priority(10)
            .conditions(path)
            .actions(forward)
            .set_tags(Some(lb_tags(&sb.name, "containers")));
        let out = rule.send().await.map_err(made("listener rule"))?;
        sb.container_rule = out.rules().first().and_then(|r| r.rule_arn()).map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let elb = &c.aws.elbv2;
        if let Some(rule) = &sb.container_rule {
            delete(elb.delete_rule().rule_arn(rule).send(), "listener rule").await?;
        }
        let Some(tg) = &sb.container_target_group else { return Ok(()) };
        // In use until the service's tasks have deregistered.
        retry(|| delete(elb.delete_target_group().target_group_arn(tg).send(), "containers' target group")).await
    }
}

/// The cluster, the task definition and the Fargate service (two tasks, the web
/// security group, the public subnets with public IPs to pull the image).
pub mod service {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        if !wanted(sb) {
            return Ok(());
        }
        let (ecs, name) = (&c.aws.ecs, name(sb));
        let cluster = ecs.create_cluster().cluster_name(&name).set_tags(Some(tags(sb)));
        let out = cluster.send().await.map_err(made("ECS cluster"))?;
        sb.cluster = out.cluster().and_then(|c| c.cluster_arn()).map(str::to_owned);
        c.save(sb)?;
        let container = ContainerDefinition::builder()
            .name("web")
            .image("public.ecr.aws/nginx/nginx:stable-alpine")
            .essential(true)
            // The container's own share, all of the task's (Fargate needs only the
            // task's; the emulator's RunTask needs the container's too).
            .cpu(256)
            .memory(512)
            .port_mappings(PortMapping::builder().container_port(80).build())
            .entry_point("sh")
            .command("-c")
            .command(SERVE)
            .build();
        let register = ecs
            .register_task_definition()
            .family(&name)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .set_tags(Some(tags(sb)));
        let out = register.send().await.map_err(made("task definition"))?;
        sb.task_definition = out.task_definition().and_then(|t| t.task_definition_arn()).map(str::to_owned);
        c.save(sb)?;
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(sb.public_subnets.clone()))
            .security_groups(sb.web_security_group.clone().unwrap_or_default())
            .assign_public_ip(AssignPublicIp::Enabled)
            .build()
            .map_err(|e| crate::Error::Failed(e.to_string()))?;
        let lb = LoadBalancer::builder()
            .set_target_group_arn(sb.container_target_group.clone())
            .container_name("web")
            .container_port(80)
            .build();
        let create = ecs
            .create_service()
            .cluster(&name)
            .service_name(&name)
            .set_task_definition(sb.task_definition.clone())
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(network).build())
            .load_balancers(lb)
            .set_tags(Some(tags(sb)));
        let out = create.send().await.map_err(made("ECS service"))?;
        sb.service = out.service().and_then(|s| s.service_arn()).map(str::to_owned);
        c.save(sb)
    }

    /// Scaled to 0 and deleted (ECS drains its tasks), then the task definition
    /// deregistered and the cluster deleted once its tasks have stopped.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let ecs = &c.aws.ecs;
        if let (Some(service), Some(cluster)) = (&sb.service, &sb.cluster) {
            delete(ecs.delete_service().cluster(cluster).service(service).force(true).send(), "ECS service").await?;
        }
        if let Some(td) = &sb.task_definition {
            delete(ecs.deregister_task_definition().task_definition(td).send(), "task definition").await?;
        }
        let Some(cluster) = &sb.cluster else { return Ok(()) };
        retry(|| delete(ecs.delete_cluster().cluster(cluster).send(), "ECS cluster")).await
    }
}
