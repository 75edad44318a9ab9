//! Elasticsearch `_bulk`: NDJSON pairs of a `create` action into the data stream
//! `logs-aws.guardduty-<namespace>` (`_id` = the record's `dedup_key`, so a re-delivery is a
//! 409, not a duplicate) and the record with `@timestamp` = the finding's `updatedAt`.
//! `Authorization: ApiKey <key>`. A 200 answer is read item by item: 2xx and 409 (already
//! there) are delivered, 408/429/5xx items are sent again alone, other 4xx items fail for
//! those findings only. The answer is trimmed with `filter_path` to what is read; it still
//! grows with the request (each 409 keeps its `reason`: a replay of already-indexed
//! documents answers about 250 bytes per document), so it is read up to
//! [`ANSWER_PER_ITEM`] bytes per document beyond the transport's base bound.

use serde::Deserialize;

use super::protocol::{
    Answer, AuthScheme, Probe, ProbeTarget, Protocol, json_string, parse_time, rfc3339_millis,
    updated_at, with_leading_fields,
};
use crate::config::ElasticOptions;
use crate::record::EncodedRecord;
use crate::retry::{Verdict, is_retryable_status};

pub const BULK_PATH: &str = "/_bulk";
pub const FILTER: &str =
    "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason";
pub const HAS_PRIVILEGES_PATH: &str = "/_security/user/_has_privileges";
/// Answer bytes allowed per document: a `reason` quotes the `_id` and, for a mapping error,
/// the field and a preview of its value.
pub const ANSWER_PER_ITEM: usize = 2048;

pub struct ElasticBulk {
    data_stream: String,
    action_prefix: String,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<BulkError>,
}

#[derive(Deserialize)]
struct BulkError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    reason: String,
}

impl ElasticBulk {
    pub fn new(options: &ElasticOptions) -> Self {
        let data_stream = options.data_stream();
        ElasticBulk {
            action_prefix: format!(
                "{{\"create\":{{\"_index\":{},\"_id\":",
                json_string(&data_stream)
            ),
            data_stream,
        }
    }

    pub fn data_stream(&self) -> &str {
        &self.data_stream
    }
}

fn item_verdict(item: &BulkItem) -> Verdict {
    let why = || match &item.error {
        Some(e) => format!("item HTTP {}: {}: {}", item.status, e.kind, e.reason),
        None => format!("item HTTP {}", item.status),
    };
    match item.status {
        200..=299 | 409 => Verdict::Delivered,
        s if is_retryable_status(s) => Verdict::Retry(why()),
        _ => Verdict::Failed(why()),
    }
}

fn privileges_judge(status: u16, body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Has {
        has_all_requested: bool,
    }
    match (status, serde_json::from_slice::<Has>(body)) {
        (
            200,
            Ok(Has {
                has_all_requested: true,
            }),
        ) => Ok("the key may create documents in the data stream".into()),
        (200, Ok(_)) => Err(
            "the API key lacks create_doc on the data stream (and auto_configure to create it)"
                .into(),
        ),
        _ => Err(format!("_has_privileges answered HTTP {status}")),
    }
}

