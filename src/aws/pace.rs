//! Pacing to the account's limits. AWS throttles each API with a token bucket per
//! account and region (EC2's `RevokeSecurityGroupIngress`: 50 calls at once, then 5 a
//! second); a tool that drains one fails its own calls and throttles the team's
//! automation in that account too. So every AWS call of a command goes through one
//! [`Pacer`] for its account and region, which keeps a token bucket per API:
//!
//! - **Seeded with AWS's documented capacities** ([`documented`]) when the calls go to
//!   AWS (or `FIREDRILL_LIMITS=aws` says to act as if they did), scaled by `--api-share`
//!   (default 50%: the other half stays for the team's own automation). A call also
//!   draws on the buckets AWS documents beyond its API's ([`also_draws_on`]): the
//!   account's bucket for the whole service (Elastic Load Balancing's 40 / 10, Route 53's
//!   50 / 10), and EC2's resource tokens, one per instance a call starts, stops or
//!   terminates (`StartInstances` of 1000 instances takes 1000 of its 1000 / 2).
//! - **Adapting**: a throttled answer cuts that API's rate to 70% (an account whose limits are
//!   lower than documented, or whose bucket something else is draining); each answer
//!   that is not throttled raises it back by 2%, never past the seed. Against an
//!   endpoint that is not AWS (the emulator) nothing is seeded: an API is paced only once
//!   it has been throttled, from 70% of the rate it was being called at. Seeded buckets aim
//!   at 95% of the share, as calls reach AWS a little unevenly.
//! - **Bounded by a deadline** (`--deadline`, default 15 minutes for the command): a call
//!   waits for its turn and a throttled one is tried again until then, never failed
//!   after a fixed number of attempts; past the deadline calls fail at once, so the run
//!   is left as it was last journaled, revertible.
//!
//! The pacer sits in the HTTP connector every SDK client uses, so it sees every attempt,
//! the SDK's own retries included, and no call site has to remember it. Each change in
//! pace is logged at debug level (`-v`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

// tokio's clock: the same as std's, but tests can pause it.
use tokio::time::Instant;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// How this command paces itself: from `--api-share` and `--deadline`.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// The share of each documented bucket firedrill may use, in (0, 1].
    pub share: f64,
    /// When the command's AWS calls stop waiting and fail.
    pub deadline: Instant,
    /// Seed the buckets with AWS's documented limits.
    pub seeded: bool,
}

/// When this process's commands stop waiting: set by the first client built (the
/// command's start), the same for every client of the command.
pub fn deadline(after: Duration) -> Instant {
    *DEADLINE.get_or_init(|| Instant::now() + after)
}

/// The command's deadline, once a client has been built.
pub fn command_deadline() -> Option<Instant> {
    DEADLINE.get().copied()
}

static DEADLINE: OnceLock<Instant> = OnceLock::new();

/// The pacer for a scope (an account and region, as far as a client knows before its
/// first call: the region and how its credentials are obtained), shared by every client
/// of the command for that scope.
pub fn pacer(scope: &str, pacing: Pacing) -> Arc<Pacer> {
    static PACERS: OnceLock<Mutex<HashMap<String, Arc<Pacer>>>> = OnceLock::new();
    let mut pacers = PACERS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    pacers.entry(scope.to_owned()).or_insert_with(|| Arc::new(Pacer::new(pacing))).clone()
}

/// Token buckets per API, for one account and region.
#[derive(Debug)]
pub struct Pacer {
    pacing: Pacing,
    apis: Mutex<HashMap<String, Api>>,
}

/// What the pacer knows of one API.
#[derive(Debug)]
struct Api {
    /// The most it may use: the documented bucket times the share (None: not seeded).
    ceiling: Option<Limit>,
    /// Where it is now: `None` while unpaced (not seeded, never throttled).
    bucket: Option<Bucket>,
    /// When its recent calls were sent (the last second), to know its rate when first
    /// throttled.
    sent: VecDeque<Instant>,
    throttled: u64,
}

