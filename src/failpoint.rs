//! Failure points for tests. `FIREDRILL_FAILPOINT=<name>` aborts the process at the named
//! point, as a crash or `kill -9` would, so tests can prove that `revert` finishes any run
//! from what the store holds; `FIREDRILL_FAILPOINT=<name>:<target id>` makes one target's
//! step fail with an error, so tests can prove a partly failed inject is rolled back.
//! Unset (always, outside tests) each costs one env lookup.
//!
//! The points: `before-<event>` / `after-<event>` around every journal write (`<event>`
//! is the journal's event name: `run-started`, `planned`, `injecting`, `created`,
//! `injected`, `reverting`, `reverted`, `deleted`, ...), `after-snapshot` (all snapshots
//! durable), `after-create` (a resource created, not yet journaled), `after-hold` (the
//! targets tagged as held), `after-inject-call` and `after-revert-call` (the AWS change
//! made, not yet journaled).

/// Abort the process here if `FIREDRILL_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("FIREDRILL_FAILPOINT").is_some_and(|v| v == name) {
        crate::errln!("firedrill: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Fail with an error here, for this target, if `FIREDRILL_FAILPOINT` is `<name>:<target>`.
pub fn fail(name: &str, target: &str) -> crate::Result<()> {
    if std::env::var("FIREDRILL_FAILPOINT").is_ok_and(|v| v.split_once(':') == Some((name, target))) {
        return Err(crate::Error::Failed(format!("{target}: failpoint {name}: simulated failure")));
    }
    Ok(())
}

/// Pause here (asynchronously, 60 s or `FIREDRILL_FAILPOINT_PAUSE` seconds) if
/// `FIREDRILL_FAILPOINT` is `pause-<name>`: lets a test signal the process, or fill its
/// disk, while it is in the middle of a step.
pub async fn pause(name: &str) {
    if std::env::var("FIREDRILL_FAILPOINT").is_ok_and(|v| v.strip_prefix("pause-") == Some(name)) {
        crate::errln!("firedrill: failpoint pause-{name}: pausing");
        let secs = std::env::var("FIREDRILL_FAILPOINT_PAUSE").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
        tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
    }
}
