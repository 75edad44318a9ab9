//! Destinations. Each implements [`Sink`]: given encoded records, deliver them and say, per
//! record, which could not be delivered and why. A sink never reports success for a record
//! it dropped. A sink only classifies its destination's answer per record (delivered, retry,
//! failed); attempts, backoff, `Retry-After` and the deadline belong to `crate::retry::drive`.

pub mod firehose;
pub mod https;
pub mod log;
pub mod oversize;
pub mod redact;
pub mod s3;
pub mod secret;
pub mod sqs;
pub mod transport;

use std::future::Future;
use std::pin::Pin;

use crate::record::EncodedRecord;
use crate::retry::{Deadline, Driven, GaveUp};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why one record did not reach one destination.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("record is {size} bytes, over the destination's limit of {limit} bytes")]
    Oversize { size: usize, limit: usize },
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("gave up after {attempts} attempt(s): {last}")]
    Exhausted { attempts: u32, last: String },
    #[error("stopped before the invocation deadline after {attempts} attempt(s): {last}")]
    DeadlineReached { attempts: u32, last: String },
    #[error("destination unavailable: {0}")]
    Unavailable(String),
    #[error("write failed: {0}")]
    Io(String),
}

impl DeliveryError {
    /// Whether trying again later cannot help: the destination refused this record itself
    /// (too large, or rejected as such), as opposed to being slow, down or out of time.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DeliveryError::Oversize { .. } | DeliveryError::Rejected(_)
        )
    }
}

/// The records of one `deliver` call that failed, by index into the slice given.
#[derive(Debug, Default)]
pub struct Delivery {
    pub failed: Vec<(usize, DeliveryError)>,
    /// Attempts beyond the first, for metrics.
    pub retries: u64,
    /// Records over the destination's per-event limit that were shrunk to fit (and
    /// delivered, unless also in `failed`), see [`oversize`].
    pub shrunk: u64,
}

impl From<GaveUp> for DeliveryError {
    fn from(g: GaveUp) -> Self {
        match g {
            GaveUp::Rejected(why) => DeliveryError::Rejected(why),
            GaveUp::Exhausted { attempts, last } => DeliveryError::Exhausted { attempts, last },
            GaveUp::DeadlineReached { attempts, last } => {
                DeliveryError::DeadlineReached { attempts, last }
            }
        }
    }
}

impl Delivery {
    /// Adds what the retry driver gave up on.
    pub fn absorb(&mut self, driven: Driven) {
        self.retries += driven.retries;
        self.failed
            .extend(driven.failed.into_iter().map(|(i, g)| (i, g.into())));
    }

    pub fn all_failed(n: usize, error: DeliveryError) -> Self {
        Delivery {
            failed: (0..n).map(|i| (i, error.clone())).collect(),
            retries: 0,
            shrunk: 0,
        }
    }
}

pub trait Sink: Send + Sync {
    /// Short name for logs and metrics: `log`, `sqs`, `https`.
    fn name(&self) -> &'static str;

    /// Delivers every record or reports the ones it could not.
    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery>;
}

/// Groups items (by index) into batches of at most `max_items` whose costs plus `overhead`
/// stay within `max_bytes`, in order; items too large on their own are returned apart.
pub fn plan_batches(
    costs: &[usize],
    overhead: usize,
    max_bytes: usize,
    max_items: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let all: Vec<usize> = (0..costs.len()).collect();
    plan_subset(&all, costs, overhead, max_bytes, max_items)
}

/// [`plan_batches`] over the items `subset` (indices into `costs`), keeping their order.
pub fn plan_subset(
    subset: &[usize],
    costs: &[usize],
    overhead: usize,
    max_bytes: usize,
    max_items: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut batches = Vec::new();
    let mut oversize = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = overhead;
    for &i in subset {
        let cost = costs.get(i).copied().unwrap_or(0);
        if cost + overhead > max_bytes {
            oversize.push(i);
            continue;
        }
        if !current.is_empty() && (current.len() >= max_items.max(1) || bytes + cost > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = overhead;
        }
        current.push(i);
        bytes += cost;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, oversize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_max_items_and_stay_under_the_size_limit() {
        let (batches, oversize) = plan_batches(&[1; 25], 0, 1000, 10);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert!(oversize.is_empty());
        let (batches, _) = plan_batches(&[400, 400, 400, 100], 0, 1000, 10);
        assert_eq!(batches, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn the_overhead_counts_once_per_batch() {
        let (batches, _) = plan_batches(&[4, 4, 4], 2, 10, 100);
        assert_eq!(batches, vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn an_item_over_the_limit_is_set_apart_and_its_neighbours_still_batch() {
        let (batches, oversize) = plan_batches(&[10, 5000, 10], 0, 1000, 10);
        assert_eq!(batches, vec![vec![0, 2]]);
        assert_eq!(oversize, vec![1]);
    }
}
