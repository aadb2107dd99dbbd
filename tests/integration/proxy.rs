//! A fault-injecting HTTP proxy between firedrill and the emulator: the emulator has no
//! error or throttling injection of its own.
//!
//! Plain threads and blocking sockets, so it keeps serving while a test blocks on the
//! firedrill process. Failures are deterministic — throttle or drop every Nth call, fail
//! every call of an action that mentions a given resource, answer late — so tests do not
//! flake (the throttling bucket is the one rule that depends on timing; tests assert only
//! that it throttled something, and that everything completed). Connections stay open
//! from call to call, as AWS's do, except after an injected failure.
//!
//! It also counts calls by action and measures how long the emulator was busy (at least
//! one call outstanding upstream); `GET /__proxy/counts` answers both, and the calls it
//! throttled, as JSON and starts again from zero. `scripts/bench` runs it as a program
//! (`examples/bench_proxy.rs`) to add latency and count every tool's calls.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Rules {
    /// Throttle as AWS does: a token bucket of `capacity` calls refilled at `per_second`;
    /// a call that finds it empty gets `RequestLimitExceeded`.
    pub bucket: Option<Bucket>,
    /// Throttle as AWS does per API: a bucket for each named action (`RevokeSecurityGroupIngress`);
    /// a call that finds its own empty gets its service's throttling error.
    pub api_buckets: BTreeMap<String, Bucket>,
    /// The account's bucket for a whole service (`elasticloadbalancing`, `route53`), which
    /// every call of it draws on as well as its own.
    pub service_buckets: BTreeMap<&'static str, Bucket>,
    /// EC2's resource tokens: for each named action, one per instance a call names.
    pub resource_buckets: BTreeMap<String, Bucket>,
    /// Answers seen, and how many were throttled, per action.
    pub answered: BTreeMap<String, (u64, u64)>,
    /// Fail with this AWS error code every call of `action` whose request mentions `needle`.
    pub fail: Vec<(String, String, String)>,
    /// Close the connection without answering every Nth call.
    pub drop_every: Option<u64>,
    /// Answer every Nth S3 call `503 SlowDown`, as S3 does above a prefix's request rate,
    /// at most this many times: `(N, times)`.
    pub s3_slow_down: Option<(u64, u64)>,
    /// S3 calls seen, and how many were answered `SlowDown`.
    pub s3_calls: (u64, u64),
    /// Every call seen, as the IAM action that authorizes it (`ec2:DescribeInstances`,
    /// `route53:GetChange`, `s3:PutObject`): what a least-privilege policy must allow.
    pub iam_actions: std::collections::BTreeSet<String>,
    /// Answer every call this much later.
    pub delay: Option<std::time::Duration>,
    /// Behave as AWS does where the emulator does not (see [`AwsLike`]).
    pub aws_like: Option<AwsLike>,
    /// Hold the first call of this method whose path contains this text until a second
    /// one has been answered, then send it: a race between two writers made
    /// deterministic (the emulator checks a conditional write, then writes, so two at
    /// once could both pass).
    pub hold_first: Option<(&'static str, String)>,
    race: Race,
    memory: Memory,
}

/// Where the race [`Rules::hold_first`] sets up has got to.
#[derive(Default)]
struct Race {
    /// A first call is held (or was).
    first: bool,
    /// The second call was answered: the first may go.
    answered: bool,
    held: u64,
}

/// A call's part in the race.
#[derive(PartialEq)]
enum Racer {
    First,
    Second,
}

impl Rules {
    /// The part the call with request line `line` plays in the race, if any.
    fn racer(&mut self, line: &str) -> Option<Racer> {
        let (method, needle) = self.hold_first.as_ref()?;
        let (verb, path) = line.split_once(' ')?;
        if verb != *method || !path.contains(needle.as_str()) || self.race.answered {
            return None;
        }
        if self.race.first {
            return Some(Racer::Second);
        }
        self.race.first = true;
        self.race.held += 1;
        Some(Racer::First)
    }
}

