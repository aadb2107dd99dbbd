//! The practice stack as one list of steps ([`STACK`]), each with what it creates and
//! how it deletes that: `up` runs the list in order, recording every id in the manifest
//! as it is made; `down` runs the same list in reverse. A step that creates something
//! has to say how it goes (the match in [`Step::down`] is exhaustive), so up and down
//! cannot drift apart.
//!
//! A step's `up` reads what earlier steps made from the manifest (the VPC, the subnets,
//! the groups) and saves it after each resource; its `down` deletes what the manifest
//! records, skipping what is gone already, so `down` finishes an `up` that failed
//! halfway and can be run again.

use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{
    IamInstanceProfileSpecification, IpPermission, IpRange, LaunchTemplateIamInstanceProfileSpecificationRequest,
    RequestLaunchTemplateData, ResourceType, RuleAction, Tag, TagSpecification, UserIdGroupPair,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, ProtocolEnum, Tag as LbTag, TargetDescription,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, RrType, Tag as R53Tag, TagResourceType,
};

use super::{CIDR, SANDBOX_TAG, Sandbox, save};

mod containers;
mod serverless;
use crate::aws::retry::{retry, retry_fresh};
use crate::aws::{Aws, ec2::filter};
use crate::{Error, Result};

/// What every step works with: the clients, and where the manifest is saved.
pub(super) struct Ctx<'a> {
    pub aws: &'a Aws,
    pub state: &'a crate::store::Store,
}

impl Ctx<'_> {
    /// Record what a step made, durably, before the next call relies on it.
    fn save(&self, sb: &Sandbox) -> Result<()> {
        save(self.state, sb)
    }
}

/// One part of the stack, in the order `up` makes them.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Vpc,
    InternetGateway,
    Subnets,
    RouteTables,
    NetworkAcl,
    SecurityGroups,
    Role,
    Policies,
    InstanceProfile,
    Instances,
    TargetGroup,
    LoadBalancer,
    Listener,
    LaunchTemplate,
    AutoScalingGroup,
    Zone,
    HealthCheck,
    Records,
    Bucket,
    Table,
    Function,
    Api,
    ContainerTargetGroup,
    Service,
}

/// The stack, in the order `up` makes it; `down` deletes it in reverse. Every step, once
/// (a unit test checks).
pub(super) const STACK: [Step; 24] = [
    Step::Vpc,
    Step::InternetGateway,
    Step::Subnets,
    Step::RouteTables,
    Step::NetworkAcl,
    Step::SecurityGroups,
    Step::Role,
    Step::Policies,
    Step::InstanceProfile,
    Step::Instances,
    Step::TargetGroup,
    Step::LoadBalancer,
    Step::Listener,
    Step::LaunchTemplate,
    Step::AutoScalingGroup,
    Step::Zone,
    Step::HealthCheck,
    Step::Records,
    Step::Bucket,
    Step::Table,
    Step::Function,
    Step::Api,
    Step::ContainerTargetGroup,
    Step::Service,
];

impl Step {
    /// Make this part, recording each id in the manifest as it is made.
    pub(super) async fn up(self, c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        match self {
            Step::Vpc => vpc::up(c, sb).await,
            Step::InternetGateway => internet_gateway::up(c, sb).await,
            Step::Subnets => subnets::up(c, sb).await,
            Step::RouteTables => route_tables::up(c, sb).await,
            Step::NetworkAcl => network_acl::up(c, sb).await,
            Step::SecurityGroups => security_groups::up(c, sb).await,
            Step::Role => role::up(c, sb).await,
            Step::Policies => policies::up(c, sb).await,
            Step::InstanceProfile => instance_profile::up(c, sb).await,
            Step::Instances => instances::up(c, sb).await,
            Step::TargetGroup => target_group::up(c, sb).await,
            Step::LoadBalancer => load_balancer::up(c, sb).await,
            Step::Listener => listener::up(c, sb).await,
            Step::LaunchTemplate => launch_template::up(c, sb).await,
            Step::AutoScalingGroup => auto_scaling_group::up(c, sb).await,
            Step::Zone => zone::up(c, sb).await,
            Step::HealthCheck => health_check::up(c, sb).await,
            Step::Records => records::up(c, sb).await,
            Step::Bucket => bucket::up(c, sb).await,
            Step::Table => serverless::table::up(c, sb).await,
            Step::Function => serverless::function::up(c, sb).await,
            Step::Api => serverless::api::up(c, sb).await,
            Step::ContainerTargetGroup => containers::target_group::up(c, sb).await,
            Step::Service => containers::service::up(c, sb).await,
        }
    }

