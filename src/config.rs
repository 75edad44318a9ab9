//! Configuration: every environment variable the forwarder reads, parsed and validated once
//! at start-up. Each rejection names the variable (see the unit tests at the bottom).

use std::time::Duration;

use crate::normalize::{OcsfVersion, OutputSchema, Severity};

mod collector_format;
pub use collector_format::{
    CollectorFormat, DATADOG_DEFAULT_SOURCE, DatadogOptions, ElasticOptions, HecOptions,
    SumoOptions,
};

/// A setting that could not be accepted. Always names the variable; never echoes a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var}: {reason} (got {value:?})")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("{var}: {reason}")]
    Rejected { var: &'static str, reason: String },
    #[error(
        "no destination configured: set SQS_QUEUE_URL, COLLECTOR_URL or LOG_RECORDS=true \
         (the Lambda function would otherwise drop every finding)"
    )]
    NoDestination,
}

/// Where the HTTPS collector's auth header value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthSource {
    None,
    /// A Secrets Manager secret ARN; the SecretString is the header value.
    Secret(String),
    /// A plain value (development); kept out of `Debug`.
    Value(String),
}

impl std::fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthSource::None => f.write_str("None"),
            AuthSource::Secret(arn) => f.debug_tuple("Secret").field(arn).finish(),
            AuthSource::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    pub url: String,
    pub format: CollectorFormat,
    pub gzip: bool,
    pub max_batch_bytes: usize,
    pub max_batch_records: usize,
    pub auth_header: String,
    pub auth: AuthSource,
    pub ca_file: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillConfig {
    /// Empty: the function's (or the SDK's default) region.
    pub regions: Vec<String>,
    /// Empty: ListDetectors.
    pub detector_ids: Vec<String>,
    pub include_archived: bool,
    pub max_findings: usize,
    pub lookback: Duration,
    pub checkpoint_parameter: Option<String>,
    /// How far behind now a run's listing stops (`BACKFILL_SETTLE_SECONDS`).
    pub settle: Duration,
    /// Consecutive runs a finding may fail permanently before it is set aside
    /// (`BACKFILL_QUARANTINE_AFTER`).
    pub quarantine_after: u32,
    /// Where poison findings are set aside (`DLQ_URL`); without it they are held.
    pub dlq_url: Option<String>,
    pub assume_role_arn: Option<String>,
    pub assume_role_external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub log_records: bool,
    pub sqs_queue_url: Option<String>,
    pub collector: Option<CollectorConfig>,
    pub min_severity: Severity,
    pub output_schema: OutputSchema,
    pub backfill: BackfillConfig,
    pub metrics_namespace: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment in production, a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let sqs_queue_url = env.string("SQS_QUEUE_URL");
        if let Some(url) = &sqs_queue_url {
            validate_queue_url(url)?;
        }
        let collector = match env.string("COLLECTOR_URL") {
            None => None,
            Some(url) => Some(collector_config(&env, url)?),
        };
        let collector_only_vars = [
            "COLLECTOR_AUTH_SECRET_ARN",
            "COLLECTOR_AUTH_VALUE",
            "COLLECTOR_CA_FILE",
        ];
        if let (None, Some(var)) = (
            &collector,
            collector_only_vars.iter().find(|v| env.string(v).is_some()),
        ) {
            return Err(ConfigError::Rejected {
                var,
                reason: "is set but COLLECTOR_URL is not".into(),
            });
        }
        let min_severity = match env.string("MIN_SEVERITY") {
            None => Severity::Info,
            Some(v) => Severity::parse(&v).ok_or_else(|| ConfigError::Invalid {
                var: "MIN_SEVERITY",
                value: v,
                reason: "expected one of info, low, medium, high, critical".into(),
            })?,
        };
        let output_schema = match env.string("OUTPUT_SCHEMA").as_deref() {
            None | Some("native") => OutputSchema::Native,
            Some("ocsf") => OutputSchema::Ocsf(ocsf_version(&env)?),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "OUTPUT_SCHEMA",
                    value: other.into(),
                    reason: "expected native or ocsf".into(),
                });
            }
        };
        let assume_role_arn = env.string("ASSUME_ROLE_ARN");
        if let Some(arn) = &assume_role_arn
            && !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/"))
        {
            return Err(ConfigError::Invalid {
                var: "ASSUME_ROLE_ARN",
                value: arn.clone(),
                reason: "expected an IAM role ARN (arn:aws:iam::123456789012:role/NAME)".into(),
            });
        }
        let assume_role_external_id = env.string("ASSUME_ROLE_EXTERNAL_ID");
        if assume_role_external_id.is_some() && assume_role_arn.is_none() {
            return Err(ConfigError::Rejected {
                var: "ASSUME_ROLE_EXTERNAL_ID",
                reason: "is set but ASSUME_ROLE_ARN is not".into(),
            });
        }
        let regions = env.list("GUARDDUTY_REGIONS");
        for r in &regions {
            if !is_region_name(r) {
                return Err(ConfigError::Invalid {
                    var: "GUARDDUTY_REGIONS",
                    value: r.clone(),
                    reason: "not a region name (e.g. us-east-1)".into(),
                });
            }
        }
        let detector_ids = env.list("DETECTOR_IDS");
        for d in &detector_ids {
            if d.is_empty() || d.len() > 300 || !d.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::Invalid {
                    var: "DETECTOR_IDS",
                    value: d.clone(),
                    reason: "a detector id is 1-300 letters and digits".into(),
                });
            }
        }
        let max_findings = env.number("BACKFILL_MAX_FINDINGS", 500, 1, 100_000)?;
        let lookback = env.number("BACKFILL_LOOKBACK_MINUTES", 15, 1, 60 * 24 * 90)?;
        let checkpoint_parameter = env.string("CHECKPOINT_PARAMETER");
        let settle = env.number("BACKFILL_SETTLE_SECONDS", 300, 0, 3600)?;
        if settle >= lookback.saturating_mul(60) {
            return Err(ConfigError::Invalid {
                var: "BACKFILL_SETTLE_SECONDS",
                value: settle.to_string(),
                reason: "must be less than BACKFILL_LOOKBACK_MINUTES, or the window is empty"
                    .into(),
            });
        }
        let quarantine_after = env.number("BACKFILL_QUARANTINE_AFTER", 3, 1, 100)?;
        let dlq_url = env.string("DLQ_URL");
        if let Some(url) = &dlq_url {
            validate_queue_url_of("DLQ_URL", url)?;
        }
        if let Some(p) = &checkpoint_parameter
            && (p.len() > 2048 || p.chars().any(char::is_whitespace))
        {
            return Err(ConfigError::Invalid {
                var: "CHECKPOINT_PARAMETER",
                value: p.clone(),
                reason: "not an SSM parameter name".into(),
            });
        }
        let metrics_namespace = env
            .string("METRICS_NAMESPACE")
            .unwrap_or_else(|| "GuardDutyForwarder".into());
        if metrics_namespace.len() > 255 || metrics_namespace.starts_with(':') {
            return Err(ConfigError::Invalid {
                var: "METRICS_NAMESPACE",
                value: metrics_namespace,
                reason: "not a CloudWatch namespace".into(),
            });
        }
        Ok(Config {
            log_records: env.boolean("LOG_RECORDS", false)?,
            sqs_queue_url,
            collector,
            min_severity,
            output_schema,
            backfill: BackfillConfig {
                regions,
                detector_ids,
                include_archived: env.boolean("BACKFILL_INCLUDE_ARCHIVED", false)?,
                max_findings: max_findings as usize,
                lookback: Duration::from_secs(lookback * 60),
                checkpoint_parameter,
                settle: Duration::from_secs(settle),
                quarantine_after: u32::try_from(quarantine_after).unwrap_or(u32::MAX),
                dlq_url,
                assume_role_arn,
                assume_role_external_id,
            },
            metrics_namespace,
        })
    }

    /// True when at least one destination besides the CLI's stdout default is set.
    pub fn has_destination(&self) -> bool {
        self.log_records || self.sqs_queue_url.is_some() || self.collector.is_some()
    }

    /// Lambda mode refuses to start without a destination.
    pub fn require_destination(&self) -> Result<(), ConfigError> {
        if self.has_destination() {
            Ok(())
        } else {
            Err(ConfigError::NoDestination)
        }
    }
}

