//! The destinations: named, each with its own filter. Either one JSON document (`DESTINATIONS`,
//! or the SSM parameter `DESTINATIONS_PARAMETER` names) or the one-destination variables
//! (`LOG_RECORDS`, `SQS_QUEUE_URL`, `COLLECTOR_URL`…, `FIREHOSE_STREAM_NAME`), which give
//! destinations named after their type with no filter.
//!
//! A document entry's settings are its type's one-destination variables in lower case without
//! their prefix (`url` for `COLLECTOR_URL`, `queue_url` for `SQS_QUEUE_URL`), read by the
//! same parsers as the variables, so an entry accepts and refuses exactly what the variables
//! do. Errors name the destination and the field, never a credential's value.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    COLLECTOR_SETTINGS, CollectorConfig, ConfigError, Env, FirehoseStream, S3Destination,
    collector_format, collector_from_env, stray_collector_setting, validate_queue_url,
};
use crate::normalize::Severity;
use crate::route::{Filter, Updates};

/// One destination: where records go, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Unique; in logs, metrics, DLQ messages and `check`.
    pub name: String,
    pub kind: DestinationKind,
    pub filter: Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationKind {
    /// The function's log stream (stdout), one JSON line per record.
    Log,
    Sqs {
        queue_url: String,
    },
    Https(Box<CollectorConfig>),
    Firehose(FirehoseStream),
    /// gzip NDJSON objects in Amazon S3.
    S3(S3Destination),
}

impl DestinationKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            DestinationKind::Log => "log",
            DestinationKind::Sqs { .. } => "sqs",
            DestinationKind::Https(_) => "https",
            DestinationKind::Firehose(_) => "firehose",
            DestinationKind::S3(_) => "s3",
        }
    }
}

/// The one-destination variables a document replaces; setting one beside `DESTINATIONS` is
/// refused (which would win is a guess).
const SHORTHAND_VARS: &[&str] = &[
    "SQS_QUEUE_URL",
    "COLLECTOR_URL",
    "COLLECTOR_URL_SECRET_ARN",
    "FIREHOSE_STREAM_NAME",
    "S3_BUCKET",
];

/// The destinations the one-destination variables name, in a fixed order.
pub(super) fn from_variables(env: &Env<'_>) -> Result<Vec<Destination>, ConfigError> {
    let mut out = Vec::new();
    let open = |name: &str, kind| Destination {
        name: name.into(),
        kind,
        filter: Filter::default(),
    };
    if env.boolean("LOG_RECORDS", false)? {
        out.push(open("log", DestinationKind::Log));
    }
    if let Some(url) = env.string("SQS_QUEUE_URL") {
        validate_queue_url(&url)?;
        out.push(open("sqs", DestinationKind::Sqs { queue_url: url }));
    }
    if let Some(c) = collector_from_env(env)? {
        out.push(open("https", DestinationKind::Https(Box::new(c))));
    }
    if let Some(stream) = firehose(env, "FIREHOSE_STREAM_NAME")? {
        out.push(open("firehose", DestinationKind::Firehose(stream)));
    }
    if let Some(s3) = super::s3::parse(env, &super::S3_VARIABLES)? {
        out.push(open("s3", DestinationKind::S3(s3)));
    }
    Ok(out)
}

fn firehose(env: &Env<'_>, var: &'static str) -> Result<Option<FirehoseStream>, ConfigError> {
    env.string(var)
        .map(|v| {
            FirehoseStream::parse(&v).map_err(|reason| ConfigError::Invalid {
                var,
                value: v.clone(),
                reason: reason.into(),
            })
        })
        .transpose()
}

/// Refuses the one-destination variables beside a document.
pub(super) fn refuse_shorthand(env: &Env<'_>, source: &'static str) -> Result<(), ConfigError> {
    let set = SHORTHAND_VARS
        .iter()
        .find(|v| env.string(v).is_some())
        .copied()
        .or_else(|| (env.boolean("LOG_RECORDS", false) == Ok(true)).then_some("LOG_RECORDS"))
        .or_else(|| stray_collector_setting(env));
    match set {
        Some(var) => Err(ConfigError::Rejected {
            var,
            reason: format!(
                "is set beside {source}: describe that destination in the document instead \
                 (one place says where findings go)"
            ),
        }),
        None => Ok(()),
    }
}

