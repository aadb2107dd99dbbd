//! The run's journal: one JSON event per line, appended and fsync'd before the step it
//! records is relied on. The run's state is a fold of it ([`super::RunRecord`]).
//! A torn last line (a crash mid-write) is ignored when reading; the next append ends it
//! and says so, so it is never glued to a new event nor mistaken for damage later.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::backend::Log;
use crate::Result;
use crate::aws::access::Access;
use crate::fault::FaultSpec;
use crate::target::Target;

/// One line of a run's journal: what happened to the run, a fault or a target, and when.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// First event of every run: everything revert needs besides the snapshots.
    RunStarted {
        at: String,
        run_id: String,
        /// Who ran it (`user@host`) and the command line.
        #[serde(default)]
        by: String,
        #[serde(default)]
        command: String,
        firedrill_version: String,
        account: String,
        region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// How the credentials were obtained, to reach the account again (never a secret).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access: Option<Access>,
        faults: Vec<FaultSpec>,
        /// The seed each fault's random pick used, so the pick can be repeated.
        seeds: Vec<u64>,
        /// The drill this run is one team's part of (`firedrill run`), and the team.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drill: Option<DrillLink>,
        /// The schedule that fired this run (`firedrill schedule`), and when it expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<ScheduleLink>,
    },
    /// A fault joined the run after it started (a drill's later step). Its index is the
    /// number of faults before it.
    FaultAdded {
        at: String,
        fault: usize,
        spec: FaultSpec,
        seed: u64,
    },
    /// A snapshot file (or a post-break file) is durable, with the SHA-256 of what was
    /// written: what is read back later is checked against it.
    Snapshot {
        at: String,
        fault: usize,
        file: String,
        sha256: String,
    },
    /// The target's snapshot is durable; nothing has changed yet.
    Planned {
        at: String,
        fault: usize,
        target: Target,
        snapshot: String,
        changes: Vec<String>,
        /// The SHA-256 of the planned change as the snapshot holds it (compact JSON).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change_sha256: Option<String>,
    },
    /// About to tag the fault's targets as held by this run (see `aws::holds`): revert
    /// removes the tags once every target is settled.
    Held {
        at: String,
        fault: usize,
    },
    /// The fault's hold tags were removed.
    Released {
        at: String,
        fault: usize,
    },
    /// About to make the change (it may be partly made if no later event follows).
    Injecting {
        at: String,
        fault: usize,
        target: String,
    },
    /// A one-shot change (a reboot) was made and observed; there is nothing to revert.
    Done {
        at: String,
        fault: usize,
        target: String,
    },
    Injected {
        at: String,
        fault: usize,
        target: String,
        /// The target's state right after the change (relative path), to tell later
        /// whether it is still broken or the team changed it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// The target was found equal to its snapshot without firedrill: the team fixed it
    /// (or, for a target marked `injecting` by a run that crashed, its change never came).
    Restored {
        at: String,
        fault: usize,
        target: String,
    },
    /// Revert found the target changed since the fault (equal to neither the snapshot nor
    /// the post-break state) and left it alone; `revert --force` overrides.
    Drifted {
        at: String,
        fault: usize,
        target: String,
        differences: Vec<String>,
    },
    /// What `status` saw of a target (kept to know when the team first restored it).
    Observed {
        at: String,
        fault: usize,
        target: String,
        live: String,
    },
    /// The target no longer exists.
    Gone {
        at: String,
        fault: usize,
        target: String,
    },
    /// A person chose to leave the target as it is (`revert --abandon`).
    Abandoned {
        at: String,
        fault: usize,
        target: String,
        by: String,
    },
    InjectFailed {
        at: String,
        fault: usize,
        target: String,
        error: String,
    },
    /// A command that changes the run (revert, abandon) started.
    Command {
        at: String,
        by: String,
        command: String,
    },
    /// This process took over the run's lock from `from`, whose lease had run out (an
    /// S3 store: a holder that died, or lost its connection, on another machine).
    LockTakenOver {
        at: String,
        by: String,
        from: String,
    },
    /// The fault created a resource (recorded before it is relied on).
    Created {
        at: String,
        fault: usize,
        kind: String,
        id: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        scope: String,
    },
    Deleted {
        at: String,
        fault: usize,
        kind: String,
        id: String,
    },
    Reverting {
        at: String,
        fault: usize,
        target: String,
    },
    Reverted {
        at: String,
        fault: usize,
        target: String,
    },
    /// The target cannot be restored (the note says why, and where its preserved state is).
    Irreversible {
        at: String,
        fault: usize,
        target: String,
        note: String,
    },
    RevertFailed {
        at: String,
        fault: usize,
        target: String,
        error: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        differences: Vec<String>,
    },
}

/// Which drill and team a run belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct DrillLink {
    pub drill_id: String,
    pub team: String,
}

