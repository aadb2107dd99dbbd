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
//! one call outstanding upstream); `GET /__proxy/counts` answers both as JSON and starts
//! again from zero. `scripts/bench` runs it as a program
//! (`examples/bench_proxy.rs`) to add latency and count every tool's calls.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Rules {
    /// Throttle as AWS does: a token bucket of `capacity` calls refilled at `per_second`;
    /// a call that finds it empty gets `RequestLimitExceeded`.
    pub bucket: Option<Bucket>,
    /// Fail with this AWS error code every call of `action` whose request mentions `needle`.
    pub fail: Vec<(String, String, String)>,
    /// Close the connection without answering every Nth call.
    pub drop_every: Option<u64>,
    /// Answer every call this much later.
    pub delay: Option<std::time::Duration>,
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

    /// Take a token if there is one.
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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

    /// `{"busy_ms": .., "calls": {action: n}}`, and start again from zero.
    fn take_json(counts: &Counts) -> String {
        let mut s = counts.lock().unwrap();
        let calls = std::mem::take(&mut s.calls);
        let busy = std::mem::take(&mut s.busy);
        let calls: Vec<String> = calls.iter().map(|(a, n)| format!("\"{a}\":{n}")).collect();
        format!("{{\"busy_ms\":{:.3},\"calls\":{{{}}}}}", busy.as_secs_f64() * 1000.0, calls.join(","))
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
        let json = Stats::take_json(counts);
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
    let action = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_owned)
        .unwrap_or_else(|| head.lines().next().unwrap_or_default().to_owned());
    *counts.lock().unwrap().calls.entry(action.clone()).or_default() += 1;
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
    let verdict = {
        let mut rules = rules.lock().unwrap();
        let empty = rules.bucket.as_mut().is_some_and(|b| !b.take());
        let throttled = empty.then(|| (503, "RequestLimitExceeded".to_owned(), "Request limit exceeded.".to_owned()));
        throttled.or_else(|| {
            rules
                .fail
                .iter()
                .find(|(a, needle, _)| {
                    *a == action && (text.contains(needle.as_str()) || head.contains(needle.as_str()))
                })
                .map(|(_, _, code)| (400, code.clone(), "Injected by the test proxy.".to_owned()))
        })
    };
    if let Some((status, code, message)) = verdict {
        injected.fetch_add(1, Ordering::SeqCst);
        // EC2's error shape; the query services' (IAM, ELB, Auto Scaling) otherwise.
        let xml = if text.contains("Version=2016-11-15") {
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
    // Forward as is, asking the emulator to close so the response ends at EOF.
    Stats::enter(counts);
    let forwarded = forward(&head, &body, upstream);
    Stats::leave(counts);
    let (response, open) = keep_open(forwarded?);
    client.write_all(&response)?;
    client.flush()?;
    Ok(open)
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
