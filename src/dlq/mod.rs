//! The dead-letter queue for operators: `dlq list` shows what it holds, `redrive` sends the
//! findings in it on through the configured destinations. [`message`] reads the four
//! shapes (pure); [`queue`] talks to SQS; `redrive` decides what is sent where and deleted.
//!
//! Invariants:
//! - A message is deleted only after every finding in it was delivered to every destination
//!   it is for: the one it names (a finding kept for one destination), else every destination
//!   whose filter admits it;
//!   a message that holds no finding, or whose findings fail again, stays and is reported
//!   with the reason. A finding `MIN_SEVERITY` skips keeps its message too, unless
//!   [`Options::drop_skipped`] says to delete it (the operator's filter may differ from the
//!   function's). The CLI redrives to stdout only when told (`--to-stdout`).
//! - Records re-sent say `ingest.via = "redrive"` and keep their `dedup_key`.
//! - Messages are hidden while a run looks at them and made visible again at its end, so one
//!   run sees each message once and the next run (or `list`) sees what stayed.

pub mod message;
pub mod queue;
mod redrive;

use std::collections::HashSet;

use serde::Serialize;

use message::{Kind, Message, Summary, Unwrapped, summary, unwrap};
use queue::{Queue, QueueError, Received};
pub use redrive::{Kept, Options, Report, redrive};

/// How long a received message stays hidden while a run works on it (seconds): longer than
/// a delivery with every retry.
pub(super) const HIDE_SECONDS: i32 = 600;

/// One message as `dlq list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub message_id: String,
    pub kind: Kind,
    pub findings: Vec<Summary>,
    /// Why it was parked, as the message says.
    pub error: Option<String>,
    pub first_failed_at: Option<String>,
    pub receive_count: Option<u64>,
    /// The one destination it is for (`None`: every destination).
    pub destination: Option<String>,
    /// Why redrive cannot send it (no finding in it), if so.
    pub problem: Option<String>,
}

impl Entry {
    fn new(received: &Received, unwrapped: &Unwrapped) -> Entry {
        let (findings, problem) = match &unwrapped.findings {
            Ok(fs) => (fs.iter().map(|f| summary(f.finding.view())).collect(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Entry {
            message_id: received.message_id.clone(),
            kind: unwrapped.kind,
            findings,
            error: unwrapped.error.clone(),
            first_failed_at: unwrapped.first_failed_at.clone(),
            receive_count: received.receive_count,
            destination: unwrapped.destination.clone(),
            problem,
        }
    }

    /// One line for a person: kind, finding id and type, severity, account/region, first
    /// failure, error.
    pub fn line(&self) -> String {
        let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
        let what = match (self.findings.first(), &self.problem) {
            (Some(f), _) => {
                let more = match self.findings.len() {
                    0 | 1 => String::new(),
                    n => format!(" (+{} more)", n - 1),
                };
                format!(
                    "{}{more} {} {} {}/{}",
                    f.id,
                    or_dash(f.finding_type.as_deref()),
                    or_dash(f.severity),
                    or_dash(f.account_id.as_deref()),
                    or_dash(f.region.as_deref()),
                )
            }
            (None, Some(p)) => format!("NO FINDING: {p}"),
            (None, None) => "NO FINDING".to_string(),
        };
        let to = match &self.destination {
            Some(d) => format!(" | for {d}"),
            None => String::new(),
        };
        format!(
            "{}{to} | {} | first failed {} | error: {} | message {}",
            self.kind.label(),
            what,
            or_dash(self.first_failed_at.as_deref()),
            or_dash(self.error.as_deref()),
            self.message_id
        )
    }
}

pub(super) fn read(received: &Received) -> Unwrapped {
    unwrap(&Message {
        body: &received.body,
        attributes: &received.attributes,
        sent_at: received.sent_at.clone(),
    })
}

/// Every message in the queue, left in it: each is hidden while the listing runs and made
/// visible again at the end.
pub async fn list(queue: &Queue, max: Option<usize>) -> Result<Vec<Entry>, QueueError> {
    let max = max.unwrap_or(usize::MAX);
    let mut seen: HashSet<String> = HashSet::new();
    let mut held: Vec<Received> = Vec::new();
    let mut entries = Vec::new();
    let result = async {
        while entries.len() < max {
            let batch = queue.receive(max - entries.len(), HIDE_SECONDS).await?;
            if batch.is_empty() {
                break;
            }
            for received in batch {
                if seen.insert(received.message_id.clone()) {
                    entries.push(Entry::new(&received, &read(&received)));
                }
                held.push(received);
            }
        }
        Ok::<(), QueueError>(())
    }
    .await;
    release_all(queue, &held).await;
    result.map(|()| entries)
}

/// Makes every held message visible again; failures are logged (they come back by
/// themselves after [`HIDE_SECONDS`]).
pub(super) async fn release_all(queue: &Queue, held: &[Received]) {
    let refs: Vec<&Received> = held.iter().collect();
    match queue.release(&refs).await {
        Ok(failures) => {
            for f in failures {
                tracing::warn!(message = "Message not made visible again; it will be after the visibility timeout.",
                               message_id = %f.message_id, reason = %f.reason);
            }
        }
        Err(e) => {
            tracing::warn!(message = "Messages not made visible again; they will be after the visibility timeout.", error = %e)
        }
    }
}

#[cfg(test)]
mod queue_tests;
