//! Normalization: one GuardDuty finding (a `serde_json::Value`, never re-typed) into one
//! normalized record (the schema in docs/record.md). Pure: no I/O, no clock (the caller
//! passes `Ingest`), no panics on any input. Accepts the API's camelCase JSON and the PascalCase shape the AWS CLI and boto3
//! print, and the messy values found in the wild (numbers and booleans as strings, nulls).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use crate::view::Keep;

/// The severity ladder (docs/record.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// info (< 1.0), low [1.0, 4.0), medium [4.0, 7.0), high [7.0, 9.0), critical (>= 9.0).
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score >= 1.0 {
            Severity::Low
        } else {
            Severity::Info
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "info" | "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSchema {
    Native,
    Ocsf(OcsfVersion),
}

/// The OCSF release a record is written for (`OCSF_VERSION`): 1.1.0, the version Amazon
/// Security Lake ingests, by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OcsfVersion {
    #[default]
    V1_1_0,
    V1_8_0,
}

/// How a finding reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Eventbridge,
    Backfill,
    Cli,
    /// Re-sent from the dead-letter queue by `redrive`.
    Redrive,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Eventbridge => "eventbridge",
            Via::Backfill => "backfill",
            Via::Cli => "cli",
            Via::Redrive => "redrive",
        }
    }
}

pub const FORWARDER: &str = concat!("guardduty-forwarder/", env!("CARGO_PKG_VERSION"));

/// The `ingest` block of a record. `received_at` is shared by every finding of a call.
#[derive(Debug, Clone, Serialize)]
pub struct Ingest<'a> {
    pub via: Via,
    pub event_id: Option<&'a str>,
    pub forwarder: &'static str,
    pub received_at: &'a str,
    /// What is known of the finding's account (`crate::context` looks it up); not part of
    /// the `ingest` block: the record writes it as `account_name`, `account_ou_path`,
    /// `account_tags`.
    #[serde(skip)]
    pub account: Option<&'a AccountContext>,
}

impl<'a> Ingest<'a> {
    pub fn new(via: Via, event_id: Option<&'a str>, received_at: &'a str) -> Self {
        Ingest {
            via,
            event_id,
            forwarder: FORWARDER,
            received_at,
            account: None,
        }
    }

    /// With what is known of the finding's account.
    pub fn with_account(mut self, account: Option<&'a AccountContext>) -> Self {
        self.account = account;
        self
    }
}

/// An AWS account as an analyst knows it: its name, where it sits in the organization, its
/// tags. Every part is optional: a mapping document may give the name alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountContext {
    pub name: Option<String>,
    /// `Root/Security/Prod`: the OU names from the root down (the root is `Root`).
    pub ou_path: Option<String>,
    /// The id of the OU the account sits in (`ou-…`), when AWS Organizations said so.
    pub ou_id: Option<String>,
    /// The organization's id (`o-…`), when AWS Organizations said so.
    pub org_id: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Why a value could not be normalized. Carries what identifies the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NormalizeError {
    #[error("finding is not a JSON object (found {found})")]
    NotAnObject { found: &'static str },
    #[error("finding has no id")]
    MissingId,
    #[error("record could not be serialized: {0}")]
    Serialize(String),
}

/// A normalized record in the native schema, borrowing from the finding it describes.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub schema_version: &'static str,
    pub source: &'static str,
    pub id: Cow<'a, str>,
    pub arn: Option<Cow<'a, str>>,
    pub account_id: Option<Cow<'a, str>>,
    /// The account's name, OU path and tags: left out (not `null`) when unknown, so a record
    /// without account context is the record it always was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_ou_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_tags: Option<&'a std::collections::BTreeMap<String, String>>,
    pub region: Option<Cow<'a, str>>,
    pub partition: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    pub finding_type: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    /// The finding in the GuardDuty console ([`crate::console::finding_url`]); left out when
    /// the finding names no usable region or partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// `None` only when the finding carries no readable severity; such a finding is never
    /// dropped by `MIN_SEVERITY`.
    pub severity: Option<Severity>,
    pub severity_score: Option<Number>,
    pub created_at: Option<&'a Value>,
    pub updated_at: Option<&'a Value>,
    pub first_seen: Option<&'a Value>,
    pub last_seen: Option<&'a Value>,
    pub count: Option<Number>,
    pub archived: Option<bool>,
    pub resource_type: Option<Cow<'a, str>>,
    pub resource_id: Option<Cow<'a, str>>,
    pub action_type: Option<Cow<'a, str>>,
    pub remote_ip: Option<Cow<'a, str>>,
    pub remote_country: Option<Cow<'a, str>>,
    pub actor_principal: Option<Cow<'a, str>>,
    pub sample: bool,
    pub dedup_key: String,
    pub ingest: &'a Ingest<'a>,
    /// The finding as it was read: whole, or the pruned view [`READS`] names. Not written.
    #[serde(skip)]
    pub finding: &'a Value,
    pub raw_event: RawEvent<'a>,
}

