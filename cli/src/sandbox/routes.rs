//! The sandbox's routes: the Cloud API and the control API under `/_sandbox/`.

use std::sync::Arc;

use hyper::body::Bytes;
use hyper::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::answers::messages;
use super::inbound::inbound_message;
use super::validate::Refusal;
use super::webhooks::Inbound;
use super::{CallRecord, Inner, configure, summarise};
use crate::http::{self, Reply};

pub(super) async fn route(inner: Arc<Inner>, req: Request<Bytes>) -> Reply {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (method, segments.as_slice()) {
        (Method::POST, [version, phone_number_id, "messages"]) => {
            let (version, pnid) = (version.to_string(), phone_number_id.to_string());
            messages(&inner, &version, &pnid, &req).await
        }
        (Method::GET, ["_sandbox", "health"]) => {
            let state = inner.state();
            http::json(
                StatusCode::OK,
                &json!({"ok": true, "webhook_url": state.config.webhook_url, "calls": state.calls.len()}),
            )
        }
        (Method::GET, ["_sandbox", "config"]) => {
            let config = inner.state().config.clone();
            http::json(StatusCode::OK, &json!(config))
        }
        (Method::POST, ["_sandbox", "config"]) => {
            let patch = match serde_json::from_slice::<Value>(req.body()) {
                Ok(p) => p,
                Err(e) => return control_error(&format!("the body is not JSON: {e}")),
            };
            match configure(&inner, &patch) {
                Ok(config) => http::json(StatusCode::OK, &json!(config)),
                Err(e) => control_error(&e.to_string()),
            }
        }
        (Method::POST, ["_sandbox", "inbound"]) => {
            let inbound = match serde_json::from_slice::<Inbound>(req.body()) {
                Ok(i) => i,
                Err(e) => {
                    return control_error(&format!(
                        "expected {{\"from\": \"+5511...\", \"text\": \"...\"}} (or \"button\": {{\"text\"}}, or \"interactive\": {{\"id\", \"title\"}}): {e}"
                    ));
                }
            };
            match inbound_message(&inner, inbound).await {
                Ok(receipt) => http::json(StatusCode::OK, &json!(receipt)),
                Err(e) => control_error(&e.to_string()),
            }
        }
        (Method::GET, ["_sandbox", "calls"]) => {
            let callback = http::query_pairs(req.uri().query())
                .into_iter()
                .find(|(k, _)| k == "callback")
                .map(|(_, v)| v);
            let state = inner.state();
            let calls: Vec<&CallRecord> = state
                .calls
                .iter()
                .filter(|c| callback.is_none() || c.callback == callback)
                .collect();
            let owned: Vec<CallRecord> = calls.into_iter().cloned().collect();
            let summary = summarise(&owned);
            http::json(
                StatusCode::OK,
                &json!({"calls": owned, "by_callback": summary}),
            )
        }
        (Method::GET, ["_sandbox", "webhooks"]) => {
            http::json(StatusCode::OK, &json!(inner.stats()))
        }
        (Method::POST, ["_sandbox", "reset"]) => {
            let mut state = inner.state();
            state.calls.clear();
            state.windows.clear();
            state.inbound_ids.clear();
            state.recent.clear();
            http::json(StatusCode::OK, &json!({"ok": true}))
        }
        _ => {
            let refusal = Refusal {
                subcode: Some(2500),
                ..Refusal::invalid(format!("Unknown path components: {path}"))
            };
            meta_error(&inner, &refusal)
        }
    }
}

fn control_error(message: &str) -> Reply {
    http::json(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

fn meta_error(inner: &Inner, refusal: &Refusal) -> Reply {
    let trace = {
        let mut state = inner.state();
        let rng = &mut state.rng;
        let t: String = (0..27).map(|_| rng.alphanumeric()).collect();
        format!("A{t}")
    };
    let status = StatusCode::from_u16(refusal.http).unwrap_or(StatusCode::BAD_REQUEST);
    http::json(status, &refusal.body(&trace))
}
