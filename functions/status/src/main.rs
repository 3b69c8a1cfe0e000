use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let app = match status::App::from_env().await {
        Ok(app) => Arc::new(app),
        Err(err) => {
            tracing::error!(error = %err, "cold start failed");
            return Err(err);
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(status::handle(&app, event.payload).await) }
    }))
    .await
}
