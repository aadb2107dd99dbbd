//! AWS access: CLI options turned into SDK clients in one place, plus one adapter
//! module per service that lists and describes resources in the shapes firedrill uses.
//! Every client's calls go through the account's pacer ([`pace`]); the executor and the
//! sandbox wrap calls that AWS may turn away for now in [`retry`].
//!
//! The HTTP client is rustls on `ring` (not the SDK default aws-lc): no C build in front
//! of `aws-sdk-ec2`, about a minute off a clean build on two cores. Credentials come from
//! the standard chain (env, profiles, SSO, process, IMDS). `AWS_ENDPOINT_URL` is honoured
//! by the SDK itself; `--endpoint-url` overrides it.

pub mod access;
pub mod apigateway;
pub mod autoscaling;
pub mod dynamodb;
pub mod ec2;
pub mod ecs;
pub mod elbv2;
pub mod holds;
pub mod iam;
pub mod lambda;
pub mod pace;
pub mod retry;
pub mod route53;
pub mod s3;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::{Error, Result};

/// Where to send AWS calls: the global options every command shares.
#[derive(Clone, Debug, clap::Args)]
pub struct AwsArgs {
    /// Named profile from the AWS config files (AWS_PROFILE works too). Commands on an
    /// existing run use the run's recorded profile unless this is given.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Assume this role with the base credentials and act as it. Commands on an existing
    /// run use the run's recorded role unless this is given (checked against its account).
    #[arg(long, global = true, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires (with --role-arn).
    #[arg(long, global = true, requires = "role_arn")]
    pub external_id: Option<String>,
    /// AWS region (otherwise AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send every AWS call here instead of AWS (an emulator, e.g. http://127.0.0.1:5000).
    /// AWS_ENDPOINT_URL does the same.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// At most this many AWS calls (or batches of them) in flight at once, across every
    /// fault and run of the command (`abort` included). Throttled calls are retried with
    /// backoff (five attempts).
    #[arg(long, global = true, env = "FIREDRILL_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// The share (percent) of each of AWS's documented request limits firedrill may use,
    /// so the team's own automation in the account keeps working (see aws/pace.rs).
    #[arg(long, global = true, env = "FIREDRILL_API_SHARE", default_value_t = 50, value_name = "PERCENT",
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub api_share: u8,
    /// How long the command's AWS calls may wait for their turn and be tried again when
    /// throttled; past it they fail and the run stays revertible.
    #[arg(long, global = true, env = "FIREDRILL_DEADLINE", default_value = "15m", value_parser = parse_deadline)]
    pub deadline: std::time::Duration,
}

fn parse_deadline(text: &str) -> std::result::Result<std::time::Duration, String> {
    crate::duration::parse_duration(text).map(std::time::Duration::from_secs)
}

/// AWS calls in flight at once unless `--concurrency` says otherwise. Enough to hide a
/// 50 ms round trip behind the calls before it (16 × 20 calls/s = 320 calls/s), and
/// within what EC2 lets an account burst per API before it throttles (its token buckets
/// hold tens to hundreds of calls per API); throttled calls back off and retry.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// Attempts per AWS call (the SDK's default is 3): throttling and a flaky network are
/// ridden out with exponential backoff and jitter. The SDK's standard retry mode, not
/// its adaptive one: adaptive paces a client by the request rate it has measured, which
/// in a command that lives seconds starts near zero, so one early throttle held it near
/// the minimum of 0.5 calls a second. Against a token bucket of 2 calls refilled at 2 a
/// second (tests/integration/api_failures.rs), inject + revert took 62.7 s with adaptive
/// and 9.6 s with standard. `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS` still choose.
const MAX_ATTEMPTS: u32 = 5;

/// The SDK clients and where they point.
#[derive(Clone, Debug)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub route53: aws_sdk_route53::Client,
    /// S3 buckets as fault targets (the state store has its own client).
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    /// Alarm state for drill probes and stop conditions. Pinned to 1.99: later versions
    /// speak a CBOR protocol the emulator does not (see the README).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub region: String,
    pub endpoint: Option<String>,
    /// How these clients' credentials were obtained (recorded with every run).
    pub access: access::Access,
    /// At most this many calls in flight at once ([`AwsArgs::concurrency`]).
    pub concurrency: usize,
    /// The permits for those calls, shared by every clone of this `Aws`.
    limit: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A role to act as (a drill team's account): assumed through STS with the base
/// credentials, and refreshed before it expires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
}

