//! `guardduty-forwarder check`: is this deployment able to work? Configuration, credentials,
//! GuardDuty per region (and which GuardDuty organization model it sees there), the queue,
//! the collector, the checkpoint parameter: one line each, ✔ or ✘ with the reason, and whose
//! credentials and network the probe ran with ([`RunsWith`]: always this machine's, never the
//! function's role). Exit code 0 only when every check passes; a setting that would forward
//! findings twice is a warning on its ✔ line, not a failure. `check --function` runs the same
//! checks on a deployed function's settings ([`deployed`]).

use std::sync::Arc;

use serde::Serialize;

use crate::app::App;
use crate::aws_error::explain;
use crate::budget::budget;
use crate::config::{Destination, DestinationKind};
use crate::retry::Deadline;
use crate::sink::firehose::FirehoseSink;
use crate::sink::https::HttpsSink;
use crate::sink::sqs::SqsSink;

pub mod deployed;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    pub runs_with: RunsWith,
}

/// Whose credentials and network a check ran with. `check` runs on the operator's machine:
/// a ✔ proves what the operator may reach and do, not what the function's role may.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum RunsWith {
    /// Read from the settings alone: nothing was called.
    #[serde(rename = "settings")]
    Settings,
    /// An AWS call made with the operator's credentials.
    #[serde(rename = "operator credentials")]
    Operator,
    /// A connection from the operator's network (the collector), with secrets read with the
    /// operator's credentials.
    #[serde(rename = "operator credentials and network")]
    OperatorNetwork,
}

impl RunsWith {
    /// The mark at the end of a check's line.
    fn mark(self) -> &'static str {
        match self {
            RunsWith::Settings => "",
            RunsWith::Operator => " [operator credentials]",
            RunsWith::OperatorNetwork => " [operator credentials and network]",
        }
    }
}

impl CheckResult {
    fn runs_with(mut self, runs_with: RunsWith) -> Self {
        self.runs_with = runs_with;
        self
    }
}

/// A passed AWS check (made with the operator's credentials).
fn pass(check: impl Into<String>, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        check: check.into(),
        ok: true,
        detail: detail.into(),
        runs_with: RunsWith::Operator,
    }
}

/// A failed AWS check (made with the operator's credentials).
fn fail(check: impl Into<String>, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        check: check.into(),
        ok: false,
        detail: detail.into(),
        runs_with: RunsWith::Operator,
    }
}

/// A failed `configuration` check: the settings themselves are refused (nothing was called).
pub fn bad_configuration(detail: impl Into<String>) -> CheckResult {
    fail("configuration", detail).runs_with(RunsWith::Settings)
}

/// The line printed for one result, ending with whose credentials it ran with.
pub fn line(r: &CheckResult) -> String {
    format!(
        "{} {}: {}{}",
        if r.ok { "✔" } else { "✘" },
        r.check,
        r.detail,
        r.runs_with.mark()
    )
}

/// Runs every check that applies to the configuration. Every AWS call is bounded
/// (`crate::budget`) and a failure reads as one line (`crate::aws_error`); when there is no
/// region or no usable credential, the AWS checks after it are not tried (each would fail
/// the same way).
pub async fn run(app: &App) -> Vec<CheckResult> {
    run_from(app, describe(app, None)).await
}

/// [`run`], with `configuration` as the first line's detail.
async fn run_from(app: &App, configuration: String) -> Vec<CheckResult> {
    let mut results = vec![pass("configuration", configuration).runs_with(RunsWith::Settings)];
    let config = app.aws.config().await;
    let regions: Vec<String> = if app.config.backfill.regions.is_empty() {
        config
            .region()
            .map(|r| vec![r.to_string()])
            .unwrap_or_default()
    } else {
        app.config.backfill.regions.clone()
    };
    let aws_ok = if config.region().is_none() && regions.is_empty() {
        results.push(
            fail(
                "region",
                "no AWS region: set AWS_REGION (or GUARDDUTY_REGIONS, or a region in ~/.aws/config)",
            )
            .runs_with(RunsWith::Settings),
        );
        false
    } else {
        let credentials = check_credentials(config).await;
        let ok = credentials.ok;
        results.push(credentials);
        ok
    };
    if aws_ok {
        for region in regions {
            results.extend(check_guardduty(app, &region).await);
        }
    }
    for d in &app.config.destinations {
        results.push(check_destination(app, d, aws_ok).await);
    }

    if let Some(table) = &app.config.backfill.state_table {
        results.push(if aws_ok {
            check_state_table(app, table).await
        } else {
            fail("state", NOT_TRIED)
        });
    } else if let Some(prefix) = &app.config.backfill.checkpoint_parameter {
        results.push(if aws_ok {
            check_checkpoint(app, prefix).await
        } else {
            fail("checkpoint", NOT_TRIED)
        });
    }
    results
}

