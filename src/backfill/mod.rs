//! The backfill: pages through the GuardDuty API so that findings the push path missed, or
//! made before deployment, still arrive. Per region (`GUARDDUTY_REGIONS`) and detector
//! (`DETECTOR_IDS`: bare ids or `region:detector` pairs, else ListDetectors), one run lists
//! `updatedAt` in `[start, upper)` at or above the rule's severity floor
//! (`RULE_MIN_SEVERITY`), unarchived unless `BACKFILL_INCLUDE_ARCHIVED`, sorted ascending, 50
//! per page; fetches each page with GetFindings and delivers it before listing the next, so
//! at most one page of findings per detector is in memory.
//!
//! - [`cursor`] (pure) decides what to list next, what to deliver and where the next run
//!   starts; its module doc states and argues the property that no finding is lost.
//! - [`run`] is one detector's run over a `Port` (the outside world): the window, the rescan
//!   of the stretch behind the checkpoint, strikes judged per finding, the stored state.
//!   `detector` is its AWS port; `sim` (tests) a seeded simulation of GuardDuty and the
//!   destinations that drives it.
//! - [`state`] keeps each detector's state in DynamoDB (`STATE_TABLE`) under a lease;
//!   [`checkpoint`] is the state's shape and the SSM parameter an earlier version kept it in
//!   (`CHECKPOINT_PARAMETER`, read once to migrate); [`guardduty`] talks to GuardDuty;
//!   [`quarantine`] sets poison findings aside in the dead-letter queue; [`budget`] bounds
//!   every AWS call by the invocation's remaining time.
//!
//! `start` is the stored mark when there is one, else now − `BACKFILL_LOOKBACK_MINUTES` (or
//! the CLI's fixed window: `backfill --since`, `replay --since`); `upper` is now −
//! `BACKFILL_SETTLE_SECONDS` (a fixed window ends at now, or at `replay --until`: it moves no
//! state). A run that stops early (cap, hard limit, deadline, API error) still delivers what
//! it fetched, stores its state, and counts one `BackfillTruncated` with a log line naming the
//! reason, the detector and how far behind it is.

pub use crate::budget;
pub mod checkpoint;
pub mod cursor;
pub mod guardduty;
pub mod quarantine;
pub mod state;

mod detector;
pub mod run;
#[cfg(test)]
mod sim;

use futures_util::StreamExt;
use tracing::warn;

pub use guardduty::Reader;

use crate::config::BackfillConfig;
use crate::normalize::Via;
use crate::pipeline::{Failure, Forwarder, Outcome};
use crate::retry::Deadline;
use budget::Budget;

/// Regions, and detectors within one, worked on at once.
const CONCURRENCY: usize = 2;

/// What one backfill run covers.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Empty: `GUARDDUTY_REGIONS`, else the default region.
    pub regions: Vec<String>,
    /// Empty: `DETECTOR_IDS`, else ListDetectors.
    pub detectors: Vec<String>,
    /// A fixed window (CLI `backfill --since`, `replay`): neither reads nor moves the
    /// checkpoint.
    pub window: Option<FixedWindow>,
    pub via: Option<Via>,
    /// Print a progress line on stderr per page (CLI).
    pub progress: bool,
    /// Findings per detector in this run; `None`: `BACKFILL_MAX_FINDINGS`.
    pub max_findings: Option<usize>,
    /// Read the stored state but never write it: the findings only reach a terminal (CLI
    /// without a destination), so the function's own backfill must still deliver them.
    pub keep_state: bool,
    /// The scheduled event's id (Lambda): a retry of a tick that already ran is skipped.
    pub tick: Option<String>,
}

/// A fixed window `[start_ms, end_ms)` of `updatedAt`, in epoch milliseconds; `end_ms`
/// `None` (or later than now) ends it at now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedWindow {
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// Why a backfill, or one detector's part of it, failed.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("no region: set GUARDDUTY_REGIONS or AWS_REGION")]
    NoRegion,
    #[error("ListDetectors in {region} failed: {detail}")]
    ListDetectors { region: String, detail: String },
    #[error("ListFindings of detector {detector} failed: {detail}")]
    ListFindings { detector: String, detail: String },
    #[error("GetFindings of detector {detector} failed: {detail}")]
    GetFindings { detector: String, detail: String },
    #[error("GetFindings of detector {detector} answered unreadably: {problem}")]
    GetFindingsBody {
        detector: String,
        problem: &'static str,
    },
    #[error("reading checkpoint {name} failed: {detail}")]
    CheckpointRead { name: String, detail: String },
    #[error("checkpoint parameter {name} does not hold a checkpoint: {problem}")]
    CheckpointInvalid { name: String, problem: String },
    #[error("writing checkpoint {name} failed: {detail}")]
    CheckpointWrite { name: String, detail: String },
    #[error("setting finding {finding_id} aside in the dead-letter queue failed: {detail}")]
    Quarantine { finding_id: String, detail: String },
    #[error("backfill state: {0}")]
    State(#[from] state::StateError),
    #[error("backfill state for {key} is unreadable: {problem}")]
    StateInvalid { key: String, problem: String },
    #[error("not enough invocation time left to {operation}")]
    OutOfTime { operation: &'static str },
}

/// An AWS error as one line: each cause's message, never the raw response (which for
/// GetFindings would be whole findings) nor the request.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What a backfill uses: its GuardDuty reader (and AWS clients), the forwarder, its config.
#[derive(Clone, Copy)]
pub struct Backfill<'a> {
    pub reader: &'a Reader,
    pub forwarder: &'a Forwarder,
    pub config: &'a BackfillConfig,
}

