//! OCSF output (`OUTPUT_SCHEMA=ocsf`): a normalized record as an OCSF Detection Finding
//! (class_uid 2004) for OCSF 1.1.0 (the default, what Amazon Security Lake ingests) or 1.8.0
//! (`OCSF_VERSION`). Pure, like `normalize`; `docs/ocsf.md` has the field-by-field mapping.
//!
//! Invariants, for *any* finding `normalize` accepts (checked by the property test in
//! `tests/ocsf.rs` against the official schema):
//! - the record validates against the OCSF schema of its `metadata.version` with the
//!   profiles it lists in `metadata.profiles` (only `cloud`): required attributes present,
//!   every value of its attribute's type, strings within 65,535 characters, no `null`s;
//! - `time` is always an integer: `updatedAt` read leniently, else the receive time, with
//!   `unmapped.time_source` saying so and `unmapped.unparsed_updated_at` keeping the original;
//! - `unmapped.raw_event` is the finding exactly as received, so nothing left out, coerced or
//!   truncated is lost;
//! - an archived finding is closed (`activity_id` 3), whatever else it holds;
//! - every `location.country` is an ISO 3166-1 alpha-2 code (two capital letters), never a
//!   country's name.
//!
//! ATT&CK tactics follow AWS's own classification of each finding type (`attack`), checked
//! per type by the unit tests there and over every finding type of the corpus by
//! `tests/ocsf.rs`.

mod attack;
mod attack_table;
mod enrichments;
mod evidence;
mod model;
mod observables;
mod process;
mod resources;
mod values;

use std::borrow::Cow;

use serde::Serialize;

use crate::normalize::{OcsfVersion, Record, Severity, get};
use model::{
    Analytic, Cloud, Enrichment, Evidence, Feature, FindingInfo, KeyValue, Metadata, Observable,
    Organization, Product, Remediation, Resource, Unmapped,
};
use values::{clamp, epoch_ms, field, parse_time, string, whole};

/// What `metadata.product.uid` and `finding_info.product_uid` (1.1.0) name.
const PRODUCT_UID: &str = "aws/guardduty";

impl OcsfVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            OcsfVersion::V1_1_0 => "1.1.0",
            OcsfVersion::V1_8_0 => "1.8.0",
        }
    }
}

/// An OCSF Detection Finding, borrowing from the record and the raw finding.
#[derive(Debug, Serialize)]
pub struct DetectionFinding<'a> {
    pub class_uid: u16,
    pub class_name: &'static str,
    pub category_uid: u8,
    pub category_name: &'static str,
    pub activity_id: u8,
    pub activity_name: &'static str,
    pub type_uid: u32,
    pub type_name: &'static str,
    pub severity_id: u8,
    pub severity: &'static str,
    pub status_id: u8,
    pub status: &'static str,
    pub confidence_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<i64>,
    pub time: i64,
    pub timezone_offset: i32,
    pub message: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_alert: Option<bool>,
    pub metadata: Metadata<'a>,
    pub finding_info: FindingInfo<'a>,
    pub cloud: Cloud<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidences: Vec<Evidence<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observables: Vec<Observable<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enrichments: Vec<Enrichment<'a>>,
    pub remediation: Remediation<'a>,
    pub unmapped: Unmapped<'a>,
}

fn severity(s: Option<Severity>) -> (u8, &'static str) {
    match s {
        None => (0, "Unknown"),
        Some(Severity::Info) => (1, "Informational"),
        Some(Severity::Low) => (2, "Low"),
        Some(Severity::Medium) => (3, "Medium"),
        Some(Severity::High) => (4, "High"),
        Some(Severity::Critical) => (5, "Critical"),
    }
}

/// New, or archived: 1.8.0's Archived (5); 1.1.0 has no Archived, and its Suppressed (3)
/// ("reviewed, determined to be benign or a false positive") is what archiving a GuardDuty
/// finding, by hand or by a suppression rule, says.
fn status(archived: Option<bool>, version: OcsfVersion) -> (u8, &'static str) {
    match (archived, version) {
        (Some(true), OcsfVersion::V1_1_0) => (3, "Suppressed"),
        (Some(true), OcsfVersion::V1_8_0) => (5, "Archived"),
        _ => (1, "New"),
    }
}

