//! The backfill: pages through the GuardDuty API so that findings the push path missed, or
//! made before deployment, still arrive. Per region (`GUARDDUTY_REGIONS`) and detector
//! (`DETECTOR_IDS`, else ListDetectors): ListFindings on `updatedAt >= window start`
//! (epoch ms, `greaterThanOrEqual`), unarchived unless `BACKFILL_INCLUDE_ARCHIVED`, sorted by
//! `updatedAt` ascending, 50 per page; GetFindings 50 ids at a time; deliver. The raw JSON of
//! each finding is read from the GetFindings response body itself, so `raw_event` is the
//! same value the EventBridge `detail` carries.
//!
//! Window and checkpoint: with `CHECKPOINT_PARAMETER` the start is the stored high-water mark
//! (one SSM parameter per region × detector), advanced only to the last `updatedAt` up to
//! which every finding was delivered. The query is inclusive, so findings sharing that
//! millisecond are fetched again (the ids already sent at it are remembered and skipped), and
//! findings on the start millisecond do not count toward `BACKFILL_MAX_FINDINGS`, so a burst
//! on one millisecond cannot stall the window.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_guardduty::error::DisplayErrorContext;
use aws_sdk_guardduty::types::{Condition, FindingCriteria, OrderBy, SortCriteria};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::app::App;
use crate::intake::Incoming;
use crate::normalize::Via;
use crate::pipeline::Outcome;
use crate::retry::Deadline;

/// GuardDuty's page and batch limit.
pub const PAGE: usize = 50;
/// Regions, and detectors within one, worked on at once.
const CONCURRENCY: usize = 4;
/// Whatever the cap, one detector's run never takes more than this many findings.
const HARD_LIMIT_FACTOR: usize = 20;
/// Findings handed to the destinations at a time, so memory stays flat on long runs.
const DELIVERY_CHUNK: usize = 500;
/// Ids remembered at the checkpoint's millisecond (keeps the parameter under 4 KB).
const MAX_IDS_AT_CHECKPOINT: usize = 80;

/// What one backfill run covers.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Empty: `GUARDDUTY_REGIONS`, else the default region.
    pub regions: Vec<String>,
    /// Empty: `DETECTOR_IDS`, else ListDetectors.
    pub detectors: Vec<String>,
    /// A fixed window (CLI `--since`): neither reads nor moves the checkpoint.
    pub since: Option<Duration>,
    pub via: Option<Via>,
    /// Print a progress line on stderr per page (CLI).
    pub progress: bool,
    /// Findings per detector in this run; `None`: `BACKFILL_MAX_FINDINGS`.
    pub max_findings: Option<usize>,
}

/// Why a backfill could not run at all (per-detector problems are reported in the outcome).
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("no region: set GUARDDUTY_REGIONS or AWS_REGION")]
    NoRegion,
}

/// The stored high-water mark of one region × detector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// RFC 3339, millisecond precision.
    pub updated_at: String,
    /// Ids delivered whose `updatedAt` is exactly `updated_at`.
    #[serde(default)]
    pub ids: Vec<String>,
}

/// Captures the raw GetFindings response body.
#[derive(Debug, Clone, Default)]
struct RawBody(Arc<Mutex<Option<bytes::Bytes>>>);

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawGetFindingsBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if response.status().is_success()
            && let Some(b) = response.body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes::Bytes::copy_from_slice(b));
        }
        Ok(())
    }
}

