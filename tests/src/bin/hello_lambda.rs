//! Hello-world Rust Lambda: returns its event. The cold-start benchmark's
//! floor (`tests/benches/cold_start.rs`), built with the same profile as the
//! functions it is compared with, and on the same runtime: tokio's
//! current-thread one, as the functions' `main` has it.
//! `HELLO_MULTI_THREAD=1` starts tokio's default multi-thread runtime
//! instead (the floor the bench used before the functions went to one
//! thread), for comparison.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> Result<(), Error> {
    let mut runtime = if std::env::var_os("HELLO_MULTI_THREAD").is_some() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    runtime
        .enable_all()
        .build()?
        .block_on(lambda_runtime::run(service_fn(
            |event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) },
        )))
}
