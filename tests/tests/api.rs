//! The HTTP API function against the local AWS emulator: the function as
//! API Gateway invokes it (payload 2.0 events) on real DynamoDB and SQS
//! clients, each endpoint's success and refusal table, keys, tenants, the
//! rate limit and health; then the real `api` binary behind the local
//! gateway with the whole loop, a send followed to `read`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chasqui_api::{ApiConfig, App};
use harness::local::{LocalStack, PHONE_NUMBER_ID, StackOptions};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::config::{ApiSettings, Settings};
use shared::keys::{self, DynamoKeys};
use shared::secrets::ExposeSecret;
use shared::send_request::SendRequest;
use shared::table;
use shared::tenant::{Binding, BindingStore, DynamoBindings};

const ACME_NUMBER: &str = "5566778899";

struct Fixture {
    app: App,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    queue: String,
    events: String,
    /// The default tenant's key and acme's.
    default_key: String,
    acme_key: String,
    extras: Extras,
}

/// Where callback secrets come from and schedules are deleted (moto's).
struct Extras {
    secret: String,
    group: String,
}

fn config(table: &str, queue: &str, events: Option<&str>, rate: u64, x: &Extras) -> ApiConfig {
    let settings = Settings::from_pairs([
        ("CALLBACK_SECRET_ID", x.secret.as_str()),
        ("SCHEDULE_GROUP", x.group.as_str()),
        (
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/scheduler",
        ),
        ("SEND_QUEUE_ARN", "arn:aws:sqs:us-east-1:123456789012:send"),
    ]);
    ApiConfig {
        table_name: table.to_owned(),
        send_queue_url: queue.to_owned(),
        default_phone_number_id: PHONE_NUMBER_ID.to_owned(),
        message_ttl: Duration::from_secs(86_400),
        api: ApiSettings {
            rate_per_minute: rate,
            key_cache: Duration::ZERO,
        },
        upstream_events_queue_url: events.map(str::to_owned),
        callbacks_queue_url: None,
        callbacks: settings.callback_registry().unwrap(),
        schedule: settings.schedule().unwrap().unwrap(),
        send_at_max_days: 35,
        metrics_namespace: "Chasqui".to_owned(),
    }
}

async fn key(ddb: &aws_sdk_dynamodb::Client, table: &str, tenant: &str) -> String {
    let new = keys::generate(tenant, Some("test"), shared::now_millis()).unwrap();
    assert!(
        DynamoKeys::new(ddb.clone(), table)
            .create(&new.item)
            .await
            .unwrap()
    );
    new.key.expose_secret().to_owned()
}