/// Epoch milliseconds of an RFC 3339 timestamp.
pub fn epoch_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 UTC with milliseconds, the shape GuardDuty gives `updatedAt`.
pub fn format_ms(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn updated_ms(finding: &Value) -> Option<i64> {
    finding
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(epoch_ms)
}

fn finding_id(finding: &Value) -> Option<&str> {
    finding.get("id").and_then(Value::as_str)
}

/// Credentials for reading GuardDuty: the assumed role's when `ASSUME_ROLE_ARN` is set.
/// Kept in the app for the life of the process, so the assumed role's credentials and the
/// per-region clients (and their connections) serve every scheduled run.
#[derive(Default)]
pub struct Reader {
    role: OnceCell<Option<SharedCredentialsProvider>>,
    clients: tokio::sync::Mutex<std::collections::HashMap<String, aws_sdk_guardduty::Client>>,
    ssm: OnceCell<aws_sdk_ssm::Client>,
}

impl Reader {
    async fn credentials(&self, app: &App) -> Option<SharedCredentialsProvider> {
        self.role
            .get_or_init(|| async {
                let arn = app.config.backfill.assume_role_arn.as_ref()?;
                let base = app.aws.config().await;
                let mut b = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
                    .session_name("guardduty-forwarder")
                    .configure(base);
                if let Some(id) = &app.config.backfill.assume_role_external_id {
                    b = b.external_id(id.clone());
                }
                // The provider caches the credentials and refreshes them before they expire.
                Some(SharedCredentialsProvider::new(b.build().await))
            })
            .await
            .clone()
    }

    /// The SSM client of the function's own region (checkpoints).
    pub async fn ssm(&self, app: &App) -> &aws_sdk_ssm::Client {
        self.ssm
            .get_or_init(|| async { aws_sdk_ssm::Client::new(app.aws.config().await) })
            .await
    }

    /// A GuardDuty client for `region`, with retries for throttling; built once per region.
    pub async fn client(&self, app: &App, region: &str) -> aws_sdk_guardduty::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let client = self.build_client(app, region).await;
        clients.insert(region.to_string(), client.clone());
        client
    }

    async fn build_client(&self, app: &App, region: &str) -> aws_sdk_guardduty::Client {
        let config: SdkConfig = app.aws.config_for(region).await;
        let mut b = aws_sdk_guardduty::config::Builder::from(&config).retry_config(
            RetryConfig::standard()
                .with_max_attempts(6)
                .with_initial_backoff(Duration::from_millis(200)),
        );
        if let Some(creds) = self.credentials(app).await {
            b = b.credentials_provider(creds);
        }
        aws_sdk_guardduty::Client::from_conf(b.build())
    }
}

/// Result of one region × detector.
#[derive(Debug, Default)]
struct DetectorRun {
    outcome: Outcome,
    newest_ms: Option<i64>,
    errors: Vec<String>,
}

