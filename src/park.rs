//! Each destination's own fate. A finding one destination could not take while another took
//! it is kept in the dead-letter queue (`DLQ_URL`) for that destination alone: one message
//! per finding and destination, kind `guardduty-forwarder.undelivered` version 1, naming the
//! destination. The finding then counts as handled, so the invocation succeeds (or the
//! backfill moves on) and no retry sends it again to the destinations that have it;
//! `redrive` (by hand, or the scheduled run's automatic redrive) sends it to that destination
//! only.
//!
//! Invariants:
//! - A failure is removed from the outcome only once its message is in the queue; one that
//!   could not be kept stays a failure (the invocation fails, the backfill holds the finding):
//!   nothing is dropped.
//! - A finding that reached no destination is never parked: it fails as before, and Lambda's
//!   retry (or the next backfill run) tries every destination again, which has none to repeat.
//! - A message body fits the queue whatever the finding's size (see [`fit_body`]).

use aws_sdk_sqs::types::MessageAttributeValue;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, warn};

use crate::budget::Budget;
use crate::intake::Incoming;
use crate::normalize::Via;
use crate::pipeline::{Failure, Outcome};
use crate::retry::Deadline;

/// The message kind, in the body and in the `kind` attribute.
pub const KIND: &str = "guardduty-forwarder.undelivered";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// What fits in one dead-letter message: SQS's largest (1 MiB, the template's DLQ) less room
/// for the message attributes.
pub const MAX_BODY_BYTES: usize = 1_048_576 - 4_096;
/// The truncated copy's length in a message for a finding too large for the queue.
pub const EXCERPT_BYTES: usize = 64 * 1024;
/// Messages sent at once.
const CONCURRENCY: usize = 4;

/// The body of one parked finding.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub kind: &'static str,
    pub version: u64,
    /// The destination that could not take it: the one `redrive` sends it to.
    pub destination: &'a str,
    pub finding: &'a Value,
    pub error: &'a str,
    /// Whether the destination refused the record itself (too large, rejected): trying
    /// again unchanged cannot help, so the automatic redrive leaves it to a person.
    pub permanent: bool,
    pub via: &'static str,
    pub parked_at: &'a str,
}

/// The body for `message`, whose `finding` is `finding`: whole when it fits in
/// [`MAX_BODY_BYTES`]; else the finding's identifiers (`finding_ref`: fetch it again by id
/// with GetFindings) and the first [`EXCERPT_BYTES`] of its JSON as text (`finding_excerpt`),
/// with `truncated: true` and its size, so the dead-letter queue never refuses a finding for
/// its size.
pub fn fit_body(message: &impl Serialize, finding: &Value) -> Result<String, serde_json::Error> {
    let whole = serde_json::to_string(message)?;
    if whole.len() <= MAX_BODY_BYTES {
        return Ok(whole);
    }
    let text = serde_json::to_string(finding)?;
    let mut end = EXCERPT_BYTES.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let pick = |k: &str| finding.get(k).cloned().unwrap_or(Value::Null);
    let mut v = serde_json::to_value(message)?;
    if let Some(obj) = v.as_object_mut() {
        obj.remove("finding");
        obj.insert("truncated".into(), Value::Bool(true));
        obj.insert("finding_bytes".into(), Value::from(text.len()));
        obj.insert(
            "finding_ref".into(),
            serde_json::json!({
                "id": pick("id"), "arn": pick("arn"), "accountId": pick("accountId"),
                "region": pick("region"), "type": pick("type"), "severity": pick("severity"),
                "updatedAt": pick("updatedAt"),
            }),
        );
        obj.insert(
            "finding_excerpt".into(),
            Value::String(text[..end].to_string()),
        );
    }
    serde_json::to_string(&v)
}

/// Where parked findings go.
pub struct DeadLetters<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub queue_url: &'a str,
    pub deadline: Deadline,
}

/// Why a finding could not be parked.
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error("finding {finding_id}: its JSON could not be read: {detail}")]
    Finding { finding_id: String, detail: String },
    #[error("too little time left before the invocation deadline")]
    OutOfTime,
    #[error("the dead-letter queue refused finding {finding_id} for {destination}: {detail}")]
    Send {
        finding_id: String,
        destination: String,
        detail: String,
    },
}

/// Whether `outcome` holds a failure [`settle`] would park (so a dead-letter client is worth
/// making).
pub fn needed(outcome: &Outcome) -> bool {
    outcome.failures.iter().any(|f| f.delivered_elsewhere)
}

