//! The backfill state store: one DynamoDB item per region × detector in `STATE_TABLE`, under
//! a lease, so runs of the same detector never overlap nor overwrite each other's progress.
//!
//! The item: partition key `pk` (String) = `<STATE_PREFIX>/<region>/<detector>` (or
//! `<region>/<detector>` without a prefix); `body` (String), an opaque document the backfill
//! owns and this store never parses; `version` (Number), one more per committed write;
//! `lease_owner` (String) and `lease_until` (Number, epoch ms) while a run holds the lease;
//! `written_by` (String), the owner of the last commit.
//!
//! A run [`Store::acquire`]s the lease (a conditional update: the item is new, its lease has
//! expired, or the run already holds it), works, and then either [`Store::commit`]s its new
//! body or [`Store::release`]s the lease; both are conditional on the lease still being the
//! one acquired (same owner, same version) and both end the lease. A commit also records
//! `written_by` (its owner), so that a commit repeated (the SDK retries a request whose answer
//! was lost) recognizes its own write in the refusal and succeeds without writing again.
//!
//! Invariants, checked against moto in `tests/backfill_state.rs`, where a seeded simulation
//! interleaves four runs of one key at random, with and without clock skew:
//! - **No lost update.** Every committed body was computed by a run that read the body the
//!   previous commit left: a commit succeeds only while the item's owner and version are
//!   those its lease saw at acquire, and any other run must first acquire (changing the
//!   owner) before it can commit (changing the version). A run that lost its lease gets
//!   [`StateError::LeaseLost`] and writes nothing, so state never moves backwards because
//!   of an overlapping run. This does not depend on clocks at all: it rests only on
//!   DynamoDB's conditional writes and on owners being unique per run (Lambda's async
//!   retries reuse the request id: add a random part).
//! - **One run per key at a time**, as long as leases are honoured: a lease is taken only
//!   from nobody, from an expired lease, or from the same owner. This part is an
//!   assumption about clocks: `now_ms` and `until_ms` come from the callers' clocks, so two
//!   runs overlap only if their clocks disagree by more than the margin the lease leaves
//!   between the end of a run's work and `until_ms` (set `until_ms` at least the
//!   invocation's remaining time plus that margin). An overlap costs duplicate deliveries
//!   and the loser's progress (refused above), never a backwards step.
//! - A body over [`MAX_BODY_BYTES`] is refused before it is sent ([`StateError::TooLarge`]),
//!   well under DynamoDB's 400 KB item limit, so a commit never fails on size at the table.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::budget::Budget;

/// The largest body stored: DynamoDB's item limit is 400 KB, keys and lease included.
pub const MAX_BODY_BYTES: usize = 350 * 1024;

/// Who may take a lease: nobody holds one, it has expired, or the taker already holds it.
const TAKE_CONDITION: &str = "attribute_not_exists(pk) OR attribute_not_exists(lease_until) \
                              OR lease_until < :now OR lease_owner = :me";
/// A lease still holds: same owner, and nobody committed since it was taken.
const HOLD_CONDITION: &str = "lease_owner = :me AND version = :v";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading backfill state from DynamoDB table {table} failed: {detail}")]
    Read { table: String, detail: String },
    #[error("writing backfill state to DynamoDB table {table} failed: {detail}")]
    Write { table: String, detail: String },
    #[error(
        "the lease on backfill state {key} was lost to another run: its write was refused \
         (the other run's state stands)"
    )]
    LeaseLost { key: String },
    #[error(
        "backfill state {key} is {bytes} bytes, over the {MAX_BODY_BYTES}-byte limit: not written"
    )]
    TooLarge { key: String, bytes: usize },
}

/// The state of every region × detector, in one DynamoDB table.
#[derive(Clone, Copy)]
pub struct Store<'a> {
    pub client: &'a aws_sdk_dynamodb::Client,
    pub table: &'a str,
    /// `STATE_PREFIX`; slashes at either end are ignored.
    pub prefix: &'a str,
}

/// A lease held on one key: what [`Store::commit`] and [`Store::release`] are conditional on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: String,
    /// The item's version when the lease was taken.
    pub version: u64,
}

/// What [`Store::acquire`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The lease is ours; `body` is the stored state (`None`: nothing committed yet).
    Taken { lease: Lease, body: Option<String> },
    /// Another run holds an unexpired lease.
    Held { owner: String, until_ms: i64 },
}

type Item = HashMap<String, AttributeValue>;
type Update = aws_sdk_dynamodb::error::SdkError<UpdateItemError, HttpResponse>;

