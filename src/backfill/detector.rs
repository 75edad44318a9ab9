//! One region × detector's run against AWS: the [`Port`] of the engine in `run.rs`, with
//! every call bounded by the invocation's remaining time ([`Budget`]).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::budget::Budget;
use super::checkpoint::{self, Checkpoint};
use super::cursor::Query;
use super::guardduty;
use super::quarantine;
use super::run::{self, DetectorRun, Loaded, Plan, Port, SetAside};
use super::state::{Acquired, Lease, Store};
use super::{Backfill, BackfillError, Request};
use crate::clock::{duration_ms, now_ms, now_rfc3339};
use crate::intake::Incoming;
use crate::normalize::Via;
use crate::pipeline::Outcome;
use crate::retry::Deadline;

/// Time kept back from the deadline to deliver the last page and write the checkpoint.
const WRAP_UP: Duration = Duration::from_secs(4);
/// A lease outlives the invocation's deadline by this much (clock skew between invocations).
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// A lease taken outside Lambda (no deadline): the CLI's run.
const CLI_LEASE: Duration = Duration::from_secs(15 * 60);

/// One region × detector to run.
pub struct Job<'a> {
    pub backfill: Backfill<'a>,
    pub req: &'a Request,
    pub client: &'a aws_sdk_guardduty::Client,
    pub region: &'a str,
    pub detector: &'a str,
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

impl Job<'_> {
    pub async fn run(self, deadline: Deadline) -> DetectorRun {
        let cfg = self.backfill.config;
        let now = now_ms();
        let plan = Plan {
            cap: self.req.max_findings.unwrap_or(cfg.max_findings),
            quarantine_after: cfg.quarantine_after,
            settle_ms: duration_ms(cfg.settle),
            lookback_ms: duration_ms(cfg.lookback),
            rescan_ms: duration_ms(cfg.rescan),
            fixed: self
                .req
                .window
                .map(|w| (w.start_ms, w.end_ms.map_or(now, |e| e.min(now)))),
            keep_state: self.req.keep_state,
            tick: self.req.tick.clone(),
            progress: self.req.progress,
        };
        let checkpoint = match (&self.req.window, &cfg.checkpoint_parameter) {
            (None, Some(prefix)) => Some(checkpoint::parameter_name(
                prefix,
                self.region,
                self.detector,
            )),
            _ => None,
        };
        let port = AwsPort {
            job: &self,
            deadline,
            listing: earlier(deadline, WRAP_UP),
            checkpoint,
            lease: std::sync::Mutex::new(None),
        };
        run::run(&port, &plan, DetectorRun::new(self.region, self.detector)).await
    }
}

/// The engine's world: GuardDuty, the destinations, SSM and the dead-letter queue.
struct AwsPort<'a> {
    job: &'a Job<'a>,
    deadline: Deadline,
    /// The deadline for listing: [`WRAP_UP`] before the invocation's.
    listing: Deadline,
    checkpoint: Option<String>,
    /// The state table's lease, while this run holds it.
    lease: std::sync::Mutex<Option<Lease>>,
}

impl AwsPort<'_> {
    async fn store(&self) -> Option<Store<'_>> {
        let table = self.job.backfill.config.state_table.as_ref()?;
        Some(Store {
            client: self.job.backfill.reader.dynamodb().await,
            table: &table.table,
            prefix: &table.prefix,
        })
    }

    fn take_lease(&self) -> Option<Lease> {
        self.lease.lock().ok().and_then(|mut l| l.take())
    }

    /// The SSM checkpoint of a version without the state table (read once, to migrate).
    async fn read_ssm(&self) -> Result<Option<Checkpoint>, BackfillError> {
        let Some(name) = &self.checkpoint else {
            return Ok(None);
        };
        let budget = self.budget("read the checkpoint")?;
        let ssm = self.job.backfill.reader.ssm().await;
        checkpoint::read(ssm, name, &budget).await
    }

    /// Opens the state in the table under a lease; an empty item migrates the SSM checkpoint.
    async fn load_table(&self, store: Store<'_>) -> Result<Loaded, BackfillError> {
        let key = store.key(self.job.region, self.job.detector);
        let owner = format!("{}-{:016x}", now_ms(), fastrand::u64(..));
        let now = now_ms();
        let until = now.saturating_add(duration_ms(
            self.deadline.remaining().unwrap_or(CLI_LEASE) + LEASE_MARGIN,
        ));
        let budget = self.budget("read the backfill state")?;
        match store.acquire(&key, &owner, now, until, &budget).await? {
            Acquired::Held { owner, until_ms } => Ok(Loaded::Held { owner, until_ms }),
            Acquired::Taken { lease, body } => {
                if let Ok(mut l) = self.lease.lock() {
                    *l = Some(lease);
                }
                match body {
                    Some(body) => parse_state(&key, &body).map(Loaded::State),
                    None => Ok(self.read_ssm().await?.map_or(Loaded::Empty, Loaded::State)),
                }
            }
        }
    }
    fn budget(&self, operation: &'static str) -> Result<Budget, BackfillError> {
        Budget::within(self.deadline).ok_or(BackfillError::OutOfTime { operation })
    }
}

