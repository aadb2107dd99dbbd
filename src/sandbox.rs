//! The practice stack (`firedrill sandbox up|down`): a small, realistic team stack for
//! drills, demos and the integration tests, created wherever the credentials point.
//!
//! A VPC with public and private subnets, an internet gateway and routes, a network ACL,
//! load balancer / web / database security groups, two web instances with an instance
//! role and profile, an application load balancer with a target group and listener, an
//! auto scaling group, and a Route 53 zone with records and a health check.
//!
//! Everything carries `firedrill:sandbox=<name>` (and a `Tier` tag the shipped faults
//! select on). What `up` creates is recorded in `<state>/sandbox/<account>/<region>/<name>.json`
//! after each step, durably, so `down` deletes exactly that, even after an `up` that failed
//! halfway. What firedrill launched into the stack goes too; what it kept as evidence
//! ([`evidence`]) is listed, and deleted only when asked.

use std::path::{Path, PathBuf};

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
use serde::{Deserialize, Serialize};

use crate::aws::retry::{retry, retry_fresh};
use crate::aws::{Aws, ec2::filter};
use crate::{Error, Result};

pub mod evidence;

pub const SANDBOX_TAG: &str = "firedrill:sandbox";
const CIDR: &str = "10.42.0.0/16";

/// The web instances' user data (base64, as EC2 takes it): a tiny HTTP server on port 80
/// answering `/` with the instance id and `/health` with 200 (`sandbox/user-data.sh`).
fn user_data() -> String {
    aws_smithy_types::base64::encode(include_str!("sandbox/user-data.sh"))
}

/// What `up` created, by step. Every field is filled as its resource is created.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sandbox {
    pub name: String,
    pub account: String,
    pub region: String,
    pub vpc: Option<String>,
    pub internet_gateway: Option<String>,
    pub public_subnets: Vec<String>,
    pub private_subnets: Vec<String>,
    pub public_route_table: Option<String>,
    pub private_route_table: Option<String>,
    pub public_network_acl: Option<String>,
    pub lb_security_group: Option<String>,
    pub web_security_group: Option<String>,
    pub db_security_group: Option<String>,
    pub role: Option<String>,
    pub policies: Vec<String>,
    pub instance_profile: Option<String>,
    pub instances: Vec<String>,
    pub target_group: Option<String>,
    pub load_balancer: Option<String>,
    pub load_balancer_dns: Option<String>,
    pub listener: Option<String>,
    pub launch_template: Option<String>,
    pub auto_scaling_group: Option<String>,
    pub zone_id: Option<String>,
    pub zone_name: Option<String>,
    pub records: Vec<String>,
    pub health_check: Option<String>,
    /// The practice site: the load balancer's URL.
    pub site: Option<String>,
    /// Whether every web target passed its health check (`/health`) before `up` ended.
    pub healthy: Option<bool>,
    /// What `down` found kept as evidence of the stack's instances, and whether it
    /// deleted it. Never in a manifest: `down` fills it in as it removes the manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<evidence::Evidence>,
}

/// The longest sandbox name: `<name>-alb` and `<name>-web` must fit the 32 characters
/// of a load balancer's and a target group's name.
const MAX_NAME: usize = 28;

/// Check a sandbox name before anything is created: it names a file of the state store
/// and prefixes AWS resource names, so it is letters, digits and `-`, starts with a
/// letter, and is at most 28 characters.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "`{name}` is not a sandbox name: letters, digits and `-`, starting with a letter, at most {MAX_NAME} characters (it prefixes AWS resource names)"
    )))
}

/// Where a sandbox's manifest is: one per account, region and name, so every team's
/// stack (`sandbox up --drill`, or one store for several accounts) has its own.
pub fn manifest_path(state: &Path, account: &str, region: &str, name: &str) -> PathBuf {
    state.join("sandbox").join(account).join(region).join(format!("{name}.json"))
}

/// Where manifests were before they were keyed by account and region: still read, and
/// removed by `down`.
fn old_manifest_path(state: &Path, name: &str) -> PathBuf {
    state.join("sandbox").join(format!("{name}.json"))
}

