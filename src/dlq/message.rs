//! What one dead-letter queue message holds: the finding(s) to send again and why the message
//! was parked. Pure: no I/O. Four shapes are understood, as AWS and the forwarder write them:
//!
//! - **EventBridge delivery failure**: the body is the event itself; EventBridge adds the
//!   message attributes `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`,
//!   `EXHAUSTED_RETRY_CONDITION` and `RETRY_ATTEMPTS`.
//! - **Lambda on-failure record** (asynchronous invocation, retries exhausted): `version`,
//!   `timestamp`, `requestContext` (`requestId`, `functionArn`, `condition`,
//!   `approximateInvokeCount`), `requestPayload` (the event), `responseContext` and
//!   `responsePayload` (`errorMessage`, `errorType`).
//! - **Quarantined finding** (the backfill's poison findings): `kind` =
//!   `guardduty-forwarder.quarantined-finding`, `version` 1, `finding`, `error`,
//!   `failed_runs`, `first_failed_at`, `quarantined_at`, …
//! - **Undelivered to one destination** (`crate::park`): `kind` =
//!   `guardduty-forwarder.undelivered`, `version` 1, `destination`, `finding`, `error`,
//!   `permanent`, `via`, `parked_at`; redriven to that destination only.
//!
//! Invariants (checked by the property tests below):
//! - [`unwrap`] never panics, whatever the body and attributes.
//! - Its findings are `Ok` only when non-empty, and every finding has an id.
//! - A finding is the JSON value AWS published (the event's `detail`, the quarantined
//!   `finding`), unchanged, so its `dedup_key` is the one the first delivery had.
//! - Anything else (another event, a failed schedule run, a foreign message) is an error that
//!   names the problem: never a guess at a finding.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::intake::{IntakeError, Routed, SCHEDULE_DETAIL_TYPE, route_event};
use crate::normalize::{Severity, finding_id, get, kind_of};

/// The `kind` of a quarantined finding, in its body and as a message attribute (the
/// backfill writes it).
pub const QUARANTINE_KIND: &str = crate::backfill::quarantine::KIND;
/// The quarantine format version this build reads.
pub const QUARANTINE_VERSION: u64 = 1;

/// Which shape a message has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    EventbridgeDeliveryFailure,
    LambdaOnFailure,
    QuarantinedFinding,
    /// A finding one destination could not take while others did (see `crate::park`).
    Undelivered,
    Unknown,
}

impl Kind {
    /// How a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::EventbridgeDeliveryFailure => "EventBridge delivery failure",
            Kind::LambdaOnFailure => "Lambda on-failure record",
            Kind::QuarantinedFinding => "quarantined finding",
            Kind::Undelivered => "undelivered to one destination",
            Kind::Unknown => "unknown message",
        }
    }
}

/// Why a message yields no finding to send.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    #[error("the body is not JSON ({reason})")]
    NotJson { reason: String },
    #[error(
        "not an EventBridge event, Lambda on-failure record or quarantined finding (top-level keys: {keys})"
    )]
    Unrecognised { keys: String },
    #[error("the body is {found}, expected a JSON object")]
    NotAnObject { found: &'static str },
    #[error("the Lambda record has no `requestPayload` object (it is {found})")]
    NoRequestPayload { found: &'static str },
    #[error(
        "a failed scheduled backfill run holds no finding: run `replay --since` over its window"
    )]
    ScheduledRun,
    #[error(
        "the event is not a GuardDuty finding (source {event_source:?}, detail-type {detail_type:?})"
    )]
    NotAFindingEvent {
        event_source: String,
        detail_type: String,
    },
    #[error("{0}")]
    Event(#[from] IntakeError),
    #[error("format version {found} is not supported (this build reads {QUARANTINE_VERSION})")]
    QuarantineVersion { found: String },
    #[error("the message has no finding with an id")]
    QuarantineWithoutFinding,
    #[error(
        "finding {id} was too large for the queue ({bytes} bytes) and was kept as its identifiers \
         and a truncated copy: fetch it again by id (GetFindings), or replay its time range"
    )]
    QuarantineTruncated { id: String, bytes: u64 },
}