/// Which schedule fired a run, for which slot, and when the run's fault duration is up
/// (`firedrill schedule tick` reverts it then, whichever process runs the tick).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ScheduleLink {
    pub name: String,
    pub slot: String,
    pub expires_at: String,
}

/// A later command that changes the run (a revert, an abandon): who ran what, when.
pub fn who() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = hostname();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

/// This machine's name (empty if unknown).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// The command line, for the journal.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The time now, as the journal writes it (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// What [`Journal::read_all`] found.
pub struct Read<E = Event> {
    pub events: Vec<E>,
    /// Some line other than a torn last one could not be read.
    pub damaged: bool,
    /// What was skipped and why, one line each (`path:line: ...`), for the command to show.
    pub warnings: Vec<String>,
}

/// The line an appender writes after a torn last line (a crash mid-write) it found, so a
/// reader knows that line was torn, not damaged: the write it began never returned, so
/// nothing it recorded was relied on. Not an event; readers skip it.
pub(super) const TORN: &str = r#"{"journal":"the line above was torn by a crash and is ignored"}"#;

/// An append-only journal in the store (a local file, or objects on S3; see
/// [`super::backend::Log`]): every append durable before it returns.
pub struct Journal {
    location: PathBuf,
    log: Box<dyn Log>,
    /// Set when the lock this journal is written under was lost (see
    /// [`super::backend::Held::lost`]): nothing more is appended.
    fence: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Journal {
    /// The journal `log` at `location` (for messages).
    pub(super) fn new(location: PathBuf, log: Box<dyn Log>) -> Journal {
        Journal { location, log, fence: None }
    }

    /// This journal, written only while `lock` is held.
    pub(super) fn fenced_by(mut self, lock: &dyn super::backend::Held) -> Journal {
        self.fence = lock.lost();
        self
    }

    /// Where the journal is.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Append one event and fsync before returning. Failpoints `before-<event>` and
    /// `after-<event>` (e.g. `before-injected`) surround the write. `E` is a run's
    /// [`Event`] or a drill's event: any type serialized with an `event` tag.
    pub fn append<E: Serialize>(&self, event: &E) -> Result<()> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Append several events with one write and one fsync (a fleet's targets would
    /// otherwise cost an fsync each; on S3, an object each). The failpoints of each kind
    /// of event in the batch surround the write, as for [`Journal::append`].
    pub fn append_all<E: Serialize>(&self, events: &[E]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (lines, names) = lines(events);
        for name in &names {
            crate::failpoint::hit(&format!("before-{name}"));
        }
        if self.fence.as_ref().is_some_and(|lost| lost.load(std::sync::atomic::Ordering::SeqCst)) {
            return Err(crate::Error::Refused(format!(
                "{}: this process no longer holds the run's lock (its lease ran out and another process took it over); nothing more is written from here: see `firedrill show`",
                self.location.display()
            )));
        }
        self.log.append(&lines)?;
        for name in &names {
            crate::failpoint::hit(&format!("after-{name}"));
        }
        Ok(())
    }

    /// `first` as the bytes a new journal starts with, with its failpoints' names.
    pub(super) fn first<E: Serialize>(first: &E) -> (Vec<u8>, Vec<String>) {
        lines(std::slice::from_ref(first))
    }

    /// Every event of a journal's text (from `location`); whether it is damaged, and
    /// warnings for lines it skipped. A torn last line (a crash mid-write) recorded
    /// nothing durable and is skipped quietly; any other unreadable line is skipped and
    /// reported as a warning.
    pub fn parse<E: DeserializeOwned>(location: &Path, bytes: &[u8]) -> Read<E> {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
        let mut read = Read { events: Vec::with_capacity(lines.len()), damaged: false, warnings: Vec::new() };
        for (k, (i, line)) in lines.iter().enumerate() {
            if *line == TORN {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(e) => read.events.push(e),
                Err(_) if k + 1 == lines.len() && !text.ends_with('\n') => {
                    tracing::debug!("ignoring a torn last line in {}", location.display());
                }
                Err(_) if lines.get(k + 1).is_some_and(|(_, next)| *next == TORN) => {
                    tracing::debug!("ignoring line {} of {}: torn by a crash", i + 1, location.display());
                }
                Err(e) => {
                    read.warnings.push(format!(
                        "{}:{}: unreadable journal line skipped ({e})",
                        location.display(),
                        i + 1
                    ));
                    read.damaged = true;
                }
            }
        }
        read
    }
}

/// `events` as JSON lines, and the names of their kinds (for the failpoints).
fn lines<E: Serialize>(events: &[E]) -> (Vec<u8>, Vec<String>) {
    let mut lines = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for event in events {
        let value = serde_json::to_value(event).expect("events serialize");
        let name = value["event"].as_str().unwrap_or("event");
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        serde_json::to_writer(&mut lines, &value).expect("events serialize");
        lines.push(b'\n');
    }
    (lines, names)
}
