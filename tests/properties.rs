//! Property tests of the parsers that read outside input: intake (EventBridge envelopes, CLI
//! documents) and normalization (native and OCSF). Bounded case counts keep `scripts/test`
//! fast; the seed corpus is the fixture findings in `tests/fixtures/corpus`, and any input a
//! property once failed on is kept in `tests/fixtures/hostile/` and replayed here.
//!
//! Invariants:
//! - No input panics.
//! - Every input gives a record or a named error (an `IntakeError` / `NormalizeError`).
//! - A record is valid JSON, and parsing then re-serializing it gives the same text.
//! - A native record's `raw_event` equals the finding as it arrived.
//! - A finding the CLI keeps as text (only what normalization reads parsed, the text becoming
//!   `raw_event` as it is) gives exactly the record of the finding parsed whole, and the CLI's
//!   two ways of reading a document give the same items.

mod support;

use guardduty_forwarder::input::{Parse, Reader, Source, parse_documents, parse_documents_as};
use guardduty_forwarder::intake::{FindingJson, Item, Routed, route_event};
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, READS, Via};
use guardduty_forwarder::record::encode;
use guardduty_forwarder::view::{self, Keep};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

const CASES: u32 = 128;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are kept by hand in tests/fixtures/hostile/, replayed below.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The corpus findings, as the CLI reads them.
fn corpus_findings() -> Vec<Value> {
    let out = support::corpus::finding_values();
    assert!(out.len() >= 20, "the corpus holds findings");
    out
}

/// Strings the wild produces: odd escapes, lone surrogates escaped, control characters,
/// timestamps in every format seen, huge ones.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,30}",
        Just("2025-02-25 20:40:06.721".to_string()),
        Just("2025-02-25T20:40:06.721+0000".to_string()),
        Just("2025-02-25T20:40:06Z".to_string()),
        Just("1740516006721".to_string()),
        Just("\u{0}\u{1f}\u{7f}\u{feff}\u{202e}".to_string()),
        Just("\\ud800".to_string()),
        (1usize..200_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        odd_string().prop_map(Value::String),
    ];
    // Keys: random ones, and the ones a finding is read by (in both spellings), so objects
    // with an `id` (of any type) come up often, not once in a blue moon.
    let key = prop_oneof![
        "\\PC{0,12}",
        Just("id".to_string()),
        Just("Id".to_string()),
        Just("updatedAt".to_string()),
        Just("severity".to_string()),
        Just("type".to_string()),
        Just("service".to_string()),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Any JSON value, half the time an object with an `id` of any type (a finding, or nearly).
fn finding_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json(),
        (any_json(), any_json(), any::<bool>()).prop_map(|(body, id, pascal)| {
            let mut obj = match body {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            obj.insert(if pascal { "Id" } else { "id" }.into(), id);
            Value::Object(obj)
        }),
        (any_json(), "[a-f0-9]{1,32}").prop_map(|(body, id)| {
            let mut obj = match body {
                Value::Object(o) => o,
                _ => Map::new(),
            };
            obj.insert("id".into(), Value::String(id));
            Value::Object(obj)
        }),
    ]
}

/// Why `encode` must refuse this value, worked out from the value alone (`None`: it must
/// give a record): not an object, or no `id` (`Id`) that is a non-blank string or a number.
fn expected_refusal(finding: &Value) -> Option<&'static str> {
    let Some(obj) = finding.as_object() else {
        return Some("is not a JSON object");
    };
    match obj.get("id").or_else(|| obj.get("Id")) {
        Some(Value::String(s)) if !s.trim().is_empty() => None,
        Some(Value::Number(_)) => None,
        _ => Some("has no id"),
    }
}

/// Every field normalization reads, at top level and below `service` / `resource`.
const TOP: [&str; 13] = [
    "id",
    "arn",
    "accountId",
    "region",
    "partition",
    "type",
    "title",
    "description",
    "severity",
    "createdAt",
    "updatedAt",
    "service",
    "resource",
];
const SERVICE: [&str; 7] = [
    "eventFirstSeen",
    "eventLastSeen",
    "count",
    "archived",
    "action",
    "additionalInfo",
    "resourceRole",
];

