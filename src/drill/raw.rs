//! The drill file as written, every value with its position. [`super::load`] validates it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub teams: Spanned<Vec<Spanned<RawTeam>>>,
    #[serde(default)]
    pub probes: BTreeMap<String, Spanned<RawProbe>>,
    #[serde(default)]
    pub steady_state: Vec<Spanned<String>>,
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
    #[serde(default)]
    pub stop_when: Vec<Spanned<RawStop>>,
    /// `45m`, or `{ at: 45m, reset: exact }`.
    #[serde(default)]
    pub end: Option<Spanned<RawEnd>>,
    /// How often firedrill looks at every team's faults (default 5s).
    #[serde(default)]
    pub poll: Option<Spanned<String>>,
    #[serde(default)]
    pub scoring: Option<Spanned<RawScoring>>,
    /// Where runbook links point when they are not files beside the drill (a wiki).
    #[serde(default)]
    pub runbook_base_url: Option<Spanned<String>>,
}

/// `end:`: when the drill ends, and what it leaves.
#[derive(Debug, Default)]
pub struct RawEnd {
    pub at: Option<Spanned<String>>,
    pub reset: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(default)]
            at: Option<Spanned<String>>,
            #[serde(default)]
            reset: Option<Spanned<String>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            At(Spanned<String>),
            Full(Full),
        }
        Ok(match Either::deserialize(d)? {
            Either::At(at) => RawEnd { at: Some(at), reset: None },
            Either::Full(f) => RawEnd { at: f.at, reset: f.reset },
        })
    }
}

/// `scoring:`: what a fix that is not exact, a regression and a hint cost.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScoring {
    #[serde(default)]
    pub changed: Option<Spanned<f64>>,
    #[serde(default)]
    pub regression: Option<Spanned<f64>>,
    #[serde(default)]
    pub hint: Option<Spanned<u32>>,
}

/// One entry of a step's `detect:`: what should notice the break.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetect {
    #[serde(default)]
    pub alarm: Option<Spanned<String>>,
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    pub name: Spanned<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub role_arn: Option<Spanned<String>>,
    #[serde(default)]
    pub external_id: Option<Spanned<String>>,
    #[serde(default)]
    pub session_name: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub scope: BTreeMap<String, String>,
    /// Values for `{{team.vars.NAME}}` in probes.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// A probe: exactly one kind, and how often to run it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    #[serde(default)]
    pub http: Option<Spanned<RawHttp>>,
    #[serde(default)]
    pub tcp: Option<Spanned<RawTcp>>,
    #[serde(default, rename = "elbv2-healthy")]
    pub elbv2_healthy: Option<Spanned<RawTargetHealth>>,
    #[serde(default)]
    pub dns: Option<Spanned<RawDns>>,
    #[serde(default)]
    pub alarm: Option<Spanned<RawAlarm>>,
    #[serde(default)]
    pub restored: Option<Spanned<RawRestored>>,
    #[serde(default)]
    pub every: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub url: Spanned<String>,
    #[serde(default)]
    pub status: Option<u16>,
    /// A regular expression the body must match.
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    pub host: Spanned<String>,
    pub port: u16,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargetHealth {
    /// Name or ARN.
    pub target_group: Spanned<String>,
    #[serde(default)]
    pub min: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub zone: Spanned<String>,
    pub name: Spanned<String>,
    #[serde(default, rename = "type")]
    pub record_type: Option<String>,
    #[serde(default)]
    pub equals: Option<Spanned<String>>,
    #[serde(default)]
    pub not_equals: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlarm {
    pub name: Spanned<String>,
    /// The state that counts as passing (default OK).
    #[serde(default)]
    pub state: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestored {
    pub step: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    pub fault: Spanned<RawFaultRef>,
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    #[serde(default)]
    pub hints: Vec<Spanned<RawHint>>,
    /// Probes that must pass, besides the fault being fixed, for the step to count as
    /// recovered.
    #[serde(default)]
    pub probes: Vec<Spanned<String>>,
    /// What should notice the break: alarms in ALARM, probes failing.
    #[serde(default)]
    pub detect: Vec<Spanned<RawDetect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHint {
    pub after: Spanned<String>,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
    #[serde(default)]
    pub failing_for: Option<Spanned<String>>,
    #[serde(default)]
    pub alarm: Option<Spanned<String>>,
}

/// A step's fault: a path to a fault file, or the fault written inline. The inline
/// mapping is parsed again from its source text by the fault loader, so its errors
/// point into the drill file.
#[derive(Debug)]
pub enum RawFaultRef {
    Path(String),
    Inline,
}

impl<'de> Deserialize<'de> for RawFaultRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawFaultRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a fault file's path, or a fault (a mapping with `action` and `target`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawFaultRef, E> {
                Ok(RawFaultRef::Path(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawFaultRef, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawFaultRef::Inline)
            }
        }
        d.deserialize_any(V)
    }
}
