//! Lambda mode: the `lambda_runtime` loop, the handler that routes each event, and
//! the report of a start-up failure to the Runtime API's `/init/error`.

use std::time::{Duration, Instant};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use tracing::{Instrument, info, warn};

use crate::app::App;
use crate::intake::{Incoming, IntakeError, LambdaPayload, Routed, route_eventbridge};
use crate::normalize::Via;
use crate::pipeline::Outcome;
use crate::retry::Deadline;

/// The handler's JSON result.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Response {
    pub via: &'static str,
    pub received: u64,
    pub forwarded: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Response {
    fn from_outcome(via: Via, o: &Outcome) -> Self {
        Response {
            via: via.as_str(),
            received: o.received,
            forwarded: o.forwarded,
            skipped: o.skipped,
            failed: o.failed,
        }
    }
}

/// Why an invocation failed. Lambda then retries it and, in the end, hands the event to the
/// on-failure destination.
#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error("malformed event: {0}")]
    Malformed(#[from] IntakeError),
    #[error("{0}")]
    Delivery(String),
    #[error("backfill failed: {0}")]
    Backfill(#[from] crate::backfill::BackfillError),
    /// The run completed but ended further behind now than `BACKFILL_MAX_LAG_SECONDS`.
    #[error(
        "backfill is behind: the oldest finding position not yet delivered is {lag_seconds} s old, \
         more than the {limit_seconds} s allowed (BACKFILL_MAX_LAG_SECONDS); the run's log lines say why"
    )]
    Behind {
        lag_seconds: u64,
        limit_seconds: u64,
    },
    /// The run completed but left findings a person must look at.
    #[error(
        "backfill needs attention: {unfetchable} finding(s) GuardDuty listed but GetFindings never \
         returned (ids in the log), {quarantine_failed} finding(s) no destination accepts could not \
         be set aside in the dead-letter queue"
    )]
    NeedsAttention {
        unfetchable: u64,
        quarantine_failed: u64,
    },
}

/// The runtime logs a failed invocation's error with `{:?}`: show the message itself.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Malformed(_) => "MalformedEvent",
            HandlerError::Delivery(_) => "DeliveryFailed",
            HandlerError::Backfill(_) => "BackfillFailed",
            HandlerError::Behind { .. } => "BackfillBehind",
            HandlerError::NeedsAttention { .. } => "BackfillNeedsAttention",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one event.
pub async fn handle(
    app: &App,
    event: LambdaEvent<LambdaPayload>,
) -> Result<Response, HandlerError> {
    let span = tracing::info_span!("handler", trigger = tracing::field::Empty);
    handle_in(app, event, &span).instrument(span.clone()).await
}

/// How long after its tick a scheduled event still identifies it: a Lambda retry of the same
/// event (same `id` and `time`) within this is skipped; an older or input-less event (an
/// EventBridge Scheduler target with a fixed input) always runs.
const TICK_TRUST_MS: i64 = 3_600_000;

/// The scheduled event's identity (`id@time`), when it can tell a retry from a new tick.
fn scheduled_tick(event: &LambdaPayload) -> Option<String> {
    let id = event.id.as_deref().filter(|id| !id.is_empty())?;
    let time = event.time?;
    let age = crate::clock::now_ms().saturating_sub(time.timestamp_millis());
    (0..TICK_TRUST_MS)
        .contains(&age)
        .then(|| format!("{id}@{}", time.timestamp_millis()))
}

