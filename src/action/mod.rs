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
//! Adding an action: write its params, its [`ActionInfo`] and a `Fault` impl in the
//! service's module, and add one row to the catalogue table below ([`catalogue!`]).

pub mod autoscaling;
pub mod context;
pub mod elbv2;
pub mod iam;
pub mod instance;
pub mod network_acl;
pub mod quarantine;
pub mod route53;
pub mod route_table;
pub mod security_group;

use std::fmt::Debug;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::aws::Aws;
use crate::diagnostic::Diagnostic;
use crate::target::{Target, TargetKind, TargetSpec};

pub(crate) use context::run_tags;
pub use context::{Created, KEPT_KINDS, Recorder, RunCtx};

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

/// The catalogue, one row per action: its variant and params type, the name fault files
/// call it by, its [`ActionInfo`], and the [`Fault`] that runs it, built from the params.
/// From these rows come [`Action`], [`Action::info`], [`Action::parse`], [`CATALOGUE`] and
/// [`with_fault!`]: adding an action is its own module plus one row. (A row's fault is
/// built where `with_fault!` is used: a path in it starts at `crate::`.)
macro_rules! catalogue {
    ($d:tt $( $variant:ident($params:ty) = $name:literal, $info:path, |$p:ident| $fault:expr; )*) => {
        /// A fault action with its params, as written in a fault file and stored in the
        /// journal (`{"action": "<name>", "params": {..}}`).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "action", content = "params")]
        pub enum Action {
            $( #[serde(rename = $name)] $variant($params), )*
        }

        impl Action {
            /// What the catalogue says of this action.
            pub fn info(&self) -> &'static ActionInfo {
                match self {
                    $( Action::$variant(_) => &$info, )*
                }
            }

            /// The action named `name` with its params from `source`; `None` for a name
            /// the catalogue does not have.
            pub fn parse(name: &str, source: &impl ParamsSource) -> Option<Result<Action, Diagnostic>> {
                match name {
                    $( $name => Some(source.params::<$params>().map(Action::$variant)), )*
                    _ => None,
                }
            }
        }

        /// Every action, in the order `firedrill actions` lists them.
        pub static CATALOGUE: &[ActionInfo] = &[ $( $info, )* ];

        /// Run `$body` with `$f` bound to the [`Fault`] for `$action`. A macro rather than
        /// a trait object because `Fault` has associated types and async methods.
        macro_rules! with_fault {
            ($d action:expr, |$d f:ident| $d body:expr) => {{
                match $d action {
                    $( $crate::action::Action::$variant($p) => {
                        let $d f = $fault;
                        $d body
                    } )*
                }
            }};
        }
        pub(crate) use with_fault;
    };
}

catalogue! { $
    SgRevokeIngress(security_group::RuleFilter) = "security-group.revoke-ingress", security_group::REVOKE_INGRESS,
        |p| &crate::action::security_group::RevokeRules::ingress(p);
    SgRevokeEgress(security_group::RuleFilter) = "security-group.revoke-egress", security_group::REVOKE_EGRESS,
        |p| &crate::action::security_group::RevokeRules::egress(p);
    SgOpenIngress(security_group::OpenIngress) = "security-group.open-ingress", security_group::OPEN_INGRESS, |p| p;
    SgIsolateInstance(security_group::IsolateInstance) = "security-group.isolate-instance", security_group::ISOLATE_INSTANCE, |p| p;
    Ec2StopInstances(instance::StopInstances) = "ec2.stop-instances", instance::STOP_INSTANCES, |p| p;
    Ec2RebootInstances(instance::RebootInstances) = "ec2.reboot-instances", instance::REBOOT_INSTANCES, |p| p;
    Ec2TerminateInstances(instance::TerminateInstances) = "ec2.terminate-instances", instance::TERMINATE_INSTANCES, |p| p;
    AclDenyAll(network_acl::DenyAll) = "network-acl.deny-all", network_acl::DENY_ALL, |p| p;
    AclDenyTraffic(network_acl::DenyTraffic) = "network-acl.deny-traffic", network_acl::DENY_TRAFFIC, |p| p;
    RouteBlackhole(route_table::Blackhole) = "route-table.blackhole", route_table::BLACKHOLE, |p| p;
    ElbDeregisterTargets(elbv2::DeregisterTargets) = "elbv2.deregister-targets", elbv2::DEREGISTER_TARGETS, |p| p;
    ElbBreakHealthCheck(elbv2::BreakHealthCheck) = "elbv2.break-health-check", elbv2::BREAK_HEALTH_CHECK, |p| p;
    ElbListenerFixedResponse(elbv2::FixedResponse) = "elbv2.listener-fixed-response", elbv2::LISTENER_FIXED_RESPONSE, |p| p;
    ElbSwapSecurityGroups(elbv2::SwapSecurityGroups) = "elbv2.swap-security-groups", elbv2::SWAP_SECURITY_GROUPS, |p| p;
    AsgSuspendProcesses(autoscaling::SuspendProcesses) = "autoscaling.suspend-processes", autoscaling::SUSPEND_PROCESSES, |p| p;
    AsgSetCapacity(autoscaling::SetCapacity) = "autoscaling.set-capacity", autoscaling::SET_CAPACITY, |p| p;
    IamDetachPolicies(iam::DetachPolicies) = "iam.detach-policies", iam::DETACH_POLICIES, |p| p;
    IamDenyActions(iam::DenyActions) = "iam.deny-actions", iam::DENY_ACTIONS, |p| p;
    IamDisassociateProfile(iam::DisassociateProfile) = "iam.disassociate-instance-profile", iam::DISASSOCIATE_PROFILE, |p| p;
    IamBreakTrust(iam::BreakTrust) = "iam.break-trust", iam::BREAK_TRUST, |p| p;
    DnsChangeRecord(route53::ChangeRecord) = "route53.change-record", route53::CHANGE_RECORD, |p| p;
    DnsDeleteRecord(route53::DeleteRecord) = "route53.delete-record", route53::DELETE_RECORD, |p| p;
    DnsBreakHealthCheck(route53::BreakHealthCheck) = "route53.break-health-check", route53::BREAK_HEALTH_CHECK, |p| p;
}

/// An action's params: parsed from the fault file's `params:` (absent means default),
/// then checked as a whole.
pub trait Params: DeserializeOwned + Default {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Where an action's params come from, typed by the action ([`Action::parse`]): the fault
/// file's `params:` block (`fault::parse_params`), so the catalogue parses params without
/// knowing fault files.
pub trait ParamsSource {
    fn params<P: Params>(&self) -> Result<P, Diagnostic>;
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
}

#[derive(Debug, Serialize)]
pub struct ParamInfo {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

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
        // Every row's name parses to an action whose info (and serialized tag) is itself.
        struct Defaults;
        impl ParamsSource for Defaults {
            fn params<P: Params>(&self) -> Result<P, Diagnostic> {
                Ok(P::default())
            }
        }
        for info in CATALOGUE {
            let action = Action::parse(info.name, &Defaults).expect("a row").expect("default params");
            assert_eq!(action.info().name, info.name);
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(json["action"], info.name);
        }
        assert!(Action::parse("no-such.action", &Defaults).is_none());
    }
}
