//! Chasqui's shared crate: the models Meta and upstream systems speak, the
//! signature check, the configuration contract and the AWS adapters that every
//! function builds once per cold start.

pub mod config;
pub mod intake;
pub mod queue;
pub mod secrets;
pub mod signature;
pub mod table;
pub mod telemetry;
pub mod webhook;

/// Milliseconds since the Unix epoch, the one clock format Chasqui stores.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The AWS SDK configuration, built once per cold start. The standard
/// environment (region, credentials, `AWS_ENDPOINT_URL`) decides everything;
/// nothing here knows whether it talks to AWS or to a local emulator.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
