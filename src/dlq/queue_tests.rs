//! `list` and `redrive` against SQS as the SDK's mock layer answers, call by call (in order:
//! a call the code should not make, or makes with other arguments, fails the test), and a
//! destination that refuses chosen findings.

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchOutput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchResultEntry, DeleteMessageBatchResultEntry,
    Message as Sqs,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use serde_json::json;

use super::*;
use crate::normalize::{OutputSchema, Severity};
use crate::pipeline::Forwarder;
use crate::record::EncodedRecord;
use crate::retry::Deadline;
use crate::sink::{BoxFuture, Delivery, DeliveryError, Sink};

const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq";

/// An EventBridge delivery failure holding one finding.
fn event(id: &str, severity: f64) -> String {
    json!({"version": "0", "id": format!("ev-{id}"), "detail-type": "GuardDuty Finding",
           "source": "aws.guardduty", "account": "123456789012",
           "time": "2026-11-01T00:00:00Z", "region": "us-east-1", "resources": [],
           "detail": {"schemaVersion": "2.0", "accountId": "123456789012",
                      "region": "us-east-1", "id": id, "type": "Recon:EC2/Portscan",
                      "severity": severity, "updatedAt": "2026-11-01T00:00:00.000Z"}})
    .to_string()
}

fn message(id: &str, body: &str) -> Sqs {
    Sqs::builder()
        .message_id(id)
        .receipt_handle(format!("rh-{id}"))
        .body(body)
        .build()
}

/// A ReceiveMessage asked for exactly `asked` messages, answering `messages`.
fn receive(asked: i32, messages: Vec<Sqs>) -> Rule {
    mock!(Client::receive_message)
        .match_requests(move |r| r.max_number_of_messages() == Some(asked))
        .then_output(move || {
            ReceiveMessageOutput::builder()
                .set_messages(Some(messages.clone()))
                .build()
        })
}

