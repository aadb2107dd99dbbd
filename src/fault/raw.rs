//! The fault file as written: every field the user typed, with its source position.
//! Nothing here is validated beyond YAML types; [`super::load`] does that.

use std::collections::BTreeMap;

use crate::yaml::Spanned;
use serde::Deserialize;

/// A fault file. `P` is the params type: `IgnoredAny` on the first pass (to learn the
/// action), then the action's own params type on the second.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault<P> {
    /// Required in a fault file; a fault inline in a drill step may leave it out.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// What the fault does to the team, in a sentence.
    #[serde(default)]
    pub description: Option<String>,
    /// The catalogue action (`firedrill actions`).
    pub action: Spanned<String>,
    /// What to break: by ids, names or tags, narrowed by count or percent.
    pub target: Spanned<RawTarget>,
    /// The action's params.
    #[serde(default)]
    pub params: Option<Spanned<P>>,
    /// How long the fault stays before firedrill reverts it (`90s`, `15m`); left out, until `revert`.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    /// The runbook teams follow to find and fix it (a path or a URL).
    #[serde(default)]
    pub runbook: Option<Spanned<String>>,
    /// Hints for the team, in order.
    #[serde(default)]
    pub hints: Vec<String>,
}

/// A fault file's `target:` as written, with positions.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Resources by id (sg-…, i-…, a role name, a record name).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Resources by name (the `Name` tag, or the resource's own name).
    #[serde(default)]
    pub names: Vec<String>,
    /// Resources carrying every one of these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Break this many of the matches, picked at random (with `seed`, repeatably).
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
    /// Break this percentage of the matches (1–100), rounded up.
    #[serde(default)]
    pub percent: Option<Spanned<u32>>,
    /// Seed for the random pick, so a plan can be repeated.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Route 53: the hosted zone, by name (`example.com`) or id.
    #[serde(default)]
    pub zone: Option<Spanned<String>>,
    /// Route 53: the record type (`A`, `CNAME`, …).
    #[serde(default, rename = "type")]
    pub record_type: Option<Spanned<String>>,
    /// Route 53: the set identifier of a weighted, failover or latency record.
    #[serde(default)]
    pub set_identifier: Option<Spanned<String>>,
    /// IAM roles: select instances instead, and take their instance profiles' roles.
    #[serde(default)]
    pub via: Option<Spanned<crate::target::Via>>,
    /// Listeners: only those on this port.
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    /// Only resources in this VPC.
    #[serde(default)]
    pub vpc: Option<Spanned<String>>,
}
