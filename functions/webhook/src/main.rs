// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]
use lambda_http::{Error, service_fn};

// One thread: Lambda gives a 256 MB function a fraction of one vCPU, so
// worker threads add start-up work and memory (a thread and a malloc arena
// each) without adding parallelism; the I/O stays concurrent.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = shared::telemetry::cold_start(chasqui_webhook::App::from_env()).await?;
    lambda_http::run(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(chasqui_webhook::handle(&app, req).await) }
    }))
    .await
}
