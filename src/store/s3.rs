//! The S3 store: `s3://BUCKET/PREFIX`, one source of truth for several instructors,
//! machines and CI jobs. The same guarantees as the local store, with S3's conditional
//! writes where the local one has `rename`, `O_APPEND` and `flock`:
//!
//! ```text
//! PREFIX/firedrill-store.json                 marks the prefix as a firedrill store
//! PREFIX/runs/<id>/journal/<seq>.jsonl         one object per append (a batch of events),
//!                                              created only if absent (If-None-Match: *)
//! PREFIX/runs/<id>/snapshots/<n>-<fault>.json  written, then checked against S3's
//!                                              SHA-256 (or read back) before any change
//! PREFIX/runs/<id>/lock                        a lease: owner, host, pid, lease length
//! PREFIX/drills/…, schedules/…, sandbox/…      as in the local store
//! ```
//!
//! - **Journal.** An append writes the object with the next sequence number; S3 refuses
//!   it (412) if one exists. A run's journal has one writer, the lock's holder: a 412
//!   means another process took over the lock and wrote, so the append fails (fencing)
//!   rather than interleave. A shared log (a drill's requests) retries at the next number.
//! - **Locks.** Created with `If-None-Match: *`; the holder renews the lease every third
//!   of its length with `If-Match` on the ETag it last wrote. A lock whose lease ran out
//!   (judged by S3's clock: the answer's `Date` against the object's `Last-Modified`,
//!   never the local clock alone) is taken over with `If-Match` on its ETag, and the run's
//!   journal says so. `FIREDRILL_STATE_LEASE` sets the lease (seconds, default 60).
//! - **Calls** go through the same pacer and deadline as every AWS call; `503 SlowDown`
//!   is retried as throttling, `409 ConditionalRequestConflict` is retried here.
//!
//! The store's code is synchronous (a journal append returns when it is durable): S3
//! calls run on a small runtime of their own and the caller waits for the answer.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::backend::{Backend, Held, Holder, Log, Stored};
use super::journal::hostname;
use crate::aws::AwsArgs;
use crate::{Error, Result};

/// The object that marks a prefix as a firedrill store.
const MARKER: &str = "firedrill-store.json";

/// S3 calls in flight at once for one read or write of many objects.
const PARALLEL: usize = 16;

/// How an S3 store is set up, besides where it is.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub endpoint: Option<String>,
    pub kms_key: Option<String>,
    pub allow_unversioned: bool,
}

/// A store under an S3 prefix.
#[derive(Clone, Debug)]
pub struct S3 {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    bucket: String,
    prefix: String,
    kms_key: Option<String>,
    /// The marker object is known to be there (or was written).
    marked: AtomicBool,
    /// Journal entries read or written by this process, by object key. An entry is
    /// created once and never replaced, so what was read once need not be read again: a
    /// command reads a run's journal several times (to open it, to fold it).
    entries: Mutex<std::collections::HashMap<String, Arc<Vec<u8>>>>,
}

/// What the store's lock objects hold.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LockBody {
    pid: u32,
    host: String,
    owner: String,
    lease_seconds: u64,
}

/// What marks a prefix as a firedrill store.
#[derive(Serialize, Deserialize)]
struct Marker {
    firedrill_store: u32,
    created_by: String,
    created_at: String,
}

/// The runtime S3 calls run on, whichever runtime (or none) the caller is on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("firedrill-s3")
            .enable_all()
            .build()
            .expect("the S3 store's runtime starts")
    })
}

/// Run `work` on the store's runtime and wait for it.
fn block<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().expect("the S3 store's runtime answers")
}

/// The lease of this process's locks: `FIREDRILL_STATE_LEASE` seconds, default 60.
fn lease() -> Duration {
    let secs = std::env::var("FIREDRILL_STATE_LEASE").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(60.0);
    Duration::from_secs_f64(secs.clamp(0.3, 3600.0))
}

