//! Probes: is the team's service healthy right now? Each kind answers pass or fail with a
//! one-line detail. A probe never changes anything.
//!
//! - `http`: a GET answers with the expected status (and body, a regex) within a timeout;
//! - `tcp`: a connection opens within a timeout;
//! - `elbv2-healthy`: at least `min` targets of a target group are `healthy`;
//! - `ecs-running`: an ECS service has at least `min` running tasks;
//! - `lambda-invocable`: a Lambda function is `Active`, its last update did not fail,
//!   and its reserved concurrency is not 0;
//! - `dns`: a Route 53 record's value equals (or does not equal) a value;
//! - `alarm`: a CloudWatch alarm is in a given state (default `OK`);
//! - `restored`: a step's fault is no longer broken (the runner answers this one, from
//!   what it observes of the fault's targets).

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

use super::template::{TeamVars, render};
use crate::aws::{Aws, route53};

/// A probe: what it checks, and how often.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub name: String,
    #[serde(flatten)]
    pub kind: ProbeKind,
    pub every_s: f64,
}

/// What a probe checks.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProbeKind {
    Http { url: String, status: u16, body: Option<String>, timeout_ms: u64 },
    Tcp { host: String, port: u16, timeout_ms: u64 },
    Elbv2Healthy { target_group: String, min: u32 },
    EcsRunning { service: String, min: u32 },
    LambdaInvocable { function: String },
    Dns { zone: String, name: String, record_type: String, equals: Option<String>, not_equals: Option<String> },
    Alarm { name: String, state: String },
    Restored { step: String },
}

impl ProbeKind {
    /// The IAM actions this probe calls in a team's account (HTTP and TCP probes call none).
    pub fn permissions(&self) -> &'static [&'static str] {
        match self {
            ProbeKind::Http { .. } | ProbeKind::Tcp { .. } | ProbeKind::Restored { .. } => &[],
            ProbeKind::Elbv2Healthy { .. } => {
                &["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"]
            }
            ProbeKind::EcsRunning { .. } => &["ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices"],
            ProbeKind::LambdaInvocable { .. } => &["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency"],
            ProbeKind::Dns { .. } => &["route53:ListHostedZones", "route53:ListResourceRecordSets"],
            ProbeKind::Alarm { .. } => &["cloudwatch:DescribeAlarms"],
        }
    }
}

/// One probe result.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Outcome {
    pub ok: bool,
    pub detail: String,
}

impl Outcome {
    fn pass(detail: impl Into<String>) -> Outcome {
        Outcome { ok: true, detail: detail.into() }
    }
    fn fail(detail: impl Into<String>) -> Outcome {
        Outcome { ok: false, detail: detail.into() }
    }
}

impl ProbeKind {
    /// The probe with every template rendered for `team`.
    pub fn render(&self, team: &TeamVars) -> Result<ProbeKind, String> {
        let r = |s: &str| render(s, team);
        let ro = |s: &Option<String>| s.as_deref().map(r).transpose();
        Ok(match self {
            ProbeKind::Http { url, status, body, timeout_ms } => {
                ProbeKind::Http { url: r(url)?, status: *status, body: ro(body)?, timeout_ms: *timeout_ms }
            }
            ProbeKind::Tcp { host, port, timeout_ms } => {
                ProbeKind::Tcp { host: r(host)?, port: *port, timeout_ms: *timeout_ms }
            }
            ProbeKind::Elbv2Healthy { target_group, min } => {
                ProbeKind::Elbv2Healthy { target_group: r(target_group)?, min: *min }
            }
            ProbeKind::EcsRunning { service, min } => ProbeKind::EcsRunning { service: r(service)?, min: *min },
            ProbeKind::LambdaInvocable { function } => ProbeKind::LambdaInvocable { function: r(function)? },
            ProbeKind::Dns { zone, name, record_type, equals, not_equals } => ProbeKind::Dns {
                zone: r(zone)?,
                name: r(name)?,
                record_type: record_type.clone(),
                equals: ro(equals)?,
                not_equals: ro(not_equals)?,
            },
            ProbeKind::Alarm { name, state } => ProbeKind::Alarm { name: r(name)?, state: state.clone() },
            ProbeKind::Restored { step } => ProbeKind::Restored { step: step.clone() },
        })
    }

