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

#[tokio::test]
async fn terminate_preserves_an_image_first_and_revert_relaunches_the_same_configuration() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let path = format!("{}/faults/web-instance-terminated.yaml", crate::harness::ROOT);
    let run = env.firedrill(&["inject", &path, "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let victim = run["faults"][0]["targets"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(env.instance_state(&victim).await, "terminated");
    let ami = run["created"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(run["created"][0]["kind"], "image");
    let image = env.ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let tags = image.images()[0].tags();
    assert!(tags.iter().any(|t| t.key() == Some("firedrill:run") && t.value() == Some(run_id.as_str())), "{tags:?}");
    assert!(tags.iter().any(|t| t.key() == Some("firedrill:instance") && t.value() == Some(victim.as_str())));

    let after = env.firedrill(&["revert", "--output", "json"]).ok().json();
    assert_eq!(after["faults"][0]["targets"][0]["status"], "reverted");
    let created: Vec<&str> = after["created"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(created, ["image", "instance"], "the image is kept; the replacement is recorded");
    let new = after["created"][1]["id"].as_str().unwrap();
    let d = env.ec2.describe_instances().instance_ids(new).send().await.unwrap();
    let new_i = &d.reservations()[0].instances()[0];
    let old = env.ec2.describe_instances().instance_ids(&victim).send().await.unwrap();
    let old_i = &old.reservations()[0].instances()[0];
    assert_eq!(new_i.image_id(), Some(ami.as_str()), "launched from the preserved image");
    assert_eq!(new_i.subnet_id(), old_i.subnet_id());
    assert_eq!(new_i.instance_type(), old_i.instance_type());
    assert!(new_i.tags().iter().any(|t| t.key() == Some("firedrill:replaces") && t.value() == Some(victim.as_str())));
    assert!(new_i.tags().iter().any(|t| t.key() == Some("Tier") && t.value() == Some("web")), "tags carried over");
    let tg =
        env.elbv2.describe_target_health().target_group_arn(sb["target_group"].as_str().unwrap()).send().await.unwrap();
    let mut serving: Vec<&str> = tg.target_health_descriptions().iter().filter_map(|d| d.target()?.id()).collect();
    serving.sort();
    assert!(serving.contains(&new), "the replacement serves in the target group: {serving:?}");
    assert!(!serving.contains(&victim.as_str()), "the terminated instance is out of it: {serving:?}");
    // A second revert is harmless: the replacement already serves.
    env.firedrill(&["revert", &run_id]).ok();
    let all = env.ec2.describe_instances().send().await.unwrap();
    let replacements = all
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.tags().iter().any(|t| t.key() == Some("firedrill:replaces")))
        .count();
    assert_eq!(replacements, 1, "no second replacement");
}

#[tokio::test]
async fn terminate_without_relaunch_is_reported_irreversible_with_what_was_kept() {
    let env = Env::new().await;
    env.sandbox().await;
    env.write(
        "f.yaml",
        "name: gone\naction: ec2.terminate-instances\ntarget:\n  tags: { Tier: web }\n  count: 1\nparams:\n  preserve: volumes\n",
    );
    let plan = env.firedrill(&["plan", "f.yaml"]).ok().stdout;
    assert!(plan.contains("NOT reversible"), "{plan}");
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    let out = env.firedrill(&["revert", "--output", "json"]).code(3);
    let after = out.json();
    let t = &after["faults"][0]["targets"][0];
    assert_eq!(t["status"], "irreversible");
    assert!(t["error"].as_str().unwrap().contains("ebs-snapshot snap-"), "{t}");
    assert_eq!(after["needs_revert"], false, "nothing left that a revert could do");
    // The run no longer counts as pending for `status` / `revert` without a RUN.
    env.firedrill(&["revert"]).code(2).stderr_has("no run");
    env.firedrill(&["status", run_id]).ok();
}

#[tokio::test]
async fn relaunch_without_an_image_is_refused_as_bad_input() {
    let env = Env::new().await;
    env.write("f.yaml", "name: x\naction: ec2.terminate-instances\ntarget:\n  ids: [i-1]\nparams:\n  relaunch: true\n");
    env.firedrill(&["validate", "f.yaml"])
        .code(2)
        .stderr_has("f.yaml:6:3: error: `relaunch: true` needs `preserve: image`");
}
