//! The seam between the HTTPS transport and what a collector speaks: a [`Protocol`] knows
//! its path, envelope, auth header, limits and how to read its answer into a verdict per
//! record. The transport (`super`) sends, retries through `crate::retry::drive`, and never
//! needs to know which product is on the other end.

use time::OffsetDateTime;

use crate::record::EncodedRecord;
use crate::retry::Verdict;

/// A product's own bounds, fed to the batch planner with the configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed body bytes.
    pub max_body: usize,
    pub max_items: usize,
    /// Bytes of one encoded record.
    pub max_item: usize,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_body: usize::MAX,
        max_items: usize::MAX,
        max_item: usize::MAX,
    };
}

/// How the credential is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `COLLECTOR_AUTH_HEADER` with the value verbatim (generic formats).
    Configured,
    /// This header, with `prefix` before the bare token (`Splunk `, `ApiKey `, or none).
    Header {
        name: &'static str,
        prefix: &'static str,
    },
    /// The credential is a JSON object: each `(member, header)` pair sends that member's
    /// string value in that header (Google SecOps: an API key and a feed secret).
    JsonMembers(&'static [(&'static str, &'static str)]),
    /// The credential is an Entra ID app's client secret, exchanged for a token sent as
    /// `Authorization: Bearer` (`super::entra`).
    EntraToken,
}

/// Body framing: `open`, the items joined by `separator`, `close`.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub open: &'static [u8],
    pub separator: &'static [u8],
    pub close: &'static [u8],
}

pub const NDJSON: Frame = Frame {
    open: b"",
    separator: b"",
    close: b"",
};

/// What a collector's answer says about the records of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The same for every record.
    All(Verdict),
    /// One verdict per record, in request order; records without one are retried.
    Each(Vec<Verdict>),
    /// Received but not yet confirmed: poll the acknowledgement with this id.
    Pending { ack_id: u64 },
}

/// Where a probe goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeTarget {
    /// The endpoint records are posted to.
    Endpoint,
    /// A path on the collector's base URL.
    Base(&'static str),
    /// A path on the product's API host (Datadog: `api.` rather than `http-intake.logs.`).
    ApiHost(&'static str),
    /// The protocol's acknowledgement poll ([`Protocol::ack_poll`]), for an id never issued.
    AckPoll,
}

/// One `check` request and how to judge its answer (`Ok` detail or `Err` reason).
pub struct Probe {
    pub label: &'static str,
    pub post: bool,
    pub target: ProbeTarget,
    pub body: Vec<u8>,
    pub authenticated: bool,
    pub judge: fn(u16, &[u8]) -> Result<String, String>,
}

pub trait Protocol: Send + Sync {
    /// The path appended to the base URL, unless the URL already ends with it.
    fn path(&self) -> Option<&str>;
    /// Whether a collector URL with this path (no query, no trailing `/`) is the product's
    /// endpoint itself, posted to as given: a compatible product at its own path. Probes and
    /// acknowledgements that need the product's base URL are then not made.
    fn url_as_given(&self, url_path: &str) -> bool {
        let _ = url_path;
        false
    }
    /// A query string added to the endpoint (without `?`).
    fn query(&self) -> Option<&'static str> {
        None
    }
    fn content_type(&self) -> &'static str;
    fn auth(&self) -> AuthScheme;
    fn limits(&self) -> Limits {
        Limits::NONE
    }
    fn frame(&self) -> Frame {
        NDJSON
    }
    /// The most bytes an answer to a request of `items` records may take: a product whose
    /// answer grows with the request (Elasticsearch `_bulk`) says so.
    fn max_answer(&self, items: usize) -> usize {
        let _ = items;
        crate::sink::transport::MAX_RESPONSE_BYTES
    }
    /// Further headers on every request.
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// One record in the product's envelope (with its trailing newline where the format
    /// is line-based).
    fn encode(&self, record: &EncodedRecord) -> Vec<u8>;
    /// Reads the answer to a request of `items` records. `why` describes the answer
    /// (status and a masked excerpt) for error messages.
    fn read(&self, status: u16, body: &[u8], items: usize, why: &str) -> Answer {
        let _ = (body, items);
        Answer::All(Verdict::for_status(status, || why.to_string()))
    }
    /// The acknowledgement poll for `ack_id`: path and query on the base URL, and body.
    fn ack_poll(&self, ack_id: u64) -> Option<(String, Vec<u8>)> {
        let _ = ack_id;
        None
    }
    /// Whether an acknowledgement answer confirms `ack_id`.
    fn acked(&self, body: &[u8], ack_id: u64) -> bool {
        let _ = (body, ack_id);
        false
    }
    /// What `check` sends, in order.
    fn probes(&self) -> Vec<Probe>;
}

