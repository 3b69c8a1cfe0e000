//! `X-Hub-Signature-256` with arbitrary header values, secrets and bodies.
//!
//! Input layout: byte 0 = header length, byte 1 = secret length, byte 2 =
//! which body byte to change and byte 3 = how; then the header, the secret and
//! the body (whatever is left).
//!
//! Invariants, beyond "never panics":
//! - a header verifies exactly when it is `sign(body, secret)`;
//! - the error says why: missing (absent or blank), malformed (no `sha256=`
//!   prefix, not 64 lowercase hex digits) or mismatch;
//! - the correct signature verifies, and fails after any single-byte change
//!   of the body, of a hex digit, or under another secret;
//! - the handshake token comparison is plain equality.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::signature::{self, SignatureError};

fuzz_target!(|data: &[u8]| {
    let Some((&[header_len, secret_len, position, change], rest)) = data.split_first_chunk::<4>()
    else {
        return;
    };
    let (header, rest) = rest.split_at(usize::from(header_len).min(rest.len()));
    let (secret, body) = rest.split_at(usize::from(secret_len).min(rest.len()));

    arbitrary_header(header, body, secret);
    correct_signature(body, secret, position, change);
    tokens(header, secret);
});

fn arbitrary_header(header: &[u8], body: &[u8], secret: &[u8]) {
    let got = signature::verify(Some(header), body, secret);
    let good = signature::sign(body, secret);
    let expected = if header.iter().all(u8::is_ascii_whitespace) {
        Err(SignatureError::Missing)
    } else if !header.starts_with(b"sha256=") {
        Err(SignatureError::Malformed("expected the sha256= prefix"))
    } else if header.len() != 64 + 7 {
        Err(SignatureError::Malformed("expected 64 hex digits"))
    } else if !header[7..]
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        Err(SignatureError::Malformed("expected lowercase hex digits"))
    } else if header == good.as_bytes() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    };
    assert_eq!(got, expected, "header {header:?}");
    assert_eq!(
        signature::verify(None, body, secret),
        Err(SignatureError::Missing)
    );
}

fn correct_signature(body: &[u8], secret: &[u8], position: u8, change: u8) {
    let good = signature::sign(body, secret);
    assert_eq!(good.len(), 71);
    assert_eq!(
        signature::verify(Some(good.as_bytes()), body, secret),
        Ok(())
    );

    // Any single-byte change of the body: at the chosen position, and at both ends.
    if !body.is_empty() {
        let flip = change.max(1);
        for at in [usize::from(position) % body.len(), 0, body.len() - 1] {
            let mut changed = body.to_vec();
            changed[at] ^= flip;
            assert_eq!(
                signature::verify(Some(good.as_bytes()), &changed, secret),
                Err(SignatureError::Mismatch),
                "body byte {at} xor {flip:#x} still verified"
            );
        }
    }
    // A byte appended or removed.
    let mut longer = body.to_vec();
    longer.push(change);
    assert_eq!(
        signature::verify(Some(good.as_bytes()), &longer, secret),
        Err(SignatureError::Mismatch)
    );
    if let Some((_, shorter)) = body.split_last() {
        assert_eq!(
            signature::verify(Some(good.as_bytes()), shorter, secret),
            Err(SignatureError::Mismatch)
        );
    }
    // Another hex digit at the chosen position.
    let at = 7 + usize::from(position) % 64;
    let mut header = good.clone().into_bytes();
    let digits = b"0123456789abcdef";
    let current = digits.iter().position(|d| *d == header[at]).unwrap_or(0);
    header[at] = digits[(current + 1 + usize::from(change) % 15) % 16];
    assert_eq!(
        signature::verify(Some(&header), body, secret),
        Err(SignatureError::Mismatch)
    );
    // The same digest in uppercase is not what Meta sends.
    let upper = format!("sha256={}", good[7..].to_ascii_uppercase());
    let expected = if upper == good {
        Ok(())
    } else {
        Err(SignatureError::Malformed("expected lowercase hex digits"))
    };
    assert_eq!(
        signature::verify(Some(upper.as_bytes()), body, secret),
        expected
    );
    // Another secret (the body's own secret with one more byte).
    let mut other = secret.to_vec();
    other.push(change);
    if signature::sign(body, &other) != good {
        assert_eq!(
            signature::verify(Some(good.as_bytes()), body, &other),
            Err(SignatureError::Mismatch)
        );
    }
}

fn tokens(given: &[u8], expected: &[u8]) {
    let given = String::from_utf8_lossy(given);
    let expected = String::from_utf8_lossy(expected);
    assert_eq!(
        signature::token_matches(&given, &expected),
        given == expected
    );
}