    /// Delete what the manifest records of this part; what is gone already is skipped.
    pub(super) async fn down(self, c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        match self {
            Step::Vpc => vpc::down(c, sb).await,
            Step::InternetGateway => internet_gateway::down(c, sb).await,
            Step::Subnets => subnets::down(c, sb).await,
            Step::RouteTables => route_tables::down(c, sb).await,
            Step::NetworkAcl => network_acl::down(c, sb).await,
            Step::SecurityGroups => security_groups::down(c, sb).await,
            Step::Role => role::down(c, sb).await,
            Step::Policies => policies::down(c, sb).await,
            Step::InstanceProfile => instance_profile::down(c, sb).await,
            Step::Instances => instances::down(c, sb).await,
            Step::TargetGroup => target_group::down(c, sb).await,
            Step::LoadBalancer => load_balancer::down(c, sb).await,
            Step::Listener => listener::down(c, sb).await,
            Step::LaunchTemplate => launch_template::down(c, sb).await,
            Step::AutoScalingGroup => auto_scaling_group::down(c, sb).await,
            Step::Zone => zone::down(c, sb).await,
            Step::HealthCheck => health_check::down(c, sb).await,
            Step::Records => records::down(c, sb).await,
            Step::Bucket => bucket::down(c, sb).await,
            Step::Table => serverless::table::down(c, sb).await,
            Step::Function => serverless::function::down(c, sb).await,
            Step::Api => serverless::api::down(c, sb).await,
            Step::ContainerTargetGroup => containers::target_group::down(c, sb).await,
            Step::Service => containers::service::down(c, sb).await,
        }
    }
}

fn made<E: Into<crate::error::AwsError>>(what: &str) -> impl FnOnce(E) -> Error {
    Error::aws(format!("create the sandbox's {what}"))
}

fn unmade<E: Into<crate::error::AwsError>>(what: &str) -> impl FnOnce(E) -> Error {
    Error::aws(format!("delete the sandbox's {what}"))
}

/// Send a delete; one whose answer says the resource is not there counts as done.
async fn delete<T, E: Into<crate::error::AwsError>>(
    sent: impl Future<Output = std::result::Result<T, E>>,
    what: &str,
) -> Result<()> {
    gone_is_done(sent.await.map(drop).map_err(unmade(what)))
}

/// A delete that failed because the resource is not there is done.
fn gone_is_done(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.aws_code().is_some_and(|c| c.contains("NotFound") || c.contains("NoSuch")) => Ok(()),
        other => other,
    }
}

fn ec2_tags(kind: ResourceType, name: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut b =
        TagSpecification::builder().resource_type(kind).tags(Tag::builder().key(SANDBOX_TAG).value(name).build());
    for (k, v) in extra {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

/// The web instances' user data (base64, as EC2 takes it): a tiny HTTP server on port 80
/// answering `/` with the instance id and `/health` with 200 (`sandbox/user-data.sh`).
fn user_data() -> String {
    aws_smithy_types::base64::encode(include_str!("user-data.sh"))
}

/// The web servers' role, instance profile, and the prefix of their names.
fn web_name(sb: &Sandbox) -> String {
    format!("{}-web", sb.name)
}

fn label(public: bool) -> &'static str {
    if public { "public" } else { "private" }
}

mod vpc {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let n = &sb.name;
        let call =
            c.aws.ec2.create_vpc().cidr_block(CIDR).tag_specifications(ec2_tags(ResourceType::Vpc, n, &[("Name", n)]));
        let out = call.send().await.map_err(made("VPC"))?;
        sb.vpc = out.vpc().and_then(|v| v.vpc_id()).map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(vpc) = &sb.vpc else { return Ok(()) };
        retry(|| delete(c.aws.ec2.delete_vpc().vpc_id(vpc).send(), "VPC")).await
    }
}

mod internet_gateway {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (ec2, n) = (&c.aws.ec2, &sb.name);
        let tags = ec2_tags(ResourceType::InternetGateway, n, &[("Name", n)]);
        let out =
            ec2.create_internet_gateway().tag_specifications(tags).send().await.map_err(made("internet gateway"))?;
        sb.internet_gateway = out.internet_gateway().and_then(|g| g.internet_gateway_id()).map(str::to_owned);
        c.save(sb)?;
        let (igw, vpc) = (sb.internet_gateway.clone().unwrap_or_default(), sb.vpc.clone().unwrap_or_default());
        let attach = ec2.attach_internet_gateway().internet_gateway_id(&igw).vpc_id(&vpc);
        attach.send().await.map_err(made("gateway attachment"))?;
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(igw) = &sb.internet_gateway else { return Ok(()) };
        let ec2 = &c.aws.ec2;
        if let Some(vpc) = &sb.vpc {
            let detach = || {
                delete(ec2.detach_internet_gateway().internet_gateway_id(igw).vpc_id(vpc).send(), "gateway attachment")
            };
            retry(detach).await?;
        }
        delete(ec2.delete_internet_gateway().internet_gateway_id(igw).send(), "internet gateway").await
    }
}

