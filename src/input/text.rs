//! Findings kept as text: the fast way to read a frame when records are written in the
//! native schema. A finding's JSON text is kept as it arrived (it becomes `raw_event`
//! unchanged) and only the members normalization reads are parsed
//! ([`crate::normalize::READS`]), so nothing else of the finding is built and freed again.
//!
//! Invariant (`tests/properties.rs`): for every frame, [`items`] gives what the full parse
//! gives ([`super::items_of_frame`]) — the same items in the same order, each finding the same
//! JSON value with the same event id, normalizing to the same record. It declines (returns
//! `false`, having added nothing) whenever the frame is anything but the common shapes: an
//! EventBridge GuardDuty Finding event or a bare finding. A value spread over several lines
//! (pretty-printed `get-findings` output) is first compacted ([`compacted`]: the whitespace
//! between tokens dropped, strings untouched) and kept as that one-line text, the same JSON
//! value. Everything else (other events, pages inside arrays, broken values) takes the full
//! parse, which also names what is wrong with it.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::frames::{Frame, FrameKind};
use crate::intake::{FindingJson, Incoming, Item};
use crate::normalize::{READS, finding_id};
use crate::view::{Keep, Pruned};

/// Adds the frame's finding to `out` and returns `true`, or returns `false` untouched when
/// the frame needs the full parse.
pub fn items(frame: &Frame<'_>, out: &mut Vec<Item>) -> bool {
    let bytes = frame.bytes;
    // A line break in a JSON text can only be whitespace between tokens: such a text is not
    // kept as it is (records are one line each).
    if bytes.first() != Some(&b'{') || memchr::memchr2(b'\n', b'\r', bytes).is_some() {
        return false;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let found = match frame.kind {
        FrameKind::Finding => bare(text),
        FrameKind::Document => document(text),
    };
    match found {
        Some(incoming) => {
            out.push(Item::Finding(incoming));
            true
        }
        None => false,
    }
}

/// [`items`] for a frame spread over several lines, compacted into `scratch` first.
pub fn compacted(frame: &Frame<'_>, scratch: &mut Vec<u8>, out: &mut Vec<Item>) -> bool {
    if memchr::memchr2(b'\n', b'\r', frame.bytes).is_none() {
        return false;
    }
    scratch.clear();
    compact(frame.bytes, scratch);
    let one_line = Frame {
        kind: frame.kind,
        bytes: scratch,
        line: frame.line,
        column: frame.column,
    };
    items(&one_line, out)
}

/// Appends `bytes` without the whitespace between JSON tokens to `out`; strings (escapes
/// included) are copied as they are, so a valid text stays the same value, and an invalid one
/// stays invalid.
pub fn compact(bytes: &[u8], out: &mut Vec<u8>) {
    let structural = |out: &mut Vec<u8>, seg: &[u8]| {
        out.extend(
            seg.iter()
                .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')),
        );
    };
    let mut rest = bytes;
    while let Some(quote) = memchr::memchr(b'"', rest) {
        let (outside, string) = rest.split_at(quote);
        structural(out, outside);
        // From the opening quote to just past the closing one (or the end).
        let mut end = 1;
        loop {
            match memchr::memchr2(b'"', b'\\', string.get(end..).unwrap_or_default()) {
                Some(p) if string.get(end + p) == Some(&b'\\') => end += p + 2,
                Some(p) => {
                    end += p + 1;
                    break;
                }
                None => {
                    end = string.len();
                    break;
                }
            }
        }
        let end = end.min(string.len());
        out.extend_from_slice(string.get(..end).unwrap_or_default());
        rest = string.get(end..).unwrap_or_default();
    }
    structural(out, rest);
}

/// A bare finding: the whole text.
fn bare(text: &str) -> Option<Incoming> {
    let view = crate::view::parse(text, READS).ok()?;
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    finding(None, raw, view)
}

/// An event or a bare finding, told apart in one pass over the text.
fn document(text: &str) -> Option<Incoming> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc = de.deserialize_map(DocVisitor).ok()?;
    de.end().ok()?;
    if doc.findings {
        return None;
    }
    if !doc.envelope {
        let raw: &RawValue = serde_json::from_str(text).ok()?;
        return finding(None, raw, Value::Object(doc.members));
    }
    let is_finding_event = doc.source.map(RawValue::get) == Some(SOURCE_JSON)
        && doc.detail_type.map(RawValue::get) == Some(DETAIL_TYPE_JSON);
    if !is_finding_event {
        return None;
    }
    let detail = doc.detail.filter(|d| d.get().starts_with('{'))?;
    let event_id = doc
        .members
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let view = crate::view::parse(detail.get(), READS).ok()?;
    finding(event_id, detail, view)
}

/// `source` and `detail-type` of a finding event as JSON text (other spellings of the same
/// strings take the full parse).
const SOURCE_JSON: &str = "\"aws.guardduty\"";
const DETAIL_TYPE_JSON: &str = "\"GuardDuty Finding\"";

