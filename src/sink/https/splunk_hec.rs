//! Splunk HTTP Event Collector: `POST /services/collector/event`, `Authorization: Splunk
//! <token>`, one `{"time","host","source","sourcetype":"aws:guardduty","index"?,"event"}`
//! envelope per record (`time` = the finding's `updatedAt` in epoch seconds, `host` = its
//! account). HEC's JSON answer is read: `code` 0 is success; on a bad event HEC names it
//! (`invalid-event-number`): the events before it were taken, it is refused, the rest are
//! sent again. With `COLLECTOR_HEC_ACK=true` every request carries a channel and a 200 only
//! counts once `/services/collector/ack` confirms the events were indexed; `check` asks
//! `/services/collector/ack` and fails naming acknowledgement when the token has it off.
//! A `Success` without `ackId` (a token without acknowledgement: Splunk Cloud offers it to
//! Firehose only) means HEC took the events: they count as delivered once, never posted
//! again, with one warning per process that acknowledgement is not in effect.

use std::sync::atomic::{AtomicBool, Ordering};

use super::protocol::{
    Answer, AuthScheme, Limits, Probe, ProbeTarget, Protocol, json_string, parse_time, updated_at,
};
use crate::config::HecOptions;
use crate::record::EncodedRecord;
use crate::retry::Verdict;
use serde::Deserialize;

pub const EVENT_PATH: &str = "/services/collector/event";
pub const ACK_PATH: &str = "/services/collector/ack";
pub const HEALTH_PATH: &str = "/services/collector/health";
pub const SOURCETYPE: &str = "aws:guardduty";
const DEFAULT_SOURCE: &str = "guardduty-forwarder";
/// HEC code: "ACK is disabled" (the token does not have indexer acknowledgement).
pub const ACK_DISABLED: i64 = 14;
/// HEC's `max_content_length` as Splunk Cloud sets it (1 MB; Splunk Enterprise's default is
/// larger): one request, hence one event, is at most this.
pub const LIMITS: Limits = Limits {
    max_body: 1_000_000,
    max_items: usize::MAX,
    max_item: 1_000_000,
};

pub struct SplunkHec {
    options: HecOptions,
    /// A GUID per process, sent as `X-Splunk-Request-Channel`.
    channel: String,
    /// The envelope's fixed fields, encoded once.
    fixed: String,
    /// Whether the "no ackId" warning was given (once per process).
    warned_no_ack: AtomicBool,
}

#[derive(Deserialize, Default)]
struct HecAnswer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(rename = "invalid-event-number", default)]
    invalid_event_number: Option<i64>,
    #[serde(rename = "ackId", default)]
    ack_id: Option<u64>,
}

impl SplunkHec {
    pub fn new(options: HecOptions) -> Self {
        let mut fixed = format!(
            "\"source\":{},\"sourcetype\":{}",
            json_string(options.source.as_deref().unwrap_or(DEFAULT_SOURCE)),
            json_string(SOURCETYPE)
        );
        if let Some(index) = &options.index {
            fixed.push_str(&format!(",\"index\":{}", json_string(index)));
        }
        SplunkHec {
            options,
            channel: new_channel(),
            fixed,
            warned_no_ack: AtomicBool::new(false),
        }
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }
}

/// A random GUID (version 4 layout).
fn new_channel() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Epoch seconds (with milliseconds) of a finding time.
fn epoch_seconds(t: &str) -> Option<String> {
    let t = parse_time(t)?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Some(format!(
        "{}.{:03}",
        ms.div_euclid(1000),
        ms.rem_euclid(1000)
    ))
}

/// HEC codes meaning "busy or unhealthy, try later".
fn is_busy(code: i64) -> bool {
    matches!(code, 8 | 9 | 18 | 19 | 20)
}

