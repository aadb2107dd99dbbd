//! The schedule file as written, every value with its position. [`super::load`] validates it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub schedules: Spanned<Vec<Spanned<RawSchedule>>>,
    #[serde(default)]
    pub blackouts: Vec<Spanned<RawBlackout>>,
    #[serde(default)]
    pub opt_in_tag: Option<Spanned<BTreeMap<String, String>>>,
    /// Seeds every random schedule that has no `seed` of its own.
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub name: Spanned<String>,
    #[serde(default)]
    pub drill: Option<Spanned<String>>,
    #[serde(default)]
    pub fault: Option<Spanned<String>>,
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub window: Option<Spanned<RawWindow>>,
    #[serde(default)]
    pub mean_time_between: Option<Spanned<String>>,
    #[serde(default)]
    pub min_time_between: Option<Spanned<String>>,
    /// A fault's time broken, instead of the fault file's `duration`.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub days: Spanned<Vec<Spanned<String>>>,
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlackout {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}
