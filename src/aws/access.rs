//! How a run reaches its account again. Every run records, at inject (and per team for
//! a drill), how its credentials were obtained: the profile, or the role with its
//! external id and session name, with the region and endpoint. Never a secret. Every
//! later command that looks at or changes the run (`status`, `diff`, `revert`, `abort`,
//! `sweep`) builds its clients from that record, so `firedrill abort` with any
//! credentials that can assume the recorded roles reverts every team of a drill in its
//! own account.
//!
//! Overrides stay possible (`--profile`, `--role-arn`), but a run is only ever acted on
//! in its own region, and the account the credentials reach is always checked against
//! the run's ([`check_account`]): `--force` restores over a team's changes, it never
//! means "another account".

use serde::{Deserialize, Serialize};

use super::{AssumeRole, Aws, AwsArgs};
use crate::{Error, Result};

/// How a run's credentials were obtained: what to do to obtain them again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Access {
    /// The named profile the base credentials came from (`--profile`, `AWS_PROFILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The role assumed with the base credentials (a drill team's `role_arn`, `--role-arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for (not a secret in AWS's model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// Where the base credentials came from, for a person reading the journal:
    /// `environment`, `profile NAME`, `web identity`, or `default chain`.
    #[serde(default)]
    pub credentials: String,
}

impl Access {
    /// What `args` (the command line, plus the AWS environment variables the SDK reads)
    /// and `role` (a drill team's, else `--role-arn`) amount to.
    pub fn of(args: &AwsArgs, role: Option<&AssumeRole>) -> Access {
        let profile = args.profile.clone().or_else(|| env("AWS_PROFILE"));
        let credentials = if env("AWS_ACCESS_KEY_ID").is_some() {
            "environment".to_owned()
        } else if let Some(p) = &profile {
            format!("profile {p}")
        } else if env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
            "web identity".to_owned()
        } else {
            "default chain".to_owned()
        };
        let role = role.cloned().or_else(|| args.role());
        Access {
            profile,
            role_arn: role.as_ref().map(|r| r.role_arn.clone()),
            external_id: role.as_ref().and_then(|r| r.external_id.clone()),
            session_name: role.as_ref().and_then(|r| r.session_name.clone()),
            credentials,
        }
    }

    /// The role to assume, if any.
    pub fn role(&self) -> Option<AssumeRole> {
        self.role_arn.as_ref().map(|arn| AssumeRole {
            role_arn: arn.clone(),
            external_id: self.external_id.clone(),
            session_name: self.session_name.clone(),
        })
    }

    /// One line for people: `role R (external id set) from profile P`.
    pub fn describe(&self) -> String {
        let base = match &self.profile {
            Some(p) => format!("profile {p}"),
            None if self.credentials.is_empty() => "the default credentials".to_owned(),
            None => self.credentials.clone(),
        };
        match &self.role_arn {
            Some(r) => format!("role {r} assumed with {base}"),
            None => base,
        }
    }
}

/// Where a run was made: everything needed to act on it again.
#[derive(Clone, Copy, Debug)]
pub struct RunPlace<'a> {
    pub run_id: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub endpoint: Option<&'a str>,
    /// `None` for runs recorded before access was (the command line's credentials then).
    pub access: Option<&'a Access>,
}

