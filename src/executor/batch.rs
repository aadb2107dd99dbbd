//! Describing many targets at once: the executor's one way to read a fault's targets, so
//! that a fleet costs a few paged calls per phase, not one call per target. Inject and
//! revert share the rest here: making the change calls (bounded, each target journaled
//! before its call), and reading the targets after a change, from the calls' answers
//! where they prove the state and with one describe for the others.

use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::time::Instant;

use crate::action::Resource;
use crate::aws::Aws;
use crate::aws::retry::{Backoff, retry};
use crate::store::journal::{Event, Journal};
use crate::target::Target;
use crate::{Error, Result, failpoint};

/// Describe every target as resource `R`, one entry per target in order. Resources read
/// in batches ([`Resource::BATCH`]) get one call per batch; others one call per target.
/// Either way at most `aws.concurrency` calls are in flight (see [`Aws::permit`]). A
/// failed batch call fails each of its targets with the call's error.
pub async fn describe_all<R: Resource>(aws: &Aws, targets: &[&Target]) -> Vec<Result<R::State>> {
    if R::BATCH == 0 {
        return stream::iter(targets)
            .map(|t| async move {
                let _turn = aws.permit().await;
                retry(|| R::describe(aws, t)).await
            })
            .buffered(aws.concurrency)
            .collect()
            .await;
    }
    let batches: Vec<Vec<Result<R::State>>> = stream::iter(targets.chunks(R::BATCH))
        .map(|chunk| async move {
            let _turn = aws.permit().await;
            match retry(|| R::describe_many(aws, chunk)).await {
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

/// Make a fault's change calls over its `n` targets, `per_call` at a time (1 for a
/// fault without a batch call), at most `aws.concurrency` calls in flight. Each target
/// is journaled `mark(i)` (`injecting`, `reverting`) before its call, a window of
/// `aws.concurrency` calls ahead (see [`mark_ahead`]). `call(range)` makes the call for
/// the targets at `range` and answers with what it proves of each; the failpoint `point`
/// follows each call. Once a stop is requested ([`super::stop`]), calls not yet started
/// are not made: their targets fail with [`Error::Interrupted`]. Returns every target's
/// outcome, by index (unordered).
pub async fn change_all<S, Fut>(
    aws: &Aws,
    journal: &Journal,
    n: usize,
    per_call: usize,
    point: &str,
    mark: impl Fn(usize) -> Event,
    call: impl Fn(Range<usize>) -> Fut,
) -> Vec<(usize, super::Proved<S>)>
where
    Fut: Future<Output = Result<Vec<Option<S>>>>,
{
    let per_call = per_call.max(1);
    let window = per_call * aws.concurrency.max(1);
    let marked = Mutex::new(0);
    let progress = crate::output::Progress::start(point.trim_start_matches("after-").trim_end_matches("-call"), n);
    let (marked, mark, call, progress) = (&marked, &mark, &call, &progress);
    let calls: Vec<Vec<(usize, super::Proved<S>)>> =
        stream::iter((0..n).step_by(per_call).map(|start| start..(start + per_call).min(n)))
            .map(|range| async move {
                let turn = aws.permit().await;
                // A signal asked to stop (see `stop`): calls in flight finish, no new one
                // starts, and these targets stay as they are, unmarked.
                if let Some(why) = super::stop::requested() {
                    return spread(range, Err(Error::Interrupted(format!("not changed: stopped by {why}"))));
                }
                if let Err(e) = mark_ahead(journal, marked, range.end, (range.start + window).min(n), mark) {
                    return spread(range, Err(e));
                }
                let called = retry(|| call(range.clone())).await;
                drop(turn);
                progress.add(range.len());
                failpoint::hit(point);
                failpoint::pause(point).await;
                spread(range, called)
            })
            .buffer_unordered(aws.concurrency)
            .collect()
            .await;
    calls.into_iter().flatten().collect()
}

/// Unless the first `need` targets are marked already (`marked` counts those that are),
/// journal `mark(i)` for every target from the first unmarked one up to `to`, in one
/// write: a fleet costs one fsync per window of calls rather than one per call. A crash
/// can leave at most a window of targets marked but untouched: revert describes them,
/// finds them equal to their snapshots, and leaves them be.
fn mark_ahead(
    journal: &Journal,
    marked: &Mutex<usize>,
    need: usize,
    to: usize,
    mark: impl Fn(usize) -> Event,
) -> Result<()> {
    let mut marked = marked.lock().unwrap_or_else(|e| e.into_inner());
    if need <= *marked {
        return Ok(());
    }
    let to = to.max(need);
    let events: Vec<Event> = (*marked..to).map(mark).collect();
    journal.append_all(&events)?;
    *marked = to;
    Ok(())
}

/// What one change call made known of each target of its batch (`range`, indices into
/// the caller's list), in order: the state its answer proves or `None`; the call's error
/// for every one if it failed.
fn spread<S>(range: Range<usize>, called: Result<Vec<Option<S>>>) -> Vec<(usize, super::Proved<S>)> {
    match called {
        Ok(proved) => {
            let proved = proved.into_iter().chain(std::iter::repeat_with(|| None));
            range.zip(proved.map(Ok)).collect()
        }
        Err(e) => {
            let why = e.to_string();
            range.map(|i| (i, Err(Error::Failed(why.clone())))).collect()
        }
    }
}

/// Each changed target's state now, by index in order: as its call's answer proved it,
/// or else described, all those at once. `target(i)` names the target at index `i`.
///
/// AWS's reads lag its changes (a describe can show the old state for a while), so a
/// state that does not yet show what the change was for (`settled(i, state)` is false)
/// is described again, half a second later and then less and less often, until it does
/// or `window` (the service's, see [`crate::target::TargetKind::consistency`]) or the
/// command's deadline passes: the caller judges the last state seen.
pub async fn states_after<'a, R: Resource>(
    aws: &Aws,
    changed: Vec<(usize, Option<R::State>)>,
    target: impl Fn(usize) -> &'a Target,
    window: Duration,
    settled: impl Fn(usize, &R::State) -> bool,
) -> Vec<(usize, Result<R::State>)> {
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
    seen.extend(unseen.iter().copied().zip(describe_all::<R>(aws, &targets).await));
    seen.sort_unstable_by_key(|(i, _)| *i);
    let mut backoff = Backoff::until(Some(Instant::now() + window));
    loop {
        let lagging: Vec<usize> =
            (0..seen.len()).filter(|&k| seen[k].1.as_ref().is_ok_and(|s| !settled(seen[k].0, s))).collect();
        let Some(wait) = backoff.next().filter(|_| !lagging.is_empty()) else { break };
        tracing::debug!(targets = lagging.len(), "not showing the change yet; describing them again in {wait:?}");
        tokio::time::sleep(wait).await;
        let targets: Vec<&Target> = lagging.iter().map(|&k| target(seen[k].0)).collect();
        for (k, state) in lagging.into_iter().zip(describe_all::<R>(aws, &targets).await) {
            seen[k].1 = state;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked_in(store: &crate::store::Store) -> Vec<String> {
        store
            .read_log::<Event>("marks")
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
        let dir = std::env::temp_dir().join(format!("firedrill-marks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = crate::store::Store::new(dir);
        let journal = path.open_log("marks", false).unwrap();
        // Seven targets, two a call: four calls (0..2, 2..4, 4..6, 6..7), marked two
        // calls (four targets) at a time.
        let marked = Mutex::new(0);
        let event = |i: usize| Event::Injecting { at: "t".into(), fault: 0, target: format!("t{i}") };
        let ensure =
            |call: std::ops::Range<usize>| mark_ahead(&journal, &marked, call.end, (call.start + 4).min(7), event);
        ensure(0..2).unwrap();
        assert_eq!(marked_in(&path), ["t0", "t1", "t2", "t3"], "the first call marks its window");
        ensure(2..4).unwrap();
        assert_eq!(marked_in(&path).len(), 4, "a call already marked writes nothing");
        ensure(6..7).unwrap();
        assert_eq!(marked_in(&path), ["t0", "t1", "t2", "t3", "t4", "t5", "t6"], "the rest, once, to the last call");
        ensure(4..6).unwrap();
        assert_eq!(marked_in(&path).len(), 7);
        let _ = std::fs::remove_dir_all(path.root());
    }
}
