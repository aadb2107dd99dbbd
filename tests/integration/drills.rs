//! Drills end to end: `firedrill run` against two teams in two accounts (each assumed
//! through STS from the drill file's `role_arn`), with seconds instead of minutes.
//!
//! Emulator gaps worked around here: moto evaluates no alarm and checks no health, so
//! the tests set an alarm's state themselves and serve the HTTP probe from a small
//! server of their own on loopback, whose answer they switch.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};
use serde_json::Value;

use crate::harness::{Env, Stack};

pub(crate) fn team(name: &str, env: &Env) -> String {
    format!("  - name: {name}\n    role_arn: arn:aws:iam::{}:role/firedrill\n", env.account)
}

/// The drill of the issue, in seconds: three steps, two teams.
fn three_steps(blue: &Env, red: &Env) -> String {
    format!(
        "name: two-teams
teams:
{}{}poll: 500ms
probes:
  http-fixed:
    restored: {{ step: http }}
steps:
  - name: http
    at: 0s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [80] }}, runbook: runbooks/security-groups.md }}
    duration: 8s
    hints: [{{ after: 1s, text: Look at the web group's inbound rules. }}]
  - name: ssh
    after: http
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [22] }} }}
    duration: 2s
  - name: app
    at: 1s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: db }} }} }}
    duration: 3s
end: 60s
",
        team("blue", blue),
        team("red", red)
    )
}

/// Lines the child prints, as they come.
pub(crate) fn lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Wait for a JSON event line matching `pred`; returns it. Fails with the child's
/// stderr if it exits or a minute passes first.
pub(crate) fn wait_for(
    child: &mut std::process::Child,
    rx: &std::sync::mpsc::Receiver<String>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && pred(&v)
                {
                    return v;
                }
                seen.push(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {}
        }
    }
    let _ = child.kill();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    panic!("no {what} event; stdout:\n{}\nstderr:\n{stderr}", seen.join("\n"));
}

