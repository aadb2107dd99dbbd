//! Guardrails from `firedrill.yaml` (in the working directory, or `--config`): which
//! accounts, regions and VPCs firedrill may touch, a tag every target must carry, and
//! the most targets one fault may break. All are checked before any mutation; a refusal names
//! the rule and the file that set it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::yaml::Spanned;
use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fault::FaultSpec;
use crate::target::Target;
use crate::{Error, Result, yaml};

/// The guardrails file read when present in the working directory.
pub const DEFAULT_CONFIG: &str = "firedrill.yaml";

/// `firedrill.yaml`, as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// Where firedrill may act, and on what: checked before any change.
    #[serde(default)]
    guardrails: RawGuardrails,
    /// The state store: a directory, or `s3://BUCKET/PREFIX` (`--state` overrides it).
    #[serde(default)]
    state: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawGuardrails {
    /// The only accounts firedrill may change (12-digit ids).
    #[serde(default)]
    accounts: Vec<Spanned<AccountId>>,
    /// The only regions firedrill may change.
    #[serde(default)]
    regions: Vec<String>,
    /// A tag every target must carry (`key: value`).
    #[serde(default)]
    require_tag: BTreeMap<String, String>,
    /// The most targets one fault may break.
    #[serde(default)]
    max_targets: Option<Spanned<u32>>,
    /// The only VPCs whose resources firedrill may change.
    #[serde(default)]
    vpcs: Vec<Spanned<String>>,
}

/// An account id written quoted or not (`123456789012` reads as a number in YAML).
#[derive(Debug)]
struct AccountId(String);