/// Clients for acting on the run at `place`: its own region, its recorded endpoint, its
/// recorded profile and role unless `args` overrides them (`--profile`, `--role-arn`).
/// Makes no network call; check the account with [`check_account`] before changing
/// anything. `share` gives these clients the same bound on calls in flight as others of
/// the command (`abort` of many runs).
pub async fn reach(args: &AwsArgs, place: RunPlace<'_>, share: Option<&Aws>) -> Result<Aws> {
    let id = place.run_id;
    if let Some(region) = args.region.as_deref().filter(|r| *r != place.region) {
        return Err(Error::Refused(format!(
            "run {id} is in region {}, not {region}: leave --region out, a run is always handled in its own region",
            place.region
        )));
    }
    let recorded = place.access.cloned().unwrap_or_default();
    let mut args = AwsArgs {
        profile: args.profile.clone().or(recorded.profile.clone()),
        region: Some(place.region.to_owned()),
        endpoint_url: args.endpoint_url.clone(),
        role_arn: args.role_arn.clone(),
        external_id: args.external_id.clone(),
        concurrency: args.concurrency,
        api_share: args.api_share,
        deadline: args.deadline,
    };
    if args.endpoint_url.is_none() && env("AWS_ENDPOINT_URL").is_none() {
        args.endpoint_url = recorded_endpoint(id, place.endpoint)?;
    }
    let role = args.role().or_else(|| recorded.role());
    let mut aws = Aws::connect_as(&args, role.as_ref()).await?;
    if let Some(other) = share {
        aws.share_limit(other);
    }
    Ok(aws)
}

/// The recorded endpoint, used again only where it is safe to send credentials without
/// being asked: an emulator on loopback, or AWS itself. Anything else must be given again.
fn recorded_endpoint(id: &str, endpoint: Option<&str>) -> Result<Option<String>> {
    let Some(url) = endpoint else { return Ok(None) };
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or_default();
    let safe = host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        || host.ends_with(".amazonaws.com")
        || host.ends_with(".amazonaws.com.cn");
    if safe {
        Ok(Some(url.to_owned()))
    } else {
        Err(Error::Refused(format!(
            "run {id} was made against the endpoint {url}: pass --endpoint-url {url} to send calls there again"
        )))
    }
}

/// Refuse credentials that do not act in the run's account: a look anywhere else would
/// find none of its targets and call them all gone.
pub async fn check_account(aws: &Aws, place: RunPlace<'_>) -> Result<()> {
    let account = aws.account().await.map_err(|e| unreachable(place, &e.to_string()))?;
    if account == place.account {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "run {} was made in account {}, but these credentials act in account {account}: nothing was changed; {}",
        place.run_id,
        place.account,
        how_to_reach(place)
    )))
}

/// The run's account could not be reached at all (no credentials, a role that cannot be
/// assumed): the message says how the run was reached and how to reach it.
pub fn unreachable(place: RunPlace<'_>, why: &str) -> Error {
    Error::Refused(format!(
        "cannot reach account {} of run {} ({why}); nothing was changed; {}",
        place.account,
        place.run_id,
        how_to_reach(place)
    ))
}

fn how_to_reach(place: RunPlace<'_>) -> String {
    let how = match place.access {
        Some(a) => format!("it was made with {}", a.describe()),
        None => "it records no credentials (made by an older firedrill)".to_owned(),
    };
    format!("{how}; pass --profile or --role-arn for account {}", place.account)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_endpoint_is_reused_only_on_loopback_or_aws() {
        let ok = |u: &str| recorded_endpoint("r", Some(u)).unwrap();
        assert_eq!(ok("http://127.0.0.1:5000").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(ok("http://localhost:4566/").as_deref(), Some("http://localhost:4566/"));
        assert_eq!(ok("https://ec2.eu-west-1.amazonaws.com").as_deref(), Some("https://ec2.eu-west-1.amazonaws.com"));
        assert!(recorded_endpoint("r", Some("https://evil.example.com")).is_err());
        assert!(recorded_endpoint("r", Some("http://127.0.0.1.evil.example")).is_err());
        assert_eq!(recorded_endpoint("r", None).unwrap(), None);
    }

    #[test]
    fn access_is_described_without_secrets() {
        let a = Access {
            profile: Some("instructor".into()),
            role_arn: Some("arn:aws:iam::111111111111:role/firedrill".into()),
            external_id: Some("x".into()),
            session_name: None,
            credentials: "profile instructor".into(),
        };
        assert_eq!(a.describe(), "role arn:aws:iam::111111111111:role/firedrill assumed with profile instructor");
    }
}