async fn handle_in(
    app: &App,
    event: LambdaEvent<LambdaPayload>,
    span: &tracing::Span,
) -> Result<Response, HandlerError> {
    let deadline = Deadline::from_lambda_deadline_ms(event.context.deadline);
    let started = Instant::now();
    let namespace = &app.config.metrics_namespace;
    let tick = scheduled_tick(&event.payload);
    let detail = app.config.metrics_detail;
    let routed = route_eventbridge(event.payload)?;
    span.record(
        "trigger",
        match &routed {
            Routed::Finding(_) => "eventbridge",
            Routed::Scheduled => "backfill",
            Routed::Ignored { .. } => "ignored",
        },
    );
    match routed {
        Routed::Finding(incoming) => {
            let received_at = crate::clock::now_rfc3339();
            let findings = [incoming];
            let mut outcome = app
                .forwarder
                .forward(&findings, Via::Eventbridge, &received_at, deadline)
                .await;
            park_partial(app, &mut outcome, &findings, deadline).await;
            crate::metrics::emit(namespace, detail, Via::Eventbridge, &outcome, None);
            finish(Via::Eventbridge, outcome, started)
        }
        Routed::Scheduled => match app.backfill().run_scheduled(deadline, tick).await {
            Ok(mut outcome) => {
                outcome.redriven = auto_redrive(app, deadline).await;
                let verdict = backfill_verdict(&outcome, app.config.backfill.max_lag);
                crate::metrics::emit(
                    namespace,
                    detail,
                    Via::Backfill,
                    &outcome,
                    Some(outcome.failed == 0 && outcome.stalled == 0 && verdict.is_ok()),
                );
                let response = finish(Via::Backfill, outcome, started)?;
                verdict.map(|()| response)
            }
            Err(e) => {
                crate::metrics::emit(
                    namespace,
                    detail,
                    Via::Backfill,
                    &Outcome::default(),
                    Some(false),
                );
                Err(HandlerError::Backfill(e))
            }
        },
        Routed::Ignored {
            source,
            detail_type,
        } => {
            warn!(message = "Event ignored: not a GuardDuty finding or schedule.", source = %source, detail_type = %detail_type);
            Ok(Response::from_outcome(
                Via::Eventbridge,
                &Outcome::default(),
            ))
        }
    }
}

/// Keeps in the dead-letter queue, for it alone, what one destination could not take while
/// another took it: the invocation then succeeds, and Lambda's retry never sends the
/// finding again to the destinations that have it.
async fn park_partial(app: &App, outcome: &mut Outcome, findings: &[Incoming], deadline: Deadline) {
    let Some(queue_url) = app.config.backfill.dlq_url.as_deref() else {
        return;
    };
    if !crate::park::needed(outcome) {
        return;
    }
    let sqs = app.reader.sqs_for(queue_url).await;
    let to = crate::park::DeadLetters {
        sqs: &sqs,
        queue_url,
        deadline,
    };
    crate::park::settle(outcome, findings, Via::Eventbridge, &to).await;
}

/// The scheduled run's automatic redrive: up to `REDRIVE_MAX_PER_RUN` dead-letter messages
/// that failed for want of a working destination go again, each to its own destination; a
/// destination that fails again is left for the next run. Quarantined and refused findings
/// stay for a person (`dlq list`, `redrive`). Returns the findings delivered. Never fails
/// the run: what stays keeps the dead-letter queue's alarm on.
async fn auto_redrive(app: &App, deadline: Deadline) -> u64 {
    let max = app.config.backfill.redrive_max;
    let Some(url) = app.config.backfill.dlq_url.clone() else {
        return 0;
    };
    if max == 0 {
        return 0;
    }
    let queue = crate::dlq::queue::Queue::new(&app.aws, url)
        .await
        .with_deadline(deadline);
    let options = crate::dlq::Options {
        max: Some(max),
        retryable_only: true,
        deadline: Some(deadline),
        ..crate::dlq::Options::default()
    };
    match crate::dlq::redrive(&queue, &app.forwarder, options).await {
        Ok(report) => {
            if report.deleted > 0 || !report.kept.is_empty() {
                info!(
                    message = "Dead-letter messages redriven.",
                    read = report.messages,
                    deleted = report.deleted,
                    kept = report.kept.len(),
                    findings_delivered = report.outcome.forwarded
                );
            }
            for k in &report.kept {
                warn!(message = "Dead-letter message kept.", dlq_message_id = %k.entry.message_id, reason = %k.reason);
            }
            report.outcome.forwarded
        }
        Err(e) => {
            warn!(message = "Automatic redrive stopped; the messages stay in the dead-letter queue.", error = %e);
            0
        }
    }
}

/// Whether a completed scheduled run should still fail its invocation, so that the function's
/// `Errors` alarm (the one alarm on what needs a person) pages: it ended more than `max_lag`
/// behind now, or it met findings it could neither fetch nor set aside. The run's work and
/// state are kept either way; the schedule's alias allows no Lambda retry, so failing costs
/// nothing but the page.
fn backfill_verdict(outcome: &Outcome, max_lag: Option<Duration>) -> Result<(), HandlerError> {
    if let (Some(lag), Some(limit)) = (outcome.backfill_lag_seconds, max_lag)
        && lag > limit.as_secs()
    {
        return Err(HandlerError::Behind {
            lag_seconds: lag,
            limit_seconds: limit.as_secs(),
        });
    }
    if outcome.unfetchable > 0 || outcome.quarantine_failed > 0 {
        return Err(HandlerError::NeedsAttention {
            unfetchable: outcome.unfetchable,
            quarantine_failed: outcome.quarantine_failed,
        });
    }
    Ok(())
}

