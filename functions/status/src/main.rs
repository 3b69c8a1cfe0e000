// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One thread: Lambda gives a 256 MB function a fraction of one vCPU, so
// worker threads add start-up work and memory (a thread and a malloc arena
// each) without adding parallelism; the I/O stays concurrent.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = shared::telemetry::cold_start(chasqui_status::App::from_env()).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            chasqui_status::handle(&app, event.payload)
                .await
                .into_lambda()
                .map_err(Error::from)
        }
    }))
    .await
}
