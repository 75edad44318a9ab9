//! Sumo Logic HTTP Logs source: the source URL is the credential (no auth header; keep the
//! URL in `COLLECTOR_URL_SECRET_ARN`), one record per line, `X-Sumo-Category` and
//! `X-Sumo-Name` when configured. `check` posts an empty body. Sumo splits a line over
//! 64 KB into several messages (broken JSON), so a record is kept within [`LIMITS`]'s
//! `max_item` (shrunk by `crate::sink::oversize`), and a request within the 1 MB Sumo
//! recommends at most.

use super::protocol::{AuthScheme, Limits, Probe, ProbeTarget, Protocol};
use crate::config::SumoOptions;
use crate::record::EncodedRecord;

/// 64 KB per line (its newline included), 1 MB per request.
pub const LIMITS: Limits = Limits {
    max_body: 1_000_000,
    max_items: usize::MAX,
    max_item: 65_536,
};

pub struct Sumo {
    options: SumoOptions,
}

impl Sumo {
    pub fn new(options: SumoOptions) -> Self {
        Sumo { options }
    }
}

impl Protocol for Sumo {
    fn path(&self) -> Option<&str> {
        None
    }
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }
    fn limits(&self) -> Limits {
        LIMITS
    }
    fn auth(&self) -> AuthScheme {
        // The URL carries the credential; the sink refuses a configured auth value.
        AuthScheme::Configured
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(c) = &self.options.category {
            h.push(("x-sumo-category", c.clone()));
        }
        if let Some(n) = &self.options.name {
            h.push(("x-sumo-name", n.clone()));
        }
        h
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let mut v = Vec::with_capacity(record.json.len() + 1);
        v.extend_from_slice(record.json.as_bytes());
        v.push(b'\n');
        v
    }
    fn probes(&self) -> Vec<Probe> {
        vec![Probe {
            label: "source",
            post: true,
            target: ProbeTarget::Endpoint,
            body: Vec::new(),
            authenticated: false,
            judge: |status, _| match status {
                200..=299 => Ok(format!("HTTP source answered HTTP {status}")),
                _ => Err(format!("HTTP {status}: the source URL was refused")),
            },
        }]
    }
}