/// How AWS behaves where the emulator does not (`../shared/AWS-BEHAVIOUR.md`), each for a
/// window after the change that causes it, kept small so the tests stay quick:
///
/// - reads (`Describe*`, `Get*`, `List*`, REST `GET`) answer as they did before the
///   latest change, for `lag` after it;
/// - `DeleteSecurityGroup` answers `DependencyViolation` for `dependents` after any
///   interface's groups changed (`ModifyNetworkInterfaceAttribute`, `SetSecurityGroups`,
///   instances launched or terminated), and at least once after each such change;
/// - `RunInstances` and `AssociateIamInstanceProfile` answer `InvalidParameterValue:
///   Invalid IAM Instance Profile name` for `profiles` after an instance profile was
///   created or given its role;
/// - Route 53 changes are `PENDING` for `pending` (then `INSYNC`);
/// - an instance stopped less than `stopping` ago is still `stopping`: `DescribeInstances`
///   says so, and starting it answers `IncorrectInstanceState` (and so does its first
///   start after the stop, however late), so each behaviour is met however slowly a busy
///   machine gets there;
/// - an instance launched or started less than `starting` ago is still `pending`.
///
/// Throttling with AWS's documented buckets is [`Rules::aws_buckets`].
#[derive(Clone, Copy, Debug)]
pub struct AwsLike {
    pub lag: Duration,
    pub dependents: Duration,
    pub profiles: Duration,
    pub pending: Duration,
    pub stopping: Duration,
    pub starting: Duration,
}

impl AwsLike {
    /// Windows small enough for the test suite, long enough that every one is met.
    pub fn quick() -> AwsLike {
        let window = Duration::from_millis(700);
        AwsLike {
            lag: Duration::from_millis(300),
            dependents: window,
            profiles: window,
            pending: window,
            stopping: window,
            starting: window,
        }
    }
}

/// What the AWS-like mode remembers: the last answer to each read, and when each kind of
/// change last happened.
#[derive(Default)]
struct Memory {
    /// Each read (its caller's access key, and its body or request line) -> when answered,
    /// and the answer.
    reads: HashMap<String, (Instant, Vec<u8>)>,
    changed: Option<Instant>,
    interfaces_changed: Option<Instant>,
    profile_made: Option<Instant>,
    dns_changed: Option<Instant>,
    /// Each stopped instance: when, and whether a start was refused since.
    stopped: HashMap<String, (Instant, bool)>,
    /// Each instance launched or started: when.
    started: HashMap<String, Instant>,
    /// Whether a group delete is yet to be refused since interfaces last changed.
    dependents_due: bool,
    /// Answers each rule made up, by kind (`stale`, `DependencyViolation`, …).
    made_up: BTreeMap<&'static str, u64>,
}

fn within(at: Option<Instant>, window: Duration) -> bool {
    at.is_some_and(|t| t.elapsed() < window)
}

/// Whether a call only reads.
fn is_read(action: &str) -> bool {
    ["Describe", "Get", "List", "GET "].iter().any(|p| action.starts_with(p))
}

impl Rules {
    /// Throttle as AWS's documented token buckets do (EC2's, Elastic Load Balancing's,
    /// Route 53's; IAM publishes none): per action, per service (the account's buckets for
    /// Elastic Load Balancing and Route 53) and per instance (EC2's resource tokens for
    /// starting, stopping and terminating), per proxy (one account and region).
    pub fn aws_buckets(&mut self) {
        let ec2 = [
            (&["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"][..], 50.0, 5.0),
            (
                &[
                    "ModifyNetworkInterfaceAttribute",
                    "AssociateIamInstanceProfile",
                    "DisassociateIamInstanceProfile",
                    "TerminateInstances",
                ],
                100.0,
                5.0,
            ),
            (&["RunInstances", "StartInstances"], 5.0, 2.0),
            (&["CreateTags"], 100.0, 10.0),
            (
                &[
                    "StopInstances",
                    "RebootInstances",
                    "CreateSecurityGroup",
                    "DeleteSecurityGroup",
                    "AuthorizeSecurityGroupEgress",
                    "RevokeSecurityGroupEgress",
                    "CreateNetworkAcl",
                    "CreateNetworkAclEntry",
                    "DeleteNetworkAcl",
                    "DeleteNetworkAclEntry",
                    "ReplaceNetworkAclAssociation",
                    "CreateRoute",
                    "DeleteRoute",
                    "ReplaceRoute",
                ],
                50.0,
                5.0,
            ),
            (
                &[
                    "DescribeInstances",
                    "DescribeSecurityGroups",
                    "DescribeNetworkInterfaces",
                    "DescribeSubnets",
                    "DescribeVpcs",
                    "DescribeNetworkAcls",
                    "DescribeRouteTables",
                    "DescribeTags",
                    "DescribeImages",
                ],
                100.0,
                20.0,
            ),
            (&["RegisterTargets", "DeregisterTargets"], 20.0, 4.0),
            (&["ModifyTargetGroup", "ModifyListener", "SetSecurityGroups"], 20.0, 3.0),
        ];
        for (actions, capacity, per_second) in ec2 {
            for a in actions {
                self.api_buckets.insert((*a).to_owned(), Bucket::new(capacity, per_second));
            }
        }
        self.service_buckets.insert("elasticloadbalancing", Bucket::new(40.0, 10.0));
        self.service_buckets.insert("route53", Bucket::new(50.0, 10.0));
        for (a, per_second) in
            [("RunInstances", 2.0), ("StartInstances", 2.0), ("StopInstances", 20.0), ("TerminateInstances", 20.0)]
        {
            self.resource_buckets.insert(a.to_owned(), Bucket::new(1000.0, per_second));
        }
    }

