//! The serverless and containers stacks in a drill: two teams, each with
//! `sandbox up --with containers,serverless` in its own account; the probes that read
//! Lambda and ECS (`lambda-invocable`, `ecs-running`) see the breaks; everything is back
//! as captured at the end, and every call the drill made is one its policy allows.

use crate::drills::{finish, lines, team, wait_for};
use crate::harness::Env;

fn drill(blue: &Env, red: &Env) -> String {
    format!(
        "name: serverless
teams:
{}{}poll: 500ms
probes:
  orders-function:
    lambda-invocable: {{ function: firedrill-orders }}
    every: 300ms
  containers:
    ecs-running: {{ service: firedrill-containers, min: 1 }}
    every: 300ms
steady_state: [orders-function]
steps:
  - name: throttled
    at: 0s
    fault: {{ action: lambda.throttle, target: {{ tags: {{ Tier: function }} }}, runbook: runbooks/serverless.md }}
    duration: 3s
  - name: table
    at: 0s
    fault: {{ action: dynamodb.lower-throughput, target: {{ tags: {{ Tier: data }} }}, runbook: runbooks/serverless.md }}
    duration: 3s
  - name: stage
    at: 0s
    fault: {{ action: apigateway.throttle-stage, target: {{ tags: {{ Tier: api }} }}, runbook: runbooks/serverless.md }}
    duration: 3s
  - name: scaled
    after: throttled
    fault: {{ action: ecs.scale-service, target: {{ tags: {{ Tier: containers }} }}, params: {{ desired: 0 }}, runbook: runbooks/containers.md }}
    duration: 2s
end: 60s
",
        team("blue", blue),
        team("red", red)
    )
}

#[tokio::test]
async fn a_serverless_drill_for_two_teams_is_seen_by_its_probes_and_reverted_exactly() {
    let (blue, red) = (Env::with(true).await, Env::new().await);
    blue.sandbox().await;
    red.sandbox().await;
    let (blue_before, red_before) = (blue.world().await, red.world().await);
    blue.write("drill.yaml", &drill(&blue, &red));
    blue.proxy.as_ref().map(|p| p.take_iam_actions());

    let mut child = blue.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    let ok = wait_for(&mut child, &rx, "the function invocable before", |v| {
        v["event"] == "probe" && v["probe"] == "orders-function"
    });
    assert_eq!(ok["ok"], true, "{ok}");
    let throttled = wait_for(&mut child, &rx, "the function throttled", |v| {
        v["event"] == "probe" && v["probe"] == "orders-function" && v["ok"] == false
    });
    assert!(throttled["detail"].as_str().unwrap().contains("reserved concurrency 0"), "{throttled}");
    // The emulator starts no task: a new service reports 0 running until its first
    // `UpdateService` (README, emulator gaps). Scaled to 0, it wants none.
    let stopped = wait_for(&mut child, &rx, "the service scaled to zero", |v| {
        v["event"] == "probe"
            && v["probe"] == "containers"
            && v["team"] == "blue"
            && v["detail"].as_str().is_some_and(|d| d.contains("of 0 desired"))
    });
    assert_eq!(stopped["ok"], false, "{stopped}");
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{stderr}");

    assert_eq!(blue.world().await, blue_before, "blue's stack equals its capture at the end");
    assert_eq!(red.world().await, red_before, "red's stack equals its capture at the end");
    // Nobody fixed anything: every break lasted until firedrill reverted it (a lagging
    // read taken for a fix would score a recovery).
    let report = blue.firedrill(&["report", "--format", "json"]).ok().json();
    for team in ["blue", "red"] {
        for step in ["throttled", "table", "stage", "scaled"] {
            let s = crate::drills::score(&report, team, step);
            assert_eq!(s["recovered_by"], "revert", "{team} {step}: {report:#}");
        }
    }
    let proxy = blue.proxy.as_ref().expect("blue is AWS-like");
    let policy = blue.firedrill(&["policy", "--drill", "drill.yaml"]).ok_allowing(&["sts:AssumeRole on"]);
    let allowed = crate::harness::allowed_actions(&policy.json());
    let calls = proxy.take_iam_actions();
    let missing: Vec<_> = calls.iter().filter(|c| !allowed.contains(*c) && *c != "sts:AssumeRole").collect();
    assert!(missing.is_empty(), "the drill's policy does not allow calls it made: {missing:?}");
    for service in ["lambda:", "dynamodb:", "apigateway:", "ecs:"] {
        assert!(calls.iter().any(|c| c.starts_with(service)), "no {service} call recorded: {calls:?}");
    }
}