/// Parks every failure of `outcome` whose finding another destination took, and counts
/// those findings as forwarded once all their failures are parked. `findings` are the ones
/// `outcome` was made from (its failures index them).
pub async fn settle(outcome: &mut Outcome, findings: &[Incoming], via: Via, to: &DeadLetters<'_>) {
    let candidates: Vec<usize> = (0..outcome.failures.len())
        .filter(|&i| outcome.failures[i].delivered_elsewhere)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let now = crate::clock::now_rfc3339();
    let results: Vec<(usize, Result<(), ParkError>)> =
        futures_util::stream::iter(candidates.into_iter().map(|i| {
            let failure = &outcome.failures[i];
            let now = &now;
            async move { (i, park_one(failure, findings, via, now, to).await) }
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut parked = vec![false; outcome.failures.len()];
    for (i, result) in results {
        let f = &outcome.failures[i];
        match result {
            Ok(()) => {
                warn!(message = "Finding kept in the dead-letter queue for the destination that could not take it; the others have it.",
                      finding_id = %f.finding_id, destination = %f.sink, error = %f.error);
                parked[i] = true;
            }
            Err(e) => {
                error!(message = "Finding could not be kept for its destination; it stays failed.",
                       finding_id = %f.finding_id, destination = %f.sink, error = %e);
            }
        }
    }
    apply(outcome, &parked);
}

/// Removes the parked failures and moves each finding left with none from `failed` to
/// `forwarded`.
fn apply(outcome: &mut Outcome, parked: &[bool]) {
    let failures = std::mem::take(&mut outcome.failures);
    let mut cleared: Vec<String> = Vec::new();
    for (i, f) in failures.into_iter().enumerate() {
        if parked.get(i).copied().unwrap_or(false) {
            outcome.parked += 1;
            cleared.push(f.finding_id);
        } else {
            outcome.failures.push(f);
        }
    }
    cleared.sort();
    cleared.dedup();
    for id in cleared {
        if !outcome.failures.iter().any(|f| f.finding_id == id) {
            outcome.failed = outcome.failed.saturating_sub(1);
            outcome.forwarded += 1;
        }
    }
}

async fn park_one(
    failure: &Failure,
    findings: &[Incoming],
    via: Via,
    now: &str,
    to: &DeadLetters<'_>,
) -> Result<(), ParkError> {
    let finding_error = |detail: String| ParkError::Finding {
        finding_id: failure.finding_id.clone(),
        detail,
    };
    let incoming = findings
        .get(failure.index)
        .ok_or_else(|| finding_error("not among the findings delivered".into()))?;
    let finding = incoming
        .finding
        .full()
        .map_err(|e| finding_error(e.to_string()))?;
    let message = Message {
        kind: KIND,
        version: VERSION,
        destination: &failure.sink,
        finding: &finding,
        error: &failure.error,
        permanent: failure.is_permanent(),
        via: via.as_str(),
        parked_at: now,
    };
    let body = fit_body(&message, &finding).map_err(|e| finding_error(e.to_string()))?;
    send(to, body, &failure.finding_id, &failure.sink).await
}

async fn send(
    to: &DeadLetters<'_>,
    body: String,
    finding_id: &str,
    destination: &str,
) -> Result<(), ParkError> {
    let failed = |detail: String| ParkError::Send {
        finding_id: finding_id.to_string(),
        destination: destination.to_string(),
        detail,
    };
    let budget = Budget::within(to.deadline).ok_or(ParkError::OutOfTime)?;
    let attribute = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| failed(e.to_string()))
    };
    to.sqs
        .send_message()
        .queue_url(to.queue_url)
        .message_body(body)
        .message_attributes("kind", attribute(KIND)?)
        .message_attributes("destination", attribute(destination)?)
        .customize()
        .config_override(budget.sqs())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            failed(crate::aws_error::explain(
                "SendMessage",
                Some(to.queue_url),
                &e,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(id: &str, sink: &str, elsewhere: bool) -> Failure {
        Failure {
            finding_id: id.into(),
            sink: sink.into(),
            error: "down".into(),
            cause: None,
            index: 0,
            delivered_elsewhere: elsewhere,
        }
    }

    #[test]
    fn a_finding_counts_as_forwarded_only_once_every_failure_of_it_is_parked() {
        let mut o = Outcome {
            received: 2,
            forwarded: 0,
            failed: 2,
            failures: vec![
                failure("a", "siem", true),
                failure("a", "lake", true),
                failure("b", "siem", true),
                failure("b", "lake", true),
            ],
            ..Outcome::default()
        };
        apply(&mut o, &[true, true, true, false]);
        assert_eq!((o.forwarded, o.failed, o.parked), (1, 1, 3));
        assert_eq!(o.failures.len(), 1);
        assert_eq!(
            (&*o.failures[0].finding_id, &*o.failures[0].sink),
            ("b", "lake")
        );
    }

    #[test]
    fn a_finding_too_large_for_the_queue_is_parked_as_its_identifiers_and_an_excerpt() {
        let finding = serde_json::json!({"id": "big", "type": "T", "blob": "é".repeat(700_000)});
        let message = Message {
            kind: KIND,
            version: VERSION,
            destination: "siem",
            finding: &finding,
            error: "e",
            permanent: false,
            via: "eventbridge",
            parked_at: "2026-12-06T00:00:00Z",
        };
        let body = fit_body(&message, &finding).unwrap();
        assert!(body.len() <= MAX_BODY_BYTES);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["finding_ref"]["id"], "big");
        assert_eq!(v["destination"], "siem");
        assert!(v.get("finding").is_none());
    }
}
