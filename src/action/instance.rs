//! Instance faults: stop (reverted by starting) and reboot (one-shot).

use serde::{Deserialize, Serialize};

use super::{ActionInfo, Batch, Fault, Human, Listed, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws, ec2};
use crate::target::{Target, TargetKind, TargetSpec};
use crate::{Error, Result};

/// An instance's run state. `pending` counts as `running`: it is on its way there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub instance_id: String,
    pub state: String,
}

impl RunState {
    fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "pending")
    }
}

async fn run_state(aws: &Aws, id: &str) -> Result<RunState> {
    let i = ec2::describe_instance(&aws.ec2, id)
        .await?
        .ok_or_else(|| Error::Gone(format!("instance {id} no longer exists")))?;
    Ok(RunState { instance_id: id.to_owned(), state: state_name(&i) })
}

fn state_name(i: &aws_sdk_ec2::types::Instance) -> String {
    i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default()
}

/// An instance's run state, running or not: what stopping and rebooting are judged by.
/// Listing instances describes them, 200 to a call.
pub struct Running;

impl Resource for Running {
    type State = RunState;

    const BATCH: usize = ec2::DESCRIBE_BATCH;

    async fn describe(aws: &Aws, target: &Target) -> Result<RunState> {
        run_state(aws, &target.id).await
    }

    async fn describe_many(aws: &Aws, targets: &[&Target]) -> Result<Vec<Result<RunState>>> {
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        let found: std::collections::BTreeMap<String, String> = ec2::describe_instances(&aws.ec2, &ids)
            .await?
            .iter()
            .map(|i| (i.instance_id().unwrap_or_default().to_owned(), state_name(i)))
            .collect();
        Ok(ids
            .iter()
            .map(|id| match found.get(*id) {
                Some(state) => Ok(RunState { instance_id: (*id).to_owned(), state: state.clone() }),
                None => Err(Error::Gone(format!("instance {id} no longer exists"))),
            })
            .collect())
    }

    async fn list(aws: &Aws, spec: &TargetSpec) -> Option<Result<Listed<RunState>>> {
        let listed = match ec2::list_instances_with(&aws.ec2, spec, state_name).await {
            Ok(listed) => listed,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(listed
            .into_iter()
            .map(|(t, state)| {
                let state = RunState { instance_id: t.id.clone(), state };
                (t, state)
            })
            .collect()))
    }

    /// `pending` counts as `running`: it is on its way there.
    fn differences(before: &RunState, now: &RunState) -> Vec<String> {
        if before.running() == now.running() {
            Vec::new()
        } else {
            vec![format!("{} is {}, was {}", now.instance_id, now.state, before.state)]
        }
    }
}

/// How many instances one `ec2:StopInstances` or `ec2:StartInstances` call names.
const PER_CALL: usize = 100;

fn must_be_running(target: &Target, state: &RunState) -> Result<(), String> {
    if state.running() {
        Ok(())
    } else {
        Err(format!("{} is {}, not running: nothing to break", target.label(), state.state))
    }
}

/// How long to wait for a stopping instance to stop before starting it again.
const STOP_WAIT_SECS: u64 = 600;

// ---------------------------------------------------------------------------------------
// ec2.stop-instances

/// `ec2.stop-instances`: whether to hibernate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopInstances {
    /// Stop-hibernate instead of stop (the instance must have hibernation enabled).
    #[serde(default)]
    pub hibernate: bool,
}

impl Params for StopInstances {}

/// The instance a stop (or reboot) acts on.
#[derive(Debug, Serialize, Deserialize)]
pub struct StopChange {
    pub instance_id: String,
}

impl Fault for StopInstances {
    type On = Running;
    type Change = StopChange;

    fn plan(&self, target: &Target, state: &RunState) -> Result<StopChange, String> {
        must_be_running(target, state)?;
        Ok(StopChange { instance_id: state.instance_id.clone() })
    }

