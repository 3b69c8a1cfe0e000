//! A local front for HTTP functions, as API Gateway's HTTP API (payload
//! format 2.0) runs them: a request becomes an `APIGatewayV2httpRequest`
//! event, the function's answer becomes the HTTP response. It also serves
//! Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`) and
//! `cargo lambda watch`'s function URLs (`/lambda-url/{name}/...`), so
//! `cargo lambda invoke` and the `make invoke-*` targets work against it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::any;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::http::Server;
use crate::runtime::{Invoke, InvokeError};

/// An HTTP route, as the template declares it: `path` is an API Gateway
/// route path (`/webhook`, `/webhook/{app}`, a last `{proxy+}` taking the
/// rest), and matching requests of any method go to `function`.
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

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("HTTP route {path}: {reason}")]
    Route { path: String, reason: String },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub struct Gateway {
    server: Server,
}

/// The gateway's own routes (the Invoke API and function URLs), in API
/// Gateway's notation; a route of the stack may not overlap them.
const OWN_ROUTES: [&str; 3] = [
    "/2015-03-31/functions/{name}/invocations",
    "/lambda-url/{name}",
    "/lambda-url/{name}/{rest+}",
];

/// The axum paths of API Gateway route paths, in order: `{name}` stays,
/// a last greedy `{name+}` becomes `{*name}`. Refuses what axum would
/// refuse (by panicking) or match otherwise than API Gateway: a path not
/// starting with `/`, a malformed parameter, routes that overlap each
/// other or the gateway's own.
pub fn route_paths<'a>(
    paths: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, GatewayError> {
    let mut matcher = matchit::Router::new();
    for own in OWN_ROUTES {
        let path = axum_path(own).map_err(|reason| GatewayError::Route {
            path: own.to_owned(),
            reason,
        })?;
        let _ = matcher.insert(path, ());
    }
    let mut out = Vec::new();
    for path in paths {
        let invalid = |reason: String| GatewayError::Route {
            path: path.to_owned(),
            reason,
        };
        let axum = axum_path(path).map_err(invalid)?;
        matcher
            .insert(axum.clone(), ())
            .map_err(|e| invalid(e.to_string()))?;
        out.push(axum);
    }
    Ok(out)
}

fn axum_path(path: &str) -> Result<String, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| "a route path starts with /".to_owned())?;
    let segments: Vec<&str> = rest.split('/').collect();
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        out.push('/');
        let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if segment.contains(['{', '}', '*', ':']) {
                return Err(format!(
                    "segment {segment:?} is neither literal nor {{name}}"
                ));
            }
            out.push_str(segment);
            continue;
        };
        let (name, greedy) = match param.strip_suffix('+') {
            Some(name) => (name, true),
            None => (param, false),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "parameter {segment:?} needs a name of letters, digits, _ or -"
            ));
        }
        if greedy && i + 1 != segments.len() {
            return Err(format!(
                "the greedy parameter {segment:?} must be the last segment"
            ));
        }
        out.push_str(&if greedy {
            format!("{{*{name}}}")
        } else {
            format!("{{{name}}}")
        });
    }
    Ok(out)
}

struct Functions {
    by_name: BTreeMap<String, Arc<dyn Invoke>>,
    options: GatewayOptions,
}

impl Gateway {
    /// Serves `routes` over HTTP and `functions` over the Invoke API and
    /// function URLs; any other path is answered `404`.
    pub async fn start(
        addr: SocketAddr,
        routes: Vec<Route>,
        functions: Vec<Arc<dyn Invoke>>,
        options: GatewayOptions,
    ) -> Result<Self, GatewayError> {
        let paths = route_paths(routes.iter().map(|r| r.path.as_str()))?;
        let functions = Arc::new(Functions {
            by_name: functions
                .into_iter()
                .map(|f| (f.name().to_owned(), f))
                .collect(),
            options,
        });
        let mut router = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", any(invoke_api))
            .route("/lambda-url/{name}", any(function_url))
            .route("/lambda-url/{name}/{*rest}", any(function_url));
        for (route, path) in routes.into_iter().zip(paths) {
            let Route {
                path: template,
                function,
            } = route;
            router = router.route(
                &path,
                any(
                    move |params: Option<Path<BTreeMap<String, String>>>,
                          parts: Parts,
                          body: Bytes| async move {
                        let req = Request::from_parts(parts, body);
                        let route_key = format!("{} {template}", req.method());
                        let params = params.map(|Path(p)| p).unwrap_or_default();
                        let event = http_event(
                            &req,
                            req.uri().path(),
                            &route_key,
                            &params,
                            options.base64_bodies,
                        );
                        http_function(function.as_ref(), event).await
                    },
                ),
            );
        }
        let router = router.fallback(not_found).with_state(functions);
        let server = Server::bind(addr, router)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
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

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response()
}

async fn invoke_api(
    State(functions): State<Arc<Functions>>,
    Path(name): Path<String>,
    method: Method,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({"message": "use POST"})),
        )
            .into_response();
    }
    let Some(function) = functions.by_name.get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"Type": "User", "message": format!("Function not found: {name}")})),
        )
            .into_response();
    };
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"Type": "User", "message": format!("Could not parse request body into json: {e}")})),
                )
                    .into_response();
            }
        }
    };
    match function.invoke(payload).await {
        Ok(response) => Json(response).into_response(),
        Err(e) => {
            let (error_type, message) = match &e {
                InvokeError::Function {
                    error_type,
                    message,
                    ..
                } => (error_type.clone(), message.clone()),
                other => ("Runtime.Unknown".to_owned(), other.to_string()),
            };
            (
                [("x-amz-function-error", "Unhandled")],
                Json(json!({"errorType": error_type, "errorMessage": message})),
            )
                .into_response()
        }
    }
}