impl Protocol for SplunkHec {
    fn path(&self) -> Option<&str> {
        Some(EVENT_PATH)
    }
    /// A URL with a path that is not Splunk's (`…/services/collector[/event]`) is an HEC
    /// endpoint of its own, such as CrowdStrike Falcon LogScale's `/api/v1/ingest/hec`: it
    /// is posted to as given. A base URL without a path gets Splunk's.
    fn url_as_given(&self, url_path: &str) -> bool {
        !url_path.is_empty()
            && !url_path.ends_with("/services/collector")
            && !url_path.ends_with(EVENT_PATH)
    }
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn auth(&self) -> AuthScheme {
        AuthScheme::Header {
            name: "authorization",
            prefix: "Splunk ",
        }
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("x-splunk-request-channel", self.channel.clone())]
    }
    fn limits(&self) -> Limits {
        LIMITS
    }
    fn encode(&self, record: &EncodedRecord) -> Vec<u8> {
        let mut out = String::with_capacity(record.json.len() + 160);
        out.push('{');
        if let Some(t) = updated_at(record).and_then(epoch_seconds) {
            out.push_str(&format!("\"time\":{t},"));
        }
        let host = record.account_id.as_deref().unwrap_or("aws");
        out.push_str(&format!("\"host\":{},", json_string(host)));
        out.push_str(&self.fixed);
        out.push_str(",\"event\":");
        out.push_str(&record.json);
        out.push_str("}\n");
        out.into_bytes()
    }
    fn read(&self, status: u16, body: &[u8], items: usize, why: &str) -> Answer {
        let answer: HecAnswer = serde_json::from_slice(body).unwrap_or_default();
        let detail = || match (&answer.text, answer.code) {
            (Some(t), Some(c)) => format!("{why} (HEC code {c}: {t})"),
            _ => why.to_string(),
        };
        if (200..300).contains(&status) {
            return match (answer.code, answer.ack_id, self.options.ack) {
                (Some(0) | None, Some(ack_id), true) => Answer::Pending { ack_id },
                (Some(0) | None, _, true) => {
                    // HEC took the events; posting them again would index them again.
                    if !self.warned_no_ack.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            message = "COLLECTOR_HEC_ACK is true but HEC answered without an ackId: the token has indexer acknowledgement off, so events count as delivered when HEC accepts them. Turn acknowledgement on for the token, or unset COLLECTOR_HEC_ACK."
                        );
                    }
                    Answer::All(Verdict::Delivered)
                }
                (Some(0) | None, _, false) => Answer::All(Verdict::Delivered),
                (Some(_), _, _) => Answer::All(Verdict::Retry(detail())),
            };
        }
        if let Some(code) = answer.code.filter(|c| is_busy(*c)) {
            let _ = code;
            return Answer::All(Verdict::Retry(detail()));
        }
        let bad = answer
            .invalid_event_number
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n < items);
        match bad {
            // HEC indexes events in order and stops at the bad one.
            Some(bad) if status == 400 => Answer::Each(
                (0..items)
                    .map(|i| match i.cmp(&bad) {
                        // Received, but with acks on only an ackId would prove it: send again.
                        std::cmp::Ordering::Less if self.options.ack => Verdict::Retry(
                            "sent again: the batch was refused after this event".into(),
                        ),
                        std::cmp::Ordering::Less => Verdict::Delivered,
                        std::cmp::Ordering::Equal => Verdict::Failed(detail()),
                        std::cmp::Ordering::Greater => {
                            Verdict::Retry(format!("after a refused event: {}", detail()))
                        }
                    })
                    .collect(),
            ),
            _ => Answer::All(Verdict::for_status(status, detail)),
        }
    }
    fn ack_poll(&self, ack_id: u64) -> Option<(String, Vec<u8>)> {
        Some((
            format!("{ACK_PATH}?channel={}", self.channel),
            format!("{{\"acks\":[{ack_id}]}}").into_bytes(),
        ))
    }
    fn acked(&self, body: &[u8], ack_id: u64) -> bool {
        #[derive(Deserialize)]
        struct Acks {
            acks: std::collections::HashMap<String, bool>,
        }
        serde_json::from_slice::<Acks>(body)
            .ok()
            .and_then(|a| a.acks.get(&ack_id.to_string()).copied())
            .unwrap_or(false)
    }
    fn probes(&self) -> Vec<Probe> {
        let mut probes = vec![
            Probe {
                label: "health",
                post: false,
                target: ProbeTarget::Base(HEALTH_PATH),
                body: Vec::new(),
                authenticated: false,
                judge: |status, body| match status {
                    200 => Ok("HEC is healthy".into()),
                    _ => Err(format!(
                        "HEC health answered HTTP {status}: {}",
                        String::from_utf8_lossy(body)
                            .chars()
                            .take(120)
                            .collect::<String>()
                    )),
                },
            },
            Probe {
                label: "token",
                post: true,
                target: ProbeTarget::Endpoint,
                body: Vec::new(),
                authenticated: true,
                judge: |status, body| {
                    let a: HecAnswer = serde_json::from_slice(body).unwrap_or_default();
                    match (status, a.code) {
                        (200..=299, _) => Ok("token accepted".into()),
                        // 5 = "No data": the token was good, the probe was empty.
                        (400, Some(5)) => Ok("token accepted (HEC code 5, no data)".into()),
                        (_, Some(c)) => Err(format!(
                            "HTTP {status}, HEC code {c}: {}",
                            a.text.unwrap_or_default()
                        )),
                        _ => Err(format!("HTTP {status}")),
                    }
                },
            },
        ];
        if self.options.ack {
            probes.push(Probe {
                label: "acknowledgement",
                post: true,
                target: ProbeTarget::AckPoll,
                body: Vec::new(),
                authenticated: true,
                judge: ack_judge,
            });
        }
        probes
    }
}

