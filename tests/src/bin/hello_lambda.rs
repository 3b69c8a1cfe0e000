//! Hello-world Rust Lambda: returns its event. The cold-start benchmark's
//! floor (`tests/benches/cold_start.rs`), built with the same profile as the
//! functions it is compared with.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
