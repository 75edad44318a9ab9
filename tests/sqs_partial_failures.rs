//! SQS partial failures, with the SDK's own mock layer: the `Failed` entries of a
//! SendMessageBatch response are retried (and only those), sender faults are reported,
//! and nothing is reported delivered that was not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use guardduty_forwarder::normalize::Severity;
use guardduty_forwarder::record::EncodedRecord;
use guardduty_forwarder::retry::{Backoff, Deadline};
use guardduty_forwarder::sink::{DeliveryError, Sink, sqs::SqsSink};

fn records(n: usize) -> Vec<EncodedRecord> {
    (0..n)
        .map(|i| EncodedRecord {
            id: format!("finding-{i}"),
            dedup_key: format!("finding-{i}:2026-01-01T00:00:00Z"),
            severity: Some(Severity::High),
            finding_type: Some("Recon:EC2/Portscan".into()),
            account_id: Some("123456789012".into()),
            json: format!("{{\"id\":\"finding-{i}\"}}"),
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
        .message("injected")
        .sender_fault(sender_fault)
        .build()
        .unwrap()
}

/// A SendMessageBatch answer: these entry ids succeeded, these failed.
fn answer(successful: &[&str], failed: Vec<BatchResultErrorEntry>) -> SendMessageBatchOutput {
    SendMessageBatchOutput::builder()
        .set_successful(Some(successful.iter().map(|id| ok(id)).collect()))
        .set_failed(Some(failed))
        .build()
        .unwrap()
}

/// Records each request's message bodies into `seen`; matches every request.
fn recording(
    seen: &Arc<Mutex<Vec<Vec<String>>>>,
) -> impl Fn(&aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput) -> bool
+ Send
+ Sync
+ 'static {
    let seen = seen.clone();
    move |r| {
        let bodies = r
            .entries()
            .iter()
            .map(|e| e.message_body().to_string())
            .collect();
        seen.lock().unwrap().push(bodies);
        true
    }
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 4,
    }
}

const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/findings";

#[tokio::test]
async fn failed_entries_are_retried_and_only_those() {
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Default::default();
    let first = mock!(Client::send_message_batch)
        .match_requests(recording(&seen))
        .then_output(|| answer(&["0", "2"], vec![failed("1", "InternalError", false)]));
    let second = mock!(Client::send_message_batch)
        .match_requests(recording(&seen))
        .then_output(|| answer(&["0"], vec![]));
    let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&first, &second]);
    let sink = SqsSink::with_client(client, QUEUE.into(), 262_144, fast());
    let recs = records(3);
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.retries, 1);
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].len(), 3);
    assert_eq!(
        calls[1],
        vec![recs[1].json.clone()],
        "only the failed entry is sent again"
    );
}

#[tokio::test]
async fn sender_faults_are_reported_not_retried() {
    let rule = mock!(Client::send_message_batch)
        .then_output(|| answer(&["0"], vec![failed("1", "InvalidMessageContents", true)]));
    let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&rule]);
    let sink = SqsSink::with_client(client, QUEUE.into(), 262_144, fast());
    let recs = records(2);
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(delivery.failed.len(), 1);
    assert_eq!(delivery.failed[0].0, 1);
    assert!(
        matches!(&delivery.failed[0].1, DeliveryError::Rejected(m) if m.contains("InvalidMessageContents"))
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn entries_failing_every_attempt_are_reported_after_the_last_one() {
    let rule = mock!(Client::send_message_batch)
        .then_output(|| answer(&[], vec![failed("0", "ServiceUnavailable", false)]));
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
    let sink = SqsSink::with_client(client, QUEUE.into(), 262_144, fast());
    let recs = records(1);
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(delivery.failed.len(), 1);
    assert!(
        matches!(
            delivery.failed[0].1,
            DeliveryError::Exhausted { attempts: 4, .. }
        ),
        "{:?}",
        delivery.failed
    );
    assert_eq!(rule.num_calls(), 4);
}

#[tokio::test]
async fn a_record_over_the_queue_limit_fails_alone_and_its_neighbours_are_sent() {
    let rule = mock!(Client::send_message_batch).then_output(|| answer(&["0", "1"], vec![]));
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
    let sink = SqsSink::with_client(client, QUEUE.into(), 1024, fast());
    let mut recs = records(3);
    recs[1].json = format!(
        "{{\"id\":\"finding-1\",\"description\":\"{}\"}}",
        "x".repeat(2000)
    );
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(delivery.failed.len(), 1);
    assert_eq!(delivery.failed[0].0, 1);
    assert!(matches!(
        delivery.failed[0].1,
        DeliveryError::Oversize { limit: 1024, .. }
    ));
    assert!(
        delivery.failed[0]
            .1
            .to_string()
            .contains("over the destination's limit of 1024 bytes")
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_entry_named_both_successful_and_failed_is_sent_again_not_taken_as_delivered() {
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Default::default();
    let first = mock!(Client::send_message_batch)
        .match_requests(recording(&seen))
        .then_output(|| {
            answer(
                &["0", "1"],
                vec![
                    failed("1", "InternalError", false),
                    failed("1", "InternalError", false),
                ],
            )
        });
    let second = mock!(Client::send_message_batch)
        .match_requests(recording(&seen))
        .then_output(|| answer(&["0"], vec![]));
    let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&first, &second]);
    let sink = SqsSink::with_client(client, QUEUE.into(), 262_144, fast());
    let recs = records(2);
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1], vec![recs[1].json.clone()]);
}
