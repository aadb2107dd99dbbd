//! The catalogue of fault actions, and the [`Fault`] trait each one implements.
//!
//! A fault handles **one target** (as chaos-mesh's `Apply`/`Recover` do): describe its
//! state, plan the exact change, inject it, observe that it took effect, revert it. It
//! never selects targets, loops over them, or touches the journal: the executor does
//! that, so that every action gets snapshot-before-mutate, crash safety, bounded
//! concurrency and rollback without writing them again.
//!
//! Where the AWS API takes many ids, an action may also describe (`describe_batch`) or
//! change (`inject_batch`, `revert_batch`) a batch of targets with one call; the executor
//! forms the batches. Security groups and instances describe in batches of 200, and
//! stop/start instances 100 at a time.
//!
//! Round trips an action can save: where listing the targets is itself a describe, it
//! hands the planner each state with the listing (`list_described`: the snapshot costs
//! no second call); where a change call's answer proves the state it left (EC2 answers
//! a revoke with the rules it did not know, an authorize with the rules it created, a
//! stop or start with each instance's state), it returns that state (`inject_confirmed`,
//! `revert_confirmed`, the batch forms) and the executor observes or verifies it without
//! describing the target again. An answer that proves nothing means a describe.
//!
//! Adding an action: write its params and a `Fault` impl in the service's module, add a
//! variant to [`Action`], an arm to [`with_fault!`], and an entry to [`CATALOGUE`].

pub mod autoscaling;
pub mod elbv2;
pub mod iam;
pub mod instance;
pub mod network_acl;
pub mod route53;
pub mod route_table;
pub mod security_group;

use std::fmt::Debug;
use std::future::Future;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::aws::Aws;
use crate::diagnostic::Diagnostic;
use crate::executor::RunCtx;
use crate::target::{Target, TargetKind, TargetSpec};

/// What one action does to one target. `State` is the target's described state — the
/// snapshot, written durably before any change, and what revert restores. `Change` is
/// the exact change planned from that state, stored beside it, so `revert` works from
/// the store alone.
pub trait Fault: Sync {
    type State: Serialize + DeserializeOwned + Debug + Send + Sync;
    type Change: Serialize + DeserializeOwned + Debug + Send + Sync;

    /// Describe the target as AWS reports it now.
    fn describe(&self, aws: &Aws, target: &Target) -> impl Future<Output = Result<Self::State>> + Send;

    /// How many targets [`Fault::describe_batch`] describes in one call; 0 (the default)
    /// when the action describes one target at a time.
    const DESCRIBE_BATCH: usize = 0;

