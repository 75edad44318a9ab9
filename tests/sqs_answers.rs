//! Property test of how the SQS destination reads SendMessageBatch answers, through the SDK's
//! own mock layer: whatever the answer holds (unknown, out-of-range or repeated ids, an id
//! both successful and failed, entries left out, any code, sender fault or not), nothing
//! panics, no record is reported delivered unless an answer acknowledged it, and no record is
//! reported failed twice.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use guardduty_forwarder::normalize::Severity;
use guardduty_forwarder::record::EncodedRecord;
use guardduty_forwarder::retry::{Backoff, Deadline};
use guardduty_forwarder::sink::{Sink, sqs::SqsSink};
use proptest::prelude::*;

const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/findings";

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

/// What an answer says about one entry of the request.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Ok,
    Retryable,
    SenderFault,
    Omitted,
    OkAndFailed,
    OkTwice,
    FailedTwice,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        4 => Just(Fate::Ok),
        2 => Just(Fate::Retryable),
        1 => Just(Fate::SenderFault),
        1 => Just(Fate::Omitted),
        1 => Just(Fate::OkAndFailed),
        1 => Just(Fate::OkTwice),
        1 => Just(Fate::FailedTwice),
    ]
}

/// One answer: a fate per entry (cycled), and ids that name no entry.
#[derive(Debug, Clone)]
struct Answer {
    fates: Vec<Fate>,
    bogus: Vec<String>,
}

fn answer() -> impl Strategy<Value = Answer> {
    (
        prop::collection::vec(fate(), 1..10),
        prop::collection::vec(
            prop_oneof![
                Just("-1".to_string()),
                Just("10".to_string()),
                Just("18446744073709551616".to_string()),
                "\\PC{0,8}",
            ],
            0..3,
        ),
    )
        .prop_map(|(fates, bogus)| Answer { fates, bogus })
}

fn error_entry(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
    BatchResultErrorEntry::builder()
        .id(id)
        .code(if sender_fault {
            "InvalidMessageContents"
        } else {
            "InternalError"
        })
        .sender_fault(sender_fault)
        .build()
        .expect("error entry")
}

fn ok_entry(id: &str) -> SendMessageBatchResultEntry {
    SendMessageBatchResultEntry::builder()
        .id(id)
        .message_id("m")
        .md5_of_message_body("x")
        .build()
        .expect("ok entry")
}

/// Builds the answer to `request`; notes the bodies it acknowledged.
fn respond(
    request: &[(String, String)],
    a: &Answer,
    acked: &mut Vec<String>,
) -> SendMessageBatchOutput {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (k, (id, body)) in request.iter().enumerate() {
        let fate = a
            .fates
            .get(k % a.fates.len().max(1))
            .copied()
            .unwrap_or(Fate::Ok);
        match fate {
            Fate::Ok | Fate::OkTwice => {
                ok.push(ok_entry(id));
                if matches!(fate, Fate::OkTwice) {
                    ok.push(ok_entry(id));
                }
                acked.push(body.clone());
            }
            Fate::Retryable => failed.push(error_entry(id, false)),
            Fate::SenderFault => failed.push(error_entry(id, true)),
            Fate::FailedTwice => {
                failed.push(error_entry(id, false));
                failed.push(error_entry(id, true));
            }
            Fate::OkAndFailed => {
                ok.push(ok_entry(id));
                failed.push(error_entry(id, false));
            }
            Fate::Omitted => {}
        }
    }
    for id in &a.bogus {
        ok.push(ok_entry(id));
        failed.push(error_entry(id, true));
    }
    SendMessageBatchOutput::builder()
        .set_successful(Some(ok))
        .set_failed(Some(failed))
        .build()
        .expect("answer")
}

fn check(n: usize, answers: Vec<Answer>) -> Result<(), TestCaseError> {
    let script = Arc::new(Mutex::new(VecDeque::from(answers)));
    let last: Arc<Mutex<Vec<(String, String)>>> = Default::default();
    let acked: Arc<Mutex<Vec<String>>> = Default::default();
    let rule = {
        let (last_m, last_o, script, acked) = (last.clone(), last.clone(), script, acked.clone());
        mock!(Client::send_message_batch)
            .match_requests(move |r: &SendMessageBatchInput| {
                *last_m.lock().expect("lock") = r
                    .entries()
                    .iter()
                    .map(|e| (e.id().to_string(), e.message_body().to_string()))
                    .collect();
                true
            })
            .then_output(move || {
                let a = script.lock().expect("lock").pop_front().unwrap_or(Answer {
                    fates: vec![Fate::Ok],
                    bogus: vec![],
                });
                respond(
                    &last_o.lock().expect("lock"),
                    &a,
                    &mut acked.lock().expect("lock"),
                )
            })
    };
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
    let backoff = Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 4,
    };
    let sink = SqsSink::with_client(client, QUEUE.into(), 262_144, backoff);
    let recs = records(n);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let delivery = rt.block_on(sink.deliver(&recs, Deadline::none()));
    let mut failed: Vec<usize> = delivery.failed.iter().map(|(i, _)| *i).collect();
    prop_assert!(failed.iter().all(|&i| i < n), "{:?}", delivery.failed);
    failed.sort_unstable();
    let before = failed.len();
    failed.dedup();
    prop_assert_eq!(
        before,
        failed.len(),
        "a record reported failed twice: {:?}",
        delivery.failed
    );
    let acked = acked.lock().expect("lock").clone();
    for (i, r) in recs.iter().enumerate() {
        if !failed.contains(&i) {
            prop_assert!(
                acked.contains(&r.json),
                "record {} reported delivered, never acknowledged",
                i
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_batch_answer_is_read_without_loss_double_report_or_panic(
        n in 1usize..=10,
        answers in prop::collection::vec(answer(), 0..5),
    ) {
        check(n, answers)?;
    }
}
