//! Calls AWS turns away *for now*, tried again until they go through or their time is up.
//!
//! Two kinds of answer mean "not yet" rather than "no":
//!
//! - **Throttled** (`RequestLimitExceeded`, `Throttling`, …): the pacer ([`super::pace`])
//!   has slowed the API down; the call is tried again until the command's deadline
//!   (`--deadline`), never failed after a fixed number of attempts as the SDK's retry
//!   strategy would.
//! - **Not propagated yet**: AWS is eventually consistent, and some calls fail until an
//!   earlier change has reached every part of it. Each such answer has its own window,
//!   after Terraform's AWS provider: a group delete answered `DependencyViolation` while
//!   an interface (a load balancer's) lets go of it, 15 minutes; `RunInstances` or an
//!   association with an instance profile created a moment ago (`Invalid IAM Instance
//!   Profile name`), 2 minutes; a start or stop while the instance is still between
//!   states (`IncorrectInstanceState`), 5 minutes; Route 53's `PriorRequestNotComplete`,
//!   2 minutes; a snapshot still held by an image deregistered a moment ago
//!   (`InvalidSnapshot.InUse`), 2 minutes; Lambda's `ResourceConflictException` (the
//!   last update still in progress), DynamoDB's `ResourceInUseException` (the table
//!   still `UPDATING`) and API Gateway's `ConflictException`, 5 minutes; a cluster or
//!   target group whose tasks are still letting go, 10 minutes; `CreateFunction` with a
//!   role Lambda cannot assume yet, 2 minutes. A call on an id firedrill has just created may also be told the id does
//!   not exist ([`retry_fresh`]): 5 minutes, as AWS's EC2 guide advises.
//!
//! Every wait is bounded by the command's deadline too, and logged at debug level (`-v`).
//! The waits start at half a second and double up to ten.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::pace::command_deadline;
use crate::{Error, Result};

/// How long a "not yet" answer is worth waiting out, from the first one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wait {
    /// Until the command's deadline.
    Deadline,
    For(Duration),
}

const MINUTE: Duration = Duration::from_secs(60);

/// Whether `e` means "not yet", and for how long at most.
fn not_yet(e: &Error, fresh: bool) -> Option<Wait> {
    if e.is_throttle() {
        return Some(Wait::Deadline);
    }
    let code = e.aws_code()?;
    let wait = match code {
        "DependencyViolation" => 15 * MINUTE,
        "IncorrectInstanceState" => 5 * MINUTE,
        "PriorRequestNotComplete" | "InvalidSnapshot.InUse" => 2 * MINUTE,
        // Lambda: the function's previous update is still in progress; DynamoDB: the
        // table (or an index) is still `UPDATING`; API Gateway: a concurrent change.
        "ResourceConflictException" | "ResourceInUseException" | "ConflictException" => 5 * MINUTE,
        // A cluster whose tasks are still stopping; a target group a service's tasks
        // have not let go of yet (ELB's `ResourceInUse`).
        "ClusterContainsTasksException" | "ClusterContainsServicesException" | "ResourceInUse" => 10 * MINUTE,
        // Lambda cannot assume a role created a moment ago (IAM propagates).
        "InvalidParameterValueException" if e.to_string().contains("cannot be assumed by Lambda") => 2 * MINUTE,
        "InvalidParameterValue" if e.to_string().contains("Invalid IAM Instance Profile") => 2 * MINUTE,
        c if fresh && c.ends_with(".NotFound") => 5 * MINUTE,
        _ => return None,
    };
    Some(Wait::For(wait))
}

/// `call`, tried again while AWS answers "not yet" (see the module docs).
pub async fn retry<T, Fut>(call: impl FnMut() -> Fut) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    retrying(call, false).await
}

/// [`retry`] for a call on ids firedrill has just created: "does not exist" is taken
/// for "not visible yet" as well.
pub async fn retry_fresh<T, Fut>(call: impl FnMut() -> Fut) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    retrying(call, true).await
}