/// `raw_event`: the parsed finding, or the finding's JSON text as it arrived, written as is.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum RawEvent<'a> {
    Parsed(&'a Value),
    Text(&'a RawValue),
}

/// Every member [`normalize`] reads, as a [`Keep`] tree. A finding parsed with it
/// ([`crate::view::Pruned`]) normalizes to the same record as the whole finding (checked in
/// `tests/properties.rs` over the fixtures and generated findings), which lets the CLI skip
/// building what only `raw_event` carries: that stays the text as it arrived.
/// Whoever adds a lookup below adds its path here.
pub const READS: Keep = {
    const ALL: Keep = Keep::All;
    const REMOTE: Keep = Keep::Members(&[(
        "remoteIpDetails",
        Keep::Members(&[
            ("ipAddressV4", ALL),
            ("ipAddressV6", ALL),
            ("country", Keep::Members(&[("countryName", ALL)])),
        ]),
    )]);
    Keep::Members(&[
        ("id", ALL),
        ("arn", ALL),
        ("accountId", ALL),
        ("region", ALL),
        ("partition", ALL),
        ("type", ALL),
        ("title", ALL),
        ("description", ALL),
        ("severity", ALL),
        ("createdAt", ALL),
        ("updatedAt", ALL),
        (
            "service",
            Keep::Members(&[
                ("eventFirstSeen", ALL),
                ("eventLastSeen", ALL),
                ("count", ALL),
                ("archived", ALL),
                (
                    "additionalInfo",
                    Keep::Members(&[("sample", ALL), ("value", ALL)]),
                ),
                (
                    "action",
                    Keep::Members(&[
                        ("actionType", ALL),
                        ("awsApiCallAction", REMOTE),
                        ("networkConnectionAction", REMOTE),
                        ("kubernetesApiCallAction", REMOTE),
                        ("rdsLoginAttemptAction", REMOTE),
                        (
                            "portProbeAction",
                            Keep::Members(&[("portProbeDetails", REMOTE)]),
                        ),
                    ]),
                ),
            ]),
        ),
        (
            "resource",
            Keep::Members(&[
                ("resourceType", ALL),
                ("instanceDetails", Keep::Members(&[("instanceId", ALL)])),
                (
                    "accessKeyDetails",
                    Keep::Members(&[
                        ("accessKeyId", ALL),
                        ("userName", ALL),
                        ("principalId", ALL),
                    ]),
                ),
                ("s3BucketDetails", Keep::Members(&[("name", ALL)])),
                ("eksClusterDetails", Keep::Members(&[("name", ALL)])),
                ("ecsClusterDetails", Keep::Members(&[("name", ALL)])),
                (
                    "rdsDbInstanceDetails",
                    Keep::Members(&[("dbInstanceIdentifier", ALL)]),
                ),
                (
                    "rdsLimitlessDbDetails",
                    Keep::Members(&[("dbShardGroupIdentifier", ALL)]),
                ),
                ("lambdaDetails", Keep::Members(&[("functionName", ALL)])),
                (
                    "containerDetails",
                    Keep::Members(&[("id", ALL), ("name", ALL)]),
                ),
                (
                    "ebsVolumeDetails",
                    Keep::Members(&[(
                        "scannedVolumeDetails",
                        Keep::Members(&[("volumeArn", ALL)]),
                    )]),
                ),
                (
                    "kubernetesDetails",
                    Keep::Members(&[(
                        "kubernetesUserDetails",
                        Keep::Members(&[("username", ALL)]),
                    )]),
                ),
                ("rdsDbUserDetails", Keep::Members(&[("user", ALL)])),
            ]),
        ),
    ])
};

/// Looks a key up in its camelCase form, then in PascalCase (AWS CLI / boto3 output).
/// JSON `null` counts as absent.
pub(crate) fn get<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    let found = match obj.get(camel) {
        Some(x) => Some(x),
        // Most lookups miss (optional fields): spell the PascalCase key on the stack.
        None => {
            let mut buf = [0u8; 64];
            let bytes = camel.as_bytes();
            let key = buf.get_mut(..bytes.len())?;
            key.copy_from_slice(bytes);
            key.first_mut()?.make_ascii_uppercase();
            obj.get(std::str::from_utf8(key).ok()?)
        }
    };
    found.filter(|x| !x.is_null())
}

