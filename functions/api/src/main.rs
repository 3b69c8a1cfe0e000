// Input from outside (callers, settings) is never unwrapped: every failure
// is an answer with its reason (tests may unwrap; clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]
use lambda_http::{Error, service_fn};

// One thread, as the webhook: a small function gets a fraction of one
// vCPU, so worker threads add start-up work and memory without adding
// parallelism; the I/O stays concurrent.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = shared::telemetry::cold_start(chasqui_api::App::from_env()).await?;
    lambda_http::run(service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(chasqui_api::handle(&app, req).await) }
    }))
    .await
}
