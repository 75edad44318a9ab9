//! Retrying: the invocation deadline, full-jitter exponential backoff, and the one place
//! that decides which failures are worth another attempt.
//!
//! Invariants (property-tested below): no input panics, however absurd (a deadline in the
//! year 584942417, a `Retry-After` of `u64::MAX` seconds or of any text); a wait is never
//! longer than the backoff cap or a minute; an unreadable `Retry-After` is `None`.

use std::time::{Duration, Instant};

/// When the current invocation must have answered. `None` in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

/// Time kept back from the Lambda deadline to report the result.
pub const REPORT_MARGIN: Duration = Duration::from_millis(1500);

/// The longest a Lambda invocation can run (15 minutes).
pub const MAX_INVOCATION: Duration = Duration::from_secs(15 * 60);

impl Deadline {
    pub fn none() -> Self {
        Deadline(None)
    }

    pub fn at(instant: Instant) -> Self {
        Deadline(Some(instant))
    }

    /// From Lambda's deadline (epoch milliseconds), keeping [`REPORT_MARGIN`] back. A deadline
    /// further away than [`MAX_INVOCATION`] (Lambda's own limit) is held to it.
    pub fn from_lambda_deadline_ms(deadline_ms: u64) -> Self {
        let now_ms = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms))
            .min(MAX_INVOCATION)
            .saturating_sub(REPORT_MARGIN);
        // Held to Lambda's limit, it always fits an `Instant`; were it not to, no deadline.
        Deadline(Instant::now().checked_add(left))
    }

    /// Time left; `None` means unbounded.
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// Whether waiting `wait` and then trying for at least `min_attempt` still fits.
    pub fn allows(&self, wait: Duration, min_attempt: Duration) -> bool {
        self.remaining()
            .is_none_or(|r| r > wait.saturating_add(min_attempt))
    }

    /// `timeout` cut down to what is left.
    pub fn clamp(&self, timeout: Duration) -> Duration {
        self.remaining().map_or(timeout, |r| r.min(timeout))
    }
}

/// Full-jitter exponential backoff: attempt n (1-based) waits a uniform time in
/// [0, min(cap, base * 2^(n-1))].
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        exp.mul_f64(fastrand::f64())
    }

    /// The wait before the next attempt: a server's `Retry-After` wins over the backoff
    /// (capped), otherwise jittered backoff.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(ra) => ra.min(self.cap.max(Duration::from_secs(60))),
            None => self.delay(attempt),
        }
    }
}

/// Whether an HTTP status is worth retrying: 408, 429 and 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// `Retry-After` in either of its forms (delay-seconds or HTTP-date).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_to_system_time(v)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn httpdate_to_system_time(v: &str) -> Option<std::time::SystemTime> {
    use time::format_description::well_known::Rfc2822;
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is RFC 2822 with "GMT" as the zone.
    let t = time::OffsetDateTime::parse(v, &Rfc2822).ok()?;
    Some(t.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_408_429_and_5xx_only() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 413, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn backoff_delays_stay_within_the_exponential_envelope() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        };
        for attempt in 1..10 {
            let envelope =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for _ in 0..50 {
                assert!(b.delay(attempt) <= envelope);
            }
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn a_lambda_deadline_too_far_away_does_not_overflow() {
        // Past what `Instant` can hold it is no deadline; either way, no panic.
        assert!(!Deadline::from_lambda_deadline_ms(u64::MAX).expired());
        assert!(Deadline::from_lambda_deadline_ms(0).expired());
    }

    #[test]
    fn a_deadline_refuses_waits_that_would_pass_it() {
        let d = Deadline::at(Instant::now() + Duration::from_secs(2));
        assert!(d.allows(Duration::from_millis(500), Duration::from_millis(500)));
        assert!(!d.allows(Duration::from_secs(3), Duration::ZERO));
        assert!(Deadline::none().allows(Duration::from_secs(3600), Duration::ZERO));
        assert!(d.clamp(Duration::from_secs(10)) <= Duration::from_secs(2));
    }

    #[test]
    fn an_absurd_lambda_deadline_is_held_to_fifteen_minutes() {
        let d = Deadline::from_lambda_deadline_ms(u64::MAX);
        let left = d.remaining().expect("bounded");
        assert!(left <= MAX_INVOCATION && left > MAX_INVOCATION - Duration::from_secs(5));
        assert!(Deadline::from_lambda_deadline_ms(0).expired());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn any_retry_after_text_gives_a_delay_or_none_without_panicking(v in "\\PC{0,64}") {
            let _ = parse_retry_after(&v);
        }

        #[test]
        fn any_number_of_retry_after_seconds_is_read_and_the_wait_stays_capped(
            secs in proptest::num::u64::ANY,
            attempt in proptest::num::u32::ANY,
        ) {
            let ra = parse_retry_after(&secs.to_string());
            proptest::prop_assert_eq!(ra, Some(Duration::from_secs(secs)));
            let b = Backoff::default();
            proptest::prop_assert!(b.wait(attempt, ra) <= Duration::from_secs(60));
            proptest::prop_assert!(b.wait(attempt, None) <= b.cap);
        }

        #[test]
        fn any_deadline_and_wait_are_compared_without_overflow(
            deadline_ms in proptest::num::u64::ANY,
            wait_s in proptest::num::u64::ANY,
            min_s in proptest::num::u64::ANY,
        ) {
            let d = Deadline::from_lambda_deadline_ms(deadline_ms);
            let _ = d.allows(Duration::from_secs(wait_s), Duration::from_secs(min_s));
            proptest::prop_assert!(d.clamp(Duration::MAX) <= MAX_INVOCATION);
        }
    }
}