async fn setup_with(rate: u64) -> Fixture {
    let ddb = harness::dynamodb().await;
    let sqs = harness::sqs().await;
    let table = harness::create_table(&ddb).await;
    let queue = harness::create_queue(&sqs, "api-send").await;
    let events = harness::create_queue(&sqs, "api-events").await;
    DynamoBindings::new(ddb.clone(), &table)
        .put(&Binding {
            phone_number_id: ACME_NUMBER.into(),
            tenant: "acme".into(),
            app: "default".into(),
            waba_id: "1".into(),
            display_phone_number: None,
            token_secret: "x/tenants/acme".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let default_key = key(&ddb, &table, "default").await;
    let acme_key = key(&ddb, &table, "acme").await;
    let aws = harness::aws().await;
    let secret = harness::create_callback_secret(&harness::secrets_manager().await).await;
    let group = harness::create_schedule_group().await;
    let extras = Extras { secret, group };
    let app = App::new(config(&table, &queue, Some(&events), rate, &extras), &aws).unwrap();
    Fixture {
        app,
        extras,
        ddb,
        sqs,
        table,
        queue,
        events,
        default_key,
        acme_key,
    }
}

async fn setup() -> Fixture {
    setup_with(1000).await
}

/// An API Gateway HTTP API (2.0) request, as the function receives it.
fn request(
    method: &str,
    raw_path: &str,
    query: &str,
    auth: Option<&str>,
    body: Option<&[u8]>,
) -> lambda_http::Request {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(auth) = auth {
        headers["authorization"] = auth.into();
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "local", "domainPrefix": "local",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        let params: BTreeMap<&str, &str> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        event["queryStringParameters"] = json!(params);
    }
    if let Some(body) = body {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = text.into(),
            Err(_) => {
                use base64::Engine;
                event["body"] = base64::engine::general_purpose::STANDARD
                    .encode(body)
                    .into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

struct Answer {
    status: u16,
    headers: lambda_http::http::HeaderMap,
    body: Value,
}

async fn call(app: &App, req: lambda_http::Request) -> Answer {
    let resp: Response<Body> = chasqui_api::handle(app, req).await;
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn post(f: &Fixture, key: &str, body: &Value) -> Answer {
    let bytes = body.to_string();
    call(
        &f.app,
        request(
            "POST",
            "/v1/messages",
            "",
            Some(&bearer(key)),
            Some(bytes.as_bytes()),
        ),
    )
    .await
}

async fn get(f: &Fixture, key: &str, path: &str, query: &str) -> Answer {
    call(
        &f.app,
        request("GET", path, query, Some(&bearer(key)), None),
    )
    .await
}

fn text(id: &str, to: &str) -> Value {
    json!({"id": id, "to": to, "message": {"type": "text", "text": {"body": "Olá"}}})
}

fn assert_problem(a: &Answer, status: u16, reason: &str, path: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(
        a.headers["content-type"], "application/problem+json",
        "{}",
        a.body
    );
    assert_eq!(a.body["status"], status);
    assert_eq!(a.body["reason"], reason, "{}", a.body);
    assert_eq!(a.body["type"], format!("urn:chasqui:problem:{reason}"));
    assert_eq!(a.body["path"].as_str(), path, "{}", a.body);
    assert!(a.body["title"].is_string() && a.body["detail"].is_string());
}

async fn queued(f: &Fixture) -> Vec<Value> {
    let expected = depth(f).await;
    harness::receive(&f.sqs, &f.queue, expected)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).unwrap())
        .collect()
}

async fn depth(f: &Fixture) -> usize {
    harness::queue_depth(&f.sqs, &f.queue).await
}

#[tokio::test]
async fn a_send_is_queued_once_its_id_holds_one_body_and_it_reads_back() {
    let f = setup().await;
    let body = text("order-1", "+55 11 98888-7777");
    let a = post(&f, &f.default_key, &body).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body, json!({"id": "order-1", "status": "pending"}));
    // The queue holds the request the sender will read, and its record the
    // hash the sender computes.
    assert_eq!(depth(&f).await, 1);
    let item = harness::message_item(&f.ddb, &f.table, "order-1").await;
    let hash = SendRequest::parse(&body.to_string())
        .unwrap()
        .request_hash(PHONE_NUMBER_ID);
    assert_eq!(item["request_hash"].as_s().unwrap(), &hash);
    assert_eq!(item["tenant"].as_s().unwrap(), "default");
    assert!(item.contains_key("created_at") && item.contains_key(table::EXPIRES_AT));

    // The same id and body: 200 with the message, queued again while the
    // sender has not taken it.
    let again = post(&f, &f.default_key, &body).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], "order-1");
    assert_eq!(again.body["status"], "pending");
    assert_eq!(depth(&f).await, 2);
    // Another body: 409, nothing queued.
    let other = post(&f, &f.default_key, &text("order-1", "+55 11 97777-6666")).await;
    assert_problem(&other, 409, "id_conflict", Some("id"));
    assert_eq!(depth(&f).await, 2);

    // Once the sender took it, a repeat is answered, not queued.
    f.ddb
        .update_item()
        .table_name(&f.table)
        .key(
            table::PK,
            AttributeValue::S(table::message_pk("default", "order-1")),
        )
        .key(table::SK, AttributeValue::S(table::MESSAGE_SK.into()))
        .update_expression("SET send_state = :d, accepted_at = :a, wamid = :w, #t = :t")
        .expression_attribute_names("#t", "type")
        .expression_attribute_values(":d", AttributeValue::S("done".into()))
        .expression_attribute_values(":a", AttributeValue::N("1764460800000".into()))
        .expression_attribute_values(":w", AttributeValue::S("wamid.X".into()))
        .expression_attribute_values(":t", AttributeValue::S("text".into()))
        .send()
        .await
        .unwrap();
    let taken = post(&f, &f.default_key, &body).await;
    assert_eq!(taken.status, 200);
    assert_eq!(taken.body["status"], "accepted");
    assert_eq!(depth(&f).await, 2);

    let got = get(&f, &f.default_key, "/v1/messages/order-1", "").await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["status"], "accepted");
    assert_eq!(got.body["wamid"], "wamid.X");
    assert_eq!(got.body["type"], "text");
    assert_eq!(
        got.body["timeline"],
        json!([{"status": "accepted", "at": 1764460800000u64}])
    );
    let unknown = get(&f, &f.default_key, "/v1/messages/order-2", "").await;
    assert_problem(&unknown, 404, "message_not_found", None);
    // An id in the path is percent-decoded; a bad one is simply unknown.
    assert_eq!(
        get(&f, &f.default_key, "/v1/messages/order%2D1", "")
            .await
            .status,
        200
    );
    assert_eq!(
        get(&f, &f.default_key, "/v1/messages/%FF", "").await.status,
        404
    );

    // Without an id, Chasqui makes one and the queued body carries it.
    let made = post(
        &f,
        &f.default_key,
        &json!({"to": "+5511988887777", "message": {"type": "text", "text": {"body": "x"}}}),
    )
    .await;
    assert_eq!(made.status, 202);
    let id = made.body["id"].as_str().unwrap().to_owned();
    let bodies = queued(&f).await;
    assert!(bodies.iter().any(|b| b["id"] == id.as_str()), "{bodies:?}");
}

