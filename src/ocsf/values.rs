//! Values as OCSF types accept them: strings clamped to OCSF's 65,535-character limit,
//! integers only from whole numbers, IP addresses only when they parse, and timestamps read
//! leniently (RFC 3339, `2025-02-25 20:40:06.721`, `…+0000`, epoch seconds or milliseconds).
//! Anything else is left out rather than emitted with the wrong type; the raw finding in
//! `unmapped.raw_event` keeps every original value in full.

use std::borrow::Cow;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::normalize::{number, text};

/// OCSF `string_t` maximum length, in characters.
pub const MAX_STRING: usize = 65_535;

/// A JSON value for an OCSF `data` attribute (`json_t`): `null`s, and objects left empty, dropped;
/// strings clamped; absent when nothing is left.
pub fn data(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Value::String(clamp(Cow::Borrowed(s)).into_owned())),
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(data).collect())),
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter_map(|(k, x)| Some((k.clone(), data(x)?)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other.clone()),
    }
}

/// A string cut at a character boundary so that it holds at most `MAX_STRING` bytes (hence
/// characters). Borrowed strings stay borrowed.
pub fn clamp(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.len() <= MAX_STRING {
        return s;
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(..end).unwrap_or_default()),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    }
}

/// A scalar as an OCSF string (numbers and booleans printed), clamped; absent otherwise.
pub fn string(v: Option<&Value>) -> Option<Cow<'_, str>> {
    text(v).map(clamp)
}

/// An already-normalized field as an OCSF string.
pub fn field<'a>(v: &'a Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
    v.as_deref().map(|s| clamp(Cow::Borrowed(s)))
}

/// A whole number (also from a numeric string); fractions and out-of-range values are absent.
pub fn integer(v: Option<&Value>) -> Option<i64> {
    whole(&number(v)?)
}

/// A JSON number as an integer, when it is a whole one within range.
pub fn whole(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // i64::MAX as f64 rounds up to 2^63, which is already out of range.
    let in_range = f.is_finite() && f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64;
    in_range.then_some(f as i64)
}

/// A TCP/UDP port.
pub fn port(v: Option<&Value>) -> Option<i64> {
    integer(v).filter(|p| (0..=65_535).contains(p))
}

/// A finite floating-point number (coordinates).
pub fn float(v: Option<&Value>) -> Option<f64> {
    number(v)?.as_f64().filter(|f| f.is_finite())
}

/// An IP address, only when it parses as one (OCSF's `ip_t` has a pattern and 40 characters).
pub fn ip(v: Option<&Value>) -> Option<Cow<'_, str>> {
    let s = v?.as_str()?.trim();
    s.parse::<std::net::IpAddr>().ok().map(|_| Cow::Borrowed(s))
}

/// Earliest and latest instants accepted: years 0001 to 9999, as epoch milliseconds.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// Below this magnitude an epoch number is taken as seconds, above as milliseconds
/// (1e11 s is the year 5138; 1e11 ms is 1973).
const SECONDS_LIMIT: f64 = 1e11;

/// Epoch milliseconds of a timestamp in any format seen in GuardDuty findings, and the
/// offset it was written with (minutes east of UTC).
pub fn epoch_ms(v: Option<&Value>) -> Option<(i64, i32)> {
    match v? {
        Value::Number(n) => n.as_f64().and_then(epoch_number).map(|ms| (ms, 0)),
        Value::String(s) => parse_time(s.trim()),
        _ => None,
    }
}

fn epoch_number(f: f64) -> Option<i64> {
    if !f.is_finite() {
        return None;
    }
    let ms = if f.abs() < SECONDS_LIMIT {
        f * 1000.0
    } else {
        f
    };
    let ms = ms.trunc();
    (ms >= MIN_MS as f64 && ms <= MAX_MS as f64).then_some(ms as i64)
}

/// `epoch_ms` of a string.
pub fn parse_time(s: &str) -> Option<(i64, i32)> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s
            .parse::<f64>()
            .ok()
            .and_then(epoch_number)
            .map(|ms| (ms, 0));
    }
    if let Some(ms) = utc_fast(s) {
        return Some((ms, 0));
    }
    let t = match OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => t,
        Err(_) => OffsetDateTime::parse(&lenient_rfc3339(s)?, &Rfc3339).ok()?,
    };
    let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some((ms, i32::from(t.offset().whole_minutes())))
}