pub(crate) fn finish(
    child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
) -> (Option<i32>, Vec<String>, String) {
    let out = child.wait_with_output().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    (out.status.code(), rest, String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn put_back_http(env: &Env, stack: &Stack) {
    env.ec2
        .authorize_security_group_ingress()
        .group_id(&stack.web_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .user_id_group_pairs(
                    UserIdGroupPair::builder().group_id(&stack.lb_sg).description("HTTP from the lb").build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub(crate) fn score<'a>(report: &'a Value, team: &str, step: &str) -> &'a Value {
    report["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["team"] == team && s["step"] == step)
        .unwrap_or_else(|| panic!("no score for {team}/{step}: {report:#}"))
}

#[tokio::test]
async fn two_teams_blue_fixes_its_break_and_red_is_auto_reverted() {
    two_teams(false).await;
}

/// The same, with AWS's limits, lagging reads, deletes that must wait, propagation and `PENDING` changes (`Env::aws_like`).
#[tokio::test]
async fn two_teams_blue_fixes_its_break_and_red_is_auto_reverted_through_aws_like_behaviour() {
    two_teams(true).await;
}

async fn two_teams(aws_like: bool) {
    let (blue, red) = (Env::with(aws_like).await, Env::new().await);
    let (blue_stack, _) = (blue.seed_stack().await, red.seed_stack().await);
    let (blue_before, red_before) = (blue.world().await, red.world().await);
    blue.write("drill.yaml", &three_steps(&blue, &red));
    blue.proxy.as_ref().map(|p| p.take_iam_actions());

    let mut child = blue.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    wait_for(&mut child, &rx, "blue's http break", |v| {
        v["event"] == "step-started" && v["team"] == "blue" && v["step"] == "http"
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    put_back_http(&blue, &blue_stack).await;
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{stderr}");

    assert_eq!(blue.world().await, blue_before, "blue's stack equals its capture at the end");
    assert_eq!(red.world().await, red_before, "red's stack equals its capture at the end");
    if let Some(proxy) = &blue.proxy {
        // Every call the drill made in blue's account is allowed by the drill's policy;
        // assuming blue's role is the starting credentials', which `policy` names apart.
        let policy = blue.firedrill(&["policy", "--drill", "drill.yaml"]).ok_allowing(&["sts:AssumeRole on"]);
        assert!(policy.stderr.contains(&format!("arn:aws:iam::{}:role/firedrill", blue.account)), "{}", policy.stderr);
        let allowed = crate::harness::allowed_actions(&policy.json());
        let calls = proxy.take_iam_actions();
        let missing: Vec<_> = calls.iter().filter(|c| !allowed.contains(*c) && *c != "sts:AssumeRole").collect();
        assert!(missing.is_empty(), "the drill's policy does not allow calls it made: {missing:?} (made: {calls:?})");
    }

    let report = blue.firedrill(&["report", "--format", "json"]).ok().json();
    let fixed = score(&report, "blue", "http");
    assert_eq!(fixed["recovered_by"], "team", "{report:#}");
    let ttr = fixed["time_to_recover_s"].as_f64().expect("a time for a team recovery");
    assert!((1.0..8.0).contains(&ttr), "{ttr}");
    assert_eq!(fixed["hints_before_recovery"], 1, "the 1 s hint came before the fix");
    assert_eq!(score(&report, "red", "http")["recovered_by"], "revert");
    assert!(score(&report, "red", "http")["time_to_recover_s"].is_null());
    for team in ["blue", "red"] {
        // `ssh` started after `http` ended, and `app` on its own clock; nobody fixed them.
        assert_eq!(score(&report, team, "ssh")["recovered_by"], "revert", "{report:#}");
        assert_eq!(score(&report, team, "app")["recovered_by"], "revert", "{report:#}");
    }
    let blue_ssh = score(&report, "blue", "ssh")["started_s"].as_f64().unwrap();
    let red_ssh = score(&report, "red", "ssh")["started_s"].as_f64().unwrap();
    assert!(blue_ssh < red_ssh, "blue's `after: http` step starts when blue fixed http ({blue_ssh} vs {red_ssh})");
    assert_eq!(report["changes"][0]["team"], "blue");
    assert_eq!(report["changes"][0]["targets"][0]["live"], "restored");

    // Each team's faults are one run, which status and show understand.
    let runs = blue.firedrill(&["runs", "--output", "json"]).ok().json();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs:#}");
    let md = blue.firedrill(&["report", "--format", "markdown"]).ok().stdout;
    for needle in
        ["| blue |", "| red |", "recovered by the team", "reverted by firedrill", "runbooks/security-groups.md"]
    {
        assert!(md.contains(needle), "markdown report lacks {needle:?}:\n{md}");
    }
    let html = blue.firedrill(&["report", "--format", "html"]).ok().stdout;
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg") && !html.contains("<script"), "{html}");
    assert!(!html.contains("src=\"http") && !html.contains("<link"), "self-contained: no external files");
}

/// A tiny HTTP server on loopback: 200 "ok" while healthy, else 500.
fn site() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let (status, body) = if h.load(Ordering::SeqCst) { ("200 OK", "ok") } else { ("500 Oops", "down") };
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (port, healthy)
}

fn one_team_drill(env: &Env, probes: &str, stop: &str, steady: &str) -> String {
    let section = |key: &str, body: &str| if body.is_empty() { String::new() } else { format!("{key}:\n{body}") };
    format!(
        "name: stops
teams:
{}{}steady_state: [{steady}]
poll: 500ms
steps:
  - name: http
    at: 0s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [80, 443] }} }}
    duration: 60s
{}",
        team("blue", env),
        section("probes", probes),
        section("stop_when", stop)
    )
}

#[tokio::test]
async fn a_failing_probe_stops_the_drill_and_everything_is_reverted() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    let (port, healthy) = site();
    let probes = format!(
        "  site:\n    http: {{ url: \"http://127.0.0.1:{port}/{{{{team.name}}}}\", status: 200, body: \"^ok$\", timeout: 2s }}\n    every: 300ms\n  port:\n    tcp: {{ host: 127.0.0.1, port: {port} }}\n"
    );
    env.write("drill.yaml", &one_team_drill(&env, &probes, "  - probe: site\n    failing_for: 1s\n", "site, port"));

    let mut child = env.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    let ok = wait_for(&mut child, &rx, "steady-state probe", |v| v["event"] == "probe" && v["probe"] == "site");
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(ok["detail"].as_str().unwrap().contains(&format!("127.0.0.1:{port}/blue")), "templated url: {ok}");
    wait_for(&mut child, &rx, "the break", |v| v["event"] == "step-started");
    healthy.store(false, Ordering::SeqCst);
    let failing = wait_for(&mut child, &rx, "a failing probe", |v| v["event"] == "probe" && v["ok"] == false);
    assert!(failing["detail"].as_str().unwrap().contains("status 500"), "{failing}");
    let stopping = wait_for(&mut child, &rx, "the stop", |v| v["event"] == "stopping");
    assert!(stopping["reason"].as_str().unwrap().contains("probe site failing for 1s"), "{stopping}");
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(1), "a stopped drill exits 1: {stderr}");
    assert!(stderr.contains("stopped early"), "{stderr}");
    assert_eq!(env.world().await, before, "everything reverted");
    let report = env.firedrill(&["report", "--format", "json"]).ok().json();
    assert!(report["outcome"].as_str().unwrap().starts_with("stopped: team blue: probe site failing"), "{report:#}");
    assert_eq!(score(&report, "blue", "http")["recovered_by"], "revert");
}

