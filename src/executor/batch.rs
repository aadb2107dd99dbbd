//! Describing many targets at once: the executor's one way to read a fault's targets, so
//! that a fleet costs a few paged calls per phase, not one call per target.

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
