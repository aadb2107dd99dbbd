//! Round trip for every security-group action: seed a stack, capture the account's
//! described state, inject, assert the break with the SDK, revert, assert the described
//! state equals the capture.

use crate::harness::{Env, RUN_TAG_KEY};

const HTTP_BLOCKED: &str = "\
name: http-blocked
action: security-group.revoke-ingress
target:
  tags: { Tier: web }
params:
  protocol: tcp
  ports: [80, 443]
";

#[tokio::test]
async fn revoke_ingress_removes_matching_rules_and_revert_restores_them_exactly() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    let rules_before = env.rules(&stack.web_sg).await;
    env.write("f.yaml", HTTP_BLOCKED);

    let out = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok();
    let run = out.json();
    let run_id = run["run_id"].as_str().unwrap().to_owned();

    let during = env.rules(&stack.web_sg).await;
    assert!(
        !during.iter().any(|r| r.starts_with("ingress tcp 80-80") || r.starts_with("ingress tcp 443-443")),
        "{during:#?}"
    );
    assert!(during.iter().any(|r| r.starts_with("ingress tcp 22-22")), "ssh must stay: {during:#?}");
    assert!(during.iter().any(|r| r.starts_with("ingress tcp 8080-8080")), "8080 must stay: {during:#?}");
    assert_eq!(during.len(), rules_before.len() - 3, "exactly the http (1) and https (v4, v6) rules go");

    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["run_id"], run_id.as_str());
    let target = &status["faults"][0]["targets"][0];
    assert_eq!(target["id"], stack.web_sg.as_str());
    assert_eq!(target["status"], "injected");

    // The snapshot is there for an investigator: the fault's file holds the group's full
    // rules before the fault, and the change.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target["snapshot"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(file["fault_name"], "http-blocked", "{file:#}");
    let snap = &file["targets"][0];
    assert_eq!(snap["target"]["id"], stack.web_sg.as_str());
    assert_eq!(snap["state"]["ingress"].as_array().unwrap().len(), 5, "{snap:#}");
    assert_eq!(snap["change"]["rules"].as_array().unwrap().len(), 3, "{snap:#}");

    env.firedrill(&["revert", &run_id]).ok();
    assert_eq!(env.world().await, before, "revert must restore the described state exactly");
    let status = env.firedrill(&["status", &run_id, "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["status"], "reverted");
}

#[tokio::test]
async fn revoke_egress_without_filter_removes_every_outbound_rule() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", "name: egress-cut\naction: security-group.revoke-egress\ntarget:\n  names: [web]\n");

    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let during = env.rules(&stack.web_sg).await;
    assert!(!during.iter().any(|r| r.starts_with("egress")), "{during:#?}");
    assert!(during.iter().any(|r| r.starts_with("ingress")), "ingress untouched: {during:#?}");

    env.firedrill(&["revert", run["run_id"].as_str().unwrap()]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn open_ingress_adds_only_missing_rules_tagged_with_the_run_and_revert_removes_only_those() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    // 443 from 0.0.0.0/0 exists already (seeded): only 22 is added, and revert must leave 443.
    env.write(
        "f.yaml",
        "name: open\naction: security-group.open-ingress\ntarget:\n  ids: [WEB]\nparams:\n  ports: [22, 443]\n"
            .replace("WEB", &stack.web_sg)
            .as_str(),
    );
    let plan = env.firedrill(&["plan", "f.yaml", "--output", "json"]).ok().json();
    let changes = plan["faults"][0]["targets"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].as_str().unwrap().contains("tcp 22 0.0.0.0/0"), "{changes:?}");

    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    let during = env.rules(&stack.web_sg).await;
    assert!(during.contains(&"ingress tcp 22-22 0.0.0.0/0 \"added by firedrill\"".to_owned()), "{during:#?}");

    // The added rule carries the run's tag.
    let rules = env
        .ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(&stack.web_sg).build())
        .send()
        .await
        .unwrap();
    let added = rules
        .security_group_rules()
        .iter()
        .find(|r| r.from_port() == Some(22) && r.cidr_ipv4() == Some("0.0.0.0/0"))
        .expect("the added rule");
    assert!(added.tags().iter().any(|t| t.key() == Some(RUN_TAG_KEY) && t.value() == Some(run_id)), "{added:?}");

    env.firedrill(&["revert", run_id]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn isolate_instance_swaps_groups_for_an_empty_tagged_quarantine_group_and_revert_deletes_it() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    let groups_before = env.instance_groups().await;
    env.write(
        "f.yaml",
        "name: isolate\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n  count: 1\n  seed: 3\n",
    );

    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    let victim = run["faults"][0]["targets"][0]["id"].as_str().unwrap().to_owned();
    let quarantine = env.groups_tagged(RUN_TAG_KEY, run_id).await;
    assert_eq!(quarantine.len(), 1, "one quarantine group, tagged with the run");
    assert!(env.rules(&quarantine[0]).await.is_empty(), "the quarantine group has no rules at all");
    let during = env.instance_groups().await;
    assert_eq!(during[&victim], vec![quarantine.clone()], "every interface holds only the quarantine group");
    let other = stack.instances.iter().find(|i| **i != victim).unwrap();
    assert_eq!(during[other], groups_before[other], "the other instance is untouched");
    assert_eq!(run["created"][0]["id"], quarantine[0].as_str(), "the journal recorded the created group");

    env.firedrill(&["revert", run_id]).ok();
    assert_eq!(env.world().await, before, "groups restored and the quarantine group deleted");
}