pub(crate) fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, k| get(cur, k))
}

/// A scalar as text: strings borrowed, numbers and booleans printed; anything else absent.
pub(crate) fn text(v: Option<&Value>) -> Option<Cow<'_, str>> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// A number, also from a numeric string ("8", " 8.0 ").
pub(crate) fn number(v: Option<&Value>) -> Option<Number> {
    match v? {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<u64>() {
                Some(Number::from(i))
            } else {
                s.parse::<f64>().ok().and_then(Number::from_f64)
            }
        }
        _ => None,
    }
}

/// A boolean, also from "true"/"false" strings.
pub(crate) fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The first element of an array, or the value itself when it is not an array.
pub(crate) fn first(v: Option<&Value>) -> Option<&Value> {
    match v? {
        Value::Array(items) => items.first(),
        other => Some(other),
    }
}

/// What kind of JSON value this is, for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The finding's id, the one thing without which a finding cannot be forwarded.
pub fn finding_id(finding: &Value) -> Result<Cow<'_, str>, NormalizeError> {
    if !finding.is_object() {
        return Err(NormalizeError::NotAnObject {
            found: kind_of(finding),
        });
    }
    match get(finding, "id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Cow::Borrowed(s.as_str())),
        Some(Value::Number(n)) => Ok(Cow::Owned(n.to_string())),
        _ => Err(NormalizeError::MissingId),
    }
}

/// Normalizes one finding. Fails only when the value is not an object or has no id.
pub fn normalize<'a>(
    finding: &'a Value,
    ingest: &'a Ingest<'a>,
) -> Result<Record<'a>, NormalizeError> {
    let id = finding_id(finding)?;
    let service = get(finding, "service");
    let resource = get(finding, "resource");
    let action = service.and_then(|s| get(s, "action"));
    let severity_score = number(get(finding, "severity"));
    let severity = severity_score
        .as_ref()
        .and_then(Number::as_f64)
        .filter(|f| f.is_finite())
        .map(Severity::from_score);
    let updated_at = get(finding, "updatedAt");
    let dedup_key = match text(updated_at) {
        Some(u) => format!("{id}:{u}"),
        None => format!("{id}:"),
    };
    let remote = action.and_then(remote_ip_details);
    let resource_type = resource.and_then(|r| text(get(r, "resourceType")));
    let account = ingest.account;
    let region = text(get(finding, "region"));
    let partition = text(get(finding, "partition"));
    let console_url = region
        .as_deref()
        .and_then(|r| crate::console::finding_url(partition.as_deref(), r, &id));
    Ok(Record {
        schema_version: "1",
        source: "aws_guardduty",
        arn: text(get(finding, "arn")),
        account_id: text(get(finding, "accountId")),
        account_name: account.and_then(|a| a.name.as_deref()),
        account_ou_path: account.and_then(|a| a.ou_path.as_deref()),
        account_tags: account.map(|a| &a.tags).filter(|t| !t.is_empty()),
        region,
        partition,
        finding_type: text(get(finding, "type")),
        title: text(get(finding, "title")),
        description: text(get(finding, "description")),
        console_url,
        severity,
        severity_score,
        created_at: get(finding, "createdAt"),
        updated_at,
        first_seen: service.and_then(|s| get(s, "eventFirstSeen")),
        last_seen: service.and_then(|s| get(s, "eventLastSeen")),
        count: number(service.and_then(|s| get(s, "count"))),
        archived: boolean(service.and_then(|s| get(s, "archived"))),
        resource_id: resource.and_then(|r| resource_id(r, resource_type.as_deref())),
        resource_type,
        action_type: text(action.and_then(|a| get(a, "actionType"))),
        remote_ip: remote
            .and_then(|r| text(get(r, "ipAddressV4")).or_else(|| text(get(r, "ipAddressV6")))),
        remote_country: remote.and_then(|r| text(path(r, &["country", "countryName"]))),
        actor_principal: actor_principal(resource, action),
        sample: sample(service),
        dedup_key,
        id,
        ingest,
        finding,
        raw_event: RawEvent::Parsed(finding),
    })
}