/// The HTTP status of a failed call, when it got an answer.
fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl S3 {
    /// Connect to `s3://bucket/prefix` and check it can be a store: the bucket exists
    /// (in whichever region: its own is found and used), answers, has versioning unless
    /// allowed otherwise, and the prefix is a firedrill store or empty.
    pub fn open(aws: &AwsArgs, bucket: &str, prefix: &str, options: Options) -> Result<S3> {
        let (aws, bucket_name, prefix_name) = (aws.clone(), bucket.to_owned(), prefix.to_owned());
        block(async move { Self::connect(&aws, &bucket_name, &prefix_name, options).await })
    }

    async fn connect(aws: &AwsArgs, bucket: &str, prefix: &str, options: Options) -> Result<S3> {
        let mut args = aws.clone();
        let at = format!("s3://{bucket}/{prefix}");
        let mut client = Self::client(&args, options.endpoint.as_deref()).await;
        let head = client.head_bucket().bucket(bucket).send().await;
        let region = match head {
            Ok(out) => out.bucket_region().map(str::to_owned),
            Err(e) => {
                let header = e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region")).map(str::to_owned);
                match (status(&e), header) {
                    (Some(301 | 400), Some(region)) => Some(region),
                    (Some(404), _) => {
                        return Err(Error::Usage(format!(
                            "the state store {at}: bucket `{bucket}` does not exist (create it with versioning, see the README's \"Where state lives\")"
                        )));
                    }
                    (Some(403), _) => {
                        return Err(Error::Refused(format!(
                            "the state store {at}: access denied to bucket `{bucket}`; firedrill needs s3:ListBucket on the bucket and s3:GetObject, s3:PutObject, s3:DeleteObject on the prefix (see the README)"
                        )));
                    }
                    _ => return Err(Error::aws(format!("reach the state store {at} (s3:HeadBucket)"))(e)),
                }
            }
        };
        let configured = client.config().region().map(|r| r.to_string());
        if let Some(region) = region.filter(|r| configured.as_deref() != Some(r.as_str())) {
            tracing::debug!("the state bucket {bucket} is in {region}");
            args.region = Some(region);
            client = Self::client(&args, options.endpoint.as_deref()).await;
        }
        let versioning =
            client.get_bucket_versioning().bucket(bucket).send().await.map_err(Error::aws(format!(
                "read the state bucket's versioning (s3:GetBucketVersioning on {bucket})"
            )))?;
        let enabled = versioning.status().is_some_and(|s| s.as_str() == "Enabled");
        if !enabled && !options.allow_unversioned {
            return Err(Error::Refused(format!(
                "the state store {at}: bucket `{bucket}` has no versioning, so a snapshot deleted or overwritten by mistake could not be recovered; enable it (aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled) or pass --allow-unversioned"
            )));
        }
        let store = S3 {
            inner: Arc::new(Inner {
                client,
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                kms_key: options.kms_key,
                marked: AtomicBool::new(false),
                entries: Mutex::default(),
            }),
        };
        store.check_marker().await?;
        Ok(store)
    }

    async fn client(args: &AwsArgs, endpoint: Option<&str>) -> Client {
        let mut config = crate::aws::sdk_config(args, endpoint, "state").await;
        if config.region().is_none() {
            // Any region finds the bucket's own (HeadBucket answers with it).
            config = config.into_builder().region(aws_config::Region::new("us-east-1")).build();
        }
        crate::aws::s3::client(&config)
    }

    /// Refuse a prefix that holds objects but no marker: it is something else's.
    async fn check_marker(&self) -> Result<()> {
        let i = &self.inner;
        if get(i, &i.key(MARKER)).await?.is_some() {
            i.marked.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let under = if i.prefix.is_empty() { String::new() } else { format!("{}/", i.prefix) };
        let listed = i
            .client
            .list_objects_v2()
            .bucket(&i.bucket)
            .prefix(&under)
            .max_keys(1)
            .send()
            .await
            .map_err(Error::aws(format!("list {} (s3:ListBucket)", i.url(""))))?;
        if let Some(other) = listed.contents().first().and_then(|o| o.key()) {
            return Err(Error::Refused(format!(
                "{} is not a firedrill store: it holds {other} and no {MARKER}; name an empty prefix for the store",
                i.url("")
            )));
        }
        Ok(())
    }

    /// Write the marker before the store's first write.
    fn mark(&self) -> Result<()> {
        let i = self.inner.clone();
        if i.marked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let marker =
            Marker { firedrill_store: 1, created_by: super::journal::who(), created_at: super::journal::now() };
        let bytes = serde_json::to_vec_pretty(&marker).expect("serializes");
        block(async move {
            match put(&i, &i.key(MARKER), bytes, Condition::IfAbsent).await {
                Ok(_) | Err(Put::Precondition) => {
                    i.marked.store(true, Ordering::Relaxed);
                    Ok(())
                }
                Err(Put::Failed(e)) => Err(e),
            }
        })
    }
}

impl Inner {
    fn key(&self, key: &str) -> String {
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        }
    }

    fn url(&self, key: &str) -> String {
        let full = self.key(key);
        if full.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{full}", self.bucket) }
    }

    /// The object key of log `key`'s entry `seq`: zero-padded, so keys sort in order.
    fn entry(&self, log: &str, seq: u64) -> String {
        self.key(&format!("{log}/{seq:012}.jsonl"))
    }

    /// Every entry of log `key` from `from` on, in order: `(seq, object key)`.
    async fn entries(&self, log: &str, from: u64) -> Result<Vec<(u64, String)>> {
        let dir = format!("{}/", self.key(log));
        let mut out = Vec::new();
        let after = (from > 0).then(|| self.entry(log, from - 1));
        for key in self.list_all(&dir, false, after).await? {
            let seq = key.strip_prefix(&dir).and_then(|n| n.strip_suffix(".jsonl")).and_then(|n| n.parse().ok());
            match seq {
                Some(seq) if seq >= from => out.push((seq, key)),
                Some(_) => {}
                None => tracing::warn!("s3://{}/{key} is not a journal entry; ignored", self.bucket),
            }
        }
        out.sort();
        Ok(out)
    }

    /// The text of entries `entries` of a log, in order; an entry missing from the run
    /// of numbers becomes a line that does not read as an event, so the reader reports
    /// the journal as damaged rather than silently short.
    async fn read_entries(self: &Arc<Self>, entries: Vec<(u64, String)>, mut expect: u64) -> Result<Vec<u8>> {
        let reads: Vec<_> = entries
            .iter()
            .map(|(_, key)| {
                let (me, key) = (self.clone(), key.clone());
                async move {
                    if let Some(known) = me.known(&key) {
                        return Ok(Some(known));
                    }
                    let body = get(&me, &key).await?.map(|o| Arc::new(o.bytes));
                    if let Some(body) = &body {
                        me.remember(&key, body.clone());
                    }
                    Ok(body)
                }
            })
            .collect();
        let bodies: Vec<Result<Option<Arc<Vec<u8>>>>> =
            futures_util::stream::iter(reads).buffered(PARALLEL).collect().await;
        let mut text = Vec::new();
        for ((seq, key), body) in entries.iter().zip(bodies) {
            while expect < *seq {
                text.extend_from_slice(format!("{{\"journal\":\"entry {expect} is missing\"}}\n").as_bytes());
                expect += 1;
            }
            let Some(body) = body? else {
                return Err(Error::Corrupt {
                    path: PathBuf::from(self.url_of(key)),
                    message: "vanished while read".into(),
                });
            };
            text.extend_from_slice(&body);
            if !body.ends_with(b"\n") {
                text.push(b'\n');
            }
            expect = seq + 1;
        }
        Ok(text)
    }

    /// Every object key under `under` (after `after`, when given), all pages; with
    /// `delimited`, the "directories" directly under it instead of what is in them
    /// (common prefixes, ending in `/`).
    async fn list_all(&self, under: &str, delimited: bool, after: Option<String>) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let mut call =
                self.client.list_objects_v2().bucket(&self.bucket).prefix(under).set_start_after(after.clone());
            if delimited {
                call = call.delimiter("/");
            }
            let page = call
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(Error::aws(format!("list {} (s3:ListBucket)", self.url_of(under))))?;
            keys.extend(page.common_prefixes().iter().filter_map(|p| p.prefix()).map(str::to_owned));
            keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Journal entry `key`, if this process has read or written it.
    fn known(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn remember(&self, key: &str, body: Arc<Vec<u8>>) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), body);
    }

    fn url_of(&self, full_key: &str) -> String {
        format!("s3://{}/{full_key}", self.bucket)
    }
}