impl AwsArgs {
    /// The role `--role-arn` names, if any.
    pub fn role(&self) -> Option<AssumeRole> {
        self.role_arn.as_ref().map(|arn| AssumeRole {
            role_arn: arn.clone(),
            external_id: self.external_id.clone(),
            session_name: None,
        })
    }
}

impl Aws {
    /// Resolve configuration and build clients (acting as `--role-arn` when given). Makes
    /// no network call.
    pub async fn connect(args: &AwsArgs) -> Result<Aws> {
        Self::connect_as(args, args.role().as_ref()).await
    }

    /// Like [`Aws::connect`], acting as `role` when given. Still no network call: the
    /// role is assumed on the first AWS call.
    pub async fn connect_as(args: &AwsArgs, role: Option<&AssumeRole>) -> Result<Aws> {
        let mut config =
            sdk_config(args, args.endpoint_url.as_deref(), &access::Access::of(args, role).describe()).await;
        if let Some(role) = role {
            let session = role.session_name.clone().unwrap_or_else(|| "firedrill".into());
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn).session_name(session);
            if let Some(id) = &role.external_id {
                provider = provider.external_id(id);
            }
            let provider = provider.configure(&config).build().await;
            config = config
                .into_builder()
                .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(provider))
                .build();
        }
        // A chaos tool must know which region it will break: never guess one.
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::Usage("no AWS region configured: pass --region, set AWS_REGION, or set one in the profile".into())
        })?;
        Ok(Aws {
            ec2: aws_sdk_ec2::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            s3: s3::client(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            apigateway: aws_sdk_apigateway::Client::new(&config),
            endpoint: config.endpoint_url().map(str::to_owned),
            access: access::Access::of(args, role),
            region,
            concurrency: usize::from(args.concurrency),
            limit: std::sync::Arc::new(tokio::sync::Semaphore::new(usize::from(args.concurrency))),
        })
    }

    /// Share `other`'s bound on calls in flight (clients for several accounts in one
    /// command: `abort`, a drill).
    pub fn share_limit(&mut self, other: &Aws) {
        self.limit = other.limit.clone();
        self.concurrency = other.concurrency;
    }

    /// Wait for a turn to call AWS: the executor holds one permit per call (or batch)
    /// it makes, so at most `concurrency` are in flight however many faults and runs are
    /// in progress.
    pub async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.limit.acquire().await.expect("the semaphore is never closed")
    }

    /// The account the credentials act in (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(Error::aws("find the account for these credentials (sts:GetCallerIdentity)"))?;
        out.account.ok_or_else(|| Error::Failed("sts:GetCallerIdentity returned no account".into()))
    }
}

/// The profile named on the command line, for messages (`aws sso login --profile X`).
static PROFILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remember `--profile` for messages; called once, by the command line.
pub fn name_profile(profile: Option<&str>) {
    if let Some(p) = profile {
        let _ = PROFILE.set(p.to_owned());
    }
}

/// The profile the command uses, as far as messages need to know: `--profile`, else
/// AWS_PROFILE.
pub fn profile_in_use() -> Option<String> {
    PROFILE.get().cloned().or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// The SDK's configuration for the options (`--profile`, `--region`, retries), calls
/// sent to `endpoint` when given, every call behind the pacer for its scope: the region,
/// the endpoint and `who` (how the credentials are obtained). Makes no network call.
pub async fn sdk_config(args: &AwsArgs, endpoint: Option<&str>, who: &str) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if std::env::var_os("AWS_RETRY_MODE").is_none() && std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        loader = loader.retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    }
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    // Every call goes through the pacer for this account and region: AWS's documented
    // limits when the calls go to AWS (or FIREDRILL_LIMITS=aws), adapting to throttles.
    let to_aws = config.endpoint_url().is_none_or(|u| u.contains(".amazonaws.com"));
    let pacing = pace::Pacing {
        share: f64::from(args.api_share) / 100.0,
        deadline: pace::deadline(args.deadline),
        seeded: to_aws || std::env::var("FIREDRILL_LIMITS").is_ok_and(|v| v == "aws"),
    };
    let scope = format!(
        "{} {} {who}",
        config.region().map(|r| r.to_string()).unwrap_or_default(),
        config.endpoint_url().unwrap_or_default(),
    );
    let paced = pace::Paced::client(http_client(), pace::pacer(&scope, pacing));
    // The pacer's wait happens before a request's body is read: upload stall
    // protection would take it for a stalled upload (its bodies are small anyway).
    let stalls = aws_sdk_ec2::config::StalledStreamProtectionConfig::enabled().upload_enabled(false).build();
    config.into_builder().http_client(paced).stalled_stream_protection(stalls).build()
}

