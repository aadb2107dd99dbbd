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

    /// What `now` opens up that `before` did not, one line each: a rule open to the
    /// world, a wider port range, an allow-all entry, an administrator's policy. A team's
    /// fix that does any of these is a security regression. The default: nothing.
    fn regressions(_before: &Self::State, _now: &Self::State) -> Vec<String> {
        Vec::new()
    }

    /// Make the target equal to `before` in everything [`Resource::differences`]
    /// compares, whatever changed it since (`revert --exact`, a drill's
    /// `end: { reset: exact }`). Called only for a target that still differs after its
    /// fault's revert. The default does nothing more: for resources whose faults restore
    /// their whole state, the revert did it already.
    fn reset(
        _aws: &Aws,
        _target: &Target,
        _before: &Self::State,
        _now: &Self::State,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}

/// What [`Resource::list`] returns: each target the selector matched, with its state.
pub type Listed<S> = Vec<(Target, S)>;

/// One line when `now` differs from `before` — "<who>: <what> is <now>, snapshot had
/// <before>" — for the `differences` of resources whose state is one value.
pub(crate) fn compare<T: PartialEq + Human + ?Sized>(who: &str, what: &str, before: &T, now: &T) -> Vec<String> {
    if before == now {
        Vec::new()
    } else {
        vec![format!("{who}: {what} is {}, snapshot had {}", now.human(), before.human())]
    }
}

/// A value as a person reads it in a difference, a plan or a report: never Rust's
/// `Debug` (`Some("x")`, `RecordSet { .. }`).
pub trait Human {
    fn human(&self) -> String;
}

impl Human for str {
    fn human(&self) -> String {
        if self.is_empty() { "(empty)".into() } else { self.to_owned() }
    }
}

impl Human for String {
    fn human(&self) -> String {
        self.as_str().human()
    }
}

macro_rules! human_by_display {
    ($($t:ty),*) => { $( impl Human for $t { fn human(&self) -> String { self.to_string() } } )* };
}
human_by_display!(bool, i32, i64, u16, u32);

impl<T: Human> Human for Option<T> {
    fn human(&self) -> String {
        self.as_ref().map_or_else(|| "none".into(), Human::human)
    }
}

impl<T: Human> Human for [T] {
    fn human(&self) -> String {
        if self.is_empty() { "none".into() } else { self.iter().map(Human::human).collect::<Vec<_>>().join(", ") }
    }
}

impl<T: Human> Human for Vec<T> {
    fn human(&self) -> String {
        self.as_slice().human()
    }
}

impl<A: Human, B: Human> Human for (A, B) {
    fn human(&self) -> String {
        format!("{} {}", self.0.human(), self.1.human())
    }
}

impl<A: Human, B: Human, C: Human> Human for (A, B, C) {
    fn human(&self) -> String {
        format!("{}/{}/{}", self.0.human(), self.1.human(), self.2.human())
    }
}

impl<K: Human, V: Human> Human for std::collections::BTreeMap<K, V> {
    fn human(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        self.iter().map(|(k, v)| format!("{}={}", k.human(), v.human())).collect::<Vec<_>>().join(", ")
    }
}