/// `service.additionalInfo.sample`, from either shape: EventBridge's object, or the API's
/// `{"value": "<JSON text>", "type": "default"}` (only `sample` is read from the text).
fn sample(service: Option<&Value>) -> bool {
    #[derive(serde::Deserialize)]
    struct JsonText {
        #[serde(default)]
        sample: Option<Value>,
    }
    let Some(info) = service.and_then(|s| get(s, "additionalInfo")) else {
        return false;
    };
    if let Some(flag) = boolean(get(info, "sample")) {
        return flag;
    }
    match get(info, "value") {
        Some(Value::String(text)) => serde_json::from_str::<JsonText>(text)
            .ok()
            .and_then(|t| boolean(t.sample.as_ref()))
            .unwrap_or(false),
        Some(obj @ Value::Object(_)) => boolean(get(obj, "sample")).unwrap_or(false),
        _ => false,
    }
}

/// The identifier of the affected resource, chosen by `resourceType`, falling back to the
/// first detail block present.
fn resource_id<'a>(resource: &'a Value, resource_type: Option<&str>) -> Option<Cow<'a, str>> {
    let instance = || text(path(resource, &["instanceDetails", "instanceId"]));
    let access_key = || {
        let d = get(resource, "accessKeyDetails")?;
        text(get(d, "accessKeyId")).or_else(|| text(get(d, "userName")))
    };
    let bucket = || text(first(get(resource, "s3BucketDetails")).and_then(|b| get(b, "name")));
    let eks = || text(path(resource, &["eksClusterDetails", "name"]));
    let ecs = || text(path(resource, &["ecsClusterDetails", "name"]));
    let rds = || {
        text(path(
            resource,
            &["rdsDbInstanceDetails", "dbInstanceIdentifier"],
        ))
    };
    let rds_limitless = || {
        text(path(
            resource,
            &["rdsLimitlessDbDetails", "dbShardGroupIdentifier"],
        ))
    };
    let lambda = || text(path(resource, &["lambdaDetails", "functionName"]));
    let container = || {
        let c = get(resource, "containerDetails")?;
        text(get(c, "id")).or_else(|| text(get(c, "name")))
    };
    let ebs = || {
        let vols = path(resource, &["ebsVolumeDetails", "scannedVolumeDetails"]);
        text(first(vols).and_then(|v| get(v, "volumeArn")))
    };
    match resource_type.unwrap_or_default() {
        "Instance" => instance(),
        "AccessKey" => access_key(),
        "S3Bucket" | "S3Object" => bucket(),
        "EKSCluster" => eks(),
        "ECSCluster" => ecs(),
        "RDSDBInstance" => rds(),
        "RDSLimitlessDB" => rds_limitless(),
        "Lambda" => lambda(),
        "Container" => container(),
        "EBSVolume" => ebs(),
        _ => None,
    }
    .or_else(instance)
    .or_else(bucket)
    .or_else(eks)
    .or_else(ecs)
    .or_else(rds)
    .or_else(lambda)
    .or_else(container)
    .or_else(access_key)
}

/// `remoteIpDetails` of whichever action the finding carries.
fn remote_ip_details(action: &Value) -> Option<&Value> {
    for kind in [
        "awsApiCallAction",
        "networkConnectionAction",
        "kubernetesApiCallAction",
        "rdsLoginAttemptAction",
    ] {
        if let Some(r) = get(action, kind).and_then(|a| get(a, "remoteIpDetails")) {
            return Some(r);
        }
    }
    let probe = first(path(action, &["portProbeAction", "portProbeDetails"]));
    probe.and_then(|p| get(p, "remoteIpDetails"))
}

