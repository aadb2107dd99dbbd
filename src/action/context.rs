//! What a fault knows of the run it is part of ([`RunCtx`]): the run's id and directory,
//! and the resources the fault created, which it records through a [`Recorder`] (the
//! executor's journal) before relying on them. The interface names no executor or store
//! type: the executor builds the context and implements the recorder.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::Result;
use crate::aws::{FAULT_TAG, KIND_TAG, RUN_TAG};

#[derive(Clone, Debug, Serialize)]
/// A resource a fault created (a quarantine group, an ACL clone, an image), as the
/// journal records it: for `scope` (the VPC, the instance it is of), and whether it has
/// since been deleted.
pub struct Created {
    pub fault: usize,
    pub kind: String,
    pub id: String,
    pub scope: String,
    pub deleted: bool,
}

/// Kinds of created resource that are kept after revert: evidence for the investigation
/// (an image or EBS snapshot of a terminated instance) or the restored resource itself
/// (a relaunched replacement).
pub const KEPT_KINDS: &[&str] = &["image", "ebs-snapshot", "instance"];

impl Created {
    /// Whether this is kept after revert (evidence, a replacement) rather than deleted.
    pub fn kept(&self) -> bool {
        KEPT_KINDS.contains(&self.kind.as_str())
    }
}

/// Where a fault's records of what it created and deleted go, durably, before the fault
/// relies on them (the run's journal).
pub trait Recorder: Send + Sync {
    /// Journal that the fault created `id` (of `kind`, for `scope`), durably.
    fn created(&self, fault: usize, kind: &str, id: &str, scope: &str) -> Result<()>;
    /// Journal that the fault deleted `id`, durably.
    fn deleted(&self, fault: usize, kind: &str, id: &str) -> Result<()>;
}

/// What a fault may know of the run it is part of.
pub struct RunCtx {
    pub run_id: String,
    /// The fault's index in the run.
    pub fault: usize,
    recorder: Arc<dyn Recorder>,
    created: Mutex<Vec<Created>>,
}

impl RunCtx {
    /// The context of fault `fault` of run `run_id`, with what the journal says it created.
    pub fn new(run_id: &str, fault: usize, recorder: Arc<dyn Recorder>, created: Vec<Created>) -> Self {
        RunCtx { run_id: run_id.to_owned(), fault, recorder, created: Mutex::new(created) }
    }

    /// Record a resource the fault created, durably, before it is used.
    pub fn record_created(&self, kind: &str, id: &str, scope: &str) -> Result<()> {
        self.recorder.created(self.fault, kind, id, scope)?;
        self.created.lock().unwrap_or_else(|e| e.into_inner()).push(Created {
            fault: self.fault,
            kind: kind.into(),
            id: id.into(),
            scope: scope.into(),
            deleted: false,
        });
        Ok(())
    }

    /// Record that a resource the fault created is deleted, durably.
    pub fn record_deleted(&self, kind: &str, id: &str) -> Result<()> {
        self.recorder.deleted(self.fault, kind, id)?;
        for c in self.created.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            if c.kind == kind && c.id == id {
                c.deleted = true;
            }
        }
        Ok(())
    }

    /// The id of a live resource of `kind` this fault created for `scope` (e.g. a VPC).
    pub fn created_in(&self, kind: &str, scope: &str) -> Option<String> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().find(|c| !c.deleted && c.kind == kind && c.scope == scope).map(|c| c.id.clone())
    }

    /// (kind, id) of every resource this fault created for a scope starting with `prefix`.
    pub fn created_for(&self, prefix: &str) -> Vec<(String, String)> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().filter(|c| c.scope.starts_with(prefix)).map(|c| (c.kind.clone(), c.id.clone())).collect()
    }

    /// Ids of every live resource of `kind` this fault created.
    pub fn created(&self, kind: &str) -> Vec<String> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().filter(|c| !c.deleted && c.kind == kind).map(|c| c.id.clone()).collect()
    }
}

/// The tags of a resource firedrill creates: its run, its fault, and what kind of thing
/// it is (see [`crate::aws::KIND_TAG`]): `sweep` deletes only what carries all three.
pub(crate) fn run_tags(run: &RunCtx, resource: ResourceType, kind: &str, extra: &[(&str, String)]) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key(RUN_TAG).value(&run.run_id).build())
        .tags(Tag::builder().key(FAULT_TAG).value(run.fault.to_string()).build())
        .tags(Tag::builder().key(KIND_TAG).value(kind).build());
    for (k, v) in extra {
        b = b.tags(Tag::builder().key(*k).value(v).build());
    }
    b.build()
}

#[cfg(test)]
impl RunCtx {
    /// A context for unit tests of a fault's pure parts: records go nowhere.
    pub fn for_tests() -> RunCtx {
        struct Nowhere;
        impl Recorder for Nowhere {
            fn created(&self, _: usize, _: &str, _: &str, _: &str) -> Result<()> {
                Ok(())
            }
            fn deleted(&self, _: usize, _: &str, _: &str) -> Result<()> {
                Ok(())
            }
        }
        RunCtx::new("20261202T000000.000Z-test", 0, Arc::new(Nowhere), Vec::new())
    }
}
