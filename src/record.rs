//! Encoding: a finding becomes its record's JSON text once, and every destination sends
//! those same bytes. The few fields destinations need beside the body (SQS attributes,
//! FIFO keys, log fields) travel with it.

use crate::intake::FindingJson;
use crate::normalize::{Ingest, NormalizeError, OutputSchema, RawEvent, Severity, normalize};
use crate::ocsf;

/// One record, serialized, with what destinations and logs need to know about it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncodedRecord {
    pub id: String,
    pub dedup_key: String,
    pub severity: Option<Severity>,
    pub finding_type: Option<String>,
    pub account_id: Option<String>,
    /// What routing reads beside the fields above (see [`EncodedRecord::keys`]).
    pub region: Option<String>,
    pub resource_type: Option<String>,
    pub sample: bool,
    pub count: Option<u64>,
    pub json: String,
}

impl EncodedRecord {
    /// What a destination's filter looks at.
    pub fn keys(&self) -> crate::route::Keys<'_> {
        crate::route::Keys {
            severity: self.severity,
            finding_type: self.finding_type.as_deref(),
            account_id: self.account_id.as_deref(),
            region: self.region.as_deref(),
            resource_type: self.resource_type.as_deref(),
            sample: self.sample,
            count: self.count,
        }
    }

    pub fn severity_str(&self) -> &'static str {
        self.severity.map_or("unknown", Severity::as_str)
    }
}

/// Normalizes and serializes one finding in the configured schema.
/// A finding kept as text is written into `raw_event` as it arrived; the OCSF mapping, which
/// reads far more than the native record, parses such a finding whole first.
pub fn encode(
    finding: &FindingJson,
    ingest: &Ingest<'_>,
    schema: OutputSchema,
) -> Result<EncodedRecord, NormalizeError> {
    let whole;
    let (view, text) = match (finding, schema) {
        (FindingJson::Parsed(v), _) => (v, None),
        (FindingJson::Text { text, view }, OutputSchema::Native) => (view, Some(&**text)),
        (FindingJson::Text { text, .. }, OutputSchema::Ocsf(_)) => {
            whole = finding
                .full()
                .map_err(|e| NormalizeError::Serialize(e.to_string()))?;
            (&*whole, Some(&**text))
        }
    };
    let mut record = normalize(view, ingest)?;
    if let Some(text) = text {
        record.raw_event = RawEvent::Text(text);
    }
    let json = match schema {
        OutputSchema::Native => serde_json::to_string(&record),
        OutputSchema::Ocsf(version) => {
            serde_json::to_string(&ocsf::detection_finding(&record, version))
        }
    }
    .map_err(|e| NormalizeError::Serialize(e.to_string()))?;
    Ok(EncodedRecord {
        id: record.id.into_owned(),
        dedup_key: record.dedup_key,
        severity: record.severity,
        finding_type: record.finding_type.map(|c| c.into_owned()),
        account_id: record.account_id.map(|c| c.into_owned()),
        region: record.region.map(|c| c.into_owned()),
        resource_type: record.resource_type.map(|c| c.into_owned()),
        sample: record.sample,
        count: record.count.as_ref().and_then(serde_json::Number::as_u64),
        json,
    })
}
