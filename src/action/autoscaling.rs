//! Auto Scaling faults: stop a group healing itself, or set its capacity.

use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// The scaling processes AWS knows.
const PROCESSES: &[&str] = &[
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
];

/// An auto scaling group's capacity and suspended processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub name: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    /// Suspended processes, sorted.
    pub suspended: Vec<String>,
}

async fn describe_group(aws: &Aws, name: &str) -> Result<GroupState> {
    let out =
        aws.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await.map_err(
            Error::aws(format!("describe auto scaling group {name} (autoscaling:DescribeAutoScalingGroups)")),
        )?;
    let g = out
        .auto_scaling_groups()
        .first()
        .ok_or_else(|| Error::Gone(format!("auto scaling group {name} no longer exists")))?;
    let mut suspended: Vec<String> =
        g.suspended_processes().iter().filter_map(|p| p.process_name().map(str::to_owned)).collect();
    suspended.sort();
    Ok(GroupState {
        name: name.to_owned(),
        min_size: g.min_size().unwrap_or(0),
        max_size: g.max_size().unwrap_or(0),
        desired_capacity: g.desired_capacity().unwrap_or(0),
        suspended,
    })
}

/// A group's suspended processes: what `suspend-processes` changes and is judged by.
pub struct Processes;

impl Resource for Processes {
    type State = GroupState;

    async fn describe(aws: &Aws, target: &Target) -> Result<GroupState> {
        describe_group(aws, &target.id).await
    }

    fn differences(before: &GroupState, now: &GroupState) -> Vec<String> {
        super::compare(&before.name, "suspended processes", &before.suspended, &now.suspended)
    }

    /// Resume what the snapshot had running, suspend what it had suspended.
    async fn reset(aws: &Aws, _target: &Target, before: &GroupState, now: &GroupState) -> Result<()> {
        let name = &before.name;
        let resume: Vec<String> = now.suspended.iter().filter(|p| !before.suspended.contains(p)).cloned().collect();
        if !resume.is_empty() {
            let call =
                aws.autoscaling.resume_processes().auto_scaling_group_name(name).set_scaling_processes(Some(resume));
            aws::call(call.send(), format!("resume processes of {name} (autoscaling:ResumeProcesses)")).await?;
        }
        let suspend: Vec<String> = before.suspended.iter().filter(|p| !now.suspended.contains(p)).cloned().collect();
        if !suspend.is_empty() {
            let call =
                aws.autoscaling.suspend_processes().auto_scaling_group_name(name).set_scaling_processes(Some(suspend));
            aws::call(call.send(), format!("suspend processes of {name} (autoscaling:SuspendProcesses)")).await?;
        }
        Ok(())
    }
}

/// A group's min, max and desired capacity: what `set-capacity` changes and is judged by
/// (the processes are left to the group).
pub struct Capacity;

impl Resource for Capacity {
    type State = GroupState;

    async fn describe(aws: &Aws, target: &Target) -> Result<GroupState> {
        describe_group(aws, &target.id).await
    }

    fn differences(before: &GroupState, now: &GroupState) -> Vec<String> {
        let capacity = |g: &GroupState| (g.min_size, g.max_size, g.desired_capacity);
        super::compare(&before.name, "min/max/desired", &capacity(before), &capacity(now))
    }
}

// ---------------------------------------------------------------------------------------
// autoscaling.suspend-processes

/// `autoscaling.suspend-processes`: which processes to suspend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SuspendProcesses {
    pub processes: Vec<String>,
}

impl Default for SuspendProcesses {
    fn default() -> Self {
        SuspendProcesses { processes: ["Launch", "HealthCheck", "ReplaceUnhealthy"].map(String::from).to_vec() }
    }
}

impl Params for SuspendProcesses {
    fn check(&self) -> Result<(), String> {
        if self.processes.is_empty() {
            return Err("`processes` must name at least one process".into());
        }
        for p in &self.processes {
            if !PROCESSES.contains(&p.as_str()) {
                let hint = crate::diagnostic::did_you_mean(p, PROCESSES.iter().copied())
                    .map(|b| format!("; did you mean `{b}`?"))
                    .unwrap_or_else(|| format!(" (known: {})", PROCESSES.join(", ")));
                return Err(format!("unknown scaling process `{p}`{hint}"));
            }
        }
        Ok(())
    }
}

/// The processes a suspend stopped: exactly what revert resumes.
#[derive(Debug, Serialize, Deserialize)]
pub struct SuspendChange {
    pub name: String,
    /// Only the processes this fault suspends: those already suspended stay so on revert.
    pub processes: Vec<String>,
}

impl Fault for SuspendProcesses {
    type On = Processes;
    type Change = SuspendChange;

