//! Crash points for tests: `FIREDRILL_FAILPOINT=<name>` aborts the process at the named
//! point, as a crash or `kill -9` would, so tests can prove that `revert` finishes any run
//! from what the store holds. Unset (always, outside tests) it costs one env lookup.

/// Abort the process here if `FIREDRILL_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("FIREDRILL_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("firedrill: failpoint {name}: aborting");
        std::process::abort();
    }
}
