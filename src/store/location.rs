//! Which store a command uses: `--state`, `FIREDRILL_STATE`, `state:` in `firedrill.yaml`,
//! or `.firedrill` — a local directory, or `s3://BUCKET/PREFIX` shared by everyone who
//! runs drills against the same accounts (see the README, "Where state lives").

use std::path::PathBuf;
use std::sync::Arc;

use super::Store;
use crate::aws::AwsArgs;
use crate::{Error, Result};

/// The local store when nothing else is named.
pub const DEFAULT_STATE: &str = ".firedrill";

/// The options that name and configure the state store.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct StateArgs {
    /// The state store: a directory (default `.firedrill`), or `s3://BUCKET/PREFIX` to
    /// share runs, drills and schedules between instructors, machines and CI jobs.
    /// `state:` in firedrill.yaml names one too.
    #[arg(long, global = true, env = "FIREDRILL_STATE", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub state: Option<String>,
    /// Encrypt the S3 store's objects with this KMS key (id, alias or ARN) instead of
    /// S3-managed keys (SSE-S3).
    #[arg(long, global = true, env = "FIREDRILL_STATE_KMS_KEY", value_name = "KEY")]
    pub state_kms_key: Option<String>,
    /// Use an S3 bucket without versioning for the store (refused otherwise: with
    /// versioning, a snapshot overwritten or deleted by mistake can be recovered).
    #[arg(long, global = true, env = "FIREDRILL_ALLOW_UNVERSIONED")]
    pub allow_unversioned: bool,
    /// Send the S3 store's calls here (otherwise AWS_ENDPOINT_URL_S3, --endpoint-url or
    /// AWS_ENDPOINT_URL); an address that is an IP or `localhost` is addressed path-style.
    #[arg(long, global = true, env = "FIREDRILL_STATE_ENDPOINT_URL", value_name = "URL")]
    pub state_endpoint_url: Option<String>,
}

/// Where a store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://BUCKET[/PREFIX]`, or else a directory.
    pub fn parse(text: &str) -> Result<Location> {
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.is_empty() {
                return Err(Error::Usage("--state is empty: name a directory or s3://BUCKET/PREFIX".into()));
            }
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(Error::Usage(format!(
                "`{text}`: `{bucket}` is not an S3 bucket name (3-63 lower-case letters, digits, `.` and `-`)"
            )));
        }
        let prefix_ok =
            prefix.split('/').all(|p| p != "." && p != "..") && !prefix.contains("//") && prefix.len() <= 512;
        if !prefix_ok {
            return Err(Error::Usage(format!("`{text}`: the prefix must be plain path segments")));
        }
        Ok(Location::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl StateArgs {
    /// The store these options name (`configured`: `state:` from firedrill.yaml). An S3
    /// store is checked before it is used: the bucket exists and answers, has
    /// versioning (or `--allow-unversioned`), and the prefix is a firedrill store or empty.
    pub fn open(&self, aws: &AwsArgs, configured: Option<&str>) -> Result<Store> {
        let text = self.state.as_deref().or(configured).unwrap_or(DEFAULT_STATE);
        self.open_at(&Location::parse(text)?, aws)
    }

    /// The store at `location`, with these options.
    pub fn open_at(&self, location: &Location, aws: &AwsArgs) -> Result<Store> {
        match location {
            Location::Local(dir) => Ok(Store::new(dir)),
            Location::S3 { bucket, prefix } => {
                let options = super::s3::Options {
                    endpoint: self.state_endpoint_url.clone().or_else(|| aws.endpoint_url.clone()),
                    kms_key: self.state_kms_key.clone(),
                    allow_unversioned: self.allow_unversioned,
                };
                Ok(Store::with(Arc::new(super::s3::S3::open(aws, bucket, prefix, options)?)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(Location::parse(".firedrill").unwrap(), Location::Local(".firedrill".into()));
        assert_eq!(
            Location::parse("s3://team-state/gamedays/").unwrap(),
            Location::S3 { bucket: "team-state".into(), prefix: "gamedays".into() }
        );
        assert_eq!(
            Location::parse("s3://team-state").unwrap(),
            Location::S3 { bucket: "team-state".into(), prefix: String::new() }
        );
        for bad in ["s3://", "s3://UPPER/x", "s3://a/x", "s3://ok-bucket/../x", ""] {
            assert!(matches!(Location::parse(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
