//! The path every finding takes, whatever brought it: normalize and encode, apply
//! `MIN_SEVERITY`, deliver to every destination, and count the outcome. Holds no state
//! between calls: only the destinations' clients and the configuration outlive a call.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::{debug, error};

use crate::intake::Incoming;
use crate::normalize::{Ingest, OutputSchema, Severity, Via};
use crate::record::{EncodedRecord, encode};
use crate::retry::Deadline;
use crate::sink::{DeliveryError, Sink};

/// A finding that could not be delivered, to one or more destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub finding_id: String,
    pub sink: &'static str,
    pub error: String,
    /// What the destination said; `None` when the finding could not even be normalized.
    /// [`DeliveryError::is_permanent`] tells whether trying again can help.
    pub cause: Option<DeliveryError>,
}

impl Failure {
    /// Whether trying again cannot help: a record that cannot be normalized, or one the
    /// destination refused (too large, rejected).
    pub fn is_permanent(&self) -> bool {
        self.cause.as_ref().is_none_or(DeliveryError::is_permanent)
    }
}

/// Counts of one run (the handler's response and the metrics), plus what failed.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub received: u64,
    pub forwarded: u64,
    pub skipped: u64,
    pub failed: u64,
    #[serde(skip)]
    pub failures: Vec<Failure>,
    /// Ids of the findings `MIN_SEVERITY` skipped.
    #[serde(skip)]
    pub skipped_ids: Vec<String>,
    /// Per destination: records delivered and records failed.
    #[serde(skip)]
    pub per_sink: BTreeMap<&'static str, (u64, u64)>,
    #[serde(skip)]
    pub retries: u64,
    /// Records over a destination's per-event limit: shrunk to fit, or refused.
    #[serde(skip)]
    pub oversize: u64,
    /// [`Outcome::oversize`] per destination.
    #[serde(skip)]
    pub oversize_by_sink: BTreeMap<&'static str, u64>,
    /// Backfill: poison findings set aside in the dead-letter queue.
    #[serde(skip)]
    pub quarantined: u64,
    /// Backfill: detector runs that stopped before their window's end.
    #[serde(skip)]
    pub truncated: u64,
    /// Backfill: finding versions the rescan behind the checkpoint found that had never
    /// been delivered (listed late by GuardDuty).
    #[serde(skip)]
    pub late: u64,
    /// Backfill: detector runs that ended where they began while a finding held them.
    #[serde(skip)]
    pub stalled: u64,
    /// Backfill: ids ListFindings kept returning and GetFindings never did, skipped.
    #[serde(skip)]
    pub unfetchable: u64,
    /// Backfill: poison findings the dead-letter queue refused.
    #[serde(skip)]
    pub quarantine_failed: u64,
    /// Backfill: age in seconds of the oldest position not yet delivered.
    #[serde(skip)]
    pub backfill_lag_seconds: Option<u64>,
    /// Records that went without their account's context because the lookup failed.
    #[serde(skip)]
    pub enrichment_failed: u64,
}

impl Outcome {
    pub fn add(&mut self, other: Outcome) {
        self.received += other.received;
        self.forwarded += other.forwarded;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.failures.extend(other.failures);
        self.skipped_ids.extend(other.skipped_ids);
        for (k, (ok, bad)) in other.per_sink {
            let e = self.per_sink.entry(k).or_default();
            e.0 += ok;
            e.1 += bad;
        }
        self.retries += other.retries;
        self.oversize += other.oversize;
        for (k, n) in other.oversize_by_sink {
            *self.oversize_by_sink.entry(k).or_default() += n;
        }
        self.quarantined += other.quarantined;
        self.truncated += other.truncated;
        self.late += other.late;
        self.stalled += other.stalled;
        self.unfetchable += other.unfetchable;
        self.quarantine_failed += other.quarantine_failed;
        self.enrichment_failed += other.enrichment_failed;
        // The oldest undelivered position of all: the worst detector is what the lag limit
        // must see.
        self.backfill_lag_seconds = match (self.backfill_lag_seconds, other.backfill_lag_seconds) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// One line naming how many failed and the first reasons, for errors and summaries.
    pub fn failure_summary(&self) -> String {
        let mut s = format!(
            "{} of {} finding(s) could not be delivered",
            self.failed, self.received
        );
        for f in self.failures.iter().take(3) {
            s.push_str(&format!("; {} to {}: {}", f.finding_id, f.sink, f.error));
        }
        if self.failures.len() > 3 {
            s.push_str(&format!("; and {} more", self.failures.len() - 3));
        }
        s
    }
}

pub struct Forwarder {
    sinks: Vec<Box<dyn Sink>>,
    min_severity: Severity,
    schema: OutputSchema,
    context: Option<crate::context::Enricher>,
}

impl Forwarder {
    pub fn new(sinks: Vec<Box<dyn Sink>>, min_severity: Severity, schema: OutputSchema) -> Self {
        Forwarder {
            sinks,
            min_severity,
            schema,
            context: None,
        }
    }

