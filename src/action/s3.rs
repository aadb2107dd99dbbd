//! S3: `s3.deny-bucket-policy` — an explicit Deny added to a bucket's policy, for chosen
//! actions and principals. The snapshot is the bucket's exact policy document, or that
//! it had none; revert puts that document back, or deletes the policy.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// The `Sid` of the statement firedrill adds: how `observe` and a second inject know it.
const SID: &str = "FiredrillDenyBucketPolicy";

/// A bucket's policy: its exact document, or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPolicy {
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// The policy as JSON, for comparing documents that differ only in spacing and order of
/// keys (S3 may give back what it was sent reformatted).
fn parsed(doc: Option<&str>) -> Option<Value> {
    doc.map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
}

async fn describe_policy(aws: &Aws, bucket: &str) -> Result<BucketPolicy> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match aws.s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(out) => Ok(BucketPolicy { bucket: bucket.to_owned(), policy: out.policy().map(str::to_owned) }),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => {
            Ok(BucketPolicy { bucket: bucket.to_owned(), policy: None })
        }
        Err(e) if e.code() == Some("NoSuchBucket") => Err(Error::Gone(format!("bucket {bucket} no longer exists"))),
        Err(e) => Err(Error::aws(format!("read the policy of bucket {bucket} (s3:GetBucketPolicy)"))(e)),
    }
}

/// Set the bucket's policy to `doc`, or delete it.
async fn put_policy(aws: &Aws, bucket: &str, doc: Option<&str>) -> Result<()> {
    match doc {
        Some(doc) => {
            let call = aws.s3.put_bucket_policy().bucket(bucket).policy(doc);
            aws::call(call.send(), format!("set the policy of bucket {bucket} (s3:PutBucketPolicy)")).await
        }
        None => {
            let call = aws.s3.delete_bucket_policy().bucket(bucket);
            aws::call(call.send(), format!("delete the policy of bucket {bucket} (s3:DeleteBucketPolicy)")).await
        }
    }
}

/// A bucket's policy: what `s3.deny-bucket-policy` changes and is judged by.
pub struct Policies;

impl Resource for Policies {
    type State = BucketPolicy;

    async fn describe(aws: &Aws, target: &Target) -> Result<BucketPolicy> {
        describe_policy(aws, &target.id).await
    }

    fn differences(before: &BucketPolicy, now: &BucketPolicy) -> Vec<String> {
        match (parsed(before.policy.as_deref()), parsed(now.policy.as_deref())) {
            (a, b) if a == b => Vec::new(),
            (None, Some(_)) => vec![format!("{}: has a bucket policy; the snapshot had none", before.bucket)],
            (Some(_), None) => vec![format!("{}: has no bucket policy; the snapshot had one", before.bucket)],
            _ => vec![format!("{}: bucket policy differs from the snapshot", before.bucket)],
        }
    }

    /// A statement the snapshot did not have that allows anyone (`"Principal": "*"`).
    fn regressions(before: &BucketPolicy, now: &BucketPolicy) -> Vec<String> {
        let public = |doc: &Option<String>| -> Vec<Value> {
            statements(parsed(doc.as_deref()).as_ref())
                .into_iter()
                .filter(|s| s["Effect"] == "Allow" && (s["Principal"] == "*" || s["Principal"]["AWS"] == "*"))
                .collect()
        };
        let was = public(&before.policy);
        public(&now.policy)
            .into_iter()
            .filter(|s| !was.contains(s))
            .map(|s| format!("{}: the bucket policy allows anyone: {s}", now.bucket))
            .collect()
    }

    /// Put the snapshot's policy back whatever changed it since.
    async fn reset(aws: &Aws, _target: &Target, before: &BucketPolicy, _now: &BucketPolicy) -> Result<()> {
        put_policy(aws, &before.bucket, before.policy.as_deref()).await
    }
}

