//! Network ACL and route faults against the practice stack.

use crate::harness::{Env, ROOT, RUN_TAG_KEY};

fn fault(name: &str) -> String {
    format!("{ROOT}/faults/{name}.yaml")
}

#[tokio::test]
async fn deny_all_moves_subnets_to_a_tagged_clone_and_revert_restores_and_deletes_it() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let run = env.firedrill(&["inject", &fault("public-subnets-deny-all"), "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    let clone = run["created"][0]["id"].as_str().unwrap().to_owned();
    let acls = env.ec2.describe_network_acls().network_acl_ids(&clone).send().await.unwrap();
    let acl = &acls.network_acls()[0];
    assert!(
        acl.tags().iter().any(|t| t.key() == Some(RUN_TAG_KEY) && t.value() == Some(run_id)),
        "tagged with the run"
    );
    let subnets: Vec<&str> = acl.associations().iter().filter_map(|a| a.subnet_id()).collect();
    for s in sb["public_subnets"].as_array().unwrap() {
        assert!(subnets.contains(&s.as_str().unwrap()), "{s} moved to the clone");
    }
    let first: Vec<(i32, bool, &str)> = acl
        .entries()
        .iter()
        .filter(|e| e.rule_number() == Some(1))
        .map(|e| (e.rule_number().unwrap(), e.egress().unwrap(), e.rule_action().unwrap().as_str()))
        .collect();
    assert_eq!(first.len(), 2, "deny at rule 1, both directions: {first:?}");
    assert!(first.iter().all(|(_, _, a)| *a == "deny"));

    env.firedrill(&["revert", run_id]).ok();
    assert_eq!(env.world().await, before, "associations restored and the clone deleted");
}

#[tokio::test]
async fn deny_traffic_inserts_entries_below_the_first_allow_once_per_shared_acl() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let run = env.firedrill(&["inject", &fault("public-https-denied"), "--yes", "--output", "json"]).ok().json();
    let targets = run["faults"][0]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "both public subnets share one ACL: one target");
    assert_eq!(targets[0]["id"], sb["public_network_acl"]);
    let acls = env
        .ec2
        .describe_network_acls()
        .network_acl_ids(sb["public_network_acl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let denies: Vec<(i32, Option<i32>)> = acls.network_acls()[0]
        .entries()
        .iter()
        .filter(|e| e.rule_action().map(|a| a.as_str()) == Some("deny") && e.rule_number() != Some(32767))
        .map(|e| (e.rule_number().unwrap(), e.port_range().and_then(|p| p.from())))
        .collect();
    assert_eq!(denies, [(99, Some(443))], "one deny for 443 just below the allow at 100");

    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn blackhole_removes_the_default_route_and_revert_recreates_it_with_its_gateway() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.firedrill(&["inject", &fault("public-default-route-removed"), "--yes"]).ok();
    let rt = env
        .ec2
        .describe_route_tables()
        .route_table_ids(sb["public_route_table"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        !rt.route_tables()[0].routes().iter().any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")),
        "the default route is gone"
    );
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before, "the route is back, to the same internet gateway");
}

#[tokio::test]
async fn blackhole_can_redirect_and_revert_replaces_the_target_back() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    // Any other target will do for a drill: here, a web instance's network interface.
    let inst = env.ec2.describe_instances().instance_ids(sb["instances"][0].as_str().unwrap()).send().await.unwrap();
    let eni = inst.reservations()[0].instances()[0].network_interfaces()[0].network_interface_id().unwrap().to_owned();
    env.write(
        "f.yaml",
        &format!("name: redirect\naction: route-table.blackhole\ntarget:\n  tags: {{ Tier: public }}\nparams:\n  redirect_to: {eni}\n"),
    );
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    let rt = env
        .ec2
        .describe_route_tables()
        .route_table_ids(sb["public_route_table"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let default =
        rt.route_tables()[0].routes().iter().find(|r| r.destination_cidr_block() == Some("0.0.0.0/0")).unwrap();
    assert_eq!(default.network_interface_id(), Some(eni.as_str()));
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_route_that_does_not_exist_is_nothing_to_break() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", "name: x\naction: route-table.blackhole\ntarget:\n  tags: { Tier: private }\n");
    env.firedrill(&["inject", "f.yaml", "--yes"]).code(2).stderr_has("no route to 0.0.0.0/0: nothing to break");
    assert_eq!(env.world().await, before);
}