/// A public and a private subnet in each of two availability zones.
mod subnets {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let (n, vpc) = (sb.name.clone(), sb.vpc.clone().unwrap_or_default());
        let azs =
            ec2.describe_availability_zones().send().await.map_err(made("subnets (ec2:DescribeAvailabilityZones)"))?;
        let azs: Vec<String> =
            azs.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_owned)).take(2).collect();
        for (i, az) in azs.iter().enumerate() {
            for (public, base) in [(true, 1), (false, 11)] {
                let label = label(public);
                let tags =
                    ec2_tags(ResourceType::Subnet, &n, &[("Name", &format!("{n}-{label}-{}", i + 1)), ("Tier", label)]);
                let call = ec2
                    .create_subnet()
                    .vpc_id(&vpc)
                    .availability_zone(az)
                    .cidr_block(format!("10.42.{}.0/24", base + i));
                let out = call.tag_specifications(tags).send().await.map_err(made("subnet"))?;
                let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_owned();
                if public {
                    sb.public_subnets.push(id)
                } else {
                    sb.private_subnets.push(id)
                }
                c.save(sb)?;
            }
        }
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        for s in sb.public_subnets.iter().chain(&sb.private_subnets) {
            retry(|| delete(c.aws.ec2.delete_subnet().subnet_id(s).send(), "subnet")).await?;
        }
        Ok(())
    }
}

