//! The kill switch: revert every open run of the store at once, changed targets too.
//!
//! - Each run is reverted in its own account and region, through the credentials it
//!   recorded (a drill team's role, a profile: see [`crate::aws::access`]), whatever the
//!   command line's credentials are; a run whose account cannot be reached is reported
//!   and left open, never called restored.
//! - A run held by a firedrill process on this machine (an inject or a drill in progress)
//!   is stopped first: the process is sent SIGTERM, which makes it roll back or revert
//!   what it broke, and abort waits for its lock, then reverts whatever is left.
//! - Runs that share a target (stacked with `--stack`) are reverted newest first, each
//!   from its own snapshot, so the oldest snapshot is the one left in place.
//! - A damaged run directory is named, and the others are aborted anyway.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::holds;
use super::revert::{RevertOptions, revert};
use crate::aws::AwsArgs;
use crate::aws::access::reach;
use crate::store::{Holder, RunRecord, Store};
use crate::{Error, Result};

/// What abort did, run by run.
pub struct Aborted {
    /// Each open run and how its revert ended, newest first.
    pub runs: Vec<(String, Result<RunRecord>)>,
    /// Run directories that could not be read: `(id, why)`.
    pub damaged: Vec<(String, String)>,
    /// The firedrill processes told to stop first, as `pid (run ...)`.
    pub stopped: Vec<String>,
}

/// Abort every open run of `store`, acting with `args` as the base credentials. Waits up
/// to `wait` for a running firedrill process to let go of a run after it was told to stop.
pub async fn abort(args: &AwsArgs, store: &Store, wait: Duration) -> Result<Aborted> {
    let (runs, damaged) = store.runs()?;
    let mut open: Vec<RunRecord> = runs.into_iter().filter(RunRecord::needs_revert).collect();
    let mut out = Aborted { runs: Vec::new(), damaged, stopped: Vec::new() };

    // 1. Runs another firedrill process holds: tell it to stop, wait for its lock.
    let mut held = Vec::new();
    let mut signalled = BTreeSet::new();
    let mut stopped = Vec::new();
    for rec in &open {
        if let Some(holder) = store.holder(&rec.run_id)? {
            if signalled.insert(holder.pid) {
                match stop_holder(&holder) {
                    Ok(()) => {
                        stopped.push(holder.pid);
                        out.stopped.push(format!("{holder} (run {})", rec.run_id));
                    }
                    Err(why) => {
                        out.runs.push((
                            rec.run_id.clone(),
                            Err(Error::Locked { run: rec.run_id.clone(), holder: format!(" ({holder}; {why})") }),
                        ));
                        continue;
                    }
                }
            }
            held.push(rec.run_id.clone());
        }
    }
    let deadline = Instant::now() + wait;
    for id in &held {
        while store.holder(id)?.is_some() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // And for the processes themselves: one rolling back may let go of a run's lock and
    // take it again (its rollback reopens the run), so a free lock alone proves nothing.
    for pid in &stopped {
        while running(*pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Re-read what the stopped processes left (they revert on SIGTERM).
    let refused: BTreeSet<String> = out.runs.iter().map(|(id, _)| id.clone()).collect();
    open = open
        .into_iter()
        .filter(|r| !refused.contains(&r.run_id))
        .map(|r| if held.contains(&r.run_id) { store.read(&r.run_id).unwrap_or(r) } else { r })
        .collect();

    // 2. Newest first where runs share a target; side by side otherwise.
    let opts = RevertOptions { force: true, ..RevertOptions::default() };
    let mut share = None;
    for wave in holds::newest_first_waves(&open) {
        let reverts = wave.iter().map(|rec| {
            let (opts, share) = (&opts, share.clone());
            async move {
                if !rec.needs_revert() {
                    // Its process reverted it when told to stop.
                    return (rec.run_id.clone(), Ok((rec.clone(), None)));
                }
                let reached = match reach(args, rec.place(), share.as_ref()).await {
                    Ok(aws) => aws,
                    Err(e) => return (rec.run_id.clone(), Err(e)),
                };
                let result = revert(&reached, store, &rec.run_id, opts).await.map(|r| (r, Some(reached)));
                (rec.run_id.clone(), result)
            }
        });
        for (id, result) in futures_util::future::join_all(reverts).await {
            let result = result.map(|(rec, reached)| {
                share = share.take().or(reached);
                rec
            });
            out.runs.push((id, result));
        }
    }
    out.runs.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(out)
}

/// Whether process `pid` of this machine is still running (not gone, not a zombie).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (name) S ...`: the state follows the last `)`.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

/// Send SIGTERM to the firedrill process that holds a lock, if it is one of this
/// machine's: it then rolls back (an inject) or reverts (a drill) what it broke.
fn stop_holder(holder: &Holder) -> std::result::Result<(), String> {
    let here = crate::store::journal::hostname();
    if !holder.host.is_empty() && holder.host != here {
        return Err(format!("a process on {}, not this machine: stop it there, then abort again", holder.host));
    }
    let pid = holder.pid;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = std::path::Path::new(std::str::from_utf8(argv0).unwrap_or_default())
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if pid == 0 || !name.contains("firedrill") {
        return Err("not a firedrill process that abort can stop: stop it, then abort again".into());
    }
    let pid = i32::try_from(pid).map_err(|_| "not a process id".to_owned())?;
    // SAFETY: kill has no memory-safety preconditions; a stale pid fails with ESRCH.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(format!("could not signal it: {}", std::io::Error::last_os_error()));
    }
    tracing::info!(pid, "told the firedrill process holding a run to stop (SIGTERM)");
    Ok(())
}
