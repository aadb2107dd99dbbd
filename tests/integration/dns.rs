//! Route 53 faults against the practice stack.
//!
//! Emulator gaps: moto's DELETE with a set identifier removes every record with that
//! identifier, and it reports alias records with TTL 0. firedrill restores with UPSERT and
//! CREATE only, and the tests compare what Route 53 reports before and after.

use crate::harness::{Env, ROOT};

fn fault(name: &str) -> String {
    format!("{ROOT}/faults/{name}.yaml")
}

async fn records(env: &Env, zone: &str, name: &str) -> Vec<(String, Option<String>, Vec<String>, bool)> {
    let out = env.route53.list_resource_record_sets().hosted_zone_id(zone).send().await.unwrap();
    out.resource_record_sets()
        .iter()
        .filter(|r| r.name() == name)
        .map(|r| {
            (
                r.r#type().as_str().to_owned(),
                r.set_identifier().map(str::to_owned),
                r.resource_records().iter().map(|v| v.value().to_owned()).collect(),
                r.alias_target().is_some(),
            )
        })
        .collect()
}

#[tokio::test]
async fn change_record_points_it_elsewhere_and_revert_restores_it_with_its_health_check() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let zone = sb["zone_id"].as_str().unwrap();
    let before = env.world().await;
    env.firedrill(&["inject", &fault("api-record-wrong-ip"), "--yes"]).ok();
    let api = records(&env, zone, "api.firedrill.firedrill.test.").await;
    assert_eq!(api[0].2, ["10.42.99.99"]);
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before, "values, TTL and health check id restored");
}

#[tokio::test]
async fn delete_record_removes_an_alias_record_and_revert_recreates_it_exactly() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let zone = sb["zone_id"].as_str().unwrap();
    let before = env.world().await;
    assert!(records(&env, zone, "www.firedrill.firedrill.test.").await[0].3, "www is an alias to the load balancer");
    env.firedrill(&["inject", &fault("www-record-deleted"), "--yes"]).ok();
    assert!(records(&env, zone, "www.firedrill.firedrill.test.").await.is_empty());
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_weighted_record_is_selected_by_set_identifier_and_only_it_changes() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let zone = sb["zone_id"].as_str().unwrap();
    let before = env.world().await;
    env.write(
        "f.yaml",
        "name: green\naction: route53.change-record\ntarget:\n  zone: firedrill.firedrill.test\n  names: [app.firedrill.firedrill.test]\n  type: CNAME\n  set_identifier: green\nparams:\n  value: nowhere.firedrill.test\n",
    );
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    let mut app = records(&env, zone, "app.firedrill.firedrill.test.").await;
    app.sort();
    assert_eq!(app[0].1.as_deref(), Some("blue"));
    assert_eq!(app[0].2, ["www.firedrill.firedrill.test."], "blue untouched");
    assert_eq!(app[1].2, ["nowhere.firedrill.test"], "green changed");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn break_health_check_changes_its_path_and_revert_restores_the_config() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.firedrill(&["inject", &fault("www-health-check-broken"), "--yes"]).ok();
    let hc = env.route53.get_health_check().health_check_id(sb["health_check"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(hc.health_check().unwrap().health_check_config().unwrap().resource_path(), Some("/status-typo"));
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn record_targets_need_a_zone() {
    let env = Env::new().await;
    env.write("f.yaml", "name: x\naction: route53.delete-record\ntarget:\n  names: [www.example.com]\n");
    env.firedrill(&["validate", "f.yaml"]).code(2).stderr_has("f.yaml:4:3: error: record targets need `zone`");
    env.write(
        "g.yaml",
        "name: x\naction: security-group.revoke-ingress\ntarget:\n  names: [web]\n  zone: example.com\n",
    );
    env.firedrill(&["validate", "g.yaml"])
        .code(2)
        .stderr_has("g.yaml:5:9: error: `zone` applies only to Route 53 record set targets");
}