    /// With account context looked up for every batch.
    pub fn with_context(mut self, context: crate::context::Enricher) -> Self {
        self.context = Some(context).filter(crate::context::Enricher::is_on);
        self
    }

    pub fn sink_names(&self) -> Vec<&'static str> {
        self.sinks.iter().map(|s| s.name()).collect()
    }

    /// Whether a record passes `MIN_SEVERITY`. A record without a readable severity passes:
    /// nothing is dropped on a guess.
    fn wanted(&self, severity: Option<Severity>) -> bool {
        severity.is_none_or(|s| s >= self.min_severity)
    }

    /// Forwards a batch of findings to every destination.
    pub async fn forward(
        &self,
        findings: &[Incoming],
        via: Via,
        received_at: &str,
        deadline: Deadline,
    ) -> Outcome {
        let mut outcome = Outcome {
            received: findings.len() as u64,
            ..Outcome::default()
        };
        let mut records: Vec<EncodedRecord> = Vec::with_capacity(findings.len());
        let account_of = |i: &Incoming| {
            self.context.as_ref()?;
            crate::context::account_of(i.finding.view())
        };
        let accounts = match &self.context {
            Some(c) => {
                c.lookup(findings.iter().filter_map(account_of), deadline)
                    .await
            }
            None => crate::context::Accounts::default(),
        };
        for incoming in findings {
            let account = account_of(incoming);
            let ingest = Ingest::new(via, incoming.event_id.as_deref(), received_at)
                .with_account(accounts.get(account.as_deref()));
            match encode(&incoming.finding, &ingest, self.schema) {
                Ok(r) if self.wanted(r.severity) => {
                    outcome.enrichment_failed += u64::from(accounts.failed(account.as_deref()));
                    records.push(r);
                }
                Ok(r) => {
                    debug!(message = "Finding below MIN_SEVERITY skipped.", finding_id = %r.id,
                           finding_type = r.finding_type.as_deref().unwrap_or_default(),
                           severity = r.severity_str());
                    outcome.skipped += 1;
                    outcome.skipped_ids.push(r.id);
                }
                Err(e) => {
                    // Intake checks ids first, so this is rare: count it, never drop it quietly.
                    outcome.failed += 1;
                    let finding_id = crate::normalize::finding_id(incoming.finding.view())
                        .map(|id| id.into_owned())
                        .unwrap_or_else(|_| "(no id)".into());
                    error!(message = "Finding could not be normalized.", finding_id = %finding_id, error = %e);
                    outcome.failures.push(Failure {
                        finding_id,
                        sink: "normalize",
                        error: e.to_string(),
                        cause: None,
                    });
                }
            }
        }
        if records.is_empty() {
            return outcome;
        }
        let mut failed_by_index: Vec<bool> = vec![false; records.len()];
        let deliveries = futures_util::future::join_all(
            self.sinks.iter().map(|s| s.deliver(&records, deadline)),
        )
        .await;
        for (sink, delivery) in self.sinks.iter().zip(deliveries) {
            let name = sink.name();
            outcome.retries += delivery.retries;
            let oversize = delivery.shrunk
                + delivery
                    .failed
                    .iter()
                    .filter(|(_, e)| matches!(e, DeliveryError::Oversize { .. }))
                    .count() as u64;
            if oversize > 0 {
                outcome.oversize += oversize;
                *outcome.oversize_by_sink.entry(name).or_default() += oversize;
            }
            let failed_here = delivery.failed.len() as u64;
            let entry = outcome.per_sink.entry(name).or_default();
            entry.0 += records.len() as u64 - failed_here.min(records.len() as u64);
            entry.1 += failed_here;
            for (i, err) in delivery.failed {
                let Some(record) = records.get(i) else {
                    continue;
                };
                error!(message = "Delivery failed.", sink = name, finding_id = %record.id,
                       finding_type = record.finding_type.as_deref().unwrap_or_default(),
                       severity = record.severity_str(), error = %err);
                if let Some(flag) = failed_by_index.get_mut(i) {
                    *flag = true;
                }
                outcome.failures.push(Failure {
                    finding_id: record.id.clone(),
                    sink: name,
                    error: err.to_string(),
                    cause: Some(err.clone()),
                });
            }
        }
        let failed = failed_by_index.iter().filter(|f| **f).count() as u64;
        outcome.failed += failed;
        outcome.forwarded += records.len() as u64 - failed;
        outcome
    }
}
