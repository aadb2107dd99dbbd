//! What a fault costs in AWS calls, counted at the proxy: the listing is the snapshot,
//! describes are batched, a change call whose answer proves the state is not followed
//! by a describe, and the account check rides along with the first read. The counts do
//! not depend on how many targets there are (up to a describe batch of 200). Holding the
//! targets costs one tag call and one read-back per inject, and one untag per revert
//! (per 200 targets): see `executor::holds`.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType};

use crate::harness::{Env, endpoint, tags};
use crate::proxy::Proxy;

const WEB_GROUPS: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n";

/// Every group of the practice stack (load balancer, web, database) in one fault.
fn all_groups(sb: &serde_json::Value) -> String {
    let ids: Vec<&str> =
        ["lb_security_group", "web_security_group", "db_security_group"].map(|k| sb[k].as_str().unwrap()).into();
    format!("name: all\naction: security-group.revoke-ingress\ntarget:\n  ids: [{}]\n", ids.join(", "))
}
const WEB_INSTANCES: &str = "name: down\naction: ec2.stop-instances\ntarget:\n  tags: { Tier: web }\n";

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn security_groups_cost_one_describe_per_command_and_one_change_per_target() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let vpc = sb["vpc"].as_str().unwrap();
    for i in 0..3 {
        let id = env
            .ec2
            .create_security_group()
            .group_name(format!("calls-{i}"))
            .description("one rule")
            .vpc_id(vpc)
            .tag_specifications(tags(ResourceType::SecurityGroup, &[("Calls", "one-rule")]))
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        let rule = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8080)
            .to_port(8080)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("app").build())
            .build();
        env.ec2.authorize_security_group_ingress().group_id(id).ip_permissions(rule).send().await.unwrap();
    }
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.write("a.yaml", "name: app\naction: security-group.revoke-ingress\ntarget:\n  tags: { Calls: one-rule }\n");
    proxy.counts();

    let run = env.firedrill_env(&["inject", "a.yaml", "--yes", "--output", "json"], &via).ok().json();
    assert_eq!(run["faults"][0]["targets"].as_array().unwrap().len(), 3, "{run:#}");
    // The listing is the snapshot; EC2's answer to each revoke proves the rule gone.
    let inject = calls(&[
        ("CreateTags", 1),
        ("DescribeSecurityGroups", 1),
        ("DescribeTags", 1),
        ("GetCallerIdentity", 1),
        ("RevokeSecurityGroupIngress", 3),
    ]);
    assert_eq!(proxy.counts(), inject);

    env.firedrill_env(&["revert"], &via).ok();
    // One look before restoring; each authorize's answer lists the rule it created.
    let revert = calls(&[
        ("AuthorizeSecurityGroupIngress", 3),
        ("DeleteTags", 1),
        ("DescribeSecurityGroups", 1),
        ("GetCallerIdentity", 1),
    ]);
    assert_eq!(proxy.counts(), revert);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn an_authorize_whose_answer_proves_nothing_is_verified_by_one_batched_describe() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.write("a.yaml", &all_groups(&sb));
    env.firedrill_env(&["inject", "a.yaml", "--yes"], &via).ok();
    proxy.counts();

    // Emulator gap: moto answers an authorize with the rules of the call's last
    // permission only, and without the descriptions of rules naming a group. For the
    // stack's groups (several rules each) the answer then differs from what was asked,
    // proves nothing, and revert describes those groups (one call) to verify instead.
    env.firedrill_env(&["revert"], &via).ok();
    let revert = calls(&[
        ("AuthorizeSecurityGroupIngress", 3),
        ("DeleteTags", 1),
        ("DescribeSecurityGroups", 2),
        ("GetCallerIdentity", 1),
    ]);
    assert_eq!(proxy.counts(), revert);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn instances_cost_one_describe_and_one_change_call_per_command() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.write("a.yaml", WEB_INSTANCES);
    proxy.counts();

    let run = env.firedrill_env(&["inject", "a.yaml", "--yes", "--output", "json"], &via).ok().json();
    assert!(run["faults"][0]["targets"].as_array().unwrap().len() >= 2, "{run:#}");
    let inject = calls(&[
        ("CreateTags", 1),
        ("DescribeInstances", 1),
        ("DescribeTags", 1),
        ("GetCallerIdentity", 1),
        ("StopInstances", 1),
    ]);
    assert_eq!(proxy.counts(), inject);

    // The emulator stops an instance at once, so revert need not wait for "stopped".
    env.firedrill_env(&["revert"], &via).ok();
    let revert = calls(&[("DeleteTags", 1), ("DescribeInstances", 1), ("GetCallerIdentity", 1), ("StartInstances", 1)]);
    assert_eq!(proxy.counts(), revert);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn revert_with_another_accounts_credentials_is_refused_before_anything_is_written_or_changed() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("a.yaml", WEB_GROUPS);
    env.firedrill(&["inject", "a.yaml", "--yes"]).ok();
    let broken = env.world().await;
    let journal = env.journals().concat();

    // The revert reads the targets while it checks the account; it must still change
    // nothing, and journal nothing but the command, when the account is wrong.
    let other = Env::new().await;
    let token = other.creds.session_token().unwrap_or_default().to_owned();
    let theirs = [
        ("AWS_ACCESS_KEY_ID", other.creds.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", other.creds.secret_access_key()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    env.firedrill_env(&["revert"], &theirs).code(2).stderr_has("but these credentials act in account");
    assert_eq!(env.world().await, broken);
    let now = env.journals().concat();
    let added: Vec<&str> = now.strip_prefix(journal.as_str()).expect("the journal only grew").lines().collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].contains("\"command\""), "{added:?}");

    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}
