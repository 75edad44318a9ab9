//! Google SecOps (Chronicle) webhook feed (`COLLECTOR_FORMAT=secops-webhook`): the body is
//! newline-separated raw GuardDuty findings — each record's `raw_event` (native) or
//! `unmapped.raw_event` (OCSF), the finding as AWS published it, which is what the `GUARDDUTY`
//! parser reads — whatever `OUTPUT_SCHEMA` says; the feed's split delimiter is `\n`.
//! `COLLECTOR_URL` is the feed's endpoint URL as the feed's page shows it, posted to as given.
//! The credential is a JSON object `{"api_key": …, "secret": …}` sent as `X-goog-api-key`
//! and `X-Webhook-Access-Key`. At most 4 MB per request ([`LIMITS`]); a 413 halves the
//! requests (`super::deliver`), 429 is retried with `Retry-After`, 401/403 fail (after the
//! secret is fetched once more).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::protocol::{AuthScheme, Limits, Probe, ProbeTarget, Protocol};
use crate::record::EncodedRecord;

/// 4 MB per request; a finding alone must fit one.
pub const LIMITS: Limits = Limits {
    max_body: 4_000_000,
    max_items: usize::MAX,
    max_item: 4_000_000,
};

/// The credential's JSON members and the headers they go in.
pub const CREDENTIAL: &[(&str, &str)] = &[
    ("api_key", "x-goog-api-key"),
    ("secret", "x-webhook-access-key"),
];

pub struct SecopsWebhook;

#[derive(Deserialize)]
struct Unmapped<'a> {
    #[serde(borrow)]
    raw_event: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    raw_event: Option<&'a RawValue>,
    #[serde(borrow)]
    unmapped: Option<Unmapped<'a>>,
}

/// The finding as AWS published it, from a native or OCSF record; the record itself when it
/// holds none.
pub fn raw_finding(record_json: &str) -> &str {
    serde_json::from_str::<Record<'_>>(record_json)
        .ok()
        .and_then(|r| r.raw_event.or(r.unmapped.and_then(|u| u.raw_event)))
        .map_or(record_json, RawValue::get)
}

fn judge_probe(status: u16, _body: &[u8]) -> Result<String, String> {
    match status {
        200..=299 => Ok(format!("feed answered HTTP {status}")),
        // An empty body is refused once the key and secret were accepted.
        400 => Ok("API key and feed secret accepted (HTTP 400 to an empty probe)".into()),
        401 | 403 => Err(format!(
            "HTTP {status}: the API key or the feed secret was refused"
        )),
        404 => Err("HTTP 404: no such feed at this URL".into()),
        _ => Err(format!("HTTP {status}")),
    }
}

impl Protocol for SecopsWebhook {
    fn path(&self) -> Option<&str> {
        None
    }
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::JsonMembers(CREDENTIAL)
    }
    fn limits(&self) -> Limits {
        LIMITS
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let raw = raw_finding(&record.json);
        let mut v = Vec::with_capacity(raw.len() + 1);
        v.extend_from_slice(raw.as_bytes());
        v.push(b'\n');
        v
    }
    fn probes(&self) -> Vec<Probe> {
        vec![Probe {
            label: "feed",
            post: true,
            target: ProbeTarget::Endpoint,
            body: Vec::new(),
            authenticated: true,
            judge: judge_probe,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_line_is_the_finding_as_aws_published_it_in_either_schema() {
        let native = r#"{"id":"a","raw_event":{"id":"a","type":"T" ,"n":1.50},"severity":"high"}"#;
        assert_eq!(raw_finding(native), r#"{"id":"a","type":"T" ,"n":1.50}"#);
        let ocsf = r#"{"class_uid":2004,"unmapped":{"x":1,"raw_event":{"id":"b"}}}"#;
        assert_eq!(raw_finding(ocsf), r#"{"id":"b"}"#);
        assert_eq!(raw_finding(r#"{"id":"c"}"#), r#"{"id":"c"}"#);
        let record = EncodedRecord {
            id: "a".into(),
            dedup_key: "a:t".into(),
            severity: None,
            finding_type: None,
            account_id: None,
            json: native.into(),
            ..EncodedRecord::default()
        };
        assert_eq!(
            SecopsWebhook.encode(&record),
            b"{\"id\":\"a\",\"type\":\"T\" ,\"n\":1.50}\n"
        );
    }
}