/// A public route table (default route to the internet gateway) and a private one, each
/// associated with its subnets.
mod route_tables {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let (n, vpc) = (sb.name.clone(), sb.vpc.clone().unwrap_or_default());
        for public in [true, false] {
            let label = label(public);
            let tags = ec2_tags(ResourceType::RouteTable, &n, &[("Name", &format!("{n}-{label}")), ("Tier", label)]);
            let out = ec2
                .create_route_table()
                .vpc_id(&vpc)
                .tag_specifications(tags)
                .send()
                .await
                .map_err(made("route table"))?;
            let rt = out.route_table().and_then(|r| r.route_table_id()).unwrap_or_default().to_owned();
            if public {
                sb.public_route_table = Some(rt.clone())
            } else {
                sb.private_route_table = Some(rt.clone())
            }
            c.save(sb)?;
            if public {
                let igw = sb.internet_gateway.clone().unwrap_or_default();
                let route = ec2.create_route().route_table_id(&rt).destination_cidr_block("0.0.0.0/0").gateway_id(igw);
                route.send().await.map_err(made("default route"))?;
            }
            let subnets = if public { &sb.public_subnets } else { &sb.private_subnets };
            for s in subnets {
                let assoc = ec2.associate_route_table().route_table_id(&rt).subnet_id(s);
                assoc.send().await.map_err(made("route table association"))?;
            }
        }
        Ok(())
    }

    /// A route table lets go of its subnets before it can go. Reads lag changes, so a
    /// delete still refused for its dependencies reads the associations again and tries
    /// once more.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        for rt in [&sb.public_route_table, &sb.private_route_table].into_iter().flatten() {
            gone_is_done(
                retry(|| async {
                    disassociate(ec2, rt).await?;
                    delete(ec2.delete_route_table().route_table_id(rt).send(), "route table").await
                })
                .await,
            )?;
        }
        Ok(())
    }

    /// Disassociate every subnet from route table `rt` (not the main association).
    async fn disassociate(ec2: &aws_sdk_ec2::Client, rt: &str) -> Result<()> {
        let Some(table) = crate::aws::ec2::describe_route_table(ec2, rt).await? else { return Ok(()) };
        for a in table.associations() {
            if let Some(id) = a.route_table_association_id().filter(|_| !a.main().unwrap_or(false)) {
                let done = ec2.disassociate_route_table().association_id(id).send().await;
                if let Err(e) = done.map_err(unmade("route table association"))
                    && !e.aws_code().is_some_and(|c| c.ends_with(".NotFound"))
                {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The public subnets' network ACL: allow everything both ways, where a fault can deny.
mod network_acl {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let (n, vpc) = (sb.name.clone(), sb.vpc.clone().unwrap_or_default());
        let tags = ec2_tags(ResourceType::NetworkAcl, &n, &[("Name", &format!("{n}-public")), ("Tier", "public")]);
        let out =
            ec2.create_network_acl().vpc_id(&vpc).tag_specifications(tags).send().await.map_err(made("network ACL"))?;
        sb.public_network_acl = out.network_acl().and_then(|a| a.network_acl_id()).map(str::to_owned);
        c.save(sb)?;
        let acl = sb.public_network_acl.clone().unwrap_or_default();
        for egress in [false, true] {
            let entry = ec2.create_network_acl_entry().network_acl_id(&acl).rule_number(100).protocol("-1");
            let entry = entry.rule_action(RuleAction::Allow).egress(egress).cidr_block("0.0.0.0/0");
            entry.send().await.map_err(made("network ACL entry"))?;
        }
        for s in &sb.public_subnets {
            if let Some((_, assoc)) = crate::aws::ec2::subnet_acl(ec2, s).await? {
                let replace = ec2.replace_network_acl_association().association_id(assoc).network_acl_id(&acl);
                replace.send().await.map_err(made("network ACL association"))?;
            }
        }
        Ok(())
    }

    /// The subnets go back to the VPC's default ACL before it can go; a delete still
    /// refused (a lagging read) moves them again and tries once more.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(acl) = &sb.public_network_acl else { return Ok(()) };
        let ec2 = &c.aws.ec2;
        gone_is_done(
            retry(|| async {
                to_default_acl(ec2, sb, acl).await?;
                delete(ec2.delete_network_acl().network_acl_id(acl).send(), "network ACL").await
            })
            .await,
        )
    }

    /// Move the sandbox's public subnets that are on `acl` back to their VPC's default
    /// ACL. An association a lagging read named that is gone already is skipped: the
    /// caller's delete then tells whether any is left.
    async fn to_default_acl(ec2: &aws_sdk_ec2::Client, sb: &Sandbox, acl: &str) -> Result<()> {
        let Some(vpc) = &sb.vpc else { return Ok(()) };
        let default = ec2
            .describe_network_acls()
            .filters(filter("vpc-id", [vpc.as_str()]))
            .filters(filter("default", ["true"]))
            .send()
            .await
            .map_err(unmade("network ACL"))?;
        let Some(default) = default.network_acls().first().and_then(|a| a.network_acl_id()) else { return Ok(()) };
        for s in &sb.public_subnets {
            if let Some((cur, assoc)) = crate::aws::ec2::subnet_acl(ec2, s).await?
                && cur.network_acl_id() == Some(acl)
            {
                let moved =
                    ec2.replace_network_acl_association().association_id(assoc).network_acl_id(default).send().await;
                if let Err(e) = moved.map_err(unmade("network ACL association"))
                    && e.aws_code() != Some("InvalidAssociationID.NotFound")
                {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The load balancer's, the web servers' and the database's groups, with the rules a
/// three-tier stack has.
mod security_groups {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let (n, vpc) = (sb.name.clone(), sb.vpc.clone().unwrap_or_default());
        for (label, desc) in [("lb", "load balancer"), ("web", "web servers"), ("db", "database")] {
            let tags = ec2_tags(ResourceType::SecurityGroup, &n, &[("Name", &format!("{n}-{label}")), ("Tier", label)]);
            let call = ec2
                .create_security_group()
                .group_name(format!("{n}-{label}"))
                .description(format!("{n} sandbox: {desc}"));
            let g = call.vpc_id(&vpc).tag_specifications(tags).send().await.map_err(made("security group"))?;
            let id = g.group_id().map(str::to_owned);
            match label {
                "lb" => sb.lb_security_group = id,
                "web" => sb.web_security_group = id,
                _ => sb.db_security_group = id,
            }
            c.save(sb)?;
        }
        let group = |g: &Option<String>| g.clone().unwrap_or_default();
        let (lb_sg, web_sg, db_sg) =
            (group(&sb.lb_security_group), group(&sb.web_security_group), group(&sb.db_security_group));
        let port = |p: i32| IpPermission::builder().ip_protocol("tcp").from_port(p).to_port(p);
        let from_cidr = |cidr: &str, d: &str| IpRange::builder().cidr_ip(cidr).description(d).build();
        let from_group = |g: &str, d: &str| UserIdGroupPair::builder().group_id(g).description(d).build();
        let ingress = [
            (&lb_sg, port(80).ip_ranges(from_cidr("0.0.0.0/0", "HTTP from anywhere"))),
            (&lb_sg, port(443).ip_ranges(from_cidr("0.0.0.0/0", "HTTPS from anywhere"))),
            (&web_sg, port(80).user_id_group_pairs(from_group(&lb_sg, "HTTP from the load balancer"))),
            (&web_sg, port(443).user_id_group_pairs(from_group(&lb_sg, "HTTPS from the load balancer"))),
            (&web_sg, port(22).ip_ranges(from_cidr(CIDR, "SSH from the VPC"))),
            (&db_sg, port(5432).user_id_group_pairs(from_group(&web_sg, "PostgreSQL from the web servers"))),
        ];
        for (group, perm) in ingress {
            let call = ec2.authorize_security_group_ingress().group_id(group).ip_permissions(perm.build());
            call.send().await.map_err(made("security group rule"))?;
        }
        Ok(())
    }

    /// Cross references go first, then the groups; a delete refused while an interface
    /// (the load balancer's) still holds its group is tried again.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let groups: Vec<&String> =
            [&sb.db_security_group, &sb.web_security_group, &sb.lb_security_group].into_iter().flatten().collect();
        for g in &groups {
            if let Some(sg) = crate::aws::ec2::describe_security_group(ec2, g).await?
                && !sg.ip_permissions().is_empty()
            {
                let revoke = ec2
                    .revoke_security_group_ingress()
                    .group_id(*g)
                    .set_ip_permissions(Some(sg.ip_permissions().to_vec()));
                delete(revoke.send(), "security group rules").await?;
            }
        }
        for g in groups {
            retry(|| delete(ec2.delete_security_group().group_id(g).send(), "security group")).await?;
        }
        Ok(())
    }
}

/// The web servers' role.
mod role {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (n, role) = (sb.name.clone(), web_name(sb));
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value");
        c.aws
            .iam
            .create_role()
            .role_name(&role)
            .assume_role_policy_document(trust)
            .description(format!("{n} sandbox: web servers"))
            .tags(tag(SANDBOX_TAG, &n))
            .tags(tag("Tier", "web"))
            .send()
            .await
            .map_err(made("IAM role"))?;
        sb.role = Some(role);
        c.save(sb)
    }

    /// Whatever a drill left attached or inline goes with the role.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(role) = &sb.role else { return Ok(()) };
        let iam = &c.aws.iam;
        for arn in policies::attached(c, role).await {
            delete(iam.detach_role_policy().role_name(role).policy_arn(arn).send(), "policy attachment").await?;
        }
        if let Ok(inline) = iam.list_role_policies().role_name(role).send().await {
            for p in inline.policy_names() {
                delete(iam.delete_role_policy().role_name(role).policy_name(p).send(), "inline policy").await?;
            }
        }
        delete(iam.delete_role().role_name(role).send(), "role").await
    }
}

/// Two managed policies attached to the role (what `iam.detach-policies` takes away).
mod policies {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (iam, role) = (&c.aws.iam, web_name(sb));
        for (suffix, action) in [("read-assets", "s3:GetObject"), ("write-logs", "logs:PutLogEvents")] {
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
            );
            let create = iam.create_policy().policy_name(format!("{role}-{suffix}")).policy_document(doc);
            let p = create.send().await.map_err(made("IAM policy"))?;
            let arn = p.policy().and_then(|p| p.arn()).unwrap_or_default().to_owned();
            sb.policies.push(arn.clone());
            c.save(sb)?;
            let attach = iam.attach_role_policy().role_name(&role).policy_arn(&arn);
            attach.send().await.map_err(made("policy attachment"))?;
        }
        Ok(())
    }

    /// A policy is detached (if a drill has not detached it) before it can go.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let iam = &c.aws.iam;
        let attached = match &sb.role {
            Some(role) => attached(c, role).await,
            None => Vec::new(),
        };
        for arn in &sb.policies {
            if let Some(role) = sb.role.as_ref().filter(|_| attached.contains(arn)) {
                delete(iam.detach_role_policy().role_name(role).policy_arn(arn).send(), "policy attachment").await?;
            }
            delete(iam.delete_policy().policy_arn(arn).send(), "policy").await?;
        }
        Ok(())
    }

    /// The policies attached to `role`; none if it cannot be read (it is gone).
    pub(super) async fn attached(c: &Ctx<'_>, role: &str) -> Vec<String> {
        match c.aws.iam.list_attached_role_policies().role_name(role).send().await {
            Ok(out) => out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_owned)).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// The web servers' instance profile, holding the role.
mod instance_profile {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (iam, name) = (&c.aws.iam, web_name(sb));
        iam.create_instance_profile().instance_profile_name(&name).send().await.map_err(made("instance profile"))?;
        sb.instance_profile = Some(name.clone());
        c.save(sb)?;
        let add = iam.add_role_to_instance_profile().instance_profile_name(&name).role_name(&name);
        add.send().await.map_err(made("instance profile role"))?;
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(profile) = &sb.instance_profile else { return Ok(()) };
        let iam = &c.aws.iam;
        if let Some(role) = &sb.role {
            let remove = iam.remove_role_from_instance_profile().instance_profile_name(profile).role_name(role);
            delete(remove.send(), "instance profile role").await?;
        }
        delete(iam.delete_instance_profile().instance_profile_name(profile).send(), "instance profile").await
    }
}