fn collector_config(env: &Env<'_>, url: String) -> Result<CollectorConfig, ConfigError> {
    let allow_http = env.boolean("COLLECTOR_ALLOW_HTTP", false)?;
    let lower = url.to_ascii_lowercase();
    let invalid = |reason: &str| ConfigError::Invalid {
        var: "COLLECTOR_URL",
        value: redact_url(&url),
        reason: reason.into(),
    };
    if lower.starts_with("http://") {
        if !allow_http {
            return Err(invalid(
                "plain http is refused; use https (or COLLECTOR_ALLOW_HTTP=true for local testing)",
            ));
        }
    } else if !lower.starts_with("https://") {
        return Err(invalid("expected an https:// URL"));
    }
    match url.parse::<hyper::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
        _ => return Err(invalid("not a valid URL")),
    }
    let format = collector_format::parse(env)?;
    let auth_header = env
        .string("COLLECTOR_AUTH_HEADER")
        .unwrap_or_else(|| "Authorization".into());
    if hyper::header::HeaderName::from_bytes(auth_header.as_bytes()).is_err() {
        return Err(ConfigError::Invalid {
            var: "COLLECTOR_AUTH_HEADER",
            value: auth_header,
            reason: "not a valid HTTP header name".into(),
        });
    }
    let auth = match (
        env.string("COLLECTOR_AUTH_SECRET_ARN"),
        env.string("COLLECTOR_AUTH_VALUE"),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Rejected {
                var: "COLLECTOR_AUTH_VALUE",
                reason: "set only one of COLLECTOR_AUTH_SECRET_ARN and COLLECTOR_AUTH_VALUE".into(),
            });
        }
        (Some(arn), None) => {
            if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
                return Err(ConfigError::Invalid {
                    var: "COLLECTOR_AUTH_SECRET_ARN",
                    value: arn,
                    reason: "expected a Secrets Manager secret ARN".into(),
                });
            }
            AuthSource::Secret(arn)
        }
        (None, Some(v)) => {
            if hyper::header::HeaderValue::from_str(&v).is_err() {
                return Err(ConfigError::Rejected {
                    var: "COLLECTOR_AUTH_VALUE",
                    reason: "not a valid HTTP header value (value not shown)".into(),
                });
            }
            AuthSource::Value(v)
        }
        (None, None) => AuthSource::None,
    };
    if let (CollectorFormat::SumoHttp(_), AuthSource::Secret(_) | AuthSource::Value(_)) =
        (&format, &auth)
    {
        return Err(ConfigError::Rejected {
            var: match auth {
                AuthSource::Secret(_) => "COLLECTOR_AUTH_SECRET_ARN",
                _ => "COLLECTOR_AUTH_VALUE",
            },
            reason: "sumo-http takes its credential in the source URL (COLLECTOR_URL or \
                     COLLECTOR_URL_SECRET_ARN), not in a header"
                .into(),
        });
    }
    let ca_file = env.string("COLLECTOR_CA_FILE");
    Ok(CollectorConfig {
        url,
        format,
        gzip: env.boolean("COLLECTOR_GZIP", false)?,
        max_batch_bytes: env.number("COLLECTOR_MAX_BATCH_BYTES", 1_048_576, 1024, 64 << 20)?
            as usize,
        max_batch_records: env.number("COLLECTOR_MAX_BATCH_RECORDS", 500, 1, 100_000)? as usize,
        auth_header,
        auth,
        ca_file,
        timeout: Duration::from_secs(env.number("COLLECTOR_TIMEOUT_SECONDS", 10, 1, 900)?),
    })
}

