//! GuardDuty's S3 export layout, and which of its keys a time window selects (pure: no I/O).
//!
//! The export writes `[<prefix>/]AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/<uuid>.jsonl.gz`.
//! Under a region the keys sort by date, so the objects of a window are one listing that
//! starts after the day before its first day ([`Days::start_after`]) and stops at the first key
//! past its last ([`Days::place`]): a year is never listed to read a week.
//!
//! Invariants (unit tests below): a key is [`Place::In`] exactly when its date partition is a
//! valid date within the window's days (UTC, both ends included; an `until` at midnight
//! excludes that day); every key that sorts after an `After` key is `After` too, so a listing
//! may stop there.

/// Where a prefix sits in the export layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Above `AWSLogs/` (the bucket, or the export's own prefix): `depth` components deep.
    Above { depth: usize },
    /// `…/AWSLogs/`: the children are accounts.
    Accounts,
    /// `…/AWSLogs/<account>/`: the child to follow is `GuardDuty/`.
    Service,
    /// `…/AWSLogs/<account>/GuardDuty/`: the children are regions.
    Regions,
    /// `…/GuardDuty/<region>/` or below: date partitions; `base` is the region's prefix.
    Dates { base: usize },
    /// Under `AWSLogs/<account>/` but not GuardDuty's: nothing of the export.
    Elsewhere,
}

/// The level of `prefix`, which is empty or ends with `/`.
pub fn level(prefix: &str) -> Level {
    let parts: Vec<&str> = prefix.split_terminator('/').collect();
    let Some(at) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return Level::Above { depth: parts.len() };
    };
    let below = parts.get(at + 1..).unwrap_or_default();
    match below {
        [] => Level::Accounts,
        [_] => Level::Service,
        [_, service, ..] if *service != "GuardDuty" => Level::Elsewhere,
        [_, _] => Level::Regions,
        [_, _, _, ..] => {
            let base: usize = parts.iter().take(at + 4).map(|p| p.len() + 1).sum();
            Level::Dates { base }
        }
    }
}

/// A calendar day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Day {
    /// The day `ms` (epoch milliseconds) falls on.
    pub fn of_ms(ms: i64) -> Day {
        let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        Day {
            year: date.year(),
            month: date.month() as u8,
            day: date.day(),
        }
    }

    /// The partition's text, `yyyy/mm/dd`.
    pub fn path(&self) -> String {
        format!("{:04}/{:02}/{:02}", self.year, self.month, self.day)
    }

    /// The day a partition's text (`yyyy/mm/dd`) names, if it is a real date.
    fn parse(path: &str) -> Option<Day> {
        let bytes = path.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'/') || bytes.get(7) != Some(&b'/') {
            return None;
        }
        let year: i32 = path.get(..4)?.parse().ok()?;
        let month: u8 = path.get(5..7)?.parse().ok()?;
        let day: u8 = path.get(8..)?.parse().ok()?;
        let month_t = time::Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year, month_t, day).ok()?;
        Some(Day { year, month, day })
    }
}

/// The days of a window, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: Day,
    pub last: Day,
}

/// Where a key stands against the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Sorts before the first day, or is no date partition at all: skipped.
    Skip,
    In,
    /// Sorts after the last day: so does every later key.
    After,
}

impl Days {
    /// The days from `since_ms` to just before `until_ms` (now when `None`).
    pub fn of_window(since_ms: i64, until_ms: Option<i64>) -> Days {
        let until = until_ms.unwrap_or_else(crate::clock::now_ms);
        Days {
            first: Day::of_ms(since_ms),
            last: Day::of_ms((until - 1).max(since_ms)),
        }
    }

    /// The `StartAfter` of a listing under the region prefix `base`: just before the first
    /// day's keys (the text is no key: keys go on with `/`).
    pub fn start_after(&self, base: &str) -> String {
        format!("{base}{}", self.first.path())
    }

    /// Where `key`, under the region prefix of length `base`, stands.
    pub fn place(&self, key: &str, base: usize) -> Place {
        let rest = key.get(base..).unwrap_or_default();
        let partition = rest.get(..10).unwrap_or(rest);
        if partition > self.last.path().as_str() {
            return Place::After;
        }
        match Day::parse(partition) {
            Some(day) if day >= self.first && rest.as_bytes().get(10) == Some(&b'/') => Place::In,
            _ => Place::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "x/AWSLogs/111122223333/GuardDuty/eu-west-1/";

    fn ms(t: &str) -> i64 {
        crate::clock::epoch_ms(t).unwrap()
    }

    #[test]
    fn the_layout_levels_are_told_from_the_prefix() {
        assert_eq!(level(""), Level::Above { depth: 0 });
        assert_eq!(level("exports/"), Level::Above { depth: 1 });
        assert_eq!(level("AWSLogs/"), Level::Accounts);
        assert_eq!(level("x/AWSLogs/1/"), Level::Service);
        assert_eq!(level("x/AWSLogs/1/CloudTrail/"), Level::Elsewhere);
        assert_eq!(level("x/AWSLogs/1/GuardDuty/"), Level::Regions);
        assert_eq!(level(BASE), Level::Dates { base: BASE.len() });
        assert_eq!(
            level(&format!("{BASE}2026/03/")),
            Level::Dates { base: BASE.len() }
        );
    }

    #[test]
    fn keys_are_placed_by_their_day_and_until_at_midnight_leaves_that_day_out() {
        let days = Days::of_window(ms("2026-03-02T10:00:00Z"), Some(ms("2026-03-04T00:00:00Z")));
        assert_eq!(days.start_after(BASE), format!("{BASE}2026/03/02"));
        let place = |rest: &str| days.place(&format!("{BASE}{rest}"), BASE.len());
        assert_eq!(place("2026/03/01/a.jsonl.gz"), Place::Skip);
        assert_eq!(place("2026/03/02/a.jsonl.gz"), Place::In);
        assert_eq!(place("2026/03/03/b.jsonl.gz"), Place::In);
        assert_eq!(place("2026/03/04/c.jsonl.gz"), Place::After);
        assert_eq!(place("2026/04/01/c.jsonl.gz"), Place::After);
        assert_eq!(place("2026/03/02"), Place::Skip);
        assert_eq!(place("2026/02/30/x"), Place::Skip);
        assert_eq!(place("README"), Place::After);
    }

    #[test]
    fn keys_in_order_are_never_in_after_an_after() {
        let days = Days::of_window(ms("2025-12-30T00:00:00Z"), Some(ms("2026-01-02T12:00:00Z")));
        let mut keys: Vec<String> = (0..400)
            .map(|i| {
                let d = time::Date::from_calendar_date(2025, time::Month::December, 1).unwrap()
                    + time::Duration::days(i % 60);
                format!(
                    "{BASE}{:04}/{:02}/{:02}/{i}.jsonl.gz",
                    d.year(),
                    d.month() as u8,
                    d.day()
                )
            })
            .collect();
        keys.extend(["README", "2026", "2026/01/01", "2026/01/0x/a"].map(|k| format!("{BASE}{k}")));
        keys.sort();
        let places: Vec<Place> = keys.iter().map(|k| days.place(k, BASE.len())).collect();
        let first_after = places.iter().position(|p| *p == Place::After).unwrap();
        assert!(places[first_after..].iter().all(|p| *p == Place::After));
        // Days 29 to 32 after 1 December, each 7 times in 0..400.
        assert_eq!(places.iter().filter(|p| **p == Place::In).count(), 28);
    }
}
