//! The Amazon S3 destination (`S3_BUCKET`, `S3_PREFIX`, `S3_KMS_KEY_ID`): an archive Athena
//! can query. Each `deliver` call writes one gzip NDJSON object per partition its records fall
//! in (one per invocation on the push path, one per delivered page on the backfill), at
//!
//! `PREFIX/account=<id>/region=<region>/dt=<YYYY-MM-DD>/<unique>.ndjson.gz`
//!
//! where `account` and `region` are the finding's, and `dt` is the UTC day of the finding's
//! `updatedAt` (so every version of a finding lands in the day it changed, and a backfill of
//! last week's findings fills last week's partitions); a finding without a readable
//! `updatedAt` goes to the day it was received. A value that cannot be a key segment
//! (an account that is not 12 digits, a region that is not a region name) is written as
//! `unknown`.
//!
//! Invariants:
//! - An object is never overwritten: its name is the time and 128 random bits, and every
//!   PutObject carries `If-None-Match: *`, so S3 refuses (412) to replace an existing key;
//!   a refused key is never retried, the next attempt picks a new one.
//! - Each object holds its partition's records, one JSON record per line, in the order given,
//!   gzip-compressed; the records of an object are delivered or failed together.
//! - Attempts, waits and the deadline are the retry driver's (`crate::retry::drive`); a
//!   refusal another attempt cannot change (the bucket missing, access or the KMS key denied)
//!   fails the records at once, naming the bucket and S3's answer. An attempt whose answer was
//!   lost may have written its object: the next attempt writes another (at least once).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{BoxFuture, Delivery, DeliveryError, Sink};
use crate::aws::Aws;
use crate::aws::s3::{S3Client, S3Error};
use crate::config::S3Destination;
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, Report, Verdict, drive};

/// Objects being written at once.
const CONCURRENCY: usize = 4;
/// The longest one PutObject may take.
const PUT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a record is written: its account, region and day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub account: String,
    pub region: String,
    /// `YYYY-MM-DD`.
    pub day: String,
}

impl Partition {
    /// The object key's folder: `account=…/region=…/dt=…/`.
    pub fn folder(&self) -> String {
        format!(
            "account={}/region={}/dt={}/",
            self.account, self.region, self.day
        )
    }
}

pub struct S3Sink {
    destination: S3Destination,
    aws: Option<Arc<Aws>>,
    /// Built on first use; replaced by one in the bucket's region when S3 names another.
    client: Mutex<Option<Arc<S3Client>>>,
    backoff: Backoff,
}

impl S3Sink {
    pub fn new(aws: Arc<Aws>, destination: S3Destination) -> Self {
        S3Sink {
            destination,
            aws: Some(aws),
            client: Mutex::new(None),
            backoff: Backoff::default(),
        }
    }

    async fn client(&self) -> Result<Arc<S3Client>, S3Error> {
        if let Some(c) = self.client.lock().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let aws = self.aws.as_ref().ok_or(S3Error::NoRegion)?;
        let client = Arc::new(S3Client::new(aws.config().await, &self.destination.bucket)?);
        if let Ok(mut slot) = self.client.lock() {
            slot.get_or_insert_with(|| client.clone());
        }
        Ok(client)
    }

    /// S3 said the bucket is in `region`: later requests go there.
    fn move_to(&self, client: &S3Client, region: &str) {
        tracing::info!(message = "The S3 destination's bucket is in another region.",
                       bucket = %self.destination.bucket, region = %region, configured = %client.region());
        if let Ok(mut slot) = self.client.lock() {
            *slot = Some(Arc::new(client.in_region(region)));
        }
    }

    /// A new key in `partition`'s folder.
    fn key(&self, partition: &Partition) -> String {
        format!(
            "{}{}{}.ndjson.gz",
            self.destination.key_prefix(),
            partition.folder(),
            unique_name()
        )
    }

