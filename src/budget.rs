//! Time budgets for AWS calls, the one helper every SDK client goes through (sinks, secrets,
//! the dead-letter queue, `check`, the backfill): every call gets an operation timeout and an
//! attempt timeout cut to the invocation's remaining time (a CLI call, with no deadline, is
//! still bounded by [`MAX_OPERATION`]), and a small attempt budget. The SDK's retries are the
//! only ones around an AWS call (the callers do not retry them again), or the caller's own
//! driver is, with the SDK held to one attempt ([`Budget::single_attempt`]: the SQS sink,
//! whose driver also resends the entries a batch answer lists as failed): the two never
//! multiply.
//!
//! Use: `client.op().customize().config_override(budget.sqs()).send()`.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::retry::Deadline;

/// The longest any one AWS operation may take, retries included.
const MAX_OPERATION: Duration = Duration::from_secs(30);
/// The longest one attempt may take.
const MAX_ATTEMPT: Duration = Duration::from_secs(10);
/// Below this there is no point starting a call.
pub const MIN_CALL: Duration = Duration::from_millis(500);
/// Attempts per operation (the first one included).
pub const MAX_ATTEMPTS: u32 = 3;

/// Timeouts and retries for one AWS call.
#[derive(Debug, Clone)]
pub struct Budget {
    pub timeouts: TimeoutConfig,
    pub retry: RetryConfig,
}

impl Budget {
    /// The budget for a call starting now; `None` when too little time is left.
    pub fn within(deadline: Deadline) -> Option<Budget> {
        let operation = deadline.clamp(MAX_OPERATION);
        if operation < MIN_CALL {
            return None;
        }
        let attempt = operation.min(MAX_ATTEMPT);
        Some(Budget {
            timeouts: TimeoutConfig::builder()
                .connect_timeout(attempt.min(Duration::from_secs(3)))
                .operation_timeout(operation)
                .operation_attempt_timeout(attempt)
                .build(),
            retry: RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        })
    }

    /// The same time bounds with the SDK making one attempt: for a caller whose own retry
    /// driver (`crate::retry::drive`) owns the attempts, backoff and deadline.
    pub fn single_attempt(mut self) -> Budget {
        self.retry = RetryConfig::standard().with_max_attempts(1);
        self
    }

    pub fn guardduty(&self) -> aws_sdk_guardduty::config::Builder {
        aws_sdk_guardduty::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn ssm(&self) -> aws_sdk_ssm::config::Builder {
        aws_sdk_ssm::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::config::Builder {
        aws_sdk_dynamodb::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn firehose(&self) -> aws_sdk_firehose::config::Builder {
        aws_sdk_firehose::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::config::Builder {
        aws_sdk_sqs::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::config::Builder {
        aws_sdk_secretsmanager::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }

    pub fn sts(&self) -> aws_sdk_sts::config::Builder {
        aws_sdk_sts::config::Builder::default()
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone())
    }
}

/// Why an AWS call was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not started: less than {} ms left before the invocation's deadline", MIN_CALL.as_millis())]
pub struct OutOfTime;

/// [`Budget::within`], as an error when too little time is left.
pub fn budget(deadline: Deadline) -> Result<Budget, OutOfTime> {
    Budget::within(deadline).ok_or(OutOfTime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_call_never_outlives_the_invocation() {
        let d = Deadline::at(Instant::now() + Duration::from_secs(4));
        let b = Budget::within(d).unwrap();
        assert!(b.timeouts.operation_timeout().unwrap() <= Duration::from_secs(4));
        assert!(b.timeouts.operation_attempt_timeout().unwrap() <= Duration::from_secs(4));
        assert_eq!(b.retry.max_attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn no_call_starts_when_almost_no_time_is_left() {
        assert!(
            Budget::within(Deadline::at(Instant::now() + Duration::from_millis(100))).is_none()
        );
        let unbounded = Budget::within(Deadline::none()).unwrap();
        assert_eq!(unbounded.timeouts.operation_timeout(), Some(MAX_OPERATION));
        assert_eq!(unbounded.single_attempt().retry.max_attempts(), 1);
    }
}
