//! Configuration: every environment variable the forwarder reads, parsed and validated once
//! at start-up. Each rejection names the variable (see the unit tests at the bottom).
//!
//! Invariants (checked by the unit and property tests below):
//! - A rejection of a variable that can hold a credential (the collector URL, the auth header
//!   name and value, the secret ARNs, the external id) names the variable and what is wrong,
//!   never its value: those rejections are [`ConfigError::Rejected`], which has no value field.
//! - `Debug` of every configuration struct shows no credential: they are held in
//!   [`Sensitive`], whose `Debug` prints `<redacted>` and which has no `Display`.
//! - Any environment gives a configuration or a named error, never a panic.

use std::time::Duration;

use crate::normalize::{OcsfVersion, OutputSchema, Severity};

pub mod account_context;
pub mod account_mapping;
mod collector_format;
mod destinations;
mod s3;
mod sentinel;
pub use collector_format::{
    CollectorFormat, DATADOG_DEFAULT_SOURCE, DatadogOptions, ElasticOptions, HecOptions,
    SumoOptions,
};
pub use destinations::{Destination, DestinationKind, parse_document};
pub use s3::{S3_ENTRY_KEYS, S3_VARIABLES, S3Destination, S3Keys};
pub use sentinel::{DEFAULT_AUTHORITY_HOST, SentinelOptions};

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
        "no destination configured: set DESTINATIONS, SQS_QUEUE_URL, COLLECTOR_URL, FIREHOSE_STREAM_NAME, S3_BUCKET or \
         LOG_RECORDS=true (the Lambda function would otherwise drop every finding)"
    )]
    NoDestination,
    /// A destination of a `DESTINATIONS` document. Never carries a credential's value.
    #[error("{source_var}: destination {name:?}, {field}: {reason}")]
    Destination {
        source_var: &'static str,
        name: String,
        field: String,
        reason: String,
    },
}

/// A setting that may hold a credential. `Debug` shows `<redacted>`; there is no `Display`,
/// so the value reaches a log line or an error only through an explicit [`Sensitive::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the HTTPS collector's auth header value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    None,
    /// A Secrets Manager secret ARN; the SecretString is the header value.
    Secret(Sensitive),
    /// A plain value (development).
    Value(Sensitive),
}

/// Where the HTTPS collector's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// `COLLECTOR_URL`, validated at start-up.
    Plain(Sensitive),
    /// `COLLECTOR_URL_SECRET_ARN`: the SecretString is the URL, validated when fetched.
    Secret(Sensitive),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    pub url: UrlSource,
    /// `COLLECTOR_ALLOW_HTTP`: plain http accepted (local testing only).
    pub allow_http: bool,
    pub format: CollectorFormat,
    pub gzip: bool,
    pub max_batch_bytes: usize,
    pub max_batch_records: usize,
    pub auth_header: String,
    pub auth: AuthSource,
    pub ca_file: Option<String>,
    pub timeout: Duration,
}

#[derive(Clone, PartialEq, Eq)]
pub struct BackfillConfig {
    /// Empty: the function's (or the SDK's default) region.
    pub regions: Vec<String>,
    /// `DETECTOR_IDS`, per region; a region it names none for: ListDetectors.
    pub detector_ids: DetectorIds,
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
    /// Where the backfill keeps its state (`STATE_TABLE`, `STATE_PREFIX`).
    pub state_table: Option<StateTable>,
    /// How far behind its checkpoint each run reads again for late listings
    /// (`BACKFILL_RESCAN_MINUTES`); zero: never.
    pub rescan: Duration,
    /// The EventBridge rule's numeric severity floor (`RULE_MIN_SEVERITY`, 0-10; 0: none):
    /// the backfill lists only findings at or above it, so both paths deliver the same set.
    pub rule_min_severity: u8,
    /// How far behind now a scheduled run may end before it fails its invocation, so the
    /// function's `Errors` alarm pages (`BACKFILL_MAX_LAG_SECONDS`; default: the settle margin
    /// plus three schedule intervals of `BACKFILL_INTERVAL_SECONDS`, 300 unless set). `None`
    /// (`0`): never.
    pub max_lag: Option<Duration>,
    /// `REDRIVE_MAX_PER_RUN`: dead-letter messages the scheduled run sends again at most
    /// (0: no automatic redrive).
    pub redrive_max: usize,
}

