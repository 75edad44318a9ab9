//! The SQS destination: one message per record, body = the record, attributes `severity`,
//! `finding_type`, `account_id`. SendMessageBatch of at most 10 entries within the queue's
//! `MaximumMessageSize` (read once, on first use), batches sent concurrently (bounded).
//! Every response's `Failed` list is read: entries that can succeed are retried through the
//! one retry driver (`crate::retry::drive`), the others reported. FIFO queues get `MessageGroupId` = finding id and
//! `MessageDeduplicationId` = `dedup_key`. A record over the message size is shrunk to fit
//! (`super::oversize`) or refused. Every call (GetQueueAttributes, SendMessageBatch)
//! is bounded by the invocation's remaining time through `crate::budget`.

use std::sync::Arc;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use futures_util::StreamExt;
use tokio::sync::OnceCell;
use tracing::debug;

use super::{BoxFuture, Delivery, DeliveryError, Sink, plan_batches};
use crate::aws::Aws;
use crate::aws_error::explain;
use crate::budget::{Budget, budget};
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, Report, Verdict, drive};

/// SQS's limit on entries per SendMessageBatch.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Batches in flight at once.
const CONCURRENCY: usize = 4;
/// Codes of whole-request failures that another attempt will not fix.
const PERMANENT_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidParameterValue",
    "InvalidAddress",
    "InvalidSecurity",
    "UnsupportedOperation",
    "KmsAccessDenied",
    "KmsDisabled",
    "KmsNotFound",
    "KmsInvalidState",
    "KmsInvalidKeyUsage",
    "BatchRequestTooLong",
    "InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest",
];

struct Ready {
    client: Client,
    max_message_bytes: usize,
}

pub struct SqsSink {
    queue_url: String,
    fifo: bool,
    aws: Option<Arc<Aws>>,
    ready: OnceCell<Ready>,
    backoff: Backoff,
}

impl SqsSink {
    pub fn new(aws: Arc<Aws>, queue_url: String) -> Self {
        SqsSink {
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
            aws: Some(aws),
            ready: OnceCell::new(),
            backoff: Backoff::default(),
        }
    }

    /// A sink over a ready client and a known size limit (tests, or callers that know it).
    pub fn with_client(
        client: Client,
        queue_url: String,
        max_message_bytes: usize,
        backoff: Backoff,
    ) -> Self {
        SqsSink {
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
            aws: None,
            ready: OnceCell::new_with(Some(Ready {
                client,
                max_message_bytes,
            })),
            backoff,
        }
    }

    /// The client and the queue's size limit, fetched on first use.
    async fn ready(&self, deadline: Deadline) -> Result<&Ready, DeliveryError> {
        self.ready
            .get_or_try_init(|| async {
                let aws = self
                    .aws
                    .as_ref()
                    .ok_or_else(|| DeliveryError::Unavailable("no AWS configuration".into()))?;
                // A queue in another region is reached there (its URL names the region).
                let config = aws
                    .config_in(crate::aws::region_of_queue_url(&self.queue_url))
                    .await;
                let client = Client::new(&config);
                let max = queue_max_message_size(&client, &self.queue_url, deadline).await?;
                debug!(message = "SQS queue ready.", queue_url = %self.queue_url, max_message_bytes = max);
                Ok(Ready {
                    client,
                    max_message_bytes: max,
                })
            })
            .await
    }

    /// Checks the queue is reachable; returns its `MaximumMessageSize` (for `check`).
    pub async fn probe(&self) -> Result<usize, DeliveryError> {
        self.ready(Deadline::none())
            .await
            .map(|r| r.max_message_bytes)
    }

    fn attributes(record: &EncodedRecord) -> Vec<(&'static str, String)> {
        let mut attrs = vec![("severity", record.severity_str().to_string())];
        if let Some(t) = record.finding_type.as_deref().filter(|t| !t.is_empty()) {
            attrs.push(("finding_type", t.to_string()));
        }
        if let Some(a) = record.account_id.as_deref().filter(|a| !a.is_empty()) {
            attrs.push(("account_id", a.to_string()));
        }
        attrs
    }