/// The sandbox `name` recorded for this account and region, and its manifest's path.
pub fn load(state: &Path, account: &str, region: &str, name: &str) -> Result<Option<(Sandbox, PathBuf)>> {
    check_name(name)?;
    for path in [manifest_path(state, account, region, name), old_manifest_path(state, name)] {
        if !crate::store::fs::exists(&path) {
            continue;
        }
        let bytes = crate::store::fs::read(&path, "read sandbox manifest")?;
        let sb: Sandbox = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt { path: path.clone(), message: e.to_string() })?;
        // A file firedrill did not write, or moved: its account and region must be the
        // ones its path says.
        if sb.name == name && sb.account == account && sb.region == region {
            return Ok(Some((sb, path)));
        }
    }
    Ok(None)
}

fn save(state: &Path, sb: &Sandbox) -> Result<()> {
    let path = manifest_path(state, &sb.account, &sb.region, &sb.name);
    let dir = path.parent().expect("a manifest is in a directory");
    crate::store::create_private_dir(&state.join("sandbox"))?;
    crate::store::create_private_dir(&state.join("sandbox").join(&sb.account))?;
    crate::store::create_private_dir(dir)?;
    crate::store::write_durably(&path, &serde_json::to_vec_pretty(sb).expect("serializes"))
}