    fn summarize(&self, _change: &StopChange) -> Vec<String> {
        vec![if self.hibernate { "stop (hibernate) the instance" } else { "stop the instance" }.into()]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RunState>> {
        Ok(self.inject_many(aws, run, std::slice::from_ref(item)).await?.pop().flatten())
    }

    fn observe(&self, _run: &RunCtx, _change: &StopChange, now: &RunState) -> Result<(), String> {
        match now.state.as_str() {
            "stopping" | "stopped" => Ok(()),
            other => Err(format!("{} is {other} after stopping it", now.instance_id)),
        }
    }

    async fn revert(&self, aws: &Aws, run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RunState>> {
        Ok(self.revert_many(aws, run, std::slice::from_ref(item)).await?.pop().flatten())
    }
}

/// `ec2:StopInstances` and `ec2:StartInstances` take up to [`PER_CALL`] instances.
impl Batch<StopInstances> for StopInstances {
    const SIZE: usize = PER_CALL;

    async fn inject_many(
        &self,
        aws: &Aws,
        _run: &RunCtx,
        items: &[ToInject<'_, Self>],
    ) -> Result<Vec<Option<RunState>>> {
        let answered = self.stop(aws, &items.iter().map(|i| i.change.instance_id.clone()).collect::<Vec<_>>()).await?;
        Ok(items.iter().map(|i| answered_state(&answered, &i.change.instance_id)).collect())
    }

    async fn revert_many(
        &self,
        aws: &Aws,
        _run: &RunCtx,
        items: &[ToRevert<'_, Self>],
    ) -> Result<Vec<Option<RunState>>> {
        let down: Vec<&ToRevert<'_, Self>> = items.iter().filter(|i| !i.now.running()).collect();
        let ids: Vec<String> = down.iter().map(|i| i.change.instance_id.clone()).collect();
        let answered = start(aws, &ids, down.iter().any(|i| i.now.state != "stopped")).await?;
        // One already running was just described so; the others, as EC2 answered.
        let proved = |i: &ToRevert<'_, Self>| match i.now.running() {
            true => Some(i.now.clone()),
            false => answered_state(&answered, &i.change.instance_id),
        };
        Ok(items.iter().map(proved).collect())
    }
}

impl StopInstances {
    /// Stop `ids`; returns each one's state as EC2 answered (see [`answered`]).
    async fn stop(&self, aws: &Aws, ids: &[String]) -> Result<Answered> {
        aws.ec2
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .hibernate(self.hibernate)
            .send()
            .await
            .map(|out| answered(out.stopping_instances()))
            .map_err(Error::aws(format!("stop {} (ec2:StopInstances)", ids.join(", "))))
    }
}

/// Each instance's state as a stop or start call's answer gives it, by id: what it
/// proves without describing the instances again.
type Answered = std::collections::BTreeMap<String, String>;

fn answered(changes: &[aws_sdk_ec2::types::InstanceStateChange]) -> Answered {
    changes
        .iter()
        .filter_map(|c| {
            let state = c.current_state()?.name()?.as_str().to_owned();
            Some((c.instance_id()?.to_owned(), state))
        })
        .collect()
}

fn answered_state(answered: &Answered, id: &str) -> Option<RunState> {
    answered.get(id).map(|state| RunState { instance_id: id.to_owned(), state: state.clone() })
}

/// Start `ids`, first waiting until none is still stopping (an instance cannot be started
/// until it has stopped) when the state just described says one may be (`wait`).
async fn start(aws: &Aws, ids: &[String], wait: bool) -> Result<Answered> {
    if ids.is_empty() {
        return Ok(Answered::new());
    }
    if wait {
        ec2::wait_for_instances(&aws.ec2, ids, &["stopped", "running", "pending"], STOP_WAIT_SECS).await?;
    }
    aws.ec2
        .start_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map(|out| answered(out.starting_instances()))
        .map_err(Error::aws(format!("start {} (ec2:StartInstances)", ids.join(", "))))
}

/// The catalogue's entry for `ec2.stop-instances`.
pub const STOP_INSTANCES: ActionInfo = ActionInfo {
    name: "ec2.stop-instances",
    target: TargetKind::Instance,
    summary: "Stop running instances (optionally hibernate). Instances in an auto scaling group may be replaced by it.",
    revert: "Starts each instance again (after it has finished stopping).",
    one_shot: false,
    params: &[super::ParamInfo {
        name: "hibernate",
        ty: "bool",
        default: "false",
        doc: "Hibernate instead of stop (needs hibernation configured).",
    }],
    permissions: &["ec2:StopInstances", "ec2:StartInstances"],
};

// ---------------------------------------------------------------------------------------
// ec2.reboot-instances

/// `ec2.reboot-instances`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RebootInstances {}

impl Params for RebootInstances {}

impl Fault for RebootInstances {
    type On = Running;
    type Change = StopChange;

    fn plan(&self, target: &Target, state: &RunState) -> Result<StopChange, String> {
        must_be_running(target, state)?;
        Ok(StopChange { instance_id: state.instance_id.clone() })
    }

    fn summarize(&self, _change: &StopChange) -> Vec<String> {
        vec!["reboot the instance (one-shot: not revertible)".into()]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RunState>> {
        let id = &item.change.instance_id;
        aws::call(aws.ec2.reboot_instances().instance_ids(id).send(), format!("reboot {id} (ec2:RebootInstances)"))
            .await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, _change: &StopChange, _now: &RunState) -> Result<(), String> {
        // A reboot leaves no lasting state to observe: the request was accepted.
        Ok(())
    }
}

/// The catalogue's entry for `ec2.reboot-instances`.
pub const REBOOT_INSTANCES: ActionInfo = ActionInfo {
    name: "ec2.reboot-instances",
    target: TargetKind::Instance,
    summary: "Reboot running instances: \"just reboot it\", as a drill. The snapshot keeps the pre-reboot state for the investigation.",
    revert: "not revertible (one-shot)",
    one_shot: true,
    params: &[],
    permissions: &["ec2:RebootInstances"],
};

// ---------------------------------------------------------------------------------------
// ec2.terminate-instances

/// What to keep of an instance before terminating it, for the investigation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Preserve {
    /// Its full description only (always kept, in the snapshot).
    #[default]
    None,
    /// An AMI of it (with snapshots of its EBS volumes), made without rebooting it.
    Image,
    /// EBS snapshots of its volumes.
    Volumes,
}

/// `ec2.terminate-instances`: what to preserve, and whether revert relaunches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminateInstances {
    #[serde(default)]
    pub preserve: Preserve,
    /// On revert, launch a replacement from the preserved image with the same configuration.
    #[serde(default)]
    pub relaunch: bool,
}

impl Params for TerminateInstances {
    fn check(&self) -> Result<(), String> {
        if self.relaunch && self.preserve != Preserve::Image {
            return Err("`relaunch: true` needs `preserve: image`: the replacement is launched from that image".into());
        }
        Ok(())
    }

    fn needless(&self) -> &'static [&'static str] {
        const RELAUNCH: [&str; 4] = [
            "ec2:RunInstances",
            "iam:PassRole",
            "elasticloadbalancing:RegisterTargets",
            "elasticloadbalancing:DeregisterTargets",
        ];
        match (self.preserve, self.relaunch) {
            (Preserve::Image, true) => &["ec2:CreateSnapshot"],
            (Preserve::Image, false) => &["ec2:CreateSnapshot", RELAUNCH[0], RELAUNCH[1], RELAUNCH[2], RELAUNCH[3]],
            (Preserve::Volumes, _) => {
                &["ec2:CreateImage", "ec2:DescribeImages", RELAUNCH[0], RELAUNCH[1], RELAUNCH[2], RELAUNCH[3]]
            }
            (Preserve::None, _) => &[
                "ec2:CreateImage",
                "ec2:DescribeImages",
                "ec2:CreateSnapshot",
                RELAUNCH[0],
                RELAUNCH[1],
                RELAUNCH[2],
                RELAUNCH[3],
            ],
        }
    }
}

/// An instance's configuration: what the snapshot keeps, and what a relaunch reproduces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceConfig {
    pub instance_id: String,
    pub state: String,
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: Option<String>,
    pub private_ip: Option<String>,
    /// Security group ids, sorted.
    pub security_groups: Vec<String>,
    pub profile_arn: Option<String>,
    pub key_name: Option<String>,
    /// Tags, without the `aws:` and `firedrill:` ones.
    pub tags: std::collections::BTreeMap<String, String>,
    /// (device name, volume id), in device order.
    pub volumes: Vec<(String, String)>,
    /// Base64, as EC2 returns and takes it.
    pub user_data: Option<String>,
    /// (target group ARN, port) of every target group the instance is registered in.
    #[serde(default)]
    pub target_groups: Vec<(String, Option<i32>)>,
}

