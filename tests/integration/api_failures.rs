//! A failing API, through the fault-injecting proxy: throttling, dropped connections and
//! slow answers are ridden out by the SDK's retries (standard mode, five attempts, backoff
//! and jitter); a target whose calls always fail is reported with the AWS error code
//! while the others complete; a revert run again after the API heals finishes the job.

use crate::harness::{Env, endpoint};
use crate::proxy::Proxy;

const TWO_GROUPS: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n";
const DB: &str = "name: db\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: db }\n";

#[tokio::test]
async fn inject_and_revert_complete_with_dropped_connections_and_slow_answers() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    proxy.set(|r| {
        r.drop_every = Some(4);
        r.delay = Some(std::time::Duration::from_millis(150));
    });
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.write("a.yaml", TWO_GROUPS);
    env.firedrill_env(&["inject", "a.yaml", "--yes"], &via).ok();
    env.firedrill_env(&["revert"], &via).ok();
    assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 2, "connections really dropped");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn inject_and_revert_complete_when_throttled_by_a_token_bucket() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    // As EC2 throttles, per account: a bucket of 2 calls refilled at 2 a second, against
    // up to 16 calls in flight. The retries (backoff with jitter) must get through.
    proxy.set(|r| r.bucket = Some(crate::proxy::Bucket::new(2.0, 2.0)));
    // A bucket this small can turn one call away five times running when the jitter
    // draws short waits (seen once in CI on a loaded machine): eight attempts make that
    // vanishingly rare while still proving the retries ride the throttling out.
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str()), ("AWS_MAX_ATTEMPTS", "8")];
    env.write("a.yaml", TWO_GROUPS);
    env.write("b.yaml", DB);
    env.firedrill_env(&["inject", "a.yaml", "b.yaml", "--yes"], &via).ok();
    env.firedrill_env(&["revert"], &via).ok();
    assert!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst) >= 5, "throttling really happened");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_target_whose_calls_fail_is_reported_with_the_aws_code_and_the_others_complete() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    env.write("a.yaml", TWO_GROUPS);
    env.write("b.yaml", DB);
    env.firedrill(&["inject", "a.yaml", "b.yaml", "--yes"]).ok();

    let proxy = Proxy::start(endpoint());
    let web = sb["web_security_group"].as_str().unwrap();
    // The top-level parameter only: the db group's rule mentions the web group as its source.
    proxy.set(|r| {
        r.fail.push(("AuthorizeSecurityGroupIngress".into(), format!("&GroupId={web}"), "UnauthorizedOperation".into()))
    });
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    let out = env.firedrill_env(&["revert", "--output", "json"], &via).code(3);
    let rec = out.json();
    let status = |fault: usize| rec["faults"][fault]["targets"][0]["status"].as_str().unwrap().to_owned();
    assert_eq!(status(0), "revert-failed");
    assert!(rec["faults"][0]["targets"][0]["error"].as_str().unwrap().contains("UnauthorizedOperation"), "{rec:#}");
    assert_eq!(status(1), "reverted", "the other target completed");

    // The API heals: the same revert finishes the job.
    proxy.set(|r| r.fail.clear());
    env.firedrill_env(&["revert"], &via).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_fleet_fault_under_ec2s_documented_limits_completes_and_leaves_nothing_broken() {
    // The reproduction: 150 groups through EC2's buckets for the two rule calls (50 at
    // once, then 5 a second), 20 ms a call. Before pacing, inject gave up after the SDK's
    // fifth attempt, its rollback did not finish, and 61% of all calls were throttled.
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.many_groups(sb["vpc"].as_str().unwrap(), 150, "limits").await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    proxy.set(|r| {
        for api in ["RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"] {
            r.api_buckets.insert(api.into(), crate::proxy::Bucket::new(50.0, 5.0));
        }
        r.delay = Some(std::time::Duration::from_millis(20));
    });
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str())];
    env.write("f.yaml", "name: many\naction: security-group.revoke-ingress\ntarget:\n  tags: { Many: limits }\n");
    env.firedrill_env(&["inject", "f.yaml", "--yes"], &via).ok();
    // -v logs each change of pace.
    env.firedrill_env(&["-v", "revert"], &via).ok_allowing(&["DEBUG"]).stderr_has("throttled: pacing down");
    assert_eq!(env.world().await, before, "every group has its rule back");
    let answered = proxy.answered();
    let (calls, throttled) = ["RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"]
        .iter()
        .map(|a| answered[*a])
        .fold((0, 0), |(c, t), (c2, t2)| (c + c2, t + t2));
    eprintln!("{throttled} of {calls} rule calls throttled");
    assert!(throttled > 0, "the limits were reached");
    assert!(throttled * 10 < calls, "paced: {throttled} of {calls} rule calls throttled");
}

#[tokio::test]
async fn a_deadline_that_passes_leaves_the_run_revertible_and_lower_limits_than_documented_are_followed() {
    // An account whose revoke bucket is a tenth of the documented one (5, at 1 a second),
    // and firedrill told to pace to the documented numbers: it is throttled, paces down
    // (`-v` says so), and with a 3 s deadline cannot finish 20 revokes in time.
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.many_groups(sb["vpc"].as_str().unwrap(), 20, "late").await;
    let before = env.world().await;
    let proxy = Proxy::start(endpoint());
    proxy.set(|r| {
        r.api_buckets.insert("RevokeSecurityGroupIngress".into(), crate::proxy::Bucket::new(5.0, 1.0));
    });
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str()), ("FIREDRILL_LIMITS", "aws")];
    env.write("f.yaml", "name: late\naction: security-group.revoke-ingress\ntarget:\n  tags: { Many: late }\n");
    let out = env.firedrill_env(&["-v", "inject", "f.yaml", "--yes", "--deadline", "3s"], &via).code(1);
    assert!(out.stderr.contains("throttled: pacing down"), "the pace follows the account down:\n{}", out.stderr);
    assert!(out.stderr.contains("deadline (--deadline) passed"), "{}", out.stderr);
    assert!(out.stderr.contains("firedrill revert"), "says how to finish: {}", out.stderr);
    // Nothing half-recorded: the run is revertible, and a revert with time restores all.
    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    assert_eq!(runs[0]["needs_revert"], true, "{runs:#}");
    env.firedrill_env(&["revert"], &via).ok();
    assert_eq!(env.world().await, before, "every group has its rule back");
}
