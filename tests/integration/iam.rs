//! IAM faults against the practice stack. The emulator does not evaluate policies: the
//! tests assert what is attached, inline and trusted, as IAM reports it.

use crate::harness::{Env, ROOT};

fn fault(name: &str) -> String {
    format!("{ROOT}/faults/{name}.yaml")
}

async fn attached(env: &Env, role: &str) -> Vec<String> {
    let out = env.iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_owned)).collect()
}

#[tokio::test]
async fn detach_policies_via_instances_detaches_the_role_policies_and_revert_reattaches_them() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let role = sb["role"].as_str().unwrap();
    let before = env.world().await;
    assert_eq!(attached(&env, role).await.len(), 2);
    let run = env.firedrill(&["inject", &fault("web-role-policies-detached"), "--yes", "--output", "json"]).ok().json();
    assert_eq!(run["faults"][0]["targets"][0]["id"], role, "the instances' role, found through their profile");
    assert!(attached(&env, role).await.is_empty());
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn detach_named_policies_only() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let role = sb["role"].as_str().unwrap();
    let before = env.world().await;
    env.write(
        "f.yaml",
        &format!("name: x\naction: iam.detach-policies\ntarget:\n  names: [{role}]\nparams:\n  policies: [{role}-write-logs]\n"),
    );
    env.firedrill(&["inject", "f.yaml", "--yes"]).ok();
    let left = attached(&env, role).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].ends_with("-read-assets"), "{left:?}");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn deny_actions_puts_a_run_named_inline_deny_and_revert_deletes_it() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let role = sb["role"].as_str().unwrap();
    let before = env.world().await;
    let run = env.firedrill(&["inject", &fault("web-role-denied-s3"), "--yes", "--output", "json"]).ok().json();
    let inline = env.iam.list_role_policies().role_name(role).send().await.unwrap();
    assert_eq!(inline.policy_names().len(), 1);
    let name = &inline.policy_names()[0];
    assert!(name.starts_with("firedrill-deny-"), "{name}");
    assert!(name.contains(&run["run_id"].as_str().unwrap().replace('.', "_")), "named for the run: {name}");
    let doc = env.iam.get_role_policy().role_name(role).policy_name(name).send().await.unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&firedrill::aws::iam::percent_decode(doc.policy_document())).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(doc["Statement"][0]["Action"][0], "s3:GetObject");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn disassociate_instance_profile_and_revert_reassociates_it() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    let run =
        env.firedrill(&["inject", &fault("web-instance-profile-removed"), "--yes", "--output", "json"]).ok().json();
    let victim = run["faults"][0]["targets"][0]["id"].as_str().unwrap();
    let assoc = env
        .ec2
        .describe_iam_instance_profile_associations()
        .filters(aws_sdk_ec2::types::Filter::builder().name("instance-id").values(victim).build())
        .send()
        .await
        .unwrap();
    assert!(
        !assoc.iam_instance_profile_associations().iter().any(|a| a.state().map(|s| s.as_str()) == Some("associated")),
        "no associated profile"
    );
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn break_trust_denies_the_principal_first_and_revert_restores_the_document() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let role = sb["role"].as_str().unwrap();
    let before = env.world().await;
    env.firedrill(&["inject", &fault("web-role-trust-broken"), "--yes"]).ok();
    let r = env.iam.get_role().role_name(role).send().await.unwrap();
    let doc = firedrill::aws::iam::percent_decode(r.role().unwrap().assume_role_policy_document().unwrap());
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(doc["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
    assert_eq!(doc["Statement"][1]["Effect"], "Allow", "the original statement is kept after the deny");
    env.firedrill(&["revert"]).ok();
    assert_eq!(env.world().await, before);
}
