//! Instance faults: stop (reverted by starting) and reboot (one-shot).

use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, Params};
use crate::aws::{Aws, ec2};
use crate::executor::RunCtx;
use crate::target::{Target, TargetKind};
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
        .ok_or_else(|| Error::Failed(format!("instance {id} no longer exists")))?;
    let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default();
    Ok(RunState { instance_id: id.to_owned(), state })
}

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

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopInstances {
    /// Stop-hibernate instead of stop (the instance must have hibernation enabled).
    #[serde(default)]
    pub hibernate: bool,
}

impl Params for StopInstances {}

#[derive(Debug, Serialize, Deserialize)]
pub struct StopChange {
    pub instance_id: String,
}

impl Fault for StopInstances {
    type State = RunState;
    type Change = StopChange;

    async fn describe(&self, aws: &Aws, target: &Target) -> Result<RunState> {
        run_state(aws, &target.id).await
    }

    fn plan(&self, target: &Target, state: &RunState) -> Result<StopChange, String> {
        must_be_running(target, state)?;
        Ok(StopChange { instance_id: state.instance_id.clone() })
    }

    fn summarize(&self, _change: &StopChange) -> Vec<String> {
        vec![if self.hibernate { "stop (hibernate) the instance" } else { "stop the instance" }.into()]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, _target: &Target, change: &StopChange) -> Result<()> {
        let id = &change.instance_id;
        aws.ec2
            .stop_instances()
            .instance_ids(id)
            .hibernate(self.hibernate)
            .send()
            .await
            .map(drop)
            .map_err(Error::aws(format!("stop {id} (ec2:StopInstances)")))
    }

    fn observe(&self, _run: &RunCtx, _change: &StopChange, now: &RunState) -> Result<(), String> {
        match now.state.as_str() {
            "stopping" | "stopped" => Ok(()),
            other => Err(format!("{} is {other} after stopping it", now.instance_id)),
        }
    }

    async fn revert(
        &self,
        aws: &Aws,
        _run: &RunCtx,
        _target: &Target,
        _before: &RunState,
        change: &StopChange,
        now: &RunState,
    ) -> Result<()> {
        if now.running() {
            return Ok(());
        }
        let id = &change.instance_id;
        // An instance cannot be started while it is still stopping.
        ec2::wait_for_instances(&aws.ec2, std::slice::from_ref(id), &["stopped", "running", "pending"], STOP_WAIT_SECS)
            .await?;
        aws.ec2
            .start_instances()
            .instance_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(Error::aws(format!("start {id} (ec2:StartInstances)")))
    }

    fn differences(&self, before: &RunState, now: &RunState) -> Vec<String> {
        if before.running() == now.running() {
            Vec::new()
        } else {
            vec![format!("{} is {}, was {}", now.instance_id, now.state, before.state)]
        }
    }
}

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
    permissions: &["ec2:DescribeInstances", "ec2:StopInstances", "ec2:StartInstances"],
    parse: |path, src| crate::fault::parse_params(path, src).map(super::Action::Ec2StopInstances),
};

// ---------------------------------------------------------------------------------------
// ec2.reboot-instances

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebootInstances {}

impl Params for RebootInstances {}

impl Fault for RebootInstances {
    type State = RunState;
    type Change = StopChange;

    async fn describe(&self, aws: &Aws, target: &Target) -> Result<RunState> {
        run_state(aws, &target.id).await
    }

    fn plan(&self, target: &Target, state: &RunState) -> Result<StopChange, String> {
        must_be_running(target, state)?;
        Ok(StopChange { instance_id: state.instance_id.clone() })
    }

    fn summarize(&self, _change: &StopChange) -> Vec<String> {
        vec!["reboot the instance (one-shot: not revertible)".into()]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, _target: &Target, change: &StopChange) -> Result<()> {
        let id = &change.instance_id;
        aws.ec2
            .reboot_instances()
            .instance_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(Error::aws(format!("reboot {id} (ec2:RebootInstances)")))
    }

    fn observe(&self, _run: &RunCtx, _change: &StopChange, _now: &RunState) -> Result<(), String> {
        // A reboot leaves no lasting state to observe: the request was accepted.
        Ok(())
    }

    async fn revert(&self, _: &Aws, _: &RunCtx, _: &Target, _: &RunState, _: &StopChange, _: &RunState) -> Result<()> {
        Ok(())
    }

    fn differences(&self, _before: &RunState, _now: &RunState) -> Vec<String> {
        Vec::new()
    }
}

pub const REBOOT_INSTANCES: ActionInfo = ActionInfo {
    name: "ec2.reboot-instances",
    target: TargetKind::Instance,
    summary: "Reboot running instances: \"just reboot it\", as a drill. The snapshot keeps the pre-reboot state for the investigation.",
    revert: "not revertible (one-shot)",
    one_shot: true,
    params: &[],
    permissions: &["ec2:DescribeInstances", "ec2:RebootInstances"],
    parse: |path, src| crate::fault::parse_params(path, src).map(super::Action::Ec2RebootInstances),
};