#[tokio::test]
async fn a_request_the_sender_would_refuse_is_refused_with_its_path() {
    let f = setup().await;
    let long = "x".repeat(4097);
    let cases: Vec<(Vec<u8>, u16, &str, Option<&str>)> = vec![
        (b"{".to_vec(), 400, "invalid_request", None),
        (b"[]".to_vec(), 400, "invalid_request", None),
        (vec![0xff, 0xfe], 400, "invalid_request", Some("body")),
        (json!({"id": "a", "message": {"type": "text", "text": {"body": "x"}}}).to_string().into_bytes(), 400, "invalid_request", Some("to")),
        (json!({"id": "a", "to": "call me", "message": {"type": "text", "text": {"body": "x"}}}).to_string().into_bytes(), 400, "invalid_request", Some("to")),
        (json!({"id": "a", "to": "+5521955554444", "message": {"type": "text", "text": {"body": long}}}).to_string().into_bytes(), 400, "invalid_request", Some("message.text.body")),
        (json!({"id": "a", "to": "+5521955554444", "unknown": 1, "message": {"type": "text", "text": {"body": "x"}}}).to_string().into_bytes(), 400, "invalid_request", None),
        (json!({"id": "a", "to": "+5521955554444", "tenant": "acme", "phone_number_id": ACME_NUMBER, "message": {"type": "text", "text": {"body": "x"}}}).to_string().into_bytes(), 403, "tenant_mismatch", Some("tenant")),
        (json!({"id": "a", "to": "+5521955554444", "phone_number_id": ACME_NUMBER, "message": {"type": "text", "text": {"body": "x"}}}).to_string().into_bytes(), 400, "number_not_bound", Some("phone_number_id")),
        (vec![b' '; 262_145], 413, "too_large", None),
    ];
    for (body, status, reason, path) in cases {
        let a = call(
            &f.app,
            request(
                "POST",
                "/v1/messages",
                "",
                Some(&bearer(&f.default_key)),
                Some(&body),
            ),
        )
        .await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        assert_eq!(a.status, status, "{shown}: {}", a.body);
        assert_eq!(a.body["reason"], reason, "{shown}: {}", a.body);
        if let (Ok(text), "invalid_request") = (std::str::from_utf8(&body), reason) {
            // The sender's own refusal: the same path and reason.
            let sender = SendRequest::parse(text).unwrap_err();
            assert_problem(&a, status, reason, Some(&sender.path));
            assert_eq!(a.body["detail"], sender.reason.as_str(), "{shown}");
            if let Some(path) = path {
                assert_eq!(sender.path, path, "{shown}");
            }
        } else {
            assert_problem(&a, status, reason, path);
        }
        // Never the customer's number in an answer.
        assert!(!a.body.to_string().contains("5521955554444"), "{}", a.body);
    }
    assert_eq!(depth(&f).await, 0, "nothing refused is queued");
}