/// `DETECTOR_IDS`: bare ids apply to every region, `region:detector` pairs to their region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorIds {
    /// Bare ids, read in every region.
    pub everywhere: Vec<String>,
    /// `(region, detector)` pairs, read only in their region.
    pub in_region: Vec<(String, String)>,
}

impl DetectorIds {
    pub fn is_empty(&self) -> bool {
        self.everywhere.is_empty() && self.in_region.is_empty()
    }

    /// The detectors named for `region`, each once, in the order given; empty when none is
    /// named for it (the backfill then asks ListDetectors).
    pub fn for_region(&self, region: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let named = self.everywhere.iter().chain(
            self.in_region
                .iter()
                .filter(|(r, _)| r == region)
                .map(|(_, d)| d),
        );
        for d in named {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }
}

/// The DynamoDB table holding the backfill's state, and the key prefix within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTable {
    /// `STATE_TABLE`.
    pub table: String,
    /// `STATE_PREFIX` without slashes at either end; empty by default.
    pub prefix: String,
}

/// Redacts the external id. The exhaustive pattern makes a new field a compile error here,
/// so none is left out of (or leaks through) this impl unnoticed.
impl std::fmt::Debug for BackfillConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let BackfillConfig {
            regions,
            detector_ids,
            include_archived,
            max_findings,
            lookback,
            checkpoint_parameter,
            settle,
            quarantine_after,
            dlq_url,
            assume_role_arn,
            assume_role_external_id,
            state_table,
            rescan,
            rule_min_severity,
            max_lag,
            redrive_max,
        } = self;
        f.debug_struct("BackfillConfig")
            .field("regions", regions)
            .field("detector_ids", detector_ids)
            .field("include_archived", include_archived)
            .field("max_findings", max_findings)
            .field("lookback", lookback)
            .field("checkpoint_parameter", checkpoint_parameter)
            .field("settle", settle)
            .field("quarantine_after", quarantine_after)
            .field("dlq_url", dlq_url)
            .field("assume_role_arn", assume_role_arn)
            .field(
                "assume_role_external_id",
                &assume_role_external_id.as_ref().map(|_| "<redacted>"),
            )
            .field("state_table", state_table)
            .field("rescan", rescan)
            .field("rule_min_severity", rule_min_severity)
            .field("max_lag", max_lag)
            .field("redrive_max", redrive_max)
            .finish()
    }
}

/// `FIREHOSE_STREAM_NAME`: the stream's name, and the region its ARN names (if given one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseStream {
    pub name: String,
    pub region: Option<String>,
}

