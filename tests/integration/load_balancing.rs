//! Load balancer and auto scaling faults against the practice stack.

use crate::harness::{Env, ROOT};

fn fault(name: &str) -> String {
    format!("{ROOT}/faults/{name}.yaml")
}

async fn registered(env: &Env, tg: &str) -> Vec<String> {
    let h = env.elbv2.describe_target_health().target_group_arn(tg).send().await.unwrap();
    let mut ids: Vec<String> =
        h.target_health_descriptions().iter().filter_map(|d| d.target()?.id().map(str::to_owned)).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn deregister_targets_removes_count_targets_and_revert_registers_them_with_their_port() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let tg = sb["target_group"].as_str().unwrap();
    let before = env.world().await;
    assert_eq!(registered(&env, tg).await.len(), 2);
    env.firedrill(&["inject", &fault("web-targets-deregistered"), "--yes"]).ok();
    assert_eq!(registered(&env, tg).await.len(), 1, "count: 1");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn break_health_check_changes_the_path_and_revert_restores_every_setting() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.firedrill(&["inject", &fault("web-health-check-broken"), "--yes"]).ok();
    let tgs = env
        .elbv2
        .describe_target_groups()
        .target_group_arns(sb["target_group"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tgs.target_groups()[0].health_check_path(), Some("/healthz-typo"));
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn listener_fixed_response_replaces_the_forward_and_revert_restores_it_exactly() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.firedrill(&["inject", &fault("site-listener-503"), "--yes"]).ok();
    let l = env.elbv2.describe_listeners().listener_arns(sb["listener"].as_str().unwrap()).send().await.unwrap();
    let action = &l.listeners()[0].default_actions()[0];
    assert_eq!(action.r#type().map(|t| t.as_str()), Some("fixed-response"));
    assert_eq!(action.fixed_response_config().and_then(|f| f.status_code()), Some("503"));
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before, "forward to the target group again");
}

#[tokio::test]
async fn swap_security_groups_quarantines_the_load_balancer_and_revert_restores_its_groups() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let run = env.firedrill(&["inject", &fault("load-balancer-isolated"), "--yes", "--output", "json"]).ok().json();
    let q = run["created"][0]["id"].as_str().unwrap();
    let lbs = env
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(sb["load_balancer"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(lbs.load_balancers()[0].security_groups(), [q.to_owned()]);
    assert!(env.rules(q).await.is_empty(), "the quarantine group is empty");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before, "groups restored, quarantine group deleted");
}

#[tokio::test]
async fn suspend_processes_suspends_and_revert_resumes_only_what_it_suspended() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let asg = sb["auto_scaling_group"].as_str().unwrap();
    // The team had suspended AZRebalance on purpose before the drill: it must stay so.
    env.autoscaling
        .suspend_processes()
        .auto_scaling_group_name(asg)
        .scaling_processes("AZRebalance")
        .send()
        .await
        .unwrap();
    let before = env.world().await;
    env.firedrill(&["inject", &fault("web-asg-no-self-healing"), "--yes"]).ok();
    let g = env.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(asg).send().await.unwrap();
    let mut suspended: Vec<&str> =
        g.auto_scaling_groups()[0].suspended_processes().iter().filter_map(|p| p.process_name()).collect();
    suspended.sort();
    assert_eq!(suspended, ["AZRebalance", "HealthCheck", "Launch", "ReplaceUnhealthy"]);
    // Emulator gap: moto records suspensions but does not enforce them; only state is checked.
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before, "AZRebalance is still suspended, the rest resumed");
}

#[tokio::test]
async fn set_capacity_scales_to_zero_and_revert_restores_min_max_desired() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let asg = sb["auto_scaling_group"].as_str().unwrap();
    let before = env.world().await;
    env.firedrill(&["inject", &fault("web-asg-scaled-to-zero"), "--yes"]).ok();
    let g = env.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(asg).send().await.unwrap();
    let g = &g.auto_scaling_groups()[0];
    assert_eq!((g.min_size(), g.desired_capacity()), (Some(0), Some(0)));
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}