#[tokio::test]
async fn keys_are_checked_and_refused_by_kind() {
    let f = setup().await;
    let path = "/v1/messages/x";
    let (id, _) = f.default_key["chq_".len()..].split_once('_').unwrap();
    let wrong_secret = format!("chq_{id}_{}", "0".repeat(64));
    let unknown = format!("chq_{}_{}", "f".repeat(16), "0".repeat(64));
    for (auth, status, reason) in [
        (None, 401, "unauthenticated"),
        (
            Some("Basic dXNlcjpwYXNz".to_owned()),
            401,
            "unauthenticated",
        ),
        (Some("Bearer not-a-key".to_owned()), 401, "unauthenticated"),
        (Some(bearer(&unknown)), 403, "unknown_key"),
        (Some(bearer(&wrong_secret)), 403, "unknown_key"),
        (Some(bearer(&f.default_key)), 404, "message_not_found"),
    ] {
        let a = call(&f.app, request("GET", path, "", auth.as_deref(), None)).await;
        assert_problem(&a, status, reason, None);
        assert_eq!(
            a.headers.get("www-authenticate").is_some(),
            status == 401,
            "{auth:?}"
        );
    }
    // Revoked later: it still works; revoked now: refused.
    let store = DynamoKeys::new(f.ddb.clone(), &f.table);
    let later = shared::now_millis() + 3_600_000;
    store.revoke(id, later).await.unwrap().unwrap();
    assert_eq!(get(&f, &f.default_key, path, "").await.status, 404);
    store
        .revoke(id, shared::now_millis())
        .await
        .unwrap()
        .unwrap();
    assert_problem(
        &get(&f, &f.default_key, path, "").await,
        403,
        "revoked_key",
        None,
    );
    // The key's last use is recorded.
    let acme = store
        .get(f.acme_key["chq_".len()..].split_once('_').unwrap().0)
        .await
        .unwrap()
        .unwrap();
    assert!(acme.last_used_at.is_none());
    assert_eq!(get(&f, &f.acme_key, path, "").await.status, 404);
    let acme = store.get(&acme.key_id).await.unwrap().unwrap();
    assert!(acme.last_used_at.is_some());
    assert!(acme.secret_hash.len() == 64 && !f.acme_key.contains(&acme.secret_hash));
    // Health takes no key; an unknown route or method is refused before any.
    assert_eq!(
        call(&f.app, request("GET", "/v1/health", "", None, None))
            .await
            .status,
        200
    );
    assert_problem(
        &call(&f.app, request("GET", "/v1/nothing", "", None, None)).await,
        404,
        "no_such_route",
        None,
    );
    let patch = call(&f.app, request("PATCH", "/v1/messages", "", None, None)).await;
    assert_problem(&patch, 405, "method_not_allowed", None);
    assert_eq!(patch.headers["allow"], "POST");
}

#[tokio::test]
async fn tenants_never_see_each_others_messages() {
    let f = setup().await;
    let acme_body = json!({"id": "shared-id", "to": "+5511988887777", "phone_number_id": ACME_NUMBER,
        "message": {"type": "text", "text": {"body": "acme"}}});
    assert_eq!(post(&f, &f.acme_key, &acme_body).await.status, 202);
    // The same id for the default tenant is another message.
    assert_eq!(
        post(&f, &f.default_key, &text("shared-id", "+5511988887777"))
            .await
            .status,
        202
    );
    assert_eq!(
        post(&f, &f.default_key, &text("only-default", "+5511988887777"))
            .await
            .status,
        202
    );
    // acme's queued request names acme, the sender's scope.
    let bodies = queued(&f).await;
    let acme_queued: Vec<&Value> = bodies.iter().filter(|b| b["tenant"] == "acme").collect();
    assert_eq!(acme_queued.len(), 1, "{bodies:?}");
    assert!(
        !harness::message_item(&f.ddb, &f.table, "only-default")
            .await
            .is_empty()
    );
    // Another tenant's id is not found, as an unknown one.
    let a = get(&f, &f.acme_key, "/v1/messages/only-default", "").await;
    assert_problem(&a, 404, "message_not_found", None);
    let mine = get(&f, &f.acme_key, "/v1/messages/shared-id", "").await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["tenant"], "acme");
    // acme may not send from the default number (unbound: the default
    // tenant's) nor name the default tenant.
    let a = post(
        &f,
        &f.acme_key,
        &json!({"id": "b", "to": "+5511988887777", "phone_number_id": PHONE_NUMBER_ID,
        "message": {"type": "text", "text": {"body": "x"}}}),
    )
    .await;
    assert_problem(&a, 400, "number_not_bound", Some("phone_number_id"));
}