    /// The headers of every PutObject: never replace, and SSE-KMS when a key is set.
    fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![("content-type", "application/gzip"), ("if-none-match", "*")];
        if let Some(key) = &self.destination.kms_key_id {
            headers.push(("x-amz-server-side-encryption", "aws:kms"));
            headers.push(("x-amz-server-side-encryption-aws-kms-key-id", key));
        }
        headers
    }

    /// Checks the caller may write under the prefix, without writing: a PutObject whose
    /// `Content-MD5` does not match its body is authorized first and then refused as
    /// `BadDigest`. For `check`.
    pub async fn probe(&self) -> Result<String, DeliveryError> {
        let client = self.client().await.map_err(unavailable)?;
        let key = format!(
            "{}_guardduty-forwarder-check/{}",
            self.destination.key_prefix(),
            unique_name()
        );
        let mut headers = self.headers();
        // The MD5 of "no", sent with the body "ok".
        headers.push(("content-md5", "f6O3Z8RgtUor5NSQMLNJxw=="));
        let written = format!(
            "s3://{}/{}",
            self.destination.bucket,
            self.destination.key_prefix()
        );
        match client
            .put(&key, &headers, Bytes::from_static(b"ok"), PUT_TIMEOUT)
            .await
        {
            Ok(()) => Ok(format!(
                "{written}: writable (S3 did not check the probe's digest; {key} was written)"
            )),
            Err(S3Error::Service {
                status: 400, code, ..
            }) if code == "BadDigest" || code == "InvalidDigest" => {
                Ok(format!("{written}: s3:PutObject allowed (nothing written)"))
            }
            Err(e) => Err(DeliveryError::Unavailable(format!(
                "s3:PutObject on {written}: {e}"
            ))),
        }
    }

    /// Writes one partition's records (indices into `records`) through the retry driver.
    async fn write(
        &self,
        records: &[EncodedRecord],
        partition: Partition,
        items: Vec<usize>,
        deadline: Deadline,
    ) -> Delivery {
        let driven = drive(&self.backoff, deadline, "s3", items, |pending| {
            self.attempt(records, &partition, pending, deadline)
        })
        .await;
        let mut delivery = Delivery::default();
        delivery.absorb(driven);
        delivery
    }

    /// One PutObject of `pending`'s records, under a new key.
    async fn attempt(
        &self,
        records: &[EncodedRecord],
        partition: &Partition,
        pending: Vec<usize>,
        deadline: Deadline,
    ) -> Report {
        let verdict = match self.put(records, partition, &pending, deadline).await {
            Ok(()) => Verdict::Delivered,
            Err(verdict) => verdict,
        };
        Report::all(&pending, &verdict)
    }

    async fn put(
        &self,
        records: &[EncodedRecord],
        partition: &Partition,
        pending: &[usize],
        deadline: Deadline,
    ) -> Result<(), Verdict> {
        let body = ndjson_gzip(pending.iter().filter_map(|&i| records.get(i)))
            .map_err(|e| Verdict::Failed(format!("gzip: {e}")))?;
        let client = self
            .client()
            .await
            .map_err(|e| Verdict::Retry(e.to_string()))?;
        let key = self.key(partition);
        let headers = self.headers();
        let result = client
            .put(&key, &headers, body, deadline.clamp(PUT_TIMEOUT))
            .await;
        let Err(e) = result else {
            return Ok(());
        };
        if let S3Error::WrongRegion { region } = &e {
            self.move_to(&client, region);
        }
        let why = format!(
            "s3:PutObject on s3://{}/{key}: {e}",
            self.destination.bucket
        );
        Err(if is_permanent(&e) {
            Verdict::Failed(why)
        } else {
            Verdict::Retry(why)
        })
    }
}

fn unavailable(e: S3Error) -> DeliveryError {
    DeliveryError::Unavailable(e.to_string())
}

/// Whether another attempt cannot help: the bucket missing, access or the KMS key denied, a
/// request S3 finds malformed. Throttling (503 SlowDown), server errors, a key taken (412,
/// retried under a new key), a conditional write in conflict (409) and a moved bucket are
/// worth another attempt.
fn is_permanent(e: &S3Error) -> bool {
    match e {
        S3Error::Service { status, .. } => {
            !crate::retry::is_retryable_status(*status) && !matches!(status, 409 | 412)
        }
        S3Error::Signing(_) | S3Error::BadUrl(_) => true,
        _ => false,
    }
}

/// `records` as gzip NDJSON: each record's JSON and a newline.
pub fn ndjson_gzip<'a>(records: impl Iterator<Item = &'a EncodedRecord>) -> std::io::Result<Bytes> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for r in records {
        gz.write_all(r.json.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    Ok(Bytes::from(gz.finish()?))
}

/// The object's name: the UTC time to the second, then 128 random bits (as a UUID is
/// written), so names sort by time and two writers never pick the same one.
fn unique_name() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let now = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "00000000T000000Z".into());
    let r = fastrand::u128(..);
    format!(
        "{now}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (r >> 96) as u32,
        (r >> 80) as u16,
        (r >> 64) as u16,
        (r >> 48) as u16,
        r & 0xffff_ffff_ffff
    )
}

/// The finding's own identifiers, wherever the schema keeps the finding as AWS published it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Raw {
    account_id: Option<String>,
    region: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize, Default)]
struct Unmapped {
    raw_event: Option<Raw>,
}

#[derive(Deserialize, Default)]
struct Fields {
    /// Native records.
    raw_event: Option<Raw>,
    /// OCSF records.
    unmapped: Option<Unmapped>,
}