/// `cargo lambda watch`'s function URLs: `/lambda-url/{name}/{path...}`.
async fn function_url(
    State(functions): State<Arc<Functions>>,
    Path(params): Path<BTreeMap<String, String>>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let Some(function) = params.get("name").and_then(|n| functions.by_name.get(n)) else {
        return not_found().await;
    };
    let raw_path = format!("/{}", params.get("rest").map_or("", String::as_str));
    let req = Request::from_parts(parts, body);
    let event = http_event(
        &req,
        &raw_path,
        "$default",
        &BTreeMap::new(),
        functions.options.base64_bodies,
    );
    http_function(function.as_ref(), event).await
}

async fn http_function(function: &dyn Invoke, event: Value) -> Response {
    match function.invoke(event).await {
        Ok(response) => http_response(&response),
        Err(e) => {
            tracing::warn!(function = function.name(), error = %e, "HTTP function failed");
            match e {
                InvokeError::Timeout { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"message": "Service Unavailable"})),
                ),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"message": "Internal Server Error"})),
                ),
            }
            .into_response()
        }
    }
}

/// The API Gateway HTTP API (2.0) event for a request.
pub fn http_event(
    req: &Request<Bytes>,
    raw_path: &str,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    base64: bool,
) -> Value {
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
    let pairs: Vec<(String, String)> = Query::try_from_uri(req.uri())
        .map(|Query(pairs)| pairs)
        .unwrap_or_default();
    for (k, v) in pairs {
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
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
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
pub fn http_response(response: &Value) -> Response {
    let Some(obj) = response
        .as_object()
        .filter(|o| o.contains_key("statusCode"))
    else {
        return Json(response).into_response();
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
    let mut reply = (status, body).into_response();
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
        let none = BTreeMap::new();
        let event = http_event(&req, "/webhook", "POST /webhook", &none, false);
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

        let event = http_event(&req, "/webhook", "POST /webhook", &none, true);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "eyJ4IjoiLyJ9");
    }

    #[test]
    fn path_parameters_and_query_components_are_decoded() {
        let req = Request::builder()
            .method("GET")
            .uri("/webhook/shop?hub.mode=subscribe&hub.challenge=4%202&x=a+b&flag&bad=%zz&end=%4")
            .body(Bytes::new())
            .unwrap();
        let params = BTreeMap::from([("app".to_owned(), "shop".to_owned())]);
        let event = http_event(&req, "/webhook/shop", "GET /webhook/{app}", &params, false);
        assert_eq!(event["pathParameters"], json!({"app": "shop"}));
        assert_eq!(event["routeKey"], "GET /webhook/{app}");
        assert_eq!(
            event["queryStringParameters"],
            json!({"hub.mode": "subscribe", "hub.challenge": "4 2", "x": "a b", "flag": "", "bad": "%zz", "end": "%4"})
        );
        assert!(event.get("body").is_none());
        let typed: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
        let seen: lambda_http::http::Request<lambda_http::Body> = typed.into();
        use lambda_http::RequestExt as _;
        assert_eq!(seen.path_parameters().first("app"), Some("shop"));
        assert_eq!(
            seen.query_string_parameters().first("hub.challenge"),
            Some("4 2")
        );
    }

    #[test]
    fn route_paths_are_checked_before_axum_sees_them() {
        assert_eq!(
            route_paths(["/webhook", "/webhook/{app}", "/files/{path+}", "/"]).unwrap(),
            ["/webhook", "/webhook/{app}", "/files/{*path}", "/"]
        );
        for bad in [
            vec!["webhook"],
            vec!["/webhook/{}"],
            vec!["/webhook/{a b}"],
            vec!["/webhook/:app"],
            vec!["/files/{path+}/x"],
            vec!["/webhook/{app}", "/webhook/{name}"],
            vec!["/webhook", "/webhook"],
            vec!["/lambda-url/{fn}"],
        ] {
            assert!(route_paths(bad.iter().copied()).is_err(), "{bad:?}");
        }
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
