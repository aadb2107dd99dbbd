//! What happened since the break: revert leaves alone what the team fixed, refuses what
//! the team changed (unless --force), and records who abandoned what.

use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};

use crate::harness::{self, Env};

const HTTP: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\nparams:\n  protocol: tcp\n  ports: [80]\n";

async fn team_adds_http(env: &Env, web: &str, lb: &str, description: &str) {
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(lb).description(description).build())
        .build();
    env.ec2.authorize_security_group_ingress().group_id(web).ip_permissions(perm).send().await.unwrap();
}

#[tokio::test]
async fn a_target_the_team_fixed_exactly_is_recorded_restored_and_left_alone() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let (web, lb) = (sb["web_security_group"].as_str().unwrap(), sb["lb_security_group"].as_str().unwrap());
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "broken");

    team_adds_http(&env, web, lb, "HTTP from the load balancer").await; // exactly as it was
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "restored");
    let out = env.firedrill(&["revert", "--output", "json"]).ok().json();
    assert_eq!(out["faults"][0]["targets"][0]["status"], "restored", "nothing for firedrill to do");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_target_the_team_changed_is_refused_with_a_diff_until_forced() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let (web, lb) = (sb["web_security_group"].as_str().unwrap(), sb["lb_security_group"].as_str().unwrap());
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    // The team fixes it another way: same rule, their own description.
    team_adds_http(&env, web, lb, "fixed during the drill").await;
    let during = env.world().await;

    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "changed");
    let diff = env.firedrill(&["diff"]).ok().stdout;
    assert!(diff.contains("fixed during the drill"), "the team's change shows: {diff}");
    assert!(diff.contains("HTTP from the load balancer"), "and what the snapshot had: {diff}");

    let out = env.firedrill(&["revert", "--output", "json"]).code(3);
    let rec = out.json();
    assert_eq!(rec["faults"][0]["targets"][0]["status"], "changed");
    assert_eq!(env.world().await, during, "the team's work is not clobbered");

    // --force applies the fault's revert anyway; the team's rule differs only by its
    // description, which revert reports rather than silently rewrites.
    let forced = env.firedrill(&["revert", "--force", "--output", "json"]).code(3).json();
    assert_eq!(forced["faults"][0]["targets"][0]["status"], "revert-failed");
    assert!(forced["faults"][0]["targets"][0]["differences"].to_string().contains("fixed during the drill"));
    let _ = before;
}

#[tokio::test]
async fn abandon_records_who_chose_to_leave_a_target() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.write("f.yaml", HTTP);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let web = sb["web_security_group"].as_str().unwrap();
    let during = env.world().await;
    env.firedrill(&["revert", "--abandon", "sg-nope"]).code(2).stderr_has("has no target sg-nope");
    let out = env.firedrill(&["revert", "--abandon", web, "--output", "json"]).ok().json();
    assert_eq!(out["faults"][0]["targets"][0]["status"], "abandoned");
    assert_eq!(out["needs_revert"], false);
    // Left as it is; only the run's hold tag is gone, the run being closed.
    assert_eq!(env.world().await, harness::without_holds(&during), "an abandoned target is left as it is");
    let shown = env.firedrill(&["show", run["run_id"].as_str().unwrap()]).ok().stdout;
    assert!(shown.contains("abandoned"), "{shown}");
    assert!(shown.contains("revert --abandon"), "the command is in the timeline: {shown}");
}

#[tokio::test]
async fn a_target_that_is_gone_is_reported_not_an_error() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.write("f.yaml", "name: db\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: db }\n");
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    env.ec2.delete_security_group().group_id(sb["db_security_group"].as_str().unwrap()).send().await.unwrap();
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "gone");
    let out = env.firedrill(&["revert", "--output", "json"]).ok().json();
    assert_eq!(out["faults"][0]["targets"][0]["status"], "gone");
    assert_eq!(out["needs_revert"], false);
}

#[tokio::test]
async fn abort_reverts_every_open_run_changed_targets_included() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.write("a.yaml", HTTP);
    env.write("b.yaml", "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n");
    env.write("c.yaml", "name: deny\naction: network-acl.deny-all\ntarget:\n  tags: { Tier: public }\n");
    env.firedrill(&["inject", "a.yaml", "--yes"]).ok();
    env.firedrill(&["inject", "b.yaml", "c.yaml", "--yes"]).ok();
    // The team touched one: revert alone would leave it; abort restores it anyway.
    let (web, lb) = (sb["web_security_group"].as_str().unwrap(), sb["lb_security_group"].as_str().unwrap());
    team_adds_http(&env, web, lb, "HTTP from the load balancer").await;
    env.firedrill(&["abort"]).ok().stdout.contains("everything restored").then_some(()).expect("abort says so");
    assert_eq!(env.world().await, before);
    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    assert!(runs.as_array().unwrap().iter().all(|r| r["needs_revert"] == false), "{runs}");
    env.firedrill(&["abort"]).ok().stdout.contains("nothing to abort").then_some(()).expect("idempotent");
}
