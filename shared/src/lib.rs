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

pub mod callbacks;
pub mod check;
#[cfg(feature = "aws")]
pub mod clients;
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
pub mod keys;
pub mod media;
pub mod metrics;
pub mod phone;
pub mod pseudonym;
#[cfg(feature = "aws")]
pub mod queue;
pub mod record;
pub mod schedule;
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
pub mod time;
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
///
/// **Environment first.** Lambda hands a function its region and its role's
/// credentials in environment variables (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which are the first link
/// of the SDK's default region and credentials chains, so those chains end
/// there. When they are set, this takes them directly and skips building
/// the rest of the credentials chain (profile files, web identity with its
/// own STS client, ECS, IMDS with its own client), work a cold start paid
/// for and never used. Without them (a developer's machine with a profile,
/// an EC2 instance) the default chains run, exactly as before.
#[cfg(feature = "aws")]
pub async fn aws_config() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https::aws_http_client());
    with_environment_first(loader, |name| std::env::var(name).ok())
        .load()
        .await
}

/// The region and credentials of the environment, where the default chains
/// would take them from (`env` reads a variable; blank counts as unset, as
/// in the SDK's environment providers).
#[cfg(feature = "aws")]
fn with_environment_first(
    mut loader: aws_config::ConfigLoader,
    env: impl Fn(&str) -> Option<String>,
) -> aws_config::ConfigLoader {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    // The SDK's environment region provider: AWS_REGION, then AWS_DEFAULT_REGION.
    if let Some(region) = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    // What the SDK's environment credentials provider needs to succeed
    // (its fallback names for the secret included); it then reads them,
    // session token too, as the default chain's first link does.
    if set("AWS_ACCESS_KEY_ID").is_some()
        && (set("AWS_SECRET_ACCESS_KEY").is_some() || set("SECRET_ACCESS_KEY").is_some())
    {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader
}

#[cfg(all(test, feature = "aws"))]
mod aws_config_tests {
    use super::with_environment_first;
    use std::collections::HashMap;

    async fn load(vars: &[(&str, &str)]) -> aws_config::SdkConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        with_environment_first(loader, |name| vars.get(name).cloned())
            .load()
            .await
    }

    fn provider(config: &aws_config::SdkConfig) -> String {
        format!("{:?}", config.credentials_provider())
    }

    #[tokio::test]
    async fn lambdas_environment_gives_the_region_and_credentials_without_the_default_chain() {
        // GIVEN the variables Lambda sets
        let config = load(&[
            ("AWS_REGION", "sa-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ])
        .await;
        // THEN AWS_REGION wins, as in the SDK's environment provider
        assert_eq!(config.region().map(|r| r.as_ref()), Some("sa-east-1"));
        // AND the credentials come from the environment provider alone
        let provider = provider(&config);
        assert!(
            provider.contains("EnvironmentVariableCredentialsProvider")
                && !provider.contains("DefaultCredentialsChain"),
            "{provider}"
        );
    }

    #[tokio::test]
    async fn aws_default_region_and_the_fallback_secret_name_count_too() {
        let config = load(&[
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("SECRET_ACCESS_KEY", "secret"),
        ])
        .await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(provider(&config).contains("EnvironmentVariableCredentialsProvider"));
    }

    #[tokio::test]
    async fn without_them_the_default_credentials_chain_runs_as_before() {
        // GIVEN an access key without its secret, or blank values
        for vars in [
            &[("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")][..],
            &[("AWS_ACCESS_KEY_ID", " "), ("AWS_SECRET_ACCESS_KEY", "")][..],
            &[][..],
        ] {
            let config = load(vars).await;
            // THEN the SDK's default chain is in place (profiles, web
            // identity, ECS, IMDS), not the environment provider alone
            let provider = provider(&config);
            assert!(provider.contains("DefaultCredentialsChain"), "{provider}");
        }
    }
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
