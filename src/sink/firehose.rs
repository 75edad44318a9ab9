//! The Amazon Data Firehose destination (`FIREHOSE_STREAM_NAME`, a stream name or ARN): one
//! Firehose record per finding record, its data the record's JSON and a newline (so S3,
//! Splunk and the other Firehose destinations see one JSON object per line).
//!
//! Limits, from the PutRecordBatch documentation, all held by every call:
//! - at most [`MAX_BATCH_RECORDS`] (500) records and 4 MB per call, counted on the request
//!   as sent — each record's data base64-encoded inside its JSON member — against
//!   [`MAX_BATCH_BYTES`] (4,000,000: the documentation says "4 MB for the entire request",
//!   so neither the MiB reading nor the data before base64 is relied on);
//! - at most [`MAX_RECORD_BYTES`] (1,000 KiB) per record, before base64: a larger record is
//!   shrunk to fit (`super::oversize`) or refused as oversize.
//!
//! What a 200 means: PutRecordBatch answers 200 with `FailedPutCount` and one entry per
//! record, in order, each with a `RecordId` or an `ErrorCode`
//! (`ServiceUnavailableException`, `InternalFailure`, a KMS error). Every entry is read:
//! those that failed are resent through the one retry driver (`crate::retry::drive`), only
//! those, until delivered or out of attempts or time; a record whose entry is missing from
//! the answer is resent too, never counted delivered. A whole-request error is permanent
//! when its code says so (the stream missing, access denied, an invalid argument).

use std::sync::Arc;

use aws_sdk_firehose::Client;
use aws_sdk_firehose::error::ProvideErrorMetadata;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use super::{BoxFuture, Delivery, DeliveryError, Sink, plan_subset};
use crate::aws::Aws;
use crate::aws_error::explain;
use crate::budget::{Budget, budget};
use crate::config::FirehoseStream as Stream;
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, Report, Verdict, drive};

/// Records per PutRecordBatch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// One PutRecordBatch request's records as sent (base64 data in their JSON members).
pub const MAX_BATCH_BYTES: usize = 4_000_000;
/// The JSON around one record's base64 data in the request: `{"Data":""},`.
const RECORD_OVERHEAD: usize = 12;
/// The JSON around the records: the stream name member and the brackets.
const REQUEST_OVERHEAD: usize = 256;
/// Data per record, before base64.
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
/// Batches in flight at once.
const CONCURRENCY: usize = 4;
/// Codes of whole-request failures that another attempt will not fix.
const PERMANENT_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "InvalidArgumentException",
    "AccessDeniedException",
    "AccessDenied",
    "InvalidKMSResourceException",
    "InvalidSourceException",
    "ValidationException",
    "UnrecognizedClientException",
];
/// Per-record error codes that another attempt will not fix (KMS refusing the stream's key).
const PERMANENT_RECORD_CODES: &[&str] = &[
    "KMS.AccessDeniedException",
    "KMS.DisabledException",
    "KMS.InvalidStateException",
    "KMS.NotFoundException",
    "KMS.OptInRequired",
];

pub struct FirehoseSink {
    stream: Stream,
    aws: Option<Arc<Aws>>,
    client: OnceCell<Client>,
    backoff: Backoff,
}

impl FirehoseSink {
    pub fn new(aws: Arc<Aws>, stream: Stream) -> Self {
        FirehoseSink {
            stream,
            aws: Some(aws),
            client: OnceCell::new(),
            backoff: Backoff::default(),
        }
    }

    /// A sink over a ready client (tests).
    pub fn with_client(client: Client, stream: Stream, backoff: Backoff) -> Self {
        FirehoseSink {
            stream,
            aws: None,
            client: OnceCell::new_with(Some(client)),
            backoff,
        }
    }

    async fn client(&self) -> Result<&Client, DeliveryError> {
        self.client
            .get_or_try_init(|| async {
                let aws = self
                    .aws
                    .as_ref()
                    .ok_or_else(|| DeliveryError::Unavailable("no AWS configuration".into()))?;
                let config = aws.config_in(self.stream.region.as_deref()).await;
                Ok(Client::new(&config))
            })
            .await
    }