fn ec2_tags(kind: ResourceType, name: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut b =
        TagSpecification::builder().resource_type(kind).tags(Tag::builder().key(SANDBOX_TAG).value(name).build());
    for (k, v) in extra {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

/// Create the stack. Refuses if a sandbox of that name is recorded already.
pub async fn up(aws: &Aws, state: &Path, name: &str, ami: Option<&str>) -> Result<Sandbox> {
    let account = aws.account().await?;
    if let Some((existing, _)) = load(state, &account, &aws.region, name)? {
        return Err(Error::Refused(format!(
            "sandbox `{name}` already exists in account {} ({}): run `firedrill sandbox down --name {name}` first",
            existing.account, existing.region
        )));
    }
    let mut sb = Sandbox { name: name.into(), account, region: aws.region.clone(), ..Default::default() };
    let ami = match ami {
        Some(a) => a.to_owned(),
        None => find_ami(aws).await?,
    };
    save(state, &sb)?;
    let result = build(aws, state, &mut sb, &ami).await;
    save(state, &sb)?;
    result?;
    sb.healthy = Some(wait_healthy(aws, &sb).await?);
    sb.site = sb.load_balancer_dns.as_ref().map(|dns| format!("http://{dns}/"));
    save(state, &sb)?;
    Ok(sb)
}

/// Wait (up to 10 minutes) until every target of the stack's target group passes its
/// health check: on AWS the instances boot and start the site first, so probes are green
/// before the first break. Whether they all did; a stack whose targets are not healthy
/// in time is kept, with a warning.
async fn wait_healthy(aws: &Aws, sb: &Sandbox) -> Result<bool> {
    let Some(tg) = &sb.target_group else { return Ok(false) };
    let states = || async {
        let out = retry(|| async {
            aws.elbv2
                .describe_target_health()
                .target_group_arn(tg)
                .send()
                .await
                .map_err(Error::aws("read the targets' health (elasticloadbalancing:DescribeTargetHealth)"))
        })
        .await?;
        let states: Vec<String> = out
            .target_health_descriptions()
            .iter()
            .map(|d| d.target_health().and_then(|h| h.state()).map_or("unknown", |s| s.as_str()).to_owned())
            .collect();
        Ok(states)
    };
    let look = || async {
        let states = states().await?;
        Ok((!states.is_empty() && states.iter().all(|s| s == "healthy")).then_some(()))
    };
    if crate::aws::retry::poll(std::time::Duration::from_secs(600), look).await?.is_some() {
        return Ok(true);
    }
    tracing::warn!(
        "the site's targets are not all healthy after 10 minutes ({}): the stack is kept; check the web instances' user data and the web group's rules",
        states().await.map(|s| s.join(", ")).unwrap_or_default()
    );
    Ok(false)
}

async fn find_ami(aws: &Aws) -> Result<String> {
    let out = aws
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(filter("name", ["al2023-ami-2023*-x86_64", "amzn2-ami-hvm-*-x86_64-gp2"]))
        .filters(filter("state", ["available"]))
        .send()
        .await
        .map_err(Error::aws("find an Amazon Linux image (ec2:DescribeImages)"))?;
    let mut images = out.images.unwrap_or_default();
    images.sort_by(|a, b| b.creation_date().cmp(&a.creation_date()));
    images
        .first()
        .and_then(|i| i.image_id().map(str::to_owned))
        .ok_or_else(|| Error::Usage("no Amazon Linux image found in this region: pass --ami".into()))
}

fn made<E: Into<crate::error::AwsError>>(what: &str) -> impl FnOnce(E) -> Error {
    Error::aws(format!("create the sandbox's {what}"))
}

fn unmade<E: Into<crate::error::AwsError>>(what: &str) -> impl FnOnce(E) -> Error {
    Error::aws(format!("delete the sandbox's {what}"))
}

/// Instances in `vpc` that firedrill launched (tagged with a run: relaunches), not yet
/// terminated.
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

/// Move the sandbox's public subnets that are on `acl` back to their VPC's default ACL.
/// An association a lagging read named that is gone already is skipped: the caller's
/// delete then tells whether any is left.
async fn move_subnets_to_default_acl(ec2: &aws_sdk_ec2::Client, sb: &Sandbox, acl: &str) -> Result<()> {
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

/// Disassociate every subnet from route table `rt` (not the main association).
async fn disassociate_route_table(ec2: &aws_sdk_ec2::Client, rt: &str) -> Result<()> {
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

macro_rules! step {
    ($state:expr, $sb:expr, $field:expr, $value:expr) => {{
        let v = $value;
        $field = v.clone();
        save($state, $sb)?;
        v
    }};
}

async fn build(aws: &Aws, state: &Path, sb: &mut Sandbox, ami: &str) -> Result<()> {
    let (ec2, n) = (&aws.ec2, sb.name.clone());
    let tier = |t: &'static str| ("Tier", t);

    // Network
    let vpc = ec2
        .create_vpc()
        .cidr_block(CIDR)
        .tag_specifications(ec2_tags(ResourceType::Vpc, &n, &[("Name", &n)]))
        .send()
        .await
        .map_err(made("VPC"))?;
    let vpc = step!(state, sb, sb.vpc, vpc.vpc().and_then(|v| v.vpc_id()).map(str::to_owned)).unwrap_or_default();
    let igw = ec2
        .create_internet_gateway()
        .tag_specifications(ec2_tags(ResourceType::InternetGateway, &n, &[("Name", &n)]))
        .send()
        .await
        .map_err(made("internet gateway"))?;
    let igw = step!(
        state,
        sb,
        sb.internet_gateway,
        igw.internet_gateway().and_then(|g| g.internet_gateway_id()).map(str::to_owned)
    )
    .unwrap_or_default();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .map_err(made("gateway attachment"))?;

    let azs =
        ec2.describe_availability_zones().send().await.map_err(made("subnets (ec2:DescribeAvailabilityZones)"))?;
    let azs: Vec<String> =
        azs.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_owned)).take(2).collect();
    for (i, az) in azs.iter().enumerate() {
        for (public, base) in [(true, 1), (false, 11)] {
            let label = if public { "public" } else { "private" };
            let out = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .availability_zone(az)
                .cidr_block(format!("10.42.{}.0/24", base + i))
                .tag_specifications(ec2_tags(
                    ResourceType::Subnet,
                    &n,
                    &[("Name", &format!("{n}-{label}-{}", i + 1)), tier(label)],
                ))
                .send()
                .await
                .map_err(made("subnet"))?;
            let id = out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_owned();
            if public {
                sb.public_subnets.push(id)
            } else {
                sb.private_subnets.push(id)
            }
            save(state, sb)?;
        }
    }

    for public in [true, false] {
        let label = if public { "public" } else { "private" };
        let rt = ec2
            .create_route_table()
            .vpc_id(&vpc)
            .tag_specifications(ec2_tags(
                ResourceType::RouteTable,
                &n,
                &[("Name", &format!("{n}-{label}")), tier(label)],
            ))
            .send()
            .await
            .map_err(made("route table"))?;
        let rt = rt.route_table().and_then(|r| r.route_table_id()).unwrap_or_default().to_owned();
        if public {
            sb.public_route_table = Some(rt.clone());
        } else {
            sb.private_route_table = Some(rt.clone());
        }
        save(state, sb)?;
        if public {
            ec2.create_route()
                .route_table_id(&rt)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(&igw)
                .send()
                .await
                .map_err(made("default route"))?;
        }
        let subnets = if public { sb.public_subnets.clone() } else { sb.private_subnets.clone() };
        for s in subnets {
            ec2.associate_route_table()
                .route_table_id(&rt)
                .subnet_id(&s)
                .send()
                .await
                .map_err(made("route table association"))?;
        }
    }

    let acl = ec2
        .create_network_acl()
        .vpc_id(&vpc)
        .tag_specifications(ec2_tags(ResourceType::NetworkAcl, &n, &[("Name", &format!("{n}-public")), tier("public")]))
        .send()
        .await
        .map_err(made("network ACL"))?;
    let acl =
        step!(state, sb, sb.public_network_acl, acl.network_acl().and_then(|a| a.network_acl_id()).map(str::to_owned))
            .unwrap_or_default();
    for egress in [false, true] {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(100)
            .protocol("-1")
            .rule_action(RuleAction::Allow)
            .egress(egress)
            .cidr_block("0.0.0.0/0")
            .send()
            .await
            .map_err(made("network ACL entry"))?;
    }
    for s in sb.public_subnets.clone() {
        if let Some((_, assoc)) = crate::aws::ec2::subnet_acl(ec2, &s).await? {
            ec2.replace_network_acl_association()
                .association_id(assoc)
                .network_acl_id(&acl)
                .send()
                .await
                .map_err(made("network ACL association"))?;
        }
    }

    // Security groups
    let mut groups = Vec::new();
    for (label, desc) in [("lb", "load balancer"), ("web", "web servers"), ("db", "database")] {
        let g = ec2
            .create_security_group()
            .group_name(format!("{n}-{label}"))
            .description(format!("{n} sandbox: {desc}"))
            .vpc_id(&vpc)
            .tag_specifications(ec2_tags(
                ResourceType::SecurityGroup,
                &n,
                &[("Name", &format!("{n}-{label}")), ("Tier", label)],
            ))
            .send()
            .await
            .map_err(made("security group"))?;
        let id = g.group_id().unwrap_or_default().to_owned();
        match label {
            "lb" => sb.lb_security_group = Some(id.clone()),
            "web" => sb.web_security_group = Some(id.clone()),
            _ => sb.db_security_group = Some(id.clone()),
        }
        save(state, sb)?;
        groups.push(id);
    }
    let (lb_sg, web_sg, db_sg) = (groups[0].clone(), groups[1].clone(), groups[2].clone());
    let port = |p: i32| IpPermission::builder().ip_protocol("tcp").from_port(p).to_port(p);
    let from_group = |g: &str, d: &str| UserIdGroupPair::builder().group_id(g).description(d).build();
    let ingress = [
        (&lb_sg, port(80).ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("HTTP from anywhere").build())),
        (
            &lb_sg,
            port(443).ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("HTTPS from anywhere").build()),
        ),
        (&web_sg, port(80).user_id_group_pairs(from_group(&lb_sg, "HTTP from the load balancer"))),
        (&web_sg, port(443).user_id_group_pairs(from_group(&lb_sg, "HTTPS from the load balancer"))),
        (&web_sg, port(22).ip_ranges(IpRange::builder().cidr_ip(CIDR).description("SSH from the VPC").build())),
        (&db_sg, port(5432).user_id_group_pairs(from_group(&web_sg, "PostgreSQL from the web servers"))),
    ];
    for (group, perm) in ingress {
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm.build())
            .send()
            .await
            .map_err(made("security group rule"))?;
    }

    // IAM: the web servers' role, policies and instance profile
    let iam = &aws.iam;
    let role_name = format!("{n}-web");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust)
        .description(format!("{n} sandbox: web servers"))
        .tags(aws_sdk_iam::types::Tag::builder().key(SANDBOX_TAG).value(&n).build().expect("key and value"))
        .tags(aws_sdk_iam::types::Tag::builder().key("Tier").value("web").build().expect("key and value"))
        .send()
        .await
        .map_err(made("IAM role"))?;
    step!(state, sb, sb.role, Some(role_name.clone()));
    for (suffix, action) in [("read-assets", "s3:GetObject"), ("write-logs", "logs:PutLogEvents")] {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
        );
        let p = iam
            .create_policy()
            .policy_name(format!("{n}-web-{suffix}"))
            .policy_document(doc)
            .send()
            .await
            .map_err(made("IAM policy"))?;
        let arn = p.policy().and_then(|p| p.arn()).unwrap_or_default().to_owned();
        sb.policies.push(arn.clone());
        save(state, sb)?;
        iam.attach_role_policy()
            .role_name(&role_name)
            .policy_arn(&arn)
            .send()
            .await
            .map_err(made("policy attachment"))?;
    }
    iam.create_instance_profile().instance_profile_name(&role_name).send().await.map_err(made("instance profile"))?;
    step!(state, sb, sb.instance_profile, Some(role_name.clone()));
    iam.add_role_to_instance_profile()
        .instance_profile_name(&role_name)
        .role_name(&role_name)
        .send()
        .await
        .map_err(made("instance profile role"))?;

    // Web instances, one per public subnet
    for (i, subnet) in sb.public_subnets.clone().iter().enumerate() {
        // Made a moment ago: the instance profile (IAM propagates) and the group may not
        // be visible to EC2 yet.
        let out = retry_fresh(|| async {
            ec2.run_instances()
                .image_id(ami)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .min_count(1)
                .max_count(1)
                .subnet_id(subnet)
                .security_group_ids(&web_sg)
                .iam_instance_profile(IamInstanceProfileSpecification::builder().name(&role_name).build())
                .user_data(user_data())
                .tag_specifications(ec2_tags(
                    ResourceType::Instance,
                    &n,
                    &[("Name", &format!("{n}-web-{}", i + 1)), tier("web")],
                ))
                .send()
                .await
                .map_err(made("web instance"))
        })
        .await?;
        sb.instances.extend(out.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)));
        save(state, sb)?;
    }

    // Load balancer, target group, listener
    let elb = &aws.elbv2;
    let lb_tags = |t: &str| {
        vec![LbTag::builder().key(SANDBOX_TAG).value(&n).build(), LbTag::builder().key("Tier").value(t).build()]
    };
    let tg = elb
        .create_target_group()
        .name(format!("{n}-web"))
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .health_check_path("/health")
        .set_tags(Some(lb_tags("web")))
        .send()
        .await
        .map_err(made("target group"))?;
    let tg = step!(
        state,
        sb,
        sb.target_group,
        tg.target_groups().first().and_then(|t| t.target_group_arn()).map(str::to_owned)
    )
    .unwrap_or_default();
    elb.register_targets()
        .target_group_arn(&tg)
        .set_targets(Some(sb.instances.iter().map(|i| TargetDescription::builder().id(i).port(80).build()).collect()))
        .send()
        .await
        .map_err(made("target registration"))?;
    let lb = elb
        .create_load_balancer()
        .name(format!("{n}-alb"))
        .set_subnets(Some(sb.public_subnets.clone()))
        .security_groups(&lb_sg)
        .set_tags(Some(lb_tags("lb")))
        .send()
        .await
        .map_err(made("load balancer"))?;
    let lb0 = lb.load_balancers().first();
    let lb_dns = lb0.and_then(|l| l.dns_name()).map(str::to_owned);
    let lb_zone = lb0.and_then(|l| l.canonical_hosted_zone_id()).map(str::to_owned);
    step!(state, sb, sb.load_balancer_dns, lb_dns.clone());
    let lb = step!(state, sb, sb.load_balancer, lb0.and_then(|l| l.load_balancer_arn()).map(str::to_owned))
        .unwrap_or_default();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(LbAction::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg).build())
        .set_tags(Some(lb_tags("web")))
        .send()
        .await
        .map_err(made("listener"))?;
    step!(state, sb, sb.listener, listener.listeners().first().and_then(|l| l.listener_arn()).map(str::to_owned));

    // Auto scaling group (its instances carry no Tier tag, so instance faults do not pick them)
    let lt = ec2
        .create_launch_template()
        .launch_template_name(format!("{n}-web"))
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(ami)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .security_group_ids(&web_sg)
                .iam_instance_profile(
                    LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(&role_name).build(),
                )
                .user_data(user_data())
                .build(),
        )
        .tag_specifications(ec2_tags(ResourceType::LaunchTemplate, &n, &[]))
        .send()
        .await
        .map_err(made("launch template"))?;
    let lt = step!(
        state,
        sb,
        sb.launch_template,
        lt.launch_template().and_then(|l| l.launch_template_id()).map(str::to_owned)
    )
    .unwrap_or_default();
    let asg_name = format!("{n}-web");
    let asg_tag = |k: &str, v: &str| AsgTag::builder().key(k).value(v).propagate_at_launch(k != "Tier").build();
    aws.autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&asg_name)
        .min_size(1)
        .max_size(3)
        .desired_capacity(2)
        .launch_template(LaunchTemplateSpecification::builder().launch_template_id(&lt).build())
        .vpc_zone_identifier(sb.private_subnets.join(","))
        .tags(asg_tag(SANDBOX_TAG, &n))
        .tags(asg_tag("Tier", "web"))
        .send()
        .await
        .map_err(made("auto scaling group"))?;
    step!(state, sb, sb.auto_scaling_group, Some(asg_name));

    // DNS: a zone, records for the site, a health check
    let r53 = &aws.route53;
    let zone_name = format!("{n}.firedrill.test");
    let zone = r53
        .create_hosted_zone()
        .name(&zone_name)
        .caller_reference(format!("firedrill-sandbox-{n}-{}", crate::store::Store::new_run_id()))
        .send()
        .await
        .map_err(made("hosted zone"))?;
    let zone_id = zone.hosted_zone().map(|z| z.id().trim_start_matches("/hostedzone/").to_owned()).unwrap_or_default();
    step!(state, sb, sb.zone_name, Some(zone_name.clone()));
    step!(state, sb, sb.zone_id, Some(zone_id.clone()));
    let tag = |k: &str, v: &str| R53Tag::builder().key(k).value(v).build();
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(&zone_id)
        .add_tags(tag(SANDBOX_TAG, &n))
        .send()
        .await
        .map_err(made("hosted zone tags"))?;
    let www = format!("www.{zone_name}.");
    let hc = r53
        .create_health_check()
        .caller_reference(format!("firedrill-sandbox-{n}-{}", crate::store::Store::new_run_id()))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .fully_qualified_domain_name(www.trim_end_matches('.'))
                .port(80)
                .resource_path("/health")
                .request_interval(30)
                .failure_threshold(3)
                .build()
                .expect("type"),
        )
        .send()
        .await
        .map_err(made("health check"))?;
    let hc = step!(state, sb, sb.health_check, hc.health_check().map(|h| h.id().to_owned())).unwrap_or_default();
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Healthcheck)
        .resource_id(&hc)
        .add_tags(tag(SANDBOX_TAG, &n))
        .add_tags(tag("Name", &format!("{n}-www")))
        .add_tags(tag("Tier", "web"))
        .send()
        .await
        .map_err(made("health check tags"))?;

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
    let www_set = match (&lb_dns, &lb_zone) {
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
    let changes: Vec<Change> = sets
        .iter()
        .map(|s| Change::builder().action(ChangeAction::Upsert).resource_record_set(s.clone()).build().expect("change"))
        .collect();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build().expect("changes"))
        .send()
        .await
        .map_err(made("DNS records"))?;
    sb.records = sets.iter().map(|s| crate::aws::route53::record_id(&zone_id, s)).collect();
    save(state, sb)
}