/// Who acted: the IAM user, the Kubernetes user or the database user.
fn actor_principal<'a>(
    resource: Option<&'a Value>,
    action: Option<&'a Value>,
) -> Option<Cow<'a, str>> {
    let resource = resource?;
    let k8s_user = text(path(
        resource,
        &["kubernetesDetails", "kubernetesUserDetails", "username"],
    ));
    let is_k8s_call = action.is_some_and(|a| get(a, "kubernetesApiCallAction").is_some());
    let iam = || {
        let d = get(resource, "accessKeyDetails")?;
        text(get(d, "userName")).or_else(|| text(get(d, "principalId")))
    };
    let rds = || text(path(resource, &["rdsDbUserDetails", "user"]));
    if is_k8s_call {
        k8s_user.or_else(iam)
    } else {
        iam().or(k8s_user).or_else(rds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingest() -> Ingest<'static> {
        Ingest::new(Via::Cli, None, "2026-01-01T00:00:00Z")
    }

    fn record(finding: &Value) -> Value {
        let ingest = ingest();
        serde_json::to_value(normalize(finding, &ingest).unwrap()).unwrap()
    }

    #[test]
    fn severity_boundaries_follow_the_ladder() {
        let cases = [
            (-1.0, Severity::Info),
            (0.0, Severity::Info),
            (0.99, Severity::Info),
            (1.0, Severity::Low),
            (3.99, Severity::Low),
            (4.0, Severity::Medium),
            (6.9, Severity::Medium),
            (7.0, Severity::High),
            (8.99, Severity::High),
            (9.0, Severity::Critical),
            (10.0, Severity::Critical),
        ];
        for (score, expected) in cases {
            assert_eq!(Severity::from_score(score), expected, "score {score}");
        }
    }

    #[test]
    fn every_severity_name_is_read_whatever_its_case_and_nothing_else_is() {
        let cases = [
            ("info", Severity::Info),
            ("Informational", Severity::Info),
            ("LOW", Severity::Low),
            ("medium", Severity::Medium),
            ("High", Severity::High),
            ("critical", Severity::Critical),
        ];
        for (name, expected) in cases {
            assert_eq!(Severity::parse(name), Some(expected), "{name}");
        }
        for name in ["", "none", "5", "highest"] {
            assert_eq!(Severity::parse(name), None, "{name}");
        }
    }

    #[test]
    fn a_scalar_is_text_numbers_and_booleans_printed_an_empty_string_or_anything_else_absent() {
        let shown = |v: Value| text(Some(&v)).map(Cow::into_owned);
        assert_eq!(shown(json!("eu-west-1")).as_deref(), Some("eu-west-1"));
        assert_eq!(
            shown(json!(123456789012_u64)).as_deref(),
            Some("123456789012")
        );
        assert_eq!(shown(json!(true)).as_deref(), Some("true"));
        assert_eq!(shown(json!(false)).as_deref(), Some("false"));
        for absent in [json!(""), json!(null), json!([1]), json!({"a": 1})] {
            assert_eq!(shown(absent.clone()), None, "{absent}");
        }
        let r = record(&json!({"id": "a", "accountId": 123456789012_u64, "region": ""}));
        assert_eq!(r["account_id"], "123456789012");
        assert_eq!(r["region"], Value::Null);
    }

    #[test]
    fn a_numeric_id_is_read_as_its_text() {
        assert_eq!(finding_id(&json!({"id": 42})).as_deref(), Ok("42"));
        let r = record(&json!({"id": 42, "updatedAt": "2026-01-01T00:00:00Z"}));
        assert_eq!(r["id"], "42");
        assert_eq!(r["dedup_key"], "42:2026-01-01T00:00:00Z");
    }

    #[test]
    fn severity_score_is_kept_unchanged_and_strings_are_read_as_numbers() {
        let r = record(&json!({"id": "a", "severity": 8}));
        assert_eq!(r["severity_score"], json!(8));
        assert_eq!(r["severity"], "high");
        let r = record(&json!({"id": "a", "severity": 5.5}));
        assert_eq!(r["severity_score"], json!(5.5));
        let r = record(&json!({"id": "a", "severity": "9"}));
        assert_eq!(
            (r["severity"].as_str(), r["severity_score"].clone()),
            (Some("critical"), json!(9))
        );
    }

    #[test]
    fn a_finding_without_a_readable_severity_has_null_severity() {
        for sev in [json!(null), json!("high-ish"), json!({})] {
            let r = record(&json!({"id": "a", "severity": sev}));
            assert_eq!(r["severity"], Value::Null);
            assert_eq!(r["severity_score"], Value::Null);
        }
    }

    #[test]
    fn pascal_case_keys_from_the_aws_cli_are_read() {
        let r = record(&json!({
            "Id": "abc", "AccountId": "123", "Severity": 2, "Type": "Recon:IAMUser/UserPermissions",
            "UpdatedAt": "2020-05-26T22:33:55Z",
            "Service": {"Count": "5", "Archived": "false", "Action": {"ActionType": "AWS_API_CALL",
                "AwsApiCallAction": {"RemoteIpDetails": {"IpAddressV4": "52.94.36.7",
                "Country": {"CountryName": "United Kingdom"}}}}},
            "Resource": {"ResourceType": "AccessKey", "AccessKeyDetails": {"AccessKeyId": "ASIA1", "UserName": "bob"}}
        }));
        assert_eq!(r["id"], "abc");
        assert_eq!(r["count"], json!(5));
        assert_eq!(r["archived"], json!(false));
        assert_eq!(r["resource_id"], "ASIA1");
        assert_eq!(r["actor_principal"], "bob");
        assert_eq!(r["remote_ip"], "52.94.36.7");
        assert_eq!(r["remote_country"], "United Kingdom");
        assert_eq!(r["dedup_key"], "abc:2020-05-26T22:33:55Z");
    }

    #[test]
    fn unknown_fields_and_unicode_survive_in_raw_event() {
        let f = json!({"id": "ü-1", "title": "Zugriff über Tor 🚨", "futureField": {"x": [1, 2]}});
        let r = record(&f);
        assert_eq!(r["raw_event"], f);
        assert_eq!(r["title"], "Zugriff über Tor 🚨");
    }

    #[test]
    fn null_sub_objects_and_a_missing_resource_normalize_to_nulls() {
        let r = record(&json!({"id": "a", "resource": null, "service": null}));
        for k in [
            "resource_type",
            "resource_id",
            "action_type",
            "remote_ip",
            "first_seen",
            "count",
            "archived",
        ] {
            assert_eq!(r[k], Value::Null, "{k}");
        }
        assert_eq!(r["sample"], json!(false));
    }

    #[test]
    fn inputs_without_an_id_are_rejected_with_the_reason() {
        let ingest = ingest();
        let cases = [
            (json!([]), NormalizeError::NotAnObject { found: "an array" }),
            (
                json!("x"),
                NormalizeError::NotAnObject { found: "a string" },
            ),
            (json!({}), NormalizeError::MissingId),
            (json!({"id": ""}), NormalizeError::MissingId),
            (json!({"id": {"x": 1}}), NormalizeError::MissingId),
        ];
        for (input, err) in cases {
            assert_eq!(normalize(&input, &ingest).unwrap_err(), err, "{input}");
        }
    }

    #[test]
    fn the_sample_flag_is_read_from_the_apis_json_text_too() {
        let api = json!({"id": "a", "service": {"additionalInfo":
            {"value": "{\"sample\":true,\"threatListName\":\"x\"}", "type": "default"}}});
        assert_eq!(record(&api)["sample"], json!(true));
        let api =
            json!({"id": "a", "service": {"additionalInfo": {"value": "{}", "type": "default"}}});
        assert_eq!(record(&api)["sample"], json!(false));
        let broken = json!({"id": "a", "service": {"additionalInfo": {"value": "{not json", "type": "default"}}});
        assert_eq!(record(&broken)["sample"], json!(false));
    }

    #[test]
    fn the_sample_flag_is_read_from_a_value_given_as_an_object() {
        let r = record(&json!({"id": "a", "service": {"additionalInfo":
            {"value": {"sample": true}, "type": "default"}}}));
        assert_eq!(r["sample"], json!(true));
        let r = record(&json!({"id": "a", "service": {"additionalInfo":
            {"value": {"sample": "false"}, "type": "default"}}}));
        assert_eq!(r["sample"], json!(false));
    }

    #[test]
    fn the_sample_flag_reads_strings_and_booleans() {
        let r = record(&json!({"id": "a", "service": {"additionalInfo": {"sample": "true"}}}));
        assert_eq!(r["sample"], json!(true));
        let r = record(&json!({"id": "a", "service": {"additionalInfo": {"sample": true}}}));
        assert_eq!(r["sample"], json!(true));
    }

    #[test]
    fn resource_ids_are_taken_from_the_block_the_resource_type_names() {
        let cases = [
            (
                json!({"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}),
                "i-1",
            ),
            (
                json!({"resourceType": "S3Bucket", "instanceDetails": {"instanceId": "i-1"},
                    "s3BucketDetails": [{"name": "bucket-1"}]}),
                "bucket-1",
            ),
            (
                json!({"resourceType": "EKSCluster", "eksClusterDetails": {"name": "prod"}}),
                "prod",
            ),
            (
                json!({"resourceType": "RDSDBInstance", "rdsDbInstanceDetails": {"dbInstanceIdentifier": "db-1"}}),
                "db-1",
            ),
            (
                json!({"resourceType": "Lambda", "lambdaDetails": {"functionName": "fn"}}),
                "fn",
            ),
            (
                json!({"resourceType": "ECSCluster", "ecsClusterDetails": {"name": "ecs"}}),
                "ecs",
            ),
            (
                json!({"resourceType": "Container", "containerDetails": {"id": "c-1"}}),
                "c-1",
            ),
        ];
        for (resource, id) in cases {
            let r = record(&json!({"id": "a", "resource": resource}));
            assert_eq!(r["resource_id"], id, "{resource}");
        }
    }

    #[test]
    fn the_block_the_resource_type_names_wins_over_another_block_present() {
        let decoy = json!({"instanceId": "i-decoy"});
        let cases = [
            (
                "AccessKey",
                "accessKeyDetails",
                json!({"accessKeyId": "ASIA2"}),
                "ASIA2",
            ),
            (
                "EKSCluster",
                "eksClusterDetails",
                json!({"name": "eks"}),
                "eks",
            ),
            (
                "ECSCluster",
                "ecsClusterDetails",
                json!({"name": "ecs"}),
                "ecs",
            ),
            (
                "RDSDBInstance",
                "rdsDbInstanceDetails",
                json!({"dbInstanceIdentifier": "db-2"}),
                "db-2",
            ),
            (
                "RDSLimitlessDB",
                "rdsLimitlessDbDetails",
                json!({"dbShardGroupIdentifier": "shards"}),
                "shards",
            ),
            (
                "Lambda",
                "lambdaDetails",
                json!({"functionName": "fn"}),
                "fn",
            ),
            (
                "Container",
                "containerDetails",
                json!({"name": "web"}),
                "web",
            ),
            (
                "EBSVolume",
                "ebsVolumeDetails",
                json!({"scannedVolumeDetails": [{"volumeArn": "arn:aws:ec2:vol"}]}),
                "arn:aws:ec2:vol",
            ),
        ];
        for (resource_type, block, details, id) in cases {
            let resource = json!({"resourceType": resource_type, block: details,
                                  "instanceDetails": decoy});
            let r = record(&json!({"id": "a", "resource": resource}));
            assert_eq!(r["resource_id"], id, "{resource}");
        }
    }

    #[test]
    fn account_context_is_written_when_known_and_left_out_not_null_when_not() {
        let finding = json!({"id": "abc", "accountId": "111122223333", "region": "eu-west-1"});
        let bare = serde_json::to_value(normalize(&finding, &ingest()).unwrap()).unwrap();
        for key in ["account_name", "account_ou_path", "account_tags"] {
            assert!(bare.get(key).is_none(), "{key}: {bare}");
        }
        assert!(bare["console_url"].as_str().unwrap().contains("fId=abc"));
        let context = AccountContext {
            name: Some("prod".into()),
            ou_path: Some("Root/Prod".into()),
            tags: [("owner".to_string(), "payments".to_string())].into(),
            ..AccountContext::default()
        };
        let ingest = ingest().with_account(Some(&context));
        let full = serde_json::to_value(normalize(&finding, &ingest).unwrap()).unwrap();
        assert_eq!(full["account_name"], "prod");
        assert_eq!(full["account_ou_path"], "Root/Prod");
        assert_eq!(full["account_tags"], json!({"owner": "payments"}));
        assert!(
            full["ingest"].get("account").is_none(),
            "{}",
            full["ingest"]
        );
        let no_region = serde_json::to_value(normalize(&json!({"id": "abc"}), &ingest).unwrap());
        assert!(no_region.unwrap().get("console_url").is_none());
    }
}
