//! Diagnostics output: structured logs on stderr (stdout carries records). JSON lines in
//! Lambda (compatible with Lambda's JSON log format), text for a person at a terminal.
//! Level from `LOG_LEVEL`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else info.
//!
//! The level filters these diagnostics only. The EMF metric lines (`crate::metrics`) and the
//! `LOG_RECORDS` record lines are written to stdout without a `level` and never pass through
//! this filter, so they come out at any level. The template therefore passes `LOG_LEVEL` and
//! leaves Lambda's `ApplicationLogLevel` unset: Lambda's own filter would treat a line
//! without `level` as INFO and drop every metric and record at WARN.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

fn level_from_env() -> Result<LevelFilter, String> {
    for var in ["LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL"] {
        if let Ok(v) = std::env::var(var) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            return match v.to_ascii_lowercase().as_str() {
                "trace" => Ok(LevelFilter::TRACE),
                "debug" => Ok(LevelFilter::DEBUG),
                "info" => Ok(LevelFilter::INFO),
                "warn" | "warning" => Ok(LevelFilter::WARN),
                "error" | "fatal" => Ok(LevelFilter::ERROR),
                "off" => Ok(LevelFilter::OFF),
                _ => Err(format!(
                    "{var}: expected one of trace, debug, info, warn, error (got {v:?})"
                )),
            };
        }
    }
    Ok(LevelFilter::INFO)
}

/// Installs the global subscriber. `json` selects JSON lines; otherwise text (with colour
/// only on a terminal). Returns an error line when the level variable is bad.
pub fn init(json: bool) -> Result<(), String> {
    let (level, bad) = match level_from_env() {
        Ok(l) => (l, None),
        Err(e) => (LevelFilter::INFO, Some(e)),
    };
    // Our own events at the chosen level. The SDK's and HTTP stack's: in Lambda from warn
    // up; at a terminal only errors at the default level (their warnings, such as IMDS
    // dumps while looking for credentials, are for debugging: the CLI says what failed in
    // one line of its own), warnings from debug up; everything when tracing.
    let deps_level = if level >= LevelFilter::TRACE {
        LevelFilter::DEBUG
    } else if json || level >= LevelFilter::DEBUG {
        LevelFilter::WARN
    } else {
        LevelFilter::ERROR
    };
    let filter = Targets::new()
        .with_default(deps_level.min(level))
        .with_target("guardduty_forwarder", level)
        .with_target("lambda_runtime", level.min(LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    let _ = result;
    match bad {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
