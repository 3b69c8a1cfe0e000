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