impl schemars::JsonSchema for AccountId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A 12-digit AWS account id, quoted or not.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]{12}$" },
                { "type": "integer", "minimum": 0, "maximum": 999999999999u64 }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AccountId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a 12-digit account id")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<AccountId, E> {
                Ok(AccountId(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<AccountId, E> {
                Ok(AccountId(format!("{v:012}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<AccountId, E> {
                Ok(AccountId(format!("{v:012}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `firedrill.yaml`: where firedrill may act, and on what.
#[derive(Clone, Debug, Default)]
pub struct Guardrails {
    /// The file they came from, for refusal messages; `None` when there is none.
    pub source: Option<PathBuf>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub require_tag: BTreeMap<String, String>,
    pub max_targets: Option<u32>,
    /// The VPCs targets may be in (targets that live in none are not affected).
    pub vpcs: Vec<String>,
    /// The state store the file names (`state: s3://bucket/prefix`), if it names one.
    pub state: Option<String>,
}

impl Guardrails {
    /// Load `explicit`, or `firedrill.yaml` if it exists; no file means no guardrails.
    pub fn load(explicit: Option<&Path>) -> Result<Guardrails> {
        let path = match explicit {
            Some(p) => p.to_owned(),
            None if Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
            None => return Ok(Guardrails::default()),
        };
        let source = yaml::read_input(&path).map_err(|d| Error::Input(d.into()))?;
        Self::parse(&path, &source)
    }

    /// Parse and validate a guardrails file.
    pub fn parse(path: &Path, source: &str) -> Result<Guardrails> {
        let raw: RawConfig = if source.trim().is_empty() {
            RawConfig::default()
        } else {
            yaml::parse(path, source).map_err(|d| Error::Input(d.into()))?
        };
        let g = raw.guardrails;
        let mut problems = Diagnostics::default();
        let mut accounts = Vec::new();
        for a in g.accounts {
            let id = a.value.0;
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(Diagnostic::at(
                    path,
                    source,
                    a.referenced.into(),
                    format!("`{id}` is not a 12-digit AWS account id"),
                ));
            }
            accounts.push(id);
        }
        if let Some(m) = &g.max_targets
            && m.value == 0
        {
            problems.push(Diagnostic::at(path, source, m.referenced.into(), "`max_targets` must be at least 1"));
        }
        for v in &g.vpcs {
            if !v.value.starts_with("vpc-") {
                let msg = format!("`{}` is not a VPC id (vpc-0123456789abcdef0)", v.value);
                problems.push(Diagnostic::at(path, source, v.referenced.into(), msg));
            }
        }
        if let Some(st) = &raw.state
            && let Err(e) = crate::store::location::Location::parse(&st.value)
        {
            problems.push(Diagnostic::at(path, source, st.referenced.into(), e.to_string()));
        }
        problems.into_result(Guardrails {
            source: Some(path.to_owned()),
            accounts,
            regions: g.regions,
            require_tag: g.require_tag,
            max_targets: g.max_targets.map(|m| m.value),
            vpcs: g.vpcs.into_iter().map(|v| v.value).collect(),
            state: raw.state.map(|s| s.value),
        })
    }

    fn origin(&self) -> String {
        self.source.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default()
    }

    /// Refuse an account the guardrails do not allow.
    pub fn check_account(&self, account: &str) -> Result<()> {
        if self.accounts.is_empty() || self.accounts.iter().any(|a| a == account) {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "guardrails.accounts{}: account {account} is not allowed (allowed: {})",
            self.origin(),
            self.accounts.join(", ")
        )))
    }

    /// Refuse a region the guardrails do not allow.
    pub fn check_region(&self, region: &str) -> Result<()> {
        if self.regions.is_empty() || self.regions.iter().any(|r| r == region) {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "guardrails.regions{}: region {region} is not allowed (allowed: {})",
            self.origin(),
            self.regions.join(", ")
        )))
    }

    /// Problems with a fault's picked targets, one line each.
    pub fn check_targets(&self, fault: &FaultSpec, targets: &[Target]) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(max) = self.max_targets
            && targets.len() > max as usize
        {
            out.push(format!(
                "guardrails.max_targets{}: fault `{}` would break {} targets, more than the limit of {max}",
                self.origin(),
                fault.name,
                targets.len()
            ));
        }
        for t in targets {
            if let Some(vpc) = t.vpc.as_ref().filter(|v| !self.vpcs.is_empty() && !self.vpcs.contains(v)) {
                out.push(format!(
                    "guardrails.vpcs{}: {} is in {vpc}, which is not allowed (allowed: {})",
                    self.origin(),
                    t.label(),
                    self.vpcs.join(", ")
                ));
            }
            let missing: Vec<String> = self
                .require_tag
                .iter()
                .filter(|(k, v)| t.tags.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "guardrails.require_tag{}: {} lacks the tag {}",
                    self.origin(),
                    t.label(),
                    missing.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_quoted_or_not() {
        let g = Guardrails::parse(Path::new("f.yaml"), "guardrails:\n  accounts: [\"012345678901\", 123456789012]\n")
            .unwrap();
        assert_eq!(g.accounts, ["012345678901", "123456789012"]);
        let err = Guardrails::parse(Path::new("f.yaml"), "guardrails:\n  accounts: [\"12345\"]\n").unwrap_err();
        assert!(err.to_string().contains("f.yaml:2:14: error: `12345` is not a 12-digit"), "{err}");
    }

    #[test]
    fn targets_outside_the_allowed_vpcs_are_refused() {
        let g = Guardrails::parse(Path::new("f.yaml"), "guardrails:\n  vpcs: [vpc-1]\n").unwrap();
        let spec = crate::fault::parse(
            Path::new("f.yaml"),
            "name: x\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n",
        )
        .unwrap();
        let t = |vpc: Option<&str>| Target { id: "sg-1".into(), vpc: vpc.map(Into::into), ..Target::default() };
        assert!(g.check_targets(&spec, &[t(Some("vpc-1")), t(None)]).is_empty());
        let refused = g.check_targets(&spec, &[t(Some("vpc-2"))]);
        assert_eq!(refused, ["guardrails.vpcs (f.yaml): sg-1 is in vpc-2, which is not allowed (allowed: vpc-1)"]);
        let err = Guardrails::parse(Path::new("f.yaml"), "guardrails:\n  vpcs: [prod]\n").unwrap_err();
        assert!(err.to_string().contains("f.yaml:2:10: error: `prod` is not a VPC id"), "{err}");
    }

    #[test]
    fn the_state_store_may_be_named_and_a_bad_one_is_pointed_at() {
        let g = Guardrails::parse(Path::new("firedrill.yaml"), "state: s3://gameday-state/firedrill\n").unwrap();
        assert_eq!(g.state.as_deref(), Some("s3://gameday-state/firedrill"));
        let err = Guardrails::parse(Path::new("firedrill.yaml"), "guardrails: {}\nstate: s3://Bad_Bucket/x\n");
        let text = err.unwrap_err().to_string();
        assert!(text.contains("firedrill.yaml:2:8") && text.contains("not an S3 bucket name"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let err = Guardrails::parse(Path::new("f.yaml"), "guardrails:\n  max_target: 3\n").unwrap_err();
        assert!(err.to_string().contains("did you mean `max_targets`?"), "{err}");
    }
}
