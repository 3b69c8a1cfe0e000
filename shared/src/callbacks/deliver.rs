//! One callback POST: the guarded HTTP client and the signed request.
//!
//! The client resolves each host name itself ([`GuardedResolver`]): every
//! address is checked by the SSRF guard and the connection goes only to
//! the checked addresses, so DNS cannot be re-pointed between the check and
//! the connection. Address literals never reach a resolver: they are
//! checked on the URL as parsed for the request. No proxy (it would
//! resolve the name instead), no redirect followed (a `3xx` is a failed
//! attempt), a short whole-request timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::signing;
use super::ssrf::{Guard, Refused};

/// Resolves a name and lets through only addresses the guard accepts.
struct GuardedResolver {
    guard: Guard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            guard.check_resolved(&ips)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered `2xx`.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Anything else: retried later. `reason` is short and carries no URL.
    Failed {
        /// The status, when the endpoint answered.
        status: Option<u16>,
        /// Why: `http 500`, `timeout`, `refused: ...`.
        reason: String,
    },
}

/// The callback client, built once per cold start.
#[derive(Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    guard: Guard,
}

impl Deliverer {
    /// A client with the guard `guard` and a whole-request `timeout`.
    pub fn new(guard: Guard, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = crate::https::reqwest_builder()?
            .dns_resolver(Arc::new(GuardedResolver {
                guard: guard.clone(),
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("chasqui-callbacks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, guard })
    }

    /// The guard this client applies.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// POSTs `body` (the event's exact JSON) to `url`, signed with `key`
    /// as event `event_id` at `timestamp` (Unix seconds).
    pub async fn post(
        &self,
        url: &str,
        key: &[u8],
        event_id: &str,
        timestamp: u64,
        body: &str,
    ) -> Attempt {
        if let Err(refused) = self.check(url) {
            return Attempt::Failed {
                status: None,
                reason: format!("refused: {refused}"),
            };
        }
        let signature = signing::sign(key, event_id, timestamp, body.as_bytes());
        let answer = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signing::ID_HEADER, event_id)
            .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
            .header(signing::SIGNATURE_HEADER, signature)
            .body(body.to_owned())
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => Attempt::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => Attempt::Failed {
                status: Some(response.status().as_u16()),
                reason: format!("http {}", response.status().as_u16()),
            },
            Err(e) => Attempt::Failed {
                status: None,
                reason: describe(e),
            },
        }
    }

    /// The guard on the URL as the request will parse it: the scheme, and
    /// an address literal in any form the URL parser reads as one.
    fn check(&self, url: &str) -> Result<(), Refused> {
        self.guard.check_url(url)?;
        let parsed = reqwest::Url::parse(url).map_err(|_| Refused::Malformed("unparseable"))?;
        let host = parsed.host_str().ok_or(Refused::Malformed("no host"))?;
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.guard.check_ip(ip),
            // A name: its addresses are checked by the resolver.
            Err(_) => Ok(()),
        }
    }
}

/// A transport failure, without the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect failed"
    } else {
        "request failed"
    };
    // The resolver's refusal is the cause's text.
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return format!("refused: {refused}");
        }
        cause = c.source();
    }
    format!("{kind}: {}", crate::error::Chain(&e))
}
