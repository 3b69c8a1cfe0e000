use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One thread: Lambda gives a 256 MB function a fraction of one vCPU, so
// worker threads add start-up work and memory (a thread and a malloc arena
// each) without adding parallelism; the I/O stays concurrent.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = match sender::App::from_env().await {
        Ok(app) => Arc::new(app),
        Err(err) => {
            tracing::error!(error = %err, "cold start failed");
            return Err(err);
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let records = sender::record_count(&event.payload);
            let response = sender::handle(&app, event.payload).await;
            // As Powertools does: a batch where every record failed fails the
            // invocation, so Lambda's poller backs off. Visibility timeouts
            // already set per record still decide when each comes back.
            if records > 0 && response.batch_item_failures.len() == records {
                return Err(Error::from(format!(
                    "all {records} records failed; see the per-record log lines"
                )));
            }
            Ok::<_, Error>(response)
        }
    }))
    .await
}