impl FirehoseStream {
    /// A stream name (1-64 of letters, digits, `_ . -`) or a delivery stream ARN
    /// (`arn:<partition>:firehose:<region>:<account>:deliverystream/<name>`).
    pub fn parse(value: &str) -> Result<FirehoseStream, &'static str> {
        let (name, region) = match value.strip_prefix("arn:") {
            Some(_) => {
                let parts: Vec<&str> = value.splitn(6, ':').collect();
                let [_, _, service, region, _, resource] = parts[..] else {
                    return Err("not a delivery stream ARN");
                };
                let Some(name) = resource.strip_prefix("deliverystream/") else {
                    return Err("not a delivery stream ARN (…:deliverystream/NAME)");
                };
                if service != "firehose" || region.is_empty() {
                    return Err("not a Firehose ARN with a region");
                }
                (name, Some(region.to_string()))
            }
            None => (value, None),
        };
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err("not a delivery stream name (1-64 letters, digits, _ . -)");
        }
        Ok(FirehoseStream {
            name: name.to_string(),
            region,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where records go: from `DESTINATIONS`, or the one-destination variables. Empty while
    /// [`Config::destinations_parameter`] is still to be read.
    pub destinations: Vec<Destination>,
    /// `DESTINATIONS_PARAMETER`: the SSM parameter holding the destinations document, read
    /// when the app is built.
    pub destinations_parameter: Option<String>,
    /// The variable the destinations came from as a document (`DESTINATIONS` or
    /// `DESTINATIONS_PARAMETER`); `None`: the one-destination variables.
    pub destinations_source: Option<&'static str>,
    pub min_severity: Severity,
    pub output_schema: OutputSchema,
    pub backfill: BackfillConfig,
    pub metrics_namespace: String,
    /// `METRICS_DETAIL`: the small default metric set, or also per trigger and destination.
    pub metrics_detail: crate::metrics::Detail,
    /// `ACCOUNT_CONTEXT` and its companions (docs/account-context.md).
    pub account_context: account_context::Settings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment in production, a table in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let (destinations, destinations_parameter) = destinations_of(&env)?;
        let destinations_source = if destinations_parameter.is_some() {
            Some("DESTINATIONS_PARAMETER")
        } else {
            env.string("DESTINATIONS").map(|_| "DESTINATIONS")
        };
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
        schema_fits(&destinations, output_schema)?;
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
        if let Some(id) = &assume_role_external_id {
            check_external_id(id)?;
            if assume_role_arn.is_none() {
                return Err(ConfigError::Rejected {
                    var: "ASSUME_ROLE_EXTERNAL_ID",
                    reason: "is set but ASSUME_ROLE_ARN is not".into(),
                });
            }
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
        let detector_ids = detector_ids(&env, &regions)?;
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
        let interval = env.number("BACKFILL_INTERVAL_SECONDS", 300, 60, 86_400)?;
        let max_lag = env.number(
            "BACKFILL_MAX_LAG_SECONDS",
            settle + 3 * interval,
            0,
            604_800,
        )?;
        let dlq_url = env.string("DLQ_URL");
        if let Some(url) = &dlq_url {
            validate_queue_url_of("DLQ_URL", url)?;
        }
        if let Some(p) = &checkpoint_parameter {
            check_parameter_name("CHECKPOINT_PARAMETER", p)?;
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
        let metrics_detail = match env.string("METRICS_DETAIL") {
            None => crate::metrics::Detail::Default,
            Some(v) => crate::metrics::Detail::parse(&v).ok_or_else(|| ConfigError::Invalid {
                var: "METRICS_DETAIL",
                value: v,
                reason: "expected default or detailed".into(),
            })?,
        };
        let account_context = account_context::Settings::from_lookup(&get)?;
        Ok(Config {
            destinations,
            destinations_parameter,
            destinations_source,
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
                state_table: state_table(&env)?,
                rescan: Duration::from_secs(
                    env.number("BACKFILL_RESCAN_MINUTES", 60, 0, 24 * 60)? * 60,
                ),
                rule_min_severity: env.number("RULE_MIN_SEVERITY", 0, 0, 10)? as u8,
                max_lag: (max_lag > 0).then(|| Duration::from_secs(max_lag)),
                redrive_max: env.number("REDRIVE_MAX_PER_RUN", 50, 0, 1000)? as usize,
            },
            metrics_namespace,
            metrics_detail,
            account_context,
        })
    }

    /// True when at least one destination besides the CLI's stdout default is set.
    pub fn has_destination(&self) -> bool {
        !self.destinations.is_empty() || self.destinations_parameter.is_some()
    }

    /// Whether a destination beyond stdout is configured (SQS, a collector, Firehose): what the CLI
    /// prints to a terminal is not a delivery that may move state (a checkpoint, a DLQ
    /// message).
    pub fn has_remote_destination(&self) -> bool {
        self.destinations_parameter.is_some()
            || self
                .destinations
                .iter()
                .any(|d| d.kind != DestinationKind::Log)
    }

    /// The first collector among the destinations (`COLLECTOR_URL` names the only one).
    pub fn collector(&self) -> Option<&CollectorConfig> {
        self.destinations.iter().find_map(|d| match &d.kind {
            DestinationKind::Https(c) => Some(&**c),
            _ => None,
        })
    }

    /// The first Firehose stream among the destinations.
    pub fn firehose(&self) -> Option<&FirehoseStream> {
        self.destinations.iter().find_map(|d| match &d.kind {
            DestinationKind::Firehose(f) => Some(f),
            _ => None,
        })
    }

    /// The first SQS queue among the destinations.
    pub fn sqs_queue_url(&self) -> Option<&str> {
        self.destinations.iter().find_map(|d| match &d.kind {
            DestinationKind::Sqs { queue_url } => Some(queue_url.as_str()),
            _ => None,
        })
    }

    /// Lambda mode, once the destinations are known: a document of more than one needs
    /// `DLQ_URL`, where what one destination could not take waits for it alone (the
    /// invocation then succeeds, so Lambda's retry never sends the others a finding twice).
    /// The one-destination variables keep working without it, as before: a finding one of
    /// them could not take fails the invocation.
    pub fn require_dead_letter_queue(&self) -> Result<(), ConfigError> {
        if self.destinations_source.is_some()
            && self.destinations.len() > 1
            && self.backfill.dlq_url.is_none()
        {
            return Err(ConfigError::Rejected {
                var: "DLQ_URL",
                reason: format!(
                    "is required with more than one destination ({} are configured): what one \
                     of them could not take is kept there for it alone",
                    self.destinations.len()
                ),
            });
        }
        Ok(())
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

/// Refuses a schema a destination cannot take: the `sentinel` preset's shipped table and
/// data collection rule declare the native record's columns, so OCSF records would be
/// dropped by the rule's transformation while counted delivered.
pub fn schema_fits(destinations: &[Destination], schema: OutputSchema) -> Result<(), ConfigError> {
    let sentinel = destinations.iter().any(|d| {
        matches!(&d.kind, DestinationKind::Https(c) if matches!(c.format, CollectorFormat::Sentinel(_)))
    });
    if sentinel && matches!(schema, OutputSchema::Ocsf(_)) {
        return Err(ConfigError::Rejected {
            var: "OUTPUT_SCHEMA",
            reason: "ocsf is refused with the sentinel preset: its table and data collection \
                     rule (deploy/sentinel/) take the native record; use native"
                .into(),
        });
    }
    Ok(())
}

/// The destinations: a `DESTINATIONS` document, the name of the SSM parameter holding one
/// (read later), or the one-destination variables.
fn destinations_of(env: &Env<'_>) -> Result<(Vec<Destination>, Option<String>), ConfigError> {
    match (
        env.string("DESTINATIONS"),
        env.string("DESTINATIONS_PARAMETER"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::Rejected {
            var: "DESTINATIONS_PARAMETER",
            reason: "set only one of DESTINATIONS and DESTINATIONS_PARAMETER".into(),
        }),
        (Some(doc), None) => {
            destinations::refuse_shorthand(env, "DESTINATIONS")?;
            Ok((parse_document(&doc, "DESTINATIONS")?, None))
        }
        (None, Some(name)) => {
            destinations::refuse_shorthand(env, "DESTINATIONS_PARAMETER")?;
            check_parameter_name("DESTINATIONS_PARAMETER", &name)?;
            Ok((Vec::new(), Some(name)))
        }
        (None, None) => Ok((destinations::from_variables(env)?, None)),
    }
}

/// An SSM parameter name (or ARN): up to 2048 characters without spaces.
fn check_parameter_name(var: &'static str, p: &str) -> Result<(), ConfigError> {
    if p.len() > 2048 || p.chars().any(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            var,
            value: p.to_string(),
            reason: "not an SSM parameter name".into(),
        });
    }
    Ok(())
}

/// `DETECTOR_IDS`: comma-separated bare ids and `region:detector` pairs. A pair's region must
/// be one of `GUARDDUTY_REGIONS` when that is set (else the pair could never apply).
fn detector_ids(env: &Env<'_>, regions: &[String]) -> Result<DetectorIds, ConfigError> {
    let mut ids = DetectorIds::default();
    for entry in env.list("DETECTOR_IDS") {
        let invalid = |reason: &str| ConfigError::Invalid {
            var: "DETECTOR_IDS",
            value: entry.clone(),
            reason: reason.into(),
        };
        let (region, detector) = match entry.split_once(':') {
            Some((r, d)) => (Some(r.trim()), d.trim()),
            None => (None, entry.as_str()),
        };
        if detector.is_empty()
            || detector.len() > 300
            || !detector.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(invalid(
                "expected a detector id (1-300 letters and digits) or region:detector",
            ));
        }
        match region {
            None => ids.everywhere.push(detector.to_string()),
            Some(r) if !is_region_name(r) => {
                return Err(invalid(
                    "not a region name before the colon (e.g. us-east-1:abc123)",
                ));
            }
            Some(r) if !regions.is_empty() && !regions.iter().any(|g| g == r) => {
                return Err(invalid("names a region that is not in GUARDDUTY_REGIONS"));
            }
            Some(r) => ids.in_region.push((r.to_string(), detector.to_string())),
        }
    }
    Ok(ids)
}