    /// Whether a call finds every bucket it draws on with its tokens, taking them only if
    /// so: its action's, its service's, and its instances' resource tokens.
    fn admit(&mut self, action: &str, service: Option<&'static str>, instances: f64) -> bool {
        let mut draws: Vec<(&mut Bucket, f64)> = Vec::new();
        draws.extend(self.bucket.as_mut().map(|b| (b, 1.0)));
        draws.extend(self.api_buckets.get_mut(action).map(|b| (b, 1.0)));
        draws.extend(service.and_then(|s| self.service_buckets.get_mut(s)).map(|b| (b, 1.0)));
        draws.extend(self.resource_buckets.get_mut(action).map(|b| (b, instances.max(1.0))));
        if draws.iter_mut().all(|(b, cost)| b.has(*cost)) {
            draws.into_iter().for_each(|(b, cost)| b.tokens -= cost.min(b.capacity));
            true
        } else {
            false
        }
    }
}

/// The service a call is to, where it has an account-wide bucket: Elastic Load
/// Balancing's query API version, or Route 53's REST paths.
fn service_of(action: &str, text: &str) -> Option<&'static str> {
    if text.contains("Version=2015-12-01") {
        Some("elasticloadbalancing")
    } else if action.contains(" /2013-04-01/") {
        Some("route53")
    } else {
        None
    }
}

impl Rules {
    /// The least time the per-API buckets allow for `calls` (less those `throttled`, which
    /// took no token), each API's from full: its calls past the bucket's capacity at its
    /// refill rate, summed over the APIs, as a tool's phases (the breaks, then the
    /// restores) go one after another. The account-wide and resource buckets are left
    /// out: a lower bound still.
    fn floor(&self, calls: &BTreeMap<String, u64>, throttled: &BTreeMap<String, u64>) -> Duration {
        let seconds: f64 = calls
            .iter()
            .filter_map(|(action, n)| {
                let b = self.api_buckets.get(action)?;
                let answered = n - throttled.get(action).copied().unwrap_or(0);
                Some((answered as f64 - b.capacity).max(0.0) / b.per_second)
            })
            .sum();
        Duration::from_secs_f64(seconds)
    }
}

pub struct Bucket {
    pub capacity: f64,
    pub per_second: f64,
    tokens: f64,
    last: std::time::Instant,
}

impl Bucket {
    pub fn new(capacity: f64, per_second: f64) -> Bucket {
        Bucket { capacity, per_second, tokens: capacity, last: std::time::Instant::now() }
    }

    /// Whether `cost` tokens are there now (a cost over the capacity needs a full bucket).
    fn has(&mut self, cost: f64) -> bool {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second).min(self.capacity);
        self.last = now;
        self.tokens >= cost.min(self.capacity)
    }
}

pub struct Proxy {
    pub endpoint: String,
    rules: Arc<Mutex<Rules>>,
    pub injected: Arc<AtomicU64>,
}

/// Calls by action, and the emulator's busy time: the union of the intervals during
/// which at least one forwarded call was outstanding.
#[derive(Default)]
struct Stats {
    calls: BTreeMap<String, u64>,
    /// Calls answered with a throttling error, by action.
    throttled: BTreeMap<String, u64>,
    in_flight: usize,
    since: Option<std::time::Instant>,
    busy: std::time::Duration,
}

type Counts = Mutex<Stats>;

