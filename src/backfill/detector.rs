//! One region × detector's run: open the window (checkpoint or lookback), page through it
//! with the cursor, deliver page by page, set poison findings aside, write the checkpoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::{info, warn};

use super::budget::Budget;
use super::checkpoint::{self, Checkpoint};
use super::cursor::{Admit, Cursor, State, Stop, Window};
use super::guardduty::{self, finding_id};
use super::quarantine::{self, Strike, Verdict};
use super::{Backfill, BackfillError, Request};
use crate::clock::{epoch_ms, format_ms, ms_before, now_ms, now_rfc3339};
use crate::intake::Incoming;
use crate::normalize::Via;
use crate::pipeline::{Failure, Outcome};
use crate::retry::Deadline;

/// Whatever the cap, one detector's run never takes more than this many times it.
const HARD_LIMIT_FACTOR: usize = 20;
/// Time kept back from the deadline to deliver the last page and write the checkpoint.
const WRAP_UP: Duration = Duration::from_secs(4);

/// Result of one region × detector.
#[derive(Debug)]
pub struct DetectorRun {
    pub scope: String,
    pub outcome: Outcome,
    /// The newest `updatedAt` up to which everything was delivered (for the lag metric).
    pub reached_ms: Option<i64>,
    pub errors: Vec<BackfillError>,
}

impl DetectorRun {
    pub fn new(region: &str, detector: &str) -> Self {
        DetectorRun {
            scope: format!("{region}/{detector}"),
            outcome: Outcome::default(),
            reached_ms: None,
            errors: Vec::new(),
        }
    }
}

/// One region × detector to run.
pub struct Job<'a> {
    pub backfill: Backfill<'a>,
    pub req: &'a Request,
    pub client: &'a aws_sdk_guardduty::Client,
    pub region: &'a str,
    pub detector: &'a str,
}

/// The window opened from the checkpoint (or the lookback).
struct Opened {
    name: Option<String>,
    previous: Option<Checkpoint>,
    window: Window,
}

/// What a run carries from page to page besides the cursor.
struct Progress {
    run: DetectorRun,
    strikes: BTreeMap<String, Strike>,
    /// Destinations that delivered something this run (so they work).
    working: HashSet<&'static str>,
    received_at: String,
}

/// `deadline` less `margin`, for work that must leave time after it.
fn earlier(deadline: Deadline, margin: Duration) -> Deadline {
    match deadline.remaining() {
        None => Deadline::none(),
        Some(left) => Instant::now()
            .checked_add(left.saturating_sub(margin))
            .map_or(deadline, Deadline::at),
    }
}

fn updated_ms(finding: &Value) -> Option<i64> {
    finding
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(epoch_ms)
}