/// Two web instances, one per public subnet, serving the site from their user data.
mod instances {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (ec2, n, profile) = (&c.aws.ec2, sb.name.clone(), web_name(sb));
        let web_sg = sb.web_security_group.clone().unwrap_or_default();
        for (i, subnet) in sb.public_subnets.clone().iter().enumerate() {
            // Made a moment ago: the instance profile (IAM propagates) and the group may
            // not be visible to EC2 yet.
            let out = retry_fresh(|| async {
                ec2.run_instances()
                    .image_id(sb.ami.as_deref().unwrap_or_default())
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .min_count(1)
                    .max_count(1)
                    .subnet_id(subnet)
                    .security_group_ids(&web_sg)
                    .iam_instance_profile(IamInstanceProfileSpecification::builder().name(&profile).build())
                    .user_data(user_data())
                    .tag_specifications(ec2_tags(
                        ResourceType::Instance,
                        &n,
                        &[("Name", &format!("{n}-web-{}", i + 1)), ("Tier", "web")],
                    ))
                    .send()
                    .await
                    .map_err(made("web instance"))
            })
            .await?;
            sb.instances.extend(out.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)));
            c.save(sb)?;
        }
        Ok(())
    }

    /// The stack's instances, and those firedrill itself launched into it (a terminated
    /// instance's relaunch, tagged with its run: on AWS the VPC cannot be deleted while
    /// they run); then wait for them, since their groups and subnets cannot go before.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let ec2 = &c.aws.ec2;
        let mut instances = sb.instances.clone();
        if let Some(vpc) = &sb.vpc {
            instances.extend(launched_by_firedrill(ec2, vpc).await?);
        }
        instances.sort();
        instances.dedup();
        if instances.is_empty() {
            return Ok(());
        }
        delete(ec2.terminate_instances().set_instance_ids(Some(instances.clone())).send(), "instances").await?;
        crate::aws::ec2::wait_for_instances(ec2, &instances, &["terminated"], 600).await
    }

    /// Instances in `vpc` that firedrill launched (tagged with a run: relaunches), not
    /// yet terminated.
    async fn launched_by_firedrill(ec2: &aws_sdk_ec2::Client, vpc: &str) -> Result<Vec<String>> {
        let out = ec2
            .describe_instances()
            .filters(filter("vpc-id", [vpc]))
            .filters(filter("tag-key", [crate::aws::RUN_TAG]))
            .filters(filter("instance-state-name", ["pending", "running", "stopping", "stopped"]))
            .send()
            .await
            .map_err(unmade("instances firedrill launched"))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect())
    }
}

