//! The Cloud API sandbox over real HTTP, driven by the sender's own Cloud
//! API client (`shared::cloud_api::CloudApiClient`): what it answers, how
//! the client classifies it, and the signed webhooks that follow, received
//! by a local endpoint that checks every signature.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use chasqui_cli::http::Server;
use chasqui_cli::sandbox::{Delays, Inbound, Outcome, Sandbox, SandboxApp, SandboxConfig};
use serde_json::{Value, json};
use shared::cloud_api::{AccessToken, CloudApi, CloudApiClient, ErrorClass, GraphError};
use shared::config::GraphSettings;
use shared::secrets::{SecretError, SecretString};
use shared::webhook::WebhookPayload;

const PN: &str = "1122334455";

struct Token(String);

#[async_trait]
impl AccessToken for Token {
    async fn access_token(&self, _: &str) -> Result<SecretString, SecretError> {
        Ok(SecretString::from(self.0.as_str()))
    }
}

/// A webhook endpoint that keeps every verified body and answers `status`
/// (it can be changed to make the sandbox retry).
struct Receiver {
    server: Server,
    bodies: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
    answer: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(app_secret: &str) -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let answer = Arc::new(Mutex::new(200));
        let (b, r, a, secret) = (
            bodies.clone(),
            refused.clone(),
            answer.clone(),
            app_secret.to_owned(),
        );
        let endpoint = Router::new().fallback(move |headers: HeaderMap, body: Bytes| async move {
            let sig = headers
                .get("x-hub-signature-256")
                .map(|v| v.as_bytes().to_vec());
            if shared::signature::verify(sig.as_deref(), &body, secret.as_bytes()).is_err() {
                *r.lock().unwrap() += 1;
                return (StatusCode::FORBIDDEN, "{}");
            }
            let status = *a.lock().unwrap();
            if status == 200 {
                // Parsed only after the signature check, like the webhook.
                let payload = WebhookPayload::parse(&body).expect("Meta's shape");
                b.lock()
                    .unwrap()
                    .push(serde_json::to_value(payload).unwrap());
            }
            (StatusCode::from_u16(status).unwrap(), "{}")
        });
        let server = Server::bind(([127, 0, 0, 1], 0).into(), endpoint)
            .await
            .unwrap();
        Self {
            server,
            bodies,
            refused,
            answer,
        }
    }

    fn url(&self) -> String {
        format!("{}/webhook", self.server.url())
    }

    fn statuses(&self) -> Vec<(String, String, Option<String>, Option<i64>)> {
        let mut out = Vec::new();
        for body in self.bodies.lock().unwrap().iter() {
            for s in body
                .pointer("/entry/0/changes/0/value/statuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push((
                    s["id"].as_str().unwrap_or_default().to_owned(),
                    s["status"].as_str().unwrap_or_default().to_owned(),
                    s["biz_opaque_callback_data"].as_str().map(str::to_owned),
                    s["timestamp"].as_str().and_then(|t| t.parse().ok()),
                ));
            }
        }
        out
    }

    async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.bodies.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} webhooks arrived",
                self.bodies.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn fast() -> SandboxConfig {
    SandboxConfig {
        delays: Delays {
            sent_ms: 10,
            delivered_ms: 30,
            read_ms: 60,
            jitter_ms: 0,
        },
        webhook_retry_ms: 20,
        seed: Some(1),
        ..SandboxConfig::default()
    }
}

async fn start(config: SandboxConfig) -> (Sandbox, Receiver, CloudApiClient) {
    let receiver = Receiver::start(&config.app_secret).await;
    let token = config.access_token.clone();
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap();
    sandbox.set_webhook_url(&receiver.url()).unwrap();
    let client = client(&sandbox, &token, Duration::from_secs(5));
    (sandbox, receiver, client)
}

fn client(sandbox: &Sandbox, token: &str, timeout: Duration) -> CloudApiClient {
    let graph = GraphSettings {
        base_url: sandbox.url(),
        version: "v25.0".into(),
        phone_number_id: PN.into(),
    };
    CloudApiClient::new(&graph, Arc::new(Token(token.to_owned())), timeout).unwrap()
}