/// Joins a product path to a base URL, unless the URL already ends with it.
pub fn endpoint(base: &str, path: Option<&str>, query: Option<&str>) -> String {
    let (no_query, given_query) = match base.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (base, None),
    };
    let trimmed = no_query.trim_end_matches('/');
    let mut url = match path {
        Some(p) => format!("{trimmed}{}", path_rest(trimmed, p)),
        None => no_query.to_string(),
    };
    let queries: Vec<&str> = given_query.into_iter().chain(query).collect();
    if !queries.is_empty() {
        url.push('?');
        url.push_str(&queries.join("&"));
    }
    url
}

/// What of the preset's `path` the base URL does not already end with: all of it, none of it
/// (`…/services/collector/event` given whole), or the rest after a leading part the base
/// ends with (`…/services/collector`, a form Splunk's own docs use, gets `/event`).
fn path_rest<'p>(base: &str, path: &'p str) -> &'p str {
    if base.ends_with(path) {
        return "";
    }
    let cuts = path.match_indices('/').map(|(i, _)| i).filter(|&i| i > 0);
    let mut rest = path;
    for i in cuts {
        if base.ends_with(&path[..i]) {
            rest = &path[i..];
        }
    }
    rest
}

/// The record's `updatedAt`, read back from its `dedup_key` (`<id>:<updatedAt>`).
pub fn updated_at(record: &EncodedRecord) -> Option<&str> {
    record
        .dedup_key
        .strip_prefix(record.id.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|t| !t.is_empty())
}

/// A finding time as AWS writes it, read leniently: RFC 3339, a space instead of `T`, an
/// offset without a colon (`+0000`) or none at all (UTC).
pub fn parse_time(t: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let t = t.trim();
    if let Ok(v) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(v);
    }
    let mut s = t.replacen(' ', "T", 1);
    let (date_time, zone) = match s.rfind(['+', '-', 'Z']) {
        Some(i) if i > 10 => s.split_at(i),
        _ => (s.as_str(), ""),
    };
    let zone = match zone.as_bytes() {
        [] => "Z".to_string(),
        [sign @ (b'+' | b'-'), h1, h2, m1, m2]
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            format!(
                "{}{}{}:{}{}",
                *sign as char, *h1 as char, *h2 as char, *m1 as char, *m2 as char
            )
        }
        _ => zone.to_string(),
    };
    s = format!("{date_time}{zone}");
    OffsetDateTime::parse(&s, &Rfc3339).ok()
}

/// A time as RFC 3339 UTC with milliseconds (`2024-01-02T03:04:05.678Z`).
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The record's JSON object with `fields` (already-encoded `"key":value` pairs) placed
/// first. A record that is not an object is wrapped as `{"message": <record>}`.
pub fn with_leading_fields(record_json: &str, fields: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record_json.len() + 64);
    out.push(b'{');
    out.extend_from_slice(fields.join(",").as_bytes());
    let inner = record_json
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .map(str::trim);
    match inner {
        Some(body) => {
            if !body.is_empty() && !fields.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(body.as_bytes());
        }
        None => {
            if !fields.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"message\":");
            out.extend_from_slice(record_json.as_bytes());
        }
    }
    out.push(b'}');
    out
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// NDJSON or a JSON array of the records as they are.
pub struct Generic {
    array: bool,
}

impl Generic {
    pub fn new(array: bool) -> Self {
        Generic { array }
    }
}

fn generic_probe(status: u16, _body: &[u8]) -> Result<String, String> {
    match status {
        200..=299 => Ok(format!("authenticated probe answered HTTP {status}")),
        // Collectors often refuse an empty batch; the connection and credential were fine.
        400 | 411 | 413 | 415 | 422 => Ok(format!(
            "credential accepted (HTTP {status} to an empty probe)"
        )),
        _ => Err(format!("HTTP {status}")),
    }
}