/// An object as read: its bytes, ETag, and the times that judge a lease.
struct Object {
    bytes: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<i64>,
    /// S3's clock when it answered (the `Date` header), in seconds.
    server_now: Option<i64>,
}

/// Read object `key`; `None` if there is none.
async fn get(i: &Inner, key: &str) -> Result<Option<Object>> {
    let date = ServerDate::default();
    let answer = i.client.get_object().bucket(&i.bucket).key(key).customize().interceptor(date.clone()).send().await;
    let out = match answer {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) || status(&e) == Some(404) => {
            return Ok(None);
        }
        Err(e) => return Err(Error::aws(format!("read {} (s3:GetObject)", i.url_of(key)))(e)),
    };
    let etag = out.e_tag().map(str::to_owned);
    let last_modified = out.last_modified().map(|t| t.secs());
    let too_big = out.content_length().is_some_and(|n| n as u64 > super::fs::MAX_FILE);
    if too_big {
        return Err(Error::Corrupt {
            path: i.url_of(key).into(),
            message: format!("larger than {} bytes", super::fs::MAX_FILE),
        });
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| Error::Failed(format!("read {}: {e}", i.url_of(key))))?
        .into_bytes()
        .to_vec();
    Ok(Some(Object { bytes, etag, last_modified, server_now: date.seconds() }))
}

