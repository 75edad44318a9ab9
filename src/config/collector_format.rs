//! `COLLECTOR_FORMAT` and the product presets' own options: which envelope, path and auth
//! scheme the HTTPS collector speaks, parsed and checked once at start-up. Every rejection
//! names its variable. Empty values count as unset (templates pass empty parameters).

use super::sentinel::{self, SentinelOptions};
use super::{ConfigError, Env};

/// The body the collector receives: a generic format, or a product's own protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectorFormat {
    /// One record per line, `application/x-ndjson`.
    Ndjson,
    /// A JSON array of records.
    Json,
    /// Splunk HTTP Event Collector, `/services/collector/event`.
    SplunkHec(HecOptions),
    /// Elasticsearch `_bulk` with `create` actions into a data stream.
    ElasticBulk(ElasticOptions),
    /// Datadog logs intake v2, `/api/v2/logs`.
    DatadogLogs(DatadogOptions),
    /// A Sumo Logic HTTP source (the URL is the credential).
    SumoHttp(SumoOptions),
    /// A Google SecOps webhook feed: raw findings, an API key and a feed secret.
    SecopsWebhook,
    /// Microsoft Sentinel through the Azure Monitor Logs Ingestion API.
    Sentinel(SentinelOptions),
}

impl CollectorFormat {
    /// The value of `COLLECTOR_FORMAT` that selects this format.
    pub fn name(&self) -> &'static str {
        match self {
            CollectorFormat::Ndjson => "ndjson",
            CollectorFormat::Json => "json",
            CollectorFormat::SplunkHec(_) => "splunk-hec",
            CollectorFormat::ElasticBulk(_) => "elastic-bulk",
            CollectorFormat::DatadogLogs(_) => "datadog-logs",
            CollectorFormat::SumoHttp(_) => "sumo-http",
            CollectorFormat::SecopsWebhook => "secops-webhook",
            CollectorFormat::Sentinel(_) => "sentinel",
        }
    }

    /// Whether this is a product preset (its own header and scheme for the credential).
    pub fn is_preset(&self) -> bool {
        !matches!(self, CollectorFormat::Ndjson | CollectorFormat::Json)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecOptions {
    /// `COLLECTOR_HEC_INDEX`; unset: the token's default index.
    pub index: Option<String>,
    /// `COLLECTOR_HEC_SOURCE`; unset: `guardduty-forwarder`.
    pub source: Option<String>,
    /// `COLLECTOR_HEC_ACK`: wait for indexer acknowledgement (default false).
    pub ack: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticOptions {
    /// `COLLECTOR_ELASTIC_NAMESPACE` (default `default`): the data stream is
    /// `logs-aws.guardduty-<namespace>`.
    pub namespace: String,
}

impl ElasticOptions {
    pub fn data_stream(&self) -> String {
        format!("logs-aws.guardduty-{}", self.namespace)
    }
}

/// What Datadog's GuardDuty log pipeline and Cloud SIEM rules match on (`source:guardduty`).
pub const DATADOG_DEFAULT_SOURCE: &str = "guardduty";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatadogOptions {
    /// `COLLECTOR_DATADOG_SOURCE` (default `guardduty`).
    pub source: String,
    /// `COLLECTOR_DATADOG_SERVICE`; unset: no `service`.
    pub service: Option<String>,
    /// `COLLECTOR_DATADOG_TAGS`: `ddtags`, comma-separated `key:value`.
    pub tags: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumoOptions {
    /// `COLLECTOR_SUMO_CATEGORY` → `X-Sumo-Category`.
    pub category: Option<String>,
    /// `COLLECTOR_SUMO_NAME` → `X-Sumo-Name`.
    pub name: Option<String>,
}

/// Each preset's own variables, to refuse those set for another format.
pub(super) const OPTION_VARS: &[(&str, &str)] = &[
    ("COLLECTOR_HEC_INDEX", "splunk-hec"),
    ("COLLECTOR_HEC_SOURCE", "splunk-hec"),
    ("COLLECTOR_HEC_ACK", "splunk-hec"),
    ("COLLECTOR_ELASTIC_NAMESPACE", "elastic-bulk"),
    ("COLLECTOR_DATADOG_SOURCE", "datadog-logs"),
    ("COLLECTOR_DATADOG_SERVICE", "datadog-logs"),
    ("COLLECTOR_DATADOG_TAGS", "datadog-logs"),
    ("COLLECTOR_SUMO_CATEGORY", "sumo-http"),
    ("COLLECTOR_SUMO_NAME", "sumo-http"),
    ("SENTINEL_DCR_ID", "sentinel"),
    ("SENTINEL_STREAM", "sentinel"),
    ("AZURE_TENANT_ID", "sentinel"),
    ("AZURE_CLIENT_ID", "sentinel"),
    ("AZURE_AUTHORITY_HOST", "sentinel"),
];

/// Reads `COLLECTOR_FORMAT` and the chosen preset's options.
pub(super) fn parse(env: &Env<'_>) -> Result<CollectorFormat, ConfigError> {
    let format = match env.string("COLLECTOR_FORMAT").as_deref() {
        None | Some("ndjson") => CollectorFormat::Ndjson,
        Some("json") => CollectorFormat::Json,
        Some("splunk-hec") => CollectorFormat::SplunkHec(HecOptions {
            index: checked(env, "COLLECTOR_HEC_INDEX", is_hec_index, HEC_INDEX_RULE)?,
            source: checked(env, "COLLECTOR_HEC_SOURCE", is_header_safe, TEXT_RULE)?,
            ack: env.boolean("COLLECTOR_HEC_ACK", false)?,
        }),
        Some("elastic-bulk") => CollectorFormat::ElasticBulk(ElasticOptions {
            namespace: checked(
                env,
                "COLLECTOR_ELASTIC_NAMESPACE",
                is_namespace,
                NAMESPACE_RULE,
            )?
            .unwrap_or_else(|| "default".into()),
        }),
        Some("datadog-logs") => CollectorFormat::DatadogLogs(DatadogOptions {
            source: checked(env, "COLLECTOR_DATADOG_SOURCE", is_header_safe, TEXT_RULE)?
                .unwrap_or_else(|| DATADOG_DEFAULT_SOURCE.into()),
            service: checked(env, "COLLECTOR_DATADOG_SERVICE", is_header_safe, TEXT_RULE)?,
            tags: checked(env, "COLLECTOR_DATADOG_TAGS", is_tag_list, TAGS_RULE)?,
        }),
        Some("sumo-http") => CollectorFormat::SumoHttp(SumoOptions {
            category: checked(env, "COLLECTOR_SUMO_CATEGORY", is_header_safe, TEXT_RULE)?,
            name: checked(env, "COLLECTOR_SUMO_NAME", is_header_safe, TEXT_RULE)?,
        }),
        Some("secops-webhook") => CollectorFormat::SecopsWebhook,
        Some("sentinel") => CollectorFormat::Sentinel(sentinel::parse(
            env,
            env.boolean("COLLECTOR_ALLOW_HTTP", false)?,
        )?),
        Some(other) => {
            return Err(ConfigError::Invalid {
                var: "COLLECTOR_FORMAT",
                value: other.into(),
                reason:
                    "expected ndjson, json, splunk-hec, elastic-bulk, datadog-logs, sumo-http, \
                         secops-webhook or sentinel"
                        .into(),
            });
        }
    };
    for (var, owner) in OPTION_VARS {
        if *owner != format.name() && env.string(var).is_some() {
            return Err(ConfigError::Rejected {
                var,
                reason: format!(
                    "is set but COLLECTOR_FORMAT is {}, not {owner}",
                    format.name()
                ),
            });
        }
    }
    Ok(format)
}

/// A preset whose product cannot be reached without a credential refuses to start without
/// one, naming where it goes.
pub(super) fn check_credential(
    format: &CollectorFormat,
    auth: &super::AuthSource,
) -> Result<(), ConfigError> {
    let needed = match format {
        CollectorFormat::SecopsWebhook => {
            "secops-webhook needs the feed's credential: a secret holding \
             {\"api_key\": \"…\", \"secret\": \"…\"}"
        }
        CollectorFormat::Sentinel(_) => {
            "sentinel needs the Entra ID app's client secret: a secret holding it as plain text"
        }
        _ => return Ok(()),
    };
    if matches!(auth, super::AuthSource::None) {
        return Err(ConfigError::Rejected {
            var: "COLLECTOR_AUTH_SECRET_ARN",
            reason: needed.into(),
        });
    }
    Ok(())
}

const HEC_INDEX_RULE: &str =
    "a Splunk index name: lowercase letters, digits, '_' and '-', not starting with '_' or '-'";
const TEXT_RULE: &str = "printable text of at most 512 characters";
const NAMESPACE_RULE: &str = "a data stream namespace: lowercase, at most 100 bytes, none of \
     - \\ / * ? \" < > | , # : or space";
const TAGS_RULE: &str = "comma-separated tags such as env:prod,team:security";

fn checked(
    env: &Env<'_>,
    var: &'static str,
    ok: fn(&str) -> bool,
    rule: &str,
) -> Result<Option<String>, ConfigError> {
    match env.string(var) {
        Some(v) if !ok(&v) => Err(ConfigError::Invalid {
            var,
            value: v,
            reason: rule.into(),
        }),
        other => Ok(other),
    }
}

fn is_hec_index(v: &str) -> bool {
    v.len() <= 80
        && !v.starts_with(['_', '-'])
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_header_safe(v: &str) -> bool {
    v.chars().count() <= 512 && !v.chars().any(char::is_control)
}

fn is_namespace(v: &str) -> bool {
    v.len() <= 100
        && !v
            .chars()
            .any(|c| c.is_uppercase() || c.is_whitespace() || "-\\/*?\"<>|,#:".contains(c))
}

fn is_tag_list(v: &str) -> bool {
    is_header_safe(v)
        && v.split(',')
            .map(str::trim)
            .all(|t| !t.is_empty() && !t.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(vars: &[(&str, &str)]) -> Result<CollectorFormat, ConfigError> {
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        parse(&Env(&get))
    }

    fn rejected(vars: &[(&str, &str)]) -> &'static str {
        match parse_with(vars) {
            Err(ConfigError::Invalid { var, .. } | ConfigError::Rejected { var, .. }) => var,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn each_preset_gets_its_documented_defaults() {
        assert_eq!(
            parse_with(&[("COLLECTOR_FORMAT", "splunk-hec")]).unwrap(),
            CollectorFormat::SplunkHec(HecOptions {
                index: None,
                source: None,
                ack: false
            })
        );
        let CollectorFormat::ElasticBulk(e) =
            parse_with(&[("COLLECTOR_FORMAT", "elastic-bulk")]).unwrap()
        else {
            panic!("not elastic")
        };
        assert_eq!(e.data_stream(), "logs-aws.guardduty-default");
        assert_eq!(
            parse_with(&[("COLLECTOR_FORMAT", "datadog-logs")]).unwrap(),
            CollectorFormat::DatadogLogs(DatadogOptions {
                source: "guardduty".into(),
                service: None,
                tags: None
            })
        );
        assert_eq!(parse_with(&[]).unwrap(), CollectorFormat::Ndjson);
    }

    #[test]
    fn empty_options_count_as_unset() {
        let f = parse_with(&[
            ("COLLECTOR_FORMAT", "sumo-http"),
            ("COLLECTOR_HEC_INDEX", ""),
            ("COLLECTOR_SUMO_CATEGORY", "aws/guardduty"),
        ])
        .unwrap();
        assert_eq!(
            f,
            CollectorFormat::SumoHttp(SumoOptions {
                category: Some("aws/guardduty".into()),
                name: None
            })
        );
    }

    #[test]
    fn each_bad_option_is_rejected_naming_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("COLLECTOR_FORMAT", "syslog")], "COLLECTOR_FORMAT"),
            (
                &[
                    ("COLLECTOR_FORMAT", "splunk-hec"),
                    ("COLLECTOR_HEC_INDEX", "Main"),
                ],
                "COLLECTOR_HEC_INDEX",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "splunk-hec"),
                    ("COLLECTOR_HEC_ACK", "sometimes"),
                ],
                "COLLECTOR_HEC_ACK",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "splunk-hec"),
                    ("COLLECTOR_HEC_SOURCE", "a\u{7}b"),
                ],
                "COLLECTOR_HEC_SOURCE",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "elastic-bulk"),
                    ("COLLECTOR_ELASTIC_NAMESPACE", "prod-eu"),
                ],
                "COLLECTOR_ELASTIC_NAMESPACE",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "datadog-logs"),
                    ("COLLECTOR_DATADOG_TAGS", "env:prod, team: sec"),
                ],
                "COLLECTOR_DATADOG_TAGS",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "ndjson"),
                    ("COLLECTOR_HEC_INDEX", "main"),
                ],
                "COLLECTOR_HEC_INDEX",
            ),
            (
                &[
                    ("COLLECTOR_FORMAT", "splunk-hec"),
                    ("COLLECTOR_DATADOG_SERVICE", "x"),
                ],
                "COLLECTOR_DATADOG_SERVICE",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(rejected(vars), *var, "for {vars:?}");
        }
    }
}