/// Create when created and updated at the same instant, Close when archived (consumers treat
/// anything not closed as active), else Update: `(activity_id, activity_name, type_name)`.
fn activity(
    archived: Option<bool>,
    created: Option<i64>,
    modified: Option<i64>,
) -> (u8, &'static str, &'static str) {
    match (archived, created, modified) {
        (Some(true), _, _) => (3, "Close", "Detection Finding: Close"),
        (_, Some(c), Some(m)) if c == m => (1, "Create", "Detection Finding: Create"),
        _ => (2, "Update", "Detection Finding: Update"),
    }
}

/// When the record happened: `updatedAt`, else the receive time (never absent).
struct When<'a> {
    ms: i64,
    offset_minutes: i32,
    source: Option<&'static str>,
    unparsed: Option<&'a serde_json::Value>,
}

fn when<'a>(r: &'a Record<'a>, updated: Option<(i64, i32)>, received: Option<i64>) -> When<'a> {
    match updated {
        Some((ms, offset_minutes)) => When {
            ms,
            offset_minutes,
            source: None,
            unparsed: None,
        },
        None => When {
            ms: received.unwrap_or_default(),
            offset_minutes: 0,
            source: Some("ingest.received_at"),
            unparsed: r.updated_at,
        },
    }
}

pub fn detection_finding<'a>(r: &'a Record<'a>, version: OcsfVersion) -> DetectionFinding<'a> {
    let (severity_id, severity) = severity(r.severity);
    let (status_id, status) = status(r.archived, version);
    let updated = epoch_ms(r.updated_at);
    let received = parse_time(r.ingest.received_at).map(|(ms, _)| ms);
    let when = when(r, updated, received);
    let finding_info = finding_info(r, version, updated.map(|(ms, _)| ms));
    let (activity_id, activity_name, type_name) = activity(
        r.archived,
        finding_info.created_time,
        finding_info.modified_time,
    );
    let evidences = evidence::evidences(r.finding, version);
    let resources = resources::resources(r, version);
    let account = field(&r.account_id);
    let observables = observables::observables(&account, &resources, &evidences, version);
    let enrichments = enrichments::enrichments(r.finding, &evidences, version);
    let confidence = get(r.finding, "confidence").and_then(serde_json::Value::as_number);
    let confidence_score = confidence.and_then(whole);
    DetectionFinding {
        class_uid: 2004,
        class_name: "Detection Finding",
        category_uid: 2,
        category_name: "Findings",
        activity_id,
        activity_name,
        type_uid: 200_400 + u32::from(activity_id),
        type_name,
        severity_id,
        severity,
        status_id,
        status,
        // GuardDuty's `confidence` is a score without OCSF's Low/Medium/High bands.
        confidence_id: 0,
        confidence_score,
        time: when.ms,
        timezone_offset: when.offset_minutes,
        message: finding_info.title.clone(),
        count: r.count.as_ref().and_then(whole),
        is_alert: (version == OcsfVersion::V1_8_0).then_some(true),
        metadata: metadata(r, version, received),
        finding_info,
        cloud: cloud(r, account, version),
        resources,
        evidences,
        observables,
        enrichments,
        remediation: resources::remediation(r.resource_type.as_deref()),
        unmapped: Unmapped {
            severity_score: r.severity_score.as_ref(),
            confidence: confidence.filter(|_| confidence_score.is_none()),
            sample: r.sample,
            time_source: when.source,
            unparsed_updated_at: when.unparsed,
            account_tags: r.account_tags.filter(|_| version == OcsfVersion::V1_1_0),
            account_ou_path: r
                .account_ou_path
                .filter(|_| r.ingest.account.and_then(|a| a.org_id.as_ref()).is_none()),
            ingest: r.ingest,
            raw_event: r.raw_event,
        },
    }
}