fn lb_tags(name: &str, tier: &str) -> Vec<LbTag> {
    vec![LbTag::builder().key(SANDBOX_TAG).value(name).build(), LbTag::builder().key("Tier").value(tier).build()]
}

/// The web target group (health check `/health`), with the web instances in it.
mod target_group {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let elb = &c.aws.elbv2;
        let create = elb
            .create_target_group()
            .name(web_name(sb))
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(sb.vpc.clone().unwrap_or_default())
            .health_check_path("/health")
            .set_tags(Some(lb_tags(&sb.name, "web")));
        let tg = create.send().await.map_err(made("target group"))?;
        sb.target_group = tg.target_groups().first().and_then(|t| t.target_group_arn()).map(str::to_owned);
        c.save(sb)?;
        let targets = sb.instances.iter().map(|i| TargetDescription::builder().id(i).port(80).build()).collect();
        let register = elb.register_targets().target_group_arn(sb.target_group.clone().unwrap_or_default());
        register.set_targets(Some(targets)).send().await.map_err(made("target registration"))?;
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(tg) = &sb.target_group else { return Ok(()) };
        delete(c.aws.elbv2.delete_target_group().target_group_arn(tg).send(), "target group").await
    }
}

/// The application load balancer in the public subnets.
mod load_balancer {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let create = c
            .aws
            .elbv2
            .create_load_balancer()
            .name(format!("{}-alb", sb.name))
            .set_subnets(Some(sb.public_subnets.clone()))
            .security_groups(sb.lb_security_group.clone().unwrap_or_default())
            .set_tags(Some(lb_tags(&sb.name, "lb")));
        let out = create.send().await.map_err(made("load balancer"))?;
        let lb = out.load_balancers().first();
        sb.load_balancer_dns = lb.and_then(|l| l.dns_name()).map(str::to_owned);
        sb.load_balancer_zone = lb.and_then(|l| l.canonical_hosted_zone_id()).map(str::to_owned);
        sb.load_balancer = lb.and_then(|l| l.load_balancer_arn()).map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(lb) = &sb.load_balancer else { return Ok(()) };
        delete(c.aws.elbv2.delete_load_balancer().load_balancer_arn(lb).send(), "load balancer").await
    }
}

/// HTTP on port 80, forwarding to the web target group.
mod listener {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let forward = LbAction::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(sb.target_group.clone().unwrap_or_default())
            .build();
        let create = c
            .aws
            .elbv2
            .create_listener()
            .load_balancer_arn(sb.load_balancer.clone().unwrap_or_default())
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(forward)
            .set_tags(Some(lb_tags(&sb.name, "web")));
        let out = create.send().await.map_err(made("listener"))?;
        sb.listener = out.listeners().first().and_then(|l| l.listener_arn()).map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(l) = &sb.listener else { return Ok(()) };
        delete(c.aws.elbv2.delete_listener().listener_arn(l).send(), "listener").await
    }
}

/// The auto scaling group's launch template: the web instances' image, type, group,
/// profile and user data.
mod launch_template {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let profile = LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(web_name(sb)).build();
        let data = RequestLaunchTemplateData::builder()
            .image_id(sb.ami.clone().unwrap_or_default())
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .security_group_ids(sb.web_security_group.clone().unwrap_or_default())
            .iam_instance_profile(profile)
            .user_data(user_data())
            .build();
        let create = c
            .aws
            .ec2
            .create_launch_template()
            .launch_template_name(web_name(sb))
            .launch_template_data(data)
            .tag_specifications(ec2_tags(ResourceType::LaunchTemplate, &sb.name, &[]));
        let lt = create.send().await.map_err(made("launch template"))?;
        sb.launch_template = lt.launch_template().and_then(|l| l.launch_template_id()).map(str::to_owned);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(lt) = &sb.launch_template else { return Ok(()) };
        delete(c.aws.ec2.delete_launch_template().launch_template_id(lt).send(), "launch template").await
    }
}