fn finish(via: Via, outcome: Outcome, started: Instant) -> Result<Response, HandlerError> {
    info!(
        message = "Invocation done.",
        via = via.as_str(),
        received = outcome.received,
        forwarded = outcome.forwarded,
        skipped = outcome.skipped,
        failed = outcome.failed,
        parked = outcome.parked,
        duration_ms = started.elapsed().as_millis() as u64
    );
    if outcome.failed > 0 {
        return Err(HandlerError::Delivery(outcome.failure_summary()));
    }
    Ok(Response::from_outcome(via, &outcome))
}

/// Runs the Lambda loop until the Runtime API goes away.
pub async fn run(app: App) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<LambdaPayload>| async move { handle(app, event).await },
    ))
    .await
}

/// Why the start-up error could not be reported.
#[derive(Debug, thiserror::Error)]
pub enum InitReportError {
    #[error("AWS_LAMBDA_RUNTIME_API is not an address or URL: {0}")]
    BadEndpoint(#[from] http::uri::InvalidUri),
    #[error("the request could not be built: {0}")]
    Request(#[from] http::Error),
    #[error("the client could not be set up: {0}")]
    Client(#[from] lambda_runtime_api_client::Error),
    #[error("{0}")]
    Send(lambda_runtime::Error),
    #[error("the Runtime API answered {0}")]
    Status(http::StatusCode),
}

/// Tells Lambda that initialization failed, with the one-line reason, via `/init/error`.
/// `api` is `AWS_LAMBDA_RUNTIME_API` as Lambda (`host:port`) or an emulator such as
/// cargo-lambda's (`http://host:port/base`) sets it; the request goes where the runtime's
/// own client would send it.
pub async fn report_init_error(api: &str, message: &str) {
    if let Err(e) = try_report_init_error(api, message).await {
        eprintln!("could not report the start-up error to the Lambda Runtime API: {e}");
    }
}

async fn try_report_init_error(api: &str, message: &str) -> Result<(), InitReportError> {
    use lambda_runtime_api_client::{Client, body::Body, build_request};

    let body = serde_json::json!({"errorMessage": message, "errorType": "Runtime.ConfigError"})
        .to_string();
    let client = Client::builder()
        .with_endpoint(http::Uri::try_from(api)?)
        .build()?;
    let request = build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
        .header("content-type", "application/json")
        .body(Body::from(body))?;
    let response = client.call(request).await.map_err(InitReportError::Send)?;
    match response.status() {
        s if s.is_success() => Ok(()),
        s => Err(InitReportError::Status(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(lag: Option<u64>, unfetchable: u64, quarantine_failed: u64) -> Outcome {
        Outcome {
            backfill_lag_seconds: lag,
            unfetchable,
            quarantine_failed,
            ..Outcome::default()
        }
    }

    #[test]
    fn a_run_within_its_lag_limit_that_left_nothing_behind_succeeds() {
        let limit = Some(Duration::from_secs(1200));
        assert!(backfill_verdict(&outcome(Some(1200), 0, 0), limit).is_ok());
        assert!(backfill_verdict(&outcome(None, 0, 0), limit).is_ok());
        assert!(backfill_verdict(&outcome(Some(u64::MAX), 0, 0), None).is_ok());
    }

    #[test]
    fn a_run_past_its_lag_limit_fails_naming_the_lag_the_limit_and_the_variable() {
        let e = backfill_verdict(&outcome(Some(1201), 0, 0), Some(Duration::from_secs(1200)))
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("1201 s") && text.contains("1200 s"), "{text}");
        assert!(text.contains("BACKFILL_MAX_LAG_SECONDS"), "{text}");
        assert_eq!(Diagnostic::from(e).error_type, "BackfillBehind");
    }

    #[test]
    fn a_run_that_met_unfetchable_or_unquarantinable_findings_fails_counting_them() {
        for (u, q) in [(2, 0), (0, 1), (3, 4)] {
            let e = backfill_verdict(&outcome(Some(10), u, q), None).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains(&format!("{u} finding(s) GuardDuty listed")),
                "{text}"
            );
            assert!(
                text.contains(&format!("{q} finding(s) no destination")),
                "{text}"
            );
            assert_eq!(Diagnostic::from(e).error_type, "BackfillNeedsAttention");
        }
    }
}
