//! `firedrill show [RUN]`: the run's timeline, from its journal.

use super::Global;
use crate::Result;
use crate::output::emit;
use crate::store::journal::Event;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id (default: the newest run with injected faults, else the newest run).
    pub run: Option<String>,
}

/// What `--output json` prints (its schema: `firedrill schema --command show`): the
/// run's journal, one event after another.
pub(super) type Output = Vec<Event>;

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = store.resolve_or_newest(args.run.as_deref())?;
    let events: Output = store.run_events(&id)?;
    let faults: Vec<String> = store.read(&id)?.faults.iter().map(|f| f.name.clone()).collect();
    emit(g.output, &events, |events| {
        let name = |i: &usize| faults.get(*i).cloned().unwrap_or_else(|| format!("#{i}"));
        let mut s = format!("run {id}\n");
        for e in events.iter() {
            let line = match e {
                Event::RunStarted { at, by, command, account, region, endpoint, drill, schedule, .. } => format!(
                    "{at}  started by {by}: {command}\n{:26}account {account}, region {region}{}{}{}",
                    "",
                    endpoint.as_ref().map(|e| format!(", endpoint {e}")).unwrap_or_default(),
                    drill.as_ref().map(|d| format!(", drill {} team {}", d.drill_id, d.team)).unwrap_or_default(),
                    schedule
                        .as_ref()
                        .map(|s| format!(", schedule {} slot {} (reverted at {})", s.name, s.slot, s.expires_at))
                        .unwrap_or_default()
                ),
                Event::FaultAdded { at, spec, .. } => {
                    format!("{at}  fault added  {} ({})", spec.name, spec.action.info().name)
                }
                Event::Command { at, by, command } => format!("{at}  {by}: {command}"),
                Event::LockTakenOver { at, by, from } => {
                    format!("{at}  {by} took over the run's lock from {from}")
                }
                Event::Snapshot { at, fault, file, sha256 } => {
                    format!("{at}  snapshot file  {} {file} (sha256 {})", name(fault), &sha256[..sha256.len().min(12)])
                }
                Event::Held { at, fault } => format!("{at}  holding the targets of {} (hold tags)", name(fault)),
                Event::Released { at, fault } => format!("{at}  released the targets of {}", name(fault)),
                Event::Planned { at, fault, target, changes, .. } => {
                    format!("{at}  snapshot  {} {}: {}", name(fault), target.id, changes.join("; "))
                }
                Event::Injecting { at, fault, target } => format!("{at}  injecting  {} {target}", name(fault)),
                Event::Injected { at, fault, target, .. } => format!("{at}  injected  {} {target}", name(fault)),
                Event::Done { at, fault, target } => format!("{at}  done (one-shot)  {} {target}", name(fault)),
                Event::InjectFailed { at, fault, target, error } => {
                    format!("{at}  inject failed  {} {target}: {error}", name(fault))
                }
                Event::Created { at, fault, kind, id, .. } => format!("{at}  created  {} {kind} {id}", name(fault)),
                Event::Deleted { at, fault, kind, id } => format!("{at}  deleted  {} {kind} {id}", name(fault)),
                Event::Reverting { at, fault, target } => format!("{at}  reverting  {} {target}", name(fault)),
                Event::Reverted { at, fault, target } => format!("{at}  reverted  {} {target}", name(fault)),
                Event::RevertFailed { at, fault, target, error, .. } => {
                    format!("{at}  revert failed  {} {target}: {error}", name(fault))
                }
                Event::Irreversible { at, fault, target, note } => {
                    format!("{at}  irreversible  {} {target}: {note}", name(fault))
                }
                Event::Restored { at, fault, target } => {
                    format!("{at}  restored by the team  {} {target}", name(fault))
                }
                Event::Observed { at, fault, target, live } => format!("{at}  seen {live}  {} {target}", name(fault)),
                Event::Drifted { at, fault, target, .. } => {
                    format!("{at}  changed since the fault, left alone  {} {target}", name(fault))
                }
                Event::Gone { at, fault, target } => format!("{at}  gone  {} {target}", name(fault)),
                Event::Abandoned { at, fault, target, by } => {
                    format!("{at}  abandoned by {by}  {} {target}", name(fault))
                }
            };
            s += &line;
            s += "\n";
        }
        s
    });
    Ok(())
}