/// Parses a destinations document. `source` is the variable it came from, for errors.
pub fn parse_document(text: &str, source: &'static str) -> Result<Vec<Destination>, ConfigError> {
    let whole = |reason: String| ConfigError::Rejected {
        var: source,
        reason,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json's message names the line and column, never the text around them.
        whole(format!("not a JSON document: {e}"))
    })?;
    let Some(Value::Array(entries)) = doc.get("destinations") else {
        return Err(whole(
            r#"expected {"destinations": [{"name": …, "type": …}, …]}"#.into(),
        ));
    };
    if let Some(key) = doc
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "destinations"))
    {
        return Err(whole(format!(
            "unknown top-level key {key:?} (only \"destinations\")"
        )));
    }
    if entries.is_empty() {
        return Err(whole("\"destinations\" is empty".into()));
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let d = entry_of(entry, i, source)?;
        if !names.insert(d.name.clone()) {
            return Err(field_error(
                source,
                &d.name,
                "name",
                "used by another destination".into(),
            ));
        }
        out.push(d);
    }
    Ok(out)
}

fn field_error(source: &'static str, name: &str, field: &str, reason: String) -> ConfigError {
    ConfigError::Destination {
        source_var: source,
        name: name.to_string(),
        field: field.to_string(),
        reason,
    }
}

fn entry_of(entry: &Value, i: usize, source: &'static str) -> Result<Destination, ConfigError> {
    let label = format!("#{}", i + 1);
    let Some(obj) = entry.as_object() else {
        return Err(field_error(
            source,
            &label,
            "(entry)",
            "expected an object".into(),
        ));
    };
    let name = match obj.get("name") {
        Some(Value::String(n)) if is_name(n) => n.clone(),
        Some(Value::String(_)) => {
            return Err(field_error(
                source,
                &label,
                "name",
                "expected 1-64 letters, digits, _ - .".into(),
            ));
        }
        _ => return Err(field_error(source, &label, "name", "is required".into())),
    };
    let err = |field: &str, reason: String| field_error(source, &name, field, reason);
    let type_name = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => {
            return Err(err(
                "type",
                "is required: https, sqs, log, firehose or s3".into(),
            ));
        }
    };
    let filter = match obj.get("filter") {
        None => Filter::default(),
        Some(f) => filter_of(f).map_err(|(field, reason)| err(&field, reason))?,
    };
    let mut settings = BTreeMap::new();
    for (key, value) in obj {
        if matches!(key.as_str(), "name" | "type" | "filter") {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            _ => return Err(err(key, "expected a string, number or boolean".into())),
        };
        settings.insert(key.as_str(), text);
    }
    let kind = kind_of(type_name, &settings).map_err(|(field, reason)| err(&field, reason))?;
    Ok(Destination { name, kind, filter })
}

fn is_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// The variables an `https` entry may set: every collector variable.
fn https_vars() -> Vec<&'static str> {
    let mut vars = vec!["COLLECTOR_URL", "COLLECTOR_URL_SECRET_ARN"];
    vars.extend(COLLECTOR_SETTINGS.iter().map(|(v, _)| *v));
    for (v, _) in collector_format::OPTION_VARS {
        if !vars.contains(v) {
            vars.push(v);
        }
    }
    vars
}

/// A field's name for a variable: lower case, without the destination type's prefix.
fn field_of(var: &str) -> String {
    var.strip_prefix("COLLECTOR_")
        .unwrap_or(var)
        .to_ascii_lowercase()
}

/// Builds the destination of `type_name` from its settings; errors are `(field, reason)`.
fn kind_of(
    type_name: &str,
    settings: &BTreeMap<&str, String>,
) -> Result<DestinationKind, (String, String)> {
    let vars: Vec<&'static str> = match type_name {
        "log" => vec![],
        "sqs" => vec!["SQS_QUEUE_URL"],
        "firehose" => vec!["FIREHOSE_STREAM_NAME"],
        "s3" => vec!["S3_BUCKET", "S3_PREFIX", "S3_KMS_KEY_ID"],
        "https" => https_vars(),
        other => {
            return Err((
                "type".into(),
                format!("{other:?} is not one of https, sqs, log, firehose, s3"),
            ));
        }
    };
    let field = |var: &str| match var {
        "SQS_QUEUE_URL" => "queue_url".to_string(),
        "FIREHOSE_STREAM_NAME" => "stream_name".to_string(),
        v if v.starts_with("S3_") => v["S3_".len()..].to_ascii_lowercase(),
        v => field_of(v),
    };
    let by_var: BTreeMap<&'static str, &String> = vars
        .iter()
        .filter_map(|v| settings.get(field(v).as_str()).map(|s| (*v, s)))
        .collect();
    if let Some(unknown) = settings
        .keys()
        .find(|k| !vars.iter().any(|v| field(v) == **k))
    {
        let known: Vec<String> = vars.iter().map(|v| field(v)).collect();
        return Err((
            (*unknown).to_string(),
            format!(
                "not a setting of a {type_name} destination{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (known: {})", known.join(", "))
                }
            ),
        ));
    }
    let get = |var: &str| by_var.get(var).map(|s| s.to_string());
    let env = Env(&get);
    let renamed = |e: ConfigError| rename(e, &vars, &field);
    let required = |var: &str| (field(var), "is required".to_string());
    match type_name {
        "log" => Ok(DestinationKind::Log),
        "sqs" => {
            let url = env
                .string("SQS_QUEUE_URL")
                .ok_or_else(|| required("SQS_QUEUE_URL"))?;
            validate_queue_url(&url).map_err(renamed)?;
            Ok(DestinationKind::Sqs { queue_url: url })
        }
        "firehose" => firehose(&env, "FIREHOSE_STREAM_NAME")
            .map_err(renamed)?
            .map(DestinationKind::Firehose)
            .ok_or_else(|| required("FIREHOSE_STREAM_NAME")),
        "s3" => super::s3::parse(&env, &super::S3_VARIABLES)
            .map_err(renamed)?
            .map(DestinationKind::S3)
            .ok_or_else(|| required("S3_BUCKET")),
        _ => collector_from_env(&env)
            .map_err(renamed)?
            .map(|c| DestinationKind::Https(Box::new(c)))
            .ok_or_else(|| ("url".into(), "is required (or url_secret_arn)".into())),
    }
}