/// A corpus finding with some fields replaced by any JSON (any type) or removed.
fn mutated_finding() -> impl Strategy<Value = Value> {
    let corpus = corpus_findings();
    (
        0..corpus.len(),
        prop::collection::vec(
            (0..TOP.len() + SERVICE.len(), any_json(), any::<bool>()),
            0..6,
        ),
    )
        .prop_map(move |(i, edits)| {
            let mut f = corpus.get(i).cloned().unwrap_or_else(|| json!({}));
            for (field, value, remove) in edits {
                let (target, key) = match TOP.get(field) {
                    Some(k) => (&mut f, *k),
                    None => match f.get_mut("service") {
                        Some(s) if s.is_object() => (
                            s,
                            SERVICE.get(field - TOP.len()).copied().unwrap_or("count"),
                        ),
                        _ => continue,
                    },
                };
                if let Some(obj) = target.as_object_mut() {
                    if remove {
                        obj.remove(key);
                    } else {
                        obj.insert(key.to_string(), value);
                    }
                }
            }
            f
        })
}

/// A value shaped by a `Keep` tree: any of the members it names (in either spelling, some
/// wrapped in arrays, some of any type) beside members it does not name, so every path
/// normalization reads gets values of every kind.
fn shaped_by(keep: Keep, depth: u32) -> BoxedStrategy<Value> {
    let Keep::Members(members) = keep else {
        return prop_oneof![
            odd_string().prop_map(Value::String),
            any::<f64>().prop_map(Value::from),
            Just(json!("8.5")),
            Just(json!("true")),
            any_json(),
        ]
        .boxed();
    };
    if depth == 0 {
        return any_json().boxed();
    }
    // Each named member is present more often than not, so that combinations (a fallback
    // read only when another member is missing) come up within the case budget.
    let named: Vec<BoxedStrategy<Option<(String, Value)>>> = members
        .iter()
        .map(|&(name, child)| {
            let pascal = format!("{}{}", name[..1].to_ascii_uppercase(), &name[1..]);
            let member = (
                prop_oneof![3 => Just(name.to_string()), 1 => Just(pascal)],
                prop_oneof![
                    8 => shaped_by(child, depth - 1),
                    1 => prop::collection::vec(shaped_by(child, depth - 1), 0..3).prop_map(Value::Array),
                    1 => any_json(),
                ],
            );
            prop::option::weighted(0.6, member).boxed()
        })
        .collect();
    (
        named,
        prop::collection::vec(("[a-z]{1,8}", any_json()), 0..3),
    )
        .prop_map(|(named, noise)| {
            Value::Object(
                named
                    .into_iter()
                    .flatten()
                    .chain(noise)
                    .collect::<Map<_, _>>(),
            )
        })
        .boxed()
}

/// A corpus finding with members removed at any depth (each with probability 1/4), so that
/// every fallback normalization has (a second-choice field read when the first is missing)
/// comes up with real values. Unlike [`shaped_by`], this knows nothing of `READS`: a lookup
/// missing there shows up as a record that differs when the finding is kept as text.
fn thinned_corpus_finding() -> impl Strategy<Value = Value> {
    fn thin(v: &mut Value, rng: &mut fastrand::Rng) {
        match v {
            Value::Object(o) => {
                o.retain(|_, _| rng.u8(0..4) != 0);
                o.values_mut().for_each(|v| thin(v, rng));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| thin(v, rng)),
            _ => {}
        }
    }
    let corpus = corpus_findings();
    (0..corpus.len(), any::<u64>()).prop_map(move |(i, seed)| {
        let mut f = corpus.get(i).cloned().unwrap_or_else(|| json!({}));
        let id = f.get("id").or(f.get("Id")).cloned();
        thin(&mut f, &mut fastrand::Rng::with_seed(seed));
        if let (Some(o), Some(id)) = (f.as_object_mut(), id) {
            o.insert("id".into(), id);
        }
        f
    })
}

/// The finding kept as its compact text, as the CLI reads it for native records.
fn as_text(finding: &Value) -> FindingJson {
    let text = finding.to_string();
    FindingJson::Text {
        view: view::parse(&text, READS).expect("valid JSON"),
        text: RawValue::from_string(text).expect("valid JSON"),
    }
}