    /// Run the probe once. `Restored` is answered by the runner, never here.
    pub async fn check(&self, aws: &Aws) -> Outcome {
        match self {
            ProbeKind::Http { url, status, body, timeout_ms } => {
                http(url, *status, body.as_deref(), Duration::from_millis(*timeout_ms)).await
            }
            ProbeKind::Tcp { host, port, timeout_ms } => {
                let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
                match tokio::time::timeout(Duration::from_millis(*timeout_ms), connect).await {
                    Ok(Ok(_)) => Outcome::pass(format!("{host}:{port} accepts connections")),
                    Ok(Err(e)) => Outcome::fail(format!("{host}:{port}: {e}")),
                    Err(_) => Outcome::fail(format!("{host}:{port}: no connection within {timeout_ms} ms")),
                }
            }
            ProbeKind::Elbv2Healthy { target_group, min } => target_health(aws, target_group, *min).await,
            ProbeKind::EcsRunning { service, min } => ecs_running(aws, service, *min).await,
            ProbeKind::LambdaInvocable { function } => lambda_invocable(aws, function).await,
            ProbeKind::Dns { zone, name, record_type, equals, not_equals } => {
                dns(aws, zone, name, record_type, equals.as_deref(), not_equals.as_deref()).await
            }
            ProbeKind::Alarm { name, state } => alarm(aws, name, state).await,
            ProbeKind::Restored { step } => Outcome::fail(format!("internal: `restored` of {step} asked of AWS")),
        }
    }
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// One HTTP(S) client for every probe: rustls on ring with the system's roots, as the
/// SDK's client.
fn http_client() -> Result<&'static HttpClient, String> {
    static CLIENT: OnceLock<Result<HttpClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .map_err(|e| format!("no TLS roots for https probes: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// At most this much of a body is read to match `body`.
const MAX_BODY: usize = 64 * 1024;

async fn http(url: &str, want: u16, body: Option<&str>, timeout: Duration) -> Outcome {
    use http_body_util::BodyExt;
    let client = match http_client() {
        Ok(c) => c,
        Err(e) => return Outcome::fail(e),
    };
    let uri: hyper::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return Outcome::fail(format!("bad url {url}: {e}")),
    };
    let fetch = async {
        let resp = client.get(uri).await.map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
        let status = resp.status().as_u16();
        let mut collected = Vec::new();
        let mut incoming = resp.into_body();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| format!("GET {url}: reading the body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                collected.extend_from_slice(data);
            }
            if collected.len() >= MAX_BODY {
                break;
            }
        }
        Ok::<_, String>((status, String::from_utf8_lossy(&collected).into_owned()))
    };
    let (status, text) = match tokio::time::timeout(timeout, fetch).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Outcome::fail(e),
        Err(_) => return Outcome::fail(format!("GET {url}: no answer within {} ms", timeout.as_millis())),
    };
    if status != want {
        return Outcome::fail(format!("GET {url}: status {status}, expected {want}"));
    }
    if let Some(pattern) = body {
        match regex_lite::Regex::new(pattern) {
            Ok(re) if re.is_match(&text) => {}
            Ok(_) => return Outcome::fail(format!("GET {url}: status {status}, body does not match /{pattern}/")),
            Err(e) => return Outcome::fail(format!("bad body pattern /{pattern}/: {e}")),
        }
    }
    Outcome::pass(format!("GET {url}: {status}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s += &format!(": {inner}");
        source = inner.source();
    }
    s
}

/// A service's running tasks against `min`; by ARN, or by name in every cluster.
async fn ecs_running(aws: &Aws, service: &str, min: u32) -> Outcome {
    let arn = if service.starts_with("arn:") {
        service.to_owned()
    } else {
        let mut spec = crate::target::TargetSpec::ids(Vec::new());
        spec.names = vec![service.to_owned()];
        match crate::aws::ecs::list_services(&aws.ecs, &spec).await {
            Ok(found) => match found.as_slice() {
                [one] => one.id.clone(),
                [] => return Outcome::fail(format!("no ECS service {service}")),
                _ => return Outcome::fail(format!("{service} names a service in several clusters: give its ARN")),
            },
            Err(e) => return Outcome::fail(format!("service {service}: {e}")),
        }
    };
    let cluster = crate::aws::ecs::cluster_of(&arn);
    match aws.ecs.describe_services().cluster(cluster).services(&arn).send().await {
        Ok(out) => match out.services().first() {
            Some(s) => {
                let (running, desired) = (s.running_count(), s.desired_count());
                let detail = format!("{service}: {running} task(s) running of {desired} desired, need {min}");
                if running >= min as i32 { Outcome::pass(detail) } else { Outcome::fail(detail) }
            }
            None => Outcome::fail(format!("no ECS service {service}")),
        },
        Err(e) => Outcome::fail(format!("service {service}: {}", crate::Error::aws("describe")(e))),
    }
}

/// Whether the function can run: `Active`, its last update not `Failed`, and a reserved
/// concurrency, if any, above 0.
async fn lambda_invocable(aws: &Aws, function: &str) -> Outcome {
    let config = match aws.lambda.get_function_configuration().function_name(function).send().await {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("{function}: {}", crate::Error::aws("read the configuration")(e))),
    };
    let state = config.state().map(|s| s.as_str().to_owned()).unwrap_or_else(|| "Active".into());
    if state != "Active" {
        return Outcome::fail(format!("{function}: state {state}"));
    }
    if config.last_update_status().is_some_and(|s| s.as_str() == "Failed") {
        return Outcome::fail(format!("{function}: its last update failed"));
    }
    match aws.lambda.get_function_concurrency().function_name(function).send().await {
        Ok(c) if c.reserved_concurrent_executions() == Some(0) => {
            Outcome::fail(format!("{function}: reserved concurrency 0 (every invocation is throttled)"))
        }
        Ok(c) => Outcome::pass(match c.reserved_concurrent_executions() {
            Some(n) => format!("{function}: active, up to {n} at once"),
            None => format!("{function}: active"),
        }),
        Err(e) => Outcome::fail(format!("{function}: {}", crate::Error::aws("read the concurrency")(e))),
    }
}