/// One API's request limit: a bucket of `capacity` tokens refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub capacity: f64,
    pub per_second: f64,
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(limit: Limit) -> Bucket {
        Bucket { limit, tokens: limit.capacity, at: Instant::now() }
    }

    /// Take a token now, or say how long until there is one.
    #[cfg(test)]
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.ready(now, 1.0)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether `cost` tokens are there now (refilled up to now), or how long until they
    /// are. A cost over the capacity waits for a full bucket and takes all of it.
    fn ready(&mut self, now: Instant, cost: f64) -> Result<(), Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * self.limit.per_second;
        self.tokens = (self.tokens + refill).min(self.limit.capacity);
        self.at = now;
        let cost = cost.min(self.limit.capacity);
        if self.tokens >= cost {
            return Ok(());
        }
        Err(Duration::from_secs_f64((cost - self.tokens) / self.limit.per_second))
    }

    fn spend(&mut self, cost: f64) {
        self.tokens -= cost.min(self.limit.capacity);
    }
}

/// The slowest an API is ever paced to, however often it is throttled.
const FLOOR: f64 = 0.2;

/// The part of its share of a bucket firedrill aims at. Calls reach AWS a little
/// unevenly (a 50 ms round trip, calls in flight), so pacing at exactly the bucket's
/// capacity and refill rate meets an empty bucket now and then: at `--api-share 100`
/// against EC2's 50 / 5 this left 2 of 209 calls throttled and the wall at 1.66× the
/// floor, each throttle costing the ramp back up. What absorbs the unevenness is the
/// burst firedrill leaves unused (`BURST_MARGIN`: 2.5 of EC2's 50 tokens, kept from then
/// on because the rate never exceeds the refill); the rate needs only to stay under the
/// refill (`RATE_MARGIN`), and every point of it below costs wall time.
const BURST_MARGIN: f64 = 0.95;
const RATE_MARGIN: f64 = 0.99;

/// What a throttle does to an API's pace (times the rate it was paced at), and what each
/// answer that is not throttled does until it is back at its ceiling.
const BACK_OFF: f64 = 0.7;
const RAMP_UP: f64 = 1.02;

impl Pacer {
    fn new(pacing: Pacing) -> Pacer {
        Pacer { pacing, apis: Mutex::new(HashMap::new()) }
    }

