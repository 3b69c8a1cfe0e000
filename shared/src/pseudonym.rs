//! Naming a customer in a log line without naming them. Operators sometimes
//! need to see that two lines are about the same customer (an inbound message
//! and the opt-out after it); the line must not carry the phone number or
//! BSUID. A plain hash would not do: phone numbers are few enough to hash
//! them all and look the digest up. So the reference is keyed:
//!
//! `customer_ref = hex(HMAC-SHA256(log_key, tenant ␟ phone_number_id ␟ customer_id))[..16]`
//!
//! (`␟` is the byte 0x1f; `customer_id` the phone number or BSUID the line is
//! about), 64 bits: enough to tell customers apart in a log search, useless
//! without the key. The key is the `log_key` field of the secret
//! `LOG_KEY_SECRET_ID` names (the template generates it; nobody needs to know
//! it), read once per cold start by the functions that log customers. An
//! operator who must find a given customer's lines computes their reference
//! with the key (the README's "Operating it" shows how). Without the setting (the
//! local loop, tests), or while the secret cannot be read, lines carry no
//! customer reference at all, never an unkeyed one.

use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The field of the log key's secret that holds the key.
pub const LOG_KEY_FIELD: &str = "log_key";

/// What a line says for the customer when no key is installed.
pub const NO_KEY: &str = "-";

static KEY: OnceLock<SecretString> = OnceLock::new();

/// Installs the process's key (once per cold start); `false` when one was
/// already installed, which is kept.
pub fn install(key: SecretString) -> bool {
    KEY.set(key).is_ok()
}

/// The keyed reference of a customer of `tenant` at business number
/// `phone_number_id`, or [`NO_KEY`] when no key is installed.
pub fn customer_ref(tenant: &str, phone_number_id: &str, customer_id: &str) -> String {
    match KEY.get() {
        Some(key) => keyed(
            key.expose_secret().as_bytes(),
            tenant,
            phone_number_id,
            customer_id,
        ),
        None => NO_KEY.to_owned(),
    }
}

/// The reference under `key` (the documented computation).
pub fn keyed(key: &[u8], tenant: &str, phone_number_id: &str, customer_id: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(tenant.as_bytes());
    mac.update(&[0x1f]);
    mac.update(phone_number_id.as_bytes());
    mac.update(&[0x1f]);
    mac.update(customer_id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_depends_on_the_key_and_every_part() {
        let base = keyed(b"k1", "default", "111", "5511999990001");
        assert_eq!(base.len(), 16);
        assert_eq!(base, keyed(b"k1", "default", "111", "5511999990001"));
        assert_ne!(base, keyed(b"k2", "default", "111", "5511999990001"));
        assert_ne!(base, keyed(b"k1", "acme", "111", "5511999990001"));
        assert_ne!(base, keyed(b"k1", "default", "112", "5511999990001"));
        assert_ne!(base, keyed(b"k1", "default", "111", "5511999990002"));
        // The separator keeps parts apart: ("a", "bc") is not ("ab", "c").
        assert_ne!(keyed(b"k", "a", "bc", "d"), keyed(b"k", "ab", "c", "d"));
        assert!(!base.contains("5511999990001"));
    }

    #[test]
    fn the_documented_computation_holds() {
        // A vector computed outside Rust, as the README tells an operator to:
        // printf 't\x1fp\x1fc' | openssl dgst -sha256 -hmac key
        // (the first 16 hex digits of the HMAC).
        assert_eq!(keyed(b"key", "t", "p", "c"), "6ecd8863e9b7a9d2");
    }
}