impl Stats {
    fn enter(counts: &Counts) {
        let mut s = counts.lock().unwrap();
        s.in_flight += 1;
        if s.in_flight == 1 {
            s.since = Some(std::time::Instant::now());
        }
    }

    fn leave(counts: &Counts) {
        let mut s = counts.lock().unwrap();
        s.in_flight -= 1;
        if s.in_flight == 0 {
            let since = s.since.take().expect("entered");
            s.busy += since.elapsed();
        }
    }

    /// `{"busy_ms": .., "calls": {action: n}, "throttled": {action: n}, "floor_ms": ..}`,
    /// and start again from zero. `floor_ms` is the least time the per-API buckets allow
    /// for these calls, had each been answered (`Rules::floor`).
    fn take_json(counts: &Counts, rules: &Mutex<Rules>) -> String {
        let mut s = counts.lock().unwrap();
        let json =
            |m: &BTreeMap<String, u64>| m.iter().map(|(a, n)| format!("\"{a}\":{n}")).collect::<Vec<_>>().join(",");
        let (calls, throttled) = (std::mem::take(&mut s.calls), std::mem::take(&mut s.throttled));
        let busy = std::mem::take(&mut s.busy);
        let floor = rules.lock().unwrap().floor(&calls, &throttled);
        format!(
            "{{\"busy_ms\":{:.3},\"calls\":{{{}}},\"throttled\":{{{}}},\"floor_ms\":{:.0}}}",
            busy.as_secs_f64() * 1000.0,
            json(&calls),
            json(&throttled),
            floor.as_secs_f64() * 1000.0
        )
    }
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let rules = Arc::new(Mutex::new(Rules::default()));
        let injected = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let counts = Arc::new(Counts::default());
        let (r, i) = (rules.clone(), injected.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, i, c, up) = (r.clone(), i.clone(), calls.clone(), upstream.clone());
                let counts = counts.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, &up, &r, &i, &c, &counts);
                });
            }
        });
        Proxy { endpoint, rules, injected }
    }

    pub fn set(&self, f: impl FnOnce(&mut Rules)) {
        f(&mut self.rules.lock().unwrap());
    }

    /// S3 calls seen, and how many were answered `SlowDown` ([`Rules::s3_slow_down`]).
    pub fn s3_calls(&self) -> (u64, u64) {
        self.rules.lock().unwrap().s3_calls
    }

    /// The IAM actions of the calls seen since the last time asked ([`Rules::iam_actions`]).
    pub fn take_iam_actions(&self) -> std::collections::BTreeSet<String> {
        std::mem::take(&mut self.rules.lock().unwrap().iam_actions)
    }

    /// How many calls the race of [`Rules::hold_first`] held.
    pub fn held(&self) -> u64 {
        self.rules.lock().unwrap().race.held
    }

    /// Answers and throttled answers so far, per action.
    pub fn answered(&self) -> BTreeMap<String, (u64, u64)> {
        self.rules.lock().unwrap().answered.clone()
    }

    /// How many answers the AWS-like mode made up, by kind (`stale`, an error code,
    /// `PENDING`, `instance stopping`, `instance pending`).
    pub fn made_up(&self) -> BTreeMap<&'static str, u64> {
        self.rules.lock().unwrap().memory.made_up.clone()
    }

    /// Calls by action since the last time asked (`GET /__proxy/counts`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut s = TcpStream::connect(self.endpoint.trim_start_matches("http://")).unwrap();
        s.write_all(b"GET /__proxy/counts HTTP/1.1\r\nHost: proxy\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").expect("an HTTP answer").1;
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["calls"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rules: &Mutex<Rules>,
    injected: &AtomicU64,
    calls: &AtomicU64,
    counts: &Counts,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    // One call after another on the client's connection, as AWS's endpoints allow: the
    // SDKs keep connections open, and a proxy that closed each would charge every call
    // a connection set-up the tool does not pay against AWS.
    while let Some(head) = read_head(&mut reader)? {
        if !serve_one(&mut client, &mut reader, head, upstream, rules, injected, calls, counts)? {
            break;
        }
    }
    Ok(())
}

/// A request's line and headers, or `None` at the end of the connection.
fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Ok(Some(head));
        }
    }
}

