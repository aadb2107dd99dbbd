//! The test harness's proxy (`tests/integration/proxy.rs`) as a program, for
//! `scripts/bench`: it forwards to the emulator, answers every call `--delay-ms` later
//! (a real AWS round trip) and counts calls by action (`GET /__proxy/counts`).
//!
//! `bench_proxy --upstream http://127.0.0.1:PORT [--delay-ms 50] [--aws-limits]` prints
//! its own endpoint on the first line of stdout and serves until stdin closes;
//! `--aws-limits` throttles with AWS's documented buckets per API (`Rules::aws_buckets`).

#[allow(dead_code)] // the tests' failure rules are not used here
#[path = "../tests/integration/proxy.rs"]
mod proxy;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut upstream, mut delay_ms, mut aws_limits) = (None, 0u64, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--upstream" => upstream = args.next(),
            "--delay-ms" => delay_ms = args.next().and_then(|v| v.parse().ok()).expect("--delay-ms N"),
            "--aws-limits" => aws_limits = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let upstream = upstream.expect("--upstream http://127.0.0.1:PORT");
    assert!(
        upstream.starts_with("http://127.0.0.1:") || upstream.starts_with("http://localhost:"),
        "the bench proxy forwards to loopback only"
    );
    let proxy = proxy::Proxy::start(&upstream);
    proxy.set(|r| {
        r.delay = Some(std::time::Duration::from_millis(delay_ms)).filter(|d| !d.is_zero());
        if aws_limits {
            r.aws_buckets();
        }
    });
    println!("{}", proxy.endpoint);
    // Serve until the parent closes our stdin (or dies).
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}