    /// The size SQS counts for a message: body plus each attribute's name, type and value.
    pub fn message_size(record: &EncodedRecord) -> usize {
        record.json.len()
            + Self::attributes(record)
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len())
                .sum::<usize>()
    }

    fn entry(
        &self,
        entry_id: usize,
        record: &EncodedRecord,
    ) -> Result<SendMessageBatchRequestEntry, String> {
        let mut b = SendMessageBatchRequestEntry::builder()
            .id(entry_id.to_string())
            .message_body(record.json.clone());
        for (name, value) in Self::attributes(record) {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())?;
            b = b.message_attributes(name, attr);
        }
        if self.fifo {
            b = b
                .message_group_id(truncate(&record.id, 128))
                .message_deduplication_id(truncate(&record.dedup_key, 128));
        }
        b.build().map_err(|e| e.to_string())
    }

    /// Sends one batch (indices into `records`) through the retry driver until every
    /// entry is delivered or has failed for good.
    async fn send_batch(
        &self,
        ready: &Ready,
        records: &[EncodedRecord],
        batch: Vec<usize>,
        deadline: Deadline,
    ) -> Delivery {
        let driven = drive(&self.backoff, deadline, "sqs", batch, |pending| {
            self.attempt(ready, records, pending, deadline)
        })
        .await;
        let mut delivery = Delivery::default();
        delivery.absorb(driven);
        delivery
    }

    /// One SendMessageBatch over `pending`, read entry by entry: successful entries are
    /// delivered, sender faults failed, the others retried. A whole-request error is
    /// permanent when its code says so.
    async fn attempt(
        &self,
        ready: &Ready,
        records: &[EncodedRecord],
        pending: Vec<usize>,
        deadline: Deadline,
    ) -> Report {
        let mut report = Report::default();
        let mut sent: Vec<usize> = Vec::with_capacity(pending.len());
        let mut entries = Vec::with_capacity(pending.len());
        for i in pending {
            let Some(record) = records.get(i) else {
                continue;
            };
            match self.entry(sent.len(), record) {
                Ok(e) => {
                    entries.push(e);
                    sent.push(i);
                }
                Err(e) => report.verdicts.push((i, Verdict::Failed(e))),
            }
        }
        if entries.is_empty() {
            return report;
        }
        // The driver retries (whole requests and failed entries): the SDK tries once.
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
        let out = match ready
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .customize()
            .config_override(budget.sqs())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let verdict = self.request_failure(&e);
                report
                    .verdicts
                    .extend(Report::all(&sent, &verdict).verdicts);
                return report;
            }
        };
        let slot = |id: &str| id.parse::<usize>().ok().and_then(|s| sent.get(s).copied());
        for f in out.failed() {
            let Some(i) = slot(f.id()) else {
                continue;
            };
            let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
            let verdict = if f.sender_fault() {
                Verdict::Failed(why)
            } else {
                Verdict::Retry(why)
            };
            report.verdicts.push((i, verdict));
        }
        // Read after `Failed`: the driver keeps an entry's first verdict, so an entry named
        // in both lists is not taken as delivered. Entries in neither are retried.
        for ok in out.successful() {
            if let Some(i) = slot(ok.id()) {
                report.verdicts.push((i, Verdict::Delivered));
            }
        }
        report
    }
}

