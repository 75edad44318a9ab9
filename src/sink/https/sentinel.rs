//! Microsoft Sentinel through the Azure Monitor Logs Ingestion API (`COLLECTOR_FORMAT=sentinel`):
//! `COLLECTOR_URL` is the data collection endpoint; records are POSTed as a JSON array to
//! `/dataCollectionRules/<SENTINEL_DCR_ID>/streams/<SENTINEL_STREAM>?api-version=2023-01-01`
//! with an Entra ID bearer token (`super::entra`). Each entry is the native record with
//! `TimeGenerated` (when it was sent) first; the table and the rule the entries fit are
//! shipped in `deploy/sentinel/`.
//!
//! Limits, from the Logs Ingestion API's documentation: 1 MB per call ([`LIMITS`]'s
//! `max_body`); a field over 64 KB is truncated by the service, so a record is kept within
//! 64 KB as a whole (`max_item`; then no field of it can be over) by the oversize rule,
//! which shrinks the raw finding with a visible marker. 204 is success; 429 is retried after
//! `Retry-After`; 413 halves the requests; 401/403 fetch the token again once.

use super::protocol::{AuthScheme, Frame, Limits, Probe, ProbeTarget, Protocol};
use crate::config::SentinelOptions;
use crate::record::EncodedRecord;

/// 1 MB per call; 64 KB per record (so per field).
pub const LIMITS: Limits = Limits {
    max_body: 1_000_000,
    max_items: usize::MAX,
    max_item: 64 * 1024,
};

pub const API_VERSION: &str = "api-version=2023-01-01";

pub struct Sentinel {
    path: String,
}

impl Sentinel {
    pub fn new(options: &SentinelOptions) -> Self {
        Sentinel {
            path: format!(
                "/dataCollectionRules/{}/streams/{}",
                options.dcr_id, options.stream
            ),
        }
    }
}

fn judge_probe(status: u16, _body: &[u8]) -> Result<String, String> {
    match status {
        200..=299 => Ok(format!("the rule took an empty batch (HTTP {status})")),
        400 => Ok("token and rule accepted (HTTP 400 to an empty batch)".into()),
        401 => Err("HTTP 401: the token was refused".into()),
        403 => Err(
            "HTTP 403: the app lacks the Monitoring Metrics Publisher role on the data \
                    collection rule"
                .into(),
        ),
        404 => Err(
            "HTTP 404: no such rule or stream at this endpoint (COLLECTOR_URL, \
                    SENTINEL_DCR_ID, SENTINEL_STREAM)"
                .into(),
        ),
        _ => Err(format!("HTTP {status}")),
    }
}

impl Protocol for Sentinel {
    fn path(&self) -> Option<&str> {
        Some(&self.path)
    }
    fn query(&self) -> Option<&'static str> {
        Some(API_VERSION)
    }
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::EntraToken
    }
    fn limits(&self) -> Limits {
        LIMITS
    }
    fn frame(&self) -> Frame {
        Frame {
            open: b"[",
            separator: b",",
            close: b"]",
        }
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let now = super::protocol::rfc3339_millis(time::OffsetDateTime::now_utc());
        super::protocol::with_leading_fields(
            &record.json,
            &[format!("\"TimeGenerated\":\"{now}\"")],
        )
    }
    fn probes(&self) -> Vec<Probe> {
        vec![Probe {
            label: "ingestion",
            post: true,
            target: ProbeTarget::Endpoint,
            body: b"[]".to_vec(),
            authenticated: true,
            judge: judge_probe,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_the_record_with_time_generated_first() {
        let record = EncodedRecord {
            id: "a".into(),
            dedup_key: "a:t".into(),
            severity: None,
            finding_type: None,
            account_id: None,
            json: r#"{"id":"a","severity":"high"}"#.into(),
            ..EncodedRecord::default()
        };
        let entry: serde_json::Value = serde_json::from_slice(
            &Sentinel {
                path: String::new(),
            }
            .encode(&record),
        )
        .unwrap();
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["TimeGenerated", "id", "severity"]);
        assert!(
            crate::clock::epoch_ms(entry["TimeGenerated"].as_str().unwrap()).is_some(),
            "{entry}"
        );
    }
}
