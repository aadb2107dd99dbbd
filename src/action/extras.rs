//! What a few faults add to the one-target [`Fault`], each as its own small trait, named
//! in the fault's catalogue row (`shared`, `batch`); a row that names neither gets
//! [`NothingShared`] and [`OneAtATime`].
//!
//! - [`Shared`]: resources the fault's targets share for the run (a quarantine group, an
//!   ACL clone), created once before the first change and deleted after the last revert.
//! - [`Batch`]: a change call that takes many ids (`ec2:StopInstances` takes up to 100);
//!   the executor forms the batches and journals each target before its call.

use std::future::Future;

use super::{Fault, RunCtx, State, ToInject, ToRevert};
use crate::Result;
use crate::aws::Aws;

/// Resources a fault's targets share for the run.
pub trait Shared<F: Fault>: Sync {
    /// Create what the targets share, recording each created id with
    /// [`RunCtx::record_created`] before relying on it. Given every planned target.
    fn setup(&self, aws: &Aws, run: &RunCtx, planned: &[ToInject<'_, F>]) -> impl Future<Output = Result<()>> + Send;

    /// Delete what `setup` created, once every target is reverted. Idempotent.
    fn teardown(&self, aws: &Aws, run: &RunCtx) -> impl Future<Output = Result<()>> + Send;
}

/// What most faults share: nothing.
pub struct NothingShared;

impl<F: Fault> Shared<F> for NothingShared {
    async fn setup(&self, _aws: &Aws, _run: &RunCtx, _planned: &[ToInject<'_, F>]) -> Result<()> {
        Ok(())
    }

    async fn teardown(&self, _aws: &Aws, _run: &RunCtx) -> Result<()> {
        Ok(())
    }
}

/// A change call that takes many targets. If a call fails, every target in it failed.
/// Each call answers, per target in order, with the state the answer proves, as
/// [`Fault::inject`] and [`Fault::revert`] do.
pub trait Batch<F: Fault>: Sync {
    /// How many targets one call changes.
    const SIZE: usize;

    /// Inject up to [`Batch::SIZE`] targets with one call.
    fn inject_many(
        &self,
        aws: &Aws,
        run: &RunCtx,
        items: &[ToInject<'_, F>],
    ) -> impl Future<Output = Result<Vec<Option<State<F>>>>> + Send;

    /// Revert up to [`Batch::SIZE`] targets with one call.
    fn revert_many(
        &self,
        aws: &Aws,
        run: &RunCtx,
        items: &[ToRevert<'_, F>],
    ) -> impl Future<Output = Result<Vec<Option<State<F>>>>> + Send;
}

/// How most faults change their targets: one call each, [`Fault::inject`] and
/// [`Fault::revert`].
pub struct OneAtATime<'a, F>(pub &'a F);

impl<F: Fault> Batch<F> for OneAtATime<'_, F> {
    const SIZE: usize = 1;

    async fn inject_many(&self, aws: &Aws, run: &RunCtx, items: &[ToInject<'_, F>]) -> Result<Vec<Option<State<F>>>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.0.inject(aws, run, item).await?);
        }
        Ok(out)
    }

    async fn revert_many(&self, aws: &Aws, run: &RunCtx, items: &[ToRevert<'_, F>]) -> Result<Vec<Option<State<F>>>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.0.revert(aws, run, item).await?);
        }
        Ok(out)
    }
}
