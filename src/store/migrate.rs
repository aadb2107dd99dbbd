//! `firedrill state migrate`: copy a store to another (a directory to S3, or back),
//! whole: runs, drills, schedules and sandbox manifests. The source is left as it was.
//!
//! Refused, writing nothing, while any run of the source is locked (a process is
//! changing it: a copy would miss what it writes next), and when the destination holds
//! anything already. Files are copied before logs, so a copy cut short leaves runs
//! without a journal (not runs at all, see [`super::Store::entries`]) rather than
//! journals that name snapshots the copy lacks; every snapshot keeps the SHA-256 its
//! run's journal recorded, which the destination checks when it reads it.

use serde::Serialize;

use super::Store;
use super::backend::Stored;
use crate::{Error, Result};

/// What a migration copied.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Copied {
    pub from: String,
    pub to: String,
    pub runs: usize,
    pub files: usize,
    pub logs: usize,
}

/// Copy everything `from` holds into `to`, which must hold nothing yet.
pub fn migrate(from: &Store, to: &Store) -> Result<Copied> {
    if from.root() == to.root() {
        return Err(Error::Usage("--from and --to name the same store".into()));
    }
    for id in from.backend().list("runs")? {
        if super::check_id(&id).is_ok()
            && let Some(holder) = from.backend().holder(&format!("runs/{id}/lock"))?
        {
            return Err(Error::Locked { run: id, holder: format!(" ({holder}); migrate once it is done") });
        }
    }
    let there = to.backend().keys()?;
    if let Some(first) = there.first() {
        let key = match first {
            Stored::File(k) | Stored::Log(k) => k,
        };
        return Err(Error::Refused(format!(
            "{} is not empty (it holds {}); migrate into an empty store",
            to.root().display(),
            to.location(key).display()
        )));
    }
    let items = from.backend().keys()?;
    let mut copied =
        Copied { from: from.root().display().to_string(), to: to.root().display().to_string(), ..Copied::default() };
    let files: Vec<(String, Vec<u8>)> = items
        .iter()
        .filter_map(|s| match s {
            Stored::File(k) => Some(k),
            Stored::Log(_) => None,
        })
        .map(|k| Ok((k.clone(), from.backend().read(k)?.unwrap_or_default())))
        .collect::<Result<_>>()?;
    copied.files = files.len();
    to.backend().write_all(&files)?;
    for item in &items {
        let Stored::Log(key) = item else { continue };
        let text = from.backend().read_log(key)?.unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        to.backend().create_log(key, &text)?;
        copied.logs += 1;
        if key.starts_with("runs/") && key.ends_with("/journal") {
            copied.runs += 1;
        }
    }
    Ok(copied)
}
