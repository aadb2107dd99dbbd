//! The run's journal: one JSON event per line, appended and fsync'd before the step it
//! records is relied on. The run's state is a fold of it ([`super::RunRecord`]).
//! A torn last line (a crash mid-write) is ignored when reading.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fault::FaultSpec;
use crate::target::Target;
use crate::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// The target's snapshot is durable; nothing has changed yet.
    Planned {
        at: String,
        fault: usize,
        target: Target,
        snapshot: String,
        changes: Vec<String>,
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DrillLink {
    pub drill_id: String,
    pub team: String,
}

/// Which schedule fired a run, for which slot, and when the run's fault duration is up
/// (`firedrill schedule tick` reverts it then, whichever process runs the tick).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScheduleLink {
    pub name: String,
    pub slot: String,
    pub expires_at: String,
}

/// A later command that changes the run (a revert, an abandon): who ran what, when.
pub fn who() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

/// The command line, for the journal.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// What [`Journal::read_all`] found.
pub struct Read<E = Event> {
    pub events: Vec<E>,
    /// Some line other than a torn last one could not be read.
    pub damaged: bool,
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        let file =
            super::private_file().create(true).append(true).open(path).map_err(Error::store("open journal", path))?;
        Ok(Journal { path: path.to_owned(), file: Mutex::new(file) })
    }

    /// Append one event and fsync before returning. Failpoints `before-<event>` and
    /// `after-<event>` (e.g. `before-injected`) surround the write. `E` is a run's
    /// [`Event`] or a drill's event: any type serialized with an `event` tag.
    pub fn append<E: Serialize>(&self, event: &E) -> Result<()> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Append several events with one write and one fsync (a fleet's targets would
    /// otherwise cost an fsync each). The failpoints of each kind of event in the batch
    /// surround the write, as for [`Journal::append`].
    pub fn append_all<E: Serialize>(&self, events: &[E]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
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
        for name in &names {
            crate::failpoint::hit(&format!("before-{name}"));
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&lines).map_err(Error::store("append to journal", &self.path))?;
        file.sync_data().map_err(Error::store("fsync journal", &self.path))?;
        drop(file);
        for name in &names {
            crate::failpoint::hit(&format!("after-{name}"));
        }
        Ok(())
    }

    /// Every readable event. A torn last line (a crash mid-write) recorded nothing
    /// durable and is skipped quietly; any other unreadable line is reported on stderr
    /// and skipped, and the read says so ([`Read::damaged`]) so the caller can be careful.
    pub fn read<E: DeserializeOwned>(path: &Path) -> Result<Vec<E>> {
        Ok(Self::read_all(path)?.events)
    }

    pub fn read_all<E: DeserializeOwned>(path: &Path) -> Result<Read<E>> {
        let bytes = std::fs::read(path).map_err(Error::store("read journal", path))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
        let mut read = Read { events: Vec::with_capacity(lines.len()), damaged: false };
        let last = lines.last().map(|(i, _)| *i);
        for (i, line) in &lines {
            match serde_json::from_str(line) {
                Ok(e) => read.events.push(e),
                Err(_) if Some(*i) == last && !text.ends_with('\n') => {
                    tracing::debug!("ignoring a torn last line in {}", path.display());
                }
                Err(e) => {
                    eprintln!("warning: {}:{}: unreadable journal line skipped ({e})", path.display(), i + 1);
                    read.damaged = true;
                }
            }
        }
        Ok(read)
    }
}