impl Protocol for Generic {
    fn path(&self) -> Option<&str> {
        None
    }
    fn content_type(&self) -> &'static str {
        if self.array {
            "application/json"
        } else {
            "application/x-ndjson"
        }
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::Configured
    }
    fn frame(&self) -> Frame {
        if self.array {
            Frame {
                open: b"[",
                separator: b",",
                close: b"]",
            }
        } else {
            NDJSON
        }
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let mut v = Vec::with_capacity(record.json.len() + 1);
        v.extend_from_slice(record.json.as_bytes());
        if !self.array {
            v.push(b'\n');
        }
        v
    }
    fn probes(&self) -> Vec<Probe> {
        vec![Probe {
            label: "empty batch",
            post: true,
            target: ProbeTarget::Endpoint,
            body: if self.array {
                b"[]".to_vec()
            } else {
                Vec::new()
            },
            authenticated: true,
            judge: generic_probe,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_probe_takes_a_2xx_or_a_refused_empty_batch_as_a_working_credential() {
        assert_eq!(
            generic_probe(204, b""),
            Ok("authenticated probe answered HTTP 204".into())
        );
        for status in [400, 411, 413, 415, 422] {
            assert_eq!(
                generic_probe(status, b""),
                Ok(format!(
                    "credential accepted (HTTP {status} to an empty probe)"
                ))
            );
        }
        for status in [301, 401, 403, 404, 500] {
            assert_eq!(generic_probe(status, b""), Err(format!("HTTP {status}")));
        }
    }

    #[test]
    fn a_base_url_that_already_ends_in_the_preset_path_or_a_leading_part_of_it_is_used_as_given() {
        let hec = Some("/services/collector/event");
        for (base, want) in [
            ("https://h:8088", "https://h:8088/services/collector/event"),
            ("https://h:8088/", "https://h:8088/services/collector/event"),
            (
                "https://h:8088/services/collector",
                "https://h:8088/services/collector/event",
            ),
            (
                "https://h:8088/services/collector/",
                "https://h:8088/services/collector/event",
            ),
            (
                "https://h:8088/services/collector/event",
                "https://h:8088/services/collector/event",
            ),
        ] {
            assert_eq!(endpoint(base, hec, None), want, "{base}");
        }
        assert_eq!(
            endpoint("https://h/services/collector?x=1", hec, Some("channel=c")),
            "https://h/services/collector/event?x=1&channel=c"
        );
    }

    #[test]
    fn a_base_url_gets_the_product_path_once() {
        let cases = [
            (
                "https://hec.example.com:8088",
                "https://hec.example.com:8088/services/collector/event",
            ),
            (
                "https://hec.example.com:8088/",
                "https://hec.example.com:8088/services/collector/event",
            ),
            (
                "https://hec.example.com:8088/services/collector/event",
                "https://hec.example.com:8088/services/collector/event",
            ),
        ];
        for (base, want) in cases {
            assert_eq!(
                endpoint(base, Some("/services/collector/event"), None),
                want
            );
        }
        assert_eq!(
            endpoint(
                "https://es.example.com:9200",
                Some("/_bulk"),
                Some("filter_path=errors")
            ),
            "https://es.example.com:9200/_bulk?filter_path=errors"
        );
        assert_eq!(
            endpoint(
                "https://collectors.sumologic.com/receiver/v1/http/abc",
                None,
                None
            ),
            "https://collectors.sumologic.com/receiver/v1/http/abc"
        );
    }

    #[test]
    fn finding_times_are_read_in_the_shapes_aws_writes_them() {
        let cases = [
            ("2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.678Z"),
            ("2017-11-01T21:31:05.542+0000", "2017-11-01T21:31:05.542Z"),
            ("2025-02-25 20:40:06.721", "2025-02-25T20:40:06.721Z"),
            ("2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05.000Z"),
        ];
        for (given, want) in cases {
            assert_eq!(
                parse_time(given).map(rfc3339_millis).as_deref(),
                Some(want),
                "{given}"
            );
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-01-02T03:04:05+0é0"), None);
    }

    #[test]
    fn leading_fields_are_spliced_into_the_record_object() {
        let out = with_leading_fields(r#"{"id":"a"}"#, &[r#""ddsource":"guardduty""#.into()]);
        assert_eq!(out, br#"{"ddsource":"guardduty","id":"a"}"#);
        let out = with_leading_fields("{}", &[r#""k":1"#.into()]);
        assert_eq!(out, br#"{"k":1}"#);
        let out = with_leading_fields("[1]", &[r#""k":1"#.into()]);
        assert_eq!(out, br#"{"k":1,"message":[1]}"#);
    }
}
