//! The schedule file as written, every value with its position. [`super::load`] validates it.

use std::collections::BTreeMap;

use crate::yaml::Spanned;
use serde::Deserialize;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// What runs when.
    pub schedules: Spanned<Vec<Spanned<RawSchedule>>>,
    /// Times nothing may start.
    #[serde(default)]
    pub blackouts: Vec<Spanned<RawBlackout>>,
    /// A tag every target must carry for a schedule to break it.
    #[serde(default)]
    pub opt_in_tag: Option<Spanned<BTreeMap<String, String>>>,
    /// Seeds every random schedule that has no `seed` of its own.
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// The schedule's name, in logs and run records.
    pub name: Spanned<String>,
    /// A drill file to run (relative to this file).
    #[serde(default)]
    pub drill: Option<Spanned<String>>,
    /// A fault file to inject (relative to this file).
    #[serde(default)]
    pub fault: Option<Spanned<String>>,
    /// When: a cron expression (`0 10 * * MON-FRI`).
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    /// The time zone of `cron` and `window` (default UTC).
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    /// When: at random inside this window.
    #[serde(default)]
    pub window: Option<Spanned<RawWindow>>,
    /// Random schedules: the mean time between runs (`3d`).
    #[serde(default)]
    pub mean_time_between: Option<Spanned<String>>,
    /// Random schedules: the least time between runs.
    #[serde(default)]
    pub min_time_between: Option<Spanned<String>>,
    /// A fault's time broken, instead of the fault file's `duration`.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    /// Seed for the random times, so they can be repeated.
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// Days of the week (`MON`, `TUE`, …).
    pub days: Spanned<Vec<Spanned<String>>>,
    /// Start time of day (`10:00`).
    pub from: Spanned<String>,
    /// End time of day (`16:00`).
    pub to: Spanned<String>,
    /// The window's time zone.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBlackout {
    /// First day (`2026-12-20`) or date-time; included.
    pub from: Spanned<String>,
    /// Last day or date-time; included.
    pub to: Spanned<String>,
    /// Why, for the logs.
    #[serde(default)]
    pub reason: Option<String>,
    /// The time zone of `from` and `to`.
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}