/// When a write may happen.
#[derive(Clone)]
enum Condition {
    Always,
    /// Only if there is no such object (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object is still the one with this ETag (`If-Match`).
    IfMatch(String),
}

/// Why a write did not happen.
enum Put {
    /// The condition did not hold (412): another writer got there first.
    Precondition,
    Failed(Error),
}

/// Write object `key`, encrypted, with its SHA-256 for S3 to check; its ETag. A `409
/// ConditionalRequestConflict` (a conflicting conditional write in flight) is retried.
async fn put(i: &Inner, key: &str, bytes: Vec<u8>, when: Condition) -> std::result::Result<(String, bool), Put> {
    let sha = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let sha = aws_smithy_types::base64::encode(sha.as_ref());
    let mut backoff = Duration::from_millis(50);
    for attempt in 1.. {
        let mut call = i
            .client
            .put_object()
            .bucket(&i.bucket)
            .key(key)
            .body(ByteStream::from(bytes.clone()))
            .content_type("application/json")
            .checksum_sha256(&sha);
        call = match &i.kms_key {
            Some(k) => call.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(k),
            None => call.server_side_encryption(ServerSideEncryption::Aes256),
        };
        call = match &when {
            Condition::Always => call,
            Condition::IfAbsent => call.if_none_match("*"),
            Condition::IfMatch(etag) => call.if_match(etag),
        };
        match call.send().await {
            Ok(out) => {
                // S3 checked the body against the SHA-256 we sent; an answer that does not
                // echo it (an older endpoint) is checked by reading the object back.
                let checked = out.checksum_sha256() == Some(sha.as_str());
                return Ok((out.e_tag().unwrap_or_default().to_owned(), checked));
            }
            Err(e) if status(&e) == Some(412) => return Err(Put::Precondition),
            Err(e) if status(&e) == Some(409) && attempt < 8 => {
                tracing::debug!("{}: conditional write conflict, trying again", i.url_of(key));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(Put::Failed(Error::aws(format!("write {} (s3:PutObject)", i.url_of(key)))(e))),
        }
    }
    unreachable!("the loop returns")
}

/// [`put`] for a write whose condition cannot fail, or whose failure is an error.
async fn put_checked(i: &Inner, key: &str, bytes: Vec<u8>) -> Result<()> {
    let digest = super::snapshot::sha256(&bytes);
    let checked = match put(i, key, bytes, Condition::Always).await {
        Ok((_, checked)) => checked,
        Err(Put::Precondition) => unreachable!("an unconditional write has no precondition"),
        Err(Put::Failed(e)) => return Err(e),
    };
    if !checked {
        let back = get(i, key).await?.map(|o| super::snapshot::sha256(&o.bytes));
        if back.as_deref() != Some(digest.as_str()) {
            return Err(Error::Failed(format!("{}: what S3 holds is not what was written", i.url_of(key))));
        }
    }
    Ok(())
}

impl Backend for S3 {
    fn location(&self, key: &str) -> PathBuf {
        PathBuf::from(self.inner.url(key))
    }

    fn identity(&self) -> String {
        let digest = super::snapshot::sha256(self.inner.url("").as_bytes());
        format!("store {}", &digest[..12])
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let i = self.inner.clone();
        let key = i.key(key);
        block(async move { get(&i, &key).await.map(|o| o.map(|o| o.bytes)) })
    }

    fn write_all(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        self.mark()?;
        let i = self.inner.clone();
        let files: Vec<(String, Vec<u8>)> = files.iter().map(|(k, b)| (i.key(k), b.clone())).collect();
        block(async move {
            let writes: Vec<_> = files
                .into_iter()
                .map(|(key, bytes)| {
                    let i = i.clone();
                    async move { put_checked(&i, &key, bytes).await }
                })
                .collect();
            let results: Vec<Result<()>> =
                futures_util::stream::iter(writes).buffer_unordered(PARALLEL).collect().await;
            results.into_iter().collect()
        })
    }

    fn remove(&self, key: &str) -> Result<()> {
        let i = self.inner.clone();
        let key = i.key(key);
        block(async move {
            let deleted = i.client.delete_object().bucket(&i.bucket).key(&key).send().await;
            deleted.map(drop).map_err(Error::aws(format!("delete {} (s3:DeleteObject)", i.url_of(&key))))
        })
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let i = self.inner.clone();
        let under = format!("{}/", i.key(dir));
        let keys = block(async move { i.list_all(&under, true, None).await.map(|keys| (keys, under)) });
        let (keys, under) = keys?;
        Ok(keys
            .iter()
            .map(|k| k.strip_prefix(&under).unwrap_or(k).trim_end_matches('/'))
            .filter(|name| !name.is_empty() && !name.starts_with('.'))
            .map(str::to_owned)
            .collect())
    }

    fn create_dir(&self, dir: &str) -> Result<()> {
        // Nothing to make: a run exists once its journal's first entry does, and that is
        // created only if absent. Refuse a run that has anything already.
        let i = self.inner.clone();
        let under = format!("{}/", i.key(dir));
        let any = block(async move {
            let page = i.client.list_objects_v2().bucket(&i.bucket).prefix(&under).max_keys(1).send().await;
            page.map(|p| !p.contents().is_empty())
                .map_err(Error::aws(format!("list {} (s3:ListBucket)", i.url_of(&under))))
        })?;
        if any {
            return Err(Error::Refused(format!("{} exists already; a run is created once", self.inner.url(dir))));
        }
        Ok(())
    }

    fn keys(&self) -> Result<Vec<Stored>> {
        let i = self.inner.clone();
        let under = if i.prefix.is_empty() { String::new() } else { format!("{}/", i.prefix) };
        let listed = block(async move { i.list_all(&under, false, None).await.map(|keys| (keys, under)) });
        let (listed, under) = listed?;
        let all = listed.into_iter().map(|k| k[under.len()..].to_owned());
        let mut out: Vec<Stored> = Vec::new();
        for key in all {
            if key == MARKER || key.rsplit('/').next() == Some("lock") {
                continue;
            }
            // `<log>/<seq>.jsonl` is an entry of a log.
            let entry = key.rsplit_once('/').filter(|(_, n)| {
                n.strip_suffix(".jsonl").is_some_and(|d| d.len() == 12 && d.bytes().all(|b| b.is_ascii_digit()))
            });
            let item = match entry {
                Some((log, _)) => Stored::Log(log.to_owned()),
                None => Stored::File(key),
            };
            if out.last() != Some(&item) {
                out.push(item);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn create_log(&self, key: &str, first: &[u8]) -> Result<Box<dyn Log>> {
        self.mark()?;
        let log = S3Log { inner: self.inner.clone(), key: key.to_owned(), next: AtomicU64::new(0), shared: false };
        log.append_at(first, true)?;
        Ok(Box::new(log))
    }

    fn open_log(&self, key: &str, shared: bool) -> Result<Box<dyn Log>> {
        let (i, k) = (self.inner.clone(), key.to_owned());
        let next = block(async move { i.entries(&k, 0).await.map(|e| e.last().map_or(0, |(seq, _)| seq + 1)) })?;
        Ok(Box::new(S3Log { inner: self.inner.clone(), key: key.to_owned(), next: AtomicU64::new(next), shared }))
    }

    fn read_log(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read_logs(&[key.to_owned()]).pop().expect("one read per log")
    }

    fn read_logs(&self, keys: &[String]) -> Vec<Result<Option<Vec<u8>>>> {
        let i = self.inner.clone();
        let keys = keys.to_vec();
        block(async move {
            let reads: Vec<_> = keys
                .into_iter()
                .map(|k| {
                    let i = i.clone();
                    async move {
                        let entries = i.entries(&k, 0).await?;
                        if entries.is_empty() {
                            return Ok(None);
                        }
                        i.read_entries(entries, 0).await.map(Some)
                    }
                })
                .collect();
            // Each log's own entries are read PARALLEL at a time already: a few logs at once.
            futures_util::stream::iter(reads).buffered(4).collect().await
        })
    }

    fn read_log_since(&self, key: &str, cursor: &mut u64) -> Result<Vec<u8>> {
        let (i, k, from) = (self.inner.clone(), key.to_owned(), *cursor);
        let (text, next) = block(async move {
            let entries = i.entries(&k, from).await?;
            let next = entries.last().map_or(from, |(seq, _)| seq + 1);
            i.read_entries(entries, from).await.map(|t| (t, next))
        })?;
        *cursor = next;
        Ok(text)
    }

    fn lock(&self, key: &str) -> Result<std::result::Result<Box<dyn Held>, Holder>> {
        self.mark()?;
        let i = self.inner.clone();
        let key = i.key(key);
        block(async move { take(i, key).await })
    }

    fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let i = self.inner.clone();
        let key = i.key(key);
        block(async move {
            let Some(object) = get(&i, &key).await? else { return Ok(None) };
            let (holder, expired) = judge(&i, &key, &object)?;
            Ok((!expired).then_some(holder))
        })
    }
}

/// An S3 log: one object per append, numbered.
struct S3Log {
    inner: Arc<Inner>,
    key: String,
    /// The number the next entry takes.
    next: AtomicU64,
    shared: bool,
}

impl S3Log {
    fn append_at(&self, lines: &[u8], creating: bool) -> Result<()> {
        let (i, key, bytes, shared) = (self.inner.clone(), self.key.clone(), lines.to_vec(), self.shared);
        let mut seq = self.next.load(Ordering::SeqCst);
        let written = block(async move {
            for _ in 0..64 {
                let entry = i.entry(&key, seq);
                match put(&i, &entry, bytes.clone(), Condition::IfAbsent).await {
                    Ok(_) => {
                        i.remember(&entry, Arc::new(bytes));
                        return Ok(seq);
                    }
                    Err(Put::Failed(e)) => return Err(e),
                    // Our own write, whose answer was lost and the call retried.
                    Err(Put::Precondition) if ours(&i, &entry, &bytes).await? => return Ok(seq),
                    Err(Put::Precondition) if creating => {
                        return Err(Error::Refused(format!(
                            "{} exists already; a journal is created once",
                            i.url(&key)
                        )));
                    }
                    Err(Put::Precondition) if shared => {
                        seq = i.entries(&key, seq).await?.last().map_or(seq + 1, |(s, _)| s + 1);
                    }
                    Err(Put::Precondition) => {
                        return Err(Error::Refused(format!(
                            "{}: entry {seq} was written by another process, so this one no longer holds the run's lock (its lease ran out and it was taken over); nothing more is written from here: see `firedrill show`",
                            i.url(&key)
                        )));
                    }
                }
            }
            Err(Error::Failed(format!("{}: too many writers at once", i.url(&key))))
        })?;
        self.next.store(written + 1, Ordering::SeqCst);
        Ok(())
    }
}

impl Log for S3Log {
    fn append(&self, lines: &[u8]) -> Result<()> {
        self.append_at(lines, false)
    }
}

/// Whether object `key` holds exactly `bytes`: a conditional write refused because an
/// earlier attempt of the same call went through (its answer lost, the call retried).
async fn ours(i: &Inner, key: &str, bytes: &[u8]) -> Result<bool> {
    Ok(get(i, key).await?.is_some_and(|o| o.bytes == bytes))
}

/// Who holds the lock in `object`, and whether its lease has run out by S3's clock (the
/// answer's `Date` against the object's `Last-Modified`; the local clock only when the
/// endpoint sent no `Date`).
fn judge(i: &Inner, key: &str, object: &Object) -> Result<(Holder, bool)> {
    let body: LockBody = serde_json::from_slice(&object.bytes)
        .map_err(|e| Error::Corrupt { path: i.url_of(key).into(), message: format!("not a firedrill lock: {e}") })?;
    let now = object.server_now.unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let age = now - object.last_modified.unwrap_or(now);
    let left = body.lease_seconds as i64 - age;
    let lease = if left > 0 {
        format!("renewed {age} s ago, its lease runs out in {left} s unless renewed")
    } else {
        format!("its lease ran out {} s ago", -left)
    };
    let holder = Holder { pid: body.pid, host: body.host, lease: Some(lease) };
    Ok((holder, left <= 0))
}

/// Take lock object `key`: create it, or take it over once its lease ran out.
async fn take(i: Arc<Inner>, key: String) -> Result<std::result::Result<Box<dyn Held>, Holder>> {
    let lease = lease();
    let body = LockBody {
        pid: std::process::id(),
        host: hostname(),
        owner: super::journal::who(),
        lease_seconds: lease.as_secs().max(1),
    };
    let bytes = serde_json::to_vec(&body).expect("serializes");
    for _ in 0..8 {
        match put(&i, &key, bytes.clone(), Condition::IfAbsent).await {
            Ok((etag, _)) => return Ok(Ok(Box::new(Lease::start(i, key, bytes, etag, lease, None)))),
            Err(Put::Failed(e)) => return Err(e),
            Err(Put::Precondition) => {}
        }
        // Held: by whom (this process, if the answer to its own write was lost), and is
        // its lease still good?
        let Some(object) = get(&i, &key).await? else { continue };
        if object.bytes == bytes {
            let etag = object.etag.clone().unwrap_or_default();
            return Ok(Ok(Box::new(Lease::start(i, key, bytes, etag, lease, None))));
        }
        let (holder, expired) = judge(&i, &key, &object)?;
        if !expired {
            return Ok(Err(holder));
        }
        let etag = object.etag.clone().unwrap_or_default();
        match put(&i, &key, bytes.clone(), Condition::IfMatch(etag)).await {
            Ok((etag, _)) => {
                tracing::warn!("took over the lock {} from {holder}", i.url_of(&key));
                return Ok(Ok(Box::new(Lease::start(i, key, bytes, etag, lease, Some(holder)))));
            }
            Err(Put::Failed(e)) => return Err(e),
            // Another process took it over first, or its holder renewed it: look again.
            Err(Put::Precondition) => {}
        }
    }
    Err(Error::Failed(format!("{}: the lock changed hands too often to take", i.url_of(&key))))
}

/// A lock held on S3: renewed in the background until dropped, then deleted if it is
/// still ours.
struct Lease {
    inner: Arc<Inner>,
    key: String,
    etag: Arc<Mutex<String>>,
    /// Set by the renewer when another process has taken the lock over.
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
    took_over: Option<Holder>,
}

impl Lease {
    fn start(
        i: Arc<Inner>,
        key: String,
        body: Vec<u8>,
        etag: String,
        lease: Duration,
        took_over: Option<Holder>,
    ) -> Lease {
        let etag = Arc::new(Mutex::new(etag));
        let lost = Arc::new(AtomicBool::new(false));
        let (me, k, tag, gone) = (i.clone(), key.clone(), etag.clone(), lost.clone());
        let renewer = runtime().spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let current = tag.lock().unwrap_or_else(|e| e.into_inner()).clone();
                match put(&me, &k, body.clone(), Condition::IfMatch(current)).await {
                    Ok((new, _)) => *tag.lock().unwrap_or_else(|e| e.into_inner()) = new,
                    Err(Put::Precondition) => match get(&me, &k).await {
                        // Our own renewal went through, its answer lost: carry on with it.
                        Ok(Some(o)) if o.bytes == body => {
                            *tag.lock().unwrap_or_else(|e| e.into_inner()) = o.etag.unwrap_or_default();
                        }
                        _ => {
                            gone.store(true, Ordering::SeqCst);
                            tracing::warn!("lost the lock {}: another process took it over", me.url_of(&k));
                            return;
                        }
                    },
                    Err(Put::Failed(e)) => tracing::warn!("could not renew the lock {}: {e}", me.url_of(&k)),
                }
            }
        });
        Lease { inner: i, key, etag, lost, renewer, took_over }
    }
}