/// A DeleteMessageBatch of exactly these messages, all deleted.
fn delete(ids: &'static [&'static str]) -> Rule {
    mock!(Client::delete_message_batch)
        .match_requests(move |r| {
            let handles: Vec<&str> = r.entries().iter().map(|e| e.receipt_handle()).collect();
            handles == ids.iter().map(|id| format!("rh-{id}")).collect::<Vec<_>>()
        })
        .then_output(move || {
            DeleteMessageBatchOutput::builder()
                .set_successful(Some(
                    (0..ids.len())
                        .map(|i| {
                            DeleteMessageBatchResultEntry::builder()
                                .id(i.to_string())
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .set_failed(Some(vec![]))
                .build()
                .unwrap()
        })
}

/// A DeleteMessageBatch of exactly these messages, where SQS fails to delete the last one.
fn delete_all_but_last(ids: &'static [&'static str]) -> Rule {
    mock!(Client::delete_message_batch)
        .match_requests(move |r| {
            let handles: Vec<&str> = r.entries().iter().map(|e| e.receipt_handle()).collect();
            handles == ids.iter().map(|id| format!("rh-{id}")).collect::<Vec<_>>()
        })
        .then_output(move || {
            let last = ids.len() - 1;
            DeleteMessageBatchOutput::builder()
                .set_successful(Some(
                    (0..last)
                        .map(|i| {
                            DeleteMessageBatchResultEntry::builder()
                                .id(i.to_string())
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .set_failed(Some(vec![
                    BatchResultErrorEntry::builder()
                        .id(last.to_string())
                        .code("ReceiptHandleIsInvalid")
                        .sender_fault(true)
                        .build()
                        .unwrap(),
                ]))
                .build()
                .unwrap()
        })
}

/// Making exactly these messages visible again.
fn release(ids: &'static [&'static str]) -> Rule {
    mock!(Client::change_message_visibility_batch)
        .match_requests(move |r| {
            let handles: Vec<&str> = r.entries().iter().map(|e| e.receipt_handle()).collect();
            handles == ids.iter().map(|id| format!("rh-{id}")).collect::<Vec<_>>()
        })
        .then_output(move || {
            ChangeMessageVisibilityBatchOutput::builder()
                .set_successful(Some(
                    (0..ids.len())
                        .map(|i| {
                            ChangeMessageVisibilityBatchResultEntry::builder()
                                .id(i.to_string())
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .set_failed(Some(vec![]))
                .build()
                .unwrap()
        })
}

/// A destination that refuses the findings named, delivers the rest and notes every id
/// it was given.
struct Refusing {
    refuse: &'static [&'static str],
    given: Arc<Mutex<Vec<String>>>,
}

impl Sink for Refusing {
    fn name(&self) -> &'static str {
        "test"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        _deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut given = self.given.lock().unwrap();
            let mut delivery = Delivery::default();
            for (i, r) in records.iter().enumerate() {
                given.push(r.id.clone());
                if self.refuse.contains(&r.id.as_str()) {
                    delivery
                        .failed
                        .push((i, DeliveryError::Rejected("refused".into())));
                }
            }
            delivery
        })
    }
}

fn forwarder(
    refuse: &'static [&'static str],
    min: Severity,
) -> (Forwarder, Arc<Mutex<Vec<String>>>) {
    let given = Arc::new(Mutex::new(Vec::new()));
    let sink = Refusing {
        refuse,
        given: given.clone(),
    };
    (
        Forwarder::unfiltered(vec![Box::new(sink)], min, OutputSchema::Native),
        given,
    )
}

#[tokio::test]
async fn list_stops_at_its_maximum_asking_sqs_only_for_what_is_left() {
    let first = receive(3, vec![message("m1", "x"), message("m2", "y")]);
    let second = receive(1, vec![message("m3", &event("f3", 5.0))]);
    let visible = release(&["m1", "m2", "m3"]);
    let client = mock_client!(
        aws_sdk_sqs,
        RuleMode::Sequential,
        [&first, &second, &visible]
    );
    let queue = Queue::with_client(client, URL);
    let entries = list(&queue, Some(3)).await.expect("listed");
    let ids: Vec<&str> = entries.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
    assert_eq!(entries[2].findings[0].id, "f3");
    assert_eq!(
        (first.num_calls(), second.num_calls(), visible.num_calls()),
        (1, 1, 1),
        "no receive past the maximum; every message made visible again"
    );
}

#[tokio::test]
async fn redrive_deletes_only_the_message_delivered_and_counts_what_stays() {
    let batch = vec![
        message("m1", &event("good", 5.0)),
        message("m2", &event("bad", 5.0)),
        message("m3", "not json"),
    ];
    let first = receive(10, batch);
    let deleted = delete(&["m1"]);
    let empty = receive(10, vec![]);
    let visible = release(&["m3", "m2"]);
    let client = mock_client!(
        aws_sdk_sqs,
        RuleMode::Sequential,
        [&first, &deleted, &empty, &visible]
    );
    let queue = Queue::with_client(client, URL);
    let (fwd, given) = forwarder(&["bad"], Severity::Low);
    let report = redrive(&queue, &fwd, Options::default())
        .await
        .expect("redriven");
    assert_eq!((report.messages, report.deleted), (3, 1));
    let kept: Vec<(&str, &str)> = report
        .kept
        .iter()
        .map(|k| (k.entry.message_id.as_str(), k.reason.as_str()))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept[0].0 == "m3" && kept[0].1.starts_with("holds no finding"),
        "{kept:?}"
    );
    assert_eq!(
        kept[1],
        ("m2", "failed again: bad to test: rejected: refused")
    );
    assert_eq!((report.outcome.forwarded, report.outcome.failed), (1, 1));
    assert_eq!(*given.lock().unwrap(), ["good", "bad"]);
    assert!(!report.ok());
    assert!(!report.dry_run, "{}", report.summary());
    assert_eq!(deleted.num_calls(), 1);
    assert_eq!(visible.num_calls(), 1);
}

#[tokio::test]
async fn a_dry_run_sends_and_deletes_nothing_and_counts_what_it_would_send() {
    let batch = vec![
        message("m1", &event("good", 5.0)),
        message("m2", &event("bad", 5.0)),
        message("m3", "not json"),
    ];
    let first = receive(3, batch);
    let visible = release(&["m1", "m2", "m3"]);
    let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&first, &visible]);
    let queue = Queue::with_client(client, URL);
    let (fwd, given) = forwarder(&[], Severity::Low);
    let options = Options {
        max: Some(3),
        dry_run: true,
        ..Options::default()
    };
    let report = redrive(&queue, &fwd, options).await.expect("read");
    assert_eq!(
        (
            report.messages,
            report.would_send,
            report.deleted,
            report.kept.len()
        ),
        (3, 2, 0, 1)
    );
    assert!(given.lock().unwrap().is_empty(), "nothing sent");
    assert!(report.dry_run);
    assert!(
        report
            .summary()
            .starts_with("redrive dry run FAILED: 3 message(s) read, 2 would be sent"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_skipped_finding_keeps_its_message_unless_told_to_drop_it() {
    for (drop_skipped, deletes) in [(false, false), (true, true)] {
        let first = receive(10, vec![message("m1", &event("low", 2.0))]);
        let deleted = delete(&["m1"]);
        let empty = receive(10, vec![]);
        let visible = release(&["m1"]);
        let rules = if deletes {
            vec![&first, &deleted, &empty]
        } else {
            vec![&first, &empty, &visible]
        };
        let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, rules);
        let queue = Queue::with_client(client, URL);
        let (fwd, given) = forwarder(&[], Severity::High);
        let options = Options {
            drop_skipped,
            ..Options::default()
        };
        let report = redrive(&queue, &fwd, options).await.expect("redriven");
        assert!(given.lock().unwrap().is_empty(), "below MIN_SEVERITY");
        assert_eq!(report.outcome.skipped, 1);
        assert_eq!(report.drop_skipped, drop_skipped);
        assert_eq!(
            (report.deleted, report.kept.len()),
            if deletes { (1, 0) } else { (0, 1) },
            "--drop-skipped {drop_skipped}"
        );
    }
}

#[tokio::test]
async fn a_delivered_message_sqs_did_not_delete_stays_and_is_not_counted_deleted() {
    let batch = vec![
        message("m1", &event("one", 5.0)),
        message("m2", &event("two", 5.0)),
    ];
    let first = receive(10, batch);
    let deleted = delete_all_but_last(&["m1", "m2"]);
    let empty = receive(10, vec![]);
    let visible = release(&["m2"]);
    let client = mock_client!(
        aws_sdk_sqs,
        RuleMode::Sequential,
        [&first, &deleted, &empty, &visible]
    );
    let queue = Queue::with_client(client, URL);
    let (fwd, _given) = forwarder(&[], Severity::Low);
    let report = redrive(&queue, &fwd, Options::default())
        .await
        .expect("redriven");
    assert_eq!(
        (report.messages, report.deleted, report.outcome.forwarded),
        (2, 1, 2)
    );
    assert_eq!(report.kept.len(), 1);
    assert_eq!(report.kept[0].entry.message_id, "m2");
    assert!(
        report.kept[0]
            .reason
            .starts_with("delivered, but not deleted"),
        "{}",
        report.kept[0].reason
    );
    assert_eq!(
        visible.num_calls(),
        1,
        "made visible again for the next redrive"
    );
}

/// A finding the forwarder parked for one destination (`crate::park`), worth sending again.
fn undelivered(id: &str, destination: &str) -> String {
    json!({"kind": crate::park::KIND, "version": 1, "destination": destination,
           "finding": {"id": id, "type": "Recon:EC2/Portscan", "severity": 5.0,
                       "updatedAt": "2026-11-01T00:00:00.000Z"},
           "error": "HTTP 503", "permanent": false, "via": "eventbridge",
           "parked_at": "2026-11-01T00:01:00Z"})
    .to_string()
}

#[tokio::test]
async fn the_automatic_redrive_passes_over_a_message_that_cannot_succeed_unchanged() {
    let quarantined = json!({"kind": message::QUARANTINE_KIND, "version": 1,
        "finding": {"id": "poison", "severity": 5.0}, "error": "HTTP 400"})
    .to_string();
    let first = receive(
        10,
        vec![
            message("m1", &event("good", 5.0)),
            message("m2", &quarantined),
        ],
    );
    let deleted = delete(&["m1"]);
    let empty = receive(10, vec![]);
    let visible = release(&["m2"]);
    let client = mock_client!(
        aws_sdk_sqs,
        RuleMode::Sequential,
        [&first, &deleted, &empty, &visible]
    );
    let queue = Queue::with_client(client, URL);
    let (fwd, given) = forwarder(&[], Severity::Low);
    let options = Options {
        retryable_only: true,
        ..Options::default()
    };
    let report = redrive(&queue, &fwd, options).await.expect("redriven");
    assert_eq!(
        *given.lock().unwrap(),
        ["good"],
        "the quarantined one is not sent"
    );
    assert_eq!(
        (report.messages, report.deleted, report.passed_over),
        (2, 1, 1)
    );
    assert!(
        report.kept.is_empty(),
        "passed over, not reported kept: {:?}",
        report.kept
    );
    assert_eq!((deleted.num_calls(), visible.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_message_for_a_destination_not_configured_here_stays_and_says_so() {
    let batch = vec![
        message("m1", &undelivered("here", "test")),
        message("m2", &undelivered("elsewhere", "gone")),
    ];
    let first = receive(10, batch);
    let deleted = delete(&["m1"]);
    let empty = receive(10, vec![]);
    let visible = release(&["m2"]);
    let client = mock_client!(
        aws_sdk_sqs,
        RuleMode::Sequential,
        [&first, &deleted, &empty, &visible]
    );
    let queue = Queue::with_client(client, URL);
    let (fwd, given) = forwarder(&[], Severity::Low);
    let report = redrive(&queue, &fwd, Options::default())
        .await
        .expect("redriven");
    assert_eq!(*given.lock().unwrap(), ["here"]);
    assert_eq!((report.messages, report.deleted), (2, 1));
    assert_eq!(report.kept.len(), 1, "{:?}", report.kept);
    assert_eq!(report.kept[0].entry.message_id, "m2");
    assert!(
        report.kept[0].reason.starts_with(
            "its destination \"gone\" is not configured here (DESTINATIONS names \"test\")"
        ),
        "{}",
        report.kept[0].reason
    );
}

#[tokio::test]
async fn a_redrive_with_twenty_seconds_or_less_left_receives_nothing_and_one_with_more_does() {
    for (left, receives) in [(5, 0), (120, 1)] {
        let empty = receive(10, vec![]);
        let client = mock_client!(aws_sdk_sqs, RuleMode::Sequential, [&empty]);
        let queue = Queue::with_client(client, URL);
        let (fwd, _given) = forwarder(&[], Severity::Low);
        let deadline =
            Deadline::at(std::time::Instant::now() + std::time::Duration::from_secs(left));
        let options = Options {
            deadline: Some(deadline),
            ..Options::default()
        };
        let report = redrive(&queue, &fwd, options).await.expect("redriven");
        assert_eq!(report.messages, 0);
        assert_eq!(empty.num_calls(), receives, "{left} s left");
    }
}
