//! `guardduty-forwarder check`: is this deployment able to work? Configuration, credentials,
//! GuardDuty per region, the queue, the collector, the checkpoint parameter: one line each,
//! ✔ or ✘ with the reason. Exit code 0 only when every check passes.

use std::sync::Arc;

use aws_sdk_sts::error::DisplayErrorContext;
use serde::Serialize;

use crate::app::App;
use crate::sink::https::HttpsSink;
use crate::sink::sqs::SqsSink;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

fn pass(check: impl Into<String>, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        check: check.into(),
        ok: true,
        detail: detail.into(),
    }
}

fn fail(check: impl Into<String>, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        check: check.into(),
        ok: false,
        detail: detail.into(),
    }
}

/// The line printed for one result.
pub fn line(r: &CheckResult) -> String {
    format!("{} {}: {}", if r.ok { "✔" } else { "✘" }, r.check, r.detail)
}

/// Runs every check that applies to the configuration.
pub async fn run(app: &App) -> Vec<CheckResult> {
    let mut results = vec![pass("configuration", describe(app))];
    let config = app.aws.config().await;

    // Credentials and who they belong to.
    let sts = aws_sdk_sts::Client::new(config);
    match sts.get_caller_identity().send().await {
        Ok(id) => results.push(pass(
            "credentials",
            format!(
                "{} (account {})",
                id.arn().unwrap_or("?"),
                id.account().unwrap_or("?")
            ),
        )),
        Err(e) => results.push(fail(
            "credentials",
            format!("GetCallerIdentity failed: {}", DisplayErrorContext(&e)),
        )),
    }

    // GuardDuty in every region the backfill reads.
    let regions: Vec<String> = if app.config.backfill.regions.is_empty() {
        config
            .region()
            .map(|r| vec![r.to_string()])
            .unwrap_or_default()
    } else {
        app.config.backfill.regions.clone()
    };
    if regions.is_empty() {
        results.push(fail(
            "guardduty",
            "no region: set GUARDDUTY_REGIONS or AWS_REGION",
        ));
    }
    let reader = &app.reader;
    for region in regions {
        let name = format!("guardduty {region}");
        let client = reader.client(&region).await;
        let mut count = 0usize;
        let mut error = None;
        let mut pages = client.list_detectors().into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => count += p.detector_ids().len(),
                Err(e) => {
                    error = Some(format!("ListDetectors failed: {}", DisplayErrorContext(&e)));
                    break;
                }
            }
        }
        results.push(match (error, count) {
            (Some(e), _) => fail(name, e),
            (None, 0) => fail(
                name,
                format!("GuardDuty is not enabled in {region} (no detector)"),
            ),
            (None, n) => pass(name, format!("{n} detector(s)")),
        });
    }

    if let Some(url) = &app.config.sqs_queue_url {
        let sink = SqsSink::new(app.aws.clone(), url.clone());
        results.push(match sink.probe().await {
            Ok(max) => pass(
                "sqs",
                format!("{url}: reachable, messages up to {max} bytes"),
            ),
            Err(e) => fail("sqs", e.to_string()),
        });
    }

    if let Some(collector) = &app.config.collector {
        results.push(check_collector(app, collector).await);
    }

    if let Some(prefix) = &app.config.backfill.checkpoint_parameter {
        results.push(check_checkpoint(app, prefix).await);
    }
    results
}

/// The collector's probes, as its product documents them, in one line: TLS and each step.
/// Its URL is shown as scheme, host and port only.
async fn check_collector(app: &App, collector: &crate::config::CollectorConfig) -> CheckResult {
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

/// The configuration line: what the records are and where they go, and whose credentials
/// the checks after it use (this machine's, which may differ from the function's role).
fn describe(app: &App) -> String {
    let config = &app.config;
    let destinations: Vec<String> = app
        .forwarder
        .sink_names()
        .into_iter()
        .map(|name| match (&config.collector, name) {
            (Some(c), "https") => format!("https ({})", c.format.name()),
            _ => name.to_string(),
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
    format!(
        "destinations: {destinations}; records: {schema}, from severity {}; the checks below \
         use this machine's AWS credentials, not the function's role",
        config.min_severity.as_str()
    )
}

async fn check_checkpoint(app: &App, prefix: &str) -> CheckResult {
    let name = format!("{}/check", prefix.trim_end_matches('/'));
    let ssm = app.reader.ssm().await;
    let value = crate::clock::now_rfc3339();
    let write = ssm
        .put_parameter()
        .name(&name)
        .value(&value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await;
    if let Err(e) = write {
        return fail(
            "checkpoint",
            format!("{name}: PutParameter failed: {}", DisplayErrorContext(&e)),
        );
    }
    match ssm.get_parameter().name(&name).send().await {
        Ok(out) if out.parameter().and_then(|p| p.value()) == Some(value.as_str()) => {
            pass("checkpoint", format!("{prefix}: readable and writable"))
        }
        Ok(_) => fail("checkpoint", format!("{name}: read back a different value")),
        Err(e) => fail(
            "checkpoint",
            format!("{name}: GetParameter failed: {}", DisplayErrorContext(&e)),
        ),
    }
}