const REPLACES_TAG: &str = "firedrill:replaces";

async fn instance_config(aws: &Aws, instance: &aws_sdk_ec2::types::Instance) -> Result<InstanceConfig> {
    let id = instance.instance_id().unwrap_or_default().to_owned();
    let user_data = aws
        .ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .map_err(Error::aws(format!("read the user data of {id} (ec2:DescribeInstanceAttribute)")))?
        .user_data()
        .and_then(|u| u.value())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let mut security_groups: Vec<String> =
        instance.security_groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect();
    security_groups.sort();
    let mut volumes: Vec<(String, String)> = instance
        .block_device_mappings()
        .iter()
        .filter_map(|b| Some((b.device_name()?.to_owned(), b.ebs()?.volume_id()?.to_owned())))
        .collect();
    volumes.sort();
    Ok(InstanceConfig {
        instance_id: id,
        state: instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default(),
        instance_type: instance.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
        image_id: instance.image_id().unwrap_or_default().to_owned(),
        subnet_id: instance.subnet_id().map(str::to_owned),
        private_ip: instance.private_ip_address().map(str::to_owned),
        security_groups,
        profile_arn: instance.iam_instance_profile().and_then(|p| p.arn()).map(str::to_owned),
        key_name: instance.key_name().map(str::to_owned),
        tags: crate::aws::holds::without_holds(ec2::tags_map(instance.tags()))
            .into_iter()
            .filter(|(k, _)| !k.starts_with("aws:") && !k.starts_with("firedrill:"))
            .collect(),
        volumes,
        user_data,
        target_groups: registrations(aws, instance.instance_id().unwrap_or_default()).await?,
    })
}

