//! A forwarding HTTP proxy that times its upstream: the functions under test
//! reach moto (and the sender the Cloud API sandbox) through it, so each
//! sample knows exactly how many round trips its job made and how long the
//! services took to answer them. What is left of a cold start once those are
//! taken away is the function's own overhead.
//!
//! Each record is the time from sending the request upstream to having read
//! the whole answer, on a warm connection from this process. The hop from
//! the function to the proxy (loopback) is not subtracted: it counts as the
//! function's, which makes the overhead a little pessimistic; the bench
//! prints what the hop costs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chasqui_cli::http::{Server, bytes};
use lambda_http::http::{StatusCode, header};

/// A running proxy to one upstream base URL.
pub struct TimingProxy {
    server: Server,
    log: Arc<Mutex<Vec<Duration>>>,
}

impl TimingProxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .build()
            .expect("a plain HTTP client");
        let log = Arc::new(Mutex::new(Vec::new()));
        let records = log.clone();
        let server = Server::bind(([127, 0, 0, 1], 0).into(), move |req| {
            let (client, upstream, records) = (client.clone(), upstream.clone(), records.clone());
            async move {
                let (parts, body) = req.into_parts();
                let url = format!(
                    "{upstream}{}",
                    parts.uri.path_and_query().map_or("/", |p| p.as_str())
                );
                let mut headers = parts.headers;
                for hop in [
                    header::HOST,
                    header::CONTENT_LENGTH,
                    header::CONNECTION,
                    header::TRANSFER_ENCODING,
                ] {
                    headers.remove(hop);
                }
                let started = Instant::now();
                let answer = async {
                    let response = client
                        .request(parts.method, url)
                        .headers(headers)
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    let headers = response.headers().clone();
                    Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
                }
                .await;
                records.lock().expect("the log").push(started.elapsed());
                match answer {
                    Ok((status, headers, body)) => {
                        let mut reply = bytes(status, "application/octet-stream", body);
                        reply.headers_mut().clear();
                        for (name, value) in &headers {
                            if name != header::CONTENT_LENGTH
                                && name != header::TRANSFER_ENCODING
                                && name != header::CONNECTION
                            {
                                reply.headers_mut().append(name.clone(), value.clone());
                            }
                        }
                        reply
                    }
                    Err(e) => bytes(StatusCode::BAD_GATEWAY, "text/plain", e.to_string()),
                }
            }
        })
        .await
        .expect("a port for the timing proxy");
        Self { server, log }
    }

    /// `http://<addr>`, to use as the function's endpoint.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The upstream times recorded since the last call.
    pub fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.log.lock().expect("the log"))
    }
}