/// A policy document's statements (none for no document).
fn statements(doc: Option<&Value>) -> Vec<Value> {
    match doc.map(|d| &d["Statement"]) {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// s3.deny-bucket-policy

/// `s3.deny-bucket-policy`: what the added Deny covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DenyBucketPolicy {
    /// The S3 actions denied, e.g. [s3:GetObject, s3:PutObject].
    pub actions: Vec<String>,
    /// Whom the Deny applies to: `"*"` (everyone), or IAM ARNs (roles, users, accounts).
    pub principals: Vec<String>,
}

impl Default for DenyBucketPolicy {
    fn default() -> Self {
        DenyBucketPolicy { actions: vec!["s3:GetObject".into()], principals: vec!["*".into()] }
    }
}

impl Params for DenyBucketPolicy {
    /// Never a Deny that would stop firedrill itself from putting the policy back.
    fn check(&self) -> Result<(), String> {
        if self.actions.is_empty() {
            return Err("`actions` is empty: name the S3 actions to deny, e.g. [s3:GetObject]".into());
        }
        for a in &self.actions {
            let lower = a.to_ascii_lowercase();
            if !lower.starts_with("s3:") {
                return Err(format!("`actions` holds `{a}`: a bucket policy denies S3 actions (s3:...)"));
            }
            let blocks_revert = ["s3:*", "s3:put*", "s3:p*", "s3:delete*", "s3:d*", "*"].contains(&lower.as_str())
                || lower.contains("bucketpolicy");
            if blocks_revert {
                return Err(format!(
                    "`actions` holds `{a}`, which would deny changing the bucket policy: firedrill could not revert it"
                ));
            }
        }
        if self.principals.is_empty() {
            return Err("`principals` is empty: give \"*\" for everyone, or IAM ARNs".into());
        }
        if let Some(p) = self.principals.iter().find(|p| *p != "*" && !p.starts_with("arn:")) {
            return Err(format!("`principals` holds `{p}`: give \"*\" or an IAM ARN (arn:aws:iam::ACCOUNT:role/NAME)"));
        }
        Ok(())
    }
}

/// The bucket policy planned: the document with firedrill's Deny added.
#[derive(Debug, Serialize, Deserialize)]
pub struct PolicyChange {
    pub bucket: String,
    pub document: String,
}

impl Fault for DenyBucketPolicy {
    type On = Policies;
    type Change = PolicyChange;

    /// Keep every statement and add, last, the Deny (on the bucket and its objects).
    fn plan(&self, target: &Target, state: &BucketPolicy) -> Result<PolicyChange, String> {
        let mut doc = match parsed(state.policy.as_deref()) {
            None => json!({ "Version": "2012-10-17", "Statement": [] }),
            Some(doc @ Value::Object(_)) => doc,
            Some(_) => return Err(format!("{}: its bucket policy is not a JSON document", target.label())),
        };
        let mut list = statements(Some(&doc));
        if list.iter().any(|s| s["Sid"] == SID) {
            return Err(format!("{}: its policy already holds firedrill's Deny: nothing to break", target.label()));
        }
        let principal = if self.principals == ["*"] { json!("*") } else { json!({ "AWS": self.principals }) };
        let bucket = &state.bucket;
        list.push(json!({
            "Sid": SID,
            "Effect": "Deny",
            "Principal": principal,
            "Action": self.actions,
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        }));
        doc["Statement"] = Value::Array(list);
        Ok(PolicyChange { bucket: bucket.clone(), document: doc.to_string() })
    }

    fn summarize(&self, _change: &PolicyChange) -> Vec<String> {
        vec![format!(
            "add to the bucket policy a Deny of {} for {}",
            self.actions.join(", "),
            self.principals.join(", ")
        )]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<BucketPolicy>> {
        put_policy(aws, &item.change.bucket, Some(&item.change.document)).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &PolicyChange, now: &BucketPolicy) -> Result<(), String> {
        if parsed(now.policy.as_deref()) == parsed(Some(&change.document)) {
            Ok(())
        } else {
            Err("the bucket policy does not hold the Deny after the change".into())
        }
    }

    /// The snapshot's exact document back, or no policy when it had none.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<BucketPolicy>> {
        if Policies::differences(item.before, item.now).is_empty() {
            return Ok(None);
        }
        put_policy(aws, &item.before.bucket, item.before.policy.as_deref()).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `s3.deny-bucket-policy`.
pub const DENY_BUCKET_POLICY: ActionInfo = ActionInfo {
    name: "s3.deny-bucket-policy",
    target: TargetKind::Bucket,
    summary: "Add an explicit Deny of chosen S3 actions, for chosen principals, to the bucket's policy (static content and uploads start failing with 403).",
    revert: "Restores the exact previous bucket policy document, or deletes the policy when the bucket had none.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "actions",
            ty: "list of S3 actions",
            default: "[s3:GetObject]",
            doc: "The S3 actions denied; never one that would deny changing the bucket policy (firedrill could not revert it).",
        },
        ParamInfo {
            name: "principals",
            ty: "list of \"*\" or IAM ARNs",
            default: "[\"*\"]",
            doc: "Whom the Deny applies to: everyone, or these roles, users or accounts.",
        },
    ],
    permissions: &["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn state(policy: Option<&str>) -> BucketPolicy {
        BucketPolicy { bucket: "site".into(), policy: policy.map(str::to_owned) }
    }

    #[test]
    fn the_deny_is_added_to_what_the_policy_has_and_revert_compares_documents() {
        let target = Target::for_tests("site");
        let f = DenyBucketPolicy::default();
        let none = f.plan(&target, &state(None)).unwrap();
        let doc: Value = serde_json::from_str(&none.document).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(doc["Statement"][0]["Resource"][1], "arn:aws:s3:::site/*");
        let had = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#;
        let change = f.plan(&target, &state(Some(had))).unwrap();
        let doc: Value = serde_json::from_str(&change.document).unwrap();
        assert_eq!(doc["Statement"][0]["Sid"], "Read", "kept, first");
        assert_eq!(doc["Statement"][1]["Sid"], SID);
        let run = RunCtx::for_tests();
        assert_eq!(f.observe(&run, &change, &state(Some(&change.document))), Ok(()));
        assert!(f.observe(&run, &change, &state(Some(had))).is_err());
        assert!(f.plan(&target, &state(Some(&change.document))).unwrap_err().contains("nothing to break"));
        // Spacing and key order are not differences; a missing policy is.
        let spaced = had.replace(",", ", ");
        assert!(Policies::differences(&state(Some(had)), &state(Some(&spaced))).is_empty());
        assert_eq!(Policies::differences(&state(None), &state(Some(had))).len(), 1);
    }

    #[test]
    fn a_deny_that_would_block_its_own_revert_is_refused() {
        for bad in [vec!["s3:*"], vec!["s3:PutBucketPolicy"], vec!["*"], vec!["ec2:StopInstances"], vec![]] {
            let p = DenyBucketPolicy { actions: bad.iter().map(|s| s.to_string()).collect(), ..Default::default() };
            assert!(p.check().unwrap_err().starts_with("`actions`"), "{bad:?}");
        }
        let p = DenyBucketPolicy { principals: vec!["bob".into()], ..Default::default() };
        assert!(p.check().unwrap_err().starts_with("`principals`"));
        assert!(DenyBucketPolicy::default().check().is_ok());
    }

    #[test]
    fn a_public_allow_the_snapshot_did_not_have_is_a_regression() {
        let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert_eq!(Policies::regressions(&state(None), &state(Some(public))).len(), 1);
        assert!(Policies::regressions(&state(Some(public)), &state(Some(public))).is_empty());
    }
}
