//! Stopping part-way, safely. A signal during `revert` or `abort` must not kill the
//! process between an AWS call and its journal line: the first SIGINT or SIGTERM asks the
//! executor to stop ([`request`]); every change call already in flight finishes and is
//! journaled, no new one starts, and the targets not reached stay pending, so the run is
//! left exactly as revertible as before. The command then exits 130. A second signal
//! exits at once (the journal still lets `revert` finish).

use std::sync::OnceLock;

static REQUESTED: OnceLock<&'static str> = OnceLock::new();

/// Ask every change loop of this process to stop starting calls; `why` names the signal.
pub fn request(why: &'static str) {
    let _ = REQUESTED.set(why);
}

/// Whether a stop was asked for, and why (the signal's name).
pub fn requested() -> Option<&'static str> {
    REQUESTED.get().copied()
}

/// After a first signal was handled elsewhere (inject rolling back, a drill reverting):
/// the next SIGINT or SIGTERM exits the process with 130 at once.
pub fn exit_on_next_signal() {
    let Some((int, term)) = streams() else { return };
    tokio::spawn(exit_on_second(int, term));
}

/// Watch for SIGINT and SIGTERM for the rest of the process: the first asks the
/// executor to stop ([`request`]); the second exits the process with 130. `what` says
/// what is being finished, for the message.
pub fn on_signals(what: &'static str) {
    let Some((mut int, mut term)) = streams() else { return };
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        request(name);
        crate::errln!(
            "firedrill: {name}: finishing the {what} calls in flight and journaling them, then stopping (again to exit at once)"
        );
        exit_on_second(int, term).await;
    });
}

type Streams = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

fn streams() -> Option<Streams> {
    use tokio::signal::unix::{SignalKind, signal};
    Some((signal(SignalKind::interrupt()).ok()?, signal(SignalKind::terminate()).ok()?))
}

async fn exit_on_second(mut int: tokio::signal::unix::Signal, mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    crate::errln!("firedrill: second signal: exiting now; `firedrill revert` finishes from the journal");
    std::process::exit(130);
}
