//! The webhook function end to end against the local AWS emulator: real
//! Secrets Manager, real SQS (`ReceiveMessage` reads back what was queued).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chasqui_webhook::App;
use harness::{APP_SECRET, VERIFY_TOKEN, attribute, event, fixture, sign};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::config::SecretSettings;
use shared::intake::{MAX_SQS_MESSAGE_BYTES, QueuedWebhook};
use shared::queue::SqsQueue;
use shared::secrets::SecretCache;

/// Every fixture's further apps live under its own prefix.
struct Fixture {
    prefix: String,
    app: App,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn setup() -> Fixture {
    let sqs = harness::sqs().await;
    let queue_url = harness::create_queue(&sqs, "webhook-events").await;
    let prefix = format!("{}/", harness::unique("chasqui-apps"));
    let app = app_for(&queue_url, &prefix).await;
    Fixture {
        prefix,
        app,
        sqs,
        queue_url,
    }
}

async fn app_for(queue_url: &str, prefix: &str) -> App {
    let sm = harness::secrets_manager().await;
    let secret_id = harness::create_secret(&sm).await;
    let secrets = SecretCache::secrets_manager(sm, Duration::from_secs(300));
    let secret = SecretSettings {
        secret_id,
        prefix: Some(prefix.to_owned()),
        ttl: Duration::from_secs(300),
    };
    App::new(
        secrets,
        secret,
        Arc::new(SqsQueue::new(harness::sqs().await, queue_url)),
    )
}

fn post(body: &[u8], signature: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/webhook");
    if let Some(sig) = signature {
        builder = builder.header("X-Hub-Signature-256", sig);
    }
    builder.body(Body::Binary(body.to_vec())).unwrap()
}

fn from_event(name: &str) -> Request {
    lambda_http::request::from_str(&event(name)).unwrap()
}

fn text(resp: &Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

fn queued(msg: &aws_sdk_sqs::types::Message) -> QueuedWebhook<Value> {
    serde_json::from_str(msg.body().unwrap()).unwrap()
}

#[tokio::test]
async fn handshake_answers_the_challenge_only_for_the_right_token() {
    let f = setup().await;
    let cases: &[(&[(&str, &str)], StatusCode)] = &[
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", VERIFY_TOKEN),
                ("hub.challenge", "1158201444"),
            ],
            StatusCode::OK,
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", "wrong"),
                ("hub.challenge", "1158201444"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", ""),
                ("hub.challenge", "1158201444"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            &[
                ("hub.mode", "unsubscribe"),
                ("hub.verify_token", VERIFY_TOKEN),
                ("hub.challenge", "1"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1")],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[("hub.mode", "subscribe"), ("hub.challenge", "1")],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", VERIFY_TOKEN),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", VERIFY_TOKEN),
                ("hub.challenge", ""),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (&[], StatusCode::BAD_REQUEST),
    ];
    for (params, want) in cases {
        let query: String = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let req = lambda_http::http::Request::builder()
            .method("GET")
            .uri(format!("/webhook?{query}"))
            .body(Body::Empty)
            .unwrap();
        use lambda_http::RequestExt;
        let map: std::collections::HashMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = req.with_query_string_parameters(map);
        let resp = chasqui_webhook::handle(&f.app, req).await;
        assert_eq!(resp.status(), *want, "{params:?}");
        if *want == StatusCode::OK {
            assert_eq!(text(&resp), "1158201444");
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain")
            );
        } else {
            assert!(
                !text(&resp).contains("1158201444"),
                "a refused handshake must not echo the challenge"
            );
        }
    }
    // the sample events drive the same path
    let resp = chasqui_webhook::handle(&f.app, from_event("webhook-handshake.json")).await;
    assert_eq!(
        (resp.status(), text(&resp).as_str()),
        (StatusCode::OK, "1158201444")
    );
    let resp =
        chasqui_webhook::handle(&f.app, from_event("webhook-handshake-wrong-token.json")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(harness::queue_depth(&f.sqs, &f.queue_url).await, 0);
}

#[tokio::test]
async fn a_batched_post_queues_one_message_per_entry_and_change() {
    let f = setup().await;
    let body = fixture("batch-3-entries-2-changes.json");
    let resp =
        chasqui_webhook::handle(&f.app, post(body.as_bytes(), Some(&sign(body.as_bytes())))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));

    let messages = harness::receive(&f.sqs, &f.queue_url, 6).await;
    assert_eq!(messages.len(), 6);
    let mut seen = BTreeSet::new();
    for msg in &messages {
        assert_eq!(attribute(msg, "field").as_deref(), Some("messages"));
        assert_eq!(attribute(msg, "kind").as_deref(), Some("change"));
        let received_at: u64 = attribute(msg, "received_at").unwrap().parse().unwrap();
        assert!(received_at > 1_700_000_000_000);
        let phone = attribute(msg, "phone_number_id").unwrap();
        let QueuedWebhook::Change {
            entry_id,
            value,
            received_at: body_time,
            part,
            ..
        } = queued(msg)
        else {
            panic!("not a change: {:?}", msg.body())
        };
        assert_eq!(part, None);
        assert_eq!(body_time, received_at);
        assert_eq!(value["metadata"]["phone_number_id"], phone.as_str());
        let i: usize = entry_id.strip_prefix("waba-").unwrap().parse().unwrap();
        assert_eq!(phone, format!("11223344{i:02}"));
        let item_id = value["statuses"][0]["id"]
            .as_str()
            .or(value["messages"][0]["id"].as_str())
            .unwrap();
        seen.insert(item_id.to_owned());
    }
    let expected: BTreeSet<String> = (0..3)
        .flat_map(|i| (0..2).map(move |j| format!("wamid.E{i}C{j}")))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn meta_escapes_and_non_ascii_verify_and_are_queued_verbatim() {
    let f = setup().await;
    let resp = chasqui_webhook::handle(&f.app, from_event("webhook-post-inbound.json")).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    let messages = harness::receive(&f.sqs, &f.queue_url, 1).await;
    assert_eq!(messages.len(), 1);
    let body = messages[0].body().unwrap();
    // The raw bytes travel as Meta sent them: escapes intact.
    assert!(
        body.contains(r#""name":"Jos\u00e9 Concei\u00e7\u00e3o""#),
        "{body}"
    );
    assert!(
        body.contains(r#"https:\/\/chasqui.example\/o\/77"#),
        "{body}"
    );
    let QueuedWebhook::Change { value, .. } = queued(&messages[0]) else {
        panic!()
    };
    assert_eq!(value["contacts"][0]["profile"]["name"], "José Conceição");

    // A direct POST with non-ASCII bytes (not escaped) verifies too.
    let raw = "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"w\",\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},\"messages\":[{\"text\":{\"body\":\"ñandú \\/ 日本\"}}]}}]}]}";
    let resp =
        chasqui_webhook::handle(&f.app, post(raw.as_bytes(), Some(&sign(raw.as_bytes())))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
}

#[tokio::test]
async fn base64_bodies_are_decoded_before_verification() {
    let f = setup().await;
    let ev: Value = serde_json::from_str(&event("webhook-post-base64.json")).unwrap();
    assert_eq!(ev["isBase64Encoded"], true);
    let resp = chasqui_webhook::handle(&f.app, from_event("webhook-post-base64.json")).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    let messages = harness::receive(&f.sqs, &f.queue_url, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        attribute(&messages[0], "phone_number_id").as_deref(),
        Some("1122334455")
    );
}

#[tokio::test]
async fn bad_signatures_are_refused_and_nothing_is_queued() {
    let f = setup().await;
    let body = fixture("status-delivered.json");
    let good = sign(body.as_bytes());
    let hex = good.trim_start_matches("sha256=");
    let cases: Vec<(&str, Option<String>, StatusCode)> = vec![
        ("missing", None, StatusCode::UNAUTHORIZED),
        ("empty", Some(String::new()), StatusCode::UNAUTHORIZED),
        ("no prefix", Some(hex.to_owned()), StatusCode::FORBIDDEN),
        (
            "wrong prefix",
            Some(format!("sha1={hex}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "uppercase hex",
            Some(format!("sha256={}", hex.to_uppercase())),
            StatusCode::FORBIDDEN,
        ),
        (
            "truncated",
            Some(good[..good.len() - 1].to_owned()),
            StatusCode::FORBIDDEN,
        ),
        ("another body", Some(sign(b"{}")), StatusCode::FORBIDDEN),
        (
            "wrong secret",
            Some(shared::signature::sign(
                body.as_bytes(),
                b"not-the-app-secret",
            )),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (name, sig, want) in cases {
        let resp = chasqui_webhook::handle(&f.app, post(body.as_bytes(), sig.as_deref())).await;
        assert_eq!(resp.status(), want, "{name}");
    }
    let resp = chasqui_webhook::handle(&f.app, from_event("webhook-post-bad-signature.json")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = chasqui_webhook::handle(&f.app, from_event("webhook-post-unsigned.json")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(harness::queue_depth(&f.sqs, &f.queue_url).await, 0);

    // the control: the same body correctly signed is accepted
    let resp = chasqui_webhook::handle(&f.app, post(body.as_bytes(), Some(&good))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!APP_SECRET.is_empty());
}

#[tokio::test]
async fn a_missing_queue_answers_5xx_so_meta_retries() {
    let sqs = harness::sqs().await;
    let real = harness::create_queue(&sqs, "deleted").await;
    sqs.delete_queue().queue_url(&real).send().await.unwrap();
    let app = app_for(&real, "chasqui-apps-none/").await;
    let body = fixture("status-read.json");
    let resp =
        chasqui_webhook::handle(&app, post(body.as_bytes(), Some(&sign(body.as_bytes())))).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let answer = text(&resp);
    assert!(answer.contains("retry"), "{answer}");
    // The caller learns a reason, never where the queue is: its URL names
    // the AWS account.
    let path = real.split('/').skip(3).collect::<Vec<_>>().join("/");
    assert!(!path.is_empty(), "{real}");
    for internal in [real.as_str(), path.as_str(), "deleted", "http"] {
        assert!(!answer.contains(internal), "{internal} in {answer}");
    }
}

#[tokio::test]
async fn an_oversized_change_is_split_by_items_with_nothing_lost() {
    let f = setup().await;
    let statuses: Vec<Value> = (0..3000)
        .map(|i| json!({"id": format!("wamid.BIG{i:05}"), "status": "read", "timestamp": "1730000009",
                        "recipient_id": "5511988887777", "biz_opaque_callback_data": format!("msg-{i:05}-{}", "p".repeat(60))}))
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": "1122334455"},
                  "statuses": statuses}}]}]})
    .to_string();
    assert!(
        body.len() > 2 * MAX_SQS_MESSAGE_BYTES,
        "the change must exceed an SQS message: {}",
        body.len()
    );
    let resp =
        chasqui_webhook::handle(&f.app, post(body.as_bytes(), Some(&sign(body.as_bytes())))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));

    let parts = body.len().div_ceil(MAX_SQS_MESSAGE_BYTES - 4096);
    let messages = harness::receive(&f.sqs, &f.queue_url, parts).await;
    assert!(messages.len() >= 3, "{}", messages.len());
    let mut ids = Vec::new();
    for msg in &messages {
        assert!(msg.body().unwrap().len() <= MAX_SQS_MESSAGE_BYTES);
        let QueuedWebhook::Change { value, part, .. } = queued(msg) else {
            panic!()
        };
        assert_eq!(part.unwrap().count as usize, messages.len());
        assert_eq!(value["metadata"]["phone_number_id"], "1122334455");
        ids.extend(
            value["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
    }
    ids.sort();
    let expected: Vec<String> = (0..3000).map(|i| format!("wamid.BIG{i:05}")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_verified_body_that_is_not_json_is_kept_raw_and_acknowledged() {
    let f = setup().await;
    let body = b"this is not json {";
    let resp = chasqui_webhook::handle(&f.app, post(body, Some(&sign(body)))).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    let messages = harness::receive(&f.sqs, &f.queue_url, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(attribute(&messages[0], "kind").as_deref(), Some("raw"));
    let QueuedWebhook::Raw {
        body: kept, reason, ..
    } = queued(&messages[0])
    else {
        panic!()
    };
    assert_eq!(kept.as_bytes(), body);
    assert!(reason.starts_with("not valid JSON"), "{reason}");
}

#[tokio::test]
async fn bodies_over_metas_maximum_get_413_and_other_methods_405() {
    let f = setup().await;
    let body = vec![b' '; 3 * 1024 * 1024 + 1];
    let resp = chasqui_webhook::handle(&f.app, post(&body, Some(&sign(&body)))).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let req = lambda_http::http::Request::builder()
        .method("PUT")
        .uri("/webhook")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(
        chasqui_webhook::handle(&f.app, req).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(harness::queue_depth(&f.sqs, &f.queue_url).await, 0);
}

/// The second Meta app's credentials (the first is the harness's).
const SHOP_APP_SECRET: &str = "shop-app-secret";
const SHOP_VERIFY_TOKEN: &str = "shop-verify-token";

fn request(method: &str, path: &str, body: &[u8], signature: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    if let Some(sig) = signature {
        builder = builder.header("X-Hub-Signature-256", sig);
    }
    builder.body(Body::Binary(body.to_vec())).unwrap()
}

fn handshake(path: &str, token: &str) -> Request {
    use lambda_http::RequestExt;
    let params = [
        ("hub.mode", "subscribe"),
        ("hub.verify_token", token),
        ("hub.challenge", "42"),
    ];
    request("GET", path, b"", None).with_query_string_parameters(
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::HashMap<_, _>>(),
    )
}

#[tokio::test]
async fn each_app_verifies_only_on_its_own_route_and_its_changes_carry_its_name() {
    let f = setup().await;
    let sm = harness::secrets_manager().await;
    sm.create_secret()
        .name(format!("{}apps/shop", f.prefix))
        .secret_string(
            json!({"app_secret": SHOP_APP_SECRET, "verify_token": SHOP_VERIFY_TOKEN}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let body = fixture("inbound-text.json");
    let shop_signature = shared::signature::sign(body.as_bytes(), SHOP_APP_SECRET.as_bytes());
    let default_signature = sign(body.as_bytes());

    // Each route takes its own app's signature and verify token, no other.
    let cases = [
        ("/webhook/shop", &shop_signature, StatusCode::OK),
        ("/webhook/shop", &default_signature, StatusCode::FORBIDDEN),
        ("/webhook", &shop_signature, StatusCode::FORBIDDEN),
        ("/webhook", &default_signature, StatusCode::OK),
        ("/webhook/nobody", &shop_signature, StatusCode::NOT_FOUND),
        (
            "/webhook/default",
            &default_signature,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, signature, want) in cases {
        let resp = chasqui_webhook::handle(
            &f.app,
            request("POST", path, body.as_bytes(), Some(signature)),
        )
        .await;
        assert_eq!(resp.status(), want, "POST {path}");
    }
    for (path, token, want) in [
        ("/webhook/shop", SHOP_VERIFY_TOKEN, StatusCode::OK),
        ("/webhook/shop", VERIFY_TOKEN, StatusCode::FORBIDDEN),
        ("/webhook", SHOP_VERIFY_TOKEN, StatusCode::FORBIDDEN),
        ("/webhook/nobody", SHOP_VERIFY_TOKEN, StatusCode::NOT_FOUND),
    ] {
        let resp = chasqui_webhook::handle(&f.app, handshake(path, token)).await;
        assert_eq!(resp.status(), want, "GET {path}");
    }

    // The two accepted posts were queued, each with its app's name.
    let got = harness::receive(&f.sqs, &f.queue_url, 2).await;
    let mut apps: Vec<Option<String>> = got
        .iter()
        .map(|m| match queued(m) {
            QueuedWebhook::Change { app, .. } => app,
            other => panic!("{other:?}"),
        })
        .collect();
    apps.sort();
    assert_eq!(apps, [None, Some("shop".to_owned())]);
}

#[tokio::test]
async fn without_a_prefix_only_the_default_app_has_a_route() {
    let f = setup().await;
    let sm = harness::secrets_manager().await;
    let secrets = SecretCache::secrets_manager(sm.clone(), Duration::from_secs(300));
    let secret = SecretSettings {
        secret_id: harness::create_secret(&sm).await,
        prefix: None,
        ttl: Duration::from_secs(300),
    };
    let app = App::new(
        secrets,
        secret,
        Arc::new(SqsQueue::new(f.sqs.clone(), &f.queue_url)),
    );
    let body = fixture("inbound-text.json");
    let resp = chasqui_webhook::handle(
        &app,
        request(
            "POST",
            "/webhook/shop",
            body.as_bytes(),
            Some(&sign(body.as_bytes())),
        ),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
