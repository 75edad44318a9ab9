//! Destinations. Each implements [`Sink`]: given encoded records, deliver them and say, per
//! record, which could not be delivered and why. A sink never reports success for a record
//! it dropped; retrying is its own business (see `crate::retry`).

pub mod https;
pub mod log;
pub mod sqs;

use std::future::Future;
use std::pin::Pin;

use crate::record::EncodedRecord;
use crate::retry::Deadline;

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

/// The records of one `deliver` call that failed, by index into the slice given.
#[derive(Debug, Default)]
pub struct Delivery {
    pub failed: Vec<(usize, DeliveryError)>,
    /// Attempts beyond the first, for metrics.
    pub retries: u64,
}

impl Delivery {
    pub fn all_failed(n: usize, error: DeliveryError) -> Self {
        Delivery {
            failed: (0..n).map(|i| (i, error.clone())).collect(),
            retries: 0,
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
