//! Describing many targets at once: the executor's one way to read a fault's targets, so
//! that a fleet costs a few paged calls per phase, not one call per target. Inject and
//! revert share the rest here: spreading a change call's outcome over its batch, and
//! reading the targets after a change, from the call's answers where they prove the
//! state and with one describe for the others.

use futures_util::{StreamExt, stream};

use crate::action::Fault;
use crate::aws::Aws;
use crate::target::Target;
use crate::{Error, Result};

/// Describe every target, one entry per target in order. Actions with a batch describe
/// ([`Fault::DESCRIBE_BATCH`]) get one call per batch; others one call per target. Either
/// way at most `aws.concurrency` calls are in flight (see [`Aws::permit`]). A failed batch call fails each of
/// its targets with the call's error.
pub async fn describe_all<F: Fault>(f: &F, aws: &Aws, targets: &[&Target]) -> Vec<Result<F::State>> {
    if F::DESCRIBE_BATCH == 0 {
        return stream::iter(targets)
            .map(|t| async move {
                let _turn = aws.permit().await;
                f.describe(aws, t).await
            })
            .buffered(aws.concurrency)
            .collect()
            .await;
    }
    let batches: Vec<Vec<Result<F::State>>> = stream::iter(targets.chunks(F::DESCRIBE_BATCH))
        .map(|chunk| async move {
            let _turn = aws.permit().await;
            match f.describe_batch(aws, chunk).await {
                Ok(states) if states.len() == chunk.len() => states,
                Ok(states) => failed(chunk, &format!("internal: {} states for {} targets", states.len(), chunk.len())),
                Err(e) => failed(chunk, &e.to_string()),
            }
        })
        .buffered(aws.concurrency)
        .collect()
        .await;
    batches.into_iter().flatten().collect()
}

fn failed<S>(chunk: &[&Target], why: &str) -> Vec<Result<S>> {
    chunk.iter().map(|_| Err(Error::Failed(why.to_owned()))).collect()
}

/// What one change call made known of each target of its batch (`chunk`, indices into
/// the caller's list), in order: the state its answer proves or `None`; the call's error
/// for every one if it failed.
pub fn spread<S>(chunk: &[usize], called: Result<Vec<Option<S>>>) -> Vec<(usize, super::Proved<S>)> {
    match called {
        Ok(proved) => {
            let proved = proved.into_iter().chain(std::iter::repeat_with(|| None));
            chunk.iter().copied().zip(proved.map(Ok)).collect()
        }
        Err(e) => {
            let why = e.to_string();
            chunk.iter().map(|&i| (i, Err(Error::Failed(why.clone())))).collect()
        }
    }
}

/// Each changed target's state now, by index in order: as its call's answer proved it,
/// or else described, all those at once. `target(i)` names the target at index `i`.
pub async fn states_after<'a, F: Fault>(
    f: &F,
    aws: &Aws,
    changed: Vec<(usize, Option<F::State>)>,
    target: impl Fn(usize) -> &'a Target,
) -> Vec<(usize, Result<F::State>)> {
    let mut seen = Vec::with_capacity(changed.len());
    let mut unseen = Vec::new();
    for (i, proved) in changed {
        match proved {
            Some(state) => seen.push((i, Ok(state))),
            None => unseen.push(i),
        }
    }
    unseen.sort_unstable();
    let targets: Vec<&Target> = unseen.iter().map(|&i| target(i)).collect();
    seen.extend(unseen.iter().copied().zip(describe_all(f, aws, &targets).await));
    seen.sort_unstable_by_key(|(i, _)| *i);
    seen
}
