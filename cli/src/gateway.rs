//! A local front for HTTP functions, as API Gateway's HTTP API (payload
//! format 2.0) runs them: a request becomes an `APIGatewayV2httpRequest`
//! event, the function's answer becomes the HTTP response. It also serves
//! Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`) and
//! `cargo lambda watch`'s function URLs (`/lambda-url/{name}/...`), so
//! `cargo lambda invoke` and the `make invoke-*` targets work against it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use hyper::body::Bytes;
use hyper::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::http::{self, Reply, Server};
use crate::runtime::{Invoke, InvokeError};

/// An HTTP route: requests whose path is `path` or below it go to `function`.
#[derive(Clone)]
pub struct Route {
    pub path: String,
    pub function: Arc<dyn Invoke>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Hand every body base64-encoded (`isBase64Encoded: true`), as API
    /// Gateway does for binary media types, to exercise the decoding path.
    pub base64_bodies: bool,
}

pub struct Gateway {
    server: Server,
}

struct Routes {
    routes: Vec<Route>,
    functions: BTreeMap<String, Arc<dyn Invoke>>,
    options: GatewayOptions,
}

impl Gateway {
    /// Serves `routes` over HTTP and `functions` over the Invoke API.
    pub async fn start(
        addr: SocketAddr,
        routes: Vec<Route>,
        functions: Vec<Arc<dyn Invoke>>,
        options: GatewayOptions,
    ) -> std::io::Result<Self> {
        let table = Arc::new(Routes {
            routes,
            functions: functions
                .into_iter()
                .map(|f| (f.name().to_owned(), f))
                .collect(),
            options,
        });
        let server = Server::bind(addr, move |req| {
            let table = table.clone();
            async move { handle(&table, req).await }
        })
        .await?;
        Ok(Self { server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

async fn handle(routes: &Routes, req: Request<Bytes>) -> Reply {
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix("/2015-03-31/functions/") {
        let name = rest.strip_suffix("/invocations").unwrap_or_default();
        return invoke_api(routes, name, &req).await;
    }
    if let Some(rest) = path.strip_prefix("/lambda-url/") {
        let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(function) = routes.functions.get(name) else {
            return not_found();
        };
        let raw_path = format!("/{sub}");
        let route_key = "$default".to_owned();
        return http_function(
            function.as_ref(),
            &req,
            &raw_path,
            &route_key,
            routes.options,
        )
        .await;
    }
    let route = routes.routes.iter().find(|r| {
        path == r.path || path.starts_with(&format!("{}/", r.path.trim_end_matches('/')))
    });
    match route {
        Some(route) => {
            let route_key = format!("{} {}", req.method(), route.path);
            http_function(
                route.function.as_ref(),
                &req,
                &path,
                &route_key,
                routes.options,
            )
            .await
        }
        None => not_found(),
    }
}

fn not_found() -> Reply {
    http::json(StatusCode::NOT_FOUND, &json!({"message": "Not Found"}))
}

async fn invoke_api(routes: &Routes, name: &str, req: &Request<Bytes>) -> Reply {
    if req.method() != Method::POST {
        return http::json(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"message": "use POST"}),
        );
    }
    let Some(function) = routes.functions.get(name) else {
        return http::json(
            StatusCode::NOT_FOUND,
            &json!({"Type": "User", "message": format!("Function not found: {name}")}),
        );
    };
    let payload: Value = if req.body().is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(req.body()) {
            Ok(p) => p,
            Err(e) => {
                return http::json(
                    StatusCode::BAD_REQUEST,
                    &json!({"Type": "User", "message": format!("Could not parse request body into json: {e}")}),
                );
            }
        }
    };
    match function.invoke(payload).await {
        Ok(response) => http::json(StatusCode::OK, &response),
        Err(e) => {
            let (error_type, message) = match &e {
                InvokeError::Function {
                    error_type,
                    message,
                    ..
                } => (error_type.clone(), message.clone()),
                other => ("Runtime.Unknown".to_owned(), other.to_string()),
            };
            let mut reply = http::json(
                StatusCode::OK,
                &json!({"errorType": error_type, "errorMessage": message}),
            );
            reply.headers_mut().insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
            reply
        }
    }
}

async fn http_function(
    function: &dyn Invoke,
    req: &Request<Bytes>,
    raw_path: &str,
    route_key: &str,
    options: GatewayOptions,
) -> Reply {
    let event = http_event(req, raw_path, route_key, options.base64_bodies);
    match function.invoke(event).await {
        Ok(response) => http_response(&response),
        Err(e) => {
            tracing::warn!(function = function.name(), error = %e, "HTTP function failed");
            match e {
                InvokeError::Timeout { .. } => http::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"message": "Service Unavailable"}),
                ),
                _ => http::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"message": "Internal Server Error"}),
                ),
            }
        }
    }
}

