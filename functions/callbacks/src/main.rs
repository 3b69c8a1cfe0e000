// Input from outside (SQS, endpoints, settings) is never unwrapped: every
// failure is an error with its cause (tests may unwrap; clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One thread: a small function has a fraction of one vCPU; the deliveries
// of a batch stay concurrent on it.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = shared::telemetry::cold_start(chasqui_callbacks::App::from_env()).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            chasqui_callbacks::handle(&app, event.payload)
                .await
                .into_lambda()
                .map_err(Error::from)
        }
    }))
    .await
}
