//! Two businesses in one deployment, through the real `webhook`, `sender`
//! and `status` binaries: each behind its own Meta app, with its own
//! number, WABA and access token, and one customer (the same phone) writing
//! to both. Each app's signature verifies only on its own route; a payload
//! for another app's number is kept aside, applied to no one; each Cloud
//! API call carries its own tenant's token (the sandbox refuses any other
//! with 190); and no record, contact, opt-out or event crosses tenants,
//! though both use the same message ids.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use chasqui_cli::sandbox::config::SandboxApp;
use chasqui_cli::sandbox::{Inbound, Outcome, SandboxConfig};
use harness::local::{LocalStack, StackOptions};
use harness::scenario::STATUS_DELAYS;
use serde_json::{Value, json};
use shared::events::Event;
use shared::record::Status;
use shared::tenant::{Binding, BindingStore, DEFAULT_TENANT, DynamoBindings};

const ACME_NUMBER: &str = "2001001";
const GLOBEX_NUMBER: &str = "3001001";
const ACME_TOKEN: &str = "acme-access-token";
const GLOBEX_TOKEN: &str = "globex-access-token";
const SHOP_SECRET: &str = "shop-app-secret";
const MART_SECRET: &str = "mart-app-secret";
/// One customer of both businesses.
const CUSTOMER: &str = "+5511977770001";
const OTHER: &str = "+5511977770002";

fn app(name: &str, secret: &str, token: &str, number: &str, waba: &str) -> SandboxApp {
    SandboxApp {
        name: name.into(),
        app_secret: secret.into(),
        access_token: token.into(),
        phone_number_ids: vec![number.into()],
        waba_id: waba.into(),
        display_phone_number: format!("+55 11 {number}"),
    }
}

fn binding(number: &str, tenant: &str, app: &str, waba: &str, prefix: &str) -> Binding {
    Binding {
        phone_number_id: number.into(),
        tenant: tenant.into(),
        app: app.into(),
        waba_id: waba.into(),
        display_phone_number: None,
        token_secret: format!("{prefix}tenants/{tenant}"),
        created_at: shared::now_millis(),
    }
}

