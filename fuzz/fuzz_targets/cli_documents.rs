//! Any bytes as a CLI input file: items without panicking; every finding encodes to a record
//! that is JSON, round-trips, and carries the finding as `raw_event`.
#![no_main]

use guardduty_forwarder::intake::{Item, Items};
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ingest = Ingest::new(Via::Cli, None, "2026-01-01T00:00:00.000Z");
    for item in Items::new(data) {
        let Item::Finding(f) = item else { continue };
        for schema in [
            OutputSchema::Native,
            OutputSchema::Ocsf(OcsfVersion::V1_1_0),
            OutputSchema::Ocsf(OcsfVersion::V1_8_0),
        ] {
            let Ok(r) = encode(&f.finding, &ingest, schema) else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(&r.json).expect("record is JSON");
            assert_eq!(serde_json::to_string(&v).expect("serialize"), r.json);
            if schema == OutputSchema::Native {
                assert_eq!(v["raw_event"], f.finding);
            }
        }
    }
});