/// A variable's error as the entry's field's: the variable names in the reason become the
/// entry's field names (longest first, so `COLLECTOR_URL_SECRET_ARN` is not read as
/// `COLLECTOR_URL`). The value is quoted only where the variable's own error quotes it (never
/// for a setting that can hold a credential).
fn rename(e: ConfigError, vars: &[&str], field: &dyn Fn(&str) -> String) -> (String, String) {
    let (var, reason) = match e {
        ConfigError::Invalid { var, value, reason } => (var, format!("{reason} (got {value:?})")),
        ConfigError::Rejected { var, reason } => (var, reason),
        other => return ("(entry)".into(), other.to_string()),
    };
    let mut sorted: Vec<&str> = vars.to_vec();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let reason = sorted.iter().fold(reason, |r, v| r.replace(v, &field(v)));
    (field(var), reason)
}

/// The entry's `filter` object; errors are `(field, reason)`, the field as `filter.KEY`.
fn filter_of(v: &Value) -> Result<Filter, (String, String)> {
    let Some(obj) = v.as_object() else {
        return Err(("filter".into(), "expected an object".into()));
    };
    let mut f = Filter::default();
    for (key, value) in obj {
        let at = format!("filter.{key}");
        let bad = |what: &str| (at.clone(), format!("expected {what}"));
        match key.as_str() {
            "min_severity" => {
                f.min_severity = Some(
                    value
                        .as_str()
                        .and_then(Severity::parse)
                        .ok_or_else(|| bad("one of info, low, medium, high, critical"))?,
                );
            }
            "types" | "exclude_types" | "accounts" | "regions" | "resource_types" => {
                let list = strings(value).ok_or_else(|| bad("a list of strings"))?;
                match key.as_str() {
                    "types" => f.types = list,
                    "exclude_types" => f.exclude_types = list,
                    "accounts" => f.accounts = list,
                    "regions" => f.regions = list,
                    _ => f.resource_types = list,
                }
            }
            "include_samples" => {
                f.include_samples = value.as_bool().ok_or_else(|| bad("true or false"))?;
            }
            "updates" => {
                f.updates = match value.as_str() {
                    Some("all") => Updates::All,
                    Some("new_only") => Updates::NewOnly,
                    _ => return Err(bad("\"all\" or \"new_only\"")),
                };
            }
            _ => {
                return Err((
                    at,
                    "not a filter key (min_severity, types, exclude_types, accounts, regions, \
                     resource_types, include_samples, updates)"
                        .into(),
                ));
            }
        }
    }
    Ok(f)
}