    fn api<'a>(&self, apis: &'a mut HashMap<String, Api>, name: &str) -> &'a mut Api {
        apis.entry(name.to_owned()).or_insert_with(|| {
            // A resource bucket is spent a whole call's instances at a time (100), far more
            // than calls' unevenness: it needs no burst left over, and 5% of 1000 instances
            // to start would cost 25 s at 2 a second.
            let burst = if name.ends_with(RESOURCES) { 1.0 } else { BURST_MARGIN };
            // S3's limits are the state store's, known wherever it is: a `SlowDown` then
            // eases the pace a little instead of dropping it to the calls of the last
            // second (a store makes a few calls a second; the SDK's backoff does the rest).
            let known = self.pacing.seeded || name.starts_with("s3:");
            let ceiling = known.then(|| documented(name)).flatten().map(|l| Limit {
                capacity: (l.capacity * self.pacing.share * burst).max(1.0),
                per_second: l.per_second * self.pacing.share * RATE_MARGIN,
            });
            Api { bucket: ceiling.map(Bucket::full), ceiling, sent: VecDeque::new(), throttled: 0 }
        })
    }

    /// Wait for `api`'s turn (`body`: the request's, for the instances it names); an
    /// error once the deadline has passed. The call goes when every bucket it draws on has
    /// its tokens, and only then takes them, so a wait on one wastes none of another.
    pub async fn acquire(&self, api: &str, body: &[u8]) -> Result<(), ConnectorError> {
        let mut draws = vec![(api.to_owned(), 1.0)];
        if self.pacing.seeded {
            draws.extend(also_draws_on(api, body));
        }
        loop {
            let now = Instant::now();
            if now >= self.pacing.deadline {
                return Err(ConnectorError::user(
                    format!("the command's deadline (--deadline) passed before {api} could be called").into(),
                ));
            }
            let wait = self.take(&draws, now);
            match wait {
                Ok(()) => return Ok(()),
                Err(wait) => tokio::time::sleep(wait.min(self.pacing.deadline.saturating_duration_since(now))).await,
            }
        }
    }

    /// Take the tokens of every bucket in `draws` (the call's API's first, with what each
    /// costs), if all have them at `now`; otherwise take none and say how long until all
    /// might.
    fn take(&self, draws: &[(String, f64)], now: Instant) -> Result<(), Duration> {
        let api = draws[0].0.as_str();
        let mut apis = self.apis.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Ok(());
        for (key, cost) in draws {
            if let Some(b) = self.api(&mut apis, key).bucket.as_mut()
                && let Err(w) = b.ready(now, *cost)
            {
                wait = Err(wait.err().map_or(w, |before: Duration| before.max(w)));
            }
        }
        wait?;
        for (key, cost) in draws {
            if let Some(b) = self.api(&mut apis, key).bucket.as_mut() {
                b.spend(*cost);
            }
        }
        let a = self.api(&mut apis, api);
        a.sent.push_back(now);
        while a.sent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1)) {
            a.sent.pop_front();
        }
        Ok(())
    }

    /// What `api`'s answer says of its pace.
    pub fn answered(&self, api: &str, throttled: bool) {
        let mut apis = self.apis.lock().unwrap_or_else(|e| e.into_inner());
        let a = self.api(&mut apis, api);
        if throttled {
            a.throttled += 1;
            let now_rate = a.bucket.as_ref().map(|b| b.limit.per_second).unwrap_or(a.sent.len() as f64);
            let per_second = (now_rate * BACK_OFF).max(FLOOR);
            let limit = Limit { capacity: per_second.max(1.0), per_second };
            tracing::debug!(api, per_second, throttled = a.throttled, "throttled: pacing down");
            a.bucket = Some(Bucket { limit, tokens: 0.0, at: Instant::now() });
        } else if let Some(b) = a.bucket.as_mut() {
            let raised = b.limit.per_second * RAMP_UP;
            let top = a.ceiling.map_or(f64::INFINITY, |c| c.per_second);
            if b.limit.per_second < top {
                b.limit.per_second = raised.min(top);
                b.limit.capacity =
                    a.ceiling.map_or(b.limit.per_second.max(1.0), |c| c.capacity.min(b.limit.per_second.max(1.0)));
                if b.limit.per_second >= top {
                    tracing::debug!(api, per_second = top, "back at its full pace");
                }
            }
        }
    }

    /// Throttled answers so far, per API.
    pub fn throttled(&self) -> Vec<(String, u64)> {
        let apis = self.apis.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, u64)> =
            apis.iter().filter(|(_, a)| a.throttled > 0).map(|(k, a)| (k.clone(), a.throttled)).collect();
        out.sort();
        out
    }
}

