//! Describing many targets at once: the executor's one way to read a fault's targets, so
//! that a fleet costs a few paged calls per phase, not one call per target. Inject and
//! revert share the rest here: journaling `injecting` / `reverting` ahead of the change
//! calls, spreading a change call's outcome over its batch, and reading the targets after
//! a change, from the call's answers where they prove the state and with one describe for
//! the others.

use std::sync::Mutex;

use futures_util::{StreamExt, stream};

use crate::action::Fault;
use crate::aws::Aws;
use crate::store::journal::{Event, Journal};
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

/// Journals that the targets of change calls are about to change (`injecting`,
/// `reverting`), ahead of the calls: the first call of a window marks the targets of
/// the next `window` calls in one write, so a fleet costs one fsync per window of calls
/// rather than one per call. Every target is marked, durably, before its call is made.
/// A crash can leave at most a window of targets marked but untouched: revert describes
/// them, finds them equal to their snapshots, and leaves them be.
pub struct MarkAhead<'a> {
    journal: &'a Journal,
    /// The calls' targets, as indices into the caller's list, one slice per call.
    calls: Vec<&'a [usize]>,
    window: usize,
    /// How many calls, from the first, have their targets marked.
    marked: Mutex<usize>,
}

impl<'a> MarkAhead<'a> {
    pub fn new(journal: &'a Journal, calls: Vec<&'a [usize]>, window: usize) -> Self {
        MarkAhead { journal, calls, window: window.max(1), marked: Mutex::new(0) }
    }

    /// The targets of each call, in order.
    pub fn calls(&self) -> &[&'a [usize]] {
        &self.calls
    }

    /// Make sure call `k`'s targets are marked, writing `event(i)` for each target `i`
    /// of the calls from the first unmarked one to the end of `k`'s window.
    pub fn ensure(&self, k: usize, event: impl Fn(usize) -> Event) -> Result<()> {
        let mut marked = self.marked.lock().unwrap_or_else(|e| e.into_inner());
        if k < *marked {
            return Ok(());
        }
        let end = (k + self.window).min(self.calls.len());
        let events: Vec<Event> = self.calls[*marked..end].iter().flat_map(|c| c.iter().map(|&i| event(i))).collect();
        self.journal.append_all(&events)?;
        *marked = end;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(path: &std::path::Path) -> Vec<String> {
        Journal::read::<Event>(path)
            .unwrap()
            .into_iter()
            .map(|e| match e {
                Event::Injecting { target, .. } => target,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn marks_a_window_of_calls_ahead_and_each_target_once() {
        let path = std::env::temp_dir().join(format!("firedrill-marks-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let journal = Journal::open(&path).unwrap();
        let targets: Vec<usize> = (0..7).collect();
        // Seven targets, two a call: four calls, marked two calls at a time.
        let marks = MarkAhead::new(&journal, targets.chunks(2).collect(), 2);
        let event = |i: usize| Event::Injecting { at: "t".into(), fault: 0, target: format!("t{i}") };
        marks.ensure(0, event).unwrap();
        assert_eq!(marked(&path), ["t0", "t1", "t2", "t3"], "the first call marks its window");
        marks.ensure(1, event).unwrap();
        assert_eq!(marked(&path).len(), 4, "a call already marked writes nothing");
        marks.ensure(3, event).unwrap();
        assert_eq!(marked(&path), ["t0", "t1", "t2", "t3", "t4", "t5", "t6"], "the rest, once, to the last call");
        marks.ensure(2, event).unwrap();
        assert_eq!(marked(&path).len(), 7);
        let _ = std::fs::remove_file(&path);
    }
}