/// Runs the scheduled backfill (Lambda).
pub async fn run_scheduled(app: &App, deadline: Deadline) -> Result<Outcome, String> {
    run(
        app,
        &Request {
            via: Some(Via::Backfill),
            ..Default::default()
        },
        deadline,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Runs one backfill over every region and detector; per-detector errors are counted as
/// failures in the outcome (so the invocation fails) while the other detectors proceed.
pub async fn run(app: &App, req: &Request, deadline: Deadline) -> Result<Outcome, BackfillError> {
    let regions: Vec<String> = if !req.regions.is_empty() {
        req.regions.clone()
    } else if !app.config.backfill.regions.is_empty() {
        app.config.backfill.regions.clone()
    } else {
        let region = app.aws.config().await.region().map(|r| r.to_string());
        vec![region.ok_or(BackfillError::NoRegion)?]
    };
    let reader = &app.reader;
    let runs: Vec<(String, DetectorRun)> = futures_util::stream::iter(regions)
        .map(|region| {
            async move {
                let client = reader.client(app, &region).await;
                let detectors = match detectors(app, req, &client).await {
                    Ok(d) => d,
                    Err(e) => {
                        let run = DetectorRun { errors: vec![format!("{region}: {e}")], ..Default::default() };
                        return vec![(region.clone(), run)];
                    }
                };
                if detectors.is_empty() {
                    warn!(message = "GuardDuty is not enabled in this region: no detector.", region = %region);
                }
                futures_util::stream::iter(detectors)
                    .map(|d| {
                        let client = &client;
                        let region = &region;
                        async move { (format!("{region}/{d}"), run_detector(app, req, client, region, &d, deadline).await) }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect::<Vec<_>>()
                    .await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    let mut total = Outcome::default();
    let mut newest: Option<i64> = None;
    for (scope, run) in runs {
        for e in &run.errors {
            warn!(message = "Backfill error.", scope = %scope, error = %e);
            total.failed += 1;
            total.failures.push(crate::pipeline::Failure {
                finding_id: scope.clone(),
                sink: "guardduty",
                error: e.clone(),
            });
        }
        newest = newest.max(run.newest_ms);
        total.add(run.outcome);
    }
    total.backfill_lag_seconds = newest.map(|n| ((now_ms() - n).max(0) / 1000) as u64);
    Ok(total)
}

async fn detectors(
    app: &App,
    req: &Request,
    client: &aws_sdk_guardduty::Client,
) -> Result<Vec<String>, String> {
    if !req.detectors.is_empty() {
        return Ok(req.detectors.clone());
    }
    if !app.config.backfill.detector_ids.is_empty() {
        return Ok(app.config.backfill.detector_ids.clone());
    }
    let mut out = Vec::new();
    let mut pages = client.list_detectors().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| format!("ListDetectors failed: {}", DisplayErrorContext(&e)))?;
        out.extend(page.detector_ids().iter().cloned());
    }
    Ok(out)
}

fn parameter_name(prefix: &str, region: &str, detector: &str) -> String {
    format!("{}/{region}/{detector}", prefix.trim_end_matches('/'))
}

async fn read_checkpoint(app: &App, name: &str) -> Result<Option<Checkpoint>, String> {
    let ssm = app.reader.ssm(app).await;
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => {
            let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
            serde_json::from_str::<Checkpoint>(value)
                .ok()
                .filter(|c| epoch_ms(&c.updated_at).is_some())
                .map(Some)
                .ok_or_else(|| format!("checkpoint parameter {name} does not hold a checkpoint"))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(format!(
            "reading checkpoint {name} failed: {}",
            DisplayErrorContext(&e)
        )),
    }
}

async fn write_checkpoint(app: &App, name: &str, cp: &Checkpoint) -> Result<(), String> {
    let ssm = app.reader.ssm(app).await;
    let value = serde_json::to_string(cp).map_err(|e| e.to_string())?;
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "writing checkpoint {name} failed: {}",
                DisplayErrorContext(&e)
            )
        })
}

/// Fetches GetFindings for `ids`, as raw JSON values in the API's order.
async fn get_findings(
    client: &aws_sdk_guardduty::Client,
    detector: &str,
    ids: &[String],
) -> Result<Vec<Value>, String> {
    let raw = RawBody::default();
    client
        .get_findings()
        .detector_id(detector)
        .set_finding_ids(Some(ids.to_vec()))
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(|e| format!("GetFindings failed: {}", DisplayErrorContext(&e)))?;
    let body = raw
        .0
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .ok_or("GetFindings returned no body")?;
    let mut doc: Value =
        serde_json::from_slice(&body).map_err(|e| format!("GetFindings body is not JSON: {e}"))?;
    match doc.get_mut("findings").map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err("GetFindings body has no findings array".into()),
    }
}

async fn run_detector(
    app: &App,
    req: &Request,
    client: &aws_sdk_guardduty::Client,
    region: &str,
    detector: &str,
    deadline: Deadline,
) -> DetectorRun {
    let cfg = &app.config.backfill;
    let mut run = DetectorRun::default();
    let checkpoint_name = match (&req.since, &cfg.checkpoint_parameter) {
        (None, Some(prefix)) => Some(parameter_name(prefix, region, detector)),
        _ => None,
    };
    let checkpoint = match &checkpoint_name {
        Some(name) => match read_checkpoint(app, name).await {
            Ok(c) => c,
            Err(e) => {
                run.errors.push(e);
                return run;
            }
        },
        None => None,
    };
    let start_ms = match (&checkpoint, req.since) {
        (Some(c), _) => epoch_ms(&c.updated_at).unwrap_or(0),
        (None, Some(since)) => now_ms() - since.as_millis() as i64,
        (None, None) => now_ms() - cfg.lookback.as_millis() as i64,
    };
    let already_sent: HashSet<&str> = checkpoint
        .as_ref()
        .map(|c| c.ids.iter().map(String::as_str).collect())
        .unwrap_or_default();

    let mut criterion = std::collections::HashMap::new();
    criterion.insert(
        "updatedAt".to_string(),
        Condition::builder().greater_than_or_equal(start_ms).build(),
    );
    if !cfg.include_archived {
        criterion.insert(
            "service.archived".to_string(),
            Condition::builder().equals("false").build(),
        );
    }
    let criteria = FindingCriteria::builder()
        .set_criterion(Some(criterion))
        .build();
    let sort = SortCriteria::builder()
        .attribute_name("updatedAt")
        .order_by(OrderBy::Asc)
        .build();

    let cap = req.max_findings.unwrap_or(cfg.max_findings);
    let hard_limit = cap.saturating_mul(HARD_LIMIT_FACTOR);
    let via = req.via.unwrap_or(Via::Backfill);
    let received_at = crate::lambda::now_rfc3339();
    // Findings waiting for delivery; (id, updatedAt) of every finding taken, in order.
    let mut pending: Vec<Value> = Vec::new();
    let mut order: Vec<(Option<String>, Option<i64>)> = Vec::new();
    let mut outcome = Outcome::default();
    let mut counted = 0usize;
    let mut seen_tokens: HashSet<String> = HashSet::new();
    let mut token: Option<String> = None;
    let mut finishing_ms: Option<i64> = None;
    'pages: loop {
        if deadline.expired() || !deadline.allows(Duration::from_secs(5), Duration::ZERO) {
            warn!(
                message = "Backfill stopped early to leave time for delivery.",
                region, detector
            );
            break;
        }
        let page = client
            .list_findings()
            .detector_id(detector)
            .finding_criteria(criteria.clone())
            .sort_criteria(sort.clone())
            .max_results(PAGE as i32)
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                run.errors
                    .push(format!("ListFindings failed: {}", DisplayErrorContext(&e)));
                break;
            }
        };
        let ids: Vec<String> = page.finding_ids().to_vec();
        if !ids.is_empty() {
            let fetched = match get_findings(client, detector, &ids).await {
                Ok(f) => f,
                Err(e) => {
                    run.errors.push(e);
                    break;
                }
            };
            // GetFindings does not promise the request's order: restore the listing's.
            let mut fetched = fetched;
            fetched.sort_by_key(|f| {
                finding_id(f)
                    .and_then(|id| ids.iter().position(|x| x == id))
                    .unwrap_or(usize::MAX)
            });
            for f in fetched {
                let ts = updated_ms(&f);
                if let Some(limit_ms) = finishing_ms
                    && ts != Some(limit_ms)
                {
                    break 'pages;
                }
                if ts == Some(start_ms)
                    && finding_id(&f).is_some_and(|id| already_sent.contains(id))
                {
                    continue;
                }
                if ts != Some(start_ms) {
                    counted += 1;
                }
                order.push((finding_id(&f).map(str::to_owned), ts));
                pending.push(f);
                if order.len() >= hard_limit {
                    break 'pages;
                }
                if counted >= cap && finishing_ms.is_none() {
                    // Finish this millisecond so the next run can start after it.
                    finishing_ms = ts.or(Some(i64::MIN));
                }
            }
        }
        if req.progress {
            eprintln!(
                "backfill: {region}/{detector}: {} finding(s) fetched",
                order.len()
            );
        }
        if pending.len() >= DELIVERY_CHUNK {
            let chunk = std::mem::take(&mut pending);
            outcome.add(deliver(app, chunk, via, &received_at, deadline).await);
        }
        match page.next_token().filter(|t| !t.is_empty()) {
            None => break,
            Some(t) if !seen_tokens.insert(t.to_string()) => {
                warn!(
                    message = "GuardDuty repeated a nextToken; ending this listing.",
                    region, detector
                );
                break;
            }
            Some(t) => token = Some(t.to_string()),
        }
    }

    if !pending.is_empty() {
        outcome.add(deliver(app, pending, via, &received_at, deadline).await);
    }
    run.newest_ms = order.iter().filter_map(|(_, ts)| *ts).max();

    if let Some(name) = &checkpoint_name {
        let failed: HashSet<&str> = outcome
            .failures
            .iter()
            .map(|f| f.finding_id.as_str())
            .collect();
        if let Some(next) = advance(checkpoint.as_ref(), start_ms, &order, &failed)
            && Some(&next) != checkpoint.as_ref()
            && let Err(e) = write_checkpoint(app, name, &next).await
        {
            run.errors.push(e);
        }
    }
    info!(
        message = "Backfill of detector done.",
        region,
        detector,
        window_start = %format_ms(start_ms),
        received = outcome.received,
        forwarded = outcome.forwarded,
        failed = outcome.failed
    );
    run.outcome = outcome;
    run
}

