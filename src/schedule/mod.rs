//! Scheduled drills: game days nobody has to start.
//!
//! A schedule file lists schedules, each firing a drill or a single fault either at the
//! slots of a cron expression ([`cron`]) or at a random time inside weekday windows
//! ([`window`]), never inside a blackout, never closer together than
//! `min_time_between`, and only on resources carrying the file's `opt_in_tag`.
//!
//! - [`parse`]: the file, validated with every problem located (`path:line:col`).
//! - [`state`]: per schedule in the state store, the last tick and the last slot fired,
//!   a journal of every decision, and the lock two schedulers take turns on.
//! - [`scheduler`]: what is due at an instant and whether it fires (the logic, driven
//!   by a [`clock::Clock`] so tests run days of schedule in milliseconds), the
//!   long-running loop and the one-shot tick.
//! - [`fire`]: firing through the executor (snapshot, inject, revert when the fault's
//!   duration is up) or the drill runner, after the safety checks.

pub mod clock;
pub mod cron;
pub mod fire;
pub mod parse;
pub(crate) mod raw;
pub mod scheduler;
pub mod state;
pub mod window;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use parse::{load, parse};

use crate::drill::Drill;
use crate::fault::FaultSpec;

/// A validated schedule file.
#[derive(Debug)]
pub struct ScheduleFile {
    pub path: PathBuf,
    pub schedules: Vec<Schedule>,
    pub blackouts: Vec<Blackout>,
    /// Scheduled faults only touch resources carrying every one of these tags.
    pub opt_in_tag: BTreeMap<String, String>,
}

/// One schedule: what it fires (a fault or a drill), when, and where it may not.
#[derive(Debug)]
pub struct Schedule {
    pub name: String,
    pub what: What,
    pub trigger: Trigger,
    /// The zone the trigger (and blackouts without their own) are read in.
    pub tz: TimeZone,
    pub tz_name: String,
    pub min_between: Option<SignedDuration>,
    /// From the schedule or the file; else one is made and kept in the state store.
    pub seed: Option<u64>,
}

/// What a schedule fires.
#[derive(Debug)]
pub enum What {
    /// A fault, broken for `duration`, then reverted.
    Fault { spec: Box<FaultSpec>, duration: Duration },
    /// A drill (which reverts everything by its `end`).
    Drill(Box<Drill>),
}

impl What {
    /// `fault` or `drill`.
    pub fn kind(&self) -> &'static str {
        match self {
            What::Fault { .. } => "fault",
            What::Drill(_) => "drill",
        }
    }

    /// The file it fires, as written.
    pub fn source(&self) -> String {
        match self {
            What::Fault { spec, .. } => spec.source.display().to_string(),
            What::Drill(d) => d.path.display().to_string(),
        }
    }
}

/// When a schedule fires.
#[derive(Debug)]
pub enum Trigger {
    Cron(cron::Cron),
    Window(window::Window),
}

/// One slot of a schedule. For a cron, the slot and the fire time are the same instant;
/// for a window, the slot is the window's start and `at` is the random time drawn in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub slot: Timestamp,
    pub at: Timestamp,
    /// False for a window the draw passed over.
    pub fires: bool,
    /// When a window closes: a slot is never fired after its window.
    pub closes: Option<Timestamp>,
}

/// At most this many slots are looked at in one span (a `* * * * *` over a week).
const MAX_SLOTS: usize = 20_000;

impl Schedule {
    /// The chance that a slot fires.
    pub fn probability(&self) -> f64 {
        match &self.trigger {
            Trigger::Cron(_) => 1.0,
            Trigger::Window(w) => w.probability(),
        }
    }

    /// Every slot whose time (the drawn time, or a passed-over window's start) is in
    /// `(after, upto]`, in order.
    pub fn between(&self, seed: u64, after: Timestamp, upto: Timestamp) -> Vec<Occurrence> {
        match &self.trigger {
            Trigger::Cron(c) => c
                .after(after, &self.tz)
                .take_while(|t| *t <= upto)
                .take(MAX_SLOTS)
                .map(|t| Occurrence { slot: t, at: t, fires: true, closes: None })
                .collect(),
            Trigger::Window(w) => w
                .between(seed, after, upto)
                .into_iter()
                .map(|d| Occurrence {
                    slot: d.start,
                    at: if d.fires { d.at } else { d.start },
                    fires: d.fires,
                    closes: Some(d.end),
                })
                .collect(),
        }
    }

    /// The first slot that fires after `after`.
    pub fn next_fire(&self, seed: u64, after: Timestamp) -> Option<Occurrence> {
        match &self.trigger {
            Trigger::Cron(c) => {
                c.next_after(after, &self.tz).map(|t| Occurrence { slot: t, at: t, fires: true, closes: None })
            }
            Trigger::Window(w) => w.next_fire(seed, after).map(|d| Occurrence {
                slot: d.start,
                at: d.at,
                fires: true,
                closes: Some(d.end),
            }),
        }
    }

    /// How the trigger reads, for `schedule check` and logs.
    pub fn describe(&self) -> String {
        match &self.trigger {
            Trigger::Cron(c) => format!("cron `{c}` ({})", self.tz_name),
            Trigger::Window(w) => {
                let days: Vec<&str> = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| w.days & (1 << i) != 0)
                    .map(|(_, d)| *d)
                    .collect();
                let mean = w.mean_between.map(|m| format!(", mean {} between fires", human(m))).unwrap_or_default();
                format!(
                    "random, once at most per window {} {}-{} ({}), p={:.2}{mean}",
                    days.join(","),
                    w.from.strftime("%H:%M"),
                    w.to.strftime("%H:%M"),
                    self.tz_name,
                    w.probability()
                )
            }
        }
    }
}

/// No schedule fires from `from` until `until` (exclusive), wall-clock time in `tz`, or
/// in each schedule's own zone.
#[derive(Debug)]
pub struct Blackout {
    pub from: DateTime,
    pub until: DateTime,
    pub tz: Option<TimeZone>,
    pub reason: String,
    /// As written, for messages: `2026-12-20 to 2027-01-04`.
    pub text: String,
}

impl Blackout {
    /// Whether this blackout covers time `t`.
    pub fn covers(&self, t: Timestamp, schedule_tz: &TimeZone) -> bool {
        let local = t.to_zoned(self.tz.clone().unwrap_or_else(|| schedule_tz.clone())).datetime();
        local >= self.from && local < self.until
    }

    /// The blackout in words.
    pub fn describe(&self) -> String {
        if self.reason.is_empty() {
            format!("blackout {}", self.text)
        } else {
            format!("blackout {} ({})", self.text, self.reason)
        }
    }
}

impl ScheduleFile {
    /// The blackout covering `t` for schedule `s`, if any.
    pub fn blackout(&self, s: &Schedule, t: Timestamp) -> Option<&Blackout> {
        self.blackouts.iter().find(|b| b.covers(t, &s.tz))
    }
}

/// `2d`, `1d12h`, `90m`, as a readable string.
pub fn human(d: SignedDuration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    for (v, unit) in [(days, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if v > 0 {
            out += &format!("{v}{unit}");
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests;