impl Held for Lease {
    fn took_over(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    fn lost(&self) -> Option<Arc<AtomicBool>> {
        Some(self.lost.clone())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        let (i, key) = (self.inner.clone(), self.key.clone());
        let etag = self.etag.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let released = block(async move {
            // Only if it is still ours: a lock taken over is the new holder's.
            i.client.delete_object().bucket(&i.bucket).key(&key).if_match(etag).send().await.map(drop)
        });
        if let Err(e) = released {
            tracing::debug!("releasing the lock {}: {e}", self.inner.url_of(&self.key));
        }
    }
}

/// Keeps the `Date` of the answer to one call: S3's clock, to judge a lease by.
#[derive(Clone, Debug, Default)]
struct ServerDate(Arc<Mutex<Option<String>>>);

impl ServerDate {
    fn seconds(&self) -> Option<i64> {
        let text = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        jiff::fmt::rfc2822::parse(&text).ok().map(|z| z.timestamp().as_second())
    }
}

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(date.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_date_is_read_as_s3_writes_it() {
        let d = ServerDate(Arc::new(Mutex::new(Some("Sun, 06 Dec 2026 01:27:18 GMT".into()))));
        assert_eq!(d.seconds(), Some(jiff::Timestamp::from_second(1796520438).unwrap().as_second()));
    }
}