const NOT_TRIED: &str = "not tried: fix the AWS region or credentials first (see above)";

/// The credentials and who they belong to.
async fn check_credentials(config: &aws_config::SdkConfig) -> CheckResult {
    let sts = aws_sdk_sts::Client::new(config);
    let Ok(budget) = budget(Deadline::none()) else {
        return fail("credentials", "no time left");
    };
    match sts
        .get_caller_identity()
        .customize()
        .config_override(budget.sts())
        .send()
        .await
    {
        Ok(id) => pass(
            "credentials",
            format!(
                "{} (account {})",
                id.arn().unwrap_or("?"),
                id.account().unwrap_or("?")
            ),
        ),
        Err(e) => fail("credentials", explain("sts:GetCallerIdentity", None, &e)),
    }
}

/// GuardDuty in one region the backfill reads: its detectors (every page), then the
/// organization model the first one is in.
async fn check_guardduty(app: &App, region: &str) -> Vec<CheckResult> {
    let name = format!("guardduty {region}");
    let client = app.reader.client(region).await;
    let mut count = 0usize;
    let mut first: Option<String> = None;
    let mut next: Option<String> = None;
    loop {
        let Ok(budget) = budget(Deadline::none()) else {
            return vec![fail(name, "no time left")];
        };
        let page = client
            .list_detectors()
            .set_next_token(next.take())
            .customize()
            .config_override(budget.guardduty())
            .send()
            .await;
        match page {
            Ok(p) => {
                count += p.detector_ids().len();
                first = first.or_else(|| p.detector_ids().first().cloned());
                next = p.next_token().filter(|t| !t.is_empty()).map(String::from);
                if next.is_none() {
                    break;
                }
            }
            Err(e) => {
                return vec![fail(
                    name,
                    explain("guardduty:ListDetectors", Some(region), &e),
                )];
            }
        }
    }
    let mut out = vec![match count {
        0 => fail(
            name,
            format!("GuardDuty is not enabled in {region} (no detector)"),
        ),
        n => pass(name, format!("{n} detector(s)")),
    }];
    if let Some(detector) = first {
        out.push(check_topology(&client, region, &detector, &app.config.backfill).await);
    }
    out
}

