//! Any JSON as a Lambda event: routed, or refused with a named error; a routed finding
//! encodes (or is refused) without panicking.
#![no_main]

use guardduty_forwarder::intake::{Routed, route_event};
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let ingest = Ingest::new(Via::Eventbridge, None, "2026-01-01T00:00:00.000Z");
    match route_event(event) {
        Ok(Routed::Finding(f)) => {
            let _ = encode(&f.finding, &ingest, OutputSchema::Native);
            let _ = encode(
                &f.finding,
                &ingest,
                OutputSchema::Ocsf(OcsfVersion::default()),
            );
        }
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