/// Encodes in both schemas and checks the record invariants, for the finding parsed whole
/// and kept as text.
fn check_encoding(finding: &Value) -> Result<(), TestCaseError> {
    let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
    let whole = FindingJson::Parsed(finding.clone());
    let text = as_text(finding);
    for schema in [
        OutputSchema::Native,
        OutputSchema::Ocsf(OcsfVersion::V1_1_0),
        OutputSchema::Ocsf(OcsfVersion::V1_8_0),
    ] {
        let from_text = encode(&text, &ingest, schema).map_err(|e| e.to_string());
        let from_whole = encode(&whole, &ingest, schema);
        prop_assert_eq!(
            from_whole
                .as_ref()
                .map(|r| &r.json)
                .map_err(|e| e.to_string()),
            from_text.as_ref().map(|r| &r.json).map_err(Clone::clone),
            "a finding kept as text gives the same record"
        );
        match (from_whole, expected_refusal(finding)) {
            (Err(e), Some(why)) => {
                prop_assert!(e.to_string().contains(why), "{e} (expected: {why})")
            }
            (Err(e), None) => {
                return Err(TestCaseError::fail(format!(
                    "refused a finding with an id: {e}"
                )));
            }
            (Ok(_), Some(why)) => {
                return Err(TestCaseError::fail(format!("encoded a value that {why}")));
            }
            (Ok(r), None) => {
                let parsed: Value = serde_json::from_str(&r.json)
                    .map_err(|e| TestCaseError::fail(format!("record is not JSON: {e}")))?;
                let again = serde_json::to_string(&parsed).expect("serialize");
                prop_assert_eq!(&again, &r.json, "the record round-trips");
                if schema == OutputSchema::Native {
                    prop_assert_eq!(&parsed["raw_event"], finding);
                    prop_assert_eq!(&parsed["source"], "aws_guardduty");
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_field_of_any_type_gives_a_record_or_a_named_error(finding in mutated_finding()) {
        check_encoding(&finding)?;
    }

    #[test]
    fn any_finding_with_values_on_every_path_normalization_reads_gives_the_same_record_as_text(
        mut finding in shaped_by(READS, 5),
        id in "[a-f0-9]{1,32}",
    ) {
        finding.as_object_mut().map(|o| o.insert("id".into(), Value::String(id)));
        check_encoding(&finding)?;
    }

    #[test]
    fn any_corpus_finding_with_members_removed_gives_the_same_record_as_text(
        finding in thinned_corpus_finding()
    ) {
        check_encoding(&finding)?;
    }

    #[test]
    fn any_json_value_as_a_finding_gives_a_record_or_a_named_error(v in finding_like()) {
        check_encoding(&v)?;
    }

    #[test]
    fn any_eventbridge_envelope_is_routed_or_refused_with_a_named_error(
        source in prop_oneof![Just(json!("aws.guardduty")), Just(json!("aws.events")), any_json()],
        detail_type in prop_oneof![
            Just(json!("GuardDuty Finding")), Just(json!("Scheduled Event")), any_json()],
        id in any_json(),
        detail in prop_oneof![mutated_finding(), any_json()],
        drop_detail in any::<bool>(),
    ) {
        let mut event = json!({"version": "0", "id": id, "source": source,
            "detail-type": detail_type, "detail": detail.clone()});
        if drop_detail {
            event.as_object_mut().map(|o| o.remove("detail"));
        }
        match route_event(event) {
            Ok(Routed::Finding(incoming)) => {
                prop_assert_eq!(incoming.finding.view(), &detail);
                check_encoding(&detail)?;
            }
            Ok(Routed::Scheduled | Routed::Ignored { .. }) => {}
            Err(e) => prop_assert!(e.to_string().contains("GuardDuty Finding event")),
        }
    }

    #[test]
    fn any_bytes_as_a_cli_document_give_items_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..4096)
    ) {
        for item in items_of(&bytes) {
            if let Item::Invalid(e) = item {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn every_finding_of_a_cli_document_arrives_unchanged(
        findings in prop::collection::vec(mutated_finding(), 1..5),
        shape in 0usize..4,
    ) {
        let text = match shape {
            0 => findings.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n"),
            1 => Value::Array(findings.clone()).to_string(),
            2 => json!({"findings": findings.clone()}).to_string(),
            _ => findings
                .iter()
                .map(|f| json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding",
                    "id": "e", "detail": f}).to_string())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let whole = items_of(text.as_bytes());
        for item in &whole {
            match item {
                Item::Finding(f) => {
                    let f = f.finding.full().expect("parsed");
                    prop_assert!(findings.contains(&f));
                    check_encoding(&f)?;
                }
                Item::Invalid(e) => prop_assert!(!e.to_string().is_empty()),
                Item::Ignored { .. } => {}
            }
        }
        check_same_items(text.as_bytes())?;
    }

    #[test]
    fn any_document_reads_the_same_with_findings_kept_as_text(
        docs in prop::collection::vec(
            prop_oneof![
                mutated_finding(),
                any_json(),
                (mutated_finding(), any_json(), any::<bool>()).prop_map(|(f, id, other)| json!({
                    "version": "0", "id": id, "source": if other { "aws.events" } else { "aws.guardduty" },
                    "detail-type": "GuardDuty Finding", "detail": f})),
                prop::collection::vec(mutated_finding(), 0..3).prop_map(|fs| json!({"findings": fs})),
            ],
            1..4,
        ),
        pretty in any::<bool>(),
    ) {
        let text = docs
            .iter()
            .map(|d| if pretty { serde_json::to_string_pretty(d).expect("json") } else { d.to_string() })
            .collect::<Vec<_>>()
            .join("\n");
        check_same_items(text.as_bytes())?;
    }
}

/// Reading `bytes` with findings kept as text gives the items of the whole parse: the same
/// findings (as JSON values, with the same event ids, normalizing to the same record), the
/// same ignored events and the same errors, in the same order.
fn check_same_items(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut text = Vec::new();
    parse_documents_as(bytes, Parse::Text, &mut text);
    let whole = items_of(bytes);
    prop_assert_eq!(text.len(), whole.len());
    let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
    for (t, w) in text.iter().zip(&whole) {
        match (t, w) {
            (Item::Finding(t), Item::Finding(w)) => {
                prop_assert_eq!(&t.event_id, &w.event_id);
                prop_assert_eq!(&t.finding, &w.finding);
                let record = |f: &FindingJson| {
                    let mut r: Value = serde_json::from_str(
                        &encode(f, &ingest, OutputSchema::Native)
                            .expect("a record")
                            .json,
                    )
                    .expect("json");
                    r.as_object_mut().map(|o| o.remove("raw_event"));
                    r
                };
                prop_assert_eq!(record(&t.finding), record(&w.finding));
            }
            (t, w) => prop_assert_eq!(t, w),
        }
    }
    Ok(())
}

#[test]
fn deeply_nested_documents_are_refused_with_a_named_error_not_a_stack_overflow() {
    for depth in [200usize, 100_000] {
        let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let items: Vec<Item> = items_of(doc.as_bytes());
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Item::Invalid(e) if e.to_string().contains("recursion"))),
            "depth {depth}: {items:?}"
        );
        let finding = format!(
            "{{\"id\":\"x\",\"service\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        let items: Vec<Item> = items_of(finding.as_bytes());
        assert!(items.iter().all(|i| matches!(i, Item::Invalid(_))));
    }
}

#[test]
fn every_hostile_input_kept_in_the_fixtures_gives_a_record_or_a_named_error() {
    let dir = support::fixtures().join("hostile");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let bytes = std::fs::read(entry.path()).expect("read");
        for item in items_of(&bytes) {
            if let Item::Finding(f) = item {
                check_encoding(&f.finding.full().expect("parsed")).expect("invariants hold");
            }
        }
    }
}

#[test]
fn every_corpus_finding_satisfies_the_record_invariants() {
    for f in corpus_findings() {
        check_encoding(&f).expect("invariants hold");
    }
}

#[test]
fn every_corpus_document_reads_the_same_with_findings_kept_as_text() {
    let dir = support::fixtures().join("corpus");
    for entry in std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(Result::ok)
    {
        let bytes = std::fs::read(entry.path()).expect("read fixture");
        check_same_items(&bytes).expect("same items");
        if let Ok(doc) = serde_json::from_slice::<Value>(&bytes) {
            check_same_items(doc.to_string().as_bytes()).expect("same items, one line");
        }
    }
}

#[test]
fn the_finding_like_generator_reaches_both_the_record_and_the_refusal() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = finding_like();
    let (mut records, mut refusals) = (0, 0);
    for _ in 0..300 {
        let v = strategy.new_tree(&mut runner).expect("a value").current();
        match expected_refusal(&v) {
            None => records += 1,
            Some(_) => refusals += 1,
        }
    }
    assert!(
        records >= 60 && refusals >= 60,
        "{records} records, {refusals} refusals"
    );
}

