//! `check --function NAME`: the same checks on a deployed function's settings. Its
//! configuration is read with `GetFunctionConfiguration` ([`crate::function`]), and its
//! environment variables become the whole configuration, parsed and refused as the function
//! itself would at start-up (a destination required): no variable of this shell is read in
//! their place. The AWS calls are made in the function's region, with the operator's
//! credentials: every line says so, and a closing note says how to exercise the role itself.
//!
//! Invariant (tests/check.rs): no value of the function's environment is printed; the
//! settings are shown the way `check` shows local ones (a collector URL as scheme, host and
//! port; a credential not at all).

use std::sync::Arc;

use super::{CheckResult, RunsWith, bad_configuration, fail, pass, run_from};
use crate::app::App;
use crate::aws::Aws;
use crate::config::Config;
use crate::function::{Function, FunctionError};

/// What `check --function` found, and what to tell the operator after it.
#[derive(Debug)]
pub struct Report {
    pub results: Vec<CheckResult>,
    /// 2 when the function's settings (or the arguments) are refused, as `check` exits on a
    /// refused configuration; otherwise 0 or 1 from the results.
    pub exit: u8,
    /// Whose credentials ran the checks and how to exercise the function's role.
    pub note: String,
}

/// Reads `function` (in `region`, else its ARN's, else the SDK's) and checks its settings.
pub async fn run(function: &str, region: Option<&str>) -> Report {
    let region = match crate::function::region_for(function, region) {
        Ok(region) => region,
        Err(e) => return stopped(e, function),
    };
    let aws = Arc::new(Aws::in_region(region));
    let deployed = match crate::function::read(aws.config().await, function).await {
        Ok(deployed) => deployed,
        Err(e) => return stopped(e, function),
    };
    let mut results = vec![describe_function(&deployed)];
    let config = Config::from_lookup(|name| deployed.variable(name))
        .and_then(|config| config.require_destination().map(|()| config));
    let app = match config {
        Ok(config) => App::build_with(config, false, aws)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let note = note(function, &deployed);
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            results.push(bad_configuration(format!(
                "the settings of {}: {e}",
                deployed.arn
            )));
            return Report {
                results,
                exit: 2,
                note,
            };
        }
    };
    let configuration = super::describe(&app, Some(&deployed.arn));
    results.extend(run_from(&app, configuration).await);
    let exit = u8::from(results.iter().any(|r| !r.ok));
    Report {
        results,
        exit,
        note,
    }
}

/// The function could not be read: one failed line naming it.
fn stopped(e: FunctionError, function: &str) -> Report {
    let runs_with = match e {
        FunctionError::BadName { .. }
        | FunctionError::RegionMismatch { .. }
        | FunctionError::NoRegion { .. } => RunsWith::Settings,
        _ => RunsWith::Operator,
    };
    Report {
        exit: e.exit_code(),
        results: vec![fail("function", e.to_string()).runs_with(runs_with)],
        note: format!(
            "note: nothing else was checked: the checks need the configuration of {function} \
             first (lambda:GetFunctionConfiguration, with your credentials)"
        ),
    }
}

/// Runtimes the forwarder's `bootstrap` runs on.
const RUNTIMES: &[&str] = &["provided.al2023", "provided.al2"];

/// The `function` line: what runs, as whom, and whether Lambda can run it at all.
fn describe_function(f: &Function) -> CheckResult {
    let mut parts = vec![
        f.runtime.clone().unwrap_or_else(|| "no runtime".into()),
        f.architectures.join("/"),
    ];
    if let Some(mb) = f.memory_mb {
        parts.push(format!("{mb} MB"));
    }
    if let Some(s) = f.timeout_seconds {
        parts.push(format!("timeout {s} s"));
    }
    parts.retain(|p| !p.is_empty());
    let mut detail = format!(
        "{} ({}); role {}",
        f.arn,
        parts.join(", "),
        f.role.as_deref().unwrap_or("(none)")
    );
    if let Some(vpc) = &f.vpc {
        detail.push_str(&format!("; in {vpc}"));
    }
    if let Some(dlq) = &f.dead_letter {
        detail.push_str(&format!("; dead-letter target {dlq}"));
    }
    let names: Vec<&str> = f.variable_names().collect();
    detail.push_str(&format!(
        "; {} environment variable(s): {}",
        names.len(),
        names.join(", ")
    ));
    let runtime_ok = f.runtime.as_deref().is_none_or(|r| RUNTIMES.contains(&r));
    match (&f.failed_state, runtime_ok) {
        (Some(state), _) => fail("function", format!("{detail}; Lambda says: {state}")),
        (None, false) => fail(
            "function",
            format!(
                "{detail}; its runtime is not an OS-only runtime ({}): not the forwarder's \
                 bootstrap",
                RUNTIMES.join(" or ")
            ),
        ),
        (None, true) => pass("function", detail),
    }
}

/// The closing note: the role is exercised only by invoking the function.
fn note(function: &str, f: &Function) -> String {
    let role = f.role.as_deref().unwrap_or("(none)");
    let vpc = f
        .vpc
        .as_deref()
        .map(|vpc| {
            format!(
                " The function runs in {vpc}: the collector was reached from this machine's \
                 network, not from the VPC's subnets."
            )
        })
        .unwrap_or_default();
    format!(
        "note: every check above ran from this machine with your AWS credentials, not with the \
         function's role {role}: a ✔ proves the settings, and what you may reach and do, not \
         what the role may.{vpc} The role is exercised only when the function runs: `aws lambda \
         invoke --function-name {function} --payload fileb://events/guardduty-finding.json \
         out.json`, or sample findings (docs/see-it-work.md)."
    )
}
