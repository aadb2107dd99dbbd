//! S3 buckets as targets: `s3.deny-bucket-policy` on a bucket with no policy reverts to
//! no policy; only the command's region's buckets are selected.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging};

use crate::harness::Env;

const DENY: &str = "name: deny\naction: s3.deny-bucket-policy\ntarget:\n  tags: { Tier: assets }\nparams:\n  actions: [s3:GetObject, s3:PutObject]\n  principals: [\"arn:aws:iam::123456789012:role/app\"]\n";

async fn tagged_bucket(env: &Env, name: &str, region: Option<&str>) {
    let s3 = env.s3();
    let mut create = s3.create_bucket().bucket(name);
    if let Some(r) = region {
        let at = CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(r)).build();
        create = create.create_bucket_configuration(at);
    }
    create.send().await.unwrap();
    let tag = Tag::builder().key("Tier").value("assets").build().unwrap();
    s3.put_bucket_tagging()
        .bucket(name)
        .tagging(Tagging::builder().tag_set(tag).build().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bucket_without_a_policy_gets_none_back_and_other_regions_are_left_alone() {
    let env = Env::new().await;
    let here = format!("assets-{}", env.account);
    let there = format!("assets-{}-eu", env.account);
    tagged_bucket(&env, &here, None).await;
    tagged_bucket(&env, &there, Some("eu-west-1")).await;
    let before = env.world().await;
    env.write("f.yaml", DENY);
    let plan = env.firedrill(&["plan", "f.yaml", "--output", "json"]).ok().json();
    let ids: Vec<&str> =
        plan["faults"][0]["targets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [here.as_str()], "only the bucket in the command's region: {plan:#}");

    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let policy = env.s3().get_bucket_policy().bucket(&here).send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny", "{doc:#}");
    assert_eq!(doc["Statement"][0]["Principal"]["AWS"][0], "arn:aws:iam::123456789012:role/app");
    let status = env.firedrill(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["faults"][0]["targets"][0]["live"], "broken");

    env.firedrill(&["revert", run["run_id"].as_str().unwrap()]).ok();
    let gone = env.s3().get_bucket_policy().bucket(&here).send().await.unwrap_err();
    assert_eq!(gone.code(), Some("NoSuchBucketPolicy"), "no policy, as before");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_deny_that_would_stop_its_own_revert_is_refused_and_nothing_changes() {
    let env = Env::new().await;
    tagged_bucket(&env, &format!("assets-{}", env.account), None).await;
    let before = env.world().await;
    env.write("f.yaml", &DENY.replace("[s3:GetObject, s3:PutObject]", "[s3:*]"));
    env.firedrill(&["inject", "f.yaml", "--yes"]).code(2).stderr_has("f.yaml:6:12: error: `actions` holds `s3:*`");
    assert_eq!(env.world().await, before);
    assert!(!env.has_runs());
}