/// A list of non-empty strings (a single string counts as a list of one).
fn strings(v: &Value) -> Option<Vec<String>> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::String(_) => vec![v],
        _ => return None,
    };
    items
        .into_iter()
        .map(|i| {
            i.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: &str) -> Result<Vec<Destination>, ConfigError> {
        parse_document(doc, "DESTINATIONS")
    }

    fn error(doc: &str) -> String {
        parse(doc).unwrap_err().to_string()
    }

    #[test]
    fn a_document_gives_named_destinations_with_their_filters() {
        let d = parse(
            r#"{"destinations": [
                {"name": "siem", "type": "https", "url": "https://siem.example.com",
                 "format": "splunk-hec", "auth_secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:hec-AbCdEf",
                 "hec_index": "security", "gzip": true, "timeout_seconds": 5,
                 "filter": {"min_severity": "high", "exclude_types": ["*:EC2/*"], "include_samples": false}},
                {"name": "archive", "type": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/111122223333/archive"},
                {"name": "lake", "type": "firehose", "stream_name": "gd-lake", "filter": {"updates": "new_only"}},
                {"name": "stdout", "type": "log", "filter": {"accounts": "111122223333"}},
                {"name": "archive-s3", "type": "s3", "bucket": "gd-archive", "prefix": "/findings/"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            d.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["siem", "archive", "lake", "stdout", "archive-s3"]
        );
        assert!(
            matches!(&d[4].kind, DestinationKind::S3(s) if s.bucket == "gd-archive" && s.prefix == "findings")
        );
        let DestinationKind::Https(c) = &d[0].kind else {
            panic!("{:?}", d[0].kind)
        };
        assert!(c.gzip);
        assert_eq!(c.timeout.as_secs(), 5);
        assert!(
            matches!(c.format, super::super::CollectorFormat::SplunkHec(ref o) if o.index.as_deref() == Some("security"))
        );
        assert_eq!(d[0].filter.min_severity, Some(Severity::High));
        assert!(!d[0].filter.include_samples);
        assert_eq!(d[2].filter.updates, Updates::NewOnly);
        assert_eq!(d[3].filter.accounts, ["111122223333"]);
        assert!(d[1].filter.is_open());
    }

    #[test]
    fn a_preset_s_own_settings_are_entry_keys_too() {
        let d = parse(
            r#"{"destinations": [{"name": "sentinel", "type": "https", "format": "sentinel",
                "url": "https://gdf-abcd.eastus-1.ingest.monitor.azure.com",
                "auth_secret_arn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:entra-AbCdEf",
                "sentinel_dcr_id": "dcr-0123456789abcdef0123456789abcdef",
                "sentinel_stream": "Custom-GuardDutyFindings",
                "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "azure_client_id": "00000000-1111-2222-3333-444444444444"}]}"#,
        )
        .unwrap();
        let DestinationKind::Https(c) = &d[0].kind else {
            panic!("{:?}", d[0].kind)
        };
        assert_eq!(c.format.name(), "sentinel");
        assert!(
            error(r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example", "sentinel_stream": "x"}]}"#)
                .contains("destination \"s\", sentinel_stream:"),
            "a preset's setting under another format is refused, naming the entry key"
        );
    }

    #[test]
    fn an_error_names_the_destination_and_the_field() {
        assert_eq!(
            error(
                r#"{"destinations": [{"name": "siem", "type": "https", "url": "http://x.example"}]}"#
            ),
            "DESTINATIONS: destination \"siem\", url: plain http is refused; use https (or allow_http=true for local testing)"
        );
        assert!(
            error(r#"{"destinations": [{"name": "a", "type": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"}, {"name": "a", "type": "log"}]}"#)
                .contains("destination \"a\", name: used by another destination")
        );
        assert!(
            error(r#"{"destinations": [{"name": "q", "type": "sqs"}]}"#)
                .contains("destination \"q\", queue_url: is required")
        );
        assert!(
            error(r#"{"destinations": [{"name": "q", "type": "sqs", "url": "https://x"}]}"#)
                .contains(
                    "destination \"q\", url: not a setting of a sqs destination (known: queue_url)"
                )
        );
        assert!(error(r#"{"destinations": [{"name": "q", "type": "log", "filter": {"severity": "high"}}]}"#)
            .contains("destination \"q\", filter.severity: not a filter key"));
        assert!(error(r#"{"destinations": [{"name": "q", "type": "log", "filter": {"min_severity": "urgent"}}]}"#)
            .contains("filter.min_severity: expected one of info"));
        assert!(
            error(r#"{"destinations": [{"type": "log"}]}"#)
                .contains("destination \"#1\", name: is required")
        );
        assert!(
            error(r#"{"destinations": [{"name": "x", "type": "kafka"}]}"#)
                .contains("type: \"kafka\" is not one of")
        );
        assert!(error(r#"{"destinations": []}"#).contains("is empty"));
        assert!(error("{").starts_with("DESTINATIONS: not a JSON document"));
        assert!(error(r#"{"destination": []}"#).contains("expected {\"destinations\""));
    }

    #[test]
    fn a_credential_in_a_document_is_never_quoted_in_an_error() {
        for doc in [
            r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example/?token=SeCrEt42", "auth_value": "SeCrEt42\u0007x"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url": "ftp://SeCrEt42@h.example"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example", "auth_header": "X-SeCrEt42 :"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url_secret_arn": "SeCrEt42"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example", "auth_secret_arn": "SeCrEt42", "auth_value": "SeCrEt42"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example", "auth_value": "SeCrEt42", "format": "sumo-http"}]}"#,
            r#"{"destinations": [{"name": "s", "type": "https", "url": "https://h.example", "auth_value": "SeCrEt42"} "#,
        ] {
            let e = error(doc);
            assert!(!e.contains("SeCrEt42"), "{e}");
            assert!(e.contains("DESTINATIONS"), "{e}");
        }
    }
}
