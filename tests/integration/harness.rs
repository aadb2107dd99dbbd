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

fn sdk_config(creds: Credentials) -> aws_config::SdkConfig {
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
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, Some(0), "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
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
        let ec2 = aws_sdk_ec2::Client::new(&sdk_config(creds.clone()));
        Env { state: dir.join(".firedrill"), account, creds, dir, ec2 }
    }

    /// Run the built binary in this test's directory, with only this test's credentials
    /// and the emulator's endpoint in its environment.
    pub fn firedrill(&self, args: &[&str]) -> Out {
        self.firedrill_env(args, &[])
    }

    pub fn firedrill_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", self.creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", self.creds.secret_access_key())
            .env("AWS_SESSION_TOKEN", self.creds.session_token().unwrap_or_default())
            .env("FIREDRILL_STATE", &self.state)
            .stdin(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run firedrill");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
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

    /// Every security group and instance in the account, described: two calls of this
    /// compare equal when nothing changed. Rule ids are left out (AWS assigns them).
    pub async fn world(&self) -> String {
        let mut out = Vec::new();
        let groups = self.ec2.describe_security_groups().send().await.unwrap().security_groups.unwrap_or_default();
        for g in groups {
            let tags: BTreeMap<_, _> = g.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
            out.push(format!("group {} {} {:?}", g.group_id().unwrap(), g.group_name().unwrap(), tags));
            for r in self.rules(g.group_id().unwrap()).await {
                out.push(format!("  {r}"));
            }
        }
        out.extend(self.instance_groups().await.into_iter().map(|(i, g)| format!("instance {i} {g:?}")));
        out.sort();
        out.join("\n")
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
