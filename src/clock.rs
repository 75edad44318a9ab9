//! The clock, in one place: now, epoch milliseconds and RFC 3339 UTC with milliseconds (the
//! shape GuardDuty gives `updatedAt`, and the records' `received_at`). Imports nothing of ours,
//! so every other module may use it.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in epoch milliseconds (0 on a clock before 1970, which no real host has).
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    format_ms(now_ms())
}

/// Epoch milliseconds of an RFC 3339 timestamp; `None` when it is not one.
pub fn epoch_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 UTC with milliseconds. Out-of-range values are clamped to the epoch.
pub fn format_ms(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

/// A duration in whole milliseconds, saturating instead of truncating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` minus a duration, saturating at `i64::MIN`.
pub fn ms_before(ms: i64, d: Duration) -> i64 {
    ms.saturating_sub(duration_ms(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_epoch_milliseconds() {
        let ms = epoch_ms("2026-11-22T10:00:00.123Z").unwrap();
        assert_eq!(format_ms(ms), "2026-11-22T10:00:00.123Z");
        assert_eq!(epoch_ms("not a time"), None);
    }

    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(ms_before(0, Duration::MAX), -i64::MAX);
        assert_eq!(format_ms(i64::MIN), "1970-01-01T00:00:00.000Z");
    }
}
