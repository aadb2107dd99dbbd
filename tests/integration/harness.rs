//! The harness: starts the emulator, gives each test its own account, seeds stacks, runs
//! the built binary, and describes the account for before/after comparisons.
//!
//! The emulator is `scripts/emulator.py --stdin` from the project's virtualenv
//! (`scripts/bootstrap` installs it). It exits when our end of its stdin closes, i.e.
//! when this test process exits, however it exits. If it is not installed, tests fail
//! with the command that installs it: they never skip.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_firedrill");
pub const REGION: &str = "us-east-1";
pub const RUN_TAG_KEY: &str = "firedrill:run";

struct Emulator {
    endpoint: String,
    _child: Child,
    // Held open for the life of the process: closing it stops the emulator.
    _stdin: ChildStdin,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

pub fn endpoint() -> &'static str {
    &EMULATOR.get_or_init(start_emulator).endpoint
}

fn start_emulator() -> Emulator {
    let python = std::env::var("FIREDRILL_PYTHON").unwrap_or_else(|_| format!("{ROOT}/.venv/bin/python"));
    let how = "run the tests with `scripts/test`, which installs it (or run `scripts/bootstrap` once)";
    assert!(Path::new(&python).exists(), "the AWS emulator (moto) is not installed: {python} is missing; {how}");
    let mut child = Command::new(&python)
        .arg(format!("{ROOT}/scripts/emulator.py"))
        .arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the AWS emulator with {python}: {e}; {how}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| {
        panic!("the AWS emulator did not start (it printed {line:?}; its errors are above); {how}")
    });
    let stdin = child.stdin.take().unwrap();
    Emulator { endpoint: format!("http://127.0.0.1:{port}"), _child: child, _stdin: stdin }
}

pub fn sdk_config(creds: Credentials) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(creds))
        .http_client(firedrill::aws::http_client())
        .build()
}

/// A distinct 12-digit account per test: the emulator keeps accounts apart, so tests
/// can run in parallel without resetting it.
fn new_account() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}", 200_000_000_000u64 + NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One test's world: an account, credentials bound to it, a working directory and a
/// state directory.
pub struct Env {
    pub account: String,
    pub creds: Credentials,
    pub dir: PathBuf,
    pub state: PathBuf,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub route53: aws_sdk_route53::Client,
    /// Where firedrill's calls go: the emulator, or a proxy in front of it that behaves
    /// as AWS does ([`Env::aws_like`]).
    pub aws: String,
    pub proxy: Option<crate::proxy::Proxy>,
    /// `s3://…` when the test keeps firedrill's state in a bucket ([`Env::use_s3_state`]).
    pub state_url: Option<String>,
}