    /// Describe up to [`Fault::DESCRIBE_BATCH`] targets with one (paged) call, one entry
    /// per target in order; a target that no longer exists is `Err(Error::Gone)`. Never
    /// called when `DESCRIBE_BATCH` is 0. The executor describes through this, so a fleet
    /// costs a few calls per phase rather than one per target.
    fn describe_batch(
        &self,
        aws: &Aws,
        targets: &[&Target],
    ) -> impl Future<Output = Result<Vec<Result<Self::State>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(targets.len());
            for t in targets {
                out.push(self.describe(aws, t).await);
            }
            Ok(out)
        }
    }

    /// The targets `spec` selects, each with its state, when listing them already
    /// describes them (EC2 lists security groups and instances with its describe call):
    /// planning then snapshots from the listing, one round trip instead of two. `None`
    /// (the default): the executor lists ([`crate::aws::list`]) and describes what it
    /// picked.
    fn list_described(
        &self,
        _aws: &Aws,
        _spec: &TargetSpec,
    ) -> impl Future<Output = Option<Result<Listed<Self::State>>>> + Send {
        async { None }
    }

    /// How many targets [`Fault::inject_batch`] and [`Fault::revert_batch`] change in one
    /// call (`ec2:StopInstances` takes many ids); 0 (the default): one call per target.
    const CHANGE_BATCH: usize = 0;

    /// Make the change on up to [`Fault::CHANGE_BATCH`] targets with one call. Never
    /// called when `CHANGE_BATCH` is 0. If it fails, every target in the batch failed.
    /// Returns, per item in order, the state the call's answer proves (see
    /// [`Fault::inject_confirmed`]).
    fn inject_batch(
        &self,
        aws: &Aws,
        run: &RunCtx,
        items: &[(&Target, &Self::State, &Self::Change)],
    ) -> impl Future<Output = Result<Vec<Option<Self::State>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(items.len());
            for (t, before, c) in items {
                out.push(self.inject_confirmed(aws, run, t, before, c).await?);
            }
            Ok(out)
        }
    }

    /// The exact change for this target, or why there is nothing to break. Pure.
    fn plan(&self, target: &Target, state: &Self::State) -> Result<Self::Change, String>;

    /// One line per change, for `plan` and the journal.
    fn summarize(&self, change: &Self::Change) -> Vec<String>;

    /// Create what the fault shares across targets (a quarantine group), recording each
    /// created id with [`RunCtx::record_created`] before relying on it.
    fn setup(
        &self,
        _aws: &Aws,
        _run: &RunCtx,
        _planned: &[(&Target, &Self::State, &Self::Change)],
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Make the change. May be retried after a crash: must cope with a change already
    /// partly made.
    fn inject(
        &self,
        aws: &Aws,
        run: &RunCtx,
        target: &Target,
        change: &Self::Change,
    ) -> impl Future<Output = Result<()>> + Send;

    /// [`Fault::inject`], and the state the change left when the call's answer proves it
    /// (a successful EC2 revoke that names no unknown rule): the executor observes that
    /// instead of describing the target once more. The default proves nothing: `None`.
    fn inject_confirmed(
        &self,
        aws: &Aws,
        run: &RunCtx,
        target: &Target,
        _before: &Self::State,
        change: &Self::Change,
    ) -> impl Future<Output = Result<Option<Self::State>>> + Send {
        async move { self.inject(aws, run, target, change).await.map(|()| None) }
    }

    /// Whether the change is in effect, given the state described after injecting.
    fn observe(&self, run: &RunCtx, change: &Self::Change, now: &Self::State) -> Result<(), String>;

    /// Put back what the change took away, given the snapshot and the state now.
    /// Idempotent: a target already restored is left alone.
    fn revert(
        &self,
        aws: &Aws,
        run: &RunCtx,
        target: &Target,
        before: &Self::State,
        change: &Self::Change,
        now: &Self::State,
    ) -> impl Future<Output = Result<()>> + Send;

    /// [`Fault::revert`], and the state it left when the call's answer proves it (EC2
    /// answers an authorize with the rules it created): the executor compares that with
    /// the snapshot instead of describing the target once more. The default: `None`.
    fn revert_confirmed(
        &self,
        aws: &Aws,
        run: &RunCtx,
        target: &Target,
        before: &Self::State,
        change: &Self::Change,
        now: &Self::State,
    ) -> impl Future<Output = Result<Option<Self::State>>> + Send {
        async move { self.revert(aws, run, target, before, change, now).await.map(|()| None) }
    }

    /// [`Fault::revert`] for up to [`Fault::CHANGE_BATCH`] targets with one call, given
    /// each one's snapshot, change and state now. Never called when `CHANGE_BATCH` is 0.
    /// Returns, per item in order, the state the call's answer proves.
    fn revert_batch(
        &self,
        aws: &Aws,
        run: &RunCtx,
        items: &[RevertItem<'_, Self>],
    ) -> impl Future<Output = Result<Vec<Option<Self::State>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(self.revert_confirmed(aws, run, i.target, i.before, i.change, i.now).await?);
            }
            Ok(out)
        }
    }

    /// How the state now differs from the snapshot, ignoring what AWS assigns (rule ids).
    /// Empty means restored exactly.
    fn differences(&self, before: &Self::State, now: &Self::State) -> Vec<String>;

    /// Why this target cannot be restored, when it cannot (a terminated instance without
    /// a relaunch): revert records that, with this note, instead of trying.
    fn irreversible(&self, _before: &Self::State, _change: &Self::Change, _run: &RunCtx) -> Option<String> {
        None
    }

    /// Delete what `setup` created, once every target is reverted. Idempotent.
    fn teardown(&self, _aws: &Aws, _run: &RunCtx) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

/// What [`Fault::list_described`] returns: each target the selector matched, with its
/// state.
pub type Listed<S> = Vec<(Target, S)>;

/// One target of a [`Fault::revert_batch`]: its snapshot, its change, its state now.
pub struct RevertItem<'a, F: Fault + ?Sized> {
    pub target: &'a Target,
    pub before: &'a F::State,
    pub change: &'a F::Change,
    pub now: &'a F::State,
}

/// One line when `now` differs from `before` — "<who>: <what> is <now>, snapshot had
/// <before>" — for the `differences` of faults whose state is one value.
pub(crate) fn compare<T: PartialEq + Debug>(who: &str, what: &str, before: &T, now: &T) -> Vec<String> {
    if before == now { Vec::new() } else { vec![format!("{who}: {what} is {now:?}, snapshot had {before:?}")] }
}