/// The GuardDuty organization model this detector is in (administrator with N members,
/// member of an administrator, standalone), and the settings that would forward a finding
/// through more than one stack in it (docs/org-wide.md).
async fn check_topology(
    client: &aws_sdk_guardduty::Client,
    region: &str,
    detector: &str,
    backfill: &crate::config::BackfillConfig,
) -> CheckResult {
    let name = format!("guardduty {region} topology");
    let Ok(b) = budget(Deadline::none()) else {
        return fail(name, "no time left");
    };
    let admin = match client
        .get_administrator_account()
        .detector_id(detector)
        .customize()
        .config_override(b.guardduty())
        .send()
        .await
    {
        Ok(out) => out
            .administrator()
            .and_then(|a| a.account_id())
            .map(str::to_string),
        Err(e) => {
            return pass(
                name,
                cannot_tell(&explain(
                    "guardduty:GetAdministratorAccount",
                    Some(region),
                    &e,
                )),
            );
        }
    };
    let mut members = 0usize;
    let mut pages = client
        .list_members()
        .detector_id(detector)
        .only_associated("true")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => members += p.members().len(),
            Err(e) => {
                return pass(
                    name,
                    cannot_tell(&explain("guardduty:ListMembers", Some(region), &e)),
                );
            }
        }
    }
    let mut detail = match (&admin, members) {
        (_, n) if n > 0 => format!(
            "administrator of {n} member account(s): this stack forwards their findings; \
             a forwarder in a member account would forward them again"
        ),
        (Some(a), _) => format!(
            "member of the GuardDuty administrator {a}: a forwarder there already forwards \
             this account's findings"
        ),
        (None, _) => "standalone (no GuardDuty administrator, no members)".to_string(),
    };
    if backfill.assume_role_arn.is_some() && members > 0 {
        detail.push_str(
            "; warning: ASSUME_ROLE_ARN reads the administrator, so every stack with this \
             setting forwards the whole organization: keep it to one stack per region",
        );
    }
    if !backfill.regions.is_empty() {
        detail.push_str(
            "; warning: GUARDDUTY_REGIONS is the same for every stack of a stack set, so each \
             stack reads those regions: org-wide leave it empty (each stack reads its own region)",
        );
    }
    pass(name, detail)
}

fn cannot_tell(why: &str) -> String {
    format!("cannot tell the organization model ({why})")
}

/// The collector's probes, as its product documents them, in one line: TLS and each step.
/// Its URL is shown as scheme, host and port only.
/// One destination's probe, named after the destination when the document named it, with
/// the findings its filter lets through.
async fn check_destination(app: &App, d: &Destination, aws_ok: bool) -> CheckResult {
    let mut result = match &d.kind {
        DestinationKind::Log => pass("log", "records are written to stdout (the log stream)"),
        DestinationKind::Sqs { queue_url } if aws_ok => {
            let sink = SqsSink::new(app.aws.clone(), queue_url.clone());
            match sink.probe().await {
                Ok(max) => pass(
                    "sqs",
                    format!("{queue_url}: reachable, messages up to {max} bytes"),
                ),
                Err(e) => fail("sqs", e.to_string()),
            }
        }
        DestinationKind::Sqs { .. } => fail("sqs", NOT_TRIED),
        DestinationKind::Firehose(stream) if aws_ok => check_firehose(app, stream).await,
        DestinationKind::Firehose(_) => fail("firehose", NOT_TRIED),
        DestinationKind::Https(collector) => check_collector(app, collector).await,
        DestinationKind::S3(s3) if aws_ok => {
            let sink = crate::sink::s3::S3Sink::new(app.aws.clone(), s3.clone());
            match sink.probe().await {
                Ok(detail) => pass("s3", detail),
                Err(e) => fail("s3", e.to_string()),
            }
        }
        DestinationKind::S3(_) => fail("s3", NOT_TRIED),
    };
    if d.name != d.kind.type_name() {
        result.check = format!("{} {}", result.check, d.name);
    }
    if !d.filter.is_open() {
        result.detail = format!("{} [receives: {}]", result.detail, d.filter.describe());
    }
    result
}

async fn check_collector(app: &App, collector: &crate::config::CollectorConfig) -> CheckResult {
    collector_probe(app, collector)
        .await
        .runs_with(RunsWith::OperatorNetwork)
}

async fn collector_probe(app: &App, collector: &crate::config::CollectorConfig) -> CheckResult {
    let format = collector.format.name();
    let sink = match HttpsSink::new(collector.clone(), Arc::clone(&app.aws)) {
        Err(e) => return fail("collector", e.to_string()),
        Ok(sink) => sink,
    };
    let outcomes = sink.probe().await;
    let shown = sink.shown_url().await;
    let mut steps = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(detail) => steps.push(format!("{}: {detail}", o.label)),
            Err(why) => {
                return fail(
                    "collector",
                    format!("{shown} ({format}): {} failed: {why}", o.label),
                );
            }
        }
    }
    pass(
        "collector",
        format!("{shown} ({format}): TLS verified, {}", steps.join("; ")),
    )
}

