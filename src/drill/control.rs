//! Requests to a running drill from its board: a team asking for its next hint, an
//! instructor's buttons (release a hint, extend or end a step, stop, abort). One JSON line
//! each in the store's `drills/<id>/controls` log, appended (fsync'd) by whichever process
//! serves the board, and read by the runner at every look. The runner checks each request
//! against the drill (a team and step it has, a step still running), journals it as a
//! [`super::journal::DrillEvent::Control`], and then what it did with it; a request it
//! cannot act on is journaled with why.

use serde::{Deserialize, Serialize};

use super::journal::DRILLS;
use crate::Result;
use crate::store::{Follow, Journal, Store};

/// One request to a running drill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Request {
    /// A team asks for the next hint of a step now (it costs what any hint costs).
    AskHint { at: String, team: String, step: String },
    /// The instructor releases a step's next hint to a team now.
    ReleaseHint { at: String, team: String, step: String },
    /// The instructor gives a step more time, for one team or (none named) every team.
    Extend {
        at: String,
        #[serde(default)]
        team: Option<String>,
        step: String,
        seconds: f64,
    },
    /// The instructor ends a step now: firedrill reverts it, as when its time runs out.
    EndStep {
        at: String,
        #[serde(default)]
        team: Option<String>,
        step: String,
    },
    /// The instructor stops the drill: everything it changed is reverted, as on Ctrl-C.
    Stop { at: String },
    /// The instructor aborts the drill: every target back exactly as its snapshot, the
    /// teams' own changes undone too.
    Abort { at: String },
}

impl Request {
    /// The action's name, as the board's API and the journal call it.
    pub fn action(&self) -> &'static str {
        match self {
            Request::AskHint { .. } => "ask-hint",
            Request::ReleaseHint { .. } => "release-hint",
            Request::Extend { .. } => "extend",
            Request::EndStep { .. } => "end-step",
            Request::Stop { .. } => "stop",
            Request::Abort { .. } => "abort",
        }
    }
}

/// The key of drill `id`'s requests in the store.
pub fn key(id: &str) -> String {
    format!("{DRILLS}/{id}/controls")
}

/// Append a request to drill `id`, durably. Several processes may (the board, the
/// command line): the log is shared.
pub fn send(store: &Store, id: &str, request: &Request) -> Result<()> {
    crate::store::check_id(id)?;
    store.open_log(&key(id), true)?.append(request)
}

/// Reads a drill's requests as they come: each one once, in order.
pub struct Inbox {
    store: Store,
    follow: Follow,
}

impl Inbox {
    /// The requests of drill `id` not yet taken.
    pub fn new(store: &Store, id: &str) -> Inbox {
        Inbox { store: store.clone(), follow: Follow::new(&key(id)) }
    }

    /// The requests appended since the last call. Lines that do not read as a request
    /// are skipped (the journal reader warns).
    pub fn take(&mut self) -> Result<Vec<Request>> {
        let lines = self.follow.lines(&self.store)?;
        Ok(Journal::parse::<Request>(&self.store.log_location(self.follow.key()), &lines.concat()).events)
    }
}