/// A fault action with its params, as written in a fault file and stored in the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "params")]
pub enum Action {
    #[serde(rename = "security-group.revoke-ingress")]
    SgRevokeIngress(security_group::RuleFilter),
    #[serde(rename = "security-group.revoke-egress")]
    SgRevokeEgress(security_group::RuleFilter),
    #[serde(rename = "security-group.open-ingress")]
    SgOpenIngress(security_group::OpenIngress),
    #[serde(rename = "security-group.isolate-instance")]
    SgIsolateInstance(security_group::IsolateInstance),
    #[serde(rename = "ec2.stop-instances")]
    Ec2StopInstances(instance::StopInstances),
    #[serde(rename = "ec2.reboot-instances")]
    Ec2RebootInstances(instance::RebootInstances),
    #[serde(rename = "ec2.terminate-instances")]
    Ec2TerminateInstances(instance::TerminateInstances),
    #[serde(rename = "network-acl.deny-all")]
    AclDenyAll(network_acl::DenyAll),
    #[serde(rename = "network-acl.deny-traffic")]
    AclDenyTraffic(network_acl::DenyTraffic),
    #[serde(rename = "route-table.blackhole")]
    RouteBlackhole(route_table::Blackhole),
    #[serde(rename = "elbv2.deregister-targets")]
    ElbDeregisterTargets(elbv2::DeregisterTargets),
    #[serde(rename = "elbv2.break-health-check")]
    ElbBreakHealthCheck(elbv2::BreakHealthCheck),
    #[serde(rename = "elbv2.listener-fixed-response")]
    ElbListenerFixedResponse(elbv2::FixedResponse),
    #[serde(rename = "elbv2.swap-security-groups")]
    ElbSwapSecurityGroups(elbv2::SwapSecurityGroups),
    #[serde(rename = "autoscaling.suspend-processes")]
    AsgSuspendProcesses(autoscaling::SuspendProcesses),
    #[serde(rename = "autoscaling.set-capacity")]
    AsgSetCapacity(autoscaling::SetCapacity),
    #[serde(rename = "iam.detach-policies")]
    IamDetachPolicies(iam::DetachPolicies),
    #[serde(rename = "iam.deny-actions")]
    IamDenyActions(iam::DenyActions),
    #[serde(rename = "iam.disassociate-instance-profile")]
    IamDisassociateProfile(iam::DisassociateProfile),
    #[serde(rename = "iam.break-trust")]
    IamBreakTrust(iam::BreakTrust),
    #[serde(rename = "route53.change-record")]
    DnsChangeRecord(route53::ChangeRecord),
    #[serde(rename = "route53.delete-record")]
    DnsDeleteRecord(route53::DeleteRecord),
    #[serde(rename = "route53.break-health-check")]
    DnsBreakHealthCheck(route53::BreakHealthCheck),
}

impl Action {
    pub fn info(&self) -> &'static ActionInfo {
        match self {
            Action::SgRevokeIngress(_) => &security_group::REVOKE_INGRESS,
            Action::SgRevokeEgress(_) => &security_group::REVOKE_EGRESS,
            Action::SgOpenIngress(_) => &security_group::OPEN_INGRESS,
            Action::SgIsolateInstance(_) => &security_group::ISOLATE_INSTANCE,
            Action::Ec2StopInstances(_) => &instance::STOP_INSTANCES,
            Action::Ec2RebootInstances(_) => &instance::REBOOT_INSTANCES,
            Action::Ec2TerminateInstances(_) => &instance::TERMINATE_INSTANCES,
            Action::AclDenyAll(_) => &network_acl::DENY_ALL,
            Action::AclDenyTraffic(_) => &network_acl::DENY_TRAFFIC,
            Action::RouteBlackhole(_) => &route_table::BLACKHOLE,
            Action::ElbDeregisterTargets(_) => &elbv2::DEREGISTER_TARGETS,
            Action::ElbBreakHealthCheck(_) => &elbv2::BREAK_HEALTH_CHECK,
            Action::ElbListenerFixedResponse(_) => &elbv2::LISTENER_FIXED_RESPONSE,
            Action::ElbSwapSecurityGroups(_) => &elbv2::SWAP_SECURITY_GROUPS,
            Action::AsgSuspendProcesses(_) => &autoscaling::SUSPEND_PROCESSES,
            Action::AsgSetCapacity(_) => &autoscaling::SET_CAPACITY,
            Action::IamDetachPolicies(_) => &iam::DETACH_POLICIES,
            Action::IamDenyActions(_) => &iam::DENY_ACTIONS,
            Action::IamDisassociateProfile(_) => &iam::DISASSOCIATE_PROFILE,
            Action::IamBreakTrust(_) => &iam::BREAK_TRUST,
            Action::DnsChangeRecord(_) => &route53::CHANGE_RECORD,
            Action::DnsDeleteRecord(_) => &route53::DELETE_RECORD,
            Action::DnsBreakHealthCheck(_) => &route53::BREAK_HEALTH_CHECK,
        }
    }
}