    /// Checks the stream exists and is active (DescribeDeliveryStream), for `check`:
    /// returns its status.
    pub async fn probe(&self) -> Result<String, DeliveryError> {
        let client = self.client().await?;
        let budget =
            budget(Deadline::none()).map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
        let out = client
            .describe_delivery_stream()
            .delivery_stream_name(&self.stream.name)
            .customize()
            .config_override(budget.firehose())
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Unavailable(explain(
                    "firehose:DescribeDeliveryStream",
                    Some(&self.stream.name),
                    &e,
                ))
            })?;
        Ok(out
            .delivery_stream_description()
            .map(|d| d.delivery_stream_status().as_str().to_string())
            .unwrap_or_default())
    }

    /// Sends one batch (indices into `records`) through the retry driver.
    async fn send_batch(
        &self,
        client: &Client,
        records: &[EncodedRecord],
        batch: Vec<usize>,
        deadline: Deadline,
    ) -> Delivery {
        let driven = drive(&self.backoff, deadline, "firehose", batch, |pending| {
            self.attempt(client, records, pending, deadline)
        })
        .await;
        let mut delivery = Delivery::default();
        delivery.absorb(driven);
        delivery
    }

    /// One PutRecordBatch over `pending`, read entry by entry.
    async fn attempt(
        &self,
        client: &Client,
        records: &[EncodedRecord],
        pending: Vec<usize>,
        deadline: Deadline,
    ) -> Report {
        let mut report = Report::default();
        let mut sent = Vec::with_capacity(pending.len());
        let mut batch = Vec::with_capacity(pending.len());
        for i in pending {
            let Some(record) = records.get(i) else {
                continue;
            };
            match Record::builder().data(Blob::new(data(record))).build() {
                Ok(r) => {
                    batch.push(r);
                    sent.push(i);
                }
                Err(e) => report.verdicts.push((i, Verdict::Failed(e.to_string()))),
            }
        }
        if batch.is_empty() {
            return report;
        }
        let budget = match budget(deadline).map(Budget::single_attempt) {
            Ok(b) => b,
            Err(e) => {
                let verdict = Verdict::Retry(e.to_string());
                report
                    .verdicts
                    .extend(Report::all(&sent, &verdict).verdicts);
                return report;
            }
        };
        let out = match client
            .put_record_batch()
            .delivery_stream_name(&self.stream.name)
            .set_records(Some(batch))
            .customize()
            .config_override(budget.firehose())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let why = explain("firehose:PutRecordBatch", Some(&self.stream.name), &e);
                let verdict = if PERMANENT_CODES.contains(&e.code().unwrap_or_default()) {
                    Verdict::Failed(why)
                } else {
                    Verdict::Retry(why)
                };
                report
                    .verdicts
                    .extend(Report::all(&sent, &verdict).verdicts);
                return report;
            }
        };
        report
            .verdicts
            .extend(read_answer(&sent, out.request_responses()));
        report
    }
}

/// What `n` bytes of record data cost in the request: base64 and the record's JSON member.
fn request_cost(n: usize) -> usize {
    n.div_ceil(3) * 4 + RECORD_OVERHEAD
}

/// A record's Firehose data: its JSON and a newline.
fn data(record: &EncodedRecord) -> Vec<u8> {
    let mut data = Vec::with_capacity(record.json.len() + 1);
    data.extend_from_slice(record.json.as_bytes());
    data.push(b'\n');
    data
}

/// The verdict on each sent record from PutRecordBatch's answer, entry `n` answering the
/// `n`th record sent. An entry with an error code failed (retried unless the code says
/// another attempt cannot help); one with a record id was delivered; a record the answer has
/// no entry for is retried.
fn read_answer(
    sent: &[usize],
    entries: &[aws_sdk_firehose::types::PutRecordBatchResponseEntry],
) -> Vec<(usize, Verdict)> {
    sent.iter()
        .enumerate()
        .map(|(n, &i)| {
            let verdict = match entries.get(n) {
                Some(e) if e.error_code().is_some() => {
                    let code = e.error_code().unwrap_or_default();
                    let why = format!("{code}: {}", e.error_message().unwrap_or_default());
                    if PERMANENT_RECORD_CODES.contains(&code) {
                        Verdict::Failed(why)
                    } else {
                        Verdict::Retry(why)
                    }
                }
                Some(e) if e.record_id().is_some_and(|id| !id.is_empty()) => Verdict::Delivered,
                _ => Verdict::Retry("the answer held no entry for this record".into()),
            };
            (i, verdict)
        })
        .collect()
}

