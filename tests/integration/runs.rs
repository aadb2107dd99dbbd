//! Runs: revert from the store alone, idempotence, crashes at each step, run listing,
//! and plan changing nothing.

use crate::harness::{Env, RUN_TAG_KEY};

const HTTP: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\nparams:\n  protocol: tcp\n  ports: [80]\n";
const ISOLATE: &str =
    "name: isolate\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n  count: 1\n";

#[tokio::test]
async fn plan_changes_nothing_and_records_nothing() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("a.yaml", HTTP);
    env.write("b.yaml", ISOLATE);
    let out = env.firedrill(&["plan", "a.yaml", "b.yaml"]).ok();
    assert!(out.stdout.contains("remove ingress rule: tcp 80 group"), "{}", out.stdout);
    assert!(out.stdout.contains("with a new empty quarantine group"), "{}", out.stdout);
    assert_eq!(env.world().await, before);
    assert!(!env.has_runs());
}

#[tokio::test]
async fn revert_works_from_the_store_alone_and_is_idempotent() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    let file = env.write("f.yaml", HTTP);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    assert_ne!(env.world().await, before);

    std::fs::remove_file(file).unwrap(); // the YAML is gone: revert must not need it
    env.firedrill(&["revert"]).ok(); // no RUN: the newest run with injected faults
    assert_eq!(env.world().await, before);
    let again = env.firedrill(&["revert", run_id, "--output", "json"]).ok().json();
    assert_eq!(again["status"], "reverted");
    assert_eq!(env.world().await, before, "a second revert is harmless");
    env.firedrill(&["revert"]).code(2).stderr_has("has injected faults; name one");
    // Looking back needs no run id: status falls back to the newest run.
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["run_id"], run_id);
    assert_eq!(status["status"], "reverted");
}

#[tokio::test]
async fn a_crash_after_the_change_leaves_a_run_that_revert_finishes() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "after-inject-call")]);
    assert_eq!(out.code, None, "the process must have died by a signal (abort): {out:?}");
    assert_ne!(env.world().await, before, "the change was made before the crash");

    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["status"], "injecting");
    assert_eq!(status["needs_revert"], true);
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_crash_after_snapshots_but_before_any_change_leaves_nothing_to_revert() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "after-snapshot")]);
    assert_eq!(out.code, None, "{out:?}");
    assert_eq!(env.world().await, before, "nothing changes before the first mutating call");
    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    assert_eq!(runs[0]["status"], "not-injected");
    assert_eq!(runs[0]["needs_revert"], false);
}

#[tokio::test]
async fn a_crash_between_creating_the_quarantine_group_and_journaling_it_is_cleaned_up() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "after-create")]);
    assert_eq!(out.code, None, "{out:?}");
    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    let run_id = runs[0]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(env.groups_tagged(RUN_TAG_KEY, &run_id).await.len(), 1, "the group exists, tagged, but unjournaled");

    env.firedrill(&["revert", &run_id]).ok();
    assert!(env.groups_tagged(RUN_TAG_KEY, &run_id).await.is_empty(), "revert finds it by its run tag");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_status_defaults_to_the_newest_injected() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    env.write("a.yaml", HTTP);
    let db = format!("name: db\naction: security-group.revoke-ingress\ntarget:\n  ids: [{}]\n", stack.db_sg);
    env.write("b.yaml", &db);
    let a = env.firedrill(&["inject", "a.yaml", "--yes", "--output", "json"]).ok().json();
    let b = env.firedrill(&["inject", "b.yaml", "--yes", "--output", "json"]).ok().json();

    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    let ids: Vec<&str> = runs.as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [b["run_id"].as_str().unwrap(), a["run_id"].as_str().unwrap()]);

    env.firedrill(&["revert", b["run_id"].as_str().unwrap()]).ok();
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["run_id"], a["run_id"], "the newest run that still has injected faults");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn several_files_form_one_run_and_revert_together() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("a.yaml", HTTP);
    env.write("b.yaml", ISOLATE);
    let run = env.firedrill(&["inject", "a.yaml", "b.yaml", "--yes", "--output", "json"]).ok().json();
    let statuses: Vec<&str> = run["faults"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["targets"].as_array().unwrap())
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["injected", "injected"]);
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_seed_makes_the_random_pick_repeatable() {
    let env = Env::new().await;
    env.seed_stack().await;
    env.write("f.yaml", &format!("{ISOLATE}  seed: 11\n"));
    let pick = |out: serde_json::Value| out["faults"][0]["targets"][0]["id"].as_str().unwrap().to_owned();
    let first = pick(env.firedrill(&["plan", "f.yaml", "--output", "json"]).ok().json());
    for _ in 0..3 {
        assert_eq!(pick(env.firedrill(&["plan", "f.yaml", "--output", "json"]).ok().json()), first);
    }
}

#[tokio::test]
async fn revert_refuses_another_region_than_the_runs() {
    let env = Env::new().await;
    env.seed_stack().await;
    env.write("f.yaml", HTTP);
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    env.firedrill(&["revert", "--region", "eu-west-1"]).code(2).stderr_has("is in region us-east-1, not eu-west-1");
    env.firedrill(&["revert"]).ok();
}

#[tokio::test]
async fn a_target_that_fails_to_inject_rolls_back_the_whole_run() {
    let env = Env::new().await;
    let stack = env.seed_stack().await;
    let before = env.world().await;
    // Both instances are isolated; the second one's inject fails after its change is made.
    env.write("f.yaml", "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n");
    let failpoint = format!("inject:{}", stack.instances[1]);
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", &failpoint)]).code(1);
    let out = out.stderr_has("simulated failure").stderr_has("everything it changed was reverted");
    assert_eq!(env.world().await, before, "rolled back, quarantine group deleted: {}", out.stderr);
    let runs = env.firedrill(&["runs", "--output", "json"]).ok().json();
    assert_eq!(runs[0]["needs_revert"], false);
}