impl Backfill<'_> {
    /// Runs the scheduled backfill (Lambda).
    pub async fn run_scheduled(
        &self,
        deadline: Deadline,
        tick: Option<String>,
    ) -> Result<Outcome, BackfillError> {
        let req = Request {
            via: Some(Via::Backfill),
            tick,
            ..Default::default()
        };
        self.run(&req, deadline).await
    }

    /// Runs one backfill over every region and detector; per-detector errors are counted as
    /// failures in the outcome (so the invocation fails) while the other detectors proceed.
    pub async fn run(&self, req: &Request, deadline: Deadline) -> Result<Outcome, BackfillError> {
        let regions = self.regions(req).await?;
        let runs: Vec<run::DetectorRun> = futures_util::stream::iter(regions)
            .map(|region| async move { self.region(req, region, deadline).await })
            .buffer_unordered(CONCURRENCY)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        let mut total = Outcome::default();
        let mut lag: Option<u64> = None;
        for run in runs {
            for e in &run.errors {
                warn!(message = "Backfill error.", scope = %run.scope, error = %e);
                total.failed += 1;
                total.failures.push(Failure {
                    finding_id: run.scope.clone(),
                    sink: "guardduty".into(),
                    error: e.to_string(),
                    cause: None,
                    index: 0,
                    delivered_elsewhere: false,
                });
            }
            total.stalled += u64::from(run.stalled);
            if let Some(reached) = run.reached_ms {
                let behind = crate::clock::now_ms().saturating_sub(reached).max(0) / 1000;
                lag = lag.max(u64::try_from(behind).ok());
            }
            total.add(run.outcome);
        }
        total.backfill_lag_seconds = lag;
        Ok(total)
    }

    async fn regions(&self, req: &Request) -> Result<Vec<String>, BackfillError> {
        if !req.regions.is_empty() {
            return Ok(req.regions.clone());
        }
        if !self.config.regions.is_empty() {
            return Ok(self.config.regions.clone());
        }
        let region = self.reader.default_region().await;
        Ok(vec![region.ok_or(BackfillError::NoRegion)?])
    }

    /// Every detector of one region.
    async fn region(
        &self,
        req: &Request,
        region: String,
        deadline: Deadline,
    ) -> Vec<run::DetectorRun> {
        let client = self.reader.client(&region).await;
        let detectors = match self.detectors(req, &client, &region, deadline).await {
            Ok(d) => d,
            Err(e) => {
                let mut run = run::DetectorRun::new(&region, "*");
                run.errors.push(e);
                return vec![run];
            }
        };
        if detectors.is_empty() {
            warn!(message = "GuardDuty is not enabled in this region: no detector.", region = %region);
        }
        let (client, region) = (&client, &region);
        futures_util::stream::iter(detectors)
            .map(|d| async move {
                detector::Job {
                    backfill: *self,
                    req,
                    client,
                    region,
                    detector: &d,
                }
                .run(deadline)
                .await
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    }

    async fn detectors(
        &self,
        req: &Request,
        client: &aws_sdk_guardduty::Client,
        region: &str,
        deadline: Deadline,
    ) -> Result<Vec<String>, BackfillError> {
        if !req.detectors.is_empty() {
            return Ok(req.detectors.clone());
        }
        // Bare ids and this region's `region:detector` pairs; none named here: ListDetectors.
        let named = self.config.detector_ids.for_region(region);
        if !named.is_empty() {
            return Ok(named);
        }
        let budget = Budget::within(deadline).ok_or(BackfillError::OutOfTime {
            operation: "list detectors",
        })?;
        guardduty::detectors(client, region, &budget).await
    }
}
