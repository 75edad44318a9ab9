//! Any bytes as a CLI input file: items without panicking, the same items whether findings
//! are parsed whole or kept as text; every finding encodes to a record that is JSON, carries
//! the finding as `raw_event` and (parsed whole) round-trips.
#![no_main]

use guardduty_forwarder::input::{Parse, parse_documents_as};
use guardduty_forwarder::intake::Item;
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;
use libfuzzer_sys::fuzz_target;

const SCHEMAS: [OutputSchema; 3] = [
    OutputSchema::Native,
    OutputSchema::Ocsf(OcsfVersion::V1_1_0),
    OutputSchema::Ocsf(OcsfVersion::V1_8_0),
];

fuzz_target!(|data: &[u8]| {
    let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
    let mut whole = Vec::new();
    parse_documents_as(data, Parse::Whole, &mut whole);
    let mut text = Vec::new();
    parse_documents_as(data, Parse::Text, &mut text);
    assert_eq!(whole, text, "the same items, parsed whole or kept as text");
    for (items, parse) in [(&whole, Parse::Whole), (&text, Parse::Text)] {
        for item in items {
            let Item::Finding(f) = item else { continue };
            let finding = f.finding.full().expect("a finding read is JSON");
            for schema in SCHEMAS {
                let Ok(r) = encode(&f.finding, &ingest, schema) else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&r.json).expect("record is JSON");
                if parse == Parse::Whole {
                    assert_eq!(serde_json::to_string(&v).expect("serialize"), r.json);
                }
                if schema == OutputSchema::Native {
                    assert_eq!(v["raw_event"], *finding);
                }
            }
        }
    }
});