fn metadata<'a>(r: &'a Record<'a>, version: OcsfVersion, received: Option<i64>) -> Metadata<'a> {
    let service = get(r.finding, "service");
    let feature = Feature {
        uid: service.and_then(|s| string(get(s, "detectorId"))),
        name: service.and_then(|s| string(get(s, "featureName"))),
        ..Default::default()
    };
    let has_feature = feature.uid.is_some() || feature.name.is_some();
    let schema_version = string(get(r.finding, "schemaVersion"));
    Metadata {
        version: version.as_str(),
        profiles: &["cloud"],
        product: Product {
            name: "GuardDuty",
            vendor_name: "AWS",
            uid: Some(Cow::Borrowed(PRODUCT_UID)),
            version: schema_version,
            feature: has_feature.then_some(feature),
            ..Default::default()
        },
        uid: Some(clamp(Cow::Borrowed(r.dedup_key.as_str()))),
        event_code: field(&r.finding_type),
        log_name: "GuardDuty Findings",
        log_provider: "Amazon GuardDuty",
        tenant_uid: field(&r.account_id),
        original_time: string(r.updated_at),
        logged_time: received,
        labels: if r.sample { &["sample"] } else { &[] },
        ..Default::default()
    }
}

fn finding_info<'a>(
    r: &'a Record<'a>,
    version: OcsfVersion,
    modified: Option<i64>,
) -> FindingInfo<'a> {
    let service = get(r.finding, "service");
    let finding_type = field(&r.finding_type);
    let title = field(&r.title)
        .or_else(|| finding_type.clone())
        .unwrap_or_else(|| clamp(Cow::Borrowed(&r.id)));
    let analytic = finding_type.clone().map(|t| Analytic {
        uid: Some(t.clone()),
        category: attack::purpose(&t).map(|p| Cow::Owned(p.to_owned())),
        name: Some(t),
        type_id: 1,
        r#type: "Rule",
        ..Default::default()
    });
    FindingInfo {
        uid: field(&r.arn).unwrap_or_else(|| clamp(Cow::Borrowed(&r.id))),
        title,
        desc: field(&r.description),
        // GuardDuty's type, then the ASFF type Security Hub shows for it.
        types: finding_type
            .clone()
            .into_iter()
            .chain(
                r.finding_type
                    .as_deref()
                    .and_then(attack::asff_type)
                    .map(Cow::Borrowed),
            )
            .collect(),
        analytic,
        attacks: attack::attacks(r.finding, r.finding_type.as_deref()),
        src_url: r.console_url.clone(),
        created_time: epoch_ms(r.created_at).map(|(ms, _)| ms),
        modified_time: modified,
        first_seen_time: epoch_ms(service.and_then(|s| get(s, "eventFirstSeen"))).map(|t| t.0),
        last_seen_time: epoch_ms(service.and_then(|s| get(s, "eventLastSeen"))).map(|t| t.0),
        // The product that reported the finding; deprecated in 1.8.0.
        product_uid: (version == OcsfVersion::V1_1_0).then_some(Cow::Borrowed(PRODUCT_UID)),
        // GuardDuty's own id of the finding, beside the ARN in `uid`.
        uid_alt: (version == OcsfVersion::V1_8_0).then(|| clamp(Cow::Borrowed(&r.id))),
        ..Default::default()
    }
}