fn text(id: &str, tenant: Option<&str>, number: &str, to: &str, body: &str) -> Value {
    let mut request = json!({"id": id, "phone_number_id": number, "to": to,
        "message": {"type": "text", "text": {"body": body}}});
    if let Some(tenant) = tenant {
        request["tenant"] = tenant.into();
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tenants_share_a_deployment_and_nothing_else() {
    let sqs = harness::sqs().await;
    let events_queue = harness::create_queue(&sqs, "tenant-events").await;
    let prefix = format!("{}/", harness::unique("chasqui-tenants"));
    let sandbox = SandboxConfig {
        delays: STATUS_DELAYS,
        enforce_window: true,
        seed: Some(11),
        webhook_retry_ms: 200,
        apps: vec![
            app("shop", SHOP_SECRET, ACME_TOKEN, ACME_NUMBER, "7001"),
            app("mart", MART_SECRET, GLOBEX_TOKEN, GLOBEX_NUMBER, "8001"),
        ],
        ..SandboxConfig::default()
    };
    let stack = LocalStack::start(StackOptions {
        sandbox,
        env: vec![
            ("webhook", "WHATSAPP_SECRET_PREFIX", prefix.clone()),
            ("sender", "WHATSAPP_SECRET_PREFIX", prefix.clone()),
            ("status", "UPSTREAM_EVENTS_QUEUE_URL", events_queue.clone()),
        ],
        ..StackOptions::default()
    })
    .await;

    // GIVEN two apps' secrets, two tenants' tokens and their bindings.
    let sm = harness::secrets_manager().await;
    for (name, value) in [
        (
            "apps/shop",
            json!({"app_secret": SHOP_SECRET, "verify_token": "shop-verify"}),
        ),
        (
            "apps/mart",
            json!({"app_secret": MART_SECRET, "verify_token": "mart-verify"}),
        ),
        ("tenants/acme", json!({"access_token": ACME_TOKEN})),
        ("tenants/globex", json!({"access_token": GLOBEX_TOKEN})),
    ] {
        sm.create_secret()
            .name(format!("{prefix}{name}"))
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap();
    }
    let bindings = DynamoBindings::new(stack.ddb.clone(), &stack.table);
    for b in [
        binding(ACME_NUMBER, "acme", "shop", "7001", &prefix),
        binding(GLOBEX_NUMBER, "globex", "mart", "8001", &prefix),
    ] {
        assert!(bindings.put(&b).await.unwrap());
    }

    // The same customer writes to both businesses (each through its app's
    // route, signed with its secret), then sends STOP to one of them.
    for (number, words) in [
        (ACME_NUMBER, "Olá, loja"),
        (GLOBEX_NUMBER, "Olá, mercado"),
        (ACME_NUMBER, "STOP"),
    ] {
        let receipt = stack
            .sandbox
            .inbound(Inbound {
                from: CUSTOMER.into(),
                text: Some(words.into()),
                phone_number_id: Some(number.into()),
                ..Inbound::default()
            })
            .await
            .unwrap();
        assert!(receipt.delivered, "{:?}", receipt.webhook_status);
    }
    let wa_id = CUSTOMER.trim_start_matches('+');
    stack
        .wait_until(
            "acme's opt-out recorded",
            Duration::from_secs(90),
            || async {
                match stack.contact_of("acme", ACME_NUMBER, wa_id).await {
                    Some(c) if c.opted_out => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    // THEN the opt-out is acme's only: globex's contact wrote, and did not
    // opt out; neither contact is anyone else's.
    let globex = stack
        .contact_of("globex", GLOBEX_NUMBER, wa_id)
        .await
        .expect("globex's contact");
    assert!(!globex.opted_out);
    assert!(globex.last_inbound_at.is_some());
    for (tenant, number) in [
        ("globex", ACME_NUMBER),
        (DEFAULT_TENANT, ACME_NUMBER),
        ("acme", GLOBEX_NUMBER),
        (DEFAULT_TENANT, GLOBEX_NUMBER),
    ] {
        assert!(
            stack.contact_of(tenant, number, wa_id).await.is_none(),
            "{tenant} sees a contact of {number}"
        );
    }

    // WHEN both tenants send with the same message ids, and requests name a
    // number that is not their tenant's.
    stack
        .send_all(&[
            text("order-1", Some("acme"), ACME_NUMBER, CUSTOMER, "Seu pedido"),
            text(
                "order-1",
                Some("globex"),
                GLOBEX_NUMBER,
                CUSTOMER,
                "Sua compra",
            ),
            json!({"id": "order-2", "tenant": "acme", "phone_number_id": ACME_NUMBER, "to": OTHER,
                "message": {"type": "template", "template": {"name": "appointment_reminder",
                  "language": {"code": "pt_BR"}, "components": [{"type": "body", "parameters": [
                    {"type": "text", "text": "Ana"}, {"type": "text", "text": "10h"}]}]}}}),
            text("cross-1", Some("acme"), GLOBEX_NUMBER, CUSTOMER, "not mine"),
            text("cross-2", None, ACME_NUMBER, CUSTOMER, "not the default's"),
        ])
        .await;
    let final_state = |s: Status| matches!(s, Status::Read | Status::Failed | Status::Suppressed);
    let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    stack
        .wait_until("every record final", Duration::from_secs(150), || async {
            let acme = stack
                .records_of("acme", &ids(&["order-1", "order-2", "cross-1"]))
                .await;
            let globex = stack.records_of("globex", &ids(&["order-1"])).await;
            let default = stack.records_of(DEFAULT_TENANT, &ids(&["cross-2"])).await;
            let all: Vec<_> = acme
                .values()
                .chain(globex.values())
                .chain(default.values())
                .collect();
            if all.len() == 5 && all.iter().all(|r| final_state(r.status())) {
                Ok(())
            } else {
                Err(format!(
                    "{} of 5 records final",
                    all.iter().filter(|r| final_state(r.status())).count()
                ))
            }
        })
        .await;
    let acme = stack
        .records_of("acme", &ids(&["order-1", "order-2", "cross-1"]))
        .await;
    let globex = stack.records_of("globex", &ids(&["order-1"])).await;
    let default = stack
        .records_of(
            DEFAULT_TENANT,
            &ids(&["order-1", "order-2", "cross-1", "cross-2"]),
        )
        .await;
    // THEN one id, two messages: suppressed for acme's opted-out customer,
    // sent for globex's.
    assert_eq!(acme["order-1"].status(), Status::Suppressed);
    assert_eq!(globex["order-1"].status(), Status::Read);
    assert_eq!(acme["order-2"].status(), Status::Read);
    for (record, reason) in [
        (&acme["cross-1"], "number_not_bound"),
        (&default["cross-2"], "number_not_bound"),
    ] {
        assert_eq!(record.status(), Status::Failed);
        assert_eq!(
            record.error.as_ref().and_then(|e| e.reason.as_deref()),
            Some(reason)
        );
    }
    assert_eq!(
        default.len(),
        1,
        "only cross-2 is the default tenant's: {:?}",
        default.keys()
    );
    for (tenant, records) in [("acme", &acme), ("globex", &globex)] {
        for record in records.values() {
            assert!(
                record.pk.starts_with(&format!("T#{tenant}#")),
                "{}",
                record.pk
            );
            assert_eq!(record.tenant.as_deref(), Some(tenant));
        }
    }

    // Each call went from the tenant's own number with its own token: the
    // sandbox answers 190 to any other token, and none was refused.
    let calls = stack.sandbox.calls();
    let sent: BTreeSet<(String, String)> = calls
        .iter()
        .filter(|c| c.kind != "read")
        .map(|c| {
            (
                c.callback.clone().unwrap_or_default(),
                c.phone_number_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        BTreeSet::from([
            ("order-1".to_owned(), GLOBEX_NUMBER.to_owned()),
            ("order-2".to_owned(), ACME_NUMBER.to_owned()),
        ]),
        "{calls:#?}"
    );
    assert!(
        calls.iter().all(|c| c.outcome == Outcome::Accepted),
        "{calls:#?}"
    );

    // A payload for globex's number through acme's app (signed by it): kept
    // aside, applied to no one. The same body on globex's route with acme's
    // signature is refused outright.
    let webhook = stack.local.webhook_url().expect("a webhook route");
    let forged =
        json!({"object": "whatsapp_business_account", "entry": [{"id": "7001", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
          "metadata": {"display_phone_number": "551130000000", "phone_number_id": GLOBEX_NUMBER},
          "statuses": [{"id": "wamid.FORGED", "status": "failed", "timestamp": "1900000000",
            "recipient_id": wa_id, "biz_opaque_callback_data": "order-1",
            "errors": [{"code": 131026, "title": "forged"}]}]}}]}]})
        .to_string();
    let signature = shared::signature::sign(forged.as_bytes(), SHOP_SECRET.as_bytes());
    let http = reqwest::Client::new();
    for (route, want) in [("mart", 403), ("shop", 200)] {
        let resp = http
            .post(format!("{webhook}/{route}"))
            .header("X-Hub-Signature-256", &signature)
            .body(forged.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "/webhook/{route}");
    }
    stack
        .wait_until(
            "the forged change kept aside",
            Duration::from_secs(60),
            || async {
                let kept = stack
                    .logs
                    .lines()
                    .iter()
                    .any(|(f, l)| f == "status" && l.contains("number_of_another_app"));
                if kept { Ok(()) } else { Err("not yet".into()) }
            },
        )
        .await;
    let globex = stack.records_of("globex", &ids(&["order-1"])).await;
    assert_eq!(
        globex["order-1"].status(),
        Status::Read,
        "the forged failure was not applied"
    );
    assert!(globex["order-1"].errors.is_empty());

    // Every event names its tenant, in its body and its attribute, and
    // concerns that tenant's number only.
    let mut events = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&events_queue)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() && !events.is_empty() {
            break;
        }
        for m in out.messages() {
            let event: Event = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
            let attribute = m
                .message_attributes()
                .and_then(|a| a.get("tenant"))
                .and_then(|v| v.string_value())
                .map(str::to_owned);
            assert_eq!(attribute.as_deref(), Some(event.tenant.as_str()));
            events.push(serde_json::to_value(&event).unwrap());
        }
    }
    let mut seen = BTreeSet::new();
    for event in &events {
        let tenant = event["tenant"].as_str().unwrap_or_default();
        let number = event["data"]["phone_number_id"]
            .as_str()
            .unwrap_or_default();
        let owner = match number {
            ACME_NUMBER => "acme",
            GLOBEX_NUMBER => "globex",
            other => panic!("an event for number {other:?}: {event}"),
        };
        assert_eq!(tenant, owner, "{event}");
        seen.insert((
            tenant.to_owned(),
            event["type"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    for expected in [
        ("acme", "message.inbound"),
        ("acme", "contact.opted_out"),
        ("acme", "message.status_changed"),
        ("globex", "message.inbound"),
        ("globex", "message.status_changed"),
    ] {
        assert!(
            seen.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "no {expected:?} event in {seen:?}"
        );
    }

    // No token reached a log line.
    for (function, line) in stack.logs.lines() {
        for secret in [ACME_TOKEN, GLOBEX_TOKEN, SHOP_SECRET, MART_SECRET] {
            assert!(!line.contains(secret), "{function} logged a secret: {line}");
        }
    }
    stack.stop().await;
}