/// Answer one call; whether the connection stays open for another.
#[allow(clippy::too_many_arguments)]
fn serve_one(
    client: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    head: String,
    upstream: &str,
    rules: &Mutex<Rules>,
    injected: &AtomicU64,
    calls: &AtomicU64,
    counts: &Counts,
) -> std::io::Result<bool> {
    if head.starts_with("GET /__proxy/counts ") {
        let json = Stats::take_json(counts, rules);
        write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )?;
        client.flush()?;
        return Ok(false);
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let text = String::from_utf8_lossy(&body).into_owned();
    // The query protocols' `Action=`, the JSON protocols' operation (DynamoDB, ECS: every
    // call is a `POST /`, reads too), else the REST request line (`GET ...` is a read).
    let action = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .or_else(|| json_operation(&head))
        .map(str::to_owned)
        .unwrap_or_else(|| head.lines().next().unwrap_or_default().to_owned());
    *counts.lock().unwrap().calls.entry(action.clone()).or_default() += 1;
    let iam =
        iam_action(&head, &text).unwrap_or_else(|| format!("unknown:{}", head.lines().next().unwrap_or_default()));
    rules.lock().unwrap().iam_actions.insert(iam);
    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
    let (drop, delay) = {
        let rules = rules.lock().unwrap();
        (rules.drop_every.is_some_and(|k| n.is_multiple_of(k)), rules.delay)
    };
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    if drop {
        injected.fetch_add(1, Ordering::SeqCst);
        return Ok(false); // the connection closes with no answer
    }
    if head.contains("/s3/aws4_request") {
        let slow_down = {
            let mut r = rules.lock().unwrap();
            r.s3_calls.0 += 1;
            let due = r.s3_slow_down.is_some_and(|(k, times)| r.s3_calls.0.is_multiple_of(k) && r.s3_calls.1 < times);
            r.s3_calls.1 += u64::from(due);
            due
        };
        if slow_down {
            injected.fetch_add(1, Ordering::SeqCst);
            let xml = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            write!(
                client,
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            )?;
            client.flush()?;
            return Ok(false);
        }
    }
    let ec2 = text.contains("Version=2016-11-15");
    let verdict = {
        let mut rules = rules.lock().unwrap();
        let instances = instance_ids(&text)
            .count()
            .max(text.split('&').find_map(|kv| kv.strip_prefix("MaxCount=")).and_then(|n| n.parse().ok()).unwrap_or(0));
        let empty = !rules.admit(&action, service_of(&action, &text), instances as f64);
        let seen = rules.answered.entry(action.clone()).or_default();
        seen.0 += 1;
        seen.1 += u64::from(empty);
        if empty {
            *counts.lock().unwrap().throttled.entry(action.clone()).or_default() += 1;
        }
        // EC2 answers 503 RequestLimitExceeded; the query services 400 Throttling.
        let throttled = empty.then(|| match ec2 {
            true => (503, "RequestLimitExceeded".to_owned(), "Request limit exceeded.".to_owned()),
            false => (400, "Throttling".to_owned(), "Rate exceeded".to_owned()),
        });
        throttled
            .or_else(|| {
                rules
                    .fail
                    .iter()
                    .find(|(a, needle, _)| {
                        *a == action && (text.contains(needle.as_str()) || head.contains(needle.as_str()))
                    })
                    .map(|(_, _, code)| (400, code.clone(), "Injected by the test proxy.".to_owned()))
            })
            .or_else(|| not_yet(&mut rules, &action, &text))
    };
    if let Some((status, code, message)) = verdict {
        injected.fetch_add(1, Ordering::SeqCst);
        // EC2's error shape; the query services' (IAM, ELB, Auto Scaling) otherwise.
        let xml = if ec2 {
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
            )
        } else {
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
            )
        };
        let reason = if status == 503 { "Service Unavailable" } else { "Bad Request" };
        write!(
            client,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        client.flush()?;
        return Ok(false);
    }
    // A read is the same read when the same caller (access key) asks the same thing of
    // the same operation: JSON-protocol bodies name no operation (ECS's `ListClusters`
    // and DynamoDB's `ListTables` are both `{}`).
    let caller = head.split("Credential=").nth(1).and_then(|c| c.split('/').next()).unwrap_or_default();
    let asked = if text.is_empty() { head.lines().next().unwrap_or_default() } else { text.as_str() };
    let request = format!("{caller} {action} {asked}");
    if let Some(stale) = stale(&mut rules.lock().unwrap(), &action, &request) {
        let (response, open) = keep_open(stale);
        client.write_all(&response)?;
        client.flush()?;
        return Ok(open);
    }
    let racer = rules.lock().unwrap().racer(head.lines().next().unwrap_or_default());
    if racer == Some(Racer::First) {
        let until = Instant::now() + Duration::from_secs(20);
        while !rules.lock().unwrap().race.answered && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Forward as is, asking the emulator to close so the response ends at EOF.
    Stats::enter(counts);
    let forwarded = forward(&head, &body, upstream);
    Stats::leave(counts);
    if racer == Some(Racer::Second) {
        rules.lock().unwrap().race.answered = true;
    }
    let forwarded = remember(&mut rules.lock().unwrap(), &action, &text, request, forwarded?);
    let (response, open) = keep_open(forwarded);
    client.write_all(&response)?;
    client.flush()?;
    Ok(open)
}