/// One finding to send again, with the EventBridge event id when it came in an event.
pub type Finding = crate::intake::Incoming;

/// What a message holds.
#[derive(Debug, PartialEq)]
pub struct Unwrapped {
    pub kind: Kind,
    /// The findings to send again, or why there are none.
    pub findings: Result<Vec<Finding>, UnwrapError>,
    /// Why it was parked, as the message says.
    pub error: Option<String>,
    /// When it first failed (RFC 3339), as the message says.
    pub first_failed_at: Option<String>,
    /// The one destination its findings are for (an undelivered message); `None`: every
    /// destination whose filter admits them.
    pub destination: Option<String>,
    /// Whether the scheduled run's automatic redrive may send it: a delivery that failed for
    /// want of a working destination, not a finding refused as such (quarantined, rejected,
    /// too large) nor an event that was not a finding.
    pub retryable: bool,
}

/// A message as received: its body, its String message attributes and when it was sent.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub body: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
    /// SQS's `SentTimestamp`, as RFC 3339.
    pub sent_at: Option<String>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one message.
pub fn unwrap(message: &Message<'_>) -> Unwrapped {
    let unknown = |e: UnwrapError| Unwrapped {
        kind: Kind::Unknown,
        findings: Err(e),
        error: None,
        first_failed_at: message.sent_at.clone(),
        destination: None,
        retryable: false,
    };
    let body: Value = match serde_json::from_str(message.body) {
        Ok(v) => v,
        Err(e) => {
            // serde's message names the position and the kind of fault, not the content.
            return unknown(UnwrapError::NotJson {
                reason: e.to_string(),
            });
        }
    };
    let Value::Object(obj) = &body else {
        return unknown(UnwrapError::NotAnObject {
            found: kind_of(&body),
        });
    };
    let kind_is = |kind: &str| {
        obj.get("kind").and_then(Value::as_str) == Some(kind)
            || message.attributes.get("kind").map(String::as_str) == Some(kind)
    };
    if kind_is(QUARANTINE_KIND) {
        kept(body, Kind::QuarantinedFinding)
    } else if kind_is(crate::park::KIND) {
        kept(body, Kind::Undelivered)
    } else if obj.contains_key("requestContext") && obj.contains_key("requestPayload") {
        lambda_record(body)
    } else if obj.contains_key("detail-type") || obj.contains_key("source") {
        eventbridge(body, message)
    } else {
        let keys: Vec<&str> = obj.keys().take(6).map(String::as_str).collect();
        unknown(UnwrapError::Unrecognised {
            keys: keys.join(", "),
        })
    }
}

/// The findings an EventBridge event holds.
fn findings_of_event(event: Value) -> Result<Vec<Finding>, UnwrapError> {
    match route_event(event)? {
        Routed::Finding(f) => Ok(vec![f]),
        Routed::Scheduled => Err(UnwrapError::ScheduledRun),
        Routed::Ignored { detail_type, .. } if detail_type == SCHEDULE_DETAIL_TYPE => {
            Err(UnwrapError::ScheduledRun)
        }
        Routed::Ignored {
            source,
            detail_type,
        } => Err(UnwrapError::NotAFindingEvent {
            event_source: source,
            detail_type,
        }),
    }
}

fn eventbridge(body: Value, message: &Message<'_>) -> Unwrapped {
    let attr = |k: &str| message.attributes.get(k).filter(|v| !v.trim().is_empty());
    let error = match (attr("ERROR_CODE"), attr("ERROR_MESSAGE")) {
        (Some(code), Some(text)) => Some(format!("{code}: {text}")),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
    };
    let findings = findings_of_event(body);
    Unwrapped {
        kind: Kind::EventbridgeDeliveryFailure,
        retryable: findings.is_ok(),
        findings,
        error,
        first_failed_at: message.sent_at.clone(),
        destination: None,
    }
}