fn template(to: &str, callback: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
        "biz_opaque_callback_data": callback,
        "template": {"name": "appointment_reminder", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": params}]}})
}

fn text(to: &str, callback: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "oi / olá"},
        "biz_opaque_callback_data": callback})
}

fn meta(err: &GraphError) -> (i64, ErrorClass) {
    (err.code().unwrap_or_default(), err.class())
}

#[tokio::test]
async fn an_accepted_template_is_followed_by_signed_statuses_in_order() {
    let mut config = fast();
    // Far enough apart that arrival order is Meta's order.
    config.delays = Delays {
        sent_ms: 10,
        delivered_ms: 200,
        read_ms: 400,
        jitter_ms: 0,
    };
    let (sandbox, receiver, client) = start(config).await;
    let accepted = client
        .send(PN, &template("+5511988887777", "msg-1", &["Ana", "10h"]))
        .await
        .unwrap();
    let wamid = accepted.wamid.clone().expect("a wamid");
    assert!(wamid.starts_with("wamid."));
    assert_eq!(accepted.wa_id.as_deref(), Some("5511988887777"));
    receiver.wait_for(3).await;
    let statuses = receiver.statuses();
    let names: Vec<&str> = statuses.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    assert!(
        statuses
            .iter()
            .all(|s| s.0 == wamid && s.2.as_deref() == Some("msg-1"))
    );
    assert_eq!(
        *receiver.refused.lock().unwrap(),
        0,
        "every signature verifies"
    );
    let sent = receiver.bodies.lock().unwrap()[0].clone();
    let value = &sent["entry"][0]["changes"][0]["value"];
    assert_eq!(value["metadata"]["phone_number_id"], PN);
    assert_eq!(value["statuses"][0]["pricing"]["category"], "utility");
    let calls = sandbox.calls_by_callback();
    assert_eq!(calls["msg-1"].calls, 1);
    assert_eq!(calls["msg-1"].delivered, 1);
    assert!(sandbox.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(sandbox.webhook_stats().delivered, 3);
}

#[tokio::test]
async fn refusals_carry_metas_codes_and_the_client_classifies_them() {
    let mut config = fast();
    config.undeliverable = vec!["15550009999".into()];
    let (sandbox, _receiver, client) = start(config).await;
    let cases: Vec<(Value, i64, ErrorClass)> = vec![
        (
            template("+15550009999", "u", &["a", "b"]),
            131026,
            ErrorClass::Permanent,
        ),
        (
            template("+5511988887777", "p", &["only one"]),
            132000,
            ErrorClass::Permanent,
        ),
        (text("+5511911112222", "w"), 131047, ErrorClass::Permanent),
        (
            json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "fax"}),
            100,
            ErrorClass::Permanent,
        ),
    ];
    for (body, code, class) in cases {
        let err = client.send(PN, &body).await.unwrap_err();
        assert_eq!(meta(&err), (code, class), "{body}: {err}");
        let details = err
            .meta()
            .and_then(|m| m.details.clone())
            .unwrap_or_default();
        assert!(!details.is_empty(), "{code} says why");
    }
    // Nothing refused produced a webhook.
    assert!(sandbox.wait_idle(Duration::from_millis(200)).await);
    assert_eq!(sandbox.webhook_stats().scheduled, 0);
    // A wrong token is an auth failure; an unknown business number is 100.
    let wrong = client_with(&sandbox, "not-the-token");
    let err = wrong
        .send(PN, &template("+5511988887777", "t", &["a", "b"]))
        .await
        .unwrap_err();
    assert_eq!(meta(&err), (190, ErrorClass::Auth));
    assert!(err.halts_sending());
    sandbox
        .configure(&json!({"phone_number_ids": ["999"]}))
        .unwrap();
    let err = client
        .send(PN, &template("+5511988887777", "t", &["a", "b"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(100));
    let calls = sandbox.calls();
    assert!(
        calls.iter().all(|c| c.outcome == Outcome::Refused),
        "{calls:?}"
    );
}

fn client_with(sandbox: &Sandbox, token: &str) -> CloudApiClient {
    client(sandbox, token, Duration::from_secs(5))
}

#[tokio::test]
async fn a_customers_message_opens_the_window_and_can_be_marked_read() {
    let (sandbox, receiver, client) = start(fast()).await;
    let err = client
        .send(PN, &text("+5511922223333", "before"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(131047));
    let receipt = sandbox
        .inbound(Inbound {
            from: "+55 11 92222-3333".into(),
            text: Some("Olá 🙏".into()),
            ..Inbound::default()
        })
        .await
        .unwrap();
    assert!(receipt.delivered);
    let inbound = receiver.bodies.lock().unwrap()[0].clone();
    let m = &inbound["entry"][0]["changes"][0]["value"]["messages"][0];
    assert_eq!(m["from"], "5511922223333");
    assert_eq!(m["text"]["body"], "Olá 🙏");
    assert_eq!(m["id"], receipt.wamid.as_str());
    client
        .send(PN, &text("+5511922223333", "after"))
        .await
        .expect("inside the window");
    let read =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": receipt.wamid});
    client
        .send(PN, &read)
        .await
        .expect("a read receipt for its own inbound message");
    let unknown =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"});
    assert_eq!(
        client.send(PN, &unknown).await.unwrap_err().code(),
        Some(100)
    );
    // Inbound input is checked.
    assert!(
        sandbox
            .inbound(Inbound {
                from: "12".into(),
                text: Some("x".into()),
                ..Inbound::default()
            })
            .await
            .is_err()
    );
    assert!(
        sandbox
            .inbound(Inbound {
                from: "+5511922223333".into(),
                ..Inbound::default()
            })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn throttling_transient_errors_and_lost_responses() {
    let mut config = fast();
    config.rate_limit_per_second = Some(3);
    let (sandbox, _receiver, client) = start(config).await;
    let mut codes = Vec::new();
    for i in 0..5 {
        match client
            .send(
                PN,
                &template("+5511988887777", &format!("r{i}"), &["a", "b"]),
            )
            .await
        {
            Ok(_) => codes.push(0),
            Err(e) => codes.push(e.code().unwrap_or(-1)),
        }
    }
    assert_eq!(codes, [0, 0, 0, 130429, 130429]);
    let err = client
        .send(PN, &template("+5511988887777", "r5", &["a", "b"]))
        .await
        .unwrap_err();
    assert_eq!(meta(&err), (130429, ErrorClass::Throttled));
    tokio::time::sleep(Duration::from_millis(1050)).await;
    client
        .send(PN, &template("+5511988887777", "r6", &["a", "b"]))
        .await
        .expect("a new second");

    sandbox
        .configure(&json!({"rate_limit_per_second": null, "transient_rate": 1.0}))
        .unwrap();
    let err = client
        .send(PN, &template("+5511988887777", "t", &["a", "b"]))
        .await
        .unwrap_err();
    assert_eq!(meta(&err), (131000, ErrorClass::Retryable));
    assert_eq!(err.meta().unwrap().is_transient, Some(true));
    assert_eq!(err.meta().unwrap().http_status, 500);

    // A lost response: the message goes out, the caller times out.
    sandbox
        .configure(&json!({"transient_rate": 0.0, "timeout_rate": 1.0, "timeout_ms": 2000}))
        .unwrap();
    let impatient = client_with_timeout(&sandbox, Duration::from_millis(300));
    let err = impatient
        .send(PN, &template("+5511988887777", "lost", &["a", "b"]))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Transport(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Retryable);
    let summary = &sandbox.calls_by_callback()["lost"];
    assert_eq!(
        summary.delivered, 1,
        "the message went out although the caller cannot know"
    );
    assert_eq!(sandbox.calls().last().unwrap().outcome, Outcome::TimedOut);
}

fn client_with_timeout(sandbox: &Sandbox, timeout: Duration) -> CloudApiClient {
    client(sandbox, &SandboxConfig::default().access_token, timeout)
}

#[tokio::test]
async fn webhooks_are_duplicated_reordered_retried_and_held() {
    let mut config = fast();
    config.duplicate_rate = 1.0;
    config.out_of_order_rate = 1.0;
    config.delays = Delays {
        sent_ms: 10,
        delivered_ms: 20,
        read_ms: 30,
        jitter_ms: 200,
    };
    config.seed = Some(3);
    let (sandbox, receiver, client) = start(config).await;
    for i in 0..5 {
        client
            .send(
                PN,
                &template("+5511988887777", &format!("d{i}"), &["a", "b"]),
            )
            .await
            .unwrap();
    }
    assert!(sandbox.wait_idle(Duration::from_secs(10)).await);
    let statuses = receiver.statuses();
    assert_eq!(statuses.len(), 30, "every status twice");
    // Arrival order differs from Meta's order for some message, while each
    // status keeps Meta's timestamp order.
    let rank = |s: &str| {
        ["sent", "delivered", "read"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let mut reordered = false;
    for i in 0..5 {
        let cb = format!("d{i}");
        let seen: Vec<&(String, String, Option<String>, Option<i64>)> = statuses
            .iter()
            .filter(|s| s.2.as_deref() == Some(&cb))
            .collect();
        let firsts: Vec<usize> = seen.iter().map(|s| rank(&s.1)).collect();
        reordered |= firsts.windows(2).any(|w| w[0] > w[1]);
        let at = |status: &str| {
            seen.iter()
                .find(|s| s.1 == status)
                .and_then(|s| s.3)
                .unwrap()
        };
        assert!(at("sent") <= at("delivered") && at("delivered") <= at("read"));
    }
    assert!(reordered, "out_of_order_rate 1.0 reordered nothing");

    // A failing endpoint is retried until it answers 200.
    sandbox
        .configure(&json!({"duplicate_rate": 0.0, "out_of_order_rate": 0.0}))
        .unwrap();
    *receiver.answer.lock().unwrap() = 503;
    let before = receiver.bodies.lock().unwrap().len();
    client
        .send(PN, &template("+5511988887777", "retry", &["a", "b"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sandbox.webhook_stats().retried > 0);
    *receiver.answer.lock().unwrap() = 200;
    assert!(sandbox.wait_idle(Duration::from_secs(10)).await);
    assert_eq!(receiver.bodies.lock().unwrap().len(), before + 3);
    assert_eq!(sandbox.webhook_stats().given_up, 0);

    // Without a webhook URL, webhooks wait for one.
    let held = Sandbox::start(([127, 0, 0, 1], 0).into(), fast())
        .await
        .unwrap();
    let c = client_with(&held, &SandboxConfig::default().access_token);
    c.send(PN, &template("+5511988887777", "held", &["a", "b"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(held.webhook_stats().pending, 3);
    let late = Receiver::start(&SandboxConfig::default().app_secret).await;
    held.set_webhook_url(&late.url()).unwrap();
    late.wait_for(3).await;
    assert!(held.wait_idle(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn the_control_api_speaks_json_over_http() {
    let (sandbox, receiver, client) = start(fast()).await;
    let control = chasqui_cli::sandbox::client::SandboxClient::new(&sandbox.url());
    assert_eq!(control.health().await.unwrap()["ok"], true);
    let config = control
        .configure(&json!({"unread": ["+1 555 000 0001"]}))
        .await
        .unwrap();
    assert_eq!(config.unread, ["15550000001"]);
    assert!(
        control
            .configure(&json!({"duplicate_rate": 2}))
            .await
            .is_err()
    );
    client
        .send(PN, &template("+15550000001", "unread-1", &["a", "b"]))
        .await
        .unwrap();
    assert!(sandbox.wait_idle(Duration::from_secs(5)).await);
    let names: Vec<String> = receiver.statuses().into_iter().map(|s| s.1).collect();
    assert_eq!(names, ["sent", "delivered"], "an unread number never reads");
    let receipt = control
        .inbound(&Inbound {
            from: "+5511988887777".into(),
            text: Some("oi".into()),
            ..Inbound::default()
        })
        .await
        .unwrap();
    assert!(receipt.delivered);
    let (calls, by_callback) = control.calls(Some("unread-1")).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(by_callback["unread-1"].delivered, 1);
    // Unknown paths answer like Graph.
    let resp = reqwest::get(format!("{}/nope", sandbox.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
}

#[tokio::test]
async fn a_username_customer_is_played_and_sends_by_bsuid_follow_metas_rules() {
    let (sandbox, receiver, client) = start(fast()).await;
    // A customer with a username and no phone writes.
    let bsuid = "BR.1502576394655843";
    let receipt = sandbox
        .inbound(Inbound {
            user_id: Some(bsuid.into()),
            username: Some("@bia".into()),
            text: Some("oi".into()),
            ..Inbound::default()
        })
        .await
        .unwrap();
    assert!(receipt.delivered);
    let inbound = receiver.bodies.lock().unwrap()[0].clone();
    let value = &inbound["entry"][0]["changes"][0]["value"];
    assert_eq!(value["messages"][0]["from_user_id"], bsuid);
    assert!(value["messages"][0].get("from").is_none(), "{value}");
    assert_eq!(value["contacts"][0]["profile"]["username"], "@bia");

    // Her window is open by BSUID: a free-form reply by `recipient` goes.
    let reply = json!({"messaging_product": "whatsapp", "recipient": bsuid, "type": "text",
        "text": {"body": "olá"}, "biz_opaque_callback_data": "to-bia"});
    let accepted = client.send(PN, &reply).await.expect("inside her window");
    assert_eq!(accepted.user_id.as_deref(), Some(bsuid));
    assert_eq!(accepted.wa_id, None);
    receiver.wait_for(4).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    let status = bodies
        .iter()
        .find_map(|b| b.pointer("/entry/0/changes/0/value/statuses/0").cloned())
        .unwrap();
    assert_eq!(status["recipient_user_id"], bsuid);
    assert!(status.get("recipient_id").is_none(), "{status}");

    // A phone send's statuses carry the phone and its deterministic BSUID.
    client
        .send(PN, &template("+5511988887777", "to-ana", &["Ana", "10h"]))
        .await
        .unwrap();
    receiver.wait_for(7).await;
    let bodies = receiver.bodies.lock().unwrap().clone();
    let ana: Vec<&Value> = bodies
        .iter()
        .filter_map(|b| b.pointer("/entry/0/changes/0/value/statuses/0"))
        .filter(|s| s["biz_opaque_callback_data"] == "to-ana")
        .collect();
    assert!(!ana.is_empty());
    for s in &ana {
        assert_eq!(s["recipient_id"], "5511988887777");
        assert_eq!(
            s["recipient_user_id"].as_str(),
            Some(chasqui_cli::sandbox::config::user_id_of("5511988887777").as_str())
        );
    }

    // An authentication template to a BSUID is refused with 131062.
    let otp = json!({"messaging_product": "whatsapp", "recipient": bsuid, "type": "template",
        "biz_opaque_callback_data": "otp-1",
        "template": {"name": "login_code", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]}]}});
    let err = client.send(PN, &otp).await.unwrap_err();
    assert_eq!(meta(&err), (131062, ErrorClass::Permanent));
    // ...and the same template to her phone is not.
    let mut by_phone = otp.clone();
    by_phone["to"] = json!("+5511988887777");
    by_phone["biz_opaque_callback_data"] = json!("otp-2");
    client.send(PN, &by_phone).await.expect("a phone send");
    // A malformed BSUID is a 100 naming the field.
    let bad = json!({"messaging_product": "whatsapp", "recipient": "5511", "type": "text",
        "text": {"body": "x"}});
    assert_eq!(client.send(PN, &bad).await.unwrap_err().code(), Some(100));
}

const SHOP_PN: &str = "2233445566";
const SHOP_WABA: &str = "300000000000001";

/// The default app and a second one, `shop`, with a number of its own.
fn two_apps() -> SandboxConfig {
    let mut config = fast();
    config.phone_number_ids = vec![PN.into()];
    config.apps = vec![SandboxApp {
        name: "shop".into(),
        app_secret: "shop-app-secret".into(),
        access_token: "shop-access-token".into(),
        phone_number_ids: vec![SHOP_PN.into()],
        waba_id: SHOP_WABA.into(),
        display_phone_number: "15550002222".into(),
    }];
    config
}

/// Every webhook request as it arrived: path, signature header, body.
type Arrivals = Arc<Mutex<Vec<(String, Vec<u8>, Vec<u8>)>>>;

async fn recorder() -> (Server, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let kept = arrivals.clone();
    let endpoint = Router::new().fallback(
        move |uri: Uri, headers: HeaderMap, body: Bytes| async move {
            let sig = headers
                .get("x-hub-signature-256")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            kept.lock()
                .unwrap()
                .push((uri.path().to_owned(), sig, body.to_vec()));
            "{}"
        },
    );
    let server = Server::bind(([127, 0, 0, 1], 0).into(), endpoint)
        .await
        .unwrap();
    (server, arrivals)
}

#[tokio::test]
async fn a_second_apps_numbers_need_its_token_and_its_webhooks_are_its_own() {
    let config = two_apps();
    let default_secret = config.app_secret.clone();
    let default_waba = config.waba_id.clone();
    let (server, arrivals) = recorder().await;
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap();
    sandbox
        .set_webhook_url(&format!("{}/webhook", server.url()))
        .unwrap();
    let default = client(
        &sandbox,
        "chasqui-test-access-token",
        Duration::from_secs(5),
    );
    let shop = client(&sandbox, "shop-access-token", Duration::from_secs(5));

    // Each app's token sends only from its own numbers.
    let err = default
        .send(SHOP_PN, &template("+5511988887777", "x1", &["Ana", "10h"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(190), "{err}");
    let err = shop
        .send(PN, &template("+5511988887777", "x2", &["Ana", "10h"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(190), "{err}");
    shop.send(
        SHOP_PN,
        &template("+5511988887777", "shop-1", &["Ana", "10h"]),
    )
    .await
    .unwrap();
    default
        .send(
            PN,
            &template("+5511988887777", "default-1", &["Ana", "10h"]),
        )
        .await
        .unwrap();
    let receipt = sandbox
        .inbound(Inbound {
            from: "+5511977776666".into(),
            text: Some("oi".into()),
            phone_number_id: Some(SHOP_PN.into()),
            ..Inbound::default()
        })
        .await
        .unwrap();
    assert!(receipt.delivered);
    assert!(sandbox.wait_idle(Duration::from_secs(5)).await);

    let arrivals = arrivals.lock().unwrap().clone();
    // Three statuses per accepted send, and the inbound message.
    assert_eq!(arrivals.len(), 7);
    let mut per_app = (0, 0);
    for (path, sig, body) in &arrivals {
        let value: Value = serde_json::from_slice(body).unwrap();
        let entry = &value["entry"][0];
        let metadata = &entry["changes"][0]["value"]["metadata"];
        let verifies =
            |secret: &str| shared::signature::verify(Some(sig), body, secret.as_bytes()).is_ok();
        if metadata["phone_number_id"] == SHOP_PN {
            per_app.1 += 1;
            assert_eq!(path, "/webhook/shop");
            assert!(verifies("shop-app-secret"));
            assert!(!verifies(&default_secret));
            assert_eq!(entry["id"], SHOP_WABA);
            assert_eq!(metadata["display_phone_number"], "15550002222");
        } else {
            per_app.0 += 1;
            assert_eq!(metadata["phone_number_id"], PN);
            assert_eq!(path, "/webhook");
            assert!(verifies(&default_secret));
            assert!(!verifies("shop-app-secret"));
            assert_eq!(entry["id"], default_waba.as_str());
        }
    }
    assert_eq!(per_app, (3, 4));
}

#[tokio::test]
async fn further_apps_are_checked_when_configured() {
    let app = |name: &str, pn: &str| {
        json!({"name": name, "app_secret": "s", "access_token": "t",
               "phone_number_ids": [pn], "waba_id": "1"})
    };
    let base = SandboxConfig {
        phone_number_ids: vec![PN.into()],
        ..SandboxConfig::default()
    };
    assert!(base.patched(&json!({"apps": [app("shop", "9")]})).is_ok());
    for (apps, path) in [
        (json!([app("Shop", "9")]), "apps[0].name"),
        (json!([app("default", "9")]), "apps[0].name"),
        (json!([app("shop", "9"), app("shop", "8")]), "apps[1].name"),
        (json!([app("shop", PN)]), "apps[0].phone_number_ids"),
        (
            json!([app("shop", "9"), app("shop-2", "9")]),
            "apps[1].phone_number_ids",
        ),
        (json!([app("shop", "+55 11")]), "apps[0].phone_number_ids"),
        (
            json!([{"name": "shop", "app_secret": "", "access_token": "t",
                 "phone_number_ids": ["9"], "waba_id": "1"}]),
            "apps[0].app_secret",
        ),
    ] {
        let err = base.patched(&json!({ "apps": apps })).unwrap_err();
        assert!(err.to_string().starts_with(path), "{path}: {err}");
    }
}
