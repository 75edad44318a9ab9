//! Retrying: the invocation deadline, full-jitter exponential backoff, and the one driver
//! every destination delivers through. A destination only says, for each item of one
//! attempt, whether it was delivered, is worth another attempt, or failed for good
//! ([`Verdict`]); [`drive`] owns the attempts, the waits (`Retry-After` first, otherwise
//! full jitter), the attempt budget and the invocation deadline.
//!
//! Invariants (checked by the property tests below):
//! - every item handed to [`drive`] ends exactly once: delivered, or in `failed`;
//! - an item is never sent again once an attempt delivered it or failed it for good;
//! - no wait is started that would end past the deadline, and no more than
//!   `max_attempts` attempts are made.
//! - no input panics, however absurd (a deadline in the year 584942417, a `Retry-After` of
//!   `u64::MAX` seconds or of any text); a wait is never longer than the backoff cap or a
//!   minute; an unreadable `Retry-After` is `None`.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use tracing::warn;

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

/// What one attempt made of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another attempt (throttling, a timeout, a server error), with the reason.
    Retry(String),
    /// Another attempt would be refused the same way, with the reason.
    Failed(String),
}

impl Verdict {
    /// The verdict an HTTP status gives a whole request: 2xx delivered, 408/429/5xx
    /// retried, any other status a permanent failure.
    pub fn for_status(status: u16, why: impl FnOnce() -> String) -> Verdict {
        if (200..300).contains(&status) {
            Verdict::Delivered
        } else if is_retryable_status(status) {
            Verdict::Retry(why())
        } else {
            Verdict::Failed(why())
        }
    }
}

/// One attempt's answer: a verdict per item (by the caller's index) and the server's
/// `Retry-After`, if any. Items of the attempt without a verdict are retried.
#[derive(Debug, Default)]
pub struct Report {
    pub verdicts: Vec<(usize, Verdict)>,
    pub retry_after: Option<Duration>,
}

impl Report {
    /// The same verdict for every item.
    pub fn all(items: &[usize], verdict: &Verdict) -> Report {
        Report {
            verdicts: items.iter().map(|&i| (i, verdict.clone())).collect(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, retry_after: Option<Duration>) -> Report {
        self.retry_after = retry_after;
        self
    }
}

/// Why an item was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp {
    /// The destination refused it for good.
    Rejected(String),
    /// Every attempt allowed was made.
    Exhausted { attempts: u32, last: String },
    /// The next wait would have run past the invocation deadline.
    DeadlineReached { attempts: u32, last: String },
}

/// What [`drive`] made of its items: the ones given up on, and how many re-sends it made.
#[derive(Debug, Default)]
pub struct Driven {
    pub failed: Vec<(usize, GaveUp)>,
    /// Items sent again after a first attempt, for metrics.
    pub retries: u64,
}

/// What to do after an attempt that left items to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Wait(Duration),
    Exhausted,
    DeadlineReached,
}

/// Time an attempt needs at least, so a wait that leaves less is not started.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// The decision after attempt `attempts` (1-based): wait and try again, or stop.
pub fn next_step(
    backoff: &Backoff,
    attempts: u32,
    retry_after: Option<Duration>,
    deadline: Deadline,
) -> Next {
    if attempts >= backoff.max_attempts {
        return Next::Exhausted;
    }
    let wait = backoff.wait(attempts, retry_after);
    if deadline.allows(wait, MIN_ATTEMPT) {
        Next::Wait(wait)
    } else {
        Next::DeadlineReached
    }
}

