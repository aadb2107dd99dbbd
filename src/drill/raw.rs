//! The drill file as written, every value with its position. [`super::load`] validates it.

use std::collections::BTreeMap;

use crate::yaml::Spanned;
use serde::Deserialize;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    /// The drill's name, on the board and in the report.
    pub name: Spanned<String>,
    /// What the drill practises.
    #[serde(default)]
    pub description: Option<String>,
    /// The teams, each in its own account (or scope).
    pub teams: Spanned<Vec<Spanned<RawTeam>>>,
    /// Named checks of the service as its users see it.
    #[serde(default)]
    pub probes: BTreeMap<String, Spanned<RawProbe>>,
    /// Probes that must pass before the drill starts.
    #[serde(default)]
    pub steady_state: Vec<Spanned<String>>,
    /// The faults, on a timeline.
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
    /// Conditions that stop the drill and revert everything.
    #[serde(default)]
    pub stop_when: Vec<Spanned<RawStop>>,
    /// `45m`, or `{ at: 45m, reset: exact }`.
    #[serde(default)]
    pub end: Option<Spanned<RawEnd>>,
    /// How often firedrill looks at every team's faults (default 5s).
    #[serde(default)]
    pub poll: Option<Spanned<String>>,
    /// What a fix that is not exact, a regression and a hint cost.
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

impl schemars::JsonSchema for RawEnd {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "End".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "When the drill ends (`45m` after it starts), or `{ at: 45m, reset: keep | exact }`: `keep` (the default) leaves the teams' fixes and reverts what nobody fixed; `exact` puts every target back as its snapshot.",
            "anyOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "properties": {
                        "at": { "type": "string" },
                        "reset": { "enum": ["keep", "exact"] }
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScoring {
    /// The share of a step's points kept when the fix works but differs from the snapshot (default 0.7).
    #[serde(default)]
    pub changed: Option<Spanned<f64>>,
    /// The share kept when the fix opens up what was closed, a security regression (default 0.4).
    #[serde(default)]
    pub regression: Option<Spanned<f64>>,
    /// Points a hint costs (default 10).
    #[serde(default)]
    pub hint: Option<Spanned<u32>>,
}

/// One entry of a step's `detect:`: what should notice the break.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDetect {
    /// A CloudWatch alarm that should go to ALARM.
    #[serde(default)]
    pub alarm: Option<Spanned<String>>,
    /// A probe that should fail.
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    /// The team's name, on the board.
    pub name: Spanned<String>,
    /// The AWS profile to use for this team.
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume in the team's account.
    #[serde(default)]
    pub role_arn: Option<Spanned<String>>,
    /// The external id the role's trust policy asks for.
    #[serde(default)]
    pub external_id: Option<Spanned<String>>,
    /// The assumed role's session name.
    #[serde(default)]
    pub session_name: Option<String>,
    /// The team's region.
    #[serde(default)]
    pub region: Option<String>,
    /// An AWS endpoint URL (an emulator).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Tags that narrow every target to this team's resources.
    #[serde(default)]
    pub scope: BTreeMap<String, String>,
    /// Values for `{{team.vars.NAME}}` in probes.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// A probe: exactly one kind, and how often to run it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// An HTTP request that must answer as expected.
    #[serde(default)]
    pub http: Option<Spanned<RawHttp>>,
    /// A TCP connection that must open.
    #[serde(default)]
    pub tcp: Option<Spanned<RawTcp>>,
    /// A target group with at least `min` healthy targets.
    #[serde(default, rename = "elbv2-healthy")]
    pub elbv2_healthy: Option<Spanned<RawTargetHealth>>,
    /// An ECS service with at least `min` running tasks.
    #[serde(default, rename = "ecs-running")]
    pub ecs_running: Option<Spanned<RawEcsRunning>>,
    /// A Lambda function that can be invoked: active, its last update not failed, and
    /// not throttled to 0 by its reserved concurrency.
    #[serde(default, rename = "lambda-invocable")]
    pub lambda_invocable: Option<Spanned<RawLambdaInvocable>>,
    /// A record that must (or must not) have a value.
    #[serde(default)]
    pub dns: Option<Spanned<RawDns>>,
    /// A CloudWatch alarm in a state.
    #[serde(default)]
    pub alarm: Option<Spanned<RawAlarm>>,
    /// Passes once a step's fault is fixed.
    #[serde(default)]
    pub restored: Option<Spanned<RawRestored>>,
    /// How often to run it (`10s`).
    #[serde(default)]
    pub every: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// The URL (templates such as `{{team.vars.url}}` allowed).
    pub url: Spanned<String>,
    /// The expected status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// A regular expression the body must match.
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    /// How long to wait (`5s`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    /// Host name or address.
    pub host: Spanned<String>,
    /// Port.
    pub port: u16,
    /// How long to wait (`5s`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEcsRunning {
    /// The service: name (searched in every cluster) or ARN.
    pub service: Spanned<String>,
    /// The fewest running tasks that pass (default 1).
    #[serde(default)]
    pub min: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLambdaInvocable {
    /// The function's name or ARN.
    pub function: Spanned<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTargetHealth {
    /// Name or ARN.
    pub target_group: Spanned<String>,
    /// The fewest healthy targets that pass (default 1).
    #[serde(default)]
    pub min: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// The hosted zone, by name or id.
    pub zone: Spanned<String>,
    /// The record name.
    pub name: Spanned<String>,
    /// The record type (default A).
    #[serde(default, rename = "type")]
    pub record_type: Option<String>,
    /// The value the record must have.
    #[serde(default)]
    pub equals: Option<Spanned<String>>,
    /// A value the record must not have.
    #[serde(default)]
    pub not_equals: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAlarm {
    /// The alarm's name.
    pub name: Spanned<String>,
    /// The state that counts as passing (default OK).
    #[serde(default)]
    pub state: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestored {
    /// The step whose fault must be fixed.
    pub step: Spanned<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// The step's name (default: its fault's).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// When it starts, from the drill's start (`5m`).
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// Start when this step (by name) is recovered or reverted, instead of at a time.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// The fault: a path to a fault file, or one written inline.
    pub fault: Spanned<RawFaultRef>,
    /// How long before firedrill reverts it, fixed or not.
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    /// Hints, each shown after a time.
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHint {
    /// When to show it, from the step's start (`3m`).
    pub after: Spanned<String>,
    /// What it says.
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    /// A probe that stops the drill when it fails…
    #[serde(default)]
    pub probe: Option<Spanned<String>>,
    /// …for this long (`2m`).
    #[serde(default)]
    pub failing_for: Option<Spanned<String>>,
    /// An alarm that stops the drill when it goes to ALARM.
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

impl schemars::JsonSchema for RawFaultRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultRef".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let inline = crate::schema::inline_fault(generator);
        schemars::json_schema!({
            "description": "A fault file's path (relative to the drill file), or the fault written inline.",
            "anyOf": [{ "type": "string" }, inline]
        })
    }
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
