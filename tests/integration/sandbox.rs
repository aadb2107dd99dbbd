//! The practice stack: `up` creates it, `down` deletes exactly what `up` created.

use crate::harness::Env;

#[tokio::test]
async fn sandbox_down_leaves_the_account_as_it_was_before_up() {
    let env = Env::new().await;
    // Something of the team's own that `down` must not touch.
    let vpc = env.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let before = env.world().await;
    let sb = env.sandbox().await;
    assert_eq!(sb["instances"].as_array().unwrap().len(), 2);
    assert_ne!(env.world().await, before);
    env.firedrill(&["sandbox", "up"]).code(2).stderr_has("already exists");

    env.firedrill(&["sandbox", "down"]).ok();
    // Emulator gap: moto's DeleteVpc leaves the VPC's default network ACL behind (AWS
    // deletes it with the VPC, and refuses to delete it alone). Check that it is exactly
    // that, then leave it out.
    let acls = env.ec2.describe_network_acls().send().await.unwrap();
    let leftover: Vec<String> = acls
        .network_acls()
        .iter()
        .filter(|a| a.vpc_id() == sb["vpc"].as_str())
        .map(|a| {
            assert_eq!(a.is_default(), Some(true), "only the deleted VPC's default ACL may remain: {a:?}");
            a.network_acl_id().unwrap().to_owned()
        })
        .collect();
    // Terminated instances stay visible for a while on AWS too; everything else is gone.
    let after: Vec<String> = env
        .world()
        .await
        .lines()
        .filter(|l| !(l.starts_with("instance ") && l.contains("Some(\"terminated\")")))
        .filter(|l| !leftover.iter().any(|acl| l.contains(acl.as_str())))
        .map(str::to_owned)
        .collect();
    assert_eq!(after.join("\n"), before);
    let vpcs = env.ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "the team's own VPC is untouched");
    env.firedrill(&["sandbox", "down"]).code(2).stderr_has("no sandbox `firedrill` recorded");
}
