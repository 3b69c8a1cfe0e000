//! Unix milliseconds as calendar time (UTC), without a date library.

/// `(year, month 1-12, day, hour, minute, second, millisecond)`, UTC.
pub use shared::time::civil;

/// `2026-11-22 12:00:00.123Z`.
pub fn iso(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `22/Nov/2026:12:00:00 +0000` (API Gateway's `requestContext.time`).
pub fn clf(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!(
        "{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000",
        MONTHS[(mo as usize).saturating_sub(1).min(11)]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(clf(1_795_348_800_000), "22/Nov/2026:12:00:00 +0000");
        assert_eq!(clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(iso(1_730_000_001_234), "2024-10-27 03:33:21.234Z");
    }
}

/// Unix milliseconds of a UTC time written `2026-11-22T12:00:00Z` (a space
/// for the `T`, and fractional seconds, are accepted); `None` otherwise.
pub fn parse_utc(text: &str) -> Option<u64> {
    let text = text.trim().strip_suffix(['Z', 'z'])?;
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let millis = format!("{fraction:0<3}")[..3].parse::<i64>().ok()?;
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis;
    u64::try_from(ms)
        .ok()
        .filter(|&ms| civil(ms).2 == day as u32)
}

/// Milliseconds of a duration written `90s`, `30m`, `24h` or `7d`.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    text[..text.len() - 1]
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn utc_times_and_durations_read_back() {
        for ms in [0, 1_764_460_800_123, 951_782_400_000] {
            let (y, mo, d, h, mi, s, milli) = civil(ms);
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
            assert_eq!(parse_utc(&text), Some(ms), "{text}");
        }
        assert_eq!(parse_utc("1970-01-01 00:00:01Z"), Some(1000));
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-22T12:00:00",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("30m"), Some(1_800_000));
        assert_eq!(parse_duration("7d"), Some(604_800_000));
        assert_eq!(parse_duration("7"), None);
        assert_eq!(parse_duration("m"), None);
    }
}