/// The common shape, `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, without the general parser: GuardDuty
/// writes every timestamp so, and a record holds several.
fn utc_fast(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.last() != Some(&b'Z') || seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let frac = b.get(19..b.len() - 1)?;
    let millis = match frac.split_first() {
        None => 0,
        Some((b'.', rest)) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => (0..3)
            .fold(0, |acc, i| {
                acc * 10 + rest.get(i).map_or(0, |&c| i64::from(c - b'0'))
            }),
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        let days = days_from_civil(year, month, day);
        ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Rewrites the near-RFC 3339 forms into RFC 3339: a space for the `T`, `+0000` or `+00`
/// for `+00:00`, and no zone at all for UTC (GuardDuty's times are UTC).
fn lenient_rfc3339(s: &str) -> Option<String> {
    let date = s.get(..10)?;
    let rest = s.get(11..)?;
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) || rest.len() < 8 {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 6);
    out.push_str(date);
    out.push('T');
    let rest = rest.trim_end();
    if rest.ends_with(['Z', 'z']) {
        out.push_str(rest);
        return Some(out);
    }
    // An offset starts at the last sign after the seconds (`hh:mm:ss` is 8 bytes).
    match rest.get(8..).and_then(|tail| tail.rfind(['+', '-'])) {
        None => {
            out.push_str(rest);
            out.push('Z');
        }
        Some(i) => {
            let (clock, offset) = rest.split_at(8 + i);
            out.push_str(clock);
            let digits: String = offset.chars().filter(char::is_ascii_digit).collect();
            let sign = offset.get(..1)?;
            match digits.len() {
                2 => out.push_str(&format!("{sign}{digits}:00")),
                4 => out.push_str(&format!("{sign}{}:{}", digits.get(..2)?, digits.get(2..)?)),
                _ => return None,
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_timestamp_format_seen_in_the_wild_gives_the_same_instant() {
        let want = Some((1_740_516_006_721, 0));
        for v in [
            json!("2025-02-25T20:40:06.721Z"),
            json!("2025-02-25 20:40:06.721"),
            json!("2025-02-25T20:40:06.721+0000"),
            json!("2025-02-25T20:40:06.721+00:00"),
            json!("2025-02-25T20:40:06.721+00"),
            json!("2025-02-25 20:40:06.721000000"),
            json!(1_740_516_006_721_i64),
            json!(1_740_516_006.721),
            json!("1740516006721"),
        ] {
            assert_eq!(epoch_ms(Some(&v)), want, "{v}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_rfc_3339_parser() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59.999Z",
            "2025-02-25T20:40:06.7Z",
            "2000-03-01T00:00:00.123456789Z",
            "1969-12-31T23:59:59.5Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t = OffsetDateTime::parse(s, &Rfc3339).unwrap();
            let want = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap();
            assert_eq!(utc_fast(s), Some(want), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
        ] {
            assert_eq!(utc_fast(s), None, "{s}");
        }
    }

    #[test]
    fn an_offset_is_applied_and_remembered() {
        let v = json!("2025-02-25T22:40:06.721+0200");
        assert_eq!(epoch_ms(Some(&v)), Some((1_740_516_006_721, 120)));
    }

    #[test]
    fn what_is_not_a_time_is_absent() {
        for v in [
            json!("yesterday"),
            json!(""),
            json!("2025-02-25"),
            json!("2025-02-25T20:40:06.721+5"),
            json!([1]),
            json!({"t": 1}),
            json!(true),
            json!(1e300),
            json!("99999999999999999999"),
        ] {
            assert_eq!(epoch_ms(Some(&v)), None, "{v}");
        }
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(40_000);
        let c = clamp(Cow::Borrowed(&long));
        assert!(c.len() <= MAX_STRING && c.chars().all(|ch| ch == 'é'));
        assert!(matches!(c, Cow::Borrowed(_)));
    }

    #[test]
    fn data_keeps_everything_but_nulls() {
        let v = json!({"a": null, "b": [1, null, {"c": null}], "d": {"e": null}, "f": "x"});
        assert_eq!(data(&v), Some(json!({"b": [1], "f": "x"})));
        assert_eq!(data(&json!({"a": null})), None);
    }

    #[test]
    fn integers_come_only_from_whole_numbers() {
        let cases = [
            (json!(3), Some(3)),
            (json!("7"), Some(7)),
            (json!(2.0), Some(2)),
            (json!(1.5), None),
            (json!("x"), None),
            (json!(1e300), None),
            (json!([1]), None),
        ];
        for (v, want) in cases {
            assert_eq!(integer(Some(&v)), want, "{v}");
        }
    }

    #[test]
    fn only_addresses_that_parse_are_ips() {
        assert!(ip(Some(&json!("198.51.100.7"))).is_some());
        assert!(ip(Some(&json!("2001:db8::1"))).is_some());
        assert!(ip(Some(&json!("not-an-ip"))).is_none());
        assert!(ip(Some(&json!(12))).is_none());
    }
}