/// The finding, if it has an id (one without is named by the full parse).
fn finding(event_id: Option<String>, text: &RawValue, view: Value) -> Option<Incoming> {
    finding_id(&view).ok()?;
    Some(Incoming {
        event_id,
        finding: FindingJson::Text {
            text: text.to_owned(),
            view,
        },
    })
}

/// One top-level object: the EventBridge members as text, the finding's members pruned.
#[derive(Default)]
struct Doc<'a> {
    members: Map<String, Value>,
    /// Any of `source`, `detail-type`, `detail` is present (whatever its value).
    envelope: bool,
    /// `findings` or `Findings` is present: a page.
    findings: bool,
    source: Option<&'a RawValue>,
    detail_type: Option<&'a RawValue>,
    detail: Option<&'a RawValue>,
}

enum DocKey {
    Source,
    DetailType,
    Detail,
    Findings,
    Member(String, Keep),
    Skip,
}

struct DocKeySeed;

impl<'de> DeserializeSeed<'de> for DocKeySeed {
    type Value = DocKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<DocKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for DocKeySeed {
    type Value = DocKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<DocKey, E> {
        Ok(match key {
            "source" => DocKey::Source,
            "detail-type" => DocKey::DetailType,
            "detail" => DocKey::Detail,
            "findings" | "Findings" => DocKey::Findings,
            _ => match READS.member(key) {
                Some(keep) => DocKey::Member(key.to_owned(), keep),
                None => DocKey::Skip,
            },
        })
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut doc = Doc::default();
        while let Some(key) = map.next_key_seed(DocKeySeed)? {
            match key {
                DocKey::Source => {
                    doc.envelope = true;
                    doc.source = Some(map.next_value()?);
                }
                DocKey::DetailType => {
                    doc.envelope = true;
                    doc.detail_type = Some(map.next_value()?);
                }
                DocKey::Detail => {
                    doc.envelope = true;
                    doc.detail = Some(map.next_value()?);
                }
                DocKey::Findings => {
                    doc.findings = true;
                    map.next_value::<IgnoredAny>()?;
                }
                DocKey::Member(key, keep) => {
                    let value = map.next_value_seed(Pruned(keep))?;
                    doc.members.insert(key, value);
                }
                DocKey::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{FINDING_DETAIL_TYPE, GUARDDUTY_SOURCE};

    fn read(input: &str) -> Vec<Item> {
        let mut items = Vec::new();
        crate::input::parse_documents_as(input.as_bytes(), crate::input::Parse::Text, &mut items);
        items
    }

    fn text_of(item: &Item) -> Option<&str> {
        match item {
            Item::Finding(Incoming {
                finding: FindingJson::Text { text, .. },
                ..
            }) => Some(text.get()),
            _ => None,
        }
    }

    #[test]
    fn one_line_events_bare_findings_and_page_findings_are_kept_as_the_text_that_arrived() {
        let input = concat!(
            r#"{"version": "0", "id": "ev-1", "source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": {"id": "a", "x": [1, 2.50]}}"#,
            "\n",
            r#"{"id": "b", "severity": 5}"#,
            "\n",
            r#"{"findings": [{"Id": "c"}, {"id": "d"}]}"#,
        );
        let items = read(input);
        let texts: Vec<_> = items.iter().map(text_of).collect();
        assert_eq!(
            texts,
            [
                Some(r#"{"id": "a", "x": [1, 2.50]}"#),
                Some(r#"{"id": "b", "severity": 5}"#),
                Some(r#"{"Id": "c"}"#),
                Some(r#"{"id": "d"}"#)
            ]
        );
        assert!(matches!(&items[0], Item::Finding(f) if f.event_id.as_deref() == Some("ev-1")));
    }

    #[test]
    fn pretty_printed_values_are_kept_compacted_and_other_events_are_parsed_whole() {
        let items = read("{\n  \"id\": \"a b\",\r\n\t\"x\": [ 1,\n 2 ], \"s\": \"\\\" \\\\\"\n}\n");
        let texts: Vec<_> = items.iter().map(text_of).collect();
        assert_eq!(texts, [Some(r#"{"id":"a b","x":[1,2],"s":"\" \\"}"#)]);
        let items =
            read(r#"{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}"#);
        assert!(matches!(&items[..], [Item::Ignored { .. }]), "{items:?}");
        let items = read(
            r#"{"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "id": "e", "detail": {"title": "no id"}}"#,
        );
        assert!(matches!(&items[..], [Item::Invalid(_)]), "{items:?}");
    }

    #[test]
    fn the_event_names_compared_as_text_are_the_intake_names_in_json() {
        assert_eq!(
            SOURCE_JSON,
            serde_json::to_string(GUARDDUTY_SOURCE).unwrap()
        );
        assert_eq!(
            DETAIL_TYPE_JSON,
            serde_json::to_string(FINDING_DETAIL_TYPE).unwrap()
        );
    }
}
