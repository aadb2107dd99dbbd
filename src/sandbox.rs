//! The practice stack (`firedrill sandbox up|down`): a small, realistic team stack for
//! drills, demos and the integration tests, created wherever the credentials point.
//!
//! A VPC with public and private subnets, an internet gateway and routes, a network ACL,
//! load balancer / web / database security groups, two web instances with an instance
//! role and profile, an application load balancer with a target group and listener, an
//! auto scaling group, and a Route 53 zone with records and a health check.
//!
//! The stack is one list of steps, each with its create and its delete (`steps.rs`):
//! `up` runs it in order, `down` in reverse. Everything carries `firedrill:sandbox=<name>`
//! (and a `Tier` tag the shipped faults select on). What `up` creates is recorded in
//! the store's `sandbox/<account>/<region>/<name>.json` as it is made, durably, so `down`
//! deletes exactly that, even after an `up` that failed halfway. What firedrill launched
//! into the stack goes too; what it kept as evidence ([`evidence`]) is listed, and
//! deleted only when asked.

use crate::store::Store;

use serde::{Deserialize, Serialize};

use crate::aws::retry::retry;
use crate::aws::{Aws, ec2::filter};
use crate::{Error, Result};

pub mod evidence;
mod steps;
mod zip;

/// The tag every resource of the practice stack carries: its name.
pub const SANDBOX_TAG: &str = "firedrill:sandbox";
const CIDR: &str = "10.42.0.0/16";

/// What `up` created, by step. Every field is filled as its resource is created.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sandbox {
    pub name: String,
    pub account: String,
    pub region: String,
    /// The image the web instances run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<String>,
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
    /// The load balancer's hosted zone, for the alias record of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_zone: Option<String>,
    pub listener: Option<String>,
    pub launch_template: Option<String>,
    pub auto_scaling_group: Option<String>,
    pub zone_id: Option<String>,
    pub zone_name: Option<String>,
    pub records: Vec<String>,
    pub health_check: Option<String>,
    /// The parts beyond the classic stack that `up --with` asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<Extra>,
    /// `--with serverless`: the bucket of static content, with a bucket policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// `--with serverless`: the orders table, the function and its role, the REST API
    /// (its id) and its `prod` stage's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// `--with containers`: the second target group and the listener rule to it, the
    /// ECS cluster, task definition and service (ARNs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_target_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The practice site: the load balancer's URL.
    pub site: Option<String>,
    /// Whether every web target passed its health check (`/health`) before `up` ended.
    pub healthy: Option<bool>,
    /// What `down` found kept as evidence of the stack's instances, and whether it
    /// deleted it. Never in a manifest: `down` fills it in as it removes the manifest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<evidence::Evidence>,
}

/// A part of the practice stack beyond the classic one (`sandbox up --with`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Extra {
    /// The serverless stack: an S3 bucket of static content with a bucket policy, and a
    /// REST API (stage `prod`) → a Lambda function → a DynamoDB table.
    Serverless,
    /// An ECS cluster with a Fargate service behind the load balancer's second target
    /// group (`/container*`).
    Containers,
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

/// Where a sandbox's manifest is in the store: one per account, region and name, so
/// every team's stack (`sandbox up --drill`, or one store for several accounts) has its own.
pub fn manifest_key(account: &str, region: &str, name: &str) -> String {
    format!("sandbox/{account}/{region}/{name}.json")
}

/// Where manifests were before they were keyed by account and region: still read, and
/// removed by `down`.
fn old_manifest_key(name: &str) -> String {
    format!("sandbox/{name}.json")
}

/// The sandbox `name` recorded for this account and region, and its manifest's key.
pub fn load(store: &Store, account: &str, region: &str, name: &str) -> Result<Option<(Sandbox, String)>> {
    check_name(name)?;
    crate::store::check_id(account).and_then(|()| crate::store::check_id(region))?;
    for key in [manifest_key(account, region, name), old_manifest_key(name)] {
        let Some(sb) = store.read_json::<Sandbox>(&key, "a sandbox manifest")? else { continue };
        // A file firedrill did not write, or moved: its account and region must be the
        // ones its key says.
        if sb.name == name && sb.account == account && sb.region == region {
            return Ok(Some((sb, key)));
        }
    }
    Ok(None)
}

fn save(store: &Store, sb: &Sandbox) -> Result<()> {
    store.write_json(&manifest_key(&sb.account, &sb.region, &sb.name), sb)
}

/// Create the stack. Refuses if a sandbox of that name is recorded already.
pub async fn up(aws: &Aws, state: &Store, name: &str, ami: Option<&str>, with: &[Extra]) -> Result<Sandbox> {
    let account = aws.account().await?;
    if let Some((existing, _)) = load(state, &account, &aws.region, name)? {
        return Err(Error::Refused(format!(
            "sandbox `{name}` already exists in account {} ({}): run `firedrill sandbox down --name {name}` first",
            existing.account, existing.region
        )));
    }
    let mut sb =
        Sandbox { name: name.into(), account, region: aws.region.clone(), with: with.to_vec(), ..Default::default() };
    let ami = match ami {
        Some(a) => a.to_owned(),
        None => find_ami(aws).await?,
    };
    save(state, &sb)?;
    sb.ami = Some(ami);
    let c = steps::Ctx { aws, state };
    for step in steps::STACK {
        if let Err(e) = step.up(&c, &mut sb).await {
            save(state, &sb)?;
            return Err(e);
        }
        crate::failpoint::hit(&format!("sandbox-after-{step:?}"));
    }
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

/// Delete everything the manifest records, in reverse order of creation. Idempotent:
/// what is already gone is skipped. The manifest goes last. Evidence images and snapshots
/// of the stack's instances are listed in what it returns, and deleted too if
/// `delete_evidence`.
pub async fn down(aws: &Aws, state: &Store, name: &str, delete_evidence: bool) -> Result<Sandbox> {
    let account = aws.account().await?;
    let Some((mut sb, key)) = load(state, &account, &aws.region, name)? else {
        return Err(Error::Usage(format!(
            "no sandbox `{name}` recorded in {} for account {account} ({})",
            state.root().display(),
            aws.region
        )));
    };
    let c = steps::Ctx { aws, state };
    // The evidence of the stack's instances, found while they are all still listed.
    let mut kept = evidence::find(&aws.ec2, &sb).await?;
    for step in steps::STACK.iter().rev() {
        step.down(&c, &sb).await?;
    }
    // Evidence goes only when asked (it is for the investigation, and outlives the stack).
    if delete_evidence {
        evidence::delete(&aws.ec2, &mut kept).await?;
    }
    sb.evidence = kept;
    state.backend().remove(&key)?;
    Ok(sb)
}