/// `STATE_TABLE` (a DynamoDB table name) and `STATE_PREFIX` (refused without a table).
fn state_table(env: &Env<'_>) -> Result<Option<StateTable>, ConfigError> {
    let prefix = env.string("STATE_PREFIX");
    if let Some(p) = &prefix
        && (p.len() > 1024 || p.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ConfigError::Invalid {
            var: "STATE_PREFIX",
            value: p.clone(),
            reason: "expected up to 1024 characters without spaces (e.g. /guardduty-forwarder)"
                .into(),
        });
    }
    let Some(table) = env.string("STATE_TABLE") else {
        return match prefix {
            Some(_) => Err(ConfigError::Rejected {
                var: "STATE_PREFIX",
                reason: "is set but STATE_TABLE is not".into(),
            }),
            None => Ok(None),
        };
    };
    let valid = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(ConfigError::Invalid {
            var: "STATE_TABLE",
            value: table,
            reason: "not a DynamoDB table name (3-255 letters, digits, _ . -)".into(),
        });
    }
    Ok(Some(StateTable {
        table,
        prefix: prefix.unwrap_or_default().trim_matches('/').to_string(),
    }))
}

/// The collector, from `COLLECTOR_URL` or `COLLECTOR_URL_SECRET_ARN` (not both); the
/// collector's other variables are refused when neither is set.
fn collector_from_env(env: &Env<'_>) -> Result<Option<CollectorConfig>, ConfigError> {
    let collector = match (
        env.string("COLLECTOR_URL"),
        env.string("COLLECTOR_URL_SECRET_ARN"),
    ) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ConfigError::Rejected {
                var: "COLLECTOR_URL_SECRET_ARN",
                reason: "set only one of COLLECTOR_URL and COLLECTOR_URL_SECRET_ARN".into(),
            });
        }
        (Some(url), None) => {
            let allow_http = env.boolean("COLLECTOR_ALLOW_HTTP", false)?;
            check_collector_url(&url, allow_http).map_err(|reason| ConfigError::Rejected {
                var: "COLLECTOR_URL",
                reason: reason.to_string(),
            })?;
            Some(collector_config(env, UrlSource::Plain(Sensitive(url)))?)
        }
        (None, Some(arn)) => {
            check_secret_arn("COLLECTOR_URL_SECRET_ARN", &arn)?;
            Some(collector_config(env, UrlSource::Secret(Sensitive(arn)))?)
        }
    };
    if collector.is_none()
        && let Some(var) = stray_collector_setting(env)
    {
        return Err(ConfigError::Rejected {
            var,
            reason: "is set but neither COLLECTOR_URL nor COLLECTOR_URL_SECRET_ARN is: without \
                     a collector it would be ignored and the records would go elsewhere"
                .into(),
        });
    }
    Ok(collector)
}