async fn retrying<T, Fut>(mut call: impl FnMut() -> Fut, fresh: bool) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut backoff = Backoff::until(None);
    loop {
        let e = match call().await {
            Err(e) => e,
            ok => return ok,
        };
        let Some(window) = not_yet(&e, fresh) else { return Err(e) };
        if let Wait::For(w) = window {
            backoff.cap(started + w);
        }
        let Some(wait) = backoff.next() else { return Err(e) };
        tracing::debug!("not yet ({e}); trying again in {wait:?}");
        tokio::time::sleep(wait).await;
    }
}

/// Poll `look` until it says done (`Some`), on a [`Backoff`], for at most `window`;
/// `None` if it never did. For what AWS shows some time after a change: a describe that
/// lags, a Route 53 change that is `PENDING` until `INSYNC`.
pub async fn poll<T, Fut>(window: Duration, mut look: impl FnMut() -> Fut) -> Result<Option<T>>
where
    Fut: Future<Output = Result<Option<T>>>,
{
    let mut backoff = Backoff::until(Some(Instant::now() + window));
    loop {
        if let Some(done) = look().await? {
            return Ok(Some(done));
        }
        let Some(wait) = backoff.next() else { return Ok(None) };
        tokio::time::sleep(wait).await;
    }
}

/// The waits between tries of anything AWS answers "not yet": half a second, doubling up
/// to ten, while the next try would still come before the end (and the command's
/// deadline). One schedule for retries, polls and observations.
pub struct Backoff {
    wait: Duration,
    until: Option<Instant>,
}

impl Backoff {
    /// A backoff that ends at `end` (or the command's deadline, whichever is first).
    pub fn until(end: Option<Instant>) -> Backoff {
        let until = match (end, command_deadline()) {
            (Some(e), Some(d)) => Some(e.min(d)),
            (e, d) => e.or(d),
        };
        Backoff { wait: Duration::from_millis(500), until }
    }

    /// End no later than `end`.
    fn cap(&mut self, end: Instant) {
        self.until = Some(self.until.map_or(end, |u| u.min(end)));
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    /// How long to wait before the next try; `None` when it would come too late.
    fn next(&mut self) -> Option<Duration> {
        let wait = self.wait;
        if self.until.is_some_and(|u| Instant::now() + wait >= u) {
            return None;
        }
        self.wait = (wait * 2).min(Duration::from_secs(10));
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AwsError;

    fn aws(code: &str, message: &str) -> Error {
        Error::Aws { doing: "test".into(), source: AwsError { code: Some(code.into()), message: message.into() } }
    }

    #[test]
    fn not_yet_answers_have_their_windows() {
        assert_eq!(not_yet(&aws("RequestLimitExceeded", ""), false), Some(Wait::Deadline));
        assert_eq!(not_yet(&aws("DependencyViolation", "has a dependent object"), false), Some(Wait::For(15 * MINUTE)));
        let profile = aws(
            "InvalidParameterValue",
            "Value (p) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
        );
        assert_eq!(not_yet(&profile, false), Some(Wait::For(2 * MINUTE)));
        assert_eq!(not_yet(&aws("InvalidParameterValue", "bad CIDR"), false), None, "other invalid values are final");
        assert_eq!(not_yet(&aws("InvalidGroup.NotFound", ""), false), None, "gone is gone, unless just created");
        assert_eq!(not_yet(&aws("InvalidGroup.NotFound", ""), true), Some(Wait::For(5 * MINUTE)));
        assert_eq!(not_yet(&Error::Failed("x".into()), true), None);
    }

    #[tokio::test]
    async fn a_not_yet_answer_is_tried_again_and_a_final_one_is_not() {
        let mut tries = 0;
        let r = retry(|| {
            tries += 1;
            let answer = if tries < 3 { Err(aws("IncorrectInstanceState", "stopping")) } else { Ok(tries) };
            async move { answer }
        })
        .await;
        assert_eq!(r.unwrap(), 3);
        let mut tries = 0;
        let r: Result<()> = retry(|| {
            tries += 1;
            async { Err(aws("UnauthorizedOperation", "no")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries, 1);
    }
}