/// The API Gateway HTTP API (2.0) event for a request.
pub fn http_event(req: &Request<Bytes>, raw_path: &str, route_key: &str, base64: bool) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = req.uri().query().unwrap_or_default().to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in http::query_pairs(req.uri().query()) {
        query
            .entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let now = shared::now_millis();
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": req.method().as_str(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": format!("{:016x}", fastrand::u64(..)),
            "routeKey": route_key,
            "stage": "$default",
            "time": crate::clock::clf(now),
            "timeEpoch": now,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    let body = req.body();
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) if !base64 => event["body"] = text.into(),
            _ => {
                event["body"] = base64::engine::general_purpose::STANDARD
                    .encode(body)
                    .into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    event
}

/// The HTTP response for a function's answer (payload format 2.0): a
/// response object, or any other JSON, which API Gateway returns as a 200
/// JSON body.
pub fn http_response(response: &Value) -> Reply {
    let Some(obj) = response
        .as_object()
        .filter(|o| o.contains_key("statusCode"))
    else {
        return http::json(StatusCode::OK, response);
    };
    let status = obj
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match obj.get("body") {
        Some(Value::String(s)) if obj.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut reply = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    let headers = reply.headers_mut();
    let mut put = |name: &str, value: &str, append: bool| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            if append {
                headers.append(n, v);
            } else {
                headers.insert(n, v);
            }
        }
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (k, v) in h {
            put(k, &text(v), false);
        }
    }
    if let Some(Value::Object(h)) = obj.get("multiValueHeaders") {
        let h: &Map<String, Value> = h;
        for (k, values) in h {
            for v in values.as_array().into_iter().flatten() {
                put(k, &text(v), true);
            }
        }
    }
    for c in obj
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        put("set-cookie", &text(c), true);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_what_lambda_http_reads() {
        let req = Request::builder()
            .method("POST")
            .uri("/webhook?hub.mode=subscribe&a=1&a=2")
            .header("X-Hub-Signature-256", "sha256=00")
            .header("host", "127.0.0.1:9000")
            .header("cookie", "a=1; b=2")
            .body(Bytes::from_static(b"{\"x\":\"/\"}"))
            .unwrap();
        let event = http_event(&req, "/webhook", "POST /webhook", false);
        assert_eq!(event["headers"]["x-hub-signature-256"], "sha256=00");
        assert_eq!(event["queryStringParameters"]["a"], "1,2");
        assert_eq!(event["rawQueryString"], "hub.mode=subscribe&a=1&a=2");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["body"], "{\"x\":\"/\"}");
        // What the webhook function's runtime makes of it.
        let typed: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
        let seen: lambda_http::http::Request<lambda_http::Body> = typed.into();
        assert_eq!(seen.method(), "POST");
        assert_eq!(seen.uri().path(), "/webhook");
        assert_eq!(seen.headers()["x-hub-signature-256"], "sha256=00");
        assert_eq!(seen.body().as_ref(), b"{\"x\":\"/\"}");

        let event = http_event(&req, "/webhook", "POST /webhook", true);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "eyJ4IjoiLyJ9");
    }

    #[test]
    fn responses_become_http() {
        let reply = http_response(&json!({
            "statusCode": 403, "headers": {"content-type": "text/plain"},
            "body": "no", "isBase64Encoded": false, "cookies": ["s=1"]
        }));
        assert_eq!(reply.status(), StatusCode::FORBIDDEN);
        assert_eq!(reply.headers()["content-type"], "text/plain");
        assert_eq!(reply.headers()["set-cookie"], "s=1");
        let reply =
            http_response(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}));
        assert_eq!(reply.status(), StatusCode::OK);
        let reply = http_response(&json!({"hello": "world"}));
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(reply.headers()["content-type"], "application/json");
    }
}