#[tokio::test]
async fn the_rate_limit_is_per_key_and_says_when_to_retry() {
    let f = setup_with(3).await;
    // Start well inside a minute so the window does not roll mid-test.
    let second = (shared::now_millis() / 1000) % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    for _ in 0..3 {
        assert_eq!(
            get(&f, &f.default_key, "/v1/messages/x", "").await.status,
            404
        );
    }
    let limited = get(&f, &f.default_key, "/v1/messages/x", "").await;
    assert_problem(&limited, 429, "rate_limited", None);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.body["retry_after"], retry);
    // Another key has its own count; health none.
    assert_eq!(get(&f, &f.acme_key, "/v1/messages/x", "").await.status, 404);
    assert_eq!(
        call(&f.app, request("GET", "/v1/health", "", None, None))
            .await
            .status,
        200
    );
    // The counter is shared: a second instance on the same table agrees.
    let other = App::new(
        config(&f.table, &f.queue, None, 3, &f.extras),
        &harness::aws().await,
    )
    .unwrap();
    assert_eq!(
        call(
            &other,
            request(
                "GET",
                "/v1/messages/x",
                "",
                Some(&bearer(&f.default_key)),
                None
            )
        )
        .await
        .status,
        429
    );
}

async fn delete(f: &Fixture, key: &str, path: &str) -> Answer {
    call(
        &f.app,
        request("DELETE", path, "", Some(&bearer(key)), None),
    )
    .await
}

#[tokio::test]
async fn a_message_not_yet_sent_is_cancelled_by_its_own_tenant_only() {
    let f = setup().await;
    let in_an_hour = shared::time::rfc3339_utc(shared::now_millis() + 3_600_000);
    let mut later = text("later-1", "+5511988887777");
    later["send_at"] = in_an_hour.into();
    assert_eq!(post(&f, &f.default_key, &later).await.status, 202);
    // Beyond SEND_AT_MAX_DAYS: the sender's own refusal, at its path.
    let mut too_far = text("later-2", "+5511988887777");
    too_far["send_at"] = shared::time::rfc3339_utc(shared::now_millis() + 40 * 86_400_000).into();
    assert_problem(
        &post(&f, &f.default_key, &too_far).await,
        400,
        "invalid_request",
        Some("send_at"),
    );
    // Another tenant's key cannot tell it exists, nor cancel it.
    assert_problem(
        &delete(&f, &f.acme_key, "/v1/messages/later-1").await,
        404,
        "message_not_found",
        None,
    );
    let cancelled = delete(&f, &f.default_key, "/v1/messages/later-1").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(
        cancelled.body,
        json!({"id": "later-1", "status": "cancelled"})
    );
    let read = get(&f, &f.default_key, "/v1/messages/later-1", "").await;
    assert_eq!(read.body["status"], "cancelled");
    assert_eq!(read.body["timeline"][0]["status"], "cancelled");
    // Again: the same answer (a retried DELETE is safe).
    assert_eq!(
        delete(&f, &f.default_key, "/v1/messages/later-1")
            .await
            .status,
        200
    );
    assert_problem(
        &delete(&f, &f.default_key, "/v1/messages/nobody-sent-this").await,
        404,
        "message_not_found",
        None,
    );
    // A message the sender has taken can no longer be cancelled.
    assert_eq!(
        post(&f, &f.default_key, &text("now-1", "+5511988887777"))
            .await
            .status,
        202
    );
    f.ddb
        .update_item()
        .table_name(&f.table)
        .key(
            table::PK,
            AttributeValue::S(table::message_pk("default", "now-1")),
        )
        .key(table::SK, AttributeValue::S(table::MESSAGE_SK.into()))
        .update_expression("SET accepted_at = :t")
        .expression_attribute_values(":t", AttributeValue::N(shared::now_millis().to_string()))
        .send()
        .await
        .unwrap();
    assert_problem(
        &delete(&f, &f.default_key, "/v1/messages/now-1").await,
        409,
        "not_cancellable",
        None,
    );
    assert_eq!(
        get(&f, &f.default_key, "/v1/messages/now-1", "").await.body["status"],
        "accepted"
    );
}

