//! Instance faults against the practice stack.

use crate::harness::Env;

#[tokio::test]
async fn stop_instances_stops_and_revert_starts_them() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let run = env
        .firedrill(&[
            "inject",
            &format!("{}/faults/web-instance-stopped.yaml", crate::harness::ROOT),
            "--yes",
            "--output",
            "json",
        ])
        .ok()
        .json();
    let victim = run["faults"][0]["targets"][0]["id"].as_str().unwrap().to_owned();
    assert!(sb["instances"].as_array().unwrap().iter().any(|i| i == victim.as_str()));
    let state = env.instance_state(&victim).await;
    assert!(state == "stopped" || state == "stopping", "{state}");

    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn reboot_is_one_shot_and_says_so() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", "name: reboot\naction: ec2.reboot-instances\ntarget:\n  tags: { Tier: web }\n  count: 1\n");
    let plan = env.firedrill(&["plan", "f.yaml", "--output", "json"]).ok().json();
    assert_eq!(plan["faults"][0]["revertible"], false);
    let text = env.firedrill(&["plan", "f.yaml"]).ok().stdout;
    assert!(text.contains("one-shot: not revertible"), "{text}");

    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    assert_eq!(run["faults"][0]["targets"][0]["status"], "done");
    assert_eq!(run["needs_revert"], false, "a one-shot run has nothing to revert");
    env.firedrill(&["revert"]).code(2).stderr_has("no run");
    assert_eq!(env.world().await, before, "the emulator models no reboot side effects");
}