/// Run `$body` with `$f` bound to the [`Fault`] for `$action`. A macro rather than a
/// trait object because `Fault` has associated types and async methods.
#[macro_export]
macro_rules! with_fault {
    ($action:expr, |$f:ident| $body:expr) => {{
        use $crate::action::{Action, security_group as sg};
        match $action {
            Action::SgRevokeIngress(p) => {
                let $f = &sg::RevokeRules::new(sg::Direction::Ingress, p.clone());
                $body
            }
            Action::SgRevokeEgress(p) => {
                let $f = &sg::RevokeRules::new(sg::Direction::Egress, p.clone());
                $body
            }
            Action::SgOpenIngress(p) => {
                let $f = p;
                $body
            }
            Action::SgIsolateInstance(p) => {
                let $f = p;
                $body
            }
            Action::Ec2StopInstances(p) => {
                let $f = p;
                $body
            }
            Action::Ec2RebootInstances(p) => {
                let $f = p;
                $body
            }
            Action::Ec2TerminateInstances(p) => {
                let $f = p;
                $body
            }
            Action::AclDenyAll(p) => {
                let $f = p;
                $body
            }
            Action::AclDenyTraffic(p) => {
                let $f = p;
                $body
            }
            Action::RouteBlackhole(p) => {
                let $f = p;
                $body
            }
            Action::ElbDeregisterTargets(p) => {
                let $f = p;
                $body
            }
            Action::ElbBreakHealthCheck(p) => {
                let $f = p;
                $body
            }
            Action::ElbListenerFixedResponse(p) => {
                let $f = p;
                $body
            }
            Action::ElbSwapSecurityGroups(p) => {
                let $f = p;
                $body
            }
            Action::AsgSuspendProcesses(p) => {
                let $f = p;
                $body
            }
            Action::AsgSetCapacity(p) => {
                let $f = p;
                $body
            }
            Action::IamDetachPolicies(p) => {
                let $f = p;
                $body
            }
            Action::IamDenyActions(p) => {
                let $f = p;
                $body
            }
            Action::IamDisassociateProfile(p) => {
                let $f = p;
                $body
            }
            Action::IamBreakTrust(p) => {
                let $f = p;
                $body
            }
            Action::DnsChangeRecord(p) => {
                let $f = p;
                $body
            }
            Action::DnsDeleteRecord(p) => {
                let $f = p;
                $body
            }
            Action::DnsBreakHealthCheck(p) => {
                let $f = p;
                $body
            }
        }
    }};
}

/// An action's params: parsed from the fault file's `params:` (absent means default),
/// then checked as a whole.
pub trait Params: DeserializeOwned + Default {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// What `firedrill actions` shows, and how to parse the action's params.
#[derive(Debug, Serialize)]
pub struct ActionInfo {
    pub name: &'static str,
    pub target: TargetKind,
    pub summary: &'static str,
    /// What revert does; "not revertible" for one-shot actions.
    pub revert: &'static str,
    pub one_shot: bool,
    pub params: &'static [ParamInfo],
    /// Minimum IAM permissions for inject and revert.
    pub permissions: &'static [&'static str],
    #[serde(skip)]
    pub parse: fn(&Path, &str) -> Result<Action, Diagnostic>,
}

#[derive(Debug, Serialize)]
pub struct ParamInfo {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

pub static CATALOGUE: &[ActionInfo] = &[
    security_group::REVOKE_INGRESS,
    security_group::REVOKE_EGRESS,
    security_group::OPEN_INGRESS,
    security_group::ISOLATE_INSTANCE,
    instance::STOP_INSTANCES,
    instance::REBOOT_INSTANCES,
    instance::TERMINATE_INSTANCES,
    network_acl::DENY_ALL,
    network_acl::DENY_TRAFFIC,
    route_table::BLACKHOLE,
    elbv2::DEREGISTER_TARGETS,
    elbv2::BREAK_HEALTH_CHECK,
    elbv2::LISTENER_FIXED_RESPONSE,
    elbv2::SWAP_SECURITY_GROUPS,
    autoscaling::SUSPEND_PROCESSES,
    autoscaling::SET_CAPACITY,
    iam::DETACH_POLICIES,
    iam::DENY_ACTIONS,
    iam::DISASSOCIATE_PROFILE,
    iam::BREAK_TRUST,
    route53::CHANGE_RECORD,
    route53::DELETE_RECORD,
    route53::BREAK_HEALTH_CHECK,
];

pub fn find(name: &str) -> Option<&'static ActionInfo> {
    CATALOGUE.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_match_the_serialized_action() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        // Every entry's parser yields an action whose info (and serialized tag) is itself.
        for info in CATALOGUE {
            let src = format!("name: x\naction: {}\ntarget:\n  ids: [x]\n  zone: z\n", info.name);
            if let Ok(action) = (info.parse)(Path::new("f.yaml"), &src) {
                assert_eq!(action.info().name, info.name);
                let json = serde_json::to_value(&action).unwrap();
                assert_eq!(json["action"], info.name);
            }
        }
    }
}