/// `check`'s ack poll: any `acks` answer means the token has acknowledgement on.
fn ack_judge(status: u16, body: &[u8]) -> Result<String, String> {
    let a: HecAnswer = serde_json::from_slice(body).unwrap_or_default();
    let has_acks = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("acks").is_some());
    match (status, a.code) {
        (200..=299, _) if has_acks => Ok("indexer acknowledgement is on".into()),
        (_, Some(ACK_DISABLED)) => Err(format!(
            "indexer acknowledgement is off for this token (HEC code {ACK_DISABLED}: {}): turn it on for the token, or unset COLLECTOR_HEC_ACK",
            a.text.unwrap_or_default()
        )),
        (_, Some(c)) => Err(format!(
            "acknowledgement poll answered HTTP {status}, HEC code {c}: {}",
            a.text.unwrap_or_default()
        )),
        _ => Err(format!("acknowledgement poll answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hec(ack: bool) -> SplunkHec {
        SplunkHec::new(HecOptions {
            index: Some("security".into()),
            source: None,
            ack,
        })
    }

    fn record() -> EncodedRecord {
        EncodedRecord {
            id: "f1".into(),
            dedup_key: "f1:2024-01-02T03:04:05.678Z".into(),
            severity: None,
            finding_type: None,
            account_id: Some("123456789012".into()),
            json: r#"{"id":"f1"}"#.into(),
            ..EncodedRecord::default()
        }
    }

    #[test]
    fn the_envelope_carries_time_host_source_sourcetype_index_and_the_record() {
        let line = hec(false).encode(&record());
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["time"], serde_json::json!(1704164645.678));
        assert_eq!(v["host"], "123456789012");
        assert_eq!(v["source"], "guardduty-forwarder");
        assert_eq!(v["sourcetype"], "aws:guardduty");
        assert_eq!(v["index"], "security");
        assert_eq!(v["event"]["id"], "f1");
        assert!(line.ends_with(b"\n"));
    }

    #[test]
    fn hec_answers_map_to_verdicts_per_event() {
        let h = hec(false);
        let cases: &[(u16, &str, Answer)] = &[
            (
                200,
                r#"{"text":"Success","code":0}"#,
                Answer::All(Verdict::Delivered),
            ),
            (
                400,
                r#"{"text":"Invalid data format","code":6,"invalid-event-number":1}"#,
                Answer::Each(vec![
                    Verdict::Delivered,
                    Verdict::Failed("HTTP 400 (HEC code 6: Invalid data format)".into()),
                    Verdict::Retry(
                        "after a refused event: HTTP 400 (HEC code 6: Invalid data format)".into(),
                    ),
                ]),
            ),
            (
                503,
                r#"{"text":"Server is busy","code":9}"#,
                Answer::All(Verdict::Retry(
                    "HTTP 503 (HEC code 9: Server is busy)".into(),
                )),
            ),
            // A busy or unhealthy code is retried whatever status carries it.
            (
                400,
                r#"{"text":"Server is busy","code":9,"invalid-event-number":0}"#,
                Answer::All(Verdict::Retry(
                    "HTTP 400 (HEC code 9: Server is busy)".into(),
                )),
            ),
            (
                400,
                r#"{"text":"Incorrect index","code":7}"#,
                Answer::All(Verdict::Failed(
                    "HTTP 400 (HEC code 7: Incorrect index)".into(),
                )),
            ),
        ];
        for (status, body, want) in cases {
            let why = format!("HTTP {status}");
            assert_eq!(&h.read(*status, body.as_bytes(), 3, &why), want, "{body}");
        }
    }

    #[test]
    fn only_a_400_naming_an_event_of_the_request_splits_the_verdicts() {
        let h = hec(false);
        let why = "HTTP 400";
        // An event number past the request names none of its events: the whole is refused.
        assert_eq!(
            h.read(
                400,
                br#"{"text":"Invalid data format","code":6,"invalid-event-number":3}"#,
                3,
                why
            ),
            Answer::All(Verdict::Failed(
                "HTTP 400 (HEC code 6: Invalid data format)".into()
            ))
        );
        // Another status names no event either.
        assert_eq!(
            h.read(
                403,
                br#"{"text":"Invalid token","code":4,"invalid-event-number":1}"#,
                3,
                "HTTP 403"
            ),
            Answer::All(Verdict::Failed(
                "HTTP 403 (HEC code 4: Invalid token)".into()
            ))
        );
        // With acknowledgement on, the events before the refused one are not proven indexed.
        let acked = hec(true);
        let Answer::Each(vs) = acked.read(
            400,
            br#"{"text":"Invalid data format","code":6,"invalid-event-number":1}"#,
            3,
            why,
        ) else {
            panic!("one verdict per event")
        };
        assert!(
            matches!(&vs[0], Verdict::Retry(w) if w.starts_with("sent again")),
            "{vs:?}"
        );
        assert!(matches!(&vs[1], Verdict::Failed(_)), "{vs:?}");
        assert!(matches!(&vs[2], Verdict::Retry(_)), "{vs:?}");
    }

    #[test]
    fn with_acks_a_200_waits_for_the_indexers() {
        let h = hec(true);
        assert_eq!(
            h.read(
                200,
                br#"{"text":"Success","code":0,"ackId":7}"#,
                2,
                "HTTP 200"
            ),
            Answer::Pending { ack_id: 7 }
        );
        assert!(h.acked(br#"{"acks":{"7":true}}"#, 7));
        assert!(!h.acked(br#"{"acks":{"7":false}}"#, 7));
        assert!(!h.acked(b"garbage", 7));
        let (path, body) = h.ack_poll(7).unwrap();
        assert_eq!(
            path,
            format!("/services/collector/ack?channel={}", h.channel())
        );
        assert_eq!(body, br#"{"acks":[7]}"#);
    }

    #[test]
    fn with_acks_on_a_success_without_ack_id_counts_as_delivered_once() {
        let h = hec(true);
        for _ in 0..2 {
            assert_eq!(
                h.read(200, br#"{"text":"Success","code":0}"#, 10, "HTTP 200"),
                Answer::All(Verdict::Delivered)
            );
        }
        assert!(h.warned_no_ack.load(Ordering::Relaxed));
        assert!(
            ack_judge(400, br#"{"text":"ACK is disabled","code":14}"#).is_err_and(|e| e
                .contains("acknowledgement is off")
                && e.contains("COLLECTOR_HEC_ACK"))
        );
        assert!(ack_judge(200, br#"{"acks":{"0":false}}"#).is_ok());
        assert_eq!(
            ack_judge(200, br#"{"text":"Success","code":0}"#),
            Err("acknowledgement poll answered HTTP 200, HEC code 0: Success".into()),
            "a 2xx without acks does not prove acknowledgement is on"
        );
        assert_eq!(
            ack_judge(403, br#"{"text":"Invalid token","code":4}"#),
            Err("acknowledgement poll answered HTTP 403, HEC code 4: Invalid token".into())
        );
        assert_eq!(
            ack_judge(502, b"<html>"),
            Err("acknowledgement poll answered HTTP 502".into())
        );
    }

    #[test]
    fn a_channel_is_a_guid() {
        let c = new_channel();
        let parts: Vec<usize> = c.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{c}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// Whatever HEC answers, reading it never panics and a per-event answer has
            /// exactly one verdict per event sent, none of them "delivered" after a refused one.
            #[test]
            fn any_answer_gives_one_verdict_per_event(
                status in 100u16..600,
                code in proptest::option::of(-2i64..25),
                bad in proptest::option::of(-3i64..12),
                items in 1usize..10,
                ack in any::<bool>(),
                noise in proptest::collection::vec(any::<u8>(), 0..40),
            ) {
                let mut body = serde_json::json!({"text": "x"});
                if let Some(c) = code { body["code"] = c.into(); }
                if let Some(b) = bad { body["invalid-event-number"] = b.into(); }
                for raw in [serde_json::to_vec(&body).unwrap(), noise] {
                    if let Answer::Each(v) = hec(ack).read(status, &raw, items, "why") {
                        prop_assert_eq!(v.len(), items);
                        let refused = v.iter().position(|x| matches!(x, Verdict::Failed(_)));
                        if let Some(r) = refused {
                            prop_assert!(v.iter().skip(r + 1).all(|x| !matches!(x, Verdict::Delivered)));
                        }
                    }
                }
            }
        }
    }
}