/// Runs `attempt` over `items` until each is delivered or given up on. `attempt` gets the
/// items still pending and answers with a [`Report`]; `what` names the destination in logs.
pub async fn drive<F, Fut>(
    backoff: &Backoff,
    deadline: Deadline,
    what: &str,
    items: Vec<usize>,
    mut attempt: F,
) -> Driven
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Report>,
{
    let mut driven = Driven::default();
    let mut pending: Vec<usize> = dedup(items);
    let mut attempts = 0u32;
    while !pending.is_empty() {
        attempts += 1;
        let report = attempt(pending.clone()).await;
        let (retry, last) = settle(&pending, report.verdicts, &mut driven.failed);
        if retry.is_empty() {
            break;
        }
        let wait = match next_step(backoff, attempts, report.retry_after, deadline) {
            Next::Wait(wait) => wait,
            stop => {
                let gave_up = if stop == Next::Exhausted {
                    GaveUp::Exhausted { attempts, last }
                } else {
                    GaveUp::DeadlineReached { attempts, last }
                };
                driven
                    .failed
                    .extend(retry.into_iter().map(|i| (i, gave_up.clone())));
                break;
            }
        };
        warn!(message = "Retrying delivery.", destination = what, items = retry.len(), attempt = attempts,
              wait_ms = wait.as_millis() as u64, error = %last);
        driven.retries += retry.len() as u64;
        tokio::time::sleep(wait).await;
        pending = retry;
    }
    driven
}

fn dedup(items: Vec<usize>) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    items.into_iter().filter(|i| seen.insert(*i)).collect()
}

