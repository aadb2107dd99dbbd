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

/// The stage's deployment id, the API's deployments, and its integrations' URIs.
async fn api(env: &Env, api: &str) -> (Option<String>, Vec<String>, Vec<Option<String>>) {
    let gw = aws_sdk_apigateway::Client::new(&crate::harness::sdk_config(env.creds.clone()));
    let stage = gw.get_stage().rest_api_id(api).stage_name("prod").send().await.unwrap();
    let deployments = gw.get_deployments().rest_api_id(api).send().await.unwrap();
    let mut uris = Vec::new();
    for r in gw.get_resources().rest_api_id(api).send().await.unwrap().items() {
        for m in r.resource_methods().into_iter().flat_map(|m| m.keys()) {
            let i = gw.get_integration().rest_api_id(api).resource_id(r.id().unwrap()).http_method(m).send().await;
            uris.push(i.unwrap().uri().map(str::to_owned));
        }
    }
    let ids = deployments.items().iter().filter_map(|d| d.id().map(str::to_owned)).collect();
    (stage.deployment_id().map(str::to_owned), ids, uris)
}

#[tokio::test]
async fn break_integration_deploys_a_function_that_does_not_exist_and_revert_rolls_the_stage_back() {
    for aws_like in [false, true] {
        let env = Env::with(aws_like).await;
        let sb = env.sandbox().await;
        let id = sb["api"].as_str().unwrap();
        let before = env.world().await;
        let (stage, deployments, uris) = api(&env, id).await;
        assert!(uris.iter().flatten().any(|u| u.contains(":function:")), "{uris:?}");
        let fault = format!("{}/faults/orders-api-integration-broken.yaml", crate::harness::ROOT);
        let run = env.firedrill(&["inject", &fault, "--yes", "--output", "json"]).ok().json();
        let run_id = run["run_id"].as_str().unwrap();

        // Every Lambda integration names a function that does not exist, and the stage is
        // on a new deployment that carries it.
        let (broken_stage, broken_deployments, broken_uris) = api(&env, id).await;
        assert!(
            broken_uris
                .iter()
                .flatten()
                .filter(|u| u.contains(":function:"))
                .all(|u| u.contains("-firedrill-missing/")),
            "{broken_uris:?}"
        );
        assert_ne!(broken_stage, stage);
        assert_eq!(broken_deployments.len(), deployments.len() + 1);
        assert!(broken_deployments.contains(broken_stage.as_ref().unwrap()));

        env.firedrill(&["revert", run_id]).ok_allowing(&["waiting for AWS"]);
        assert_eq!(api(&env, id).await, (stage, deployments, uris), "the same deployment id, firedrill's deleted");
        assert_eq!(env.world().await, before);
    }
}