/// The target groups an instance is registered in, with its port there.
async fn registrations(aws: &Aws, id: &str) -> Result<Vec<(String, Option<i32>)>> {
    let groups = aws::elbv2::all_target_groups(&aws.elbv2).await?;
    let mut out = Vec::new();
    for tg in groups.iter().filter(|g| g.target_type().map(|t| t.as_str()) != Some("ip")) {
        let arn = tg.target_group_arn().unwrap_or_default();
        let health = aws.elbv2.describe_target_health().target_group_arn(arn).send().await.map_err(Error::aws(
            format!("describe the targets of {arn} (elasticloadbalancing:DescribeTargetHealth)"),
        ))?;
        for t in health.target_health_descriptions().iter().filter_map(|d| d.target()) {
            if t.id() == Some(id) {
                out.push((arn.to_owned(), t.port()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The live replacement firedrill launched for `id`, if any.
async fn replacement(aws: &Aws, id: &str) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    let out = aws
        .ec2
        .describe_instances()
        .filters(ec2::filter(&format!("tag:{REPLACES_TAG}"), [id]))
        .filters(ec2::filter("instance-state-name", ["pending", "running", "stopping", "stopped"]))
        .send()
        .await
        .map_err(Error::aws(format!("look for a replacement of {id} (ec2:DescribeInstances)")))?;
    Ok(out.reservations().iter().flat_map(|r| r.instances()).next().cloned())
}

/// A terminate: the instance, what is preserved, whether revert relaunches.
#[derive(Debug, Serialize, Deserialize)]
pub struct TerminateChange {
    pub instance_id: String,
    pub preserve: Preserve,
    pub relaunch: bool,
}

/// How long to wait for a preserving image to be available before terminating.
const IMAGE_WAIT_SECS: u64 = 1800;

impl TerminateInstances {
    /// Launch a replacement for `id` from its preserved image, with its configuration;
    /// journaled as created. Returns the new instance's id.
    async fn relaunch(&self, aws: &Aws, run: &RunCtx, before: &InstanceConfig, id: &str) -> Result<String> {
        let ami =
            run.created_in("image", id).ok_or_else(|| Error::Failed(format!("no preserved image of {id} recorded")))?;
        let mut tags: Vec<aws_sdk_ec2::types::Tag> =
            before.tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect();
        tags.push(aws_sdk_ec2::types::Tag::builder().key(crate::aws::RUN_TAG).value(&run.run_id).build());
        tags.push(aws_sdk_ec2::types::Tag::builder().key(REPLACES_TAG).value(id).build());
        tags.push(
            aws_sdk_ec2::types::Tag::builder().key(crate::aws::KIND_TAG).value(crate::aws::kind::RELAUNCHED).build(),
        );
        let out = aws
            .ec2
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(before.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .set_subnet_id(before.subnet_id.clone())
            .set_security_group_ids(Some(before.security_groups.clone()))
            .set_key_name(before.key_name.clone())
            .set_user_data(before.user_data.clone())
            .set_iam_instance_profile(
                before
                    .profile_arn
                    .as_ref()
                    .map(|arn| aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(arn).build()),
            )
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                    .set_tags(Some(tags))
                    .build(),
            )
            .send()
            .await
            .map_err(Error::aws(format!("launch a replacement for {id} from {ami} (ec2:RunInstances)")))?;
        let new = out.instances().first().and_then(|i| i.instance_id()).unwrap_or_default().to_owned();
        run.record_created("instance", &new, id)?;
        Ok(new)
    }
}

/// An instance's configuration, served by the original or, once it is terminated, by
/// the replacement a relaunch made (tagged `firedrill:replaces=<original id>`): what
/// terminating is judged by.
pub struct Config;

impl Resource for Config {
    type State = InstanceConfig;

    async fn describe(aws: &Aws, target: &Target) -> Result<InstanceConfig> {
        let original = ec2::describe_instance(&aws.ec2, &target.id)
            .await?
            .ok_or_else(|| Error::Gone(format!("instance {} no longer exists", target.id)))?;
        let gone =
            matches!(original.state().and_then(|s| s.name()).map(|n| n.as_str()), Some("terminated" | "shutting-down"));
        match (gone, if gone { replacement(aws, &target.id).await? } else { None }) {
            (true, Some(r)) => instance_config(aws, &r).await,
            _ => instance_config(aws, &original).await,
        }
    }

    /// A replacement matches when its configuration does; its id, image and volumes are
    /// new by nature.
    fn differences(before: &InstanceConfig, now: &InstanceConfig) -> Vec<String> {
        let running = |s: &str| matches!(s, "running" | "pending");
        let mut out = Vec::new();
        let who = if now.instance_id == before.instance_id {
            before.instance_id.clone()
        } else {
            format!("{} (replacing {})", now.instance_id, before.instance_id)
        };
        if running(&before.state) != running(&now.state) {
            out.push(format!("{who}: is {}, was {}", now.state, before.state));
        }
        let fields = [
            ("type", before.instance_type.human(), now.instance_type.human()),
            ("subnet", before.subnet_id.human(), now.subnet_id.human()),
            ("security groups", before.security_groups.human(), now.security_groups.human()),
            ("instance profile", before.profile_arn.human(), now.profile_arn.human()),
            ("key pair", before.key_name.human(), now.key_name.human()),
            ("tags", before.tags.human(), now.tags.human()),
            ("target groups", before.target_groups.human(), now.target_groups.human()),
        ];
        for (what, b, n) in fields {
            if b != n {
                out.push(format!("{who}: {what} is {n}, snapshot had {b}"));
            }
        }
        // Base64 of a script: say that it differs, not what it says.
        if before.user_data != now.user_data {
            out.push(format!("{who}: user data differs from the snapshot's"));
        }
        out
    }
}

impl Fault for TerminateInstances {
    type On = Config;
    type Change = TerminateChange;

    fn plan(&self, target: &Target, state: &InstanceConfig) -> Result<TerminateChange, String> {
        if matches!(state.state.as_str(), "terminated" | "shutting-down") {
            return Err(format!("{} is already {}: nothing to break", target.label(), state.state));
        }
        Ok(TerminateChange { instance_id: state.instance_id.clone(), preserve: self.preserve, relaunch: self.relaunch })
    }

    fn summarize(&self, change: &TerminateChange) -> Vec<String> {
        let keep = match change.preserve {
            Preserve::None => "keep its description (in the snapshot)",
            Preserve::Image => "create an image of it (no reboot) and wait for it",
            Preserve::Volumes => "snapshot its EBS volumes",
        };
        let revert = if change.relaunch {
            "revert launches a replacement from the image"
        } else {
            "NOT reversible: revert only reports what was preserved"
        };
        vec![format!("{keep}, then terminate it; {revert}")]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<InstanceConfig>> {
        let id = &item.change.instance_id;
        let cfg = Config::describe(aws, item.target).await?;
        // The evidence carries the run's tags and says which instance it is of.
        let tags =
            |kind| super::run_tags(run, kind, crate::aws::kind::EVIDENCE, &[(crate::aws::INSTANCE_TAG, id.clone())]);
        match item.change.preserve {
            Preserve::None => {}
            Preserve::Image if run.created_in("image", id).is_none() => {
                let out = aws
                    .ec2
                    .create_image()
                    .instance_id(id)
                    .name(format!("firedrill-{}-{id}", run.run_id.replace(':', "")))
                    .description(format!("firedrill run {}: {id} before it was terminated", run.run_id))
                    .no_reboot(true)
                    // The image is tagged at creation; its snapshots once it is available
                    // (the emulator fails on a `snapshot` tag specification here).
                    .tag_specifications(tags(aws_sdk_ec2::types::ResourceType::Image))
                    .send()
                    .await
                    .map_err(Error::aws(format!("create an image of {id} (ec2:CreateImage)")))?;
                let ami = out.image_id().unwrap_or_default().to_owned();
                crate::failpoint::hit("after-create");
                run.record_created("image", &ami, id)?;
                let snapshots = wait_for_image(aws, &ami).await?;
                if !snapshots.is_empty() {
                    let t = tags(aws_sdk_ec2::types::ResourceType::Snapshot);
                    aws.ec2
                        .create_tags()
                        .set_resources(Some(snapshots))
                        .set_tags(t.tags)
                        .send()
                        .await
                        .map_err(Error::aws(format!("tag the snapshots of {ami} (ec2:CreateTags)")))?;
                }
            }
            Preserve::Image => {}
            Preserve::Volumes => {
                for (device, volume) in &cfg.volumes {
                    let scope = format!("{id}/{volume}");
                    if run.created_in("ebs-snapshot", &scope).is_some() {
                        continue;
                    }
                    let out = aws
                        .ec2
                        .create_snapshot()
                        .volume_id(volume)
                        .description(format!("firedrill run {}: {device} of {id} before it was terminated", run.run_id))
                        .tag_specifications(tags(aws_sdk_ec2::types::ResourceType::Snapshot))
                        .send()
                        .await
                        .map_err(Error::aws(format!("snapshot {volume} of {id} (ec2:CreateSnapshot)")))?;
                    run.record_created("ebs-snapshot", out.snapshot_id().unwrap_or_default(), &scope)?;
                }
            }
        }
        aws::call(
            aws.ec2.terminate_instances().instance_ids(id).send(),
            format!("terminate {id} (ec2:TerminateInstances)"),
        )
        .await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &TerminateChange, now: &InstanceConfig) -> Result<(), String> {
        if now.instance_id == change.instance_id && matches!(now.state.as_str(), "shutting-down" | "terminated") {
            Ok(())
        } else {
            Err(format!("{} is {} after terminating it", change.instance_id, now.state))
        }
    }

    fn irreversible(&self, _before: &InstanceConfig, change: &TerminateChange, run: &RunCtx) -> Option<String> {
        if change.relaunch {
            return None;
        }
        let kept: Vec<String> =
            run.created_for(&change.instance_id).into_iter().map(|(k, id)| format!("{k} {id}")).collect();
        let kept = if kept.is_empty() { String::new() } else { format!("; preserved: {}", kept.join(", ")) };
        Some(format!(
            "{} was terminated and cannot be restored (set `relaunch: true` with `preserve: image` for a replacement). \
             Its full description is in the snapshot{kept}",
            change.instance_id
        ))
    }

    async fn revert(&self, aws: &Aws, run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<InstanceConfig>> {
        let (before, now) = (item.before, item.now);
        let id = &item.change.instance_id;
        let new = if now.instance_id != *id {
            now.instance_id.clone() // a replacement exists already (an earlier, partial revert)
        } else if matches!(now.state.as_str(), "shutting-down" | "terminated") {
            self.relaunch(aws, run, before, id).await?
        } else {
            return Ok(None); // never terminated (a crash before the call)
        };
        // Serve where the original served: register the replacement in its target groups
        // (idempotent), and take the terminated original out of them.
        for (tg, port) in &before.target_groups {
            let target = |i: &str| {
                aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder().id(i).set_port(*port).build()
            };
            aws.elbv2
                .register_targets()
                .target_group_arn(tg)
                .targets(target(&new))
                .send()
                .await
                .map_err(Error::aws(format!("register {new} with {tg} (elasticloadbalancing:RegisterTargets)")))?;
            if let Err(e) = aws.elbv2.deregister_targets().target_group_arn(tg).targets(target(id)).send().await {
                let err = Error::aws(format!("deregister {id} from {tg} (elasticloadbalancing:DeregisterTargets)"))(e);
                // A terminated instance may be gone from the group already.
                if err.aws_code() != Some("InvalidTarget") {
                    return Err(err);
                }
            }
        }
        Ok(None)
    }
}

/// Wait until the image is available; returns its EBS snapshots' ids.
async fn wait_for_image(aws: &Aws, ami: &str) -> Result<Vec<String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(IMAGE_WAIT_SECS);
    loop {
        let out = aws
            .ec2
            .describe_images()
            .image_ids(ami)
            .send()
            .await
            .map_err(Error::aws(format!("wait for image {ami} (ec2:DescribeImages)")))?;
        let image = out.images().first();
        match image.and_then(|i| i.state()).map(|s| s.as_str()) {
            Some("available") => {
                let snaps = image.map(|i| i.block_device_mappings()).unwrap_or_default();
                return Ok(snaps.iter().filter_map(|b| b.ebs()?.snapshot_id().map(str::to_owned)).collect());
            }
            Some("failed" | "invalid" | "error" | "deregistered") => {
                return Err(Error::Failed(format!("image {ami} failed: not terminating without it")));
            }
            _ if std::time::Instant::now() > deadline => {
                return Err(Error::Failed(format!(
                    "image {ami} is not available after {IMAGE_WAIT_SECS} s: not terminating"
                )));
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(5)).await,
        }
    }
}

/// The catalogue's entry for `ec2.terminate-instances`.
pub const TERMINATE_INSTANCES: ActionInfo = ActionInfo {
    name: "ec2.terminate-instances",
    target: TargetKind::Instance,
    summary: "Terminate instances. Their full description (type, subnet, groups, profile, tags, volumes, user data) is always kept in the snapshot; `preserve: image` makes an AMI (or `volumes`, EBS snapshots) first, tagged with the run, and waits for it.",
    revert: "With `relaunch: true`, launches a replacement from the preserved image with the same configuration, in the same target groups. Otherwise not reversible: revert says so, and where the preserved state is.",
    one_shot: false,
    params: &[
        super::ParamInfo {
            name: "preserve",
            ty: "none | image | volumes",
            default: "none",
            doc: "What to keep before terminating.",
        },
        super::ParamInfo {
            name: "relaunch",
            ty: "bool",
            default: "false",
            doc: "Revert launches a replacement (needs preserve: image).",
        },
    ],
    permissions: &[
        "ec2:DescribeInstanceAttribute",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "ec2:TerminateInstances",
        "ec2:CreateImage",
        "ec2:DescribeImages",
        "ec2:CreateSnapshot",
        "ec2:RunInstances",
        "iam:PassRole",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
    ],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: &str) -> RunState {
        RunState { instance_id: "i-1".into(), state: s.into() }
    }

    #[test]
    fn stop_plans_only_a_running_instance_and_counts_stopping_as_stopped() {
        let run = RunCtx::for_tests();
        let f = StopInstances::default();
        let target = Target { id: "i-1".into(), name: Some("web-1".into()), tags: Default::default(), vpc: None };
        assert!(f.plan(&target, &state("pending")).is_ok(), "pending is on its way to running");
        let err = f.plan(&target, &state("stopped")).unwrap_err();
        assert_eq!(err, "i-1 (web-1) is stopped, not running: nothing to break");
        let c = f.plan(&target, &state("running")).unwrap();
        assert_eq!(f.observe(&run, &c, &state("stopping")), Ok(()));
        assert_eq!(f.observe(&run, &c, &state("stopped")), Ok(()));
        assert!(f.observe(&run, &c, &state("running")).is_err(), "a stale read: not in effect yet");
        assert!(Running::differences(&state("running"), &state("pending")).is_empty(), "pending counts as restored");
        assert_eq!(Running::differences(&state("running"), &state("stopped")), ["i-1 is stopped, was running"]);
        let reboot = RebootInstances {};
        assert!(reboot.plan(&target, &state("stopped")).is_err(), "a stopped instance is not rebooted");
    }

    fn config(id: &str, state: &str) -> InstanceConfig {
        InstanceConfig {
            instance_id: id.into(),
            state: state.into(),
            instance_type: "t3.micro".into(),
            image_id: "ami-1".into(),
            subnet_id: Some("subnet-1".into()),
            private_ip: Some("10.0.1.5".into()),
            security_groups: vec!["sg-web".into()],
            profile_arn: None,
            key_name: None,
            tags: [("Name".to_owned(), "web-1".to_owned())].into(),
            volumes: vec![("/dev/xvda".into(), "vol-1".into())],
            user_data: None,
            target_groups: vec![("tg-1".into(), Some(80))],
        }
    }

    #[test]
    fn terminate_says_what_it_kept_when_it_cannot_be_undone() {
        let run = RunCtx::for_tests();
        let keep = TerminateInstances { preserve: Preserve::Volumes, relaunch: false };
        let before = config("i-1", "running");
        let c = keep.plan(&Target::for_tests("i-1"), &before).unwrap();
        assert!(keep.plan(&Target::for_tests("i-1"), &config("i-1", "terminated")).is_err());
        assert_eq!(keep.observe(&run, &c, &config("i-1", "shutting-down")), Ok(()));
        assert!(keep.observe(&run, &c, &before).is_err());
        run.record_created("ebs-snapshot", "snap-1", "i-1/vol-1").unwrap();
        let note = keep.irreversible(&before, &c, &run).unwrap();
        assert!(
            note.starts_with("i-1 was terminated and cannot be restored")
                && note.ends_with("preserved: ebs-snapshot snap-1"),
            "{note}"
        );
        let relaunch = TerminateInstances { preserve: Preserve::Image, relaunch: true };
        assert_eq!(
            relaunch.irreversible(&before, &relaunch.plan(&Target::for_tests("i-1"), &before).unwrap(), &run),
            None
        );
        assert!(TerminateInstances { preserve: Preserve::None, relaunch: true }.check().is_err());
    }

    #[test]
    fn a_replacement_matches_its_original_by_configuration_not_by_id() {
        let before = config("i-1", "running");
        let replacement =
            InstanceConfig { image_id: "ami-2".into(), volumes: vec![], private_ip: None, ..config("i-9", "pending") };
        assert!(
            Config::differences(&before, &replacement).is_empty(),
            "id, image, volumes and address are new by nature"
        );
        let elsewhere = InstanceConfig { target_groups: vec![], ..replacement };
        assert_eq!(
            Config::differences(&before, &elsewhere),
            ["i-9 (replacing i-1): target groups is none, snapshot had tg-1 80"]
        );
    }
}
