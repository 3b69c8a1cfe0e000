//! The one small HTTP/1.1 server the local loop's pieces share (the sandbox,
//! the Lambda runtime API, the API Gateway front): bodies are read whole,
//! a handler maps a request to a response, and dropping or stopping the
//! [`Server`] closes the listener and every open connection.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Lambda's synchronous payload limit; nothing local needs more.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

pub type Reply = Response<Full<Bytes>>;

/// A running server. Stops when [`Server::stop`] is called or it is dropped.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on `listener` until stopped.
    pub fn spawn<H, F>(listener: TcpListener, handler: H) -> std::io::Result<Self>
    where
        H: Fn(Request<Bytes>) -> F + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let handler = Arc::new(handler);
        let task = tokio::spawn(accept_loop(listener, handler, stopped));
        Ok(Self {
            addr,
            stop,
            task: Some(task),
        })
    }

    /// Binds `addr` (port 0 picks a free one) and serves `handler`.
    pub async fn bind<H, F>(addr: SocketAddr, handler: H) -> std::io::Result<Self>
    where
        H: Fn(Request<Bytes>) -> F + Send + Sync + 'static,
        F: Future<Output = Reply> + Send + 'static,
    {
        Self::spawn(TcpListener::bind(addr).await?, handler)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listener and every connection.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    handler: Arc<H>,
    mut stopped: watch::Receiver<bool>,
) where
    H: Fn(Request<Bytes>) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: back off, keep serving.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(dispatch(req, handler.as_ref()).await) }
            });
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        });
    }
}

async fn dispatch<H, F>(req: Request<Incoming>, handler: &H) -> Reply
where
    H: Fn(Request<Bytes>) -> F,
    F: Future<Output = Reply>,
{
    let (parts, body) = req.into_parts();
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => handler(Request::from_parts(parts, collected.to_bytes())).await,
        Err(_) => json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"message": format!("request bodies are limited to {MAX_BODY_BYTES} bytes")}),
        ),
    }
}

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Reply {
    bytes(status, "application/json", body.to_string())
}

/// A response with a body of the given content type.
pub fn bytes(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        reply.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    reply
}

/// The query string as `(name, value)` pairs, percent-decoded.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `%XX` and `+` decoding of one query component; bad escapes stay as they are.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_decoded() {
        assert_eq!(
            query_pairs(Some(
                "hub.mode=subscribe&hub.challenge=4%202&x=a+b&flag&bad=%zz&end=%4"
            )),
            vec![
                ("hub.mode".into(), "subscribe".into()),
                ("hub.challenge".into(), "4 2".into()),
                ("x".into(), "a b".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }
}
