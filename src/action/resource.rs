//! [`Resource`]: how one kind of AWS state is read and compared, shared by every action
//! on that kind (the three role actions read a role the same way).
//!
//! A resource is a type with no value (`security_group::Groups`): it names the state a
//! snapshot records and how to read it. Reads are the executor's: it describes through
//! [`Resource::describe_many`] in chunks of [`Resource::BATCH`] with bounded concurrency
//! and retries, and plans from [`Resource::list`] when the listing is itself a describe.

use std::fmt::Debug;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::aws::Aws;
use crate::target::{Target, TargetSpec};

/// One kind of AWS state: what a snapshot of a target records, how to read it, and how
/// two readings differ.
pub trait Resource: Sync {
    /// The target's state as a snapshot records it; what revert restores.
    type State: Serialize + DeserializeOwned + Debug + Send + Sync;

    /// How many targets [`Resource::describe_many`] reads with one (paged) call; 0 (the
    /// default): one call per target, [`Resource::describe`].
    const BATCH: usize = 0;

    /// The target as AWS reports it now; [`crate::Error::Gone`] if it no longer exists.
    fn describe(aws: &Aws, target: &Target) -> impl Future<Output = Result<Self::State>> + Send;

    /// Up to [`Resource::BATCH`] targets with one call, one entry per target in order; a
    /// target that no longer exists is `Err(Error::Gone)`. Only called when `BATCH` is
    /// more than 0.
    fn describe_many(aws: &Aws, targets: &[&Target]) -> impl Future<Output = Result<Vec<Result<Self::State>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(targets.len());
            for t in targets {
                out.push(Self::describe(aws, t).await);
            }
            Ok(out)
        }
    }

    /// The targets `spec` selects, each with its state, when listing them already
    /// describes them (EC2 lists security groups and instances with its describe call):
    /// planning then snapshots from the listing, one round trip instead of two. `None`
    /// (the default): the executor lists ([`crate::aws::list`]) and describes what it
    /// picked.
    fn list(_aws: &Aws, _spec: &TargetSpec) -> impl Future<Output = Option<Result<Listed<Self::State>>>> + Send {
        async { None }
    }

    /// How `now` differs from `before`, one line each, ignoring what AWS assigns (rule
    /// ids). Empty means equal: restored exactly, when `before` is the snapshot.
    fn differences(before: &Self::State, now: &Self::State) -> Vec<String>;
}

/// What [`Resource::list`] returns: each target the selector matched, with its state.
pub type Listed<S> = Vec<(Target, S)>;

/// One line when `now` differs from `before` — "<who>: <what> is <now>, snapshot had
/// <before>" — for the `differences` of resources whose state is one value.
pub(crate) fn compare<T: PartialEq + Debug>(who: &str, what: &str, before: &T, now: &T) -> Vec<String> {
    if before == now { Vec::new() } else { vec![format!("{who}: {what} is {now:?}, snapshot had {before:?}")] }
}