/// The HTTPS client every SDK client uses: rustls with the `ring` provider.
pub fn http_client() -> aws_sdk_ec2::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Send a call whose answer the caller does not need: `()` on success, else the error
/// with what was being done (`"stop i-1 (ec2:StopInstances)"`).
pub async fn call<T, E: Into<crate::error::AwsError>>(
    sent: impl std::future::Future<Output = std::result::Result<T, E>>,
    doing: impl Into<String>,
) -> Result<()> {
    sent.await.map(drop).map_err(Error::aws(doing))
}

/// Where the resources `spec` selects live, for listing: each service module.
pub async fn list(
    aws: &Aws,
    kind: crate::target::TargetKind,
    spec: &crate::target::TargetSpec,
) -> Result<Vec<crate::target::Target>> {
    use crate::target::TargetKind as K;
    match kind {
        K::SecurityGroup => ec2::list_security_groups(&aws.ec2, spec).await,
        K::Instance => ec2::list_instances(&aws.ec2, spec).await,
        K::Subnet => ec2::list_subnets(&aws.ec2, spec).await,
        K::NetworkAcl => ec2::list_network_acls_of_subnets(&aws.ec2, spec).await,
        K::RouteTable => ec2::list_route_tables_of_subnets(&aws.ec2, spec).await,
        K::Role => iam::list_roles(aws, spec).await,
        K::Record => route53::list_records(&aws.route53, spec).await,
        K::HealthCheck => route53::list_health_checks(&aws.route53, spec).await,
        K::TargetGroup => elbv2::list_target_groups(&aws.elbv2, spec).await,
        K::Listener => elbv2::list_listeners(&aws.elbv2, spec).await,
        K::LoadBalancer => elbv2::list_load_balancers(&aws.elbv2, spec).await,
        K::AutoScalingGroup => autoscaling::list_groups(&aws.autoscaling, spec).await,
        K::Bucket => s3::list_buckets(&aws.s3, &aws.region, spec).await,
        K::Function => lambda::list_functions(&aws.lambda, spec).await,
        K::Table => dynamodb::list_tables(&aws.dynamodb, spec).await,
        K::EcsService => ecs::list_services(&aws.ecs, spec).await,
        K::ApiStage => apigateway::list_stages(&aws.apigateway, spec).await,
    }
}

/// The tag every resource firedrill creates carries.
pub const RUN_TAG: &str = "firedrill:run";
/// Which fault of the run created it.
pub const FAULT_TAG: &str = "firedrill:fault";
/// What kind of thing firedrill made it as (see [`kind`]).
pub const KIND_TAG: &str = "firedrill:kind";
/// On evidence (an image or snapshot): the instance it was taken of.
pub const INSTANCE_TAG: &str = "firedrill:instance";

/// The values of [`KIND_TAG`]: what firedrill creates.
pub mod kind {
    /// An empty security group that isolates an instance or a load balancer.
    pub const QUARANTINE_GROUP: &str = "quarantine-group";
    /// A network ACL cloned from a subnet's, with deny-all entries at the top.
    pub const ACL_CLONE: &str = "acl-clone";
    /// A security-group rule firedrill added (`open-ingress`).
    pub const RULE: &str = "rule";
    /// An image or EBS snapshot of a terminated instance: kept, never swept.
    pub const EVIDENCE: &str = "evidence";
    /// An instance launched to replace a terminated one: kept, never swept.
    pub const RELAUNCHED: &str = "relaunched-instance";
}
