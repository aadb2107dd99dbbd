//! A crash at any point leaves a run that `revert`, in a new process, finishes: the
//! account reads back as before, and nothing firedrill created is left behind.
//!
//! Each failpoint aborts the process (as `kill -9` would) at that step. The fault used,
//! `isolate-instance`, creates a resource (the quarantine group), so the points around
//! creating and deleting it are exercised too.

use crate::harness::{Env, RUN_TAG_KEY};

const ISOLATE: &str = "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n";

const INJECT_POINTS: &[&str] = &[
    "before-run-started",
    "after-run-started",
    "before-planned",
    "after-planned",
    "after-snapshot",
    "before-held",
    "after-held",
    "after-hold",
    "after-create",
    "before-created",
    "after-created",
    "before-injecting",
    "after-injecting",
    "after-inject-call",
    "before-injected",
    "after-injected",
];

const REVERT_POINTS: &[&str] = &[
    "before-command",
    "before-reverting",
    "after-reverting",
    "after-revert-call",
    "before-reverted",
    "after-reverted",
    "before-deleted",
    "after-deleted",
    "before-released",
    "after-released",
];

async fn leftovers(env: &Env) -> Vec<String> {
    let out = env.ec2.describe_security_groups().send().await.unwrap();
    out.security_groups()
        .iter()
        .filter(|g| g.tags().iter().any(|t| t.key() == Some(RUN_TAG_KEY)))
        .map(|g| g.group_id().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_crash_at_any_step_of_inject_is_finished_by_revert() {
    crash_inject(false, Store::Local).await;
}

/// The same, with AWS's limits, lagging reads, deletes that must wait, propagation and `PENDING` changes (`Env::aws_like`).
#[tokio::test]
async fn a_crash_at_any_step_of_inject_is_finished_by_revert_through_aws_like_behaviour() {
    crash_inject(true, Store::Local).await;
}

/// The same with the state in S3, finished from another working directory with no
/// local state: the bucket is all the two processes share.
#[tokio::test]
async fn a_crash_at_any_step_of_inject_with_state_on_s3_is_finished_by_revert_from_elsewhere() {
    crash_inject(false, Store::S3).await;
}

/// Where a crash test keeps firedrill's state.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    Local,
    S3,
}

/// A test's world with its state where `store` says.
async fn world_with(aws_like: bool, store: Store) -> Env {
    let mut env = Env::with(aws_like).await;
    if store == Store::S3 {
        env.use_s3_state().await;
    }
    env
}

/// Finish what the crashed process left: with the state on S3, from another directory
/// once the dead process's lock lease (1 s in tests) has run out.
fn finish(env: &Env, store: Store, args: &[&str]) -> crate::harness::Out {
    match store {
        Store::Local => env.firedrill(args),
        Store::S3 => {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            env.firedrill_elsewhere("other", args, &[])
        }
    }
}

async fn crash_inject(aws_like: bool, store: Store) {
    for point in INJECT_POINTS {
        let env = world_with(aws_like, store).await;
        env.sandbox().await;
        let before = env.world().await;
        env.write("f.yaml", ISOLATE);
        let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", point)]);
        assert_eq!(out.code, None, "{point}: the process must have been aborted: {out:?}");
        // A run that recorded nothing has nothing to revert; any other is finished.
        let runs = finish(&env, store, &["runs", "--output", "json"]).ok().json();
        if let Some(run) = runs.as_array().unwrap().first() {
            finish(&env, store, &["revert", run["run_id"].as_str().unwrap()]).ok_allowing(&["took over the lock"]);
        }
        assert_eq!(env.world().await, before, "{point}: not restored");
        assert!(leftovers(&env).await.is_empty(), "{point}: firedrill-created groups left");
    }
}

#[tokio::test]
async fn a_crash_at_any_step_of_revert_is_finished_by_the_next_revert() {
    crash_revert(false, Store::Local).await;
}

/// The same, with AWS's limits, lagging reads, deletes that must wait, propagation and `PENDING` changes (`Env::aws_like`).
#[tokio::test]
async fn a_crash_at_any_step_of_revert_is_finished_by_the_next_revert_through_aws_like_behaviour() {
    crash_revert(true, Store::Local).await;
}

/// The same with the state in S3, the next revert from another working directory.
#[tokio::test]
async fn a_crash_at_any_step_of_revert_with_state_on_s3_is_finished_by_the_next_revert_from_elsewhere() {
    crash_revert(false, Store::S3).await;
}

async fn crash_revert(aws_like: bool, store: Store) {
    for point in REVERT_POINTS {
        let env = world_with(aws_like, store).await;
        env.sandbox().await;
        let before = env.world().await;
        env.write("f.yaml", ISOLATE);
        let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
        let run_id = run["run_id"].as_str().unwrap();
        let out = env.firedrill_env(&["revert", run_id], &[("FIREDRILL_FAILPOINT", point)]);
        assert_eq!(out.code, None, "{point}: the process must have been aborted: {out:?}");
        finish(&env, store, &["revert", run_id]).ok_allowing(&["took over the lock"]);
        assert_eq!(env.world().await, before, "{point}: not restored");
        assert!(leftovers(&env).await.is_empty(), "{point}: firedrill-created groups left");
    }
}

#[tokio::test]
async fn sigint_or_sigterm_during_inject_rolls_the_run_back() {
    for signal in ["INT", "TERM"] {
        let env = Env::new().await;
        env.sandbox().await;
        let before = env.world().await;
        env.write("f.yaml", ISOLATE);
        let child =
            env.spawn_firedrill(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "pause-after-inject-call")]);
        // Wait until a target is mid-injection (its change made, not yet journaled).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let journals = env.journals();
            if journals.iter().any(|j| j.contains("\"injecting\"")) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "inject never reached the pause");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_ne!(env.world().await, before, "{signal}: the change was made");
        let status =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
        assert!(stderr.contains("everything it changed was reverted"), "{signal}: {stderr}");
        assert_eq!(env.world().await, before, "{signal}: rolled back");
        assert!(leftovers(&env).await.is_empty(), "{signal}: quarantine group deleted");
    }
}
