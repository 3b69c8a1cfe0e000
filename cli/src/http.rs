//! How the local loop's HTTP servers run (the sandbox, the Lambda runtime
//! API, the API Gateway front): each is an axum [`Router`] served over
//! HTTP/1.1 with one body limit, and dropping or stopping the [`Server`]
//! closes the listener and every connection (idle ones at once, busy ones
//! once their answer is written).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lambda's synchronous payload limit; nothing local needs more. A larger
/// body is answered `413`.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// How long [`Server::stop`] waits for answers in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running server. Stops when [`Server::stop`] is called or it is dropped.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `router` on `listener` until stopped.
    pub fn spawn(listener: TcpListener, router: Router) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let app = router.layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            // A dropped sender stops the server as well.
            let _ = stopped.wait_for(|s| *s).await;
        });
        let task = tokio::spawn(async move {
            // Serving on an accepted socket does not fail (errors of one
            // connection end that connection).
            let _ = serve.await;
        });
        Ok(Self {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// Binds `addr` (port 0 picks a free one) and serves `router`.
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        Self::spawn(TcpListener::bind(addr).await?, router)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection, waiting a few seconds at
    /// most for answers in flight.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(STOP_GRACE, task).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::routing::post;

    async fn echo_server() -> Server {
        let router = Router::new().route("/", post(|body: Bytes| async move { body }));
        Server::bind(([127, 0, 0, 1], 0).into(), router)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413() {
        let server = echo_server().await;
        let client = reqwest::Client::new();
        let ok = client
            .post(server.url())
            .body(vec![b'a'; MAX_BODY_BYTES])
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.bytes().await.unwrap().len(), MAX_BODY_BYTES);
        let big = client
            .post(server.url())
            .body(vec![b'a'; MAX_BODY_BYTES + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), 413);
        server.stop().await;
    }

    #[tokio::test]
    async fn stopping_or_dropping_closes_the_listener_and_idle_connections() {
        let client = reqwest::Client::new();
        for drop_it in [false, true] {
            let server = echo_server().await;
            let url = server.url();
            // A kept-alive connection, idle in the client's pool.
            let ok = client.post(&url).body("x").send().await.unwrap();
            assert_eq!(ok.text().await.unwrap(), "x");
            if drop_it {
                drop(server);
            } else {
                server.stop().await;
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                match client.post(&url).body("y").send().await {
                    Err(e) => {
                        assert!(e.is_connect() || e.is_request(), "{e}");
                        break;
                    }
                    Ok(_) => assert!(
                        std::time::Instant::now() < deadline,
                        "still answering after being stopped (dropped: {drop_it})"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // And nothing listens on the port any more.
            let addr = url.trim_start_matches("http://");
            while tokio::net::TcpStream::connect(addr).await.is_ok() {
                assert!(std::time::Instant::now() < deadline, "{addr} still listens");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
