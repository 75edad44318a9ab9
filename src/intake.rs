//! Intake: what arrives (a Lambda event, or documents in files for the CLI) and what it
//! means: a finding to forward, a backfill to run, or something to ignore. Nothing here
//! normalizes or delivers.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::normalize::{NormalizeError, finding_id, kind_of};

pub const GUARDDUTY_SOURCE: &str = "aws.guardduty";
pub const FINDING_DETAIL_TYPE: &str = "GuardDuty Finding";
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// One finding to forward, with the EventBridge event id when it came in an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub event_id: Option<String>,
    pub finding: FindingJson,
}

/// A finding as it was read: parsed whole, or (CLI input, native schema) its JSON text as it
/// arrived beside a pruned view of the members normalization reads
/// ([`crate::normalize::READS`]). The text is one line and is what `raw_event` carries.
#[derive(Debug, Clone)]
pub enum FindingJson {
    Parsed(Value),
    Text { text: Box<RawValue>, view: Value },
}

impl FindingJson {
    /// What normalization reads: the whole finding, or the pruned view.
    pub fn view(&self) -> &Value {
        match self {
            FindingJson::Parsed(v) | FindingJson::Text { view: v, .. } => v,
        }
    }

    /// The whole finding, parsed from the text when it was kept as text.
    pub fn full(&self) -> Result<Cow<'_, Value>, serde_json::Error> {
        match self {
            FindingJson::Parsed(v) => Ok(Cow::Borrowed(v)),
            FindingJson::Text { text, .. } => serde_json::from_str(text.get()).map(Cow::Owned),
        }
    }
}