fn lambda_record(mut body: Value) -> Unwrapped {
    let response = body.get("responsePayload");
    // Only a delivery failure may succeed later unchanged; a malformed event never will.
    let delivery_failed =
        response.and_then(|r| text(r.get("errorType"))).as_deref() == Some("DeliveryFailed");
    let error = match (
        response.and_then(|r| text(r.get("errorType"))),
        response.and_then(|r| text(r.get("errorMessage"))),
    ) {
        (Some(t), Some(m)) => Some(format!("{t}: {m}")),
        (None, Some(m)) => Some(m),
        // No response: the event expired or was never run; the condition says which.
        _ => body
            .get("requestContext")
            .and_then(|c| text(c.get("condition"))),
    };
    let first_failed_at = text(body.get("timestamp"));
    let payload = body
        .get_mut("requestPayload")
        .map(Value::take)
        .unwrap_or_default();
    // A payload that was a JSON string arrives as one: read it.
    let payload = match payload {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    };
    let findings = if payload.is_object() {
        findings_of_event(payload)
    } else {
        Err(UnwrapError::NoRequestPayload {
            found: kind_of(&payload),
        })
    };
    Unwrapped {
        kind: Kind::LambdaOnFailure,
        retryable: delivery_failed && findings.is_ok(),
        findings,
        error,
        first_failed_at,
        destination: None,
    }
}

/// A message the forwarder wrote: a quarantined finding, or one undelivered to one
/// destination. Both are version 1 with the finding whole, or its identifiers when it was
/// too large for the queue.
fn kept(mut body: Value, kind: Kind) -> Unwrapped {
    let error = text(body.get("error"));
    let destination = match kind {
        Kind::Undelivered => text(body.get("destination")),
        _ => None,
    };
    let retryable = kind == Kind::Undelivered && body.get("permanent") == Some(&false.into());
    let first_failed_at = text(body.get("first_failed_at"))
        .or_else(|| text(body.get("quarantined_at")))
        .or_else(|| text(body.get("parked_at")));
    let findings = match body.get("version") {
        Some(v)
            if v.as_u64() == Some(QUARANTINE_VERSION)
                && body.get("truncated") == Some(&true.into()) =>
        {
            Err(UnwrapError::QuarantineTruncated {
                id: text(body.pointer("/finding_ref/id")).unwrap_or_else(|| "(no id)".into()),
                bytes: body
                    .get("finding_bytes")
                    .and_then(Value::as_u64)
                    .unwrap_or_default(),
            })
        }
        Some(v) if v.as_u64() == Some(QUARANTINE_VERSION) => {
            let finding = body.get_mut("finding").map(Value::take).unwrap_or_default();
            if finding_id(&finding).is_ok() {
                Ok(vec![Finding {
                    event_id: None,
                    finding: finding.into(),
                }])
            } else {
                Err(UnwrapError::QuarantineWithoutFinding)
            }
        }
        other => Err(UnwrapError::QuarantineVersion {
            found: other.map_or_else(|| "(none)".to_string(), Value::to_string),
        }),
    };
    Unwrapped {
        kind,
        retryable: retryable && findings.is_ok(),
        findings,
        error,
        first_failed_at,
        destination,
    }
}

/// What `dlq list` shows of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: Option<String>,
    pub severity: Option<&'static str>,
    pub severity_score: Option<f64>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub updated_at: Option<String>,
}