/// The auto scaling group in the private subnets. Its instances carry no `Tier` tag, so
/// instance faults do not pick them.
mod auto_scaling_group {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let name = web_name(sb);
        let tag = |k: &str, v: &str| AsgTag::builder().key(k).value(v).propagate_at_launch(k != "Tier").build();
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id(sb.launch_template.clone().unwrap_or_default())
            .build();
        c.aws
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .min_size(1)
            .max_size(3)
            .desired_capacity(2)
            .launch_template(template)
            .vpc_zone_identifier(sb.private_subnets.join(","))
            .tags(tag(SANDBOX_TAG, &sb.name))
            .tags(tag("Tier", "web"))
            .send()
            .await
            .map_err(made("auto scaling group"))?;
        sb.auto_scaling_group = Some(name);
        c.save(sb)
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(asg) = &sb.auto_scaling_group else { return Ok(()) };
        let call = c.aws.autoscaling.delete_auto_scaling_group().auto_scaling_group_name(asg).force_delete(true);
        match delete(call.send(), "auto scaling group").await {
            Err(e) if e.to_string().contains("not found") => Ok(()),
            other => other,
        }
    }
}

/// The stack's hosted zone, `<name>.firedrill.test`.
mod zone {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let r53 = &c.aws.route53;
        let name = format!("{}.firedrill.test", sb.name);
        let reference = format!("firedrill-sandbox-{}-{}", sb.name, crate::store::Store::new_run_id());
        let zone = r53
            .create_hosted_zone()
            .name(&name)
            .caller_reference(reference)
            .send()
            .await
            .map_err(made("hosted zone"))?;
        let id = zone.hosted_zone().map(|z| z.id().trim_start_matches("/hostedzone/").to_owned()).unwrap_or_default();
        sb.zone_name = Some(name);
        sb.zone_id = Some(id.clone());
        c.save(sb)?;
        let tag = R53Tag::builder().key(SANDBOX_TAG).value(&sb.name).build();
        let call =
            r53.change_tags_for_resource().resource_type(TagResourceType::Hostedzone).resource_id(&id).add_tags(tag);
        call.send().await.map_err(made("hosted zone tags"))?;
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(zone) = &sb.zone_id else { return Ok(()) };
        delete(c.aws.route53.delete_hosted_zone().id(zone).send(), "hosted zone").await
    }
}

/// An HTTP health check of `www.<zone>` on `/health`.
mod health_check {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let (r53, n) = (&c.aws.route53, sb.name.clone());
        let www = format!("www.{}", sb.zone_name.clone().unwrap_or_default());
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Http)
            .fully_qualified_domain_name(www)
            .port(80)
            .resource_path("/health")
            .request_interval(30)
            .failure_threshold(3)
            .build()
            .expect("type");
        let reference = format!("firedrill-sandbox-{n}-{}", crate::store::Store::new_run_id());
        let create = r53.create_health_check().caller_reference(reference).health_check_config(config);
        let hc = create.send().await.map_err(made("health check"))?;
        let id = hc.health_check().map(|h| h.id().to_owned()).unwrap_or_default();
        sb.health_check = Some(id.clone());
        c.save(sb)?;
        let tag = |k: &str, v: &str| R53Tag::builder().key(k).value(v).build();
        r53.change_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(&id)
            .add_tags(tag(SANDBOX_TAG, &n))
            .add_tags(tag("Name", &format!("{n}-www")))
            .add_tags(tag("Tier", "web"))
            .send()
            .await
            .map_err(made("health check tags"))?;
        Ok(())
    }

    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(hc) = &sb.health_check else { return Ok(()) };
        delete(c.aws.route53.delete_health_check().health_check_id(hc).send(), "health check").await
    }
}

/// The site's records: `www` (an alias of the load balancer), `api` (an A record with
/// the health check), `app` (two weighted CNAMEs).
mod records {
    use super::*;

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        let zone_name = sb.zone_name.clone().unwrap_or_default();
        let (zone_id, hc) = (sb.zone_id.clone().unwrap_or_default(), sb.health_check.clone().unwrap_or_default());
        let www = format!("www.{zone_name}.");
        let simple = |name: &str, ty: RrType, value: &str| {
            ResourceRecordSet::builder()
                .name(name)
                .r#type(ty)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(value).build().expect("value"))
        };
        let mut sets = vec![
            simple(&format!("api.{zone_name}."), RrType::A, "10.42.1.10")
                .health_check_id(&hc)
                .build()
                .expect("name and type"),
        ];
        for (id, weight) in [("blue", 90), ("green", 10)] {
            sets.push(
                simple(&format!("app.{zone_name}."), RrType::Cname, &www)
                    .set_identifier(id)
                    .weight(weight)
                    .build()
                    .expect("name and type"),
            );
        }
        let www_set = match (&sb.load_balancer_dns, &sb.load_balancer_zone) {
            (Some(dns), Some(zone)) => ResourceRecordSet::builder()
                .name(&www)
                .r#type(RrType::A)
                .alias_target(
                    AliasTarget::builder()
                        .dns_name(dns)
                        .hosted_zone_id(zone)
                        .evaluate_target_health(true)
                        .build()
                        .expect("alias"),
                )
                .build()
                .expect("name and type"),
            _ => simple(&www, RrType::A, "10.42.1.10").build().expect("name and type"),
        };
        sets.push(www_set);
        let upsert = |s: &ResourceRecordSet| {
            Change::builder().action(ChangeAction::Upsert).resource_record_set(s.clone()).build().expect("change")
        };
        let batch =
            ChangeBatch::builder().set_changes(Some(sets.iter().map(upsert).collect())).build().expect("changes");
        let call = c.aws.route53.change_resource_record_sets().hosted_zone_id(&zone_id).change_batch(batch);
        call.send().await.map_err(made("DNS records"))?;
        sb.records = sets.iter().map(|s| crate::aws::route53::record_id(&zone_id, s)).collect();
        c.save(sb)
    }

    /// Every record of the zone but its own NS and SOA: what a drill added goes too, or
    /// the zone could not be deleted.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(zone) = &sb.zone_id else { return Ok(()) };
        let r53 = &c.aws.route53;
        let records = match crate::aws::route53::zone_records(r53, zone).await {
            Ok(records) => records,
            Err(e) => return gone_is_done(Err(e)),
        };
        let changes: Vec<Change> = records
            .into_iter()
            .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
            .map(|r| Change::builder().action(ChangeAction::Delete).resource_record_set(r).build().expect("change"))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let batch = ChangeBatch::builder().set_changes(Some(changes)).build().expect("changes");
        delete(r53.change_resource_record_sets().hosted_zone_id(zone).change_batch(batch).send(), "DNS records").await
    }
}

