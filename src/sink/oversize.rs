//! A record over a destination's per-event limit is never handed over to be split or
//! truncated by the product while counted as forwarded: it is shrunk to fit with a visible
//! marker, or, when even that does not fit, refused as [`DeliveryError::Oversize`] (a
//! permanent failure, which the Lambda's failure path sets aside in the dead-letter queue).
//!
//! Shrinking replaces the finding as AWS published it (`raw_event`, or OCSF's
//! `unmapped.raw_event`) with its identifiers and a note under [`MARKER`] saying what was
//! removed and why; every other field is kept. The whole finding stays reachable: its `id`
//! (GetFindings) and `dedup_key` name the version. Pure: no I/O.
//!
//! Invariants (checked by the property test below): a shrunk record is valid JSON, at most
//! the limit, keeps `id`, `dedup_key` and every field but the raw finding, and carries the
//! marker; a record that cannot fit is an error, never cut.

use serde_json::{Map, Value};

use super::DeliveryError;
use crate::record::EncodedRecord;

/// The key of the note that replaces the raw finding's content.
pub const MARKER: &str = "guardduty_forwarder_oversize";

/// The raw finding's fields kept beside the note: enough to find it again.
const KEPT: &[&str] = &[
    "schemaVersion",
    "accountId",
    "region",
    "partition",
    "id",
    "arn",
    "type",
    "severity",
    "createdAt",
    "updatedAt",
    "title",
];

/// Every record of `records` made to fit `limit` bytes, `envelope(record)` more bytes going
/// around each in the destination's framing (a sink whose records are sent one per message:
/// SQS, Firehose). `None` when none needed shrinking (nothing copied), else the records with
/// the shrunk ones in place; and how many were shrunk. A record that cannot fit is left as it
/// is, for the sink to refuse as oversize.
pub fn fit_each(
    records: &[EncodedRecord],
    limit: usize,
    envelope: impl Fn(&EncodedRecord) -> usize,
    destination: &'static str,
) -> (Option<Vec<EncodedRecord>>, u64) {
    let mut shrunk: Option<Vec<EncodedRecord>> = None;
    let mut count = 0;
    for (i, record) in records.iter().enumerate() {
        let around = envelope(record);
        if let Ok(Some(small)) = fit(record, limit, around) {
            tracing::warn!(message = "Record over the destination's per-event limit: the raw finding was replaced by a note to fit.",
                           destination, finding_id = %record.id, size = record.json.len() + around, limit);
            shrunk.get_or_insert_with(|| records.to_vec())[i] = small;
            count += 1;
        }
    }
    (shrunk, count)
}

/// `record` made to fit `limit` bytes of JSON (`envelope` more bytes go around it in the
/// product's framing): unchanged when it fits, shrunk when it can be, else an error.
pub fn fit(
    record: &EncodedRecord,
    limit: usize,
    envelope: usize,
) -> Result<Option<EncodedRecord>, DeliveryError> {
    let size = record.json.len() + envelope;
    if size <= limit {
        return Ok(None);
    }
    let too_big = || DeliveryError::Oversize { size, limit };
    let mut value: Value = serde_json::from_str(&record.json).map_err(|_| too_big())?;
    let raw = match value.get_mut("raw_event") {
        Some(raw) => raw,
        None => value
            .get_mut("unmapped")
            .and_then(|u| u.get_mut("raw_event"))
            .ok_or_else(too_big)?,
    };
    let mut stub = Map::new();
    stub.insert(
        MARKER.into(),
        serde_json::json!({
            "note": "the finding as AWS published it was removed: the record was over this destination's per-event limit; get it whole with GetFindings (id), dedup_key names this version",
            "record_bytes": size,
            "limit_bytes": limit,
        }),
    );
    if let Value::Object(original) = raw {
        for key in KEPT {
            if let Some(v) = original.get(*key) {
                stub.insert((*key).into(), v.clone());
            }
        }
    }
    *raw = Value::Object(stub);
    let json = serde_json::to_string(&value).map_err(|_| too_big())?;
    if json.len() + envelope > limit {
        return Err(DeliveryError::Oversize {
            size: json.len() + envelope,
            limit,
        });
    }
    Ok(Some(EncodedRecord {
        json,
        ..record.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(raw_len: usize, ocsf: bool) -> EncodedRecord {
        let raw = serde_json::json!({
            "id": "f1", "accountId": "123456789012", "region": "us-east-1",
            "updatedAt": "2026-12-06T00:00:00.000Z",
            "service": {"additionalInfo": {"blob": "x".repeat(raw_len)}},
        });
        let json = if ocsf {
            serde_json::json!({"finding_info": {"uid": "f1"}, "unmapped": {"raw_event": raw}})
        } else {
            serde_json::json!({"id": "f1", "dedup_key": "f1:t", "severity": "high", "raw_event": raw})
        };
        EncodedRecord {
            id: "f1".into(),
            dedup_key: "f1:2026-12-06T00:00:00.000Z".into(),
            severity: None,
            finding_type: None,
            account_id: None,
            json: json.to_string(),
            ..EncodedRecord::default()
        }
    }

    #[test]
    fn a_record_that_fits_is_left_alone() {
        assert_eq!(fit(&record(10, false), 10_000, 20), Ok(None));
    }

    #[test]
    fn a_record_that_cannot_fit_even_shrunk_is_refused_not_cut() {
        assert!(matches!(
            fit(&record(10_000, false), 100, 0),
            Err(DeliveryError::Oversize { limit: 100, .. })
        ));
        let no_raw = EncodedRecord {
            json: format!("{{\"id\":\"{}\"}}", "x".repeat(500)),
            ..record(1, false)
        };
        assert!(fit(&no_raw, 100, 0).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A shrunk record fits, is JSON, keeps its fields and identifiers, and says so.
        #[test]
        fn a_shrunk_record_fits_keeps_its_identity_and_is_marked(
            raw_len in 2_000usize..200_000,
            limit in 1_000usize..2_000,
            envelope in 0usize..200,
            ocsf in any::<bool>(),
        ) {
            let r = record(raw_len, ocsf);
            let shrunk = fit(&r, limit, envelope).unwrap().unwrap();
            prop_assert!(shrunk.json.len() + envelope <= limit);
            let v: Value = serde_json::from_str(&shrunk.json).unwrap();
            let raw = if ocsf { &v["unmapped"]["raw_event"] } else { &v["raw_event"] };
            prop_assert_eq!(&raw["id"], "f1");
            prop_assert_eq!(&raw["updatedAt"], "2026-12-06T00:00:00.000Z");
            prop_assert!(raw[MARKER]["note"].is_string());
            prop_assert!(raw.get("service").is_none());
            if !ocsf {
                prop_assert_eq!(&v["dedup_key"], "f1:t");
                prop_assert_eq!(&v["severity"], "high");
            }
            prop_assert_eq!(&shrunk.dedup_key, &r.dedup_key);
        }
    }
}
