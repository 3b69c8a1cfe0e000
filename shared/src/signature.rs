//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact raw request bytes, keyed
//! with the Meta app secret, sent as `sha256=<64 lowercase hex digits>`.
//! Verified before anything parses the body, compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The signature header's name, lowercase as HTTP/2 and API Gateway deliver it.
pub const HEADER: &str = "x-hub-signature-256";
const PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or an empty one: the caller is not Meta (HTTP 401).
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    /// A header that cannot be a Meta signature (HTTP 403).
    #[error("the X-Hub-Signature-256 header is malformed: {0}")]
    Malformed(&'static str),
    /// Well-formed, but not the HMAC of this body with our app secret (HTTP 403).
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
}

/// Checks `header` against `body` keyed with `app_secret`.
pub fn verify(header: Option<&[u8]>, body: &[u8], app_secret: &[u8]) -> Result<(), SignatureError> {
    let header = match header {
        Some(h) if !h.iter().all(u8::is_ascii_whitespace) => h,
        _ => return Err(SignatureError::Missing),
    };
    let hex_digest = header
        .strip_prefix(PREFIX.as_bytes())
        .ok_or(SignatureError::Malformed("expected the sha256= prefix"))?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed("expected 64 hex digits"));
    }
    // Meta sends lowercase; anything else did not come from Meta.
    if !hex_digest
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(SignatureError::Malformed("expected lowercase hex digits"));
    }
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut expected)
        .map_err(|_| SignatureError::Malformed("expected lowercase hex digits"))?;
    if bool::from(digest(body, app_secret).ct_eq(&expected)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value Meta would send for `body`: `sha256=<hex>`.
pub fn sign(body: &[u8], app_secret: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(digest(body, app_secret)))
}

fn digest(body: &[u8], key: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Constant-time equality for the handshake's verify token.
pub fn token_matches(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";

    #[test]
    fn sign_matches_a_known_vector() {
        // RFC 4231 test case 2
        let mac = sign(b"what do ya want for nothing?", b"Jefe");
        assert_eq!(
            mac,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bad_signatures_are_rejected() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = sign(body, SECRET);
        let hex = good.strip_prefix("sha256=").unwrap().to_owned();
        let other_body = sign(b"{}", SECRET);
        let wrong_secret = sign(body, b"another-secret");
        let cases: Vec<(&str, Option<String>, SignatureError)> = vec![
            ("missing", None, SignatureError::Missing),
            ("empty", Some(String::new()), SignatureError::Missing),
            ("blank", Some("  ".into()), SignatureError::Missing),
            (
                "no prefix",
                Some(hex.clone()),
                SignatureError::Malformed("expected the sha256= prefix"),
            ),
            (
                "wrong prefix",
                Some(format!("sha1={hex}")),
                SignatureError::Malformed("expected the sha256= prefix"),
            ),
            (
                "prefix case",
                Some(format!("SHA256={hex}")),
                SignatureError::Malformed("expected the sha256= prefix"),
            ),
            (
                "uppercase hex",
                Some(format!("sha256={}", hex.to_uppercase())),
                SignatureError::Malformed("expected lowercase hex digits"),
            ),
            (
                "truncated",
                Some(good[..good.len() - 2].to_owned()),
                SignatureError::Malformed("expected 64 hex digits"),
            ),
            (
                "prefix only",
                Some("sha256=".into()),
                SignatureError::Malformed("expected 64 hex digits"),
            ),
            (
                "non hex",
                Some(format!("sha256={}", "z".repeat(64))),
                SignatureError::Malformed("expected lowercase hex digits"),
            ),
            ("another body", Some(other_body), SignatureError::Mismatch),
            ("wrong secret", Some(wrong_secret), SignatureError::Mismatch),
            (
                "one bit off",
                Some(format!(
                    "sha256={}{}",
                    &hex[..63],
                    if hex.ends_with('0') { '1' } else { '0' }
                )),
                SignatureError::Mismatch,
            ),
        ];
        for (name, header, want) in cases {
            let got = verify(header.as_deref().map(str::as_bytes), body, SECRET);
            assert_eq!(got, Err(want), "case {name}");
        }
        assert_eq!(verify(Some(good.as_bytes()), body, SECRET), Ok(()));
    }

    #[test]
    fn verification_is_over_raw_bytes_not_reserialised_json() {
        // Meta escapes '/' and non-ASCII; a parse-and-reserialise would change these bytes.
        let body = r#"{"text":"caf\u00e9 \/ https:\/\/x.y","name":"José"}"#.as_bytes();
        let header = sign(body, SECRET);
        assert_eq!(verify(Some(header.as_bytes()), body, SECRET), Ok(()));
        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
                .unwrap();
        assert_ne!(reserialised, body);
        assert_eq!(
            verify(Some(header.as_bytes()), &reserialised, SECRET),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("", "abc"));
    }
}