/// The AWS-like mode's "not yet" error for this call, if it has one.
fn not_yet(rules: &mut Rules, action: &str, text: &str) -> Option<(u16, String, String)> {
    let like = rules.aws_like?;
    let m = &mut rules.memory;
    // A group delete within the window after interfaces changed is refused, and the first
    // one after each change however late: each behaviour is met however slowly a busy
    // machine gets there.
    let dependents = within(m.interfaces_changed, like.dependents) || m.dependents_due;
    // Likewise an instance's start within the window after its stop, and its first start
    // after it (it is still stopping).
    let ids: Vec<&str> = instance_ids(text).collect();
    let stopping = action == "StartInstances"
        && ids.iter().any(|id| m.stopped.get(*id).is_some_and(|(t, refused)| !refused || t.elapsed() < like.stopping));
    let (code, message) = match action {
        "DeleteSecurityGroup" if dependents => {
            m.dependents_due = false;
            ("DependencyViolation", "resource has a dependent object")
        }
        "RunInstances" | "AssociateIamInstanceProfile" if within(m.profile_made, like.profiles) => (
            "InvalidParameterValue",
            "Value (firedrill) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
        ),
        "StartInstances" if stopping => {
            for id in &ids {
                if let Some((_, refused)) = m.stopped.get_mut(*id) {
                    *refused = true;
                }
            }
            ("IncorrectInstanceState", "The instance is not in a state from which it can be started.")
        }
        _ => return None,
    };
    *m.made_up.entry(code).or_default() += 1;
    Some((400, code.to_owned(), message.to_owned()))
}

/// The answer a read gave before the latest change, while the change is within `lag`.
fn stale(rules: &mut Rules, action: &str, request: &str) -> Option<Vec<u8>> {
    let like = rules.aws_like?;
    let m = &mut rules.memory;
    let changed = m.changed.filter(|t| t.elapsed() < like.lag)?;
    if !is_read(action) {
        return None;
    }
    let (at, answer) = m.reads.get(request)?;
    if *at >= changed {
        return None;
    }
    let answer = answer.clone();
    *m.made_up.entry("stale").or_default() += 1;
    Some(answer)
}

/// Note what a forwarded call changed, remember a read's answer, and answer a Route 53
/// change `PENDING` while it is new.
fn remember(rules: &mut Rules, action: &str, text: &str, request: String, answer: Vec<u8>) -> Vec<u8> {
    let Some(like) = rules.aws_like else { return answer };
    let m = &mut rules.memory;
    let now = Instant::now();
    if is_read(action) {
        if answer.starts_with(b"HTTP/1.1 200") {
            m.reads.insert(request, (now, answer.clone()));
        }
    } else if !matches!(action, "AssumeRole" | "AssumeRoleWithWebIdentity") {
        m.changed = Some(now);
    }
    match action {
        "ModifyNetworkInterfaceAttribute"
        | "SetSecurityGroups"
        | "RunInstances"
        | "TerminateInstances"
        | "DeleteLoadBalancer" => {
            m.interfaces_changed = Some(now);
            m.dependents_due = true;
            if action == "RunInstances" {
                let launched = String::from_utf8_lossy(&answer);
                m.started.extend(tag_values(&launched, "instanceId").into_iter().map(|id| (id.to_owned(), now)));
            }
        }
        "CreateInstanceProfile" | "AddRoleToInstanceProfile" => m.profile_made = Some(now),
        "StopInstances" => m.stopped.extend(instance_ids(text).map(|id| (id.to_owned(), (now, false)))),
        "StartInstances" => m.started.extend(instance_ids(text).map(|id| (id.to_owned(), now))),
        "DescribeInstances" => return between_states(m, like, answer),
        a if a.starts_with("POST ") && a.contains("/rrset") => m.dns_changed = Some(now),
        _ => {}
    }
    let dns =
        action.starts_with("GET /2013-04-01/change/") || (action.starts_with("POST ") && action.contains("/rrset"));
    if dns && within(m.dns_changed, like.pending) {
        let text = String::from_utf8_lossy(&answer);
        if text.contains("<Status>INSYNC</Status>") {
            *m.made_up.entry("PENDING").or_default() += 1;
            return text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>").into_bytes();
        }
    }
    answer
}

