//! OCSF output (`OUTPUT_SCHEMA=ocsf`): a normalized record as an OCSF 1.1 Detection Finding
//! (class_uid 2004), the raw finding kept in `unmapped.raw_event`. Pure, like `normalize`.

use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::normalize::{Record, Severity};

fn severity_id(s: Option<Severity>) -> (u8, &'static str) {
    match s {
        None => (0, "Unknown"),
        Some(Severity::Info) => (1, "Informational"),
        Some(Severity::Low) => (2, "Low"),
        Some(Severity::Medium) => (3, "Medium"),
        Some(Severity::High) => (4, "High"),
        Some(Severity::Critical) => (5, "Critical"),
    }
}

/// Epoch milliseconds of an RFC 3339 timestamp, when it is one.
fn epoch_ms(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// An OCSF Detection Finding. The raw finding is borrowed, not copied, into `unmapped`.
#[derive(Debug, Serialize)]
pub struct DetectionFinding<'a> {
    #[serde(flatten)]
    pub body: Map<String, Value>,
    pub unmapped: Unmapped<'a>,
}

#[derive(Debug, Serialize)]
pub struct Unmapped<'a> {
    pub severity_score: Option<&'a serde_json::Number>,
    pub sample: bool,
    pub ingest: &'a crate::normalize::Ingest<'a>,
    pub raw_event: &'a Value,
}

pub fn detection_finding<'a>(r: &'a Record<'a>) -> DetectionFinding<'a> {
    let (sev_id, sev_name) = severity_id(r.severity);
    let modified = epoch_ms(r.updated_at);
    let created = epoch_ms(r.created_at);
    // Created when the finding was first reported, Update afterwards.
    let (activity_id, activity_name) = if created.is_some() && created == modified {
        (1, "Create")
    } else {
        (2, "Update")
    };
    let mut resource = Map::new();
    resource.insert("type".into(), json!(r.resource_type));
    resource.insert("uid".into(), json!(r.resource_id));
    resource.insert("cloud_partition".into(), json!(r.partition));
    resource.insert("region".into(), json!(r.region));
    let mut out = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": 200400 + activity_id,
        "severity_id": sev_id,
        "severity": sev_name,
        "status_id": if r.archived == Some(true) { 4 } else { 1 },
        "status": if r.archived == Some(true) { "Archived" } else { "New" },
        "time": modified.or(created),
        "message": r.title,
        "count": r.count,
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "Amazon GuardDuty", "vendor_name": "AWS", "feature": {"name": r.ingest.forwarder}},
            "uid": r.dedup_key,
            "original_time": r.updated_at,
            "logged_time": OffsetDateTime::parse(r.ingest.received_at, &Rfc3339).ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()),
        },
        "finding_info": {
            "uid": r.arn.as_deref().unwrap_or(&r.id),
            "title": r.title,
            "desc": r.description,
            "types": r.finding_type.as_ref().map(|t| vec![t.clone()]),
            "created_time": created,
            "modified_time": modified,
            "first_seen_time": epoch_ms(r.first_seen),
            "last_seen_time": epoch_ms(r.last_seen),
            "product_uid": r.id,
        },
        "cloud": {"provider": "AWS", "account": {"uid": r.account_id}, "region": r.region},
        "resources": [Value::Object(resource)],
    });
    if let Some(ip) = &r.remote_ip {
        out["src_endpoint"] = json!({"ip": ip, "location": {"country": r.remote_country}});
    }
    if let Some(actor) = &r.actor_principal {
        out["actor"] = json!({"user": {"name": actor}});
    }
    let body = match out {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    DetectionFinding {
        body,
        unmapped: Unmapped {
            severity_score: r.severity_score.as_ref(),
            sample: r.sample,
            ingest: r.ingest,
            raw_event: r.raw_event,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Ingest, Via, normalize};

    #[test]
    fn a_finding_maps_to_an_ocsf_detection_finding() {
        let f = json!({"id": "f1", "arn": "arn:aws:guardduty:us-east-1:1:detector/d/finding/f1",
            "accountId": "111122223333", "severity": 8, "type": "Recon:EC2/Portscan",
            "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z"});
        let ingest = Ingest::new(Via::Cli, None, "2024-01-03T00:00:00Z");
        let r = normalize(&f, &ingest).unwrap();
        let o = serde_json::to_value(detection_finding(&r)).unwrap();
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["type_uid"], 200402);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["finding_info"]["uid"], f["arn"]);
        assert_eq!(o["finding_info"]["modified_time"], 1_704_153_600_000_i64);
        assert_eq!(o["cloud"]["account"]["uid"], "111122223333");
        assert_eq!(o["unmapped"]["raw_event"], f);
    }
}
