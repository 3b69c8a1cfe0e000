//! Meta's answers to a `messages` call, and the status webhooks an accepted
//! message yields.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::config;
use super::delivery::schedule;
use super::validate::{self, Call, Outbound, Refusal};
use super::webhooks::{self, StatusEvent};
use super::{CallRecord, Inner, Outcome, State, Webhook};

/// What the messages endpoint decided, made under the lock and acted on
/// outside it.
struct Decision {
    reply: Response,
    webhooks: Vec<(Duration, Vec<u8>)>,
    hold: Option<Duration>,
}

pub(super) async fn messages(
    inner: &Arc<Inner>,
    version: &str,
    pnid: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let decision = decide(inner, version, pnid, headers, body);
    let app = inner.state().config.app_of(pnid).map(|a| a.name.clone());
    for (delay, body) in decision.webhooks {
        let app = app.clone();
        schedule(inner, delay, Webhook { app, body });
    }
    if let Some(hold) = decision.hold {
        // The message went out; the answer is "lost" by arriving too late.
        let mut stop = inner.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(hold) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    decision.reply
}

fn decide(inner: &Inner, version: &str, pnid: &str, headers: &HeaderMap, body: &[u8]) -> Decision {
    let now_ms = shared::now_millis();
    let mut state = inner.state();
    let state = &mut *state;
    let mut record = CallRecord {
        seq: {
            state.seq += 1;
            state.seq
        },
        at_ms: now_ms,
        phone_number_id: pnid.to_owned(),
        kind: "unknown".into(),
        to: None,
        callback: None,
        outcome: Outcome::Refused,
        http_status: 0,
        code: None,
        wamid: None,
    };
    // Best effort, so refused calls are attributed to their message too.
    if let Ok(body) = serde_json::from_slice::<Value>(body) {
        record.callback = body
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned);
        record.to = body
            .get("to")
            .and_then(Value::as_str)
            .map(config::digits)
            .or_else(|| {
                body.get("recipient")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        record.kind = if body.get("status").is_some() {
            "read".into()
        } else {
            body.get("type")
                .and_then(Value::as_str)
                .unwrap_or("text")
                .to_owned()
        };
    }
    let result = judge(state, version, pnid, headers, body, now_ms);
    let (reply, webhooks, hold) = match result {
        Err(refusal) => {
            record.http_status = refusal.http;
            record.code = Some(refusal.code);
            let trace: String = (0..27).map(|_| state.rng.alphanumeric()).collect();
            let status = StatusCode::from_u16(refusal.http).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::info!(
                target: "sandbox",
                phone_number_id = pnid,
                callback = record.callback.as_deref(),
                to = record.to.as_deref(),
                code = refusal.code,
                details = refusal.details.as_str(),
                "Cloud API call refused"
            );
            (
                (status, Json(refusal.body(&format!("A{trace}")))).into_response(),
                Vec::new(),
                None,
            )
        }
        Ok(Judged::Read) => {
            record.http_status = 200;
            record.outcome = Outcome::Accepted;
            (
                Json(json!({"success": true})).into_response(),
                Vec::new(),
                None,
            )
        }
        Ok(Judged::Send(out)) => {
            let wamid = format!(
                "wamid.SBX{}{:08X}{:08X}",
                inner.boot,
                record.seq,
                state.rng.u32(..)
            );
            let webhooks = plan(state, pnid, &out, &wamid, now_ms);
            let on_cue = out.callback.as_ref().is_some_and(|cb| {
                state.config.timeout_callbacks.contains(cb)
                    && !state
                        .calls
                        .iter()
                        .any(|c| c.callback.as_ref() == Some(cb) && c.outcome != Outcome::Refused)
            });
            let timed_out = on_cue
                || (state.config.timeout_rate > 0.0 && state.rng.f64() < state.config.timeout_rate);
            record.http_status = 200;
            record.outcome = if timed_out {
                Outcome::TimedOut
            } else {
                Outcome::Accepted
            };
            record.wamid = Some(wamid.clone());
            // Meta answers a BSUID send with the BSUID, a phone send with
            // the phone.
            let contact = if out.by_user_id {
                json!({"input": out.input, "user_id": out.to})
            } else {
                json!({"input": out.input, "wa_id": out.to})
            };
            let mut body = json!({
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": wamid}],
            });
            if out.template.is_some() {
                body["messages"][0]["message_status"] = "accepted".into();
            }
            tracing::info!(
                target: "sandbox",
                phone_number_id = pnid,
                callback = out.callback.as_deref(),
                to = out.to.as_str(),
                kind = out.kind.as_str(),
                wamid = wamid.as_str(),
                timed_out,
                "Cloud API call accepted"
            );
            let hold = timed_out.then(|| Duration::from_millis(state.config.timeout_ms));
            (Json(body).into_response(), webhooks, hold)
        }
    };
    state.calls.push(record);
    Decision {
        reply,
        webhooks,
        hold,
    }
}

enum Judged {
    Send(Outbound),
    Read,
}

/// Meta's checks, in the order it applies them.
fn judge(
    state: &mut State,
    version: &str,
    pnid: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: u64,
) -> Result<Judged, Refusal> {
    let config = &state.config;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => {
            return Err(Refusal::auth(
                "no Authorization: Bearer <access token> header",
            ));
        }
        Some(t) if !shared::signature::token_matches(t, config.access_token_of(pnid)) => {
            return Err(Refusal::auth(match config.app_of(pnid) {
                Some(app) => format!(
                    "the access token is not the one of app {}, whose number {pnid} is",
                    app.name
                ),
                None => "the access token is not the sandbox's".to_owned(),
            }));
        }
        Some(_) => {}
    }
    let version_ok = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
        });
    if !version_ok {
        return Err(Refusal {
            subcode: Some(2500),
            ..Refusal::invalid(format!(
                "Unknown path components: /{version}/{pnid}/messages"
            ))
        });
    }
    let known = config.phone_number_ids.is_empty()
        || config.phone_number_ids.iter().any(|p| p == pnid)
        || config.app_of(pnid).is_some();
    if !shared::check::numeric_id(pnid) || !known {
        return Err(Refusal {
            subcode: Some(33),
            ..Refusal::invalid(format!(
                "Unsupported post request. Object with ID '{pnid}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
            ))
        });
    }
    if let Some(limit) = config.rate_limit_per_second {
        let now = Instant::now();
        let recent = state.recent.entry(pnid.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            recent.pop_front();
        }
        if recent.len() >= limit as usize {
            return Err(throttled(format!(
                "more than {limit} calls in one second for phone number {pnid}"
            )));
        }
        recent.push_back(now);
    }
    let config = &state.config;
    if config.transient_rate > 0.0 && state.rng.f64() < config.transient_rate {
        let mut r = Refusal::new(
            500,
            131000,
            "Something went wrong",
            "Something went wrong. Please try again later.",
        );
        r.is_transient = Some(true);
        return Err(r);
    }
    if config.throttle_rate > 0.0 && state.rng.f64() < config.throttle_rate {
        return Err(throttled("the sandbox's throttle_rate".into()));
    }
    let config = &state.config;
    match validate::check(body, config)? {
        Call::MarkRead { message_id } => {
            if state.inbound_ids.contains(&message_id) {
                Ok(Judged::Read)
            } else {
                Err(Refusal::invalid(format!(
                    "message_id {message_id} is not an inbound message of this sandbox"
                )))
            }
        }
        Call::Send(out) => {
            if config.undeliverable.contains(&out.to) {
                return Err(Refusal::new(
                    400,
                    131026,
                    "Message undeliverable",
                    "Message could not be delivered: the recipient's phone number is not a WhatsApp number, or they have not accepted the latest terms.",
                ));
            }
            let window_open = config.open_windows.contains(&out.to)
                || state
                    .windows
                    .get(&out.to)
                    .is_some_and(|at| shared::check::window_open(*at, now_ms));
            if out.free_form && config.enforce_window && !window_open {
                return Err(Refusal::new(
                    400,
                    131047,
                    "Re-engagement message",
                    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
                ));
            }
            Ok(Judged::Send(out))
        }
    }
}

