//! Time, injected: the scheduler asks a [`Clock`] for "now" and sleeps through it, so a
//! test can run days of schedule in milliseconds with [`TestClock`].

use std::cell::Cell;
use std::time::Duration;

use jiff::Timestamp;

/// Where the scheduler gets the time: the wall clock, or a test's.
#[allow(async_fn_in_trait)] // one thread (a current-thread runtime): no Send bound needed
pub trait Clock {
    /// The time now.
    fn now(&self) -> Timestamp;
    /// Sleep until `t` (or a little less: the caller looks at `now` again).
    async fn sleep_until(&self, t: Timestamp);
}

/// The wall clock. Sleeps are cut to a minute at most, so a suspended laptop or a
/// stepped clock is noticed within a minute.
pub struct SystemClock;

const MAX_SLEEP: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, t: Timestamp) {
        let wait = t.duration_since(Timestamp::now());
        let wait = Duration::try_from(wait).unwrap_or_default().min(MAX_SLEEP);
        // Wake just after `t`, not just before: a slot at `t` is due at `t`.
        tokio::time::sleep(wait + Duration::from_millis(5)).await;
    }
}

/// A clock that jumps: sleeping moves it forward at once.
pub struct TestClock(Cell<Timestamp>);

impl TestClock {
    /// A test clock at `start`.
    pub fn new(start: Timestamp) -> TestClock {
        TestClock(Cell::new(start))
    }

    /// Move the test clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.set(t);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        self.0.get()
    }

    async fn sleep_until(&self, t: Timestamp) {
        if t > self.0.get() {
            self.0.set(t);
        }
        tokio::task::yield_now().await;
    }
}
