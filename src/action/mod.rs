//! Fault actions: the interface each one implements, and the catalogue of them.
//!
//! The interface, split along what varies:
//! - [`Resource`] (`resource.rs`): one kind of AWS state — how to read it (one target,
//!   many with one call, or straight from the listing) and how two readings differ.
//!   Implemented once per kind (`security_group::Groups`, `instance::Running`, …) and
//!   shared by every action on it.
//! - [`Fault`] (below): what one action does to **one target**, as chaos-mesh's
//!   `Apply`/`Recover` do: plan the exact change from the snapshot, summarize it, inject
//!   it, observe that it took effect, revert it, say when it cannot be.
//! - Opt-in extras (`extras.rs`), each its own trait, named in the action's catalogue
//!   row: [`Shared`] resources for the run (a quarantine group), [`Batch`] change calls
//!   that take many ids (stop/start instances, 100 at a time).
//! - [`RunCtx`] (`context.rs`): what a fault knows of its run, and the [`Recorder`] it
//!   journals what it creates through.
//!
//! A fault never selects targets, loops over them, batches, retries or journals: the
//! executor does, so every action gets snapshot-before-mutate, crash safety, bounded
//! concurrency and rollback without writing them again. Nothing here imports the
//! executor or the store.
//!
//! Adding an action: its params ([`Params`]), its [`ActionInfo`] and a `Fault` impl
//! (with a `Resource` if the kind of state is new) in the service's module, and one row
//! in the catalogue table (`catalogue.rs`).

pub mod apigateway;
pub mod autoscaling;
pub mod catalogue;
pub mod checks;
pub mod context;
pub mod dynamodb;
pub mod ecs;
pub mod elbv2;
pub mod extras;
pub mod iam;
pub mod instance;
pub mod lambda;
pub mod network_acl;
pub mod quarantine;
pub mod resource;
pub mod route53;
pub mod route_table;
pub mod s3;
pub mod security_group;

use std::fmt::Debug;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::aws::Aws;
use crate::diagnostic::Diagnostic;
use crate::target::{Target, TargetKind};

pub(crate) use catalogue::with_fault;
pub use catalogue::{Action, CATALOGUE, find};
pub(crate) use context::run_tags;
pub use context::{Created, KEPT_KINDS, Recorder, RunCtx};
pub use extras::{Batch, NothingShared, OneAtATime, Shared};
pub(crate) use resource::compare;
pub use resource::{Human, Listed, Resource};

/// The state a fault's snapshots record: its resource's.
pub type State<F> = <<F as Fault>::On as Resource>::State;

/// What one action does to one target. Its [`Resource`] (`On`) says what state the
/// snapshot records — written durably before any change, and what revert restores.
/// `Change` is the exact change planned from that state, stored beside it, so `revert`
/// works from the store alone.
///
/// Where a change call's answer proves the state it left (EC2 answers a revoke with the
/// rules it did not know, an authorize with the rules it created), `inject` and `revert`
/// return that state and the executor uses it instead of describing the target once
/// more; `None` means the answer proves nothing, and the executor describes.
pub trait Fault: Sync {
    /// The kind of state this fault changes.
    type On: Resource;
    /// The exact change, planned from the snapshot.
    type Change: Serialize + DeserializeOwned + Debug + Send + Sync;

    /// The exact change for this target, or why there is nothing to break. Pure.
    fn plan(&self, target: &Target, state: &State<Self>) -> Result<Self::Change, String>;

    /// One line per change, for `plan` and the journal.
    fn summarize(&self, change: &Self::Change) -> Vec<String>;

    /// Make the change; the state the call's answer proves, if it proves one. May be
    /// retried after a crash: must cope with a change already partly made.
    fn inject(
        &self,
        aws: &Aws,
        run: &RunCtx,
        item: &ToInject<'_, Self>,
    ) -> impl Future<Output = Result<Option<State<Self>>>> + Send;

    /// Whether the change is in effect, given the state described after injecting. Pure.
    fn observe(&self, run: &RunCtx, change: &Self::Change, now: &State<Self>) -> Result<(), String>;

    /// Put back what the change took away, given the snapshot and the state now; the
    /// state the call's answer proves, if it proves one. Idempotent: a target already
    /// restored is left alone. One-shot actions (a reboot: the catalogue marks them) are
    /// never reverted and keep this default, which refuses.
    fn revert(
        &self,
        _aws: &Aws,
        _run: &RunCtx,
        item: &ToRevert<'_, Self>,
    ) -> impl Future<Output = Result<Option<State<Self>>>> + Send {
        let why = format!("{}: a one-shot fault cannot be reverted", item.target.label());
        async move { Err(crate::Error::Failed(why)) }
    }

    /// Why this target cannot be restored, when it cannot (a terminated instance without
    /// a relaunch): revert records that, with this note, instead of trying. Pure.
    fn irreversible(&self, _before: &State<Self>, _change: &Self::Change, _run: &RunCtx) -> Option<String> {
        None
    }
}

/// One target to inject: its snapshot and its planned change.
pub struct ToInject<'a, F: Fault + ?Sized> {
    pub target: &'a Target,
    pub before: &'a State<F>,
    pub change: &'a F::Change,
}

/// One target to revert: its snapshot, its change, its state now.
pub struct ToRevert<'a, F: Fault + ?Sized> {
    pub target: &'a Target,
    pub before: &'a State<F>,
    pub change: &'a F::Change,
    pub now: &'a State<F>,
}

/// An action's params: parsed from the fault file's `params:` (absent means default),
/// then checked as a whole.
pub trait Params: DeserializeOwned + Default {
    /// Whether the params make sense together; the message says what to change.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the params make sense for this target selector (a record's value for its
    /// `type`); the message starts with the param it is about, in backticks.
    fn check_target(&self, _target: &crate::target::TargetSpec) -> Result<(), String> {
        Ok(())
    }

    /// Of the action's [`ActionInfo::permissions`], those these params never need (what
    /// `preserve: none` never creates): left out of `firedrill policy`.
    fn needless(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Where an action's params come from, typed by the action ([`Action::parse`]): the fault
/// file's `params:` block (`fault::parse_params`), so the catalogue parses params without
/// knowing fault files.
pub trait ParamsSource {
    /// The params, parsed as `P`; a diagnostic pointing into the file if they do not parse or check.
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
    /// The IAM actions this action calls itself, to plan, inject, observe and revert it
    /// (and to sweep what it creates), or that its calls need authorized (`iam:PassRole`
    /// to launch with a profile, `ec2:CreateTags` to tag what is created). Finding,
    /// describing and holding the target are its kind's: [`TargetKind::permissions`];
    /// [`Action::permissions`] is the whole. Checked against the calls a catalogue round
    /// trip makes (tests/integration/files.rs).
    pub permissions: &'static [&'static str],
}

impl ActionInfo {
    /// Every IAM action this action can call or need authorized, with any params: its
    /// target kind's and its own (`firedrill policy` narrows by params and target).
    pub fn all_permissions(&self) -> std::collections::BTreeSet<&'static str> {
        self.target.permissions().iter().chain(self.permissions).copied().collect()
    }
}

/// One param of an action, as `firedrill actions` documents it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ParamInfo {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}