impl SqsSink {
    /// A whole SendMessageBatch that failed: permanent when its code says so.
    fn request_failure<E>(
        &self,
        e: &aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> Verdict
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let why = explain("sqs:SendMessageBatch", Some(&self.queue_url), e);
        if PERMANENT_CODES.contains(&e.code().unwrap_or_default()) {
            Verdict::Failed(why)
        } else {
            Verdict::Retry(why)
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

async fn queue_max_message_size(
    client: &Client,
    queue_url: &str,
    deadline: Deadline,
) -> Result<usize, DeliveryError> {
    let budget = budget(deadline).map_err(|e| {
        DeliveryError::Unavailable(format!("sqs:GetQueueAttributes on {queue_url}: {e}"))
    })?;
    let out = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::MaximumMessageSize)
        .customize()
        .config_override(budget.sqs())
        .send()
        .await
        .map_err(|e| {
            DeliveryError::Unavailable(explain("sqs:GetQueueAttributes", Some(queue_url), &e))
        })?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(262_144))
}

impl Sink for SqsSink {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let ready = match self.ready(deadline).await {
                Ok(r) => r,
                Err(e) => return Delivery::all_failed(records.len(), e),
            };
            let mut delivery = Delivery::default();
            // Records over the queue's message size are shrunk to fit (see
            // `super::oversize`); those that cannot fit stay over and are refused below.
            let (shrunk, count) = super::oversize::fit_each(
                records,
                ready.max_message_bytes,
                |r| Self::message_size(r) - r.json.len(),
                "sqs",
            );
            delivery.shrunk = count;
            let records: &[EncodedRecord] = shrunk.as_deref().unwrap_or(records);
            let sizes: Vec<usize> = records.iter().map(Self::message_size).collect();
            let (batches, oversize) =
                plan_batches(&sizes, 0, ready.max_message_bytes, MAX_BATCH_ENTRIES);
            for i in oversize {
                delivery.failed.push((
                    i,
                    DeliveryError::Oversize {
                        size: sizes[i],
                        limit: ready.max_message_bytes,
                    },
                ));
            }
            let mut results = futures_util::stream::iter(batches)
                .map(|batch| self.send_batch(ready, records, batch, deadline))
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
    use std::time::Duration;

    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn records(n: usize) -> Vec<EncodedRecord> {
        (0..n)
            .map(|i| EncodedRecord {
                id: format!("f{i}"),
                dedup_key: format!("f{i}:t"),
                severity: None,
                finding_type: None,
                account_id: None,
                json: format!("{{\"id\":\"f{i}\"}}"),
                ..EncodedRecord::default()
            })
            .collect()
    }

    fn ok(id: &str) -> SendMessageBatchResultEntry {
        SendMessageBatchResultEntry::builder()
            .id(id)
            .message_id(format!("m-{id}"))
            .md5_of_message_body("x")
            .build()
            .unwrap()
    }

    fn failed(id: &str, code: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .code(code)
            .sender_fault(sender_fault)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn each_entry_of_the_answer_is_judged_delivered_failed_for_good_or_sent_again() {
        // Entry 0 delivered, 1 a sender fault, 2 a service fault, 3 in neither list.
        let first = mock!(Client::send_message_batch)
            .match_requests(|r| r.entries().len() == 4)
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .set_successful(Some(vec![ok("0")]))
                    .set_failed(Some(vec![
                        failed("1", "InvalidMessageContents", true),
                        failed("2", "InternalError", false),
                    ]))
                    .build()
                    .unwrap()
            });
        let again = mock!(Client::send_message_batch)
            .match_requests(|r| r.entries().len() == 2)
            .then_output(|| {
                SendMessageBatchOutput::builder()
                    .set_successful(Some(vec![ok("0"), ok("1")]))
                    .set_failed(Some(vec![]))
                    .build()
                    .unwrap()
            });
        let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&first, &again]);
        let backoff = Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 3,
        };
        let sink = SqsSink::with_client(client, "https://sqs/q".into(), 262_144, backoff);
        let delivery = sink.deliver(&records(4), Deadline::none()).await;
        let failed: Vec<usize> = delivery.failed.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [1], "{:?}", delivery.failed);
        assert!(
            matches!(&delivery.failed[0].1, DeliveryError::Rejected(w) if w.contains("InvalidMessageContents"))
        );
        assert_eq!(delivery.retries, 2, "entries 2 and 3 sent once more");
        assert_eq!((first.num_calls(), again.num_calls()), (1, 1));
    }
}