/// Whether `line` is a progress line (`inject: 120/1000 targets, about 30s left`): shown
/// once a phase has taken a few seconds, so on a busy machine it may show anywhere.
fn is_progress(line: &str) -> bool {
    let Some((_, rest)) = line.split_once(": ") else { return false };
    let Some((count, tail)) = rest.split_once(" targets, ") else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    count.split_once('/').is_some_and(|(done, total)| digits(done) && digits(total))
        && (tail.starts_with("about ") || tail == "waiting for AWS")
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Run `cmd` to its end.
    pub fn of(cmd: &mut Command) -> Out {
        let out = cmd.output().expect("run firedrill");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Exit 0 and nothing on stderr: a warning no test expected fails the test.
    #[track_caller]
    pub fn ok(self) -> Out {
        self.ok_allowing(&[])
    }

    /// Exit 0, and each line on stderr contains one of `allowed` (a line that may or may
    /// not show, such as progress; assert one that must with [`Out::stderr_has`]).
    #[track_caller]
    pub fn ok_allowing(self, allowed: &[&str]) -> Out {
        assert_eq!(self.code, Some(0), "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        let unexpected: Vec<&str> =
            self.stderr.lines().filter(|l| !is_progress(l) && !allowed.iter().any(|e| l.contains(e))).collect();
        assert!(unexpected.is_empty(), "unexpected on stderr: {unexpected:#?}\nstderr:\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Out {
        assert_eq!(self.code, Some(code), "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Out {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        self
    }
}

impl Env {
    pub async fn new() -> Env {
        let base = sdk_config(Credentials::new("test", "test", None, None, "test"));
        let account = new_account();
        let c = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/firedrill-test"))
            .role_session_name("firedrill-test")
            .send()
            .await
            .expect("assume a role in the test account")
            .credentials
            .expect("credentials");
        let creds = Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "assumed-role");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("it").join(&account);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = sdk_config(creds.clone());
        Env {
            state: dir.join(".firedrill"),
            account,
            creds,
            dir,
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            aws: endpoint().to_owned(),
            proxy: None,
            state_url: None,
        }
    }

    /// An account whose firedrill calls go through a proxy that behaves as AWS does
    /// (`crate::proxy::AwsLike`): AWS's documented request limits (and firedrill told to
    /// pace to them), reads that lag changes, deletes that must wait, IAM propagation,
    /// Route 53 `PENDING`, instances between states. The test's own setup and checks go
    /// to the emulator directly, as a team's console would see the truth.
    pub async fn aws_like() -> Env {
        let mut env = Env::new().await;
        let proxy = crate::proxy::Proxy::start(endpoint());
        proxy.set(|r| {
            r.aws_buckets();
            r.aws_like = Some(crate::proxy::AwsLike::quick());
        });
        env.aws = proxy.endpoint.clone();
        env.proxy = Some(proxy);
        env
    }

    /// [`Env::aws_like`] or [`Env::new`].
    pub async fn with(aws_like: bool) -> Env {
        if aws_like { Env::aws_like().await } else { Env::new().await }
    }

    /// Whether firedrill's calls here go through the AWS-like proxy.
    pub fn is_aws_like(&self) -> bool {
        self.proxy.is_some()
    }

    /// CloudWatch in this test's account (alarms for drill probes and stop conditions).
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&sdk_config(self.creds.clone()))
    }

    /// A CloudWatch alarm on the load balancer's 5xx count, in state OK. Emulator gap:
    /// moto never evaluates an alarm; tests set its state ([`Env::set_alarm`]).
    pub async fn alarm(&self, name: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
        self.cloudwatch()
            .put_metric_alarm()
            .alarm_name(name)
            .metric_name("HTTPCode_Target_5XX_Count")
            .namespace("AWS/ApplicationELB")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(10.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
        self.set_alarm(name, "OK").await;
    }

    /// Set an alarm's state, as AWS would on evaluating it.
    pub async fn set_alarm(&self, name: &str, state: &str) {
        let state = aws_sdk_cloudwatch::types::StateValue::from(state);
        self.cloudwatch()
            .set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("test")
            .send()
            .await
            .unwrap();
    }

    /// Run the built binary in this test's directory, with only this test's credentials
    /// and the emulator's endpoint in its environment.
    pub fn firedrill(&self, args: &[&str]) -> Out {
        self.firedrill_env(args, &[])
    }

    pub fn firedrill_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        Out::of(&mut self.command(args, extra))
    }

    /// Start the binary and return at once (to signal it, say).
    pub fn spawn_firedrill(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Child {
        self.spawn_firedrill_to(args, extra, Stdio::piped())
    }

    /// [`Env::spawn_firedrill`] in another working directory.
    pub fn spawn_firedrill_in(&self, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = self.command(args, extra);
        cmd.current_dir(dir).env("HOME", dir).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("start firedrill")
    }

    /// [`Env::spawn_firedrill`] with its stdout going to `stdout` (a pipe already closed).
    pub fn spawn_firedrill_to(&self, args: &[&str], extra: &[(&str, &str)], stdout: Stdio) -> std::process::Child {
        self.command(args, extra).stdout(stdout).stderr(Stdio::piped()).spawn().expect("start firedrill")
    }

    /// `n` security groups in `vpc`, tagged `Many=<tag>`, each with one inbound rule.
    pub async fn many_groups(&self, vpc: &str, n: usize, tag: &str) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(self.group_with_rule(vpc, &format!("{tag}-{i}"), &[("Many", tag)], 8080, "10.0.0.0/8").await);
        }
        ids
    }

    /// A security group in `vpc` tagged `kv`, with one inbound tcp rule: `port` from `cidr`.
    pub async fn group_with_rule(&self, vpc: &str, name: &str, kv: &[(&str, &str)], port: i32, cidr: &str) -> String {
        let id = self.group(vpc, name, kv).await;
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).description("app").build())
            .build();
        self.ec2.authorize_security_group_ingress().group_id(&id).ip_permissions(rule).send().await.unwrap();
        id
    }

    /// The text of every run's journal.
    pub fn journals(&self) -> Vec<String> {
        let Ok(runs) = std::fs::read_dir(self.state.join("runs")) else { return Vec::new() };
        runs.filter_map(|r| std::fs::read_to_string(r.ok()?.path().join("journal.jsonl")).ok()).collect()
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_ENDPOINT_URL", &self.aws)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", self.creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", self.creds.secret_access_key())
            .env("AWS_SESSION_TOKEN", self.creds.session_token().unwrap_or_default())
            .env("FIREDRILL_STATE", self.state_url.as_deref().map_or(self.state.as_os_str(), std::ffi::OsStr::new))
            .stdin(Stdio::null());
        if self.state_url.is_some() {
            // Locks left by a process a test killed run out in a second, not a minute.
            cmd.env("FIREDRILL_STATE_LEASE", "1");
        }
        // How long reads may lag a change here: the emulator never lags; the AWS-like
        // proxy lags 0.3 s. firedrill need not wait AWS's minutes to trust a read.
        if self.is_aws_like() {
            cmd.env("FIREDRILL_LIMITS", "aws").env("FIREDRILL_CONSISTENCY", "2s");
        } else {
            cmd.env("FIREDRILL_CONSISTENCY", "0s");
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Keep firedrill's state in a new versioned bucket of this test's account,
    /// `s3://<bucket>/gamedays`, instead of the working directory.
    pub async fn use_s3_state(&mut self) -> String {
        let bucket = self.bucket(true).await;
        let url = format!("s3://{bucket}/gamedays");
        self.state_url = Some(url.clone());
        url
    }

    /// A new bucket of this test's account (versioned or not); its name.
    pub async fn bucket(&self, versioned: bool) -> String {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("fd-{}-{}", self.account, NEXT.fetch_add(1, Ordering::Relaxed));
        let s3 = self.s3();
        s3.create_bucket().bucket(&name).send().await.unwrap();
        if versioned {
            let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
            s3.put_bucket_versioning().bucket(&name).versioning_configuration(on).send().await.unwrap();
        }
        name
    }

    /// S3 in this test's account, straight to the emulator.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&sdk_config(self.creds.clone())).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The text of log `key` (`schedules/web/journal`) of this test's S3 store.
    pub async fn state_log(&self, key: &str) -> String {
        let url = self.state_url.as_deref().expect("an S3 store");
        let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
        let mut text = String::new();
        for k in self.objects(bucket, &format!("{prefix}/{key}/")).await {
            let object = self.s3().get_object().bucket(bucket).key(&k).send().await.unwrap();
            text += &String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap();
        }
        text
    }

    /// Every object key under `prefix` in `bucket`.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self.s3().list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
        out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    }

    /// Run the binary as [`Env::firedrill_env`] does, in another working directory
    /// (`name`, fresh): nothing shared with the first but AWS and, with an S3 store, the bucket.
    pub fn firedrill_elsewhere(&self, name: &str, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let dir = self.dir.join("elsewhere").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Out::of(self.command(args, extra).current_dir(&dir).env("HOME", &dir))
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Whether any run was recorded in the state directory.
    pub fn has_runs(&self) -> bool {
        std::fs::read_dir(self.state.join("runs")).map(|mut d| d.next().is_some()).unwrap_or(false)
    }

    // -------------------------------------------------------------------------------
    // Seeding

    /// The practice stack, created by firedrill itself: what `sandbox up` prints.
    pub async fn sandbox(&self) -> Value {
        let sb = self.firedrill(&["sandbox", "up", "--with", "containers,serverless", "--output", "json"]).ok().json();
        self.start_service_tasks(&sb, 2).await;
        if self.is_aws_like() {
            // A stack is built a while before anyone breaks it: past the proxy's lag.
            // (Straight after, a lagging read can name an ACL association `up` replaced;
            // the fault then fails on it and is rolled back.)
            tokio::time::sleep(crate::proxy::AwsLike::quick().lag).await;
        }
        sb
    }

    /// The emulator starts no task for a service (README, emulator gaps): start `count`
    /// as ECS would, Fargate tasks of its task definition in the group `service:NAME`, so
    /// `ecs.stop-tasks` has the service's tasks to stop (and a test can replace them).
    pub async fn start_service_tasks(&self, sb: &Value, count: i32) {
        let (Some(cluster), Some(service), Some(td)) =
            (sb["cluster"].as_str(), sb["service"].as_str(), sb["task_definition"].as_str())
        else {
            return;
        };
        let ecs = aws_sdk_ecs::Client::new(&sdk_config(self.creds.clone()));
        let name = service.rsplit('/').next().unwrap();
        let run = ecs
            .run_task()
            .cluster(cluster)
            .task_definition(td)
            .count(count)
            .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
            .group(format!("service:{name}"))
            .started_by("ecs-svc/harness")
            .network_configuration(
                aws_sdk_ecs::types::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                            .subnets(sb["public_subnets"][0].as_str().unwrap())
                            .security_groups(sb["web_security_group"].as_str().unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build(),
            );
        run.send().await.unwrap();
    }

    /// The manifest of the sandbox `firedrill` in this account, as `up` left it.
    pub fn sandbox_manifest(&self) -> Value {
        let path = self.state.join("sandbox").join(&self.account).join(REGION).join("firedrill.json");
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    pub async fn seed_stack(&self) -> Stack {
        let ec2 = &self.ec2;
        let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.0.1.0/24")
            .send()
            .await
            .unwrap()
            .subnet
            .unwrap()
            .subnet_id
            .unwrap();
        let lb_sg = self.group(&vpc, "lb", &[("Tier", "lb")]).await;
        let db_sg = self.group(&vpc, "db", &[("Tier", "db"), ("firedrill", "allowed")]).await;
        let web_sg = self.group(&vpc, "web", &[("Tier", "web"), ("firedrill", "allowed")]).await;
        let perm = |proto: &str, port: i32| IpPermission::builder().ip_protocol(proto).from_port(port).to_port(port);
        ec2.authorize_security_group_ingress()
            .group_id(&web_sg)
            .ip_permissions(
                perm("tcp", 80)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder().group_id(&lb_sg).description("HTTP from the lb").build(),
                    )
                    .build(),
            )
            .ip_permissions(
                perm("tcp", 443)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("HTTPS").build())
                    .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").description("HTTPS v6").build())
                    .build(),
            )
            .ip_permissions(
                perm("tcp", 22).ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").description("SSH").build()).build(),
            )
            // Emulator gap: moto drops prefix-list rule descriptions, so this rule has none.
            .ip_permissions(
                perm("tcp", 8080)
                    .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-12345678").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.authorize_security_group_egress()
            .group_id(&web_sg)
            .ip_permissions(
                perm("udp", 53).ip_ranges(IpRange::builder().cidr_ip("10.0.0.2/32").description("DNS").build()).build(),
            )
            .send()
            .await
            .unwrap();
        ec2.authorize_security_group_ingress()
            .group_id(&db_sg)
            .ip_permissions(
                perm("tcp", 5432)
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(&web_sg).description("app").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let reservation = ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(2)
            .max_count(2)
            .subnet_id(&subnet)
            .security_group_ids(&web_sg)
            .tag_specifications(tags(
                ResourceType::Instance,
                &[("Tier", "web"), ("Name", "web"), ("firedrill", "allowed")],
            ))
            .send()
            .await
            .unwrap();
        let mut instances: Vec<String> =
            reservation.instances().iter().map(|i| i.instance_id().unwrap().to_owned()).collect();
        instances.sort();
        Stack { vpc, subnet, web_sg, lb_sg, db_sg, instances }
    }

    async fn group(&self, vpc: &str, name: &str, kv: &[(&str, &str)]) -> String {
        self.ec2
            .create_security_group()
            .group_name(name)
            .description(format!("{name} tier"))
            .vpc_id(vpc)
            .tag_specifications(tags(ResourceType::SecurityGroup, kv))
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap()
    }

    // -------------------------------------------------------------------------------
    // Describing, independently of firedrill's own code

    /// One line per rule of a group: "ingress tcp 80-80 group sg-x \"desc\"".
    pub async fn rules(&self, group_id: &str) -> Vec<String> {
        let g = self
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("group-id").values(group_id).build())
            .send()
            .await
            .unwrap()
            .security_groups
            .unwrap_or_default()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no group {group_id}"));
        let mut out = rule_lines("ingress", g.ip_permissions());
        out.extend(rule_lines("egress", g.ip_permissions_egress()));
        out.sort();
        out
    }

    /// The account, described: every security group, instance, network ACL, route table,
    /// IAM role, load balancer, target group, listener, auto scaling group, DNS record and
    /// health check. Two calls compare equal when nothing changed. Left out: ids AWS
    /// assigns on every change (rule ids, association ids) and instances an auto scaling
    /// group launched (it replaces them at will).
    /// Every bucket of the account, with its tags and its policy (as JSON, so spacing
    /// is not a difference), but the state stores' ([`Env::bucket`]'s `fd-…`): they are
    /// firedrill's own records, not the stack under test.
    async fn s3_lines(&self) -> Vec<String> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let s3 = self.s3();
        let mut out = Vec::new();
        for b in s3.list_buckets().send().await.unwrap().buckets() {
            let name = b.name().unwrap();
            if name.starts_with(&format!("fd-{}-", self.account)) {
                continue;
            }
            let tags: BTreeMap<String, String> = match s3.get_bucket_tagging().bucket(name).send().await {
                Ok(t) => t.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect(),
                Err(e) if e.code() == Some("NoSuchTagSet") => BTreeMap::new(),
                Err(e) => panic!("tags of {name}: {e:?}"),
            };
            let policy = match s3.get_bucket_policy().bucket(name).send().await {
                Ok(p) => p.policy().map(|p| serde_json::from_str::<Value>(p).unwrap().to_string()),
                Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
                Err(e) => panic!("policy of {name}: {e:?}"),
            };
            out.push(format!("bucket {name} {tags:?} policy={policy:?}"));
        }
        out
    }

    /// Each function's concurrency, timeout, memory, environment and policy; each
    /// table's capacity (and its indexes'); each REST API stage's deployment and
    /// method settings.
    async fn serverless_lines(&self) -> Vec<String> {
        let config = sdk_config(self.creds.clone());
        let lambda = aws_sdk_lambda::Client::new(&config);
        let mut out = Vec::new();
        for f in lambda.list_functions().send().await.unwrap().functions() {
            let name = f.function_name().unwrap();
            let reserved = lambda
                .get_function_concurrency()
                .function_name(name)
                .send()
                .await
                .unwrap()
                .reserved_concurrent_executions();
            let env: BTreeMap<_, _> = f.environment().and_then(|e| e.variables()).into_iter().flatten().collect();
            let policy = match lambda.get_policy().function_name(name).send().await {
                Ok(p) => {
                    let mut doc: Value = serde_json::from_str(p.policy().unwrap()).unwrap();
                    let mut statements = doc["Statement"].as_array_mut().cloned().unwrap_or_default();
                    statements.sort_by_key(|s| s["Sid"].to_string());
                    Value::Array(statements).to_string()
                }
                Err(_) => "none".into(),
            };
            out.push(format!(
                "function {name} reserved={reserved:?} timeout={:?} memory={:?} env={env:?} policy={policy}",
                f.timeout(),
                f.memory_size()
            ));
        }
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        for t in dynamodb.list_tables().send().await.unwrap().table_names() {
            let d = dynamodb.describe_table().table_name(t).send().await.unwrap();
            let d = d.table().unwrap();
            let units = |p: Option<&aws_sdk_dynamodb::types::ProvisionedThroughputDescription>| {
                p.map(|p| (p.read_capacity_units(), p.write_capacity_units()))
            };
            let indexes: Vec<_> = d
                .global_secondary_indexes()
                .iter()
                .map(|i| (i.index_name().unwrap(), units(i.provisioned_throughput())))
                .collect();
            out.push(format!(
                "table {t} {:?} {:?} mode={:?} indexes={indexes:?}",
                d.table_status(),
                units(d.provisioned_throughput()),
                d.billing_mode_summary().and_then(|b| b.billing_mode())
            ));
        }
        let gw = aws_sdk_apigateway::Client::new(&config);
        for api in gw.get_rest_apis().send().await.unwrap().items() {
            let id = api.id().unwrap();
            for s in gw.get_stages().rest_api_id(id).send().await.unwrap().item() {
                let settings: BTreeMap<_, _> = s
                    .method_settings()
                    .into_iter()
                    .flatten()
                    .map(|(k, m)| (k, (m.throttling_rate_limit(), m.throttling_burst_limit())))
                    .collect();
                out.push(format!(
                    "stage {id}/{} deployment={:?} throttling={settings:?}",
                    s.stage_name().unwrap(),
                    s.deployment_id()
                ));
            }
            let mut deployments: Vec<_> = gw
                .get_deployments()
                .rest_api_id(id)
                .send()
                .await
                .unwrap()
                .items()
                .iter()
                .map(|d| format!("deployment {id}/{} {:?}", d.id().unwrap(), d.description()))
                .collect();
            deployments.sort();
            out.extend(deployments);
            for r in gw.get_resources().rest_api_id(id).send().await.unwrap().items() {
                for method in r.resource_methods().into_iter().flat_map(|m| m.keys()) {
                    let rid = r.id().unwrap();
                    let i = gw.get_integration().rest_api_id(id).resource_id(rid).http_method(method).send().await;
                    let i = i.unwrap();
                    out.push(format!("integration {id} {method} {:?} {:?} {:?}", r.path(), i.r#type(), i.uri()));
                }
            }
        }
        out
    }

    /// Each ECS service's desired count, deployment percents and network.
    async fn ecs_lines(&self) -> Vec<String> {
        let ecs = aws_sdk_ecs::Client::new(&sdk_config(self.creds.clone()));
        let mut out = Vec::new();
        for cluster in ecs.list_clusters().send().await.unwrap().cluster_arns() {
            let arns = ecs.list_services().cluster(cluster).send().await.unwrap().service_arns().to_vec();
            if arns.is_empty() {
                continue;
            }
            let described = ecs.describe_services().cluster(cluster).set_services(Some(arns)).send().await.unwrap();
            // A deleted service is INACTIVE for a while (AWS describes it for about an hour).
            for s in described.services().iter().filter(|s| s.status() != Some("INACTIVE")) {
                let d = s.deployment_configuration();
                let net = s.network_configuration().and_then(|n| n.awsvpc_configuration());
                out.push(format!(
                    "service {} {:?} desired={} min={:?} max={:?} subnets={:?} groups={:?}",
                    s.service_arn().unwrap(),
                    s.status(),
                    s.desired_count(),
                    d.and_then(|d| d.minimum_healthy_percent()),
                    d.and_then(|d| d.maximum_percent()),
                    net.map(|n| n.subnets()),
                    net.map(|n| n.security_groups()),
                ));
            }
        }
        out
    }

    pub async fn world(&self) -> String {
        let mut out = Vec::new();
        let groups = self.ec2.describe_security_groups().send().await.unwrap().security_groups.unwrap_or_default();
        for g in groups {
            let tags: BTreeMap<_, _> = g.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
            out.push(format!("group {} {} {:?}", g.group_id().unwrap(), g.group_name().unwrap(), tags));
            for r in self.rules(g.group_id().unwrap()).await {
                out.push(format!("  group {} {r}", g.group_id().unwrap()));
            }
        }
        let reservations = self.ec2.describe_instances().send().await.unwrap();
        for i in reservations.reservations().iter().flat_map(|r| r.instances()) {
            if i.tags().iter().any(|t| t.key() == Some("aws:autoscaling:groupName")) {
                continue;
            }
            let enis: Vec<Vec<&str>> = i
                .network_interfaces()
                .iter()
                .map(|n| {
                    let mut g: Vec<&str> = n.groups().iter().map(|g| g.group_id().unwrap()).collect();
                    g.sort();
                    g
                })
                .collect();
            out.push(format!(
                "instance {} {:?} profile={:?} groups={enis:?}",
                i.instance_id().unwrap(),
                i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                i.iam_instance_profile().and_then(|p| p.arn()),
            ));
        }
        for acl in self.ec2.describe_network_acls().send().await.unwrap().network_acls() {
            let mut subnets: Vec<&str> = acl.associations().iter().filter_map(|a| a.subnet_id()).collect();
            subnets.sort();
            out.push(format!("acl {} subnets={subnets:?}", acl.network_acl_id().unwrap()));
            for e in acl.entries() {
                out.push(format!(
                    "  acl {} {} {} {:?} {:?} {:?} {:?}",
                    acl.network_acl_id().unwrap(),
                    if e.egress().unwrap_or(false) { "egress" } else { "ingress" },
                    e.rule_number().unwrap_or(0),
                    e.protocol(),
                    e.rule_action().map(|a| a.as_str()),
                    e.cidr_block(),
                    e.port_range().map(|p| (p.from(), p.to())),
                ));
            }
        }
        for rt in self.ec2.describe_route_tables().send().await.unwrap().route_tables() {
            let mut subnets: Vec<&str> = rt.associations().iter().filter_map(|a| a.subnet_id()).collect();
            subnets.sort();
            out.push(format!("route-table {} subnets={subnets:?}", rt.route_table_id().unwrap()));
            for r in rt.routes() {
                out.push(format!(
                    "  route {} {:?} gw={:?} nat={:?} eni={:?} pcx={:?} tgw={:?}",
                    rt.route_table_id().unwrap(),
                    r.destination_cidr_block(),
                    r.gateway_id(),
                    r.nat_gateway_id(),
                    r.network_interface_id(),
                    r.vpc_peering_connection_id(),
                    r.transit_gateway_id()
                ));
            }
        }
        out.extend(self.iam_lines().await);
        out.extend(self.elb_lines().await);
        for g in self.autoscaling.describe_auto_scaling_groups().send().await.unwrap().auto_scaling_groups() {
            let mut suspended: Vec<&str> = g.suspended_processes().iter().filter_map(|p| p.process_name()).collect();
            suspended.sort();
            out.push(format!(
                "asg {} min={:?} max={:?} desired={:?} suspended={suspended:?}",
                g.auto_scaling_group_name().unwrap(),
                g.min_size(),
                g.max_size(),
                g.desired_capacity()
            ));
        }
        out.extend(self.dns_lines().await);
        out.extend(self.s3_lines().await);
        out.extend(self.serverless_lines().await);
        out.extend(self.ecs_lines().await);
        out.sort();
        out.join("\n")
    }

    async fn iam_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.iam.list_roles().send().await.unwrap().roles() {
            let name = r.role_name();
            let role = self.iam.get_role().role_name(name).send().await.unwrap();
            let trust = role.role().and_then(|r| r.assume_role_policy_document()).unwrap_or_default();
            let trust: Value = serde_json::from_str(&firedrill::aws::iam::percent_decode(trust)).unwrap_or(Value::Null);
            let mut attached: Vec<String> = self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .unwrap()
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect();
            attached.sort();
            let mut inline: Vec<String> =
                self.iam.list_role_policies().role_name(name).send().await.unwrap().policy_names().to_vec();
            inline.sort();
            out.push(format!("role {name} trust={trust} attached={attached:?} inline={inline:?}"));
        }
        for p in self.iam.list_instance_profiles().send().await.unwrap().instance_profiles() {
            let roles: Vec<&str> = p.roles().iter().map(|r| r.role_name()).collect();
            out.push(format!("instance-profile {} roles={roles:?}", p.instance_profile_name()));
        }
        out
    }

    async fn elb_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for lb in self.elbv2.describe_load_balancers().send().await.unwrap().load_balancers() {
            let mut sgs: Vec<&str> = lb.security_groups().iter().map(String::as_str).collect();
            sgs.sort();
            out.push(format!("load-balancer {} groups={sgs:?}", lb.load_balancer_name().unwrap()));
            let listeners = self
                .elbv2
                .describe_listeners()
                .load_balancer_arn(lb.load_balancer_arn().unwrap())
                .send()
                .await
                .unwrap();
            for l in listeners.listeners() {
                out.push(format!(
                    "  listener {:?} {:?} actions={:?}",
                    lb.load_balancer_name(),
                    l.port(),
                    l.default_actions()
                ));
            }
        }
        for tg in self.elbv2.describe_target_groups().send().await.unwrap().target_groups() {
            out.push(format!(
                "target-group {} hc=({:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?})",
                tg.target_group_name().unwrap(),
                tg.health_check_protocol(),
                tg.health_check_port(),
                tg.health_check_path(),
                tg.health_check_enabled(),
                tg.health_check_interval_seconds(),
                tg.health_check_timeout_seconds(),
                tg.healthy_threshold_count(),
                tg.unhealthy_threshold_count(),
                tg.matcher().and_then(|m| m.http_code())
            ));
            let health = self
                .elbv2
                .describe_target_health()
                .target_group_arn(tg.target_group_arn().unwrap())
                .send()
                .await
                .unwrap();
            let mut targets: Vec<String> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|d| d.target())
                .map(|t| format!("{}:{:?}:{:?}", t.id().unwrap_or_default(), t.port(), t.availability_zone()))
                .collect();
            targets.sort();
            out.push(format!("  target-group {} targets={targets:?}", tg.target_group_name().unwrap()));
        }
        out
    }

    async fn dns_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for z in self.route53.list_hosted_zones().send().await.unwrap().hosted_zones() {
            let records = self.route53.list_resource_record_sets().hosted_zone_id(z.id()).send().await.unwrap();
            for r in records.resource_record_sets() {
                let mut values: Vec<&str> = r.resource_records().iter().map(|v| v.value()).collect();
                values.sort();
                out.push(format!(
                    "record {} {} {} set={:?} weight={:?} ttl={:?} values={values:?} alias={:?} hc={:?}",
                    z.name(),
                    r.name(),
                    r.r#type().as_str(),
                    r.set_identifier(),
                    r.weight(),
                    r.ttl(),
                    r.alias_target().map(|a| (a.dns_name(), a.hosted_zone_id(), a.evaluate_target_health())),
                    r.health_check_id()
                ));
            }
        }
        for hc in self.route53.list_health_checks().send().await.unwrap().health_checks() {
            out.push(format!("health-check {} {:?}", hc.id(), hc.health_check_config()));
        }
        out
    }

    /// Each instance's groups, per network interface.
    pub async fn instance_groups(&self) -> BTreeMap<String, Vec<Vec<String>>> {
        let out = self.ec2.describe_instances().send().await.unwrap();
        let mut map = BTreeMap::new();
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            let enis = i
                .network_interfaces()
                .iter()
                .map(|n| {
                    let mut g: Vec<String> = n.groups().iter().map(|g| g.group_id().unwrap().to_owned()).collect();
                    g.sort();
                    g
                })
                .collect();
            map.insert(i.instance_id().unwrap().to_owned(), enis);
        }
        map
    }

    pub async fn instance_state(&self, id: &str) -> String {
        let out = self.ec2.describe_instances().instance_ids(id).send().await.unwrap();
        let i = out.reservations()[0].instances()[0].clone();
        i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default()
    }

    /// Security groups tagged `key=value`.
    pub async fn groups_tagged(&self, key: &str, value: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name(format!("tag:{key}")).values(value).build())
            .send()
            .await
            .unwrap();
        out.security_groups().iter().map(|g| g.group_id().unwrap().to_owned()).collect()
    }
}

