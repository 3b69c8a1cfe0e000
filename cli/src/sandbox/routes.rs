//! The sandbox's routes: the Cloud API and the control API under `/_sandbox/`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answers::messages;
use super::catalogue::{self, PageQuery};
use super::inbound::inbound_message;
use super::validate::Refusal;
use super::webhooks::Inbound;
use super::{CallRecord, Inner, configure, summarise};

/// Every route; anything else (another path or method) is answered as
/// Graph answers an unknown path.
pub(super) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(cloud_api))
        // The segment is the account id here (axum needs one name per
        // position).
        .route(
            "/{version}/{phone_number_id}/message_templates",
            get(message_templates),
        )
        .route(
            "/_sandbox/templates/{name}/{language}",
            post(change_template),
        )
        .route(
            "/{version}/{phone_number_id}/media",
            post(super::media::upload),
        )
        .route("/{version}/{media_id}", get(super::media::resolve))
        .route(
            "/_sandbox/media",
            get(super::media::summary).post(super::media::new_file),
        )
        .route(
            "/_sandbox/media/{media_id}/download",
            get(super::media::download),
        )
        .route("/_sandbox/health", get(health))
        .route("/_sandbox/config", get(config).post(set_config))
        .route("/_sandbox/inbound", post(inbound))
        .route("/_sandbox/calls", get(calls))
        .route("/_sandbox/webhooks", get(webhooks))
        .route("/_sandbox/reset", post(reset))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_path)
        .with_state(inner)
}

async fn cloud_api(
    State(inner): State<Arc<Inner>>,
    Path((version, pnid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    messages(&inner, &version, &pnid, &headers, &body).await
}

async fn message_templates(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let url = format!("http://{host}/{version}/{waba_id}/message_templates");
    match catalogue::page(&inner, &url, &waba_id, bearer, &query) {
        Ok(page) => Json(page).into_response(),
        Err(refusal) => meta_error(&inner, &refusal),
    }
}

async fn change_template(
    State(inner): State<Arc<Inner>>,
    Path((name, language)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let change = match serde_json::from_slice::<catalogue::Change>(&body) {
        Ok(c) => c,
        Err(e) => {
            return control_error(&format!(
                "expected {{\"status\", \"reason\", \"quality\", \"category\", \"app\"}} (any of them): {e}"
            ));
        }
    };
    match catalogue::change(&inner, &name, &language, change) {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => control_error(&e.to_string()),
    }
}

async fn health(State(inner): State<Arc<Inner>>) -> Response {
    let state = inner.state();
    Json(json!({"ok": true, "webhook_url": state.config.webhook_url, "calls": state.calls.len()}))
        .into_response()
}

async fn config(State(inner): State<Arc<Inner>>) -> Response {
    let config = inner.state().config.clone();
    Json(config).into_response()
}

async fn set_config(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let patch = match serde_json::from_slice::<Value>(&body) {
        Ok(p) => p,
        Err(e) => return control_error(&format!("the body is not JSON: {e}")),
    };
    match configure(&inner, &patch) {
        Ok(config) => Json(config).into_response(),
        Err(e) => control_error(&e.to_string()),
    }
}

async fn inbound(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let inbound = match serde_json::from_slice::<Inbound>(&body) {
        Ok(i) => i,
        Err(e) => {
            return control_error(&format!(
                "expected {{\"from\": \"+5511...\", \"text\": \"...\"}} (or \"button\": {{\"text\"}}, or \"interactive\": {{\"id\", \"title\"}}): {e}"
            ));
        }
    };
    match inbound_message(&inner, inbound).await {
        Ok(receipt) => Json(receipt).into_response(),
        Err(e) => control_error(&e.to_string()),
    }
}

#[derive(Deserialize)]
struct CallsQuery {
    callback: Option<String>,
}

async fn calls(State(inner): State<Arc<Inner>>, Query(query): Query<CallsQuery>) -> Response {
    let state = inner.state();
    let calls: Vec<CallRecord> = state
        .calls
        .iter()
        .filter(|c| query.callback.is_none() || c.callback == query.callback)
        .cloned()
        .collect();
    let summary = summarise(&calls);
    Json(json!({"calls": calls, "by_callback": summary})).into_response()
}

async fn webhooks(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.stats()).into_response()
}

async fn reset(State(inner): State<Arc<Inner>>) -> Response {
    let mut state = inner.state();
    state.calls.clear();
    state.windows.clear();
    state.inbound_ids.clear();
    state.recent.clear();
    Json(json!({"ok": true})).into_response()
}

async fn unknown_path(State(inner): State<Arc<Inner>>, uri: Uri) -> Response {
    let refusal = Refusal {
        subcode: Some(2500),
        ..Refusal::invalid(format!("Unknown path components: {}", uri.path()))
    };
    meta_error(&inner, &refusal)
}

pub(super) fn control_error(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

pub(super) fn meta_error(inner: &Inner, refusal: &Refusal) -> Response {
    let trace = {
        let mut state = inner.state();
        let rng = &mut state.rng;
        let t: String = (0..27).map(|_| rng.alphanumeric()).collect();
        format!("A{t}")
    };
    let status = StatusCode::from_u16(refusal.http).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(refusal.body(&trace))).into_response()
}