/// AWS's documented bucket for an API (`service:Action`), where it publishes one (EC2,
/// Elastic Load Balancing, Route 53, STS, CloudWatch, S3 per prefix); `None` for the others (IAM, Auto
/// Scaling publish none): those are paced only once throttled. See
/// `../shared/AWS-BEHAVIOUR.md` for the sources.
pub fn documented(api: &str) -> Option<Limit> {
    let (service, action) = api.split_once(':').unwrap_or((api, ""));
    let l = |capacity: f64, per_second: f64| Some(Limit { capacity, per_second });
    match service {
        "ec2" => match action {
            a if a.ends_with(RESOURCES) => match a.trim_end_matches(RESOURCES) {
                "RunInstances" | "StartInstances" => l(1000.0, 2.0),
                _ => l(1000.0, 20.0),
            },
            "AuthorizeSecurityGroupIngress" | "RevokeSecurityGroupIngress" => l(50.0, 5.0),
            "ModifyNetworkInterfaceAttribute"
            | "AssociateIamInstanceProfile"
            | "DisassociateIamInstanceProfile"
            | "TerminateInstances" => l(100.0, 5.0),
            "RunInstances" | "StartInstances" => l(5.0, 2.0),
            "CreateTags" => l(100.0, 10.0),
            // Unfiltered, unpaginated forms have a smaller bucket: pace to that one.
            "DescribeInstances" | "DescribeSecurityGroups" | "DescribeNetworkInterfaces" => l(50.0, 10.0),
            a if a.starts_with("Describe") || a.starts_with("Get") || a.starts_with("List") => l(100.0, 20.0),
            _ => l(50.0, 5.0),
        },
        "elasticloadbalancing" => match action {
            ACCOUNT => l(40.0, 10.0),
            "RegisterTargets" | "DeregisterTargets" => l(20.0, 4.0),
            a if a.starts_with("Describe") => l(40.0, 10.0),
            _ => l(20.0, 3.0),
        },
        // The account's bucket, and each action's (documented as existing, not sized):
        // pace each to the account's.
        "route53" => l(50.0, 10.0),
        "sts" => l(600.0, 600.0),
        "monitoring" if action == "DescribeAlarms" => l(9.0, 9.0),
        // Per prefix: 3,500 writes and 5,500 reads a second, `503 SlowDown` above.
        "s3" if action.starts_with("GET") || action.starts_with("HEAD") => l(5500.0, 5500.0),
        "s3" => l(3500.0, 3500.0),
        _ => None,
    }
}

/// The action of the bucket a service's every call draws on (`elasticloadbalancing:*`).
const ACCOUNT: &str = "*";

/// The suffix of an EC2 API's resource bucket (`ec2:StartInstances#instances`).
const RESOURCES: &str = "#instances";

/// The buckets other than its own that a call on `api` draws on, each with its cost: the
/// service's account-wide bucket (Elastic Load Balancing, Route 53), and for the EC2
/// calls that start, stop or terminate instances a resource token per instance its
/// `body` names (`ec2:StartInstances#instances`). Only those calls' bodies are read.
pub fn also_draws_on(api: &str, body: &[u8]) -> Vec<(String, f64)> {
    let (service, action) = api.split_once(':').unwrap_or((api, ""));
    match service {
        "elasticloadbalancing" | "route53" => vec![(format!("{service}:{ACCOUNT}"), 1.0)],
        "ec2" if matches!(action, "RunInstances" | "StartInstances" | "StopInstances" | "TerminateInstances") => {
            vec![(format!("{api}{RESOURCES}"), resources_of(body))]
        }
        _ => Vec::new(),
    }
}

/// How many instances an EC2 request starts, stops or terminates: its `InstanceId.N`
/// parameters, or a launch's `MaxCount`.
pub fn resources_of(body: &[u8]) -> f64 {
    let Ok(body) = std::str::from_utf8(body) else { return 1.0 };
    let mut ids = 0usize;
    for kv in body.split('&') {
        if kv.starts_with("InstanceId.") {
            ids += 1;
        } else if let Some(n) = kv.strip_prefix("MaxCount=") {
            return n.parse().unwrap_or(1.0);
        }
    }
    ids.max(1) as f64
}

/// The API a request calls: the service from its signature's credential scope, the
/// action from a query protocol's `Action=`, or for REST (Route 53) the method and path
/// with its ids left out.
pub fn api_of(request: &HttpRequest) -> String {
    let service = request
        .headers()
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("aws")
        .to_owned();
    let body = request.body().bytes().unwrap_or_default();
    let action = std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("Action=")))
        .map(str::to_owned);
    let action = action.unwrap_or_else(|| {
        let path = request.uri().split('?').next().unwrap_or_default();
        let path = path.split("://").nth(1).map_or(path, |rest| rest.find('/').map_or("", |i| &rest[i..]));
        // `/2013-04-01/hostedzone/Z123/rrset` -> `/2013-04-01/hostedzone/*/rrset`
        let shape: Vec<&str> =
            path.split('/').enumerate().map(|(i, s)| if i >= 3 && i % 2 == 1 { "*" } else { s }).collect();
        format!("{} {}", request.method(), shape.join("/"))
    });
    format!("{service}:{action}")
}

