//! Datadog logs intake v2: `POST /api/v2/logs` with `DD-API-KEY`, a JSON array of log
//! entries, each the record's fields with `ddsource` (default `guardduty`, what Datadog's
//! GuardDuty pipeline and Cloud SIEM rules match), `service` and `ddtags` in front. The
//! intake's limits — 5 MB uncompressed per request, 1,000 entries, 1 MB per entry — bound
//! the batch planner; an entry over 1 MB (which the intake truncates while still answering
//! 202) is shrunk to fit here (`crate::sink::oversize`), or refused when it cannot be.
//! `check` asks `/api/v1/validate` on the site's API host.

use super::protocol::{
    AuthScheme, Frame, Limits, Probe, ProbeTarget, Protocol, json_string, with_leading_fields,
};
use crate::config::DatadogOptions;
use crate::record::EncodedRecord;

pub const LOGS_PATH: &str = "/api/v2/logs";
pub const VALIDATE_PATH: &str = "/api/v1/validate";
pub const LIMITS: Limits = Limits {
    max_body: 5_000_000,
    max_items: 1000,
    max_item: 1_000_000,
};

pub struct Datadog {
    fields: Vec<String>,
}

impl Datadog {
    pub fn new(options: DatadogOptions) -> Self {
        let mut fields = vec![format!("\"ddsource\":{}", json_string(&options.source))];
        if let Some(s) = &options.service {
            fields.push(format!("\"service\":{}", json_string(s)));
        }
        if let Some(t) = &options.tags {
            let tags: Vec<&str> = t.split(',').map(str::trim).collect();
            fields.push(format!("\"ddtags\":{}", json_string(&tags.join(","))));
        }
        Datadog { fields }
    }
}

/// The API host for an intake host: `http-intake.logs.<site>` → `api.<site>`.
pub fn api_host(host: &str) -> String {
    match host.strip_prefix("http-intake.logs.") {
        Some(site) => format!("api.{site}"),
        None => host.to_string(),
    }
}

impl Protocol for Datadog {
    fn path(&self) -> Option<&str> {
        Some(LOGS_PATH)
    }
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::Header {
            name: "dd-api-key",
            prefix: "",
        }
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
        with_leading_fields(&record.json, &self.fields)
    }
    fn probes(&self) -> Vec<Probe> {
        vec![Probe {
            label: "api key",
            post: false,
            target: ProbeTarget::ApiHost(VALIDATE_PATH),
            body: Vec::new(),
            authenticated: true,
            judge: |status, body| {
                let valid = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("valid").and_then(serde_json::Value::as_bool));
                match (status, valid) {
                    (200, Some(true) | None) => Ok("API key valid".into()),
                    _ => Err(format!(
                        "validate answered HTTP {status}: API key not valid"
                    )),
                }
            },
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_the_record_with_source_service_and_tags_in_front() {
        let d = Datadog::new(DatadogOptions {
            source: "guardduty".into(),
            service: Some("gd".into()),
            tags: Some("env:prod, team:sec".into()),
        });
        let r = EncodedRecord {
            id: "f1".into(),
            dedup_key: "f1:t".into(),
            severity: None,
            finding_type: None,
            account_id: None,
            json: r#"{"id":"f1"}"#.into(),
            ..EncodedRecord::default()
        };
        assert_eq!(
            d.encode(&r),
            br#"{"ddsource":"guardduty","service":"gd","ddtags":"env:prod,team:sec","id":"f1"}"#
        );
    }

    #[test]
    fn the_validate_probe_goes_to_the_sites_api_host() {
        assert_eq!(
            api_host("http-intake.logs.datadoghq.eu"),
            "api.datadoghq.eu"
        );
        assert_eq!(api_host("127.0.0.1"), "127.0.0.1");
    }
}
