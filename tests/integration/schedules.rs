//! Scheduled faults end to end against the emulator: `schedule tick` fires a due fault
//! and a later tick reverts it when its duration is up; `schedule run` reverts at the
//! duration by itself and, on SIGTERM, reverts what it started and exits 0. The timing
//! logic (DST, windows, blackouts, restarts, two schedulers) is tested on a test clock in
//! `src/schedule/tests.rs`.
//!
//! Each schedule here fires at the current UTC minute (`M H * * *`), with `--catch-up
//! 10m`, so the test does not depend on when in the minute it starts, and the next
//! slot is a day away: no second fire can sneak in.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Tag;

use crate::harness::Env;

/// What `schedule tick` logs of each decision (skipped, firing, reverted when its
/// duration is over), at info level: its record for an unattended machine's journal.
const SCHEDULER_LOG: &str = "INFO firedrill::schedule::";

const WEB_HTTP: &str = "\
name: web-http
action: security-group.revoke-ingress
target:
  names: [web]
params:
  protocol: tcp
  ports: [80]
duration: 3s
";

const LB_EGRESS: &str = "\
name: lb-egress
action: security-group.revoke-egress
target:
  names: [lb]
duration: 10m
";

const DB_EGRESS: &str = "\
name: db-egress
action: security-group.revoke-egress
target:
  names: [db]
duration: 10m
";

/// `M H * * *` for the current UTC minute.
fn this_minute() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} {} * * *", now.minute(), now.hour())
}

async fn opt_in(env: &Env, group: &str) {
    let tag = Tag::builder().key("firedrill").value("scheduled").build();
    env.ec2.create_tags().resources(group).tags(tag).send().await.unwrap();
}

fn has_http(rules: &[String]) -> bool {
    rules.iter().any(|r| r.starts_with("ingress tcp 80-80"))
}

/// A schedule file with two schedules, `(name, drill|fault, file)`, both due this minute.
fn two_schedules(env: &Env, a: (&str, &str, &str), b: (&str, &str, &str)) {
    let cron = this_minute();
    let one = |(name, kind, file): (&str, &str, &str)| {
        format!("  - name: {name}\n    {kind}: {file}\n    cron: \"{cron}\"\n")
    };
    env.write("schedules.yaml", &format!("schedules:\n{}{}opt_in_tag: {{ firedrill: scheduled }}\n", one(a), one(b)));
}

/// The scheduler's lines from `--output json` (a drill's own events stream there too).
fn tick_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l.get("decision").is_some())
        .collect()
}

/// The last line about `name`: a first tick reports yesterday's slot as missed, then
/// decides today's.
fn last_line<'a>(lines: &'a [serde_json::Value], name: &str, stdout: &str) -> &'a serde_json::Value {
    lines.iter().rev().find(|l| l["schedule"] == name).unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
}

async fn decisions(env: &Env, name: &str) -> String {
    match &env.state_url {
        None => {
            std::fs::read_to_string(env.state.join("schedules").join(name).join("journal.jsonl")).unwrap_or_default()
        }
        Some(_) => env.state_log(&format!("schedules/{name}/journal")).await,
    }
}

#[tokio::test]
async fn tick_fires_a_due_fault_only_on_opted_in_resources_and_a_later_tick_reverts_it() {
    tick_fires_and_a_later_tick_reverts(Env::new().await, |env, args| env.firedrill(args)).await;
}

/// The same as a Kubernetes CronJob runs it (examples/kubernetes/cronjob-s3.yaml): state
/// in S3, every tick a fresh pod with an empty working directory.
#[tokio::test]
async fn ticks_in_fresh_pods_with_state_on_s3_fire_a_slot_once_and_revert_it() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    tick_fires_and_a_later_tick_reverts(env, in_a_fresh_pod).await;
}