/// The configuration line: whose settings (this shell's, or the function's named in
/// `function`), what the records are and where they go, and whose credentials the checks
/// after it use (this machine's, which may differ from the function's role).
fn describe(app: &App, function: Option<&str>) -> String {
    let config = &app.config;
    let destinations: Vec<String> = app
        .forwarder
        .routes()
        .iter()
        .map(|r| {
            let Some(d) = config.destinations.iter().find(|d| *d.name == *r.name) else {
                return r.name.to_string();
            };
            let kind = match &d.kind {
                DestinationKind::Https(c) => format!("https ({})", c.format.name()),
                other => other.type_name().to_string(),
            };
            if d.name == d.kind.type_name() {
                kind
            } else {
                format!("{} = {kind}", d.name)
            }
        })
        .collect();
    let destinations = if destinations.is_empty() {
        "no destination".to_string()
    } else {
        destinations.join(", ")
    };
    let schema = match config.output_schema {
        crate::normalize::OutputSchema::Native => "native".to_string(),
        crate::normalize::OutputSchema::Ocsf(v) => format!("ocsf {}", v.as_str()),
    };
    let whose = match function {
        Some(f) => format!("the settings of {f} (variables in this shell are not read); "),
        None => String::new(),
    };
    format!(
        "{whose}destinations: {destinations}; records: {schema}, from severity {}; the checks \
         below use this machine's AWS credentials, not the function's role",
        config.min_severity.as_str()
    )
}

/// The backfill's state table (`STATE_TABLE`): read, the way each run opens its state. Read
/// only: `check` leaves no item behind, and a function role needs nothing more to pass.
async fn check_state_table(app: &App, table: &crate::config::StateTable) -> CheckResult {
    let store = crate::backfill::state::Store {
        client: app.reader.dynamodb().await,
        table: &table.table,
        prefix: &table.prefix,
    };
    let key = store.key("check", "check");
    let Ok(budget) = budget(Deadline::none()) else {
        return fail("state", "no time left");
    };
    match store
        .client
        .get_item()
        .table_name(&table.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(key))
        .customize()
        .config_override(budget.dynamodb())
        .send()
        .await
    {
        Ok(_) => pass("state", format!("table {} readable", table.table)),
        Err(e) => fail("state", explain("dynamodb:GetItem", Some(&table.table), &e)),
    }
}

async fn check_checkpoint(app: &App, prefix: &str) -> CheckResult {
    let name = format!("{}/check", prefix.trim_end_matches('/'));
    let ssm = app.reader.ssm().await;
    let value = crate::clock::now_rfc3339();
    let Ok(budget) = budget(Deadline::none()) else {
        return fail("checkpoint", "no time left");
    };
    let write = ssm
        .put_parameter()
        .name(&name)
        .value(&value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .customize()
        .config_override(budget.ssm())
        .send()
        .await;
    if let Err(e) = write {
        return fail("checkpoint", explain("ssm:PutParameter", Some(&name), &e));
    }
    match ssm
        .get_parameter()
        .name(&name)
        .customize()
        .config_override(budget.ssm())
        .send()
        .await
    {
        Ok(out) if out.parameter().and_then(|p| p.value()) == Some(value.as_str()) => {
            pass("checkpoint", format!("{prefix}: readable and writable"))
        }
        Ok(_) => fail("checkpoint", format!("{name}: read back a different value")),
        Err(e) => fail("checkpoint", explain("ssm:GetParameter", Some(&name), &e)),
    }
}

/// The Firehose stream exists and is active (DescribeDeliveryStream, with the caller's
/// credentials; the function's role holds only PutRecordBatch).
async fn check_firehose(app: &App, stream: &crate::config::FirehoseStream) -> CheckResult {
    let sink = FirehoseSink::new(app.aws.clone(), stream.clone());
    match sink.probe().await {
        Ok(status) if status == "ACTIVE" => pass("firehose", format!("{}: active", stream.name)),
        Ok(status) => fail(
            "firehose",
            format!(
                "{}: status {status}, not ACTIVE: it takes no records",
                stream.name
            ),
        ),
        Err(e) => fail("firehose", e.to_string()),
    }
}
