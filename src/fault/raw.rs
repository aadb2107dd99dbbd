//! The fault file as written: every field the user typed, with its source position.
//! Nothing here is validated beyond YAML types; [`super::load`] does that.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A fault file. `P` is the params type: `IgnoredAny` on the first pass (to learn the
/// action), then the action's own params type on the second.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault<P> {
    /// Required in a fault file; a fault inline in a drill step may leave it out.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    pub action: Spanned<String>,
    pub target: Spanned<RawTarget>,
    #[serde(default)]
    pub params: Option<Spanned<P>>,
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    #[serde(default)]
    pub runbook: Option<Spanned<String>>,
    #[serde(default)]
    pub hints: Vec<String>,
}

/// A fault file's `target:` as written, with positions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
    #[serde(default)]
    pub percent: Option<Spanned<u32>>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub zone: Option<Spanned<String>>,
    #[serde(default, rename = "type")]
    pub record_type: Option<Spanned<String>>,
    #[serde(default)]
    pub set_identifier: Option<Spanned<String>>,
    #[serde(default)]
    pub via: Option<Spanned<crate::target::Via>>,
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    #[serde(default)]
    pub vpc: Option<Spanned<String>>,
}
