//! Secrets never reach a log. The real `webhook`, `sender` and `status`
//! binaries run every flow that touches a secret, and the unhappy ones that
//! are most tempted to print one: the verification handshake with the right
//! and a wrong token, signed, unsigned and badly signed posts, a body that is
//! not JSON, sends that are accepted, refused by Meta, invalid, suppressed
//! after a customer's `STOP`, and calls Meta refuses with 190 (the access
//! token is not the one Meta expects). Every line the functions wrote is
//! captured; none may hold the app secret, the verify token or the access
//! token, whole or as a Bearer header.
//!
//! So that the test cannot pass by capturing nothing, it first checks that
//! each flow left its own log line.

use std::time::Duration;

use chasqui_cli::sandbox::{Delays, Inbound, SandboxConfig};
use harness::local::{LocalStack, StackOptions};
use harness::{ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN};
use serde_json::{Value, json};
use shared::record::Status;

fn template(id: &str, to: &str) -> Value {
    json!({"id": id, "to": to, "message": {"type": "template", "template": {
        "name": "appointment_reminder", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": "10h"}]}]}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_flow_logs_a_secret() {
    let undeliverable = "+15550009999".to_owned();
    let stack = LocalStack::start(StackOptions {
        sandbox: SandboxConfig {
            delays: Delays {
                sent_ms: 50,
                delivered_ms: 100,
                read_ms: 150,
                jitter_ms: 0,
            },
            undeliverable: vec![undeliverable.clone()],
            ..SandboxConfig::default()
        },
        ..StackOptions::default()
    })
    .await;
    let webhook = stack.local.webhook_url().expect("a webhook route");
    let http = reqwest::Client::new();

    // The webhook: handshakes and posts of every signature class.
    for (token, want) in [(VERIFY_TOKEN, 200), ("not-the-token", 403)] {
        let resp = http
            .get(format!(
                "{webhook}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            ))
            .send()
            .await
            .expect("the local HTTP API answers");
        assert_eq!(resp.status().as_u16(), want, "handshake with {token}");
    }
    let body = harness::fixture("status-delivered.json");
    let posts: [(&str, Option<String>, u16); 4] = [
        ("signed", Some(harness::sign(body.as_bytes())), 200),
        ("unsigned", None, 401),
        (
            "signed with another secret",
            Some(shared::signature::sign(body.as_bytes(), b"another-secret")),
            403,
        ),
        ("truncated signature", Some("sha256=00ff".into()), 403),
    ];
    for (name, signature, want) in posts {
        let mut req = http.post(&webhook).body(body.clone());
        if let Some(s) = signature {
            req = req.header("x-hub-signature-256", s);
        }
        let resp = req.send().await.expect("the local HTTP API answers");
        assert_eq!(resp.status().as_u16(), want, "{name}");
    }
    let not_json = b"not json at all".to_vec();
    let resp = http
        .post(&webhook)
        .header("x-hub-signature-256", harness::sign(&not_json))
        .body(not_json)
        .send()
        .await
        .expect("the local HTTP API answers");
    assert_eq!(resp.status().as_u16(), 200, "a verified non-JSON body");

    // The sender and the status function: accepted, refused by Meta,
    // invalid; then suppressed after the customer's STOP.
    let customer = "+5511988880001";
    stack
        .send_all(&[
            template("secrets-read", customer),
            template("secrets-undeliverable", &undeliverable),
            json!({"id": "secrets-invalid", "to": customer, "message": {"type": "text"}}),
        ])
        .await;
    let ids: Vec<String> = ["secrets-read", "secrets-undeliverable", "secrets-invalid"]
        .map(String::from)
        .to_vec();
    stack
        .wait_until("the first sends settle", Duration::from_secs(60), || {
            let ids = ids.clone();
            let stack = &stack;
            async move {
                let records = stack.records(&ids).await;
                let status = |id: &str| records.get(id).map(|r| r.status());
                match (
                    status("secrets-read"),
                    status("secrets-undeliverable"),
                    status("secrets-invalid"),
                ) {
                    (Some(Status::Read), Some(Status::Failed), Some(Status::Failed)) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
    // Then the customer opts out.
    stack
        .sandbox
        .inbound(Inbound {
            from: customer.into(),
            text: Some("STOP".into()),
            ..Inbound::default()
        })
        .await
        .expect("the sandbox posts the inbound webhook");
    stack
        .wait_until("the STOP is applied", Duration::from_secs(30), || async {
            match stack.contact("5511988880001").await {
                Some(state) if state.opted_out => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    stack
        .send_all(&[template("secrets-suppressed", customer)])
        .await;

    // Meta stops accepting our token: every call is refused with 190.
    stack
        .sandbox
        .configure(&json!({"access_token": "a-token-the-sender-does-not-have"}))
        .expect("the sandbox takes a new token");
    stack
        .send_all(&[template("secrets-token", "+5511988880002")])
        .await;
    stack
        .wait_until(
            "a 190 refusal and the suppression are logged",
            Duration::from_secs(60),
            || async {
                let lines = stack.logs.lines();
                let has = |function: &str, needle: &str| {
                    lines
                        .iter()
                        .any(|(f, l)| f == function && l.contains(needle))
                };
                if has("sender", "190") && has("sender", "\"suppressed\"") {
                    Ok(())
                } else {
                    Err(format!("{} lines so far", lines.len()))
                }
            },
        )
        .await;

    let lines = stack.logs.lines();
    stack.stop().await;

    // Each flow left its line: the capture saw them all.
    let logged = |function: &str, needles: &[&str]| {
        for needle in needles {
            assert!(
                lines
                    .iter()
                    .any(|(f, l)| f == function && l.contains(needle)),
                "no {function} line with {needle}: the capture missed a flow"
            );
        }
    };
    logged(
        "webhook",
        &[
            "handshake_ok",
            "handshake_refused",
            "signature_missing",
            "signature_invalid",
            "queued_raw",
        ],
    );
    logged(
        "sender",
        &["\"sent\"", "131026", "invalid_request", "suppressed", "190"],
    );
    // The status function applied this run's statuses (its lines name
    // events by id and type; a message id only reaches the log at debug).
    logged("status", &["\"event_type\":\"message.status_changed\""]);

    // And none holds a secret.
    let secrets = [
        ("app secret", APP_SECRET.to_owned()),
        ("verify token", VERIFY_TOKEN.to_owned()),
        ("access token", ACCESS_TOKEN.to_owned()),
        ("bearer header", format!("Bearer {ACCESS_TOKEN}")),
    ];
    for (function, line) in &lines {
        for (what, value) in &secrets {
            assert!(
                !line.contains(value.as_str()),
                "{function} logged the {what}: {line}"
            );
        }
    }
    assert!(lines.len() > 20, "only {} lines captured", lines.len());
}