/// The few fields a person needs to recognise a finding.
pub fn summary(finding: &Value) -> Summary {
    let score = get(finding, "severity").and_then(Value::as_f64);
    Summary {
        id: finding_id(finding)
            .map(|id| id.into_owned())
            .unwrap_or_else(|_| "(no id)".into()),
        finding_type: text(get(finding, "type")),
        severity: score.map(|s| Severity::from_score(s).as_str()),
        severity_score: score,
        account_id: text(get(finding, "accountId")),
        region: text(get(finding, "region")),
        updated_at: text(get(finding, "updatedAt")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(id: &str) -> Value {
        json!({"schemaVersion": "2.0", "accountId": "123456789012", "region": "us-east-1",
               "id": id, "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 5.0,
               "updatedAt": "2026-11-01T00:00:00.000Z"})
    }

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "ev-1", "detail-type": "GuardDuty Finding",
               "source": "aws.guardduty", "account": "123456789012",
               "time": "2026-11-01T00:00:00Z", "region": "us-east-1", "resources": [],
               "detail": detail})
    }

    fn read(body: &Value, attributes: &[(&str, &str)]) -> Unwrapped {
        let attributes: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = body.to_string();
        unwrap(&Message {
            body: &body,
            attributes: &attributes,
            sent_at: Some("2026-11-01T00:05:00Z".into()),
        })
    }

    fn ids(u: &Unwrapped) -> Vec<String> {
        u.findings
            .as_ref()
            .map(|fs| {
                fs.iter()
                    .map(|f| finding_id(f.finding.view()).unwrap().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn an_eventbridge_dead_letter_yields_the_detail_and_the_error_attributes() {
        let u = read(
            &event(finding("f1")),
            &[
                ("ERROR_CODE", "CONNECTION_FAILURE"),
                ("ERROR_MESSAGE", "target unreachable"),
            ],
        );
        assert_eq!(u.kind, Kind::EventbridgeDeliveryFailure);
        assert_eq!(ids(&u), ["f1"]);
        let f = &u.findings.as_ref().unwrap()[0];
        assert_eq!(f.event_id.as_deref(), Some("ev-1"));
        assert_eq!(f.finding, finding("f1").into());
        assert_eq!(
            u.error.as_deref(),
            Some("CONNECTION_FAILURE: target unreachable")
        );
        assert_eq!(u.first_failed_at.as_deref(), Some("2026-11-01T00:05:00Z"));
    }

    #[test]
    fn a_lambda_on_failure_record_yields_its_request_payload_and_the_function_error() {
        let record = json!({
            "version": "1.0", "timestamp": "2026-11-01T00:03:00.000Z",
            "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:gdf:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event(finding("f2")),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "1 of 1 finding(s) could not be delivered", "errorType": "DeliveryFailed"}
        });
        let u = read(&record, &[]);
        assert_eq!(u.kind, Kind::LambdaOnFailure);
        assert_eq!(ids(&u), ["f2"]);
        assert_eq!(
            u.error.as_deref(),
            Some("DeliveryFailed: 1 of 1 finding(s) could not be delivered")
        );
        assert_eq!(
            u.first_failed_at.as_deref(),
            Some("2026-11-01T00:03:00.000Z")
        );
    }

    #[test]
    fn an_expired_lambda_event_gives_its_condition_as_the_error() {
        let record = json!({"version": "1.0", "timestamp": "t",
            "requestContext": {"condition": "EventAgeExceeded"}, "requestPayload": event(finding("f3"))});
        let u = read(&record, &[]);
        assert_eq!(u.error.as_deref(), Some("EventAgeExceeded"));
        assert_eq!(ids(&u), ["f3"]);
    }

    #[test]
    fn a_quarantined_finding_kept_truncated_is_not_sent_and_says_how_to_get_it() {
        let body = json!({"kind": QUARANTINE_KIND, "version": 1, "truncated": true,
            "finding_bytes": 2_000_000, "finding_ref": {"id": "f-big"}, "finding_excerpt": "{",
            "error": "HTTP 413", "failed_runs": 3, "quarantined_at": "2026-11-01T00:10:00Z"});
        let u = read(&body, &[("kind", QUARANTINE_KIND)]);
        let err = u.findings.expect_err("nothing to send");
        assert!(
            matches!(err, UnwrapError::QuarantineTruncated { ref id, bytes: 2_000_000 } if id == "f-big")
        );
        assert!(err.to_string().contains("GetFindings"), "{err}");
    }

    #[test]
    fn a_quarantined_finding_yields_the_raw_finding_as_fetched() {
        let body = json!({"kind": QUARANTINE_KIND, "version": 1, "finding": finding("f4"),
            "region": "us-east-1", "detector_id": "d1", "destination": "https", "error": "HTTP 400",
            "failed_runs": 3, "first_failed_at": "2026-11-01T00:00:00Z", "quarantined_at": "2026-11-01T00:10:00Z"});
        let u = read(&body, &[("kind", QUARANTINE_KIND)]);
        assert_eq!(u.kind, Kind::QuarantinedFinding);
        assert_eq!(
            u.findings.as_ref().unwrap()[0].finding,
            finding("f4").into()
        );
        assert_eq!(u.error.as_deref(), Some("HTTP 400"));
        assert_eq!(u.first_failed_at.as_deref(), Some("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn messages_without_a_finding_name_the_problem() {
        let q = |v: Value| json!({"kind": QUARANTINE_KIND, "version": v, "finding": {"type": "x"}});
        let lambda = |p: Value| json!({"requestContext": {}, "requestPayload": p});
        let cases: Vec<(Value, &str)> = vec![
            (json!({"hello": "world"}), "top-level keys: hello"),
            (json!([1, 2]), "is an array"),
            (json!("text"), "is a string"),
            (q(json!(2)), "version 2 is not supported"),
            (q(json!(1)), "no finding with an id"),
            (lambda(json!(null)), "no `requestPayload` object"),
            (
                lambda(json!({"source": "aws.events", "detail-type": "Scheduled Event"})),
                "scheduled backfill run",
            ),
            (
                json!({"source": "aws.s3", "detail-type": "Object Created"}),
                "not a GuardDuty finding",
            ),
            (event(json!({"type": "x"})), "has no id"),
        ];
        for (body, expected) in cases {
            let u = read(&body, &[]);
            let err = u.findings.expect_err(&body.to_string()).to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
        let u = unwrap(&Message {
            body: "not json at all",
            attributes: &BTreeMap::new(),
            sent_at: None,
        });
        assert!(matches!(u.findings, Err(UnwrapError::NotJson { .. })));
        assert_eq!(u.kind, Kind::Unknown);
    }

    #[test]
    fn a_summary_shows_id_type_severity_account_and_region() {
        let s = summary(&finding("f5"));
        assert_eq!(s.id, "f5");
        assert_eq!(s.severity, Some("medium"));
        assert_eq!(s.account_id.as_deref(), Some("123456789012"));
        assert_eq!(s.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            s.finding_type.as_deref(),
            Some("Recon:EC2/PortProbeUnprotectedPort")
        );
    }

    #[test]
    fn a_summary_reads_a_number_as_text_and_a_blank_string_as_absent() {
        let s = summary(
            &json!({"id": "f6", "accountId": 123456789012_u64, "region": "  ",
                                "type": "", "severity": 8.0}),
        );
        assert_eq!(s.account_id.as_deref(), Some("123456789012"));
        assert_eq!((s.region, s.finding_type), (None, None));
        assert_eq!(s.severity, Some("high"));
    }

    #[test]
    fn a_body_is_read_as_a_lambda_record_only_with_both_its_keys_and_as_an_event_with_either_of_its()
     {
        let u = read(
            &json!({"requestContext": {"condition": "RetriesExhausted"}}),
            &[],
        );
        assert!(
            matches!(u.findings, Err(UnwrapError::Unrecognised { .. })),
            "{:?}",
            u.findings
        );
        assert_eq!(u.kind, Kind::Unknown);
        for body in [
            json!({"source": "aws.s3"}),
            json!({"detail-type": "Object Created"}),
        ] {
            let u = read(&body, &[]);
            assert_eq!(u.kind, Kind::EventbridgeDeliveryFailure, "{body}");
            assert!(
                matches!(u.findings, Err(UnwrapError::NotAFindingEvent { .. })),
                "{body}: {:?}",
                u.findings
            );
        }
    }

    #[test]
    fn a_scheduled_event_from_any_source_is_a_failed_scheduled_run() {
        let body = json!({"source": "custom.scheduler", "detail-type": SCHEDULE_DETAIL_TYPE});
        assert_eq!(read(&body, &[]).findings, Err(UnwrapError::ScheduledRun));
    }

    fn lambda(error_type: Option<&str>, payload: Value) -> Value {
        let mut response = json!({"errorMessage": "1 of 1 finding(s) could not be delivered"});
        if let Some(t) = error_type {
            response["errorType"] = json!(t);
        }
        json!({"version": "1.0", "timestamp": "2026-11-01T00:03:00.000Z",
               "requestContext": {"condition": "RetriesExhausted"},
               "requestPayload": payload, "responsePayload": response})
    }

    #[test]
    fn only_a_lambda_record_of_a_delivery_failure_holding_a_finding_is_retryable() {
        let retryable = |error_type, payload| read(&lambda(error_type, payload), &[]).retryable;
        assert!(retryable(Some("DeliveryFailed"), event(finding("f7"))));
        assert!(!retryable(Some("Runtime.ExitError"), event(finding("f7"))));
        assert!(!retryable(None, event(finding("f7"))));
        assert!(!retryable(Some("DeliveryFailed"), json!("not an event")));
    }

    #[test]
    fn a_lambda_error_without_a_type_is_its_message() {
        let u = read(&lambda(None, event(finding("f8"))), &[]);
        assert_eq!(
            u.error.as_deref(),
            Some("1 of 1 finding(s) could not be delivered")
        );
    }

    #[test]
    fn an_undelivered_finding_names_its_destination_and_is_retryable_only_when_not_permanent() {
        let body = |permanent: bool| {
            json!({"kind": crate::park::KIND, "version": 1, "destination": "siem",
                   "finding": finding("f9"), "error": "HTTP 503", "permanent": permanent,
                   "via": "eventbridge", "parked_at": "2026-11-01T00:01:00Z"})
        };
        let u = read(&body(false), &[]);
        assert_eq!(u.kind, Kind::Undelivered);
        assert_eq!(u.destination.as_deref(), Some("siem"));
        assert_eq!(u.first_failed_at.as_deref(), Some("2026-11-01T00:01:00Z"));
        assert!(u.retryable);
        assert!(!read(&body(true), &[]).retryable);
        let mut truncated = body(false);
        truncated["truncated"] = json!(true);
        truncated["finding_ref"] = json!({"id": "f9"});
        let u = read(&truncated, &[]);
        assert!(u.findings.is_err() && !u.retryable, "{u:?}");
        let quarantined = json!({"kind": QUARANTINE_KIND, "version": 1, "destination": "siem",
                                 "finding": finding("f9"), "permanent": false});
        let u = read(&quarantined, &[]);
        assert_eq!((u.destination, u.retryable), (None, false));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z ]{0,8}".prop_map(Value::String),
            Just(json!(QUARANTINE_KIND)),
            Just(json!("GuardDuty Finding")),
            Just(json!("aws.guardduty")),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let keys = prop_oneof![
                Just("kind".to_string()),
                Just("version".to_string()),
                Just("finding".to_string()),
                Just("id".to_string()),
                Just("detail".to_string()),
                Just("detail-type".to_string()),
                Just("source".to_string()),
                Just("requestContext".to_string()),
                Just("requestPayload".to_string()),
                Just("responsePayload".to_string()),
                "[a-z]{1,5}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(keys, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_body_unwraps_to_findings_with_ids_or_an_error_never_a_panic(
            body in json_value(),
            kind_attribute in proptest::bool::ANY,
        ) {
            let attrs = if kind_attribute { vec![("kind", QUARANTINE_KIND)] } else { vec![] };
            let u = read(&body, &attrs);
            if let Ok(findings) = &u.findings {
                proptest::prop_assert!(!findings.is_empty());
                for f in findings {
                    proptest::prop_assert!(finding_id(f.finding.view()).is_ok());
                }
            }
        }

        #[test]
        fn any_byte_string_is_read_without_a_panic(body in "\\PC{0,64}") {
            let attributes = BTreeMap::new();
            let u = unwrap(&Message { body: &body, attributes: &attributes, sent_at: None });
            proptest::prop_assert!(u.findings.map(|f| !f.is_empty()).unwrap_or(true));
        }

        #[test]
        fn a_wrapped_finding_comes_back_unchanged_from_every_shape(id in "[a-f0-9]{8,32}", tenths in 0u32..=100) {
            let mut f = finding(&id);
            f["severity"] = json!(f64::from(tenths) / 10.0);
            let shapes = [
                event(f.clone()),
                json!({"requestContext": {}, "requestPayload": event(f.clone())}),
                json!({"kind": QUARANTINE_KIND, "version": 1, "finding": f.clone()}),
            ];
            for body in shapes {
                let u = read(&body, &[]);
                let got = u.findings.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(got.len(), 1);
                proptest::prop_assert_eq!(&got[0].finding, &f.clone().into());
            }
        }
    }
}
