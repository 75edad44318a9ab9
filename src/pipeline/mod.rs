//! The path every finding takes, whatever brought it: normalize and encode, apply
//! `MIN_SEVERITY`, route each record to the destinations whose filter admits it, deliver, and
//! count the outcome. Holds no state between calls: only the destinations' clients and the
//! configuration outlive a call.
//!
//! Invariants (checked by the tests below and in `tests/routing.rs`):
//! - A record reaches exactly the destinations whose filter admits it; one no filter admits
//!   is counted `skipped`, never `forwarded`.
//! - Every destination's failure of a record is reported once, naming that destination, with
//!   `delivered_elsewhere` true exactly when another destination took the record.
//! - `forwarded + skipped + failed == received`.

mod outcome;

use std::sync::Arc;

use tracing::{debug, error};

pub use outcome::{DestinationName, Failure, Outcome};

use crate::intake::Incoming;
use crate::normalize::{Ingest, OutputSchema, Severity, Via};
use crate::record::{EncodedRecord, encode};
use crate::retry::Deadline;
use crate::route::{Filter, Miss};
use crate::sink::{Delivery, DeliveryError, Sink};

/// One destination: its name, its filter, and the sink that sends to it.
pub struct Route {
    pub name: DestinationName,
    pub filter: Filter,
    pub sink: Box<dyn Sink>,
}

impl Route {
    pub fn new(name: &str, filter: Filter, sink: Box<dyn Sink>) -> Self {
        Route {
            name: Arc::from(name),
            filter,
            sink,
        }
    }
}

pub struct Forwarder {
    routes: Vec<Route>,
    min_severity: Severity,
    schema: OutputSchema,
    /// Account context looked up for every batch (`ACCOUNT_CONTEXT`), when on.
    context: Option<crate::context::Enricher>,
}

/// Where one finding would go, and why (`forward --explain`).
#[derive(Debug)]
pub struct Explanation {
    pub finding_id: String,
    pub severity: &'static str,
    pub finding_type: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// Why no destination is considered: below `MIN_SEVERITY`, or not a finding it can encode.
    pub dropped: Option<String>,
    /// Each destination, and the condition that keeps the record from it (if any).
    pub routes: Vec<(DestinationName, Result<(), Miss>)>,
}

/// The records of one call and where they came from.
struct Encoded {
    records: Vec<EncodedRecord>,
    /// For each record, its index in the findings given.
    origin: Vec<usize>,
}