fn throttled(details: String) -> Refusal {
    Refusal::new(
        400,
        130429,
        "Rate limit hit",
        format!("Cloud API message throughput has been reached: {details}"),
    )
}

/// The status webhooks of an accepted message, with when each goes out.
fn plan(
    state: &mut State,
    pnid: &str,
    out: &Outbound,
    wamid: &str,
    now_ms: u64,
) -> Vec<(Duration, Vec<u8>)> {
    let config = &state.config;
    let d = &config.delays;
    let mut events: Vec<(u64, StatusEvent)> = Vec::new();
    let conversation_id = format!("{:032x}", state.rng.u128(..));
    let (recipient, recipient_user_id) = if out.by_user_id {
        (String::new(), out.to.clone())
    } else {
        (out.to.clone(), config::user_id_of(&out.to))
    };
    let event = |status: &'static str, offset: u64, error| StatusEvent {
        wamid: wamid.to_owned(),
        status,
        timestamp: (now_ms + offset) / 1000,
        recipient: recipient.clone(),
        recipient_user_id: recipient_user_id.clone(),
        callback: out.callback.clone(),
        category: out.category.clone(),
        conversation_id: conversation_id.clone(),
        error,
    };
    if config.silent.contains(&out.to) {
        return Vec::new();
    }
    if config.fail_after_send.contains(&out.to) {
        let error = (
            131026,
            "Message undeliverable".to_owned(),
            "Message could not be delivered to the recipient.".to_owned(),
        );
        events.push((d.sent_ms, event("failed", d.sent_ms, Some(error))));
    } else {
        events.push((d.sent_ms, event("sent", d.sent_ms, None)));
        events.push((d.delivered_ms, event("delivered", d.delivered_ms, None)));
        if !config.unread.contains(&out.to) {
            events.push((d.read_ms, event("read", d.read_ms, None)));
        }
    }
    let jitter = d.jitter_ms;
    let mut offsets: Vec<u64> = events
        .iter()
        .map(|(o, _)| {
            o + if jitter > 0 {
                state.rng.u64(0..=jitter)
            } else {
                0
            }
        })
        .collect();
    if config.out_of_order_rate > 0.0 && state.rng.f64() < config.out_of_order_rate {
        // Arrival order changes; Meta's timestamps keep the true order.
        state.rng.shuffle(&mut offsets);
    }
    let mut webhooks = Vec::new();
    let spread = d.read_ms.max(200);
    for ((_, e), offset) in events.iter().zip(offsets) {
        let body = webhooks::encode(
            &webhooks::status_payload(config, pnid, e),
            config.meta_escaping,
        );
        if config.duplicate_rate > 0.0 && state.rng.f64() < config.duplicate_rate {
            let again = offset + state.rng.u64(0..=spread);
            webhooks.push((Duration::from_millis(again), body.clone()));
        }
        webhooks.push((Duration::from_millis(offset), body));
    }
    webhooks
}