    fn plan(&self, target: &Target, state: &GroupState) -> Result<SuspendChange, String> {
        let processes: Vec<String> = self.processes.iter().filter(|p| !state.suspended.contains(p)).cloned().collect();
        if processes.is_empty() {
            return Err(format!("{}: those processes are suspended already: nothing to break", target.label()));
        }
        Ok(SuspendChange { name: state.name.clone(), processes })
    }

    fn summarize(&self, change: &SuspendChange) -> Vec<String> {
        vec![format!("suspend {}", change.processes.join(", "))]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<GroupState>> {
        let change = item.change;
        let call = aws
            .autoscaling
            .suspend_processes()
            .auto_scaling_group_name(&change.name)
            .set_scaling_processes(Some(change.processes.clone()))
            .send();
        aws::call(call, format!("suspend processes of {} (autoscaling:SuspendProcesses)", change.name)).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &SuspendChange, now: &GroupState) -> Result<(), String> {
        match change.processes.iter().find(|p| !now.suspended.contains(p)) {
            Some(p) => Err(format!("{p} is not suspended after suspending it")),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<GroupState>> {
        let (change, now) = (item.change, item.now);
        let resume: Vec<String> = change.processes.iter().filter(|p| now.suspended.contains(p)).cloned().collect();
        if resume.is_empty() {
            return Ok(None);
        }
        let call = aws
            .autoscaling
            .resume_processes()
            .auto_scaling_group_name(&change.name)
            .set_scaling_processes(Some(resume))
            .send();
        aws::call(call, format!("resume processes of {} (autoscaling:ResumeProcesses)", change.name)).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `autoscaling.suspend-processes`.
pub const SUSPEND_PROCESSES: ActionInfo = ActionInfo {
    name: "autoscaling.suspend-processes",
    target: TargetKind::AutoScalingGroup,
    summary: "Suspend scaling processes (default Launch, HealthCheck, ReplaceUnhealthy) so the group does not heal itself.",
    revert: "Resumes only the processes this fault suspended.",
    one_shot: false,
    params: &[ParamInfo {
        name: "processes",
        ty: "list of process names",
        default: "[Launch, HealthCheck, ReplaceUnhealthy]",
        doc: "Launch, Terminate, AddToLoadBalancer, AlarmNotification, AZRebalance, HealthCheck, InstanceRefresh, ReplaceUnhealthy, ScheduledActions.",
    }],
    permissions: &["autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"],
};

// ---------------------------------------------------------------------------------------
// autoscaling.set-capacity

/// `autoscaling.set-capacity`: the capacity to set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCapacity {
    #[serde(default)]
    pub min: u32,
    #[serde(default)]
    pub desired: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl Params for SetCapacity {
    fn check(&self) -> Result<(), String> {
        if self.desired < self.min {
            return Err(format!("`desired` ({}) is below `min` ({})", self.desired, self.min));
        }
        if let Some(max) = self.max
            && max < self.desired
        {
            return Err(format!("`max` ({max}) is below `desired` ({})", self.desired));
        }
        Ok(())
    }
}

/// The capacity planned for a group; revert sets the snapshot's again.
#[derive(Debug, Serialize, Deserialize)]
pub struct CapacityChange {
    pub name: String,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
}

async fn update_capacity(aws: &Aws, name: &str, min: i32, max: i32, desired: i32) -> Result<()> {
    let call = aws
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired)
        .send();
    aws::call(call, format!("set the capacity of {name} (autoscaling:UpdateAutoScalingGroup)")).await
}

impl Fault for SetCapacity {
    type On = Capacity;
    type Change = CapacityChange;

    fn plan(&self, target: &Target, state: &GroupState) -> Result<CapacityChange, String> {
        // Against the group's own limits when the fault leaves them: AWS refuses a
        // desired capacity outside min..max, and raising a limit nobody asked for
        // would change more than the fault says.
        if self.max.is_none() && self.desired as i32 > state.max_size {
            return Err(format!(
                "`desired` ({}) is above the maximum of {} ({}): set `max` too, to raise it",
                self.desired,
                target.label(),
                state.max_size
            ));
        }
        let max = self.max.map_or(state.max_size, |m| m as i32);
        let change = CapacityChange {
            name: state.name.clone(),
            min_size: self.min as i32,
            max_size: max,
            desired_capacity: self.desired as i32,
        };
        if (change.min_size, change.max_size, change.desired_capacity)
            == (state.min_size, state.max_size, state.desired_capacity)
        {
            return Err(format!("{}: its capacity is already so: nothing to break", target.label()));
        }
        Ok(change)
    }

    fn summarize(&self, c: &CapacityChange) -> Vec<String> {
        vec![format!("set min {}, max {}, desired {}", c.min_size, c.max_size, c.desired_capacity)]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<GroupState>> {
        let c = item.change;
        update_capacity(aws, &c.name, c.min_size, c.max_size, c.desired_capacity).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, c: &CapacityChange, now: &GroupState) -> Result<(), String> {
        if (now.min_size, now.max_size, now.desired_capacity) == (c.min_size, c.max_size, c.desired_capacity) {
            Ok(())
        } else {
            Err(format!("capacity is {}/{}/{} after the change", now.min_size, now.max_size, now.desired_capacity))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<GroupState>> {
        let (b, now) = (item.before, item.now);
        if (now.min_size, now.max_size, now.desired_capacity) != (b.min_size, b.max_size, b.desired_capacity) {
            update_capacity(aws, &b.name, b.min_size, b.max_size, b.desired_capacity).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `autoscaling.set-capacity`.
pub const SET_CAPACITY: ActionInfo = ActionInfo {
    name: "autoscaling.set-capacity",
    target: TargetKind::AutoScalingGroup,
    summary: "Set the groups' minimum and desired capacity (default 0: scale to nothing), and optionally the maximum.",
    revert: "Restores min, max and desired capacity. The group launches new instances to get there; their ids differ.",
    one_shot: false,
    params: &[
        ParamInfo { name: "min", ty: "integer", default: "0", doc: "Minimum size." },
        ParamInfo { name: "desired", ty: "integer", default: "0", doc: "Desired capacity." },
        ParamInfo {
            name: "max",
            ty: "integer",
            default: "unchanged (a `desired` above it is refused at plan time)",
            doc: "Maximum size.",
        },
    ],
    permissions: &["autoscaling:UpdateAutoScalingGroup"],
};

/// The pure parts, on hand-written states: what is planned, when a change shows, what
/// counts as restored.
#[cfg(test)]
mod tests {
    use super::*;

    fn group(min: i32, max: i32, desired: i32, suspended: &[&str]) -> GroupState {
        GroupState {
            name: "web".into(),
            min_size: min,
            max_size: max,
            desired_capacity: desired,
            suspended: suspended.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn target() -> Target {
        Target { id: "web".into(), name: None, tags: Default::default(), vpc: None }
    }

    #[test]
    fn set_capacity_keeps_the_maximum_unless_told_and_refuses_a_no_op_or_a_desired_above_it() {
        let run = RunCtx::for_tests();
        let zero = SetCapacity::default();
        let before = group(2, 4, 2, &[]);
        let c = zero.plan(&target(), &before).unwrap();
        assert_eq!((c.min_size, c.max_size, c.desired_capacity), (0, 4, 0), "max unchanged");
        let above = SetCapacity { min: 1, desired: 6, max: None }.plan(&target(), &before).unwrap_err();
        assert!(above.starts_with("`desired` (6) is above the maximum of web (4)"), "{above}");
        let raised = SetCapacity { min: 1, desired: 6, max: Some(6) }.plan(&target(), &before).unwrap();
        assert_eq!(raised.max_size, 6, "max raised when told");
        assert!(zero.plan(&target(), &group(0, 4, 0, &[])).unwrap_err().contains("nothing to break"));
        assert_eq!(zero.observe(&run, &c, &group(0, 4, 0, &[])), Ok(()));
        assert!(zero.observe(&run, &c, &before).unwrap_err().contains("2/4/2 after the change"));
        assert_eq!(Capacity::differences(&before, &group(2, 4, 2, &["Launch"])), Vec::<String>::new(), "capacity only");
        assert_eq!(Capacity::differences(&before, &group(2, 5, 2, &[])).len(), 1);
    }

    #[test]
    fn suspend_processes_plans_only_what_is_running_and_sees_it_suspended() {
        let run = RunCtx::for_tests();
        let f = SuspendProcesses::default();
        let before = group(1, 2, 1, &["Launch"]);
        let c = f.plan(&target(), &before).unwrap();
        assert_eq!(c.processes, ["HealthCheck", "ReplaceUnhealthy"], "Launch was suspended already: left to the team");
        assert!(f.plan(&target(), &group(1, 2, 1, &["HealthCheck", "Launch", "ReplaceUnhealthy"])).is_err());
        assert_eq!(f.observe(&run, &c, &group(1, 2, 1, &["HealthCheck", "Launch", "ReplaceUnhealthy"])), Ok(()));
        assert!(f.observe(&run, &c, &before).is_err());
        assert_eq!(Processes::differences(&before, &group(1, 2, 1, &["Launch"])), Vec::<String>::new());
        assert_eq!(Processes::differences(&before, &group(1, 2, 1, &[])).len(), 1, "resuming too much is a difference");
    }

    #[test]
    fn params_are_checked() {
        assert!(SetCapacity { min: 2, desired: 1, max: None }.check().unwrap_err().contains("below `min`"));
        assert!(SetCapacity { min: 0, desired: 3, max: Some(2) }.check().unwrap_err().contains("below `desired`"));
        let typo = SuspendProcesses { processes: vec!["Lunch".into()] }.check().unwrap_err();
        assert!(typo.contains("did you mean `Launch`"), "{typo}");
    }
}
