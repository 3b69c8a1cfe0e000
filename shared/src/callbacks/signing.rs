//! The Standard Webhooks signature (standardwebhooks.com), which every
//! callback carries and the local receiver checks:
//!
//! - `webhook-id`: the event's id (the deduplication key);
//! - `webhook-timestamp`: Unix seconds of this attempt;
//! - `webhook-signature`: `v1,` and base64 of
//!   `HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")` over the
//!   exact body bytes; several space-separated signatures may be sent (a
//!   rotation), one valid is enough.
//!
//! The secret is shown to the registrant as `whsec_` and the base64 key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header holding the event id.
pub const ID_HEADER: &str = "webhook-id";
/// The header holding the attempt's Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header holding the signature(s).
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The prefix of a secret as shown.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from the receiver's clock (the standard's
/// default).
pub const TOLERANCE_SECONDS: u64 = 5 * 60;

/// The secret as shown to the endpoint's owner: `whsec_<base64 key>`.
pub fn secret_text(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key of a `whsec_...` secret (the prefix is optional, as in the
/// standard's libraries).
pub fn key_of(secret: &str) -> Result<Vec<u8>, &'static str> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD
        .decode(b64.trim())
        .map_err(|_| "the secret is not whsec_ followed by base64")
}

/// The `webhook-signature` value of `body` sent as event `id` at
/// `timestamp` (Unix seconds): `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Why a delivery does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A header is missing or empty.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// `webhook-timestamp` is not Unix seconds.
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is further than [`TOLERANCE_SECONDS`] from now.
    #[error("webhook-timestamp is too far from now (replayed or clock skew)")]
    TooOld,
    /// No `v1` signature matches.
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Verifies a delivery as a receiver does: the headers' values, the exact
/// body, the receiver's clock `now` (Unix seconds). Compared in constant
/// time.
pub fn verify(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), Invalid> {
    fn present<'a>(v: Option<&'a str>, name: &'static str) -> Result<&'a str, Invalid> {
        v.filter(|v| !v.is_empty()).ok_or(Invalid::Missing(name))
    }
    let id = present(id, ID_HEADER)?;
    let timestamp = present(timestamp, TIMESTAMP_HEADER)?;
    let signatures = present(signatures, SIGNATURE_HEADER)?;
    let at: u64 = timestamp.parse().map_err(|_| Invalid::BadTimestamp)?;
    if at.abs_diff(now) > TOLERANCE_SECONDS {
        return Err(Invalid::TooOld);
    }
    let expected = mac(key, id, at, body);
    let matches = signatures.split(' ').any(|sig| {
        sig.strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|got| subtle::ConstantTimeEq::ct_eq(&got[..], &expected[..]).into())
    });
    if matches {
        Ok(())
    } else {
        Err(Invalid::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks libraries (and of
    /// `docs/callbacks.md`).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const AT: u64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_standard_webhooks_test_vector_signs_and_verifies() {
        let key = key_of(SECRET).unwrap();
        assert_eq!(sign(&key, ID, AT, BODY), SIGNATURE);
        assert_eq!(secret_text(&key), SECRET);
        assert_eq!(
            verify(
                &key,
                Some(ID),
                Some("1614265330"),
                Some(SIGNATURE),
                BODY,
                AT + 10
            ),
            Ok(())
        );
        // Another signature first (a rotation): one match is enough.
        let two = format!("v1,AAAA {SIGNATURE}");
        assert_eq!(
            verify(&key, Some(ID), Some("1614265330"), Some(&two), BODY, AT),
            Ok(())
        );
    }

    #[test]
    fn anything_changed_does_not_verify() {
        let key = key_of(SECRET).unwrap();
        let check = |id, ts, sig, body: &[u8], now| verify(&key, id, ts, sig, body, now);
        let ts = Some("1614265330");
        assert_eq!(
            check(
                Some(ID),
                ts,
                Some(SIGNATURE),
                br#"{"test": 2432232315}"#,
                AT
            ),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            check(Some("msg_other"), ts, Some(SIGNATURE), BODY, AT),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            check(Some(ID), Some("1614265331"), Some(SIGNATURE), BODY, AT),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            check(
                Some(ID),
                ts,
                Some("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
                BODY,
                AT
            ),
            Err(Invalid::Mismatch)
        );
        assert_eq!(
            check(
                Some(ID),
                ts,
                Some(SIGNATURE),
                BODY,
                AT + TOLERANCE_SECONDS + 1
            ),
            Err(Invalid::TooOld)
        );
        assert_eq!(
            check(None, ts, Some(SIGNATURE), BODY, AT),
            Err(Invalid::Missing(ID_HEADER))
        );
        assert_eq!(
            check(Some(ID), Some("soon"), Some(SIGNATURE), BODY, AT),
            Err(Invalid::BadTimestamp)
        );
        assert!(key_of("whsec_!!").is_err());
    }
}
