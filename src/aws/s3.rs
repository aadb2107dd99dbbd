//! S3 buckets as fault targets: the client (path-style on a loopback endpoint), and the
//! listing. Only the buckets of the command's region are listed: a bucket's name is
//! global, but what a run may judge (and break) is in its own region.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::target::{Target, TargetSpec};
use crate::{Error, Result};

/// Whether `endpoint` must be addressed path-style (an IP address or `localhost`: a
/// bucket name in front of it does not resolve).
pub fn path_style(endpoint: &str) -> bool {
    let host = endpoint.split("://").nth(1).unwrap_or(endpoint).split(['/', ':']).next().unwrap_or_default();
    host == "localhost" || host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[')
}

/// An S3 client for `config` (the faults' and the state store's): path-style on an
/// address that needs it; checksums sent as headers when firedrill computes them (the
/// store's SHA-256 of snapshots), not streamed.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let mut s3 = aws_sdk_s3::config::Builder::from(config)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
    if config.endpoint_url().is_some_and(path_style) {
        s3 = s3.force_path_style(true);
    }
    Client::from_conf(s3.build())
}

/// The buckets of `region` that `spec` selects (by name as id or name, and tags).
pub async fn list_buckets(s3: &Client, region: &str, spec: &TargetSpec) -> Result<Vec<Target>> {
    let buckets = s3
        .list_buckets()
        .bucket_region(region)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws("list buckets (s3:ListAllMyBuckets)"))?;
    let mut out = Vec::new();
    for page in buckets {
        for b in page.buckets() {
            let Some(name) = b.name() else { continue };
            if b.bucket_region().is_some_and(|r| r != region) {
                continue;
            }
            let tags = if spec.tags.is_empty() { BTreeMap::new() } else { bucket_tags(s3, name).await? };
            let target = Target { id: name.to_owned(), name: Some(name.to_owned()), tags, vpc: None };
            if target.matches(spec) {
                out.push(target);
            }
        }
    }
    Ok(out)
}

/// A bucket's tags (none when it has no tag set).
async fn bucket_tags(s3: &Client, bucket: &str) -> Result<BTreeMap<String, String>> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()),
        Err(e) if e.code() == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
        Err(e) => Err(Error::aws(format!("read the tags of bucket {bucket} (s3:GetBucketTagging)"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_for_addresses_that_are_not_names() {
        assert!(path_style("http://127.0.0.1:5000"));
        assert!(path_style("http://localhost:4566/"));
        assert!(!path_style("https://s3.eu-west-1.amazonaws.com"));
    }
}
