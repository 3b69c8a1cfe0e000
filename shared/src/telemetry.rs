//! Structured JSON logs, one object per line, as CloudWatch Logs Insights
//! likes them. `RUST_LOG` sets the filter (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber, filtered by `RUST_LOG` (default `info`); a
/// second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, or a runtime that already set one) is harmless.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .try_init();
}

/// A function's cold start: the log subscriber, then its state from the
/// environment (`from_env`), shared by every invocation; a failure is
/// logged before the runtime reports it, so the reason is in the function's
/// log group.
pub async fn cold_start<A, E: std::fmt::Display>(
    from_env: impl std::future::Future<Output = Result<A, E>>,
) -> Result<std::sync::Arc<A>, E> {
    init();
    match from_env.await {
        Ok(app) => Ok(std::sync::Arc::new(app)),
        Err(err) => {
            tracing::error!(error = %err, "cold start failed");
            Err(err)
        }
    }
}
