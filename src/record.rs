//! Encoding: a finding becomes its record's JSON text once, and every destination sends
//! those same bytes. The few fields destinations need beside the body (SQS attributes,
//! FIFO keys, log fields) travel with it.

use serde_json::Value;

use crate::normalize::{Ingest, NormalizeError, OutputSchema, Severity, normalize};
use crate::ocsf;

/// One record, serialized, with what destinations and logs need to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRecord {
    pub id: String,
    pub dedup_key: String,
    pub severity: Option<Severity>,
    pub finding_type: Option<String>,
    pub account_id: Option<String>,
    pub json: String,
}

impl EncodedRecord {
    pub fn severity_str(&self) -> &'static str {
        self.severity.map_or("unknown", Severity::as_str)
    }
}

/// Normalizes and serializes one finding in the configured schema.
pub fn encode(
    finding: &Value,
    ingest: &Ingest<'_>,
    schema: OutputSchema,
) -> Result<EncodedRecord, NormalizeError> {
    let record = normalize(finding, ingest)?;
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
        json,
    })
}