/// Whether an answer is a throttling error, from its status and (small) body.
fn is_throttle(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 400 | 429 | 503) {
        return false;
    }
    let text = String::from_utf8_lossy(body);
    [
        "RequestLimitExceeded",
        "<Code>Throttling</Code>",
        "ThrottlingException",
        "RateExceeded",
        "Rate exceeded",
        "SlowDown",
        "TooManyRequests",
    ]
    .iter()
    .any(|c| text.contains(c))
}

/// The HTTP client every SDK client of a scope uses: the real one, behind the pacer.
#[derive(Debug)]
pub struct Paced {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl Paced {
    /// The SDK's HTTP client, wrapped so every request waits its turn with `pacer`.
    pub fn client(inner: SharedHttpClient, pacer: Arc<Pacer>) -> SharedHttpClient {
        SharedHttpClient::new(Paced { inner, pacer })
    }
}

impl HttpClient for Paced {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(PacedConnector { inner, pacer: self.pacer.clone() })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pacer) = (self.inner.clone(), self.pacer.clone());
        HttpConnectorFuture::new(async move {
            let api = api_of(&request);
            pacer.acquire(&api, request.body().bytes().unwrap_or_default()).await?;
            let mut response: HttpResponse = inner.call(request).await?;
            let status = response.status().as_u16();
            // An error answer is small: read it to tell a throttle from any other error,
            // and hand the SDK the same bytes.
            if matches!(status, 400 | 429 | 503) {
                let body = response.take_body();
                let bytes = aws_smithy_types::byte_stream::ByteStream::new(body)
                    .collect()
                    .await
                    .map_err(|e| ConnectorError::io(e.into()))?
                    .into_bytes();
                pacer.answered(&api, is_throttle(status, &bytes));
                *response.body_mut() = SdkBody::from(bytes);
            } else {
                pacer.answered(&api, false);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(seeded: bool) -> Pacing {
        Pacing { share: 0.5, deadline: Instant::now() + Duration::from_secs(60), seeded }
    }

    #[test]
    fn documented_buckets_are_scaled_by_the_share() {
        let p = Pacer::new(pacing(true));
        let mut apis = p.apis.lock().unwrap();
        let a = p.api(&mut apis, "ec2:RevokeSecurityGroupIngress");
        assert_eq!(a.ceiling, Some(Limit { capacity: 25.0 * BURST_MARGIN, per_second: 2.5 * RATE_MARGIN }));
        assert_eq!(p.api(&mut apis, "iam:DetachRolePolicy").ceiling, None, "IAM publishes no limits");
        assert_eq!(documented("ec2:DescribeVpcs"), Some(Limit { capacity: 100.0, per_second: 20.0 }));
        assert_eq!(documented("ec2:RebootInstances"), Some(Limit { capacity: 50.0, per_second: 5.0 }));
    }

    /// What `acquire` draws on for a call on `api` with `body`, seeded.
    fn draws(api: &str, body: &[u8]) -> Vec<(String, f64)> {
        let mut d = vec![(api.to_owned(), 1.0)];
        d.extend(also_draws_on(api, body));
        d
    }

    #[test]
    fn calls_take_from_every_bucket_they_draw_on_or_from_none() {
        let p = Pacer::new(Pacing { share: 1.0, ..pacing(true) });
        let t0 = Instant::now();
        // Elastic Load Balancing's account bucket (40 / 10, 38 at the margin) is shared by
        // every action, each of whose own holds 19 or 38: 38 calls over two actions go at
        // once, the 39th, of a third action, waits for the account's refill.
        for i in 0..38 {
            let api = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:DescribeTargetHealth"][i % 2];
            assert_eq!(p.take(&draws(api, b""), t0), Ok(()), "call {i}");
        }
        let wait = p.take(&draws("elasticloadbalancing:DescribeTags", b""), t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(110), "one token at 9.9 a second: {wait:?}");
        let apis = p.apis.lock().unwrap();
        assert_eq!(apis["elasticloadbalancing:DescribeTags"].bucket.as_ref().unwrap().tokens, 38.0, "took none");
        drop(apis);
        // Starting 1000 instances takes all 1000 resource tokens at once (no burst is left
        // over in a resource bucket; a cost over the capacity needs a full one); 10 more
        // wait for 10 tokens at 2 a second, though the call's own bucket (5 / 2) has room.
        let start = |n: usize| {
            let ids: String = (1..=n).map(|i| format!("&InstanceId.{i}=i-{i}")).collect();
            draws("ec2:StartInstances", format!("Action=StartInstances{ids}").as_bytes())
        };
        assert_eq!(p.take(&start(1500), t0), Ok(()));
        let wait = p.take(&start(10), t0).unwrap_err();
        assert!(wait >= Duration::from_secs(5), "{wait:?}");
        assert_eq!(p.take(&start(10), t0 + Duration::from_secs(6)), Ok(()));
        assert_eq!(resources_of(b"Action=StartInstances&InstanceId.1=i-1&InstanceId.2=i-2&Version=2016-11-15"), 2.0);
        assert_eq!(resources_of(b"Action=RunInstances&MaxCount=3&MinCount=3"), 3.0);
        assert_eq!(also_draws_on("iam:DetachRolePolicy", b""), Vec::<(String, f64)>::new());
    }

    #[test]
    fn a_spent_burst_waits_for_the_refill() {
        let mut b = Bucket::full(Limit { capacity: 2.0, per_second: 5.0 });
        let t0 = b.at;
        assert!(b.take(t0).is_ok() && b.take(t0).is_ok());
        assert_eq!(b.take(t0), Err(Duration::from_millis(200)), "the burst is spent: one token per 200 ms");
        assert!(b.take(t0 + Duration::from_millis(200)).is_ok());
    }

    #[test]
    fn a_throttle_cuts_the_pace_and_answers_raise_it_back_to_the_seed_only() {
        let p = Pacer::new(pacing(true));
        let api = "ec2:CreateTags";
        let rate = |p: &Pacer| p.apis.lock().unwrap()[api].bucket.as_ref().unwrap().limit.per_second;
        p.answered(api, false);
        assert_eq!(rate(&p), 5.0 * RATE_MARGIN, "seeded at half of 10/s, less the margin");
        p.answered(api, true);
        assert_eq!(rate(&p), 5.0 * RATE_MARGIN * BACK_OFF, "cut");
        for _ in 0..500 {
            p.answered(api, false);
        }
        assert_eq!(rate(&p), 5.0 * RATE_MARGIN, "back to the seed, never past it");
        assert_eq!(p.throttled(), [(api.to_owned(), 1)]);
    }

    #[tokio::test]
    async fn an_unseeded_api_is_paced_only_once_throttled() {
        let p = Pacer::new(pacing(false));
        let api = "ec2:RevokeSecurityGroupIngress";
        for _ in 0..100 {
            p.acquire(api, b"").await.unwrap();
        }
        assert!(p.apis.lock().unwrap()[api].bucket.is_none(), "no pacing before a throttle");
        p.answered(api, true);
        let b = p.apis.lock().unwrap()[api].bucket.as_ref().unwrap().limit;
        assert_eq!(b.per_second, 100.0 * BACK_OFF, "70% of the 100 calls of the last second: {b:?}");
    }

    #[tokio::test]
    async fn past_the_deadline_a_call_fails_at_once() {
        let p = Pacer::new(Pacing { share: 1.0, deadline: Instant::now(), seeded: false });
        assert!(p.acquire("ec2:DescribeVpcs", b"").await.is_err());
    }

    #[test]
    fn throttles_are_told_from_other_errors() {
        assert!(is_throttle(503, b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"));
        assert!(is_throttle(400, b"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded"));
        assert!(!is_throttle(400, b"<Error><Code>InvalidPermission.NotFound</Code></Error>"));
        assert!(!is_throttle(200, b"RequestLimitExceeded"));
    }
}