/// The finding in the GuardDuty console, for the commercial partition.
/// `cloud`: the account with its name (and, in 1.8.0, its tags), and the organization and
/// OU when AWS Organizations named them.
fn cloud<'a>(r: &'a Record<'a>, account: Option<Cow<'a, str>>, version: OcsfVersion) -> Cloud<'a> {
    let known = r.ingest.account;
    let account = account.map(|uid| {
        let mut a = resources::aws_account(uid);
        a.name = r.account_name.map(Cow::Borrowed);
        if version == OcsfVersion::V1_8_0 {
            a.tags = r
                .account_tags
                .into_iter()
                .flatten()
                .map(|(k, v)| KeyValue {
                    name: Cow::Borrowed(k),
                    value: Some(Cow::Borrowed(v)),
                    ..Default::default()
                })
                .collect();
        }
        a
    });
    let org = known.and_then(|k| {
        let uid = k.org_id.as_deref()?;
        Some(Organization {
            uid: Some(Cow::Borrowed(uid)),
            ou_uid: k.ou_id.as_deref().map(Cow::Borrowed),
            ou_name: k.ou_path.as_deref().map(Cow::Borrowed),
            ..Default::default()
        })
    });
    Cloud {
        provider: "AWS",
        account,
        org,
        region: field(&r.region),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Ingest, Via, normalize};
    use serde_json::{Value, json};

    fn ocsf(f: &Value, version: OcsfVersion) -> Value {
        let ingest = Ingest::new(Via::Cli, None, "2024-01-03T00:00:00Z");
        let r = normalize(f, &ingest).unwrap();
        serde_json::to_value(detection_finding(&r, version)).unwrap()
    }

    #[test]
    fn a_finding_maps_to_an_ocsf_detection_finding() {
        let f = json!({"id": "f1", "arn": "arn:aws:guardduty:us-east-1:1:detector/d/finding/f1",
            "accountId": "111122223333", "severity": 8, "type": "Recon:EC2/Portscan",
            "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z"});
        let o = ocsf(&f, OcsfVersion::V1_1_0);
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["type_uid"], 200402);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["finding_info"]["uid"], f["arn"]);
        assert_eq!(o["finding_info"]["modified_time"], 1_704_153_600_000_i64);
        assert_eq!(o["finding_info"]["analytic"]["name"], "Recon:EC2/Portscan");
        assert_eq!(o["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(o["metadata"]["tenant_uid"], "111122223333");
        assert_eq!(o["metadata"]["profiles"], json!(["cloud"]));
        assert_eq!(o["unmapped"]["raw_event"], f);
    }

    #[test]
    fn an_unreadable_updated_at_falls_back_to_the_receive_time_and_keeps_the_original() {
        for bad in [json!("last tuesday"), json!([1, 2]), json!({"t": 1})] {
            let f = json!({"id": "f1", "updatedAt": bad});
            let o = ocsf(&f, OcsfVersion::V1_1_0);
            assert_eq!(o["time"], 1_704_240_000_000_i64, "{bad}");
            assert_eq!(o["unmapped"]["time_source"], "ingest.received_at");
            assert_eq!(o["unmapped"]["unparsed_updated_at"], bad);
        }
        let o = ocsf(&json!({"id": "f1"}), OcsfVersion::V1_1_0);
        assert_eq!(o["time"], 1_704_240_000_000_i64);
    }

    #[test]
    fn lenient_timestamps_give_the_same_time_as_rfc_3339() {
        let strict = ocsf(
            &json!({"id": "a", "updatedAt": "2025-02-25T20:40:06.721Z"}),
            OcsfVersion::V1_1_0,
        );
        for t in [
            json!("2025-02-25 20:40:06.721"),
            json!("2025-02-25T20:40:06.721+0000"),
            json!(1_740_516_006_721_i64),
        ] {
            let o = ocsf(&json!({"id": "a", "updatedAt": t}), OcsfVersion::V1_1_0);
            assert_eq!(o["time"], strict["time"], "{t}");
            assert!(o["unmapped"].get("time_source").is_none());
        }
    }

    #[test]
    fn an_archived_finding_closes_suppressed_in_1_1_and_archived_in_1_8() {
        let f = json!({"id": "a", "service": {"archived": true},
            "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"});
        for v in [OcsfVersion::V1_1_0, OcsfVersion::V1_8_0] {
            let o = ocsf(&f, v);
            assert_eq!(
                (o["activity_id"].as_u64(), o["type_uid"].as_u64()),
                (Some(3), Some(200_403))
            );
            assert_eq!(o["activity_name"], "Close");
        }
        assert_eq!(ocsf(&f, OcsfVersion::V1_1_0)["status_id"], 3);
        assert_eq!(ocsf(&f, OcsfVersion::V1_8_0)["status_id"], 5);
        assert_eq!(
            ocsf(&f, OcsfVersion::V1_8_0)["metadata"]["version"],
            "1.8.0"
        );
    }

    #[test]
    fn a_sample_finding_is_labelled() {
        let f = json!({"id": "a", "service": {"additionalInfo": {"sample": true}}});
        let o = ocsf(&f, OcsfVersion::V1_1_0);
        assert_eq!(o["metadata"]["labels"], json!(["sample"]));
        assert_eq!(o["unmapped"]["sample"], true);
    }

    #[test]
    fn a_fractional_count_is_left_out() {
        let o = ocsf(
            &json!({"id": "a", "service": {"count": 1.5}}),
            OcsfVersion::V1_1_0,
        );
        assert!(o.get("count").is_none());
        let o = ocsf(
            &json!({"id": "a", "service": {"count": "4"}}),
            OcsfVersion::V1_1_0,
        );
        assert_eq!(o["count"], 4);
    }
}