/// A `DescribeInstances` answer with each instance that changed state within its window
/// shown on its way: `stopping` for `stopped`, `pending` for `running`.
fn between_states(m: &mut Memory, like: AwsLike, answer: Vec<u8>) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(&answer).into_owned();
    let mut shown = Vec::new();
    for (id, (at, _)) in m.stopped.iter().filter(|(_, (t, _))| t.elapsed() < like.stopping) {
        shown.push((id.clone(), *at, "stopped", (64, "stopping")));
    }
    for (id, at) in m.started.iter().filter(|(_, t)| t.elapsed() < like.starting) {
        shown.push((id.clone(), *at, "running", (0, "pending")));
    }
    // The latest change of each instance says what it is on its way to.
    shown.sort_by_key(|(id, at, ..)| (id.clone(), std::cmp::Reverse(*at)));
    shown.dedup_by(|a, b| a.0 == b.0);
    for (id, _, from, (code, to)) in shown {
        let Some(item) = text.find(&format!("<instanceId>{id}</instanceId>")) else { continue };
        let Some(start) = text[item..].find("<instanceState>").map(|i| i + item) else { continue };
        let Some(end) = text[start..].find("</instanceState>").map(|i| i + start + "</instanceState>".len()) else {
            continue;
        };
        if text[start..end].contains(&format!("<name>{from}</name>")) {
            let state = format!("<instanceState><code>{code}</code><name>{to}</name></instanceState>");
            text.replace_range(start..end, &state);
            *m.made_up.entry(if to == "stopping" { "instance stopping" } else { "instance pending" }).or_default() += 1;
        }
    }
    text.into_bytes()
}

/// The text of each `<tag>` element of an XML answer.
fn tag_values<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str()).skip(1).filter_map(|rest| rest.split_once(close.as_str()).map(|(v, _)| v)).collect()
}

/// The instance ids of an EC2 query request (`InstanceId.1=i-…`).
fn instance_ids(text: &str) -> impl Iterator<Item = &str> {
    text.split('&').filter_map(|kv| kv.split_once('=')).filter(|(k, _)| k.starts_with("InstanceId.")).map(|(_, v)| v)
}

/// The emulator's answer (ended by EOF) framed to leave the client's connection open:
/// its `Connection` header dropped and its length given. Unchanged, and the connection
/// closed after it, if its framing is not a plain body.
fn keep_open(response: Vec<u8>) -> (Vec<u8>, bool) {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (response, false);
    };
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = &response[split + 4..];
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding:") {
        return (response, false);
    }
    let mut out: String = head
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("connection:") && !l.starts_with("content-length:")
        })
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut framed = out.into_bytes();
    framed.extend_from_slice(body);
    (framed, true)
}