#[tokio::test]
async fn an_alarm_stops_the_drill_and_the_alarm_probe_reads_cloudwatch() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.alarm("prod-5xx").await;
    let probes = "  calm:\n    alarm: { name: prod-5xx }\n    every: 300ms\n";
    env.write("drill.yaml", &one_team_drill(&env, probes, "  - alarm: prod-5xx\n", "calm"));

    let mut child = env.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    let calm = wait_for(&mut child, &rx, "the alarm probe", |v| v["event"] == "probe" && v["probe"] == "calm");
    assert_eq!(calm["ok"], true, "{calm}");
    assert_eq!(calm["detail"], "alarm prod-5xx is OK");
    wait_for(&mut child, &rx, "the break", |v| v["event"] == "step-started");
    env.set_alarm("prod-5xx", "ALARM").await;
    let stopping = wait_for(&mut child, &rx, "the stop", |v| v["event"] == "stopping");
    assert!(stopping["reason"].as_str().unwrap().contains("alarm prod-5xx in ALARM"), "{stopping}");
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(env.world().await, before, "everything reverted");
}

#[tokio::test]
async fn ctrl_c_mid_drill_reverts_everything() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("drill.yaml", &one_team_drill(&env, "", "", ""));
    let mut child = env.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    wait_for(&mut child, &rx, "the break", |v| v["event"] == "step-started");
    assert_ne!(env.world().await, before, "broken");
    std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let (code, rest, stderr) = finish(child, rx);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT: stopping the drill and reverting"), "{stderr}");
    assert!(rest.iter().any(|l| l.contains("\"step-reverted\"")), "{rest:#?}");
    assert_eq!(env.world().await, before, "everything reverted");
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["status"], "reverted", "{status:#}");
}

#[tokio::test]
async fn bad_drills_are_refused_with_locations_and_nothing_is_injected() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write(
        "bad.yaml",
        "name: bad\nteams: [{ name: blue }]\nsteps:\n  - at: soon\n    fault: faults/none.yaml\n  - at: 0s\n    fault: { action: security-group.revoke-ingress, target: { tags: { Tier: web } }, params: { ports: [eighty] } }\n",
    );
    let out = env.firedrill(&["run", "bad.yaml", "--yes"]).code(2);
    assert!(out.stderr.contains("bad.yaml:4:9: error: invalid duration `soon`"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:5:12: error: fault file `faults/none.yaml` not found"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:7:"), "the inline fault's param error, in the drill file: {}", out.stderr);

    // Valid, but one step matches nothing: refused before any change, for every team.
    env.write(
        "none.yaml",
        &format!(
            "name: none\nteams:\n{}steps:\n  - at: 0s\n    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }} }}\n  - at: 1s\n    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: nothing }} }} }}\n",
            team("blue", &env)
        ),
    );
    let out = env.firedrill(&["run", "none.yaml", "--yes"]).code(2);
    assert!(out.stderr.contains("team blue, step step-2") && out.stderr.contains("nothing to break"), "{}", out.stderr);

    // Steady state does not hold (nothing listens on that port): nothing starts.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let probes = format!("  site:\n    http: {{ url: \"http://127.0.0.1:{dead}/\", timeout: 1s }}\n");
    env.write("unsteady.yaml", &one_team_drill(&env, &probes, "", "site"));
    let out = env.firedrill(&["run", "unsteady.yaml", "--yes"]).code(2);
    assert!(out.stderr.contains("steady state does not hold"), "{}", out.stderr);
    assert!(!env.has_runs(), "no run was even started");
    assert_eq!(env.world().await, before, "nothing changed");

    // A dry run resolves every team's targets and changes nothing.
    let plan = env.firedrill(&["run", "none.yaml", "--dry-run"]).code(2);
    assert!(plan.stderr.contains("nothing to break"), "{}", plan.stderr);
    env.write("ok.yaml", &one_team_drill(&env, "", "", ""));
    let plan = env.firedrill(&["run", "ok.yaml", "--dry-run"]).ok();
    assert!(plan.stdout.contains("team blue:") && plan.stdout.contains("revoke"), "{}", plan.stdout);
    assert_eq!(env.world().await, before, "nothing changed");
}
