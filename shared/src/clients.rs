//! When the AWS SDK clients are made: a cold start's largest piece of CPU
//! work that is not a request.
//!
//! Making a client of a service costs about 0.55 M instructions the first
//! time in a process (the service crate parses its endpoint partitions,
//! with their region patterns, from JSON) and about 0.1 M for each further
//! client of the same service (its runtime plugins and configuration
//! layers). Measured with callgrind in the cold-start bench
//! (`docs/benchmarks.md`, "Cold start and memory"): in the webhook the two
//! clients were a quarter of its whole process. Two ways keep that work off
//! the path to the first answer:
//!
//! - [`Building`]: a client the function needs at every invocation but not
//!   for its first round trip is made on its own thread while the cold start
//!   goes on (the secret's `GetSecretValue` in flight, the log subscriber,
//!   the settings). During a round trip the process waits, so on Lambda's
//!   fractional vCPU the thread runs in time that was idle.
//! - [`Lazy`]: a client only some requests need (S3 for media kept in S3,
//!   EventBridge Scheduler for scheduled sends) is made at its first use, once
//!   per instance, so a cold start that never needs it never pays for it.
//!
//! And a function makes one client per service, shared by its adapters
//! (clients are handles: a clone shares the connection pool).

use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use aws_config::SdkConfig;

/// A client being made on its own thread; [`Building::wait`] hands it over.
#[derive(Debug)]
pub struct Building<C>(Made<C>);

#[derive(Debug)]
enum Made<C> {
    Thread(JoinHandle<C>),
    /// The thread could not be started: made here instead.
    Here(C),
}

impl<C: Send + 'static> Building<C> {
    /// Starts making a client of `config` with `make` (say,
    /// `aws_sdk_sqs::Client::new`, or a closure that makes several). Where
    /// no thread can be started, they are made now, as they would have been
    /// without this.
    pub fn start<F>(config: &SdkConfig, make: F) -> Self
    where
        F: FnOnce(&SdkConfig) -> C + Clone + Send + 'static,
    {
        let (for_thread, make_here) = (config.clone(), make.clone());
        let spawned = std::thread::Builder::new()
            .name("aws-client".to_owned())
            .spawn(move || make(&for_thread));
        match spawned {
            Ok(thread) => Self(Made::Thread(thread)),
            Err(error) => {
                tracing::warn!(%error, "no thread for the AWS clients: made in line");
                Self(Made::Here(make_here(config)))
            }
        }
    }

    /// The client, once made. A panic while making it (the SDK's
    /// constructors panic only on a configuration they cannot use) goes on
    /// here, as if the client had been made in line.
    pub fn wait(self) -> C {
        match self.0 {
            Made::Here(client) => client,
            Made::Thread(thread) => match thread.join() {
                Ok(client) => client,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        }
    }
}

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

    #[test]
    fn a_client_building_in_the_background_is_made_on_its_own_thread_from_the_configuration() {
        let here = std::thread::current().id();
        let building = Building::start(&config(), move |config| {
            let thread = std::thread::current();
            (
                thread.id() != here,
                thread.name().map(str::to_owned),
                config.region().map(|r| r.to_string()),
            )
        });
        let (elsewhere, name, region) = building.wait();
        assert!(elsewhere, "made on another thread");
        assert_eq!(name.as_deref(), Some("aws-client"));
        assert_eq!(region.as_deref(), Some("sa-east-1"));
    }

    #[test]
    fn a_panic_while_building_goes_on_where_the_client_is_waited_for() {
        let building = Building::start(&config(), |_| -> u8 { panic!("unusable configuration") });
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || building.wait()));
        let message = caught
            .err()
            .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert_eq!(message, "unusable configuration");
    }
}