impl Job<'_> {
    pub async fn run(self, deadline: Deadline) -> DetectorRun {
        let mut p = Progress {
            run: DetectorRun::new(self.region, self.detector),
            strikes: BTreeMap::new(),
            working: HashSet::new(),
            received_at: now_rfc3339(),
        };
        let opened = match self.open(deadline).await {
            Ok(o) => o,
            Err(e) => {
                p.run.errors.push(e);
                return p.run;
            }
        };
        let cfg = self.backfill.config;
        let cap = self.req.max_findings.unwrap_or(cfg.max_findings);
        let remembered = opened.previous.as_ref().map(|c| c.ids.clone());
        p.strikes = opened
            .previous
            .as_ref()
            .map(|c| c.strikes.clone())
            .unwrap_or_default();
        let mut cursor = Cursor::new(
            opened.window,
            &remembered.unwrap_or_default(),
            cap,
            cap.saturating_mul(HARD_LIMIT_FACTOR),
        );
        self.pages(&mut cursor, &mut p, earlier(deadline, WRAP_UP))
            .await;
        self.close(&cursor, opened, &mut p, deadline).await;
        p.run
    }

    async fn open(&self, deadline: Deadline) -> Result<Opened, BackfillError> {
        let cfg = self.backfill.config;
        let now = now_ms();
        let name = match (&self.req.window, &cfg.checkpoint_parameter) {
            (None, Some(prefix)) => Some(checkpoint::parameter_name(
                prefix,
                self.region,
                self.detector,
            )),
            _ => None,
        };
        let previous = match &name {
            Some(name) => {
                let budget = Budget::within(deadline).ok_or(BackfillError::OutOfTime {
                    operation: "read the checkpoint",
                })?;
                let ssm = self.backfill.reader.ssm().await;
                checkpoint::read(ssm, name, &budget).await?
            }
            None => None,
        };
        let (start, upper) = match (&previous, self.req.window) {
            (Some(c), _) => (c.start_ms().unwrap_or(0), ms_before(now, cfg.settle)),
            // A fixed window moves no checkpoint: it may end at now.
            (None, Some(w)) => (w.start_ms, w.end_ms.map_or(now, |end| end.min(now))),
            (None, None) => (ms_before(now, cfg.lookback), ms_before(now, cfg.settle)),
        };
        Ok(Opened {
            name,
            previous,
            window: Window { start, upper },
        })
    }

    /// Lists, fetches and delivers page by page until the cursor is done or stopped.
    async fn pages(&self, cursor: &mut Cursor, p: &mut Progress, deadline: Deadline) {
        let include_archived = self.backfill.config.include_archived;
        while let Some(query) = cursor.query() {
            let Some(budget) = Budget::within(deadline) else {
                cursor.stop(Stop::Deadline);
                break;
            };
            let listed = guardduty::list_page(
                self.client,
                self.detector,
                &query,
                include_archived,
                self.backfill.config.rule_min_severity,
                &budget,
            )
            .await;
            let (ids, token) = match listed {
                Ok(page) => page,
                Err(e) => {
                    p.run.errors.push(e);
                    cursor.stop(Stop::Error);
                    break;
                }
            };
            let take = cursor.listed(&ids, token.as_deref());
            if cursor.token_repeated() {
                warn!(
                    message = "GuardDuty repeated a nextToken, or its pages held nothing new; ending this listing.",
                    region = self.region,
                    detector = self.detector
                );
            }
            if take.is_empty() {
                continue;
            }
            let Some(budget) = Budget::within(deadline) else {
                cursor.stop(Stop::Deadline);
                break;
            };
            match guardduty::fetch_checked(self.client, self.detector, &take, &budget).await {
                Ok((found, missing)) => {
                    for id in &missing {
                        warn!(message = "GetFindings did not return a listed finding; the checkpoint stops before it.",
                              region = self.region, detector = self.detector, finding_id = %id);
                        cursor.settle(id, State::Missing);
                    }
                    self.deliver_page(cursor, found, p, deadline).await;
                }
                Err(e) => {
                    p.run.errors.push(e);
                    cursor.stop(Stop::Error);
                    break;
                }
            }
            if self.req.progress {
                eprintln!(
                    "backfill: {}/{}: {} finding(s) fetched",
                    self.region,
                    self.detector,
                    cursor.taken()
                );
            }
        }
    }

    /// Delivers one fetched page and settles each of its positions.
    async fn deliver_page(
        &self,
        cursor: &mut Cursor,
        found: Vec<Value>,
        p: &mut Progress,
        deadline: Deadline,
    ) {
        let mut page: Vec<Value> = Vec::with_capacity(found.len());
        for f in found {
            let admit = match finding_id(&f) {
                Some(id) => cursor.fetched(id, updated_ms(&f)),
                None => Admit::Unknown,
            };
            match admit {
                Admit::Deliver => page.push(f),
                Admit::Skip => {}
                Admit::Unknown => warn!(
                    message = "GetFindings returned a finding not asked for; ignored.",
                    region = self.region,
                    detector = self.detector
                ),
            }
        }
        if page.is_empty() {
            return;
        }
        let mut outcome = self.forward(&page, p, deadline).await;
        if page.len() > 1 && refused_whole(&outcome, &p.working) {
            outcome = self.forward_one_by_one(&page, p, deadline).await;
        }
        let mut failures: HashMap<String, Vec<Failure>> = HashMap::new();
        for f in &outcome.failures {
            failures
                .entry(f.finding_id.clone())
                .or_default()
                .push(f.clone());
        }
        for finding in &page {
            let Some(id) = finding_id(finding) else {
                continue;
            };
            let state = match failures.get(id) {
                None => {
                    p.strikes.remove(id);
                    State::Delivered
                }
                Some(fs) => {
                    self.settle_failed(finding, id, fs, p, &mut outcome, deadline)
                        .await
                }
            };
            cursor.settle(id, state);
        }
        p.run.outcome.add(outcome);
    }

    /// Forwards `findings` and notes which destinations took something.
    async fn forward(&self, findings: &[Value], p: &mut Progress, deadline: Deadline) -> Outcome {
        let incoming: Vec<Incoming> = findings
            .iter()
            .map(|finding| Incoming {
                event_id: None,
                finding: finding.clone().into(),
            })
            .collect();
        let via = self.req.via.unwrap_or(Via::Backfill);
        let outcome = self
            .backfill
            .forwarder
            .forward(&incoming, via, &p.received_at, deadline)
            .await;
        for (sink, (ok, _)) in &outcome.per_sink {
            if *ok > 0 {
                p.working.insert(sink);
            }
        }
        outcome
    }

    /// A page a destination refused as a whole (one bad record makes many collectors answer
    /// 400 for the whole request) is offered again one finding at a time, so each finding
    /// gets its own verdict: the good ones go through and only a bad one counts toward
    /// quarantine. A destination that refuses the first few alone too refuses everything
    /// (bad credentials, say): the rest is offered once more as one request.
    async fn forward_one_by_one(
        &self,
        page: &[Value],
        p: &mut Progress,
        deadline: Deadline,
    ) -> Outcome {
        const PROBES: usize = 3;
        let mut total = Outcome::default();
        let mut tried = 0;
        for finding in page {
            if tried >= PROBES && total.forwarded == 0 {
                break;
            }
            total.add(
                self.forward(std::slice::from_ref(finding), p, deadline)
                    .await,
            );
            tried += 1;
        }
        if let Some(rest) = page.get(tried..).filter(|r| !r.is_empty()) {
            total.add(self.forward(rest, p, deadline).await);
        }
        total
    }

    /// A finding that failed: transient (tried again next run), or poison (counted, and set
    /// aside once it has failed permanently in enough consecutive runs).
    async fn settle_failed(
        &self,
        finding: &Value,
        id: &str,
        failures: &[Failure],
        p: &mut Progress,
        outcome: &mut Outcome,
        deadline: Deadline,
    ) -> State {
        // Permanent for this record: it cannot be normalized, it is too large, or a
        // destination that takes other records refuses it (not a destination refusing all).
        let poison = failures.iter().find(|f| {
            f.is_permanent()
                && (f.cause.is_none()
                    || matches!(f.cause, Some(crate::sink::DeliveryError::Oversize { .. }))
                    || p.working.contains(f.sink))
        });
        let Some(poison) = poison else {
            p.strikes.remove(id);
            return State::Failed;
        };
        let cfg = self.backfill.config;
        let now = now_rfc3339();
        let strike = match quarantine::strike(&mut p.strikes, id, &now, cfg.quarantine_after) {
            Verdict::Hold(s) => {
                warn!(message = "Finding failed permanently; it is held and tried again next run.",
                      region = self.region, detector = self.detector, finding_id = %id,
                      failed_runs = s.runs, quarantine_after = cfg.quarantine_after);
                return State::Failed;
            }
            Verdict::SetAside(s) => s,
        };
        let Some(queue) = cfg.dlq_url.as_deref() else {
            warn!(message = "Poison finding held: DLQ_URL is not set, so it cannot be set aside and keeps holding the checkpoint.",
                  region = self.region, detector = self.detector, finding_id = %id, failed_runs = strike.runs);
            return State::Failed;
        };
        let message = quarantine::Message {
            kind: quarantine::KIND,
            version: 1,
            finding,
            region: self.region,
            detector_id: self.detector,
            destination: poison.sink,
            error: &poison.error,
            failed_runs: strike.runs,
            first_failed_at: &strike.first_failed_at,
            quarantined_at: &now,
        };
        let sent = match Budget::within(deadline) {
            None => Err(BackfillError::OutOfTime {
                operation: "set a poison finding aside",
            }),
            Some(b) => {
                quarantine::send(self.backfill.reader.sqs().await, queue, &message, &b).await
            }
        };
        if let Err(e) = sent {
            p.run.errors.push(e);
            return State::Failed;
        }
        warn!(message = "Poison finding set aside in the dead-letter queue.", region = self.region,
              detector = self.detector, finding_id = %id, destination = poison.sink,
              failed_runs = strike.runs, error = %poison.error);
        p.strikes.remove(id);
        outcome.failures.retain(|f| f.finding_id != id);
        outcome.failed = outcome.failed.saturating_sub(1);
        outcome.quarantined += 1;
        State::Delivered
    }

    /// Reports a stop, and writes the checkpoint when it moved.
    async fn close(&self, cursor: &Cursor, opened: Opened, p: &mut Progress, deadline: Deadline) {
        let mark = cursor.mark();
        p.run.reached_ms = cursor.reached_ms();
        let behind = now_ms().saturating_sub(mark.ms).max(0) / 1000;
        if let Some(stop) = cursor.stopped() {
            p.run.outcome.truncated += 1;
            warn!(message = "Backfill truncated: the run stopped before the end of its window.",
                  reason = stop.as_str(), region = self.region, detector = self.detector,
                  reached = %format_ms(mark.ms), behind_seconds = behind);
        }
        if let Some(name) = opened.name.as_ref().filter(|_| !self.req.keep_state) {
            // Strikes of findings this run never met again (archived, or updated into a
            // deliverable version) are stale: dropped, so they cannot crowd a live poison
            // finding out of the kept few. A run that settled nothing keeps them all.
            if cursor.settled_any() {
                p.strikes.retain(|id, _| cursor.settled(id));
            }
            quarantine::trim(&mut p.strikes);
            let next = Checkpoint {
                updated_at: format_ms(mark.ms),
                ids: mark.ids,
                strikes: std::mem::take(&mut p.strikes),
            };
            if opened.previous.as_ref() != Some(&next) {
                let written = match Budget::within(deadline) {
                    None => Err(BackfillError::OutOfTime {
                        operation: "write the checkpoint",
                    }),
                    Some(b) => {
                        checkpoint::write(self.backfill.reader.ssm().await, name, &next, &b).await
                    }
                };
                if let Err(e) = written {
                    p.run.errors.push(e);
                }
            }
        }
        let o = &p.run.outcome;
        info!(message = "Backfill of detector done.", region = self.region, detector = self.detector,
              window_start = %format_ms(opened.window.start), window_end = %format_ms(opened.window.upper),
              next_start = %format_ms(mark.ms), received = o.received, forwarded = o.forwarded,
              failed = o.failed, quarantined = o.quarantined);
    }
}

/// Whether a destination that has delivered nothing this run refused every record of a
/// request as such (not a transient failure): the sign of a request refused as a whole.
fn refused_whole(outcome: &Outcome, working: &HashSet<&'static str>) -> bool {
    outcome.forwarded == 0
        && !outcome.failures.is_empty()
        && outcome.failures.iter().all(|f| {
            matches!(f.cause, Some(crate::sink::DeliveryError::Rejected(_)))
                && !working.contains(f.sink)
        })
}