/// What a collector setting counts as when no collector is configured.
enum Unset {
    /// Any value is a mistake (credentials, the CA file, a preset's option).
    Any,
    /// Its default (what the template passes for every stack) is fine; any other value is not.
    Text(&'static str),
    Flag(bool),
    Number(u64),
}

/// Every collector setting but the URL. Without a collector each would be silently ignored,
/// so a value other than its default is refused, naming the variable.
const COLLECTOR_SETTINGS: &[(&str, Unset)] = &[
    ("COLLECTOR_FORMAT", Unset::Text("ndjson")),
    ("COLLECTOR_AUTH_SECRET_ARN", Unset::Any),
    ("COLLECTOR_AUTH_VALUE", Unset::Any),
    ("COLLECTOR_AUTH_HEADER", Unset::Any),
    ("COLLECTOR_CA_FILE", Unset::Any),
    ("COLLECTOR_GZIP", Unset::Flag(false)),
    ("COLLECTOR_ALLOW_HTTP", Unset::Flag(false)),
    ("COLLECTOR_MAX_BATCH_BYTES", Unset::Number(1_048_576)),
    ("COLLECTOR_MAX_BATCH_RECORDS", Unset::Number(500)),
    ("COLLECTOR_TIMEOUT_SECONDS", Unset::Number(10)),
    ("COLLECTOR_HEC_ACK", Unset::Flag(false)),
];

/// The first collector setting given a value that only a collector would use.
fn stray_collector_setting(env: &Env<'_>) -> Option<&'static str> {
    let is_stray = |var: &str, unset: &Unset| {
        let Some(value) = env.string(var) else {
            return false;
        };
        match unset {
            Unset::Any => true,
            Unset::Text(default) => !value.eq_ignore_ascii_case(default),
            Unset::Flag(default) => parse_flag(&value) != Some(*default),
            Unset::Number(default) => value.parse::<u64>().ok() != Some(*default),
        }
    };
    COLLECTOR_SETTINGS
        .iter()
        .find(|(var, unset)| is_stray(var, unset))
        .map(|(var, _)| *var)
        .or_else(|| {
            collector_format::OPTION_VARS
                .iter()
                .map(|(var, _)| *var)
                .filter(|var| !COLLECTOR_SETTINGS.iter().any(|(v, _)| v == var))
                .find(|var| env.string(var).is_some())
        })
}

fn collector_config(env: &Env<'_>, url: UrlSource) -> Result<CollectorConfig, ConfigError> {
    let allow_http = env.boolean("COLLECTOR_ALLOW_HTTP", false)?;
    let format = collector_format::parse(env)?;
    let auth_header = env
        .string("COLLECTOR_AUTH_HEADER")
        .unwrap_or_else(|| "Authorization".into());
    check_auth_header(&auth_header)?;
    let auth = auth_source(env)?;
    collector_format::check_credential(&format, &auth)?;
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
        allow_http,
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

fn auth_source(env: &Env<'_>) -> Result<AuthSource, ConfigError> {
    match (
        env.string("COLLECTOR_AUTH_SECRET_ARN"),
        env.string("COLLECTOR_AUTH_VALUE"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::Rejected {
            var: "COLLECTOR_AUTH_VALUE",
            reason: "set only one of COLLECTOR_AUTH_SECRET_ARN and COLLECTOR_AUTH_VALUE".into(),
        }),
        (Some(arn), None) => {
            check_secret_arn("COLLECTOR_AUTH_SECRET_ARN", &arn)?;
            Ok(AuthSource::Secret(Sensitive(arn)))
        }
        (None, Some(v)) => {
            if hyper::header::HeaderValue::from_str(&v).is_err() {
                return Err(ConfigError::Rejected {
                    var: "COLLECTOR_AUTH_VALUE",
                    reason: "not a valid HTTP header value (a control character or a line \
                             break in it; value not shown)"
                        .into(),
                });
            }
            Ok(AuthSource::Value(Sensitive(v)))
        }
        (None, None) => Ok(AuthSource::None),
    }
}

/// What is wrong with a collector URL, in words that do not quote it. Used at start-up for `COLLECTOR_URL` and when `COLLECTOR_URL_SECRET_ARN` is read.
pub fn check_collector_url(url: &str, allow_http: bool) -> Result<(), &'static str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") {
        if !allow_http {
            return Err(
                "plain http is refused; use https (or COLLECTOR_ALLOW_HTTP=true for local testing)",
            );
        }
    } else if !lower.starts_with("https://") {
        return Err("expected an https:// URL (value not shown)");
    }
    match url.parse::<hyper::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err("not a valid URL (value not shown)"),
    }
}