/// Sorts one attempt's verdicts: failures recorded, the items to retry returned with the
/// last reason. Verdicts for items not pending are ignored; pending items without one retry.
fn settle(
    pending: &[usize],
    verdicts: Vec<(usize, Verdict)>,
    failed: &mut Vec<(usize, GaveUp)>,
) -> (Vec<usize>, String) {
    let pending_set: BTreeSet<usize> = pending.iter().copied().collect();
    let mut answered = BTreeSet::new();
    let mut retry_set = BTreeSet::new();
    let mut last = String::new();
    for (i, verdict) in verdicts {
        if !pending_set.contains(&i) || !answered.insert(i) {
            continue;
        }
        match verdict {
            Verdict::Delivered => {}
            Verdict::Failed(why) => failed.push((i, GaveUp::Rejected(why))),
            Verdict::Retry(why) => {
                last = why;
                retry_set.insert(i);
            }
        }
    }
    let retry: Vec<usize> = pending
        .iter()
        .copied()
        .filter(|i| retry_set.contains(i) || !answered.contains(i))
        .collect();
    if last.is_empty() && !retry.is_empty() {
        last = "the destination did not answer for every item".into();
    }
    (retry, last)
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
    fn backoff_delays_are_jittered_across_the_envelope_not_zero() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 5,
        };
        // 200 uniform draws all in the lower half of [0, 400 ms]: a chance of 2^-200.
        let longest = (0..200).map(|_| b.delay(3)).max().unwrap_or_default();
        assert!(longest > Duration::from_millis(200), "{longest:?}");
        let capped = (0..200).map(|_| b.delay(30)).max().unwrap_or_default();
        assert!(
            capped > Duration::from_millis(500) && capped <= b.cap,
            "{capped:?}"
        );
    }

    #[test]
    fn a_retry_after_is_waited_as_given_up_to_a_minute() {
        let b = Backoff::default();
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
        let long_cap = Backoff {
            cap: Duration::from_secs(90),
            ..b
        };
        assert_eq!(
            long_cap.wait(1, Some(Duration::from_secs(600))),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn a_report_carries_the_retry_after_it_is_given() {
        let r = Report::all(&[1, 2], &Verdict::Delivered).retry_after(Some(Duration::from_secs(7)));
        assert_eq!(r.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            r.verdicts,
            vec![(1, Verdict::Delivered), (2, Verdict::Delivered)]
        );
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

    fn quick(max_attempts: u32) -> Backoff {
        Backoff {
            base: Duration::ZERO,
            cap: Duration::ZERO,
            max_attempts,
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn retries_only_the_items_that_asked_for_it() {
        let sent = std::sync::Mutex::new(Vec::new());
        let driven = run(drive(
            &quick(5),
            Deadline::none(),
            "test",
            vec![0, 1, 2],
            |items| {
                sent.lock().unwrap().push(items.clone());
                let first = sent.lock().unwrap().len() == 1;
                async move {
                    Report {
                        verdicts: items
                            .iter()
                            .map(|&i| match (i, first) {
                                (1, true) => (i, Verdict::Retry("busy".into())),
                                (2, _) => (i, Verdict::Failed("bad".into())),
                                _ => (i, Verdict::Delivered),
                            })
                            .collect(),
                        retry_after: None,
                    }
                }
            },
        ));
        assert_eq!(*sent.lock().unwrap(), vec![vec![0, 1, 2], vec![1]]);
        assert_eq!(driven.failed, vec![(2, GaveUp::Rejected("bad".into()))]);
        assert_eq!(driven.retries, 1);
    }

    #[test]
    fn fails_on_exhausted_attempts_with_the_last_reason() {
        let driven = run(drive(
            &quick(3),
            Deadline::none(),
            "test",
            vec![7],
            |items| async move { Report::all(&items, &Verdict::Retry("HTTP 503".into())) },
        ));
        assert_eq!(
            driven.failed,
            vec![(
                7,
                GaveUp::Exhausted {
                    attempts: 3,
                    last: "HTTP 503".into()
                }
            )]
        );
    }

    #[test]
    fn verdicts_for_items_not_pending_or_given_twice_are_ignored() {
        let sent = std::sync::Mutex::new(Vec::new());
        let driven = run(drive(
            &quick(3),
            Deadline::none(),
            "test",
            vec![0, 1, 1],
            |items| {
                sent.lock().unwrap().push(items.clone());
                async move {
                    // Item 0 is first said to need a retry, then said to be delivered: the
                    // first verdict counts. Item 9 was never sent; item 1 was delivered.
                    Report {
                        verdicts: vec![
                            (0, Verdict::Retry("busy".into())),
                            (0, Verdict::Delivered),
                            (9, Verdict::Failed("unknown".into())),
                            (1, Verdict::Delivered),
                            (1, Verdict::Failed("late".into())),
                        ]
                        .into_iter()
                        .filter(|(i, _)| *i == 9 || items.contains(i))
                        .collect(),
                        retry_after: None,
                    }
                }
            },
        ));
        assert_eq!(
            *sent.lock().unwrap(),
            vec![vec![0, 1], vec![0], vec![0]],
            "each item once per attempt"
        );
        assert_eq!(
            driven.failed,
            vec![(
                0,
                GaveUp::Exhausted {
                    attempts: 3,
                    last: "busy".into()
                }
            )]
        );
    }

    #[test]
    fn an_item_without_an_answer_is_retried_and_the_reason_says_so() {
        let driven = run(drive(
            &quick(2),
            Deadline::none(),
            "test",
            vec![4, 5],
            |items| async move {
                Report {
                    verdicts: items
                        .iter()
                        .filter(|&&i| i == 4)
                        .map(|&i| (i, Verdict::Delivered))
                        .collect(),
                    retry_after: None,
                }
            },
        ));
        assert_eq!(
            driven.failed,
            vec![(
                5,
                GaveUp::Exhausted {
                    attempts: 2,
                    last: "the destination did not answer for every item".into()
                }
            )]
        );
        assert_eq!(driven.retries, 1);
    }

    #[test]
    fn a_retry_after_past_the_deadline_stops_instead_of_waiting() {
        let deadline = Deadline::at(Instant::now() + Duration::from_secs(1));
        let b = Backoff {
            max_attempts: 10,
            ..Backoff::default()
        };
        assert_eq!(
            next_step(&b, 1, Some(Duration::from_secs(5)), deadline),
            Next::DeadlineReached
        );
        assert_eq!(
            next_step(&b, 1, Some(Duration::ZERO), Deadline::none()),
            Next::Wait(Duration::ZERO)
        );
        assert_eq!(next_step(&b, 10, None, Deadline::none()), Next::Exhausted);
    }

    #[test]
    fn statuses_map_to_verdicts() {
        let why = || "x".to_string();
        assert_eq!(Verdict::for_status(202, why), Verdict::Delivered);
        assert_eq!(Verdict::for_status(429, why), Verdict::Retry("x".into()));
        assert_eq!(Verdict::for_status(400, why), Verdict::Failed("x".into()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn verdict() -> impl Strategy<Value = u8> {
            0u8..3
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            /// Whatever the destination answers, each item ends exactly once (delivered, or
            /// in `failed`, never both, none left out), nothing delivered or failed for good
            /// is sent again, and no more than `max_attempts` attempts are made.
            #[test]
            fn every_item_ends_once_and_nothing_settled_is_sent_again(
                n in 0usize..20,
                script in proptest::collection::vec(proptest::collection::vec(verdict(), 20), 1..6),
                max_attempts in 1u32..6,
            ) {
                let settled = std::sync::Mutex::new(BTreeSet::new());
                let delivered = std::sync::Mutex::new(BTreeSet::new());
                let resent_settled = std::sync::Mutex::new(false);
                let round = std::sync::Mutex::new(0usize);
                let driven = run(drive(&quick(max_attempts), Deadline::none(), "prop", (0..n).collect(), |items| {
                    let r = { let mut g = round.lock().unwrap(); *g += 1; *g - 1 };
                    // A driver past its budget fails here instead of looping for ever.
                    assert!(r < max_attempts as usize, "attempt {} of at most {max_attempts}", r + 1);
                    let row = script.get(r % script.len()).cloned().unwrap_or_default();
                    let mut verdicts = Vec::new();
                    for &i in &items {
                        if settled.lock().unwrap().contains(&i) {
                            *resent_settled.lock().unwrap() = true;
                        }
                        let v = match row.get(i).copied().unwrap_or(0) {
                            0 => {
                                settled.lock().unwrap().insert(i);
                                delivered.lock().unwrap().insert(i);
                                Verdict::Delivered
                            }
                            1 => { settled.lock().unwrap().insert(i); Verdict::Failed("no".into()) }
                            _ => Verdict::Retry("later".into()),
                        };
                        verdicts.push((i, v));
                    }
                    async move { Report { verdicts, retry_after: None } }
                }));
                prop_assert!(!*resent_settled.lock().unwrap());
                let failed: Vec<usize> = driven.failed.iter().map(|(i, _)| *i).collect();
                let unique: BTreeSet<usize> = failed.iter().copied().collect();
                prop_assert_eq!(unique.len(), failed.len(), "an item failed twice");
                let delivered = delivered.into_inner().unwrap();
                prop_assert!(unique.is_disjoint(&delivered), "an item both delivered and failed");
                let ended: BTreeSet<usize> = unique.union(&delivered).copied().collect();
                prop_assert_eq!(ended, (0..n).collect::<BTreeSet<_>>(), "an item did not end");
                prop_assert!(*round.lock().unwrap() <= max_attempts as usize);
            }

            /// The driver never starts a wait that would end past the deadline.
            #[test]
            fn no_wait_ends_past_the_deadline(
                attempts in 1u32..10,
                retry_after_ms in proptest::option::of(0u64..120_000),
                left_ms in 0u64..60_000,
            ) {
                let deadline = Deadline::at(Instant::now() + Duration::from_millis(left_ms));
                let b = Backoff { max_attempts: 10, ..Backoff::default() };
                if let Next::Wait(w) = next_step(&b, attempts, retry_after_ms.map(Duration::from_millis), deadline) {
                    prop_assert!(w + MIN_ATTEMPT <= Duration::from_millis(left_ms));
                }
            }
        }
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
    fn an_expired_deadline_allows_no_attempt_not_even_one_without_a_wait() {
        let expired = Deadline::from_lambda_deadline_ms(0);
        assert!(expired.expired());
        assert!(!expired.allows(Duration::ZERO, Duration::ZERO));
        assert_eq!(expired.clamp(Duration::from_secs(10)), Duration::ZERO);
    }

    #[test]
    fn an_absurd_lambda_deadline_is_held_to_fifteen_minutes() {
        let d = Deadline::from_lambda_deadline_ms(u64::MAX);
        let left = d.remaining().expect("bounded");
        let fifteen_minutes = Duration::from_secs(900);
        assert!(left <= fifteen_minutes && left > fifteen_minutes - Duration::from_secs(5));
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
