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

mod support;

use guardduty_forwarder::input::parse_documents;
use guardduty_forwarder::intake::{Item, Routed, route_event};
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;
use proptest::prelude::*;
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

/// The corpus findings, as intake reads them.
fn corpus_findings() -> Vec<Value> {
    let mut out = Vec::new();
    let dir = support::fixtures().join("corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).expect("read fixture");
        for item in items_of(&bytes) {
            if let Item::Finding(f) = item {
                out.push(f.finding);
            }
        }
    }
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
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,12}", inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
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

/// Encodes in both schemas and checks the record invariants.
fn check_encoding(finding: &Value) -> Result<(), TestCaseError> {
    let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
    for schema in [
        OutputSchema::Native,
        OutputSchema::Ocsf(OcsfVersion::V1_1_0),
        OutputSchema::Ocsf(OcsfVersion::V1_8_0),
    ] {
        match encode(finding, &ingest, schema) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(r) => {
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
    fn any_json_value_as_a_finding_gives_a_record_or_a_named_error(v in any_json()) {
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
                prop_assert_eq!(&incoming.finding, &detail);
                check_encoding(&incoming.finding)?;
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
        for item in items_of(text.as_bytes()) {
            match item {
                Item::Finding(f) => {
                    prop_assert!(findings.contains(&f.finding));
                    check_encoding(&f.finding)?;
                }
                Item::Invalid(e) => prop_assert!(!e.to_string().is_empty()),
                Item::Ignored { .. } => {}
            }
        }
    }
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
                check_encoding(&f.finding).expect("invariants hold");
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

/// Every item of a CLI document held in memory, in order (the CLI's own framing).
fn items_of(bytes: &[u8]) -> Vec<Item> {
    let mut out = Vec::new();
    parse_documents(bytes, &mut out);
    out
}
