//! ECS services on the practice stack: what `ecs.swap-security-groups` and
//! `ecs.stop-tasks` do to a service, read with the SDK, and what `status` says after.

use crate::harness::{Env, sdk_config};

/// The service's security groups and the ARNs of its running tasks.
async fn service(env: &Env, sb: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config(env.creds.clone()));
    let cluster = sb["cluster"].as_str().unwrap();
    let arn = sb["service"].as_str().unwrap();
    let out = ecs.describe_services().cluster(cluster).services(arn).send().await.unwrap();
    let groups = out.services()[0]
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|v| v.security_groups().to_vec())
        .unwrap_or_default();
    let tasks = ecs
        .list_tasks()
        .cluster(cluster)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    (groups, tasks)
}

#[tokio::test]
async fn swap_security_groups_quarantines_the_tasks_and_revert_restores_the_network_exactly() {
    swap(false).await;
}

#[tokio::test]
async fn swap_security_groups_quarantines_the_tasks_and_revert_restores_the_network_exactly_through_aws_like_behaviour()
{
    swap(true).await;
}

async fn swap(aws_like: bool) {
    let env = Env::with(aws_like).await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let (groups, tasks) = service(&env, &sb).await;
    assert_eq!(groups, [sb["web_security_group"].as_str().unwrap()]);
    assert_eq!(tasks.len(), 2);
    let fault = format!("{}/faults/containers-quarantined.yaml", crate::harness::ROOT);
    let run = env.firedrill(&["inject", &fault, "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap();

    // The service is on one new group, tagged with the run, with no rules either way;
    // the tasks on the old groups are stopped.
    let (groups, tasks) = service(&env, &sb).await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    let q = env.ec2.describe_security_groups().group_ids(&groups[0]).send().await.unwrap();
    let q = &q.security_groups()[0];
    assert!(q.ip_permissions().is_empty() && q.ip_permissions_egress().is_empty(), "{q:?}");
    assert!(q.tags().iter().any(|t| t.key() == Some(crate::harness::RUN_TAG_KEY) && t.value() == Some(id)), "{q:?}");
    assert!(tasks.is_empty(), "the old tasks are stopped: {tasks:?}");
    let status = env.firedrill(&["status", id, "--output", "json"]).ok_allowing(&["waiting for AWS"]).json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "broken", "{status:#}");

    let after = env.firedrill(&["revert", id, "--output", "json"]).ok().json();
    assert_eq!(after["faults"][0]["targets"][0]["status"], "reverted", "{after:#}");
    let (groups, _) = service(&env, &sb).await;
    assert_eq!(groups, [sb["web_security_group"].as_str().unwrap()]);
    let gone = env.ec2.describe_security_groups().group_ids(q.group_id().unwrap()).send().await;
    assert!(gone.is_err(), "the quarantine group is deleted");
    assert_eq!(env.world().await, before);
    // Revert again: nothing to do, nothing changed.
    env.firedrill(&["revert", id]).ok_allowing(&["waiting for AWS"]);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn stop_tasks_stops_the_services_own_and_status_says_when_it_has_replaced_them() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let (_, tasks) = service(&env, &sb).await;
    assert_eq!(tasks.len(), 2);
    let fault = format!("{}/faults/containers-task-stopped.yaml", crate::harness::ROOT);
    let run = env.firedrill(&["inject", &fault, "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap();
    assert_eq!(run["faults"][0]["targets"][0]["status"], "done", "{run:#}");
    let (_, left) = service(&env, &sb).await;
    assert_eq!(left.len(), 1, "50% of 2 stopped");
    assert!(tasks.contains(&left[0]));
    let status = env.firedrill(&["status", id, "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "broken", "one task short: {status:#}");
    // The service starts a replacement (the emulator does not: the harness does, as ECS would).
    env.start_service_tasks(&sb, 1).await;
    let status = env.firedrill(&["status", id, "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "restored", "{status:#}");
    assert_eq!(status["faults"][0]["targets"][0]["status"], "done", "a one-shot stays done: {status:#}");
}