/// Every item of a CLI document held in memory, in order (the CLI's own framing).
fn items_of(bytes: &[u8]) -> Vec<Item> {
    let mut out = Vec::new();
    parse_documents(bytes, &mut out);
    out
}

/// Every shape the CLI reads, holding `findings`: (name, bytes).
fn shapes(findings: &[Value]) -> Vec<(&'static str, Vec<u8>)> {
    let compact = |v: &Value| v.to_string();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("json");
    // One line with a space after every separator, as `jq -c` does not and people do.
    let spaced = |v: &Value| {
        pretty(v)
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let envelope = |f: &Value| {
        json!({"version": "0", "id": "ev", "source": "aws.guardduty",
            "detail-type": "GuardDuty Finding", "detail": f})
    };
    let lines = |each: &dyn Fn(&Value) -> String| {
        findings
            .iter()
            .map(each)
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
    };
    let page = json!({"Findings": findings});
    vec![
        ("compact NDJSON of findings", lines(&compact)),
        ("spaced NDJSON of findings", lines(&spaced)),
        ("pretty findings", lines(&pretty)),
        ("NDJSON of envelopes", lines(&|f| compact(&envelope(f)))),
        ("spaced envelopes", lines(&|f| spaced(&envelope(f)))),
        (
            "NDJSON of one-finding pages",
            lines(&|f| compact(&json!({"findings": [f]}))),
        ),
        ("a GetFindings page", compact(&page).into_bytes()),
        ("pretty GetFindings output", pretty(&page).into_bytes()),
        (
            "an array of findings",
            compact(&Value::Array(findings.to_vec())).into_bytes(),
        ),
    ]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// The native records of `bytes` read as the CLI does (findings kept as text where it can).
fn records_of(bytes: &[u8]) -> Vec<String> {
    let mut items = Vec::new();
    parse_documents_as(bytes, Parse::Text, &mut items);
    items
        .iter()
        .map(|item| match item {
            Item::Finding(f) => {
                let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
                encode(&f.finding, &ingest, OutputSchema::Native)
                    .map_or_else(|e| e.to_string(), |r| r.json)
            }
            other => format!("{other:?}"),
        })
        .collect()
}

/// [`records_of`] through the CLI's reading threads (a file read, framed and parsed on
/// threads of their own, handed over in batches and chunks), as `forward FILE` reads it.
fn records_read_from_a_file(bytes: &[u8]) -> Vec<String> {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), bytes).expect("write");
    let source = Source::Path(file.path().to_path_buf());
    let mut reader = Reader::spawn(vec![source], Parse::Text, None).expect("reader");
    let mut records = Vec::new();
    while let Some(chunk) = reader.chunks.blocking_recv() {
        for f in &chunk {
            let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
            records.push(
                encode(&f.finding, &ingest, OutputSchema::Native)
                    .map_or_else(|e| e.to_string(), |r| r.json),
            );
        }
        reader.spent(chunk);
    }
    let counts = reader.finish();
    assert_eq!(counts.invalid + counts.ignored, 0, "{counts:?}");
    records
}

