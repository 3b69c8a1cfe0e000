//! Chasqui's shared crate: the models Meta and upstream systems speak, the
//! signature check, the configuration contract and the AWS adapters that every
//! function builds once per cold start.
//!
//! The AWS adapters, the Cloud API client and telemetry sit behind the default
//! `aws` feature; without it only the pure models and parsers build (the fuzz
//! targets in `fuzz/` use them that way). The domain (`record`, `events`,
//! the table's keys and attribute names in `table`) builds either way.

#![warn(missing_docs)]
// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod check;
#[cfg(feature = "aws")]
pub mod cloud_api;
pub mod config;
#[cfg(feature = "aws")]
pub mod contact;
pub mod customer;
pub mod error;
pub mod events;
#[cfg(feature = "aws")]
pub mod health;
#[cfg(feature = "aws")]
pub mod https;
pub mod intake;
pub mod media;
pub mod metrics;
pub mod phone;
pub mod pseudonym;
#[cfg(feature = "aws")]
pub mod queue;
pub mod record;
#[cfg(feature = "aws")]
pub mod secrets;
pub mod send_request;
pub mod signature;
#[cfg(feature = "aws")]
pub mod sqs;
pub mod store;
pub mod table;
#[cfg(feature = "aws")]
pub mod telemetry;
pub mod templates;
pub mod tenant;
pub mod webhook;

/// Milliseconds since the Unix epoch, the one clock format Chasqui stores.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The AWS SDK configuration, built once per cold start, on the one HTTP
/// client [`https::aws_http_client`] builds (Amazon Trust Services' roots compiled in, no
/// system store). The standard environment (region, credentials,
/// `AWS_ENDPOINT_URL`) decides everything else; nothing here knows whether
/// it talks to AWS or to a local emulator.
#[cfg(feature = "aws")]
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https::aws_http_client())
        .load()
        .await
}

#[cfg(test)]
pub(crate) mod test_support {
    use proptest::prelude::*;
    use serde_json::Value;

    /// Arbitrary JSON, biased towards the keys and values Meta's payloads use.
    pub fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("text"),
                Just("read"),
                Just("messages"),
                Just("1730000001")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("id".to_owned()),
                Just("status".to_owned()),
                Just("statuses".to_owned()),
                Just("messages".to_owned()),
                Just("type".to_owned()),
                Just("text".to_owned()),
                Just("timestamp".to_owned()),
                Just("errors".to_owned()),
                Just("metadata".to_owned()),
                Just("contacts".to_owned()),
                "[a-z_]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