async fn target_health(aws: &Aws, group: &str, min: u32) -> Outcome {
    let arn = if group.starts_with("arn:") {
        group.to_owned()
    } else {
        match aws.elbv2.describe_target_groups().names(group).send().await {
            Ok(out) => match out.target_groups().first().and_then(|g| g.target_group_arn()) {
                Some(arn) => arn.to_owned(),
                None => return Outcome::fail(format!("no target group {group}")),
            },
            Err(e) => return Outcome::fail(format!("target group {group}: {}", crate::Error::aws("describe")(e))),
        }
    };
    match aws.elbv2.describe_target_health().target_group_arn(&arn).send().await {
        Ok(out) => {
            let healthy = out
                .target_health_descriptions()
                .iter()
                .filter(|d| d.target_health().and_then(|h| h.state()).is_some_and(|s| s.as_str() == "healthy"))
                .count() as u32;
            let total = out.target_health_descriptions().len();
            let detail = format!("{group}: {healthy} of {total} target(s) healthy, need {min}");
            if healthy >= min { Outcome::pass(detail) } else { Outcome::fail(detail) }
        }
        Err(e) => Outcome::fail(format!("{group}: {}", crate::Error::aws("describe target health")(e))),
    }
}

async fn dns(
    aws: &Aws,
    zone: &str,
    name: &str,
    record_type: &str,
    equals: Option<&str>,
    not_equals: Option<&str>,
) -> Outcome {
    let zone_id = match route53::zone_id(&aws.route53, zone).await {
        Ok(Some(id)) => id,
        Ok(None) => return Outcome::fail(format!("no hosted zone {zone}")),
        Err(e) => return Outcome::fail(e.to_string()),
    };
    let records = match route53::zone_records(&aws.route53, &zone_id).await {
        Ok(r) => r,
        Err(e) => return Outcome::fail(e.to_string()),
    };
    let want = route53::fqdn(name);
    let values: Vec<String> = records
        .iter()
        .filter(|r| route53::fqdn(r.name()) == want && r.r#type().as_str().eq_ignore_ascii_case(record_type))
        .flat_map(|r| {
            let plain = r.resource_records().iter().map(|v| v.value().to_owned());
            let alias = r.alias_target().map(|a| a.dns_name().to_owned());
            plain.chain(alias).collect::<Vec<_>>()
        })
        .collect();
    let same = |a: &str, b: &str| a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'));
    let shown = if values.is_empty() { "no value".to_owned() } else { values.join(", ") };
    let detail = format!("{name} {record_type} = {shown}");
    let ok = equals.is_none_or(|e| values.iter().any(|v| same(v, e)))
        && not_equals.is_none_or(|n| !values.iter().any(|v| same(v, n)))
        && !values.is_empty();
    if ok { Outcome::pass(detail) } else { Outcome::fail(detail) }
}

async fn alarm(aws: &Aws, name: &str, want: &str) -> Outcome {
    match aws.cloudwatch.describe_alarms().alarm_names(name).send().await {
        Ok(out) => match out.metric_alarms().first().and_then(|a| a.state_value()) {
            Some(state) if state.as_str() == want => Outcome::pass(format!("alarm {name} is {state}")),
            Some(state) => Outcome::fail(format!("alarm {name} is {state}")),
            None => Outcome::fail(format!("no alarm {name}")),
        },
        Err(e) => Outcome::fail(format!("alarm {name}: {}", crate::Error::aws("describe alarms")(e))),
    }
}
