//! A fault-injecting HTTP proxy between firedrill and the emulator: the emulator has no
//! error or throttling injection of its own.
//!
//! Plain threads and blocking sockets, so it keeps serving while a test blocks on the
//! firedrill process. Failures are deterministic — throttle or drop every Nth call, fail
//! every call of an action that mentions a given resource, answer late — so tests do not
//! flake. Each response closes
//! its connection; the SDK opens a new one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Rules {
    /// Throttle every Nth call (by arrival), for the actions named (all when empty).
    pub throttle_every: Option<(u64, Vec<String>)>,
    /// Fail with this AWS error code every call of `action` whose request mentions `needle`.
    pub fail: Vec<(String, String, String)>,
    /// Close the connection without answering every Nth call.
    pub drop_every: Option<u64>,
    /// Answer every call this much later.
    pub delay: Option<std::time::Duration>,
}

pub struct Proxy {
    pub endpoint: String,
    rules: Arc<Mutex<Rules>>,
    pub injected: Arc<AtomicU64>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let rules = Arc::new(Mutex::new(Rules::default()));
        let injected = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let (r, i) = (rules.clone(), injected.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (r, i, c, up) = (r.clone(), i.clone(), calls.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &up, &r, &i, &c);
                });
            }
        });
        Proxy { endpoint, rules, injected }
    }

    pub fn set(&self, f: impl FnOnce(&mut Rules)) {
        f(&mut self.rules.lock().unwrap());
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rules: &Mutex<Rules>,
    injected: &AtomicU64,
    calls: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
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
        return Ok(()); // the connection closes with no answer
    }
    let verdict = {
        let rules = rules.lock().unwrap();
        let throttled = rules
            .throttle_every
            .as_ref()
            .filter(|(k, actions)| n.is_multiple_of(*k) && (actions.is_empty() || actions.contains(&action)))
            .map(|_| (503, "RequestLimitExceeded".to_owned(), "Request limit exceeded.".to_owned()));
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
        return client.flush();
    }
    // Forward as is, asking the emulator to close so the response ends at EOF.
    let mut up = TcpStream::connect(upstream)?;
    let head: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .trim_end()
        .to_owned();
    write!(up, "{head}\r\nConnection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.flush()
}