/// `COLLECTOR_AUTH_HEADER` holds a header name; the common mistake is the whole header.
fn check_auth_header(name: &str) -> Result<(), ConfigError> {
    let reason = if name.contains(':') {
        "looks like a whole header (name: value): put only the header name in \
         COLLECTOR_AUTH_HEADER and the value in the secret named by COLLECTOR_AUTH_SECRET_ARN \
         (or COLLECTOR_AUTH_VALUE); value not shown"
    } else if name.contains(char::is_whitespace) {
        "looks like a header value, not a header name: put only the header name (e.g. \
         Authorization) in COLLECTOR_AUTH_HEADER and the value in the secret named by \
         COLLECTOR_AUTH_SECRET_ARN; value not shown"
    } else if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        "not a valid HTTP header name (letters, digits and -; value not shown)"
    } else {
        return Ok(());
    };
    Err(ConfigError::Rejected {
        var: "COLLECTOR_AUTH_HEADER",
        reason: reason.into(),
    })
}

/// A Secrets Manager secret ARN: `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`.
/// The common mistake is the secret itself pasted in its place.
fn check_secret_arn(var: &'static str, arn: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let well_formed = matches!(
        parts.as_slice(),
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if !partition.is_empty()
                && is_region_name(region)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty()
                && !name.contains(char::is_whitespace)
    );
    if well_formed {
        return Ok(());
    }
    let reason = if arn.starts_with("arn:") {
        "not a Secrets Manager secret ARN (expected \
         arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME; value not shown)"
    } else {
        "looks like a secret itself, not the ARN of a secret: store the value in Secrets \
         Manager and put the secret's ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) \
         here; value not shown"
    };
    Err(ConfigError::Rejected {
        var,
        reason: reason.into(),
    })
}

/// STS accepts 2-1224 characters of `[\w+=,.@:/-]` as an external id.
fn check_external_id(id: &str) -> Result<(), ConfigError> {
    let ok = (2..=1224).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Rejected {
            var: "ASSUME_ROLE_EXTERNAL_ID",
            reason: "expected 2 to 1224 letters, digits or _+=,.@:/- (value not shown)".into(),
        })
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

/// `true`/`1`/`yes` or `false`/`0`/`no`, in any case.
fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
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
            Some(v) => parse_flag(&v).ok_or_else(|| ConfigError::Invalid {
                var,
                value: v,
                reason: "expected true or false".into(),
            }),
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
mod tests;
