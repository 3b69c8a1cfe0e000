//! When the AWS SDK clients are made: a cold start's largest piece of CPU
//! work that is not a request.
//!
//! Making a client of a service costs about 0.55 M instructions the first
//! time in a process (the service crate parses its endpoint partitions,
//! with their region patterns, from JSON, whatever resolver the client is
//! then given) and about 0.1 M for each further client of the same service
//! (its runtime plugins and configuration layers). Measured with callgrind
//! in the cold-start bench (`docs/benchmarks.md`, "Cold start and memory"):
//! the webhook's two clients are a quarter of its whole process. So:
//!
//! - A function makes **one client per service**, shared by its adapters
//!   (clients are handles: a clone shares the configuration and the
//!   connection pool). One exception: the status function reads the
//!   bindings through a DynamoDB client of their own, without its request
//!   counter's interceptor, so the counter counts what each record costs.
//! - A client only some requests need (S3 for media kept in S3, EventBridge
//!   Scheduler for scheduled sends) is [`Lazy`]: made at its first use, once
//!   per instance, so a cold start that never needs it never pays for it
//!   (the sender's cold start: 1.1 to 1.4 ms of CPU less).
//!
//! Tried and measured worse, so not done: making the clients on a thread of
//! their own while the first round trip is under way. The thread, its
//! malloc arena's fresh pages and the cross-core traffic cost more than the
//! overlap saved (0.3 to 0.4 ms more per cold start in every function,
//! 25 interleaved samples).

use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

/// A client made at its first use, then kept; clones share it.
#[derive(Debug)]
pub struct Lazy<C> {
    config: SdkConfig,
    make: fn(&SdkConfig) -> C,
    client: Arc<OnceLock<C>>,
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            make: self.make,
            client: self.client.clone(),
        }
    }
}

impl<C> Lazy<C> {
    /// A client of `config`, made by `make` when first asked for.
    pub fn new(config: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        Self {
            config: config.clone(),
            make,
            client: Arc::new(OnceLock::new()),
        }
    }

    /// The client, made now if this is the first call.
    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.make)(&self.config))
    }

    /// Whether the client has been made.
    #[cfg(test)]
    fn is_made(&self) -> bool {
        self.client.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config() -> SdkConfig {
        SdkConfig::builder()
            .region(aws_config::Region::new("sa-east-1"))
            .build()
    }

    static MADE: AtomicUsize = AtomicUsize::new(0);

    /// A stand-in client: the region it was made for and which one it is.
    fn counted(config: &SdkConfig) -> (String, usize) {
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        (region, MADE.fetch_add(1, Ordering::SeqCst) + 1)
    }

    #[test]
    fn a_lazy_client_is_made_at_its_first_use_once_and_its_clones_share_it() {
        let lazy = Lazy::new(&config(), counted);
        let clone = lazy.clone();
        assert!(!lazy.is_made(), "nothing is made before the first use");
        let (region, first) = lazy.get().clone();
        assert_eq!(region, "sa-east-1", "made from the configuration given");
        assert_eq!(lazy.get().1, first, "kept, not made again");
        assert!(
            clone.is_made(),
            "a clone made before the first use shares it"
        );
        assert_eq!(clone.get().1, first);
    }
}
