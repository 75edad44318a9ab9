//! The dead-letter queue through SQS: receive (hiding messages while they are looked at),
//! delete, and make visible again. Every batch call's per-entry failures are looked at.
//! Every call is bounded by the queue's deadline through `crate::budget` (the CLI has none:
//! each call then takes at most the budget's own bound), and a failure reads as one line
//! (`crate::aws_error`).

use std::collections::BTreeMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::aws::{Aws, region_of_queue_url};
use crate::aws_error::explain;
use crate::budget::{Budget, budget};
use crate::retry::Deadline;

/// SQS's limit of entries per batch call and messages per receive.
const BATCH: usize = 10;

/// Why the queue could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// `detail` names the action and the queue.
    #[error("{detail}")]
    Sqs {
        operation: &'static str,
        queue: String,
        detail: String,
    },
    #[error("{operation} on {queue}: the request could not be built: {detail}")]
    Request {
        operation: &'static str,
        queue: String,
        detail: String,
    },
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// Message attributes with a String value.
    pub attributes: BTreeMap<String, String>,
    /// `SentTimestamp` as RFC 3339.
    pub sent_at: Option<String>,
    /// `ApproximateReceiveCount`.
    pub receive_count: Option<u64>,
}

/// A message whose batch entry failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    pub message_id: String,
    pub reason: String,
}

pub struct Queue {
    client: Client,
    url: String,
    deadline: Deadline,
}

/// What the queue holds, by SQS's approximate counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `ApproximateNumberOfMessages`: visible, ready to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received by someone and not yet deleted or
    /// made visible again (in flight).
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

impl Queue {
    /// A client for `url`, in the queue's own region when the URL names one.
    pub async fn new(aws: &Aws, url: String) -> Queue {
        let config = aws.config_in(region_of_queue_url(&url)).await;
        Queue {
            client: Client::new(&config),
            url,
            deadline: Deadline::none(),
        }
    }

    /// A queue read through `client` as given (the SDK's mock layer, in unit tests).
    #[cfg(test)]
    pub(crate) fn with_client(client: Client, url: &str) -> Queue {
        Queue {
            client,
            url: url.to_string(),
            deadline: Deadline::none(),
        }
    }

    /// Every call made from now on ends before `deadline`.
    pub fn with_deadline(mut self, deadline: Deadline) -> Queue {
        self.deadline = deadline;
        self
    }

    fn budget(&self, operation: &'static str) -> Result<Budget, QueueError> {
        budget(self.deadline).map_err(|e| QueueError::Sqs {
            operation,
            queue: self.url.clone(),
            detail: format!("sqs:{operation} on {}: {e}", self.url),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn sqs_error<E>(&self, operation: &'static str, e: &SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        QueueError::Sqs {
            operation,
            queue: self.url.clone(),
            detail: explain(&format!("sqs:{operation}"), Some(&self.url), e),
        }
    }

    fn request_error(&self, operation: &'static str, e: impl std::fmt::Display) -> QueueError {
        QueueError::Request {
            operation,
            queue: self.url.clone(),
            detail: e.to_string(),
        }
    }

    /// `ApproximateNumberOfMessages`, when the queue says.
    pub async fn approximate_count(&self) -> Option<u64> {
        self.counts().await.ok().map(|c| c.visible)
    }

    /// The queue's approximate counts: visible, in flight, delayed.
    pub async fn counts(&self) -> Result<Counts, QueueError> {
        let budget = self.budget("GetQueueAttributes")?;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .customize()
            .config_override(budget.sqs())
            .send()
            .await
            .map_err(|e| self.sqs_error("GetQueueAttributes", &e))?;
        let get = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Counts {
            visible: get(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    /// Receives up to `max` (at most 10) messages, hidden from others for `hide_seconds`.
    /// An empty answer after a one-second wait means the queue has nothing visible left.
    pub async fn receive(
        &self,
        max: usize,
        hide_seconds: i32,
    ) -> Result<Vec<Received>, QueueError> {
        let budget = self.budget("ReceiveMessage")?;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, BATCH) as i32)
            .visibility_timeout(hide_seconds)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(budget.sqs())
            .send()
            .await
            .map_err(|e| self.sqs_error("ReceiveMessage", &e))?;
        let mut received = Vec::new();
        for m in out.messages() {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            let attributes = m
                .message_attributes()
                .map(|attrs| {
                    attrs
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let system = m.attributes();
            let system_value = |name: MessageSystemAttributeName| {
                system
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<i64>().ok())
            };
            received.push(Received {
                message_id: id.to_string(),
                receipt_handle: handle.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                attributes,
                sent_at: system_value(MessageSystemAttributeName::SentTimestamp)
                    .map(crate::clock::format_ms),
                receive_count: system_value(MessageSystemAttributeName::ApproximateReceiveCount)
                    .map(|n| n.max(0) as u64),
            });
        }
        Ok(received)
    }

    /// Deletes these messages; the ones SQS did not delete, and why.
    pub async fn delete(&self, messages: &[&Received]) -> Result<Vec<EntryFailure>, QueueError> {
        let mut failures = Vec::new();
        for chunk in messages.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .build()
                    .map_err(|e| self.request_error("DeleteMessageBatch", e))?;
                entries.push(entry);
            }
            let budget = self.budget("DeleteMessageBatch")?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .customize()
                .config_override(budget.sqs())
                .send()
                .await
                .map_err(|e| self.sqs_error("DeleteMessageBatch", &e))?;
            failures.extend(entry_failures(chunk, out.failed()));
        }
        Ok(failures)
    }

    /// Makes these messages visible again at once; the ones SQS did not change, and why (they
    /// come back by themselves when their visibility timeout ends).
    pub async fn release(&self, messages: &[&Received]) -> Result<Vec<EntryFailure>, QueueError> {
        let mut failures = Vec::new();
        for chunk in messages.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, m) in chunk.iter().enumerate() {
                let entry = ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .visibility_timeout(0)
                    .build()
                    .map_err(|e| self.request_error("ChangeMessageVisibilityBatch", e))?;
                entries.push(entry);
            }
            let budget = self.budget("ChangeMessageVisibilityBatch")?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .customize()
                .config_override(budget.sqs())
                .send()
                .await
                .map_err(|e| self.sqs_error("ChangeMessageVisibilityBatch", &e))?;
            failures.extend(entry_failures(chunk, out.failed()));
        }
        Ok(failures)
    }
}

fn entry_failures(
    chunk: &[&Received],
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
) -> Vec<EntryFailure> {
    failed
        .iter()
        .map(|f| {
            let message_id = f
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| chunk.get(i))
                .map_or_else(|| format!("(entry {})", f.id()), |m| m.message_id.clone());
            EntryFailure {
                message_id,
                reason: format!("{}: {}", f.code(), f.message().unwrap_or_default()),
            }
        })
        .collect()
}