impl Protocol for ElasticBulk {
    fn path(&self) -> Option<&str> {
        Some(BULK_PATH)
    }
    fn query(&self) -> Option<&'static str> {
        Some(FILTER)
    }
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::Header {
            name: "authorization",
            prefix: "ApiKey ",
        }
    }
    fn max_answer(&self, items: usize) -> usize {
        crate::sink::transport::MAX_RESPONSE_BYTES
            .saturating_add(items.saturating_mul(ANSWER_PER_ITEM))
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let mut out = Vec::with_capacity(record.json.len() + 200);
        out.extend_from_slice(self.action_prefix.as_bytes());
        out.extend_from_slice(json_string(&record.dedup_key).as_bytes());
        out.extend_from_slice(b"}}\n");
        // Data streams require `@timestamp`; a time ES could not parse would refuse the document.
        let when = updated_at(record)
            .and_then(parse_time)
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        let fields = [format!("\"@timestamp\":\"{}\"", rfc3339_millis(when))];
        out.extend_from_slice(&with_leading_fields(&record.json, &fields));
        out.push(b'\n');
        out
    }
    fn read(&self, status: u16, body: &[u8], items: usize, why: &str) -> Answer {
        if !(200..300).contains(&status) {
            return Answer::All(Verdict::for_status(status, || why.to_string()));
        }
        let Ok(answer) = serde_json::from_slice::<BulkAnswer>(body) else {
            return Answer::All(Verdict::Retry(format!(
                "{why}: the _bulk answer could not be read"
            )));
        };
        // Each item's own status decides, whatever `errors` says; items without an answer
        // are sent again by the retry driver.
        let verdicts: Vec<Verdict> = answer
            .items
            .iter()
            .map(|m| {
                m.values().next().map_or_else(
                    || Verdict::Retry("no status for this item".into()),
                    item_verdict,
                )
            })
            .collect();
        if verdicts.len() == items && verdicts.iter().all(|v| *v == Verdict::Delivered) {
            Answer::All(Verdict::Delivered)
        } else {
            Answer::Each(verdicts)
        }
    }
    fn probes(&self) -> Vec<Probe> {
        vec![
            Probe {
                label: "cluster",
                post: false,
                target: ProbeTarget::Base("/"),
                body: Vec::new(),
                authenticated: true,
                judge: |status, _| match status {
                    200 => Ok("API key accepted".into()),
                    _ => Err(format!("GET / answered HTTP {status}")),
                },
            },
            Probe {
                label: "privileges",
                post: true,
                target: ProbeTarget::Base(HAS_PRIVILEGES_PATH),
                body: format!(
                    "{{\"index\":[{{\"names\":[{}],\"privileges\":[\"create_doc\"]}}]}}",
                    json_string(&self.data_stream)
                )
                .into_bytes(),
                authenticated: true,
                judge: privileges_judge,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk() -> ElasticBulk {
        ElasticBulk::new(&ElasticOptions {
            namespace: "default".into(),
        })
    }

    #[test]
    fn each_record_is_a_create_into_the_data_stream_with_its_dedup_key_as_id() {
        let r = EncodedRecord {
            id: "f1".into(),
            dedup_key: "f1:2024-01-02T03:04:05Z".into(),
            severity: None,
            finding_type: None,
            account_id: None,
            json: r#"{"id":"f1"}"#.into(),
            ..EncodedRecord::default()
        };
        let text = String::from_utf8(bulk().encode(&r)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"create":{"_index":"logs-aws.guardduty-default","_id":"f1:2024-01-02T03:04:05Z"}}"#,
                r#"{"@timestamp":"2024-01-02T03:04:05.000Z","id":"f1"}"#
            ]
        );
    }

    #[test]
    fn the_privileges_probe_passes_only_a_key_holding_every_privilege_asked_for() {
        let judge = |status, body: &str| privileges_judge(status, body.as_bytes());
        assert_eq!(
            judge(200, r#"{"has_all_requested":true,"username":"fwd"}"#).as_deref(),
            Ok("the key may create documents in the data stream")
        );
        let lacking = judge(200, r#"{"has_all_requested":false}"#).unwrap_err();
        assert!(lacking.contains("lacks create_doc"), "{lacking}");
        assert_eq!(
            judge(401, r#"{"has_all_requested":true}"#),
            Err("_has_privileges answered HTTP 401".into())
        );
        assert_eq!(
            judge(200, "not json"),
            Err("_has_privileges answered HTTP 200".into())
        );
    }

    #[test]
    fn item_statuses_map_to_verdicts() {
        let body = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"bad field"}}},
            {"create":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary"}}}]}"#;
        let Answer::Each(v) = bulk().read(200, body, 5, "HTTP 200") else {
            panic!("expected per-item verdicts")
        };
        assert_eq!(v[0], Verdict::Delivered);
        assert_eq!(v[1], Verdict::Delivered);
        assert!(matches!(&v[2], Verdict::Retry(w) if w.contains("429")));
        assert!(matches!(&v[3], Verdict::Failed(w) if w.contains("mapper_parsing_exception")));
        assert!(matches!(&v[4], Verdict::Retry(_)));
    }

    #[test]
    fn a_clean_answer_delivers_all_and_an_unreadable_one_retries() {
        let b = bulk();
        assert_eq!(
            b.read(
                200,
                br#"{"errors":false,"items":[{"create":{"status":201}}]}"#,
                1,
                "HTTP 200"
            ),
            Answer::All(Verdict::Delivered)
        );
        assert!(matches!(
            b.read(200, b"<html>", 1, "HTTP 200"),
            Answer::All(Verdict::Retry(_))
        ));
        assert!(matches!(
            b.read(401, b"", 1, "HTTP 401"),
            Answer::All(Verdict::Failed(_))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// An item is delivered only when its own status says so (2xx or 409).
            #[test]
            fn an_item_is_delivered_only_on_its_own_2xx_or_409(
                statuses in proptest::collection::vec(100u16..600, 1..12),
                errors in any::<bool>(),
            ) {
                let items: Vec<serde_json::Value> = statuses
                    .iter()
                    .map(|s| serde_json::json!({"create": {"status": s}}))
                    .collect();
                let body = serde_json::to_vec(&serde_json::json!({"errors": errors, "items": items})).unwrap();
                match bulk().read(200, &body, statuses.len(), "HTTP 200") {
                    Answer::All(Verdict::Delivered) => {
                        let _ = errors;
                        prop_assert!(statuses.iter().all(|s| (200..300).contains(s) || *s == 409));
                    }
                    Answer::Each(v) => {
                        prop_assert_eq!(v.len(), statuses.len());
                        for (verdict, s) in v.iter().zip(&statuses) {
                            let ok = (200..300).contains(s) || *s == 409;
                            prop_assert_eq!(matches!(verdict, Verdict::Delivered), ok, "status {}", s);
                        }
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
    }
}