/// Run firedrill as a CronJob's pod would: a working directory of its own, empty but for
/// what the test names by path (the schedule files, as a ConfigMap mounts them).
fn in_a_fresh_pod(env: &Env, args: &[&str]) -> crate::harness::Out {
    static PODS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pod = format!("pod-{}", PODS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let args: Vec<String> = args
        .iter()
        .map(|a| if a.ends_with(".yaml") { env.dir.join(a).display().to_string() } else { a.to_string() })
        .collect();
    env.firedrill_elsewhere(&pod, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

async fn tick_fires_and_a_later_tick_reverts(env: Env, firedrill: impl Fn(&Env, &[&str]) -> crate::harness::Out) {
    let stack = env.seed_stack().await;
    opt_in(&env, &stack.web_sg).await;
    let before = env.world().await;
    env.write("web.yaml", WEB_HTTP);
    env.write("db.yaml", DB_EGRESS);
    two_schedules(&env, ("web", "fault", "web.yaml"), ("db", "fault", "db.yaml"));
    let check = firedrill(&env, &["schedule", "check", "schedules.yaml", "-n", "2"]).ok();
    assert!(
        check.stdout.contains("schedule web: fault ") && check.stdout.contains("web.yaml (broken 3s)"),
        "{}",
        check.stdout
    );

    let tick = firedrill(&env, &["schedule", "tick", "schedules.yaml", "--catch-up", "10m", "--output", "json"])
        .ok_allowing(&[SCHEDULER_LOG]);
    let lines = tick_lines(&tick.stdout);
    let line = |name: &str| last_line(&lines, name, &tick.stdout);
    assert_eq!(line("web")["decision"], "fired", "{}", tick.stdout);
    // The db group did not opt in: zero targets, refused before any change.
    assert_eq!(line("db")["decision"], "skipped", "{}", tick.stdout);
    assert!(line("db")["detail"].as_str().unwrap().contains("nothing to break"), "{}", tick.stdout);
    assert!(!has_http(&env.rules(&stack.web_sg).await), "the scheduled fault broke web");
    assert!(env.rules(&stack.db_sg).await.iter().any(|r| r.starts_with("egress")), "db untouched");
    let run_id =
        line("web")["detail"].as_str().unwrap().split_whitespace().nth(1).unwrap().trim_end_matches(':').to_owned();
    let show = firedrill(&env, &["show", &run_id]).ok();
    assert!(show.stdout.contains("schedule web slot"), "{}", show.stdout);

    // A second tick in the same slot fires nothing, and the fault has not expired yet.
    let again =
        firedrill(&env, &["schedule", "tick", "schedules.yaml", "--output", "json"]).ok_allowing(&[SCHEDULER_LOG]);
    assert!(!again.stdout.contains("\"fired\""), "{}", again.stdout);
    assert!(!has_http(&env.rules(&stack.web_sg).await));

    // After the fault's 3 s, the next tick reverts it: the account reads back as captured.
    tokio::time::sleep(Duration::from_secs(4)).await;
    firedrill(&env, &["schedule", "tick", "schedules.yaml"]).ok_allowing(&[SCHEDULER_LOG]);
    assert_eq!(env.world().await, before, "the tick must revert the expired scheduled fault exactly");
    let journal = decisions(&env, "web").await;
    assert!(journal.contains("\"event\":\"fired\"") && journal.contains("\"event\":\"reverted\""), "{journal}");
    assert!(journal.contains(&format!("\"run_id\":\"{run_id}\"")), "{journal}");
    let status = firedrill(&env, &["status", &run_id, "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["status"], "reverted", "{status:#}");
}

#[tokio::test]
async fn run_reverts_at_the_duration_and_on_sigterm_reverts_what_it_started_and_exits_0() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    opt_in(&env, &stack.web_sg).await;
    opt_in(&env, &stack.lb_sg).await;
    let before = env.world().await;
    env.write("web.yaml", WEB_HTTP);
    env.write("lb.yaml", LB_EGRESS);
    two_schedules(&env, ("web", "fault", "web.yaml"), ("lb", "fault", "lb.yaml"));
    let mut child = env.spawn_firedrill(&["schedule", "run", "schedules.yaml", "--catch-up", "10m"], &[]);

    // Both fire; web's 3 s run out and the scheduler reverts it by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut web_broken = false;
    loop {
        let web = decisions(&env, "web").await;
        assert!(
            Instant::now() < deadline,
            "web was not broken and then reverted in time (broken seen: {web_broken}): {web}"
        );
        let lb_broken = !env.rules(&stack.lb_sg).await.iter().any(|r| r.starts_with("egress"));
        let http = has_http(&env.rules(&stack.web_sg).await);
        web_broken |= !http;
        // The decision is logged once the revert is done (after the rules are back).
        if web_broken && http && lb_broken && web.contains("\"event\":\"reverted\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // SIGTERM: the lb fault (10 minutes to go) is reverted before the scheduler exits 0.
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("stopping the scheduler"), "{stderr}");
    assert_eq!(env.world().await, before, "everything the scheduler started is reverted");
    let lb = decisions(&env, "lb").await;
    assert!(lb.contains("\"event\":\"reverted\""), "{lb}");
}

#[tokio::test]
async fn tick_runs_a_due_drill_to_its_end_and_skips_one_whose_steady_state_fails() {
    tick_runs_a_due_drill(Env::new().await, |env, args| env.firedrill(args)).await;
}

/// The same as the S3 CronJob example runs it: a fresh pod, the state in the bucket.
#[tokio::test]
async fn a_scheduled_drill_runs_in_a_fresh_pod_with_state_on_s3() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    tick_runs_a_due_drill(env, in_a_fresh_pod).await;
}

async fn tick_runs_a_due_drill(env: Env, firedrill: impl Fn(&Env, &[&str]) -> crate::harness::Out) {
    let stack = env.seed_stack().await;
    opt_in(&env, &stack.web_sg).await;
    let before = env.world().await;
    env.write("web.yaml", WEB_HTTP);
    // A loopback port nobody listens on: the steady-state probe of the second drill fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let drill = "name: NAME\nteams:\n  - name: blue\nprobes:\n  closed: { tcp: { host: 127.0.0.1, port: PORT, timeout: 1s } }\n\
                 STEADYpoll: 1s\nsteps:\n  - at: 0s\n    fault: web.yaml\n    duration: 2s\nend: 4s\n";
    env.write("ok.yaml", &drill.replace("NAME", "ok").replace("PORT", &closed.to_string()).replace("STEADY", ""));
    env.write(
        "unsteady.yaml",
        &drill
            .replace("NAME", "unsteady")
            .replace("PORT", &closed.to_string())
            .replace("STEADY", "steady_state: [closed]\n"),
    );
    two_schedules(&env, ("ok", "drill", "ok.yaml"), ("unsteady", "drill", "unsteady.yaml"));
    let tick = firedrill(&env, &["schedule", "tick", "schedules.yaml", "--catch-up", "10m", "--output", "json"])
        .ok_allowing(&[SCHEDULER_LOG]);
    let lines = tick_lines(&tick.stdout);
    let line = |name: &str| last_line(&lines, name, &tick.stdout);
    assert_eq!(line("ok")["decision"], "fired", "{}", tick.stdout);
    assert!(line("ok")["detail"].as_str().unwrap().starts_with("drill "), "{}", tick.stdout);
    assert_eq!(line("unsteady")["decision"], "skipped", "{}", tick.stdout);
    assert!(line("unsteady")["detail"].as_str().unwrap().contains("steady state does not hold"), "{}", tick.stdout);
    // The drill broke web for its step's 2 s and reverted it; the account reads back as captured.
    let runs = firedrill(&env, &["runs", "--output", "json"]).ok().json();
    let run = runs[0]["run_id"].as_str().unwrap();
    let shown = firedrill(&env, &["show", run]).ok();
    assert!(shown.stdout.contains("fault added"), "the drill injected its step: {}", shown.stdout);
    assert_eq!(env.world().await, before);
}
