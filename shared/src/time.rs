//! RFC 3339 timestamps, read into and written from the one clock format
//! Chasqui stores (Unix milliseconds), with no calendar crate: a send
//! request's `send_at` and the UTC `at(...)` expression of an EventBridge
//! Scheduler one-time schedule are the only calendar dates Chasqui handles.

/// Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const SHAPE: &str = "is not an RFC 3339 date-time with an offset (2026-12-01T09:30:00-03:00 or 2026-12-01T12:30:00Z)";

/// An RFC 3339 date-time with its offset (`2026-12-01T09:30:00-03:00`,
/// `2026-12-01T12:30:00.250Z`), as Unix milliseconds. Fractions beyond
/// milliseconds are truncated; a leap second (`:60`) and dates before 1970
/// are refused.
pub fn parse_rfc3339_millis(text: &str) -> Result<u64, &'static str> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Result<u32, &'static str> {
        let part = b.get(from..from + len).ok_or(SHAPE)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(SHAPE);
        }
        Ok(part
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i).map(u8::to_ascii_uppercase) == Some(c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return Err(SHAPE);
    }
    let (year, month, day) = (i64::from(digits(0, 4)?), digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err("is not a valid date and time of day");
    }
    let mut i = 19;
    let mut millis = 0u64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(SHAPE);
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(i).map(u8::to_ascii_uppercase) {
        Some(b'Z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return Err("has an offset out of range");
            }
            let minutes = i64::from(h * 60 + m);
            if sign == b'-' { -minutes } else { minutes }
        }
        _ => return Err(SHAPE),
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_minutes * 60;
    u64::try_from(seconds)
        .map(|s| s * 1000 + millis)
        .map_err(|_| "is before 1970")
}

/// `ms` as an RFC 3339 UTC date-time to the second (`2026-12-01T12:30:05Z`).
pub fn rfc3339_utc(ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Unix milliseconds as UTC calendar time: `(year, month 1-12, day, hour,
/// minute, second, millisecond)`.
pub fn civil(ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        (ms % 1000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_fractions_and_known_instants() {
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:00Z"), Ok(0));
        // 2026-12-01T12:30:00Z, checked against `date -u -d ... +%s`.
        assert_eq!(
            parse_rfc3339_millis("2026-12-01T12:30:00Z"),
            Ok(1_796_128_200_000)
        );
        assert_eq!(
            parse_rfc3339_millis("2026-12-01T09:30:00-03:00"),
            Ok(1_796_128_200_000)
        );
        assert_eq!(
            parse_rfc3339_millis("2026-12-01t15:00:00.25+02:30"),
            Ok(1_796_128_200_250)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-02-29T23:59:59.999999Z"),
            Ok(1_709_251_199_999)
        );
    }

    #[test]
    fn malformed_and_impossible_dates_are_refused() {
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T12:30:00",
            "2026-12-01 12:30:00Z",
            "2026-12-01T12:30Z",
            "2026-13-01T12:30:00Z",
            "2026-02-29T12:30:00Z",
            "2026-04-31T12:30:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T12:30:60Z",
            "2026-12-01T12:30:00.Z",
            "2026-12-01T12:30:00+0300",
            "2026-12-01T12:30:00+03:00 ",
            "1969-12-31T23:59:59Z",
            "２026-12-01T12:30:00Z",
        ] {
            assert!(parse_rfc3339_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [0, 1_796_128_205_000, 1_709_251_199_000, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_millis(&rfc3339_utc(ms)), Ok(ms));
        }
        assert_eq!(rfc3339_utc(1_796_128_205_999), "2026-12-01T12:30:05Z");
    }
}