/// Delete everything the manifest records, in reverse order of creation. Idempotent:
/// what is already gone is skipped. The manifest goes last. Evidence images and snapshots
/// of the stack's instances are listed in what it returns, and deleted too if
/// `delete_evidence`.
pub async fn down(aws: &Aws, state: &Path, name: &str, delete_evidence: bool) -> Result<Sandbox> {
    let account = aws.account().await?;
    let Some((mut sb, path)) = load(state, &account, &aws.region, name)? else {
        return Err(Error::Usage(format!(
            "no sandbox `{name}` recorded in {} for account {account} ({})",
            state.display(),
            aws.region
        )));
    };
    let gone = |e: Error| -> Result<()> {
        match e.aws_code() {
            Some(c) if c.contains("NotFound") || c.contains("NoSuchEntity") || c.contains("NoSuch") => Ok(()),
            _ => Err(e),
        }
    };
    let (ec2, r53, elb, iam) = (&aws.ec2, &aws.route53, &aws.elbv2, &aws.iam);
    // The evidence of the stack's instances, found while they are all still listed.
    let mut kept = evidence::find(ec2, &sb).await?;

    // DNS
    if let Some(zone) = &sb.zone_id {
        let records = crate::aws::route53::zone_records(r53, zone).await.or_else(|e| gone(e).map(|()| Vec::new()))?;
        let changes: Vec<Change> = records
            .into_iter()
            .filter(|r| !matches!(r.r#type(), RrType::Ns | RrType::Soa))
            .map(|r| Change::builder().action(ChangeAction::Delete).resource_record_set(r).build().expect("change"))
            .collect();
        if !changes.is_empty() {
            r53.change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build().expect("changes"))
                .send()
                .await
                .map(drop)
                .map_err(unmade("DNS records"))
                .or_else(gone)?;
        }
        r53.delete_hosted_zone().id(zone).send().await.map(drop).map_err(unmade("hosted zone")).or_else(gone)?;
    }
    if let Some(hc) = &sb.health_check {
        r53.delete_health_check()
            .health_check_id(hc)
            .send()
            .await
            .map(drop)
            .map_err(unmade("health check"))
            .or_else(gone)?;
    }

    // Auto scaling
    if let Some(asg) = &sb.auto_scaling_group {
        aws.autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(asg)
            .force_delete(true)
            .send()
            .await
            .map(drop)
            .map_err(unmade("auto scaling group"))
            .or_else(|e| if e.to_string().contains("not found") { Ok(()) } else { gone(e) })?;
    }
    if let Some(lt) = &sb.launch_template {
        ec2.delete_launch_template()
            .launch_template_id(lt)
            .send()
            .await
            .map(drop)
            .map_err(unmade("launch template"))
            .or_else(gone)?;
    }

    // Load balancing
    if let Some(l) = &sb.listener {
        elb.delete_listener().listener_arn(l).send().await.map(drop).map_err(unmade("listener")).or_else(gone)?;
    }
    if let Some(lb) = &sb.load_balancer {
        elb.delete_load_balancer()
            .load_balancer_arn(lb)
            .send()
            .await
            .map(drop)
            .map_err(unmade("load balancer"))
            .or_else(gone)?;
    }
    if let Some(tg) = &sb.target_group {
        elb.delete_target_group()
            .target_group_arn(tg)
            .send()
            .await
            .map(drop)
            .map_err(unmade("target group"))
            .or_else(gone)?;
    }

    // Instances, and wait for them: their groups and subnets cannot go before they do.
    // Those firedrill itself launched into the stack (a terminated instance's relaunch,
    // tagged with its run) go too: on AWS the VPC cannot be deleted while they run.
    let mut instances = sb.instances.clone();
    if let Some(vpc) = &sb.vpc {
        instances.extend(launched_by_firedrill(ec2, vpc).await?);
    }
    instances.sort();
    instances.dedup();
    if !instances.is_empty() {
        ec2.terminate_instances()
            .set_instance_ids(Some(instances.clone()))
            .send()
            .await
            .map(drop)
            .map_err(unmade("instances"))
            .or_else(gone)?;
        crate::aws::ec2::wait_for_instances(ec2, &instances, &["terminated"], 600).await?;
    }

    // IAM
    if let Some(profile) = &sb.instance_profile {
        if let Some(role) = &sb.role {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await
                .map(drop)
                .map_err(unmade("instance profile role"))
                .or_else(gone)?;
        }
        iam.delete_instance_profile()
            .instance_profile_name(profile)
            .send()
            .await
            .map(drop)
            .map_err(unmade("instance profile"))
            .or_else(gone)?;
    }
    if let Some(role) = &sb.role {
        // Whatever a drill left attached or inline goes with the role.
        if let Ok(attached) = iam.list_attached_role_policies().role_name(role).send().await {
            for p in attached.attached_policies() {
                if let Some(arn) = p.policy_arn() {
                    iam.detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(drop)
                        .map_err(unmade("policy attachment"))
                        .or_else(gone)?;
                }
            }
        }
        if let Ok(inline) = iam.list_role_policies().role_name(role).send().await {
            for p in inline.policy_names() {
                iam.delete_role_policy()
                    .role_name(role)
                    .policy_name(p)
                    .send()
                    .await
                    .map(drop)
                    .map_err(unmade("inline policy"))
                    .or_else(gone)?;
            }
        }
        iam.delete_role().role_name(role).send().await.map(drop).map_err(unmade("role")).or_else(gone)?;
    }
    for arn in &sb.policies {
        iam.delete_policy().policy_arn(arn).send().await.map(drop).map_err(unmade("policy")).or_else(gone)?;
    }

    // Security groups: drop cross references first, then the groups.
    let groups: Vec<&String> =
        [&sb.db_security_group, &sb.web_security_group, &sb.lb_security_group].into_iter().flatten().collect();
    for g in &groups {
        if let Some(sg) = crate::aws::ec2::describe_security_group(ec2, g).await?
            && !sg.ip_permissions().is_empty()
        {
            ec2.revoke_security_group_ingress()
                .group_id(*g)
                .set_ip_permissions(Some(sg.ip_permissions().to_vec()))
                .send()
                .await
                .map(drop)
                .map_err(unmade("security group rules"))
                .or_else(gone)?;
        }
    }
    for g in groups {
        // DependencyViolation while an interface (the load balancer's) still holds it.
        retry(|| async {
            ec2.delete_security_group().group_id(g).send().await.map(drop).map_err(unmade("security group"))
        })
        .await
        .or_else(gone)?;
    }

    // Network
    // Subnets go back to the VPC's default ACL, and route tables let go of theirs, before
    // either can be deleted. Reads lag changes, so a delete still refused for its
    // dependencies reads the associations again and tries once more.
    if let Some(acl) = &sb.public_network_acl {
        retry(|| async {
            move_subnets_to_default_acl(ec2, &sb, acl).await?;
            ec2.delete_network_acl().network_acl_id(acl).send().await.map(drop).map_err(unmade("network ACL"))
        })
        .await
        .or_else(gone)?;
    }
    for rt in [&sb.public_route_table, &sb.private_route_table].into_iter().flatten() {
        retry(|| async {
            disassociate_route_table(ec2, rt).await?;
            ec2.delete_route_table().route_table_id(rt).send().await.map(drop).map_err(unmade("route table"))
        })
        .await
        .or_else(gone)?;
    }
    for s in sb.public_subnets.iter().chain(&sb.private_subnets) {
        retry(|| async { ec2.delete_subnet().subnet_id(s).send().await.map(drop).map_err(unmade("subnet")) })
            .await
            .or_else(gone)?;
    }
    if let Some(igw) = &sb.internet_gateway {
        if let Some(vpc) = &sb.vpc {
            retry(|| async {
                ec2.detach_internet_gateway()
                    .internet_gateway_id(igw)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map(drop)
                    .map_err(unmade("gateway attachment"))
            })
            .await
            .or_else(gone)?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(igw)
            .send()
            .await
            .map(drop)
            .map_err(unmade("internet gateway"))
            .or_else(gone)?;
    }
    if let Some(vpc) = &sb.vpc {
        retry(|| async { ec2.delete_vpc().vpc_id(vpc).send().await.map(drop).map_err(unmade("VPC")) })
            .await
            .or_else(gone)?;
    }
    // Evidence goes only when asked (it is for the investigation, and outlives the stack).
    if delete_evidence {
        evidence::delete(ec2, &mut kept).await?;
    }
    sb.evidence = kept;
    std::fs::remove_file(&path).map_err(Error::store("remove sandbox manifest", &path))?;
    Ok(sb)
}