/// Send the request upstream and read the whole response.
fn forward(head: &str, body: &[u8], upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .trim_end()
        .to_owned();
    write!(up, "{head}\r\nConnection: close\r\n\r\n")?;
    up.write_all(body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(response)
}

/// The IAM action that authorizes a call: its service from the SigV4 credential scope,
/// its operation from `Action=` (EC2, IAM, STS, Auto Scaling, ELB: query protocols), from
/// `/operation/X` (CloudWatch's RPC v2), or from the method and path (Route 53 and S3:
/// REST). `None` for a call the mapping does not know: recorded as `unknown:` with its
/// request line, which a test then names.
pub fn iam_action(head: &str, body: &str) -> Option<String> {
    let scope = head.lines().find_map(|l| l.split_once("Credential=")).map(|(_, c)| c)?;
    let service = scope.split(['/', ',']).nth(3)?;
    let (method, target) = head.lines().next()?.split_once(' ')?;
    let target = target.rsplit_once(' ').map_or(target, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let prefix = match service {
        "monitoring" => "cloudwatch",
        other => other,
    };
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return Some(format!("{prefix}:{action}"));
    }
    if let Some((_, op)) = path.split_once("/operation/") {
        return Some(format!("{prefix}:{op}"));
    }
    if let Some(op) = json_operation(head) {
        return Some(format!("{prefix}:{op}"));
    }
    let op = match service {
        "route53" => route53_operation(method, path)?,
        "s3" => s3_operation(method, path, query)?,
        "lambda" => lambda_operation(method, path)?,
        // API Gateway's IAM actions are the HTTP methods.
        "apigateway" => return Some(format!("apigateway:{method}")),
        _ => return None,
    };
    Some(format!("{prefix}:{op}"))
}

/// A JSON-protocol call's operation (DynamoDB, ECS): `X-Amz-Target: <service>.<Operation>`.
fn json_operation(head: &str) -> Option<&str> {
    let target = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("x-amz-target").then(|| value.trim())
    })?;
    target.rsplit_once('.').map(|(_, op)| op)
}

fn lambda_operation(method: &str, path: &str) -> Option<&'static str> {
    // `/<api version>/...`: the version differs by operation, the rest names it.
    let parts: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    Some(match (method, parts.as_slice()) {
        ("GET", ["functions"]) => "ListFunctions",
        ("POST", ["functions"]) => "CreateFunction",
        ("DELETE", ["functions", _]) => "DeleteFunction",
        ("GET", ["functions", _]) => "GetFunction",
        ("GET", ["tags", ..]) => "ListTags",
        ("GET", ["functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("PUT", ["functions", _, "concurrency"]) => "PutFunctionConcurrency",
        ("DELETE", ["functions", _, "concurrency"]) => "DeleteFunctionConcurrency",
        ("GET", ["functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", ["functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("GET", ["functions", _, "policy"]) => "GetPolicy",
        ("POST", ["functions", _, "policy"]) => "AddPermission",
        ("DELETE", ["functions", _, "policy", _]) => "RemovePermission",
        _ => return None,
    })
}

fn route53_operation(method: &str, path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_start_matches("/2013-04-01/").trim_end_matches('/').split('/').collect();
    Some(match (method, parts.as_slice()) {
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        ("GET", ["healthcheck"]) => "ListHealthChecks",
        ("POST", ["healthcheck"]) => "CreateHealthCheck",
        ("GET", ["healthcheck", _]) => "GetHealthCheck",
        ("POST", ["healthcheck", _]) => "UpdateHealthCheck",
        ("DELETE", ["healthcheck", _]) => "DeleteHealthCheck",
        ("GET", ["tags", _, _]) => "ListTagsForResource",
        ("POST", ["tags", _, _]) => "ChangeTagsForResource",
        ("POST", ["tags", _]) => "ListTagsForResources",
        _ => return None,
    })
}

fn s3_operation(method: &str, path: &str, query: &str) -> Option<&'static str> {
    // Path-style (`/bucket/key`), as firedrill addresses a loopback endpoint.
    let object = path.trim_start_matches('/').split_once('/').is_some_and(|(_, key)| !key.is_empty());
    let has = |q: &str| query.split('&').any(|kv| kv == q || kv.starts_with(&format!("{q}=")));
    let root = path.trim_matches('/').is_empty();
    Some(match (method, object) {
        ("GET", false) if root => "ListAllMyBuckets",
        ("GET", false) if has("policy") => "GetBucketPolicy",
        ("PUT", false) if has("policy") => "PutBucketPolicy",
        ("DELETE", false) if has("policy") => "DeleteBucketPolicy",
        ("GET", false) if has("tagging") => "GetBucketTagging",
        ("GET", false) if has("versioning") => "GetBucketVersioning",
        ("GET", false) if has("versions") => "ListBucketVersions",
        ("GET" | "HEAD", true) if has("versionId") => "GetObjectVersion",
        ("DELETE", true) if has("versionId") => "DeleteObjectVersion",
        ("GET", false) if has("location") => "GetBucketLocation",
        ("GET" | "HEAD", false) => "ListBucket",
        ("POST", false) if has("delete") => "DeleteObject",
        ("GET" | "HEAD", true) => "GetObject",
        ("PUT", true) => "PutObject",
        ("DELETE", true) => "DeleteObject",
        _ => return None,
    })
}