impl Forwarder {
    pub fn new(routes: Vec<Route>, min_severity: Severity, schema: OutputSchema) -> Self {
        Forwarder {
            routes,
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

    /// A forwarder of `sinks`, each named after its type and unfiltered.
    pub fn unfiltered(
        sinks: Vec<Box<dyn Sink>>,
        min_severity: Severity,
        schema: OutputSchema,
    ) -> Self {
        let routes = sinks
            .into_iter()
            .map(|s| Route::new(s.name(), Filter::default(), s))
            .collect();
        Self::new(routes, min_severity, schema)
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Whether a record passes `MIN_SEVERITY`. A record without a readable severity passes:
    /// nothing is dropped on a guess.
    fn wanted(&self, severity: Option<Severity>) -> bool {
        severity.is_none_or(|s| s >= self.min_severity)
    }

    /// Forwards a batch of findings to every destination whose filter admits them.
    pub async fn forward(
        &self,
        findings: &[Incoming],
        via: Via,
        received_at: &str,
        deadline: Deadline,
    ) -> Outcome {
        self.forward_where(findings, via, received_at, deadline, |_| true)
            .await
    }

    /// Forwards a batch to the destination `name` alone (when its filter admits them): a
    /// dead-letter message kept for one destination goes back to that one only.
    pub async fn forward_to(
        &self,
        name: &str,
        findings: &[Incoming],
        via: Via,
        received_at: &str,
        deadline: Deadline,
    ) -> Outcome {
        self.forward_where(findings, via, received_at, deadline, |r| &*r.name == name)
            .await
    }

    async fn forward_where(
        &self,
        findings: &[Incoming],
        via: Via,
        received_at: &str,
        deadline: Deadline,
        pick: impl Fn(&Route) -> bool,
    ) -> Outcome {
        let mut outcome = Outcome {
            received: findings.len() as u64,
            ..Outcome::default()
        };
        let accounts = self.accounts_of(findings, deadline).await;
        let encoded = self.encode_all(findings, via, received_at, &accounts, &mut outcome);
        let routes: Vec<&Route> = self.routes.iter().filter(|r| pick(r)).collect();
        let subsets: Vec<Vec<usize>> = routes
            .iter()
            .map(|r| {
                (0..encoded.records.len())
                    .filter(|&i| r.filter.admits(&encoded.records[i].keys()).is_ok())
                    .collect()
            })
            .collect();
        // How many destinations each record goes to, and how many of them took it.
        let mut routed = vec![0u32; encoded.records.len()];
        for &i in subsets.iter().flatten() {
            routed[i] += 1;
        }
        for (i, r) in encoded.records.iter().enumerate() {
            if routed[i] == 0 {
                debug!(message = "Finding matches no destination's filter; skipped.", finding_id = %r.id,
                       finding_type = r.finding_type.as_deref().unwrap_or_default(),
                       severity = r.severity_str());
                outcome.skipped += 1;
                outcome.skipped_ids.push(r.id.clone());
            }
        }
        let deliveries = futures_util::future::join_all(
            routes
                .iter()
                .zip(&subsets)
                .map(|(r, subset)| deliver_subset(&*r.sink, &encoded.records, subset, deadline)),
        )
        .await;
        let mut took = routed.clone();
        let mut failures = Vec::new();
        for ((route, subset), delivery) in routes.iter().zip(&subsets).zip(deliveries) {
            count(&mut outcome, route, subset.len(), &delivery);
            for (i, err) in delivery.failed {
                let Some(record) = encoded.records.get(i) else {
                    continue;
                };
                error!(message = "Delivery failed.", sink = %route.name, finding_id = %record.id,
                       finding_type = record.finding_type.as_deref().unwrap_or_default(),
                       severity = record.severity_str(), error = %err);
                took[i] = took[i].saturating_sub(1);
                failures.push((i, route.name.clone(), err));
            }
        }
        let mut failed = vec![false; encoded.records.len()];
        for (i, sink, err) in failures {
            failed[i] = true;
            outcome.failures.push(Failure {
                finding_id: encoded.records[i].id.clone(),
                sink,
                error: err.to_string(),
                cause: Some(err),
                index: encoded.origin[i],
                delivered_elsewhere: took[i] > 0,
            });
        }
        let failed = failed.iter().filter(|f| **f).count() as u64;
        let reached = routed.iter().filter(|n| **n > 0).count() as u64;
        outcome.failed += failed;
        outcome.forwarded += reached - failed;
        outcome
    }

    /// The account id a finding's context is looked up by, when context is on.
    fn account_of(&self, incoming: &Incoming) -> Option<String> {
        self.context.as_ref()?;
        crate::context::account_of(incoming.finding.view())
    }

    /// The context of the batch's accounts (one lookup per batch; never fails).
    async fn accounts_of(
        &self,
        findings: &[Incoming],
        deadline: Deadline,
    ) -> crate::context::Accounts {
        match &self.context {
            Some(c) => {
                c.lookup(findings.iter().filter_map(|i| self.account_of(i)), deadline)
                    .await
            }
            None => crate::context::Accounts::default(),
        }
    }

    /// Encodes each finding; one below `MIN_SEVERITY` is skipped, one that cannot be encoded
    /// is a failure (never dropped quietly).
    fn encode_all(
        &self,
        findings: &[Incoming],
        via: Via,
        received_at: &str,
        accounts: &crate::context::Accounts,
        outcome: &mut Outcome,
    ) -> Encoded {
        let mut encoded = Encoded {
            records: Vec::with_capacity(findings.len()),
            origin: Vec::with_capacity(findings.len()),
        };
        for (index, incoming) in findings.iter().enumerate() {
            let account = self.account_of(incoming);
            let ingest = Ingest::new(via, incoming.event_id.as_deref(), received_at)
                .with_account(accounts.get(account.as_deref()));
            match encode(&incoming.finding, &ingest, self.schema) {
                Ok(r) if self.wanted(r.severity) => {
                    outcome.enrichment_failed += u64::from(accounts.failed(account.as_deref()));
                    encoded.records.push(r);
                    encoded.origin.push(index);
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
                        sink: Arc::from("normalize"),
                        error: e.to_string(),
                        cause: None,
                        index,
                        delivered_elsewhere: false,
                    });
                }
            }
        }
        encoded
    }

    /// Where each finding would go and why, sending nothing.
    pub fn explain(&self, findings: &[Incoming], via: Via, received_at: &str) -> Vec<Explanation> {
        findings
            .iter()
            .map(|incoming| {
                let ingest = Ingest::new(via, incoming.event_id.as_deref(), received_at);
                match encode(&incoming.finding, &ingest, self.schema) {
                    Ok(r) => self.explain_record(&r),
                    Err(e) => Explanation {
                        finding_id: crate::normalize::finding_id(incoming.finding.view())
                            .map(|id| id.into_owned())
                            .unwrap_or_else(|_| "(no id)".into()),
                        severity: "unknown",
                        finding_type: None,
                        account_id: None,
                        region: None,
                        dropped: Some(format!("cannot be normalized: {e}")),
                        routes: Vec::new(),
                    },
                }
            })
            .collect()
    }

    fn explain_record(&self, r: &EncodedRecord) -> Explanation {
        let dropped = (!self.wanted(r.severity)).then(|| {
            format!(
                "severity {} is below MIN_SEVERITY {}",
                r.severity_str(),
                self.min_severity.as_str()
            )
        });
        Explanation {
            finding_id: r.id.clone(),
            severity: r.severity_str(),
            finding_type: r.finding_type.clone(),
            account_id: r.account_id.clone(),
            region: r.region.clone(),
            routes: match dropped {
                Some(_) => Vec::new(),
                None => self
                    .routes
                    .iter()
                    .map(|route| (route.name.clone(), route.filter.admits(&r.keys())))
                    .collect(),
            },
            dropped,
        }
    }
}

/// Delivers the records `subset` names to `sink`; failures come back as indices into
/// `records`. The whole slice goes as is when every record is in it (the common case: no
/// copy).
async fn deliver_subset(
    sink: &dyn Sink,
    records: &[EncodedRecord],
    subset: &[usize],
    deadline: Deadline,
) -> Delivery {
    if subset.is_empty() {
        return Delivery::default();
    }
    if subset.len() == records.len() {
        return sink.deliver(records, deadline).await;
    }
    let picked: Vec<EncodedRecord> = subset.iter().map(|&i| records[i].clone()).collect();
    let mut delivery = sink.deliver(&picked, deadline).await;
    delivery.failed.retain_mut(|(i, _)| match subset.get(*i) {
        Some(&original) => {
            *i = original;
            true
        }
        None => false,
    });
    delivery
}

/// Adds one destination's delivery of `sent` records to the counts.
fn count(outcome: &mut Outcome, route: &Route, sent: usize, delivery: &Delivery) {
    outcome.retries += delivery.retries;
    let oversize = delivery.shrunk
        + delivery
            .failed
            .iter()
            .filter(|(_, e)| matches!(e, DeliveryError::Oversize { .. }))
            .count() as u64;
    if oversize > 0 {
        outcome.oversize += oversize;
        *outcome
            .oversize_by_sink
            .entry(route.name.clone())
            .or_default() += oversize;
    }
    if sent == 0 {
        return;
    }
    let failed_here = (delivery.failed.len() as u64).min(sent as u64);
    let entry = outcome.per_sink.entry(route.name.clone()).or_default();
    entry.0 += sent as u64 - failed_here;
    entry.1 += failed_here;
}