/// `world` without firedrill's hold tags (`"firedrill:hold:<run>": "<who>"` in a group's
/// tags): for comparing with a world captured while a run held something.
pub fn without_holds(world: &str) -> String {
    let hold = regex_lite::Regex::new(r#"(, )?"firedrill:hold:[^"]*": "[^"]*"(, )?"#).unwrap();
    world
        .lines()
        .map(|l| {
            hold.replace_all(
                l,
                |c: &regex_lite::Captures| if c.get(1).is_some() && c.get(2).is_some() { ", " } else { "" },
            )
            .into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub struct Stack {
    pub vpc: String,
    pub subnet: String,
    pub web_sg: String,
    pub lb_sg: String,
    pub db_sg: String,
    pub instances: Vec<String>,
}

pub fn tags(resource: ResourceType, kv: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(resource);
    for (k, v) in kv {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

fn rule_lines(dir: &str, perms: &[IpPermission]) -> Vec<String> {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let ports = if proto == "-1" {
            "all".to_owned()
        } else {
            format!("{}-{}", p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1))
        };
        let line = |peer: String, desc: Option<&str>| format!("{dir} {proto} {ports} {peer} {:?}", desc.unwrap_or(""));
        out.extend(p.ip_ranges().iter().map(|r| line(r.cidr_ip().unwrap().into(), r.description())));
        out.extend(p.ipv6_ranges().iter().map(|r| line(r.cidr_ipv6().unwrap().into(), r.description())));
        out.extend(p.prefix_list_ids().iter().map(|r| line(r.prefix_list_id().unwrap().into(), r.description())));
        out.extend(
            p.user_id_group_pairs().iter().map(|g| line(format!("group {}", g.group_id().unwrap()), g.description())),
        );
    }
    out
}

/// Every IAM action a policy document (`firedrill policy`'s output) allows.
pub fn allowed_actions(policy: &Value) -> std::collections::BTreeSet<String> {
    let statements = policy["Statement"].as_array().expect("a policy has statements");
    statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
        .collect()
}

/// The binary run in `dir` with this machine's environment, touching no account: for
/// commands that need none (`validate`, `schema`, `completions`).
pub fn firedrill_at(dir: &Path, args: &[&str]) -> Out {
    Out::of(Command::new(BIN).args(args).current_dir(dir))
}