impl Store<'_> {
    /// The partition key of one region × detector.
    pub fn key(&self, region: &str, detector: &str) -> String {
        match self.prefix.trim_matches('/') {
            "" => format!("{region}/{detector}"),
            prefix => format!("{prefix}/{region}/{detector}"),
        }
    }

    /// Takes the lease until `until_ms` unless another owner holds one that has not expired
    /// at `now_ms` (conditional write: attribute_not_exists(pk) OR lease_until < :now OR
    /// lease_owner = :me); returns the stored body.
    pub async fn acquire(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        budget: &Budget,
    ) -> Result<Acquired, StateError> {
        let answer = self
            .client
            .update_item()
            .table_name(self.table)
            .key("pk", s(key))
            .update_expression(
                "SET lease_owner = :me, lease_until = :until, version = if_not_exists(version, :zero)",
            )
            .condition_expression(TAKE_CONDITION)
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(budget.dynamodb())
            .send()
            .await;
        match answer {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let lease = Lease {
                    key: key.to_string(),
                    owner: owner.to_string(),
                    version: self.version(&item)?,
                };
                let body = match item.get("body") {
                    None => None,
                    Some(AttributeValue::S(b)) => Some(b.clone()),
                    Some(_) => return Err(self.unreadable(key, "body is not a string")),
                };
                Ok(Acquired::Taken { lease, body })
            }
            Err(e) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(held)) =
                    e.as_service_error()
                else {
                    return Err(StateError::Write {
                        table: self.table.to_string(),
                        detail: super::describe(&e),
                    });
                };
                // The item that failed the condition (asked for with ALL_OLD) names the holder.
                Ok(holder(held.item().unwrap_or(&Item::new())))
            }
        }
    }

    /// Writes `body` and releases the lease, only while `lease` still holds (owner and
    /// version unchanged; conditional write). A lost lease is `StateError::LeaseLost`.
    pub async fn commit(
        &self,
        lease: &Lease,
        body: &str,
        budget: &Budget,
    ) -> Result<(), StateError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(StateError::TooLarge {
                key: lease.key.clone(),
                bytes: body.len(),
            });
        }
        let next = lease.version.saturating_add(1);
        let answer = self
            .client
            .update_item()
            .table_name(self.table)
            .key("pk", s(&lease.key))
            .update_expression(
                "SET body = :body, version = :next, written_by = :me REMOVE lease_owner, lease_until",
            )
            .condition_expression(HOLD_CONDITION)
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()))
            .expression_attribute_values(":me", s(&lease.owner))
            .expression_attribute_values(":v", AttributeValue::N(lease.version.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(budget.dynamodb())
            .send()
            .await;
        // Refused because it already went through: the SDK retried a request whose answer
        // was lost, and the item still shows this very write.
        let ours = |item: &Item| {
            item.get("written_by") == Some(&s(&lease.owner))
                && item.get("version") == Some(&AttributeValue::N(next.to_string()))
                && item.get("body") == Some(&s(body))
        };
        self.held(lease, answer, ours)
    }

    /// Releases without writing (same condition).
    pub async fn release(&self, lease: &Lease, budget: &Budget) -> Result<(), StateError> {
        let answer = self
            .client
            .update_item()
            .table_name(self.table)
            .key("pk", s(&lease.key))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression(HOLD_CONDITION)
            .expression_attribute_values(":me", s(&lease.owner))
            .expression_attribute_values(":v", AttributeValue::N(lease.version.to_string()))
            .customize()
            .config_override(budget.dynamodb())
            .send()
            .await;
        self.held(lease, answer, |_| false)
    }

    /// A conditional write's answer: a failed condition is a lost lease, unless the item it
    /// failed on shows the write `done` (a commit's retry after its answer was lost).
    fn held(
        &self,
        lease: &Lease,
        answer: Result<UpdateItemOutput, Update>,
        done: impl Fn(&Item) -> bool,
    ) -> Result<(), StateError> {
        match answer {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    if refused.item().is_some_and(done) {
                        Ok(())
                    } else {
                        Err(StateError::LeaseLost {
                            key: lease.key.clone(),
                        })
                    }
                }
                _ => Err(StateError::Write {
                    table: self.table.to_string(),
                    detail: super::describe(&e),
                }),
            },
        }
    }

    fn version(&self, item: &Item) -> Result<u64, StateError> {
        match item.get("version") {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| self.unreadable(item_key(item), "version is not a whole number")),
            Some(_) => Err(self.unreadable(item_key(item), "version is not a number")),
        }
    }

    fn unreadable(&self, key: &str, problem: &str) -> StateError {
        StateError::Read {
            table: self.table.to_string(),
            detail: format!("item {key}: {problem}"),
        }
    }
}

/// The lease an item shows (a refused take: someone else's, unexpired).
fn holder(item: &Item) -> Acquired {
    let owner = match item.get("lease_owner") {
        Some(AttributeValue::S(o)) => o.clone(),
        _ => String::new(),
    };
    let until_ms = match item.get("lease_until") {
        Some(AttributeValue::N(u)) => u.parse().unwrap_or(0),
        _ => 0,
    };
    Acquired::Held { owner, until_ms }
}

fn item_key(item: &Item) -> &str {
    match item.get("pk") {
        Some(AttributeValue::S(k)) => k,
        _ => "?",
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
