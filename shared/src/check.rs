//! The shapes several inputs share, checked one way everywhere: settings,
//! send requests, the sandbox's configuration and the CLI's flags.

use std::time::Duration;

/// The customer service window: free-form messages are allowed within 24
/// hours of the customer's last message (the sender checks it before a
/// call; the sandbox enforces it as Meta does).
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether a customer who last wrote at `last_inbound_ms` may still get a
/// free-form message at `now_ms`.
pub fn window_open(last_inbound_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(last_inbound_ms) <= SERVICE_WINDOW.as_millis() as u64
}

/// An absolute `http://` or `https://` URL with a host and no whitespace.
pub fn http_url(value: &str) -> Result<(), &'static str> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or("expected an http:// or https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || value.contains(char::is_whitespace) {
        return Err("expected an absolute URL with a host and no spaces");
    }
    Ok(())
}

/// An SQS queue URL: `http(s)://`, a host and a path
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
pub fn queue_url(value: &str) -> Result<(), &'static str> {
    const SHAPE: &str =
        "expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)";
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or(SHAPE)?;
    match rest.split_once('/') {
        Some((host, path)) if !host.is_empty() && !path.is_empty() => Ok(()),
        _ => Err(SHAPE),
    }
}

/// One of Meta's numeric ids (a phone number id, a WABA id): digits only,
/// never a phone number written with `+` or spaces.
pub fn numeric_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 32 && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_24_hours_inclusive() {
        let day = SERVICE_WINDOW.as_millis() as u64;
        assert!(window_open(1_000, 1_000 + day));
        assert!(!window_open(1_000, 1_000 + day + 1));
        // A clock that runs behind the message's time keeps it open.
        assert!(window_open(5_000, 1_000));
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        for ok in [
            "https://graph.facebook.com",
            "http://127.0.0.1:9000/webhook",
            "https://x/a?b#c",
        ] {
            assert_eq!(http_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "graph.facebook.com",
            "https://",
            "https:///path",
            "ftp://x",
            "https://a b",
            "sqs/queue",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_ids_are_digits_only() {
        assert!(numeric_id("1122334455"));
        for bad in ["", "+1122", "11 22", "12a", &"1".repeat(33)] {
            assert!(!numeric_id(bad), "{bad}");
        }
    }
}