/// Delivers fetched findings, in the order given (updatedAt ascending).
async fn deliver(
    app: &App,
    findings: Vec<Value>,
    via: Via,
    received_at: &str,
    deadline: Deadline,
) -> Outcome {
    let incoming: Vec<Incoming> = findings
        .into_iter()
        .map(|finding| Incoming {
            event_id: None,
            finding,
        })
        .collect();
    app.forwarder
        .forward(incoming, via, received_at, deadline)
        .await
}

/// The next checkpoint: the newest `updatedAt` up to which every finding was delivered,
/// with the ids delivered at exactly that millisecond. `None` when it would not move.
pub fn advance(
    previous: Option<&Checkpoint>,
    start_ms: i64,
    order: &[(Option<String>, Option<i64>)],
    failed: &HashSet<&str>,
) -> Option<Checkpoint> {
    let mut mark: Option<i64> = None;
    for (id, ts) in order {
        let delivered = id.as_deref().is_some_and(|i| !failed.contains(i));
        match ts {
            Some(t) if delivered => mark = Some(mark.map_or(*t, |m| m.max(*t))),
            // A failure stops the mark: everything before it in updatedAt order was
            // delivered, and the next run's inclusive window starts at its millisecond.
            Some(t) => {
                return Some(Checkpoint {
                    updated_at: format_ms((*t).max(start_ms)),
                    ids: Vec::new(),
                });
            }
            // An unreadable timestamp: advance no further than what came before it.
            None => break,
        }
    }
    let t = mark?;
    let mut ids: Vec<String> = order
        .iter()
        .filter(|(_, ts)| *ts == Some(t))
        .filter_map(|(id, _)| id.clone())
        .collect();
    if t == start_ms
        && let Some(prev) = previous
    {
        ids.extend(prev.ids.iter().cloned());
        ids.sort();
        ids.dedup();
    }
    if ids.len() > MAX_IDS_AT_CHECKPOINT {
        // Too many to remember: they will be sent again next run (consumers dedupe).
        ids.clear();
    }
    Some(Checkpoint {
        updated_at: format_ms(t),
        ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(items: &[(&str, i64)]) -> Vec<(Option<String>, Option<i64>)> {
        items
            .iter()
            .map(|(id, t)| (Some(id.to_string()), Some(*t)))
            .collect()
    }

    #[test]
    fn the_checkpoint_moves_to_the_newest_delivered_millisecond_with_its_ids() {
        let cp = advance(
            None,
            0,
            &order(&[("a", 10), ("b", 20), ("c", 20)]),
            &HashSet::new(),
        )
        .unwrap();
        assert_eq!(cp.updated_at, format_ms(20));
        assert_eq!(cp.ids, ["b", "c"]);
    }

    #[test]
    fn a_failed_finding_holds_the_checkpoint_at_its_millisecond() {
        let failed: HashSet<&str> = ["b"].into();
        let cp = advance(None, 0, &order(&[("a", 10), ("b", 20), ("c", 30)]), &failed).unwrap();
        assert_eq!(cp.updated_at, format_ms(20));
        assert!(cp.ids.is_empty(), "nothing at 20 may be skipped next time");
    }

    #[test]
    fn no_findings_leave_the_checkpoint_alone() {
        assert_eq!(advance(None, 5, &[], &HashSet::new()), None);
    }

    #[test]
    fn ids_at_the_start_millisecond_accumulate_across_runs() {
        let prev = Checkpoint {
            updated_at: format_ms(10),
            ids: vec!["a".into()],
        };
        let cp = advance(Some(&prev), 10, &order(&[("b", 10)]), &HashSet::new()).unwrap();
        assert_eq!(cp.ids, ["a", "b"]);
    }

    #[test]
    fn timestamps_round_trip_through_epoch_milliseconds() {
        let ms = epoch_ms("2026-11-22T10:00:00.123Z").unwrap();
        assert_eq!(format_ms(ms), "2026-11-22T10:00:00.123Z");
        assert_eq!(epoch_ms("not a time"), None);
    }
}