impl Sink for FirehoseSink {
    fn name(&self) -> &'static str {
        "firehose"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let client = match self.client().await {
                Ok(c) => c,
                Err(e) => return Delivery::all_failed(records.len(), e),
            };
            let mut delivery = Delivery::default();
            // The data is the record and a newline.
            let (shrunk, count) =
                super::oversize::fit_each(records, MAX_RECORD_BYTES, |_| 1, "firehose");
            delivery.shrunk = count;
            let records: &[EncodedRecord] = shrunk.as_deref().unwrap_or(records);
            let sizes: Vec<usize> = records.iter().map(|r| r.json.len() + 1).collect();
            let (fits, over): (Vec<usize>, Vec<usize>) =
                (0..records.len()).partition(|&i| sizes[i] <= MAX_RECORD_BYTES);
            for i in over {
                delivery.failed.push((
                    i,
                    DeliveryError::Oversize {
                        size: sizes[i],
                        limit: MAX_RECORD_BYTES,
                    },
                ));
            }
            let costs: Vec<usize> = sizes.iter().map(|&n| request_cost(n)).collect();
            let (batches, _) = plan_subset(
                &fits,
                &costs,
                REQUEST_OVERHEAD,
                MAX_BATCH_BYTES,
                MAX_BATCH_RECORDS,
            );
            let mut results = futures_util::stream::iter(batches)
                .map(|batch| self.send_batch(client, records, batch, deadline))
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
    use aws_sdk_firehose::types::PutRecordBatchResponseEntry as Entry;

    fn ok(id: &str) -> Entry {
        Entry::builder().record_id(id).build()
    }

    fn failed(code: &str) -> Entry {
        Entry::builder()
            .error_code(code)
            .error_message("injected")
            .build()
    }

    #[test]
    fn each_answer_entry_judges_the_record_sent_in_its_place() {
        let verdicts = read_answer(
            &[7, 3, 9, 4],
            &[
                ok("r1"),
                failed("ServiceUnavailableException"),
                failed("KMS.AccessDeniedException"),
                ok(""),
            ],
        );
        assert!(matches!(verdicts[0], (7, Verdict::Delivered)));
        assert!(
            matches!(&verdicts[1], (3, Verdict::Retry(w)) if w.starts_with("ServiceUnavailableException"))
        );
        assert!(matches!(&verdicts[2], (9, Verdict::Failed(w)) if w.contains("KMS.AccessDenied")));
        assert!(
            matches!(verdicts[3], (4, Verdict::Retry(_))),
            "an entry with neither a record id nor an error is no delivery"
        );
    }

    #[test]
    fn a_record_the_answer_has_no_entry_for_is_retried_never_counted_delivered() {
        let verdicts = read_answer(&[0, 1, 2], &[ok("a")]);
        assert!(matches!(verdicts[0], (0, Verdict::Delivered)));
        assert!(matches!(verdicts[1], (1, Verdict::Retry(_))));
        assert!(matches!(verdicts[2], (2, Verdict::Retry(_))));
        assert_eq!(verdicts.len(), 3);
    }

    #[test]
    fn a_records_request_cost_is_its_base64_size_and_member() {
        assert_eq!(request_cost(0), RECORD_OVERHEAD);
        assert_eq!(request_cost(1), 4 + RECORD_OVERHEAD);
        assert_eq!(request_cost(3), 4 + RECORD_OVERHEAD);
        assert_eq!(request_cost(4), 8 + RECORD_OVERHEAD);
        // The largest record fits a request on its own.
        assert!(request_cost(MAX_RECORD_BYTES) + REQUEST_OVERHEAD <= MAX_BATCH_BYTES);
    }

    proptest::proptest! {
        #[test]
        fn every_planned_request_holds_firehoses_limits(
            sizes in proptest::collection::vec(1usize..MAX_RECORD_BYTES, 0..40),
            small in 0usize..2000,
        ) {
            // Many small records beside a few large ones: both limits get reached.
            let mut sizes = sizes;
            sizes.extend(std::iter::repeat_n(50, small));
            let costs: Vec<usize> = sizes.iter().map(|&n| request_cost(n)).collect();
            let all: Vec<usize> = (0..sizes.len()).collect();
            let (batches, over) =
                plan_subset(&all, &costs, REQUEST_OVERHEAD, MAX_BATCH_BYTES, MAX_BATCH_RECORDS);
            proptest::prop_assert!(over.is_empty());
            let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
            seen.sort_unstable();
            proptest::prop_assert_eq!(seen, all, "every record in exactly one request");
            for b in &batches {
                proptest::prop_assert!(b.len() <= MAX_BATCH_RECORDS);
                let bytes: usize = b.iter().map(|&i| costs[i]).sum::<usize>() + REQUEST_OVERHEAD;
                proptest::prop_assert!(bytes <= MAX_BATCH_BYTES, "{} bytes", bytes);
            }
        }
    }
}