/// A stored state as the table holds it; one whose mark is not a time is refused (it would
/// start the window at 1970 and send every finding again), naming the key.
fn parse_state(key: &str, body: &str) -> Result<Checkpoint, BackfillError> {
    let invalid = |problem: String| BackfillError::StateInvalid {
        key: key.to_string(),
        problem,
    };
    let cp: Checkpoint = serde_json::from_str(body).map_err(|e| invalid(e.to_string()))?;
    if cp.start_ms().is_none() {
        return Err(invalid(format!(
            "updated_at {:?} is not an RFC 3339 time",
            cp.updated_at
        )));
    }
    Ok(cp)
}

impl Port for AwsPort<'_> {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn out_of_time(&self) -> bool {
        Budget::within(self.listing).is_none()
    }

    async fn load(&self) -> Result<Loaded, BackfillError> {
        if let Some(store) = self.store().await {
            return self.load_table(store).await;
        }
        Ok(self.read_ssm().await?.map_or(Loaded::Empty, Loaded::State))
    }

    async fn save(&self, state: &Checkpoint) -> Result<(), BackfillError> {
        if let Some(store) = self.store().await {
            let Some(lease) = self.take_lease() else {
                return Ok(());
            };
            let body = serde_json::to_string(state).map_err(|e| BackfillError::StateInvalid {
                key: lease.key.clone(),
                problem: e.to_string(),
            })?;
            let budget = self.budget("write the backfill state")?;
            return Ok(store.commit(&lease, &body, &budget).await?);
        }
        let Some(name) = &self.checkpoint else {
            return Ok(());
        };
        let budget = self.budget("write the checkpoint")?;
        let ssm = self.job.backfill.reader.ssm().await;
        checkpoint::write(ssm, name, state, &budget).await
    }

    async fn release(&self) {
        let (Some(store), Some(lease)) = (self.store().await, self.take_lease()) else {
            return;
        };
        if let Ok(budget) = self.budget("release the backfill state")
            && let Err(e) = store.release(&lease, &budget).await
        {
            tracing::warn!(message = "Releasing the backfill state's lease failed; it expires by itself.",
                           key = %lease.key, error = %e);
        }
    }

    async fn list(&self, query: &Query) -> Result<(Vec<String>, Option<String>), BackfillError> {
        let budget = self.budget("list findings")?;
        let cfg = self.job.backfill.config;
        guardduty::list_page(
            self.job.client,
            self.job.detector,
            query,
            cfg.include_archived,
            cfg.rule_min_severity,
            &budget,
        )
        .await
    }

    async fn get(&self, ids: &[String]) -> Result<(Vec<Value>, Vec<String>), BackfillError> {
        let budget = self.budget("get findings")?;
        guardduty::fetch_checked(self.job.client, self.job.detector, ids, &budget).await
    }

    async fn deliver(&self, findings: &[Value]) -> Outcome {
        let incoming: Vec<Incoming> = findings
            .iter()
            .map(|finding| Incoming {
                event_id: None,
                finding: finding.clone().into(),
            })
            .collect();
        let via = self.job.req.via.unwrap_or(Via::Backfill);
        let mut outcome = self
            .job
            .backfill
            .forwarder
            .forward(&incoming, via, &now_rfc3339(), self.deadline)
            .await;
        // What one destination could not take while another did waits in the DLQ for that
        // one: the run moves on, and the others never get it twice.
        if let Some(queue_url) = self.job.backfill.config.dlq_url.as_deref()
            && crate::park::needed(&outcome)
        {
            let sqs = self.job.backfill.reader.sqs_for(queue_url).await;
            let to = crate::park::DeadLetters {
                sqs: &sqs,
                queue_url,
                deadline: self.deadline,
            };
            crate::park::settle(&mut outcome, &incoming, via, &to).await;
        }
        outcome
    }

    async fn quarantine(&self, finding: &Value, why: &SetAside<'_>) -> Result<bool, BackfillError> {
        let Some(queue) = self.job.backfill.config.dlq_url.as_deref() else {
            return Ok(false);
        };
        let message = quarantine::Message {
            kind: quarantine::KIND,
            version: 1,
            finding,
            region: self.job.region,
            detector_id: self.job.detector,
            destination: why.destination,
            error: why.error,
            failed_runs: why.strike.runs,
            first_failed_at: &why.strike.first_failed_at,
            quarantined_at: why.now,
        };
        let budget = self.budget("set a poison finding aside")?;
        let sqs = self.job.backfill.reader.sqs_for(queue).await;
        quarantine::send(&sqs, queue, &message, &budget).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_whose_mark_is_not_a_time_is_refused_naming_its_key() {
        let err = parse_state("us-east-1/d", r#"{"updated_at":"yesterday","ids":[]}"#)
            .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("us-east-1/d") && text.contains("yesterday"),
            "{text}"
        );
        assert!(parse_state("k", "not json").is_err());
        let ok = parse_state("k", r#"{"updated_at":"2026-11-22T10:00:00.123Z"}"#).expect("read");
        assert_eq!(ok.updated_at, "2026-11-22T10:00:00.123Z");
    }
}