/// A record without `raw_event` (the finding's text as it arrived, spaces and all), and
/// `raw_event` as a JSON value.
fn split_raw(record: &str) -> (String, Value) {
    let mut r: Value = serde_json::from_str(record).unwrap_or(Value::Null);
    let raw = r
        .as_object_mut()
        .and_then(|o| o.remove("raw_event"))
        .unwrap_or(Value::Null);
    (r.to_string(), raw)
}

proptest! {
    #![proptest_config(config())]

    /// Every shape gives the same records: byte for byte but `raw_event`, which keeps the
    /// finding's text as it arrived and is the same JSON value; and a gzip of any shape (one
    /// member, or one member per line) gives byte for byte the records of the shape itself,
    /// as does the shape read from a file through the CLI's reading threads.
    #[test]
    fn every_input_shape_and_its_gzip_give_the_same_records(
        findings in prop::collection::vec(thinned_corpus_finding(), 1..4),
    ) {
        let shapes = shapes(&findings);
        let expected: Vec<(String, Value)> =
            records_of(&shapes[0].1).iter().map(|r| split_raw(r)).collect();
        prop_assert_eq!(expected.len(), findings.len());
        for (name, bytes) in &shapes {
            let records = records_of(bytes);
            let split: Vec<(String, Value)> = records.iter().map(|r| split_raw(r)).collect();
            prop_assert_eq!(&split, &expected, "{}", name);
            prop_assert_eq!(&records_of(&gzip(bytes)), &records, "gzip of {}", name);
            prop_assert_eq!(&records_read_from_a_file(bytes), &records, "{} read from a file", name);
            let members: Vec<u8> = bytes
                .split_inclusive(|b| *b == b'\n')
                .flat_map(gzip)
                .collect();
            prop_assert_eq!(&records_of(&members), &records, "multi-member gzip of {}", name);
        }
    }
}