/// Where `record` is written; `received_day` (`YYYY-MM-DD`) when its `updatedAt` is not a
/// timestamp. Reads the raw finding (kept by both schemas, and by a record shrunk to fit).
pub fn partition_of(record: &EncodedRecord, received_day: &str) -> Partition {
    let fields: Fields = serde_json::from_str(&record.json).unwrap_or_default();
    let raw = fields
        .raw_event
        .or_else(|| fields.unmapped.and_then(|u| u.raw_event))
        .unwrap_or_default();
    let account = raw.account_id.or_else(|| record.account_id.clone());
    Partition {
        account: account
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| "unknown".into()),
        region: raw
            .region
            .filter(|r| is_region(r))
            .unwrap_or_else(|| "unknown".into()),
        day: raw
            .updated_at
            .as_deref()
            .and_then(day_of)
            .unwrap_or_else(|| received_day.to_string()),
    }
}

fn is_region(r: &str) -> bool {
    (1..=32).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The UTC day (`YYYY-MM-DD`) of an RFC 3339 timestamp, when it is one.
fn day_of(timestamp: &str) -> Option<String> {
    let ms = crate::clock::epoch_ms(timestamp)?;
    crate::clock::format_ms(ms).get(..10).map(str::to_string)
}

/// Today, UTC, `YYYY-MM-DD`.
fn today() -> String {
    crate::clock::now_rfc3339().chars().take(10).collect()
}

impl Sink for S3Sink {
    fn name(&self) -> &'static str {
        "s3"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let today = today();
            let mut partitions: BTreeMap<Partition, Vec<usize>> = BTreeMap::new();
            for (i, r) in records.iter().enumerate() {
                partitions
                    .entry(partition_of(r, &today))
                    .or_default()
                    .push(i);
            }
            let mut delivery = Delivery::default();
            let mut results = futures_util::stream::iter(partitions)
                .map(|(partition, items)| self.write(records, partition, items, deadline))
                .buffer_unordered(CONCURRENCY);
            while let Some(d) = results.next().await {
                delivery.failed.extend(d.failed);
                delivery.retries += d.retries;
            }
            delivery
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn record(json: serde_json::Value) -> EncodedRecord {
        EncodedRecord {
            id: "f1".into(),
            dedup_key: "f1:t".into(),
            severity: None,
            finding_type: None,
            account_id: Some("123456789012".into()),
            json: json.to_string(),
            ..EncodedRecord::default()
        }
    }

    #[test]
    fn a_native_or_ocsf_record_is_placed_by_its_findings_account_region_and_updated_day() {
        let raw = serde_json::json!({"accountId": "111122223333", "region": "eu-west-1",
                                     "updatedAt": "2026-11-30T23:59:59.999Z"});
        let want = Partition {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            day: "2026-11-30".into(),
        };
        let native = record(serde_json::json!({"id": "f1", "raw_event": raw}));
        let ocsf = record(serde_json::json!({"unmapped": {"raw_event": raw}}));
        assert_eq!(partition_of(&native, "2026-12-06"), want);
        assert_eq!(partition_of(&ocsf, "2026-12-06"), want);
        assert_eq!(
            want.folder(),
            "account=111122223333/region=eu-west-1/dt=2026-11-30/"
        );
    }

    #[test]
    fn what_cannot_be_a_key_segment_is_written_as_unknown_or_the_day_received() {
        let odd = record(serde_json::json!({"raw_event": {
            "accountId": "../../etc", "region": "us east/1", "updatedAt": "yesterday"}}));
        assert_eq!(
            partition_of(&odd, "2026-12-06"),
            Partition {
                account: "unknown".into(),
                region: "unknown".into(),
                day: "2026-12-06".into()
            }
        );
        let offset = record(serde_json::json!({"raw_event": {
            "accountId": "111122223333", "region": "us-east-1",
            "updatedAt": "2026-11-30T23:00:00-02:00"}}));
        assert_eq!(partition_of(&offset, "2026-12-06").day, "2026-12-01");
        let not_json = EncodedRecord {
            json: "{".into(),
            ..odd
        };
        assert_eq!(
            partition_of(&not_json, "2026-12-06").account,
            "123456789012"
        );
    }

    #[test]
    fn an_object_is_its_records_one_per_line_gzipped() {
        let a = record(serde_json::json!({"id": "a"}));
        let b = record(serde_json::json!({"id": "b"}));
        let body = ndjson_gzip([&a, &b].into_iter()).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    }

    #[test]
    fn names_are_unique_and_sort_by_time() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261206T103000Z-".len() + 36, "{a}");
    }

    #[test]
    fn a_refusal_is_permanent_and_throttling_a_taken_key_or_a_moved_bucket_are_not() {
        let service = |status, code: &str| S3Error::Service {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(is_permanent(&service(403, "AccessDenied")));
        assert!(is_permanent(&service(404, "NoSuchBucket")));
        assert!(is_permanent(&service(400, "KMS.NotFoundException")));
        assert!(!is_permanent(&service(503, "SlowDown")));
        assert!(!is_permanent(&service(412, "PreconditionFailed")));
        assert!(!is_permanent(&service(409, "ConditionalRequestConflict")));
        assert!(!is_permanent(&S3Error::WrongRegion {
            region: "eu-west-1".into()
        }));
        assert!(!is_permanent(&S3Error::Request("reset".into())));
    }
}
