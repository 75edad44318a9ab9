//! What one run of the pipeline did: counts for the handler's response and the metrics, and
//! each finding that did not reach a destination, with why.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::sink::DeliveryError;

/// A destination's name, as configured (`DESTINATIONS`), or its type for the one-destination
/// variables (`sqs`, `https`, …). Cheap to clone: every failure and count carries one.
pub type DestinationName = Arc<str>;

/// A finding that could not be delivered, to one or more destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub finding_id: String,
    /// The destination that could not take it (`normalize` when it could not be encoded).
    pub sink: DestinationName,
    pub error: String,
    /// What the destination said; `None` when the finding could not even be normalized.
    /// [`DeliveryError::is_permanent`] tells whether trying again can help.
    pub cause: Option<DeliveryError>,
    /// Its position in the findings given to `forward`.
    pub index: usize,
    /// Whether another destination took it: then this destination's failure is its own,
    /// kept for it alone (see `crate::park`), and the finding is never sent again to the
    /// others.
    pub delivered_elsewhere: bool,
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
    pub per_sink: BTreeMap<DestinationName, (u64, u64)>,
    #[serde(skip)]
    pub retries: u64,
    /// Records over a destination's per-event limit: shrunk to fit, or refused.
    #[serde(skip)]
    pub oversize: u64,
    /// [`Outcome::oversize`] per destination.
    #[serde(skip)]
    pub oversize_by_sink: BTreeMap<DestinationName, u64>,
    /// Findings a destination could not take while another did, kept in the dead-letter
    /// queue for that destination alone (counted once per destination).
    #[serde(skip)]
    pub parked: u64,
    /// Dead-letter messages sent again to their destination by the scheduled run.
    #[serde(skip)]
    pub redriven: u64,
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
        self.parked += other.parked;
        self.redriven += other.redriven;
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
