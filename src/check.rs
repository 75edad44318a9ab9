//! `guardduty-forwarder check`: is this deployment able to work? Configuration, credentials,
//! GuardDuty per region (and which GuardDuty organization model it sees there), the queue,
//! the collector, the checkpoint parameter: one line each, ✔ or ✘ with the reason. Exit code
//! 0 only when every check passes; a setting that would forward findings twice is a warning
//! on its ✔ line, not a failure.

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
        let mut first = None;
        let mut error = None;
        let mut pages = client.list_detectors().into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => {
                    count += p.detector_ids().len();
                    first = first.or_else(|| p.detector_ids().first().cloned());
                }
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
        if let Some(detector) = first {
            results.push(check_topology(&client, &region, &detector, &app.config.backfill).await);
        }
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
    let admin = match client
        .get_administrator_account()
        .detector_id(detector)
        .send()
        .await
    {
        Ok(out) => out
            .administrator()
            .and_then(|a| a.account_id())
            .map(str::to_string),
        Err(e) => return pass(name, cannot_tell("GetAdministratorAccount", &e)),
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
            Err(e) => return pass(name, cannot_tell("ListMembers", &e)),
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

fn cannot_tell(call: &str, e: &impl std::error::Error) -> String {
    format!(
        "cannot tell the organization model ({call} failed: {})",
        DisplayErrorContext(e)
    )
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

fn describe(app: &App) -> String {
    let mut parts = app.forwarder.sink_names().join(", ");
    if parts.is_empty() {
        parts = "no destination".into();
    }
    format!("destinations: {parts}")
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