#[tokio::test]
async fn callback_endpoints_are_registered_listed_and_removed_per_tenant() {
    let f = setup().await;
    let body = |v: Value| v.to_string();
    let post_callback = |key: &str, v: Value| {
        let bytes = body(v);
        let req = request(
            "POST",
            "/v1/callbacks",
            "",
            Some(&bearer(key)),
            Some(bytes.as_bytes()),
        );
        call(&f.app, req)
    };
    // A public address literal (no DNS needed here).
    let added = post_callback(
        &f.default_key,
        json!({"url": "https://203.0.114.10/hooks/chasqui", "events": ["message.status_changed"]}),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.headers["cache-control"], "no-store");
    let id = added.body["endpoint"]["endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("ep_"), "{id}");
    assert!(
        added.body["secret"].as_str().unwrap().starts_with("whsec_"),
        "{}",
        added.body
    );
    // SSRF targets, a plain http URL and an unknown event type are refused
    // with the field at fault.
    for (url, events, path) in [
        ("https://169.254.169.254/latest", json!([]), "url"),
        ("https://10.1.2.3/hook", json!([]), "url"),
        ("http://203.0.114.10/hook", json!([]), "url"),
        (
            "https://203.0.114.10/hook",
            json!(["message.teleported"]),
            "events",
        ),
    ] {
        let refused = post_callback(&f.default_key, json!({"url": url, "events": events})).await;
        assert_problem(&refused, 400, "invalid_callback", Some(path));
    }
    assert_problem(
        &post_callback(&f.default_key, json!({"uri": "https://203.0.114.10/"})).await,
        400,
        "invalid_request",
        Some("body"),
    );
    // Each tenant sees its own endpoints only.
    let mine = get(&f, &f.default_key, "/v1/callbacks", "").await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["endpoints"][0]["endpoint_id"], id.as_str());
    assert_eq!(
        mine.body["endpoints"][0]["events"],
        json!(["message.status_changed"])
    );
    assert!(mine.body["endpoints"][0].get("secret").is_none());
    let theirs = get(&f, &f.acme_key, "/v1/callbacks", "").await;
    assert_eq!(theirs.body, json!({"endpoints": []}));
    let path = format!("/v1/callbacks/{id}");
    assert_problem(
        &delete(&f, &f.acme_key, &path).await,
        404,
        "callback_not_found",
        None,
    );
    assert_eq!(delete(&f, &f.default_key, &path).await.status, 200);
    assert_eq!(
        get(&f, &f.default_key, "/v1/callbacks", "").await.body,
        json!({"endpoints": []})
    );
}

#[tokio::test]
async fn health_names_the_part_that_failed_and_nothing_else() {
    let f = setup().await;
    let ok = call(&f.app, request("GET", "/v1/health", "", None, None)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body,
        json!({"status": "ok", "checks": {"table": "ok", "send_queue": "ok"}})
    );
    let missing_queue = format!("{}-gone", f.queue);
    let broken = App::new(
        config("no-such-table", &missing_queue, None, 10, &f.extras),
        &harness::aws().await,
    )
    .unwrap();
    let a = call(&broken, request("GET", "/v1/health", "", None, None)).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        a.body,
        json!({"status": "unavailable", "checks": {"table": "unavailable", "send_queue": "unavailable"}})
    );
}