/// Shows scheme, host and path of a URL, never its query or user-info (which may hold a token).
pub fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = no_query.split_once("://") else {
        return no_query.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => no_query.to_string(),
    }
}

/// `OCSF_VERSION`: which OCSF release `OUTPUT_SCHEMA=ocsf` writes (1.1.0 by default).
fn ocsf_version(env: &Env<'_>) -> Result<OcsfVersion, ConfigError> {
    match env.string("OCSF_VERSION").as_deref() {
        None | Some("1.1.0") | Some("1.1") => Ok(OcsfVersion::V1_1_0),
        Some("1.8.0") | Some("1.8") => Ok(OcsfVersion::V1_8_0),
        Some(other) => Err(ConfigError::Invalid {
            var: "OCSF_VERSION",
            value: other.into(),
            reason: "expected 1.1.0 or 1.8.0".into(),
        }),
    }
}

fn validate_queue_url(url: &str) -> Result<(), ConfigError> {
    validate_queue_url_of("SQS_QUEUE_URL", url)
}

fn validate_queue_url_of(var: &'static str, url: &str) -> Result<(), ConfigError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.parse::<hyper::Uri>().ok().is_some_and(|u| {
            u.host().is_some() && u.path().trim_matches('/').split('/').count() == 2
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            value: url.into(),
            reason: "expected a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/findings".into(),
        })
    }
}

fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A set, non-blank value, trimmed.
    fn string(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.string(var)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn boolean(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    var,
                    value: v,
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    fn number(
        &self,
        var: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        match self.string(var) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError::Invalid {
                    var,
                    value: v,
                    reason: format!("expected a whole number from {min} to {max}"),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn rejected_var(vars: &[(&str, &str)]) -> &'static str {
        match parse(vars) {
            Err(ConfigError::Invalid { var, .. }) | Err(ConfigError::Rejected { var, .. }) => var,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let c = parse(&[]).unwrap();
        assert!(!c.log_records && c.sqs_queue_url.is_none() && c.collector.is_none());
        assert_eq!(c.min_severity, Severity::Info);
        assert_eq!(c.output_schema, OutputSchema::Native);
        let c = parse(&[("OUTPUT_SCHEMA", "ocsf")]).unwrap();
        assert_eq!(c.output_schema, OutputSchema::Ocsf(OcsfVersion::V1_1_0));
        let c = parse(&[("OUTPUT_SCHEMA", "ocsf"), ("OCSF_VERSION", "1.8.0")]).unwrap();
        assert_eq!(c.output_schema, OutputSchema::Ocsf(OcsfVersion::V1_8_0));
        assert_eq!(c.backfill.max_findings, 500);
        assert_eq!(c.backfill.lookback, Duration::from_secs(15 * 60));
        assert_eq!(c.backfill.settle, Duration::from_secs(300));
        assert_eq!(c.backfill.quarantine_after, 3);
        assert_eq!(c.backfill.dlq_url, None);
        assert_eq!(c.metrics_namespace, "GuardDutyForwarder");
        assert_eq!(c.require_destination(), Err(ConfigError::NoDestination));
    }

    #[test]
    fn each_bad_value_is_rejected_naming_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("LOG_RECORDS", "maybe")], "LOG_RECORDS"),
            (&[("MIN_SEVERITY", "severe")], "MIN_SEVERITY"),
            (&[("OUTPUT_SCHEMA", "ecs")], "OUTPUT_SCHEMA"),
            (
                &[("OUTPUT_SCHEMA", "ocsf"), ("OCSF_VERSION", "1.2.0")],
                "OCSF_VERSION",
            ),
            (&[("SQS_QUEUE_URL", "my-queue")], "SQS_QUEUE_URL"),
            (
                &[("SQS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/")],
                "SQS_QUEUE_URL",
            ),
            (
                &[("COLLECTOR_URL", "http://collector.example")],
                "COLLECTOR_URL",
            ),
            (
                &[("COLLECTOR_URL", "ftp://collector.example")],
                "COLLECTOR_URL",
            ),
            (&[("COLLECTOR_URL", "https://")], "COLLECTOR_URL"),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_FORMAT", "xml"),
                ],
                "COLLECTOR_FORMAT",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_GZIP", "on"),
                ],
                "COLLECTOR_GZIP",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_MAX_BATCH_BYTES", "10"),
                ],
                "COLLECTOR_MAX_BATCH_BYTES",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_MAX_BATCH_RECORDS", "0"),
                ],
                "COLLECTOR_MAX_BATCH_RECORDS",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_TIMEOUT_SECONDS", "-1"),
                ],
                "COLLECTOR_TIMEOUT_SECONDS",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_AUTH_HEADER", "bad header"),
                ],
                "COLLECTOR_AUTH_HEADER",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_AUTH_SECRET_ARN", "my-secret"),
                ],
                "COLLECTOR_AUTH_SECRET_ARN",
            ),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example"),
                    ("COLLECTOR_ALLOW_HTTP", "sure"),
                ],
                "COLLECTOR_ALLOW_HTTP",
            ),
            (
                &[("COLLECTOR_AUTH_VALUE", "Bearer x")],
                "COLLECTOR_AUTH_VALUE",
            ),
            (&[("COLLECTOR_CA_FILE", "/tmp/ca.pem")], "COLLECTOR_CA_FILE"),
            (
                &[("GUARDDUTY_REGIONS", "us-east-1,Mars")],
                "GUARDDUTY_REGIONS",
            ),
            (&[("DETECTOR_IDS", "abc,de-f")], "DETECTOR_IDS"),
            (
                &[("BACKFILL_MAX_FINDINGS", "lots")],
                "BACKFILL_MAX_FINDINGS",
            ),
            (
                &[("BACKFILL_LOOKBACK_MINUTES", "0")],
                "BACKFILL_LOOKBACK_MINUTES",
            ),
            (
                &[("BACKFILL_INCLUDE_ARCHIVED", "2")],
                "BACKFILL_INCLUDE_ARCHIVED",
            ),
            (&[("CHECKPOINT_PARAMETER", "a b")], "CHECKPOINT_PARAMETER"),
            (
                &[("BACKFILL_SETTLE_SECONDS", "900")],
                "BACKFILL_SETTLE_SECONDS",
            ),
            (
                &[("BACKFILL_SETTLE_SECONDS", "-1")],
                "BACKFILL_SETTLE_SECONDS",
            ),
            (
                &[("BACKFILL_QUARANTINE_AFTER", "0")],
                "BACKFILL_QUARANTINE_AFTER",
            ),
            (&[("DLQ_URL", "not a queue")], "DLQ_URL"),
            (&[("ASSUME_ROLE_ARN", "role/reader")], "ASSUME_ROLE_ARN"),
            (
                &[("ASSUME_ROLE_EXTERNAL_ID", "x")],
                "ASSUME_ROLE_EXTERNAL_ID",
            ),
            (&[("METRICS_NAMESPACE", ":bad")], "METRICS_NAMESPACE"),
            (
                &[
                    ("COLLECTOR_URL", "https://c.example/receiver/v1/http/x"),
                    ("COLLECTOR_FORMAT", "sumo-http"),
                    ("COLLECTOR_AUTH_VALUE", "token"),
                ],
                "COLLECTOR_AUTH_VALUE",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(rejected_var(vars), *var, "for {vars:?}");
        }
    }

    #[test]
    fn plain_http_is_accepted_only_when_explicitly_allowed() {
        let c = parse(&[
            ("COLLECTOR_URL", "http://127.0.0.1:9000/ingest"),
            ("COLLECTOR_ALLOW_HTTP", "true"),
        ])
        .unwrap();
        assert_eq!(c.collector.unwrap().url, "http://127.0.0.1:9000/ingest");
    }

    #[test]
    fn both_auth_sources_at_once_are_refused_without_showing_the_value() {
        let err = parse(&[
            ("COLLECTOR_URL", "https://c.example"),
            (
                "COLLECTOR_AUTH_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:x",
            ),
            ("COLLECTOR_AUTH_VALUE", "Bearer hunter2"),
        ])
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        let err = parse(&[
            ("COLLECTOR_URL", "https://c.example"),
            ("COLLECTOR_AUTH_VALUE", "Bearer hunter2\n"),
        ]);
        assert!(err.is_ok(), "trailing newline is trimmed");
    }

    #[test]
    fn a_collector_url_with_a_token_in_it_is_never_echoed() {
        let err = parse(&[(
            "COLLECTOR_URL",
            "http://user:hunter2@c.example/x?token=hunter2",
        )])
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("COLLECTOR_URL"));
    }

    #[test]
    fn the_auth_value_is_redacted_from_debug_output() {
        let c = parse(&[
            ("COLLECTOR_URL", "https://c.example"),
            ("COLLECTOR_AUTH_VALUE", "Bearer hunter2"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn lists_are_split_on_commas_and_trimmed() {
        let c = parse(&[
            ("GUARDDUTY_REGIONS", " us-east-1, eu-west-2 ,,"),
            ("DETECTOR_IDS", "abc123"),
            ("LOG_RECORDS", "TRUE"),
        ])
        .unwrap();
        assert_eq!(c.backfill.regions, ["us-east-1", "eu-west-2"]);
        assert_eq!(c.backfill.detector_ids, ["abc123"]);
        assert!(c.require_destination().is_ok());
    }
}