/// Two findings are equal when they are the same JSON value, however they were read.
impl PartialEq for FindingJson {
    fn eq(&self, other: &Self) -> bool {
        match (self.full(), other.full()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl From<Value> for FindingJson {
    fn from(v: Value) -> Self {
        FindingJson::Parsed(v)
    }
}

/// What a Lambda event asks for.
#[derive(Debug, PartialEq)]
pub enum Routed {
    Finding(Incoming),
    Scheduled,
    Ignored { source: String, detail_type: String },
}

/// Why an event or document cannot be read. The message names the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("GuardDuty Finding event {event_id}: `detail` is missing")]
    MissingDetail { event_id: String },
    #[error("GuardDuty Finding event {event_id}: `detail` is {found}, expected the finding object")]
    DetailNotAnObject {
        event_id: String,
        found: &'static str,
    },
    #[error("GuardDuty Finding event {event_id}: the finding in `detail` has no id")]
    DetailWithoutId { event_id: String },
    #[error("not a GuardDuty finding: {0}")]
    NotAFinding(NormalizeError),
    #[error("`{key}` is {found}, expected an array of findings")]
    FindingsNotAnArray {
        key: &'static str,
        found: &'static str,
    },
    #[error("value starting at line {line} is still open after {limit} bytes")]
    TooLarge { line: usize, limit: usize },
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// What the Lambda function is invoked with: every event its rules deliver is an EventBridge
/// event (`source` and `detail-type` required, `time` RFC 3339 when present). `detail` stays
/// untyped, so every detail-type is accepted and routed by [`route_eventbridge`]; a payload
/// that is not an EventBridge event at all fails the invocation naming the missing member.
pub type LambdaPayload = aws_lambda_events::eventbridge::EventBridgeEvent<Option<Value>>;

/// Routes one Lambda invocation's event: a finding, the backfill schedule, or something else
/// (ignored).
pub fn route_eventbridge(event: LambdaPayload) -> Result<Routed, IntakeError> {
    route(&event.source, &event.detail_type, event.id, event.detail)
}

/// Routes an EventBridge event read from a document (the CLI, the dead-letter queue), where
/// anything may turn up: missing or odd `source` / `detail-type` make it ignored.
pub fn route_event(mut event: Value) -> Result<Routed, IntakeError> {
    let detail = event.get_mut("detail").map(Value::take);
    route(
        str_field(&event, "source").unwrap_or_default(),
        str_field(&event, "detail-type").unwrap_or_default(),
        str_field(&event, "id").map(str::to_owned),
        detail,
    )
}

fn route(
    source: &str,
    detail_type: &str,
    event_id: Option<String>,
    detail: Option<Value>,
) -> Result<Routed, IntakeError> {
    match (source, detail_type) {
        (GUARDDUTY_SOURCE, FINDING_DETAIL_TYPE) => {
            let shown = || event_id.clone().unwrap_or_else(|| "(no id)".into());
            let finding = match detail {
                None | Some(Value::Null) => {
                    return Err(IntakeError::MissingDetail { event_id: shown() });
                }
                Some(d) if !d.is_object() => {
                    return Err(IntakeError::DetailNotAnObject {
                        event_id: shown(),
                        found: kind_of(&d),
                    });
                }
                Some(d) => d,
            };
            if finding_id(&finding).is_err() {
                return Err(IntakeError::DetailWithoutId { event_id: shown() });
            }
            Ok(Routed::Finding(Incoming {
                event_id,
                finding: finding.into(),
            }))
        }
        (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE) => Ok(Routed::Scheduled),
        (source, detail_type) => Ok(Routed::Ignored {
            source: source.to_string(),
            detail_type: detail_type.to_string(),
        }),
    }
}

/// One item found in a CLI input document.
#[derive(Debug, PartialEq)]
pub enum Item {
    Finding(Incoming),
    /// An event that is not a finding (another detail-type, a schedule): reported, not forwarded.
    Ignored {
        source: String,
        detail_type: String,
    },
    Invalid(IntakeError),
}

/// Splits one JSON document of the CLI's input into items: an EventBridge event, a bare
/// finding, a GetFindings response (`findings` or the CLI's `Findings`), or an array of any
/// of these.
pub fn items_of_document(doc: Value, out: &mut Vec<Item>) {
    match doc {
        Value::Array(values) => {
            for v in values {
                items_of_document(v, out);
            }
        }
        Value::Object(ref obj)
            if obj.contains_key("detail-type")
                || obj.contains_key("source")
                || obj.contains_key("detail") =>
        {
            out.push(match route_event(doc) {
                Ok(Routed::Finding(incoming)) => Item::Finding(incoming),
                Ok(Routed::Scheduled) => Item::Ignored {
                    source: SCHEDULE_SOURCE.into(),
                    detail_type: SCHEDULE_DETAIL_TYPE.into(),
                },
                Ok(Routed::Ignored {
                    source,
                    detail_type,
                }) => Item::Ignored {
                    source,
                    detail_type,
                },
                Err(e) => Item::Invalid(e),
            })
        }
        Value::Object(mut obj) if obj.contains_key("findings") || obj.contains_key("Findings") => {
            let key = if obj.contains_key("findings") {
                "findings"
            } else {
                "Findings"
            };
            match obj.remove(key) {
                Some(Value::Array(findings)) => {
                    for f in findings {
                        out.push(bare_finding(f));
                    }
                }
                Some(other) => out.push(Item::Invalid(IntakeError::FindingsNotAnArray {
                    key,
                    found: kind_of(&other),
                })),
                None => {}
            }
        }
        other => out.push(bare_finding(other)),
    }
}

/// A value read as a bare finding: forwarded if it has an id, invalid otherwise.
pub fn bare_finding(finding: Value) -> Item {
    match finding_id(&finding) {
        Ok(_) => Item::Finding(Incoming {
            event_id: None,
            finding: finding.into(),
        }),
        Err(e) => Item::Invalid(IntakeError::NotAFinding(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "ev-1", "detail-type": "GuardDuty Finding",
               "source": "aws.guardduty", "account": "1", "region": "us-east-1", "detail": detail})
    }

    #[test]
    fn a_finding_event_yields_its_detail_and_event_id() {
        let routed = route_event(event(json!({"id": "f1"}))).unwrap();
        assert_eq!(
            routed,
            Routed::Finding(Incoming {
                event_id: Some("ev-1".into()),
                finding: json!({"id": "f1"}).into()
            })
        );
    }

    #[test]
    fn malformed_finding_events_are_errors_that_name_the_problem() {
        let cases = [
            (
                json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "id": "e"}),
                "`detail` is missing",
            ),
            (event(json!(null)), "`detail` is missing"),
            (event(json!("text")), "`detail` is a string"),
            (event(json!([1])), "`detail` is an array"),
            (event(json!({})), "has no id"),
            (event(json!({"id": ""})), "has no id"),
        ];
        for (ev, msg) in cases {
            let err = route_event(ev.clone()).unwrap_err().to_string();
            assert!(err.contains(msg), "{ev}: {err}");
        }
    }

    #[test]
    fn other_sources_and_detail_types_are_ignored() {
        let cases = [
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Malware Protection Object Scan Result", "detail": {}}),
            json!({"source": "aws.guardduty", "detail-type": "AWS API Call via CloudTrail", "detail": {}}),
            json!({"source": "aws.securityhub", "detail-type": "Security Hub Findings - Imported"}),
            json!({"hello": "world"}),
            json!([1, 2]),
        ];
        for ev in cases {
            assert!(
                matches!(route_event(ev.clone()).unwrap(), Routed::Ignored { .. }),
                "{ev}"
            );
        }
    }

    #[test]
    fn a_scheduled_event_asks_for_a_backfill() {
        let ev = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(route_event(ev).unwrap(), Routed::Scheduled);
    }
}