#[tokio::test]
async fn a_manual_opt_out_is_recorded_announced_and_read_back() {
    let f = setup().await;
    let phone = "/v1/contacts/%2B5511988887777";
    assert_problem(
        &get(&f, &f.default_key, phone, "").await,
        404,
        "contact_not_found",
        None,
    );
    let put = call(
        &f.app,
        request(
            "PUT",
            &format!("{phone}/opt-out"),
            "",
            Some(&bearer(&f.default_key)),
            None,
        ),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["outcome"], "applied");
    assert_eq!(put.body["opted_out"], true);
    let c = get(&f, &f.default_key, phone, "").await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["opted_out"], true);
    assert_eq!(c.body["opt_source"], "manual");
    assert_eq!(c.body["phone_number_id"], PHONE_NUMBER_ID);
    assert_eq!(c.body["customer"]["wa_id"], "5511988887777");
    // The event, the tenant's, like the status function's.
    let events = harness::receive(&f.sqs, &f.events, 1).await;
    let event: Value = serde_json::from_str(events[0].body().unwrap()).unwrap();
    assert_eq!(event["type"], "contact.opted_out");
    assert_eq!(event["tenant"], "default");
    assert_eq!(event["data"]["source"], "manual");
    assert_eq!(event["data"]["wa_id"], "5511988887777");
    // Opt back in.
    let del = call(
        &f.app,
        request(
            "DELETE",
            &format!("{phone}/opt-out"),
            "",
            Some(&bearer(&f.default_key)),
            None,
        ),
    )
    .await;
    assert_eq!(del.status, 200);
    assert_eq!(
        get(&f, &f.default_key, phone, "").await.body["opted_out"],
        false
    );

    // acme's contacts are on acme's number (its only one); the default
    // tenant's opt-out is not theirs.
    assert_problem(
        &get(&f, &f.acme_key, phone, "").await,
        404,
        "contact_not_found",
        None,
    );
    let bsuid = "/v1/contacts/BR.1502576394655843/opt-out";
    let a = call(
        &f.app,
        request("PUT", bsuid, "", Some(&bearer(&f.acme_key)), None),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["phone_number_id"], ACME_NUMBER);
    let c = get(&f, &f.acme_key, "/v1/contacts/BR.1502576394655843", "").await;
    assert_eq!((c.status, c.body["opted_out"].clone()), (200, json!(true)));
    assert_problem(
        &get(&f, &f.default_key, "/v1/contacts/BR.1502576394655843", "").await,
        404,
        "contact_not_found",
        None,
    );
    // A number that is not the tenant's, a malformed one, a malformed id.
    let q = format!("phone_number_id={PHONE_NUMBER_ID}");
    assert_problem(
        &get(&f, &f.acme_key, "/v1/contacts/BR.1502576394655843", &q).await,
        400,
        "number_not_bound",
        Some("phone_number_id"),
    );
    assert_problem(
        &get(&f, &f.acme_key, "/v1/contacts/BR.1", "phone_number_id=abc").await,
        400,
        "invalid_request",
        Some("phone_number_id"),
    );
    let bad = get(&f, &f.default_key, "/v1/contacts/call%20me", "").await;
    assert_problem(&bad, 400, "invalid_request", Some("id"));
}

#[test]
fn committed_openapi_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&chasqui_api::openapi::document()).unwrap() + "\n";
    let path = harness::root().join("docs/openapi.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `UPDATE_SCHEMA=1 cargo test -p chasqui-tests --test api committed_openapi` and commit it"
    );
    // Every $ref resolves inside the document.
    let doc: Value = serde_json::from_str(&generated).unwrap();
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r}");
    }
    assert_eq!(doc["openapi"], "3.1.0");
}

/// The real binary behind the local gateway, with the whole loop: a key, a
/// send followed to `read`, a duplicate that makes no second call, and no
/// key or phone number in any log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_send_goes_once_and_is_followed_to_read() {
    let stack = LocalStack::start(StackOptions::default()).await;
    let key = key(&stack.ddb, &stack.table, "default").await;
    let base = stack.local.gateway_url();
    let http = reqwest::Client::new();
    let to = "+5511955554444";
    let body = json!({"id": "api-e2e-1", "to": to, "message": {"type": "template", "template": {
        "name": "appointment_reminder", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": "10h"}]}]}}});
    let health = http.get(format!("{base}/v1/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    for want in [202, 200] {
        let resp = http
            .post(format!("{base}/v1/messages"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want);
    }
    let mut last = Value::Null;
    for _ in 0..240 {
        let resp = http
            .get(format!("{base}/v1/messages/api-e2e-1"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        last = resp.json().await.unwrap();
        if last["status"] == "read" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(last["status"], "read", "{last}\n{}", stack.logs.tail(40));
    let steps: Vec<&str> = last["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["accepted", "sent", "delivered", "read"]);
    assert_eq!(last["template"]["name"], "appointment_reminder");
    // One call to Meta, though the request was queued twice.
    let calls = stack.sandbox.calls_by_callback();
    assert_eq!(calls["api-e2e-1"].calls, 1, "{calls:?}");
    // No key and no phone number in any line the functions wrote.
    let (_, secret) = key["chq_".len()..].split_once('_').unwrap();
    let lines = stack.logs.lines();
    assert!(
        lines
            .iter()
            .any(|(f, l)| f == "api" && l.contains("api request"))
    );
    for (function, line) in &lines {
        assert!(!line.contains(secret), "{function} logged the key: {line}");
        if function == "api" {
            assert!(
                !line.contains("5511955554444"),
                "{function} logged the phone: {line}"
            );
        }
    }
    stack.stop().await;
}