/// `--with serverless`: a bucket of static content (an `index.html`) with a bucket
/// policy letting the account read it; tagged `Tier: static`.
mod bucket {
    use super::*;
    use crate::sandbox::Extra;

    /// The policy the bucket starts with: the account's own principals may read objects.
    fn policy(account: &str, bucket: &str) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AccountReadsStaticContent",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{bucket}/*"),
            }],
        })
        .to_string()
    }

    pub async fn up(c: &Ctx<'_>, sb: &mut Sandbox) -> Result<()> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag as S3Tag, Tagging};
        if !sb.with.contains(&Extra::Serverless) {
            return Ok(());
        }
        let s3 = &c.aws.s3;
        // Bucket names are global: the account and region make it this stack's own.
        let name = format!("{}-static-{}-{}", sb.name, sb.account, sb.region);
        let mut create = s3.create_bucket().bucket(&name);
        if sb.region != "us-east-1" {
            let at = BucketLocationConstraint::from(sb.region.as_str());
            create = create
                .create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(at).build());
        }
        create.send().await.map_err(made("bucket"))?;
        sb.bucket = Some(name.clone());
        c.save(sb)?;
        let tag = |k: &str, v: &str| S3Tag::builder().key(k).value(v).build().expect("key and value");
        let tags = Tagging::builder()
            .tag_set(tag(SANDBOX_TAG, &sb.name))
            .tag_set(tag("Name", &format!("{}-static", sb.name)))
            .tag_set(tag("Tier", "static"))
            .build()
            .expect("tags");
        s3.put_bucket_tagging().bucket(&name).tagging(tags).send().await.map_err(made("bucket tags"))?;
        let page = aws_sdk_s3::primitives::ByteStream::from_static(b"<h1>firedrill practice stack</h1>\n");
        let put = s3.put_object().bucket(&name).key("index.html").content_type("text/html").body(page);
        put.send().await.map_err(made("bucket's index.html"))?;
        let put = s3.put_bucket_policy().bucket(&name).policy(policy(&sb.account, &name));
        put.send().await.map_err(made("bucket policy"))?;
        Ok(())
    }

    /// Empty the bucket (every version: an unversioned object is listed as version
    /// `null`), then delete it. The stack's bucket holds one object; a team's uploads
    /// during a drill would have to stay under a listing's 1000.
    pub async fn down(c: &Ctx<'_>, sb: &Sandbox) -> Result<()> {
        let Some(bucket) = &sb.bucket else { return Ok(()) };
        let s3 = &c.aws.s3;
        let listed = match s3.list_object_versions().bucket(bucket).send().await.map_err(unmade("bucket's objects")) {
            Ok(listed) => listed,
            // Gone already: done.
            Err(e) => return gone_is_done(Err(e)),
        };
        for v in listed.versions() {
            let (Some(key), Some(version)) = (v.key(), v.version_id()) else { continue };
            delete(s3.delete_object().bucket(bucket).key(key).version_id(version).send(), "bucket's object").await?;
        }
        for m in listed.delete_markers() {
            let (Some(key), Some(version)) = (m.key(), m.version_id()) else { continue };
            delete(s3.delete_object().bucket(bucket).key(key).version_id(version).send(), "bucket's object").await?;
        }
        delete(s3.delete_bucket().bucket(bucket).send(), "bucket").await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stack_is_every_step_once_in_order() {
        for (i, step) in super::STACK.iter().enumerate() {
            assert_eq!(*step as usize, i, "{step:?}");
        }
        assert_eq!(super::Step::Service as usize + 1, super::STACK.len(), "the last step is the last in the list");
    }
}
