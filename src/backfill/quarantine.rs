//! Poison findings: a finding that fails *permanently* (the destination refused it, it is
//! too large, it cannot be normalized) in `BACKFILL_QUARANTINE_AFTER` consecutive runs is set
//! aside in the dead-letter queue (`DLQ_URL`), so it stops holding the checkpoint at its
//! millisecond. A transient failure or a delivery resets its count. Without `DLQ_URL` the
//! finding is held (the checkpoint waits for it) and a log line says so: nothing is dropped.
//!
//! The message is one JSON document, kind `guardduty-forwarder.quarantined-finding`
//! version 1, with the raw finding as fetched, where it came from, the destination and error,
//! and how many runs it failed; the message attribute `kind` carries the same kind.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::BackfillError;
use super::budget::Budget;

/// The message kind, in the body and in the `kind` attribute.
pub const KIND: &str = "guardduty-forwarder.quarantined-finding";
/// Findings whose strikes are remembered at once (the rest start counting again).
pub const MAX_STRIKES: usize = 16;

/// Consecutive runs in which one finding failed permanently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strike {
    pub runs: u32,
    /// RFC 3339, when the first of these runs failed.
    pub first_failed_at: String,
}

/// What to do with a finding that has just failed permanently once more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it: it holds the checkpoint and is tried again next run.
    Hold(Strike),
    /// Set it aside now.
    SetAside(Strike),
}

/// Counts one more permanent failure of `id` in this run.
pub fn strike(strikes: &mut BTreeMap<String, Strike>, id: &str, now: &str, after: u32) -> Verdict {
    let entry = strikes.entry(id.to_string()).or_insert_with(|| Strike {
        runs: 0,
        first_failed_at: now.to_string(),
    });
    entry.runs = entry.runs.saturating_add(1);
    let s = entry.clone();
    if s.runs >= after {
        Verdict::SetAside(s)
    } else {
        Verdict::Hold(s)
    }
}

/// Keeps at most [`MAX_STRIKES`], the ones closest to being set aside.
pub fn trim(strikes: &mut BTreeMap<String, Strike>) {
    while strikes.len() > MAX_STRIKES {
        let weakest = strikes
            .iter()
            .min_by_key(|(_, s)| s.runs)
            .map(|(id, _)| id.clone());
        match weakest {
            Some(id) => strikes.remove(&id),
            None => break,
        };
    }
}

/// The message body sent to the dead-letter queue.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub kind: &'static str,
    pub version: u32,
    pub finding: &'a Value,
    pub region: &'a str,
    pub detector_id: &'a str,
    pub destination: &'a str,
    pub error: &'a str,
    pub failed_runs: u32,
    pub first_failed_at: &'a str,
    pub quarantined_at: &'a str,
}

/// The body for `message`: see [`crate::park::fit_body`] (a finding too large for the queue
/// goes as its identifiers and an excerpt).
pub fn body(message: &Message<'_>) -> Result<String, serde_json::Error> {
    crate::park::fit_body(message, message.finding)
}

/// Sends one quarantined finding to the dead-letter queue.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &Message<'_>,
    budget: &Budget,
) -> Result<(), BackfillError> {
    let finding_id = message
        .finding
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
        .to_string();
    let body = body(message).map_err(|e| BackfillError::Quarantine {
        finding_id: finding_id.clone(),
        detail: e.to_string(),
    })?;
    let kind = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(KIND)
        .build()
        .map_err(|e| BackfillError::Quarantine {
            finding_id: finding_id.clone(),
            detail: e.to_string(),
        })?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_attributes("kind", kind)
        .customize()
        .config_override(budget.sqs())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| BackfillError::Quarantine {
            finding_id,
            detail: super::describe(&e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_set_aside_on_its_nth_consecutive_permanent_failure() {
        let mut s = BTreeMap::new();
        assert!(matches!(
            strike(&mut s, "a", "t1", 3),
            Verdict::Hold(Strike { runs: 1, .. })
        ));
        assert!(matches!(
            strike(&mut s, "a", "t2", 3),
            Verdict::Hold(Strike { runs: 2, .. })
        ));
        match strike(&mut s, "a", "t3", 3) {
            Verdict::SetAside(st) => assert_eq!((st.runs, st.first_failed_at.as_str()), (3, "t1")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_finding_too_large_for_the_queue_goes_as_its_identifiers_and_a_truncated_copy() {
        let big = serde_json::json!({"id": "f-big", "arn": "arn:aws:guardduty:x", "type": "T",
            "updatedAt": "2026-11-01T00:00:00.000Z", "description": "é".repeat(700_000)});
        let strike = Strike {
            runs: 3,
            first_failed_at: "t".into(),
        };
        let m = Message {
            kind: KIND,
            version: 1,
            finding: &big,
            region: "us-east-1",
            detector_id: "d",
            destination: "https",
            error: "HTTP 413",
            failed_runs: strike.runs,
            first_failed_at: &strike.first_failed_at,
            quarantined_at: "t",
        };
        let text = body(&m).unwrap();
        assert!(text.len() <= crate::park::MAX_BODY_BYTES, "{}", text.len());
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["finding_ref"]["id"], "f-big");
        assert!(v.get("finding").is_none());
        assert!(v["finding_bytes"].as_u64().unwrap() > 1_000_000);
        let excerpt = v["finding_excerpt"].as_str().unwrap();
        assert!(excerpt.starts_with("{\"id\":\"f-big\"") && excerpt.len() <= 64 * 1024);
        // A finding that fits goes whole.
        let small = serde_json::json!({"id": "f-1"});
        let m = Message {
            finding: &small,
            ..m
        };
        let v: Value = serde_json::from_str(&body(&m).unwrap()).unwrap();
        assert_eq!(v["finding"]["id"], "f-1");
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn the_strikes_kept_are_the_ones_closest_to_quarantine() {
        let mut s = BTreeMap::new();
        for i in 0..MAX_STRIKES + 4 {
            strike(&mut s, &format!("f{i:02}"), "t", 10);
        }
        strike(&mut s, "f00", "t", 10);
        trim(&mut s);
        assert_eq!(s.len(), MAX_STRIKES);
        assert_eq!(s.get("f00").map(|x| x.runs), Some(2));
    }
}
