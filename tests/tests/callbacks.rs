//! Signed callbacks against the local AWS emulator (DynamoDB, SQS, Secrets
//! Manager) and local receivers (`wiremock`): events published by the
//! fan-out publisher reach the callbacks function, which POSTs them signed
//! (checked by a few independent lines of Python over the exact bytes),
//! only to the event's tenant; failures and timeouts are retried as
//! per-endpoint jobs, parked with their cause after the retry window and
//! replayed; SSRF targets are refused at registration and at delivery; a
//! slow endpoint does not hold up another tenant's (`docs/callbacks.md`).

use std::time::Duration;

use aws_sdk_sqs::types::Message;
use shared::callbacks::store::{CallbackStore, Registry, RegistryError, state};
use shared::callbacks::{DeliveryJob, Endpoint, JOB_KIND};
use shared::config::Settings;
use shared::events::publish;
use shared::events::{Event, StatusChanged};
use shared::secrets::ExposeSecret;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Env {
    sqs: aws_sdk_sqs::Client,
    queue: String,
    dlq: String,
    upstream: String,
    app: chasqui_callbacks::App,
}

/// A stack's callbacks parts on fresh resources; `extra` settings on top
/// (the local receivers are on 127.0.0.1, which the tests allow).
async fn env(extra: &[(&str, &str)]) -> Env {
    let sqs = harness::sqs().await;
    let ddb = harness::dynamodb().await;
    let sm = harness::secrets_manager().await;
    let table = harness::create_table(&ddb).await;
    let queue = harness::create_queue(&sqs, "callbacks").await;
    let dlq = harness::create_queue(&sqs, "callbacks-dlq").await;
    let upstream = harness::create_queue(&sqs, "events").await;
    let secret = harness::create_callback_secret(&sm).await;
    let mut pairs = vec![
        ("TABLE_NAME", table.as_str()),
        ("CALLBACKS_QUEUE_URL", queue.as_str()),
        ("CALLBACKS_DLQ_URL", dlq.as_str()),
        ("CALLBACK_SECRET_ID", secret.as_str()),
        ("CALLBACK_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("CALLBACK_TIMEOUT_MS", "1000"),
        ("CALLBACK_BACKOFF_BASE_SECONDS", "1"),
        ("CALLBACK_BACKOFF_CAP_SECONDS", "1"),
        ("CALLBACK_ENDPOINT_CACHE_SECONDS", "0"),
    ];
    pairs.extend_from_slice(extra);
    let config = chasqui_callbacks::configure(&Settings::from_pairs(pairs)).unwrap();
    let app = chasqui_callbacks::App::from_config(&config, &harness::aws().await).unwrap();
    Env {
        sqs,
        queue,
        dlq,
        upstream,
        app,
    }
}

impl Env {
    fn registry(&self) -> &Registry {
        &self.app.registry
    }

    fn store(&self) -> &CallbackStore {
        &self.app.registry.store
    }

    /// Registers `server` for `tenant`; the endpoint and its secret.
    async fn register(
        &self,
        tenant: &str,
        server: &MockServer,
        events: &[&str],
    ) -> (Endpoint, String) {
        let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
        let r = self
            .registry()
            .register(tenant, &format!("{}/hook", server.uri()), &events)
            .await
            .unwrap();
        (r.endpoint, r.secret.expose_secret().to_owned())
    }

    /// Publishes `events` through the functions' fan-out publisher, then
    /// runs the callbacks function on what reached the callbacks queue.
    async fn publish_and_handle(&self, events: &[Event]) {
        let publisher = publish::publisher(&self.sqs, Some(&self.upstream), Some(&self.queue));
        publisher.publish(events).await.unwrap();
        // Both queues got every event.
        assert_eq!(
            harness::queue_depth(&self.sqs, &self.upstream).await,
            events.len()
        );
        let messages = take(&self.sqs, &self.queue, events.len()).await;
        let response = chasqui_callbacks::handle(&self.app, harness::lambda_event(&messages)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    /// Runs the function on the delivery jobs now on the callbacks queue;
    /// answers how many records it asked to retry.
    async fn handle_jobs(&self, expected: usize) -> usize {
        let messages = take(&self.sqs, &self.queue, expected).await;
        assert_eq!(messages.len(), expected, "jobs on the callbacks queue");
        for m in &messages {
            assert_eq!(harness::attribute(m, "kind").as_deref(), Some(JOB_KIND));
        }
        let response = chasqui_callbacks::handle(&self.app, harness::lambda_event(&messages)).await;
        response.batch_item_failures.len()
    }
}

/// Receives `expected` messages and deletes them (as Lambda does once
/// handled; a retried one is sent back by the test when needed).
async fn take(sqs: &aws_sdk_sqs::Client, queue: &str, expected: usize) -> Vec<Message> {
    let messages = harness::receive(sqs, queue, expected).await;
    for m in &messages {
        sqs.delete_message()
            .queue_url(queue)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    messages
}

fn status_event(tenant: &str, wamid: &str) -> Event {
    Event::status_changed(
        wamid,
        1_730_000_000_000,
        StatusChanged {
            message_id: Some(format!("order-{wamid}")),
            status: "delivered".into(),
            ..Default::default()
        },
    )
    .of_tenant(tenant)
}

/// The independent check: Standard Webhooks' scheme in a few lines of
/// Python's standard library, over the exact bytes received.
fn python_verifies(secret: &str, request: &wiremock::Request) -> bool {
    const CHECK: &str = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, header = sys.argv[1:5]
body = sys.stdin.buffer.read()
key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
expected = base64.b64encode(mac.digest()).decode()
ok = any(hmac.compare_digest(s[3:], expected) for s in header.split(" ") if s.startswith("v1,"))
print("ok" if ok else "bad")
"#;
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = std::process::Command::new(harness::root().join(".venv/bin/python"))
        .args([
            "-c",
            CHECK,
            secret,
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &header("webhook-signature"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the project's .venv python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&request.body)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "ok"
}

async fn ok_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn events_arrive_signed_over_the_exact_bytes_and_only_at_their_tenants_endpoints() {
    let env = env(&[]).await;
    let acme = ok_server().await;
    let other = ok_server().await;
    let statuses_only = ok_server().await;
    let (_, acme_secret) = env.register("acme", &acme, &[]).await;
    env.register("globex", &other, &[]).await;
    env.register("acme", &statuses_only, &["message.inbound"])
        .await;
    let event = status_event("acme", "wamid.A1");

    env.publish_and_handle(std::slice::from_ref(&event)).await;

    let got = acme.received_requests().await.unwrap();
    assert_eq!(got.len(), 1, "acme's endpoint gets the event once");
    let request = &got[0];
    // The body is the event exactly as published.
    assert_eq!(
        request.body,
        serde_json::to_string(&event).unwrap().into_bytes()
    );
    assert_eq!(
        request.headers.get("webhook-id").unwrap().to_str().unwrap(),
        event.id
    );
    assert!(
        python_verifies(&acme_secret, request),
        "the signature verifies"
    );
    // The same check refuses a changed body or another endpoint's secret.
    let mut tampered = request.clone();
    tampered.body = request
        .body
        .iter()
        .map(|b| if *b == b'1' { b'2' } else { *b })
        .collect();
    assert!(!python_verifies(&acme_secret, &tampered));
    let (_, another_secret) = env.register("acme", &ok_server().await, &[]).await;
    assert_ne!(another_secret, acme_secret);
    assert!(!python_verifies(&another_secret, request));
    // Another tenant's endpoint, and one that wants other types, get nothing.
    assert!(other.received_requests().await.unwrap().is_empty());
    assert!(statuses_only.received_requests().await.unwrap().is_empty());
    // The event is kept with the delivery recorded.
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    assert_eq!(kept.deliveries.len(), 1);
    assert!(
        kept.deliveries
            .values()
            .all(|d| d.state == state::DELIVERED)
    );
    assert!(
        env.store()
            .event("globex", &event.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_alone_then_parked_with_its_cause_and_replayed() {
    // A retry window (0.36 s) shorter than a job's first delay (1 s).
    let env = env(&[("CALLBACK_RETRY_HOURS", "0.0001")]).await;
    let good = ok_server().await;
    let bad = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&bad)
        .await;
    env.register("acme", &good, &[]).await;
    let (bad_endpoint, _) = env.register("acme", &bad, &[]).await;
    let event = status_event("acme", "wamid.R1");

    env.publish_and_handle(std::slice::from_ref(&event)).await;
    assert_eq!(good.received_requests().await.unwrap().len(), 1);
    assert_eq!(bad.received_requests().await.unwrap().len(), 1);

    // The failed endpoint's retry is a job of its own: tried again...
    assert_eq!(env.handle_jobs(1).await, 0, "parked, not retried");
    assert_eq!(bad.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        good.received_requests().await.unwrap().len(),
        1,
        "the good one is never re-sent"
    );
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    let d = &kept.deliveries[&bad_endpoint.endpoint_id];
    assert_eq!(
        (d.state.as_str(), d.attempts, d.status),
        (state::PARKED, 2, Some(500))
    );

    // ...and parked with its cause, the window having passed.
    let parked = harness::receive(&env.sqs, &env.dlq, 1).await;
    assert_eq!(parked.len(), 1);
    let cause = harness::attribute(&parked[0], "failure_reason").unwrap();
    assert!(cause.contains("http 500"), "{cause}");
    assert_eq!(
        harness::attribute(&parked[0], "endpoint_id").as_deref(),
        Some(bad_endpoint.endpoint_id.as_str())
    );

    // Replayed once the endpoint is fixed: only to it, delivered.
    bad.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&bad)
        .await;
    let (jobs, gone) = env
        .registry()
        .replay_jobs(
            "acme",
            std::slice::from_ref(&event.id),
            Some(&bad_endpoint.endpoint_id),
        )
        .await
        .unwrap();
    assert!(gone.is_empty());
    shared::callbacks::enqueue(&env.app.jobs, &jobs, None)
        .await
        .unwrap();
    assert_eq!(env.handle_jobs(1).await, 0);
    assert_eq!(bad.received_requests().await.unwrap().len(), 1);
    assert_eq!(good.received_requests().await.unwrap().len(), 1);
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    assert_eq!(
        kept.deliveries[&bad_endpoint.endpoint_id].state,
        state::DELIVERED
    );
}

#[tokio::test]
async fn a_timeout_is_retried_with_backoff_until_the_endpoint_answers() {
    let env = env(&[("CALLBACK_TIMEOUT_MS", "300")]).await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&slow)
        .await;
    let (endpoint, _) = env.register("acme", &slow, &[]).await;
    let event = status_event("acme", "wamid.T1");
    env.publish_and_handle(std::slice::from_ref(&event)).await;
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    let d = &kept.deliveries[&endpoint.endpoint_id];
    assert_eq!(d.state, state::RETRYING);
    assert!(d.error.as_deref().unwrap().starts_with("timeout"), "{d:?}");

    // The job times out too: the function asks SQS to bring it back later.
    let messages = take(&env.sqs, &env.queue, 1).await;
    let response = chasqui_callbacks::handle(&env.app, harness::lambda_event(&messages)).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "retried by visibility"
    );

    // The endpoint recovers: the next try (SQS's redelivery) succeeds.
    slow.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&slow)
        .await;
    let redelivered = harness::lambda_event(&messages);
    let response = chasqui_callbacks::handle(&env.app, redelivered).await;
    assert!(response.batch_item_failures.is_empty());
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    let d = &kept.deliveries[&endpoint.endpoint_id];
    assert_eq!((d.state.as_str(), d.attempts), (state::DELIVERED, 3));
    // A redelivered job of a delivered event sends nothing more.
    let before = slow.received_requests().await.unwrap().len();
    chasqui_callbacks::handle(&env.app, harness::lambda_event(&messages)).await;
    assert_eq!(slow.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_another_tenants_delivery() {
    let env = env(&[("CALLBACK_TIMEOUT_MS", "5000")]).await;
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
        .mount(&slow)
        .await;
    let fast = ok_server().await;
    env.register("slowco", &slow, &[]).await;
    env.register("fastco", &fast, &[]).await;
    let publisher = publish::publisher(&env.sqs, None, Some(&env.queue));
    // The slow tenant's event first in the batch.
    publisher
        .publish(&[
            status_event("slowco", "wamid.S1"),
            status_event("fastco", "wamid.F1"),
        ])
        .await
        .unwrap();
    let messages = take(&env.sqs, &env.queue, 2).await;
    let event = harness::lambda_event(&messages);
    let handling = chasqui_callbacks::handle(&env.app, event);
    tokio::pin!(handling);
    // The fast tenant's endpoint is called while the slow one still holds
    // its request open (it answers after 4 s, so the batch cannot end
    // before): the batch's deliveries run at once.
    let both_called = async {
        loop {
            if !fast.received_requests().await.unwrap().is_empty()
                && !slow.received_requests().await.unwrap().is_empty()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        response = &mut handling => panic!("the batch ended before both endpoints were called: {response:?}"),
        () = both_called => {}
    }
    assert_eq!(
        fast.received_requests().await.unwrap().len(),
        1,
        "the fast endpoint was delivered while the slow request is open"
    );
    let response = handling.await;
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn ssrf_targets_are_refused_at_registration_and_at_delivery() {
    // No allowed range: the deployed default.
    let env = env(&[("CALLBACK_ALLOWED_NETWORKS", "")]).await;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.0.0.8/x",
        "https://172.16.3.4/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://[::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://2130706433/",
        // A name that resolves to loopback.
        "https://localhost:8443/x",
    ] {
        match env.registry().register("acme", url, &[]).await {
            Err(e @ RegistryError::Url(_)) => assert_eq!(e.field(), Some("url"), "{url}"),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    assert!(env.registry().list("acme").await.unwrap().is_empty());
    // An endpoint whose name points at an internal address by the time of
    // delivery (DNS changed since it was registered): never connected to.
    let server = ok_server().await;
    let port = server.address().port();
    let endpoint = Endpoint {
        endpoint_id: "ep_00000000000000aa".into(),
        tenant: "acme".into(),
        url: format!("https://localhost:{port}/hook"),
        events: vec![],
        created_at: 1,
        disabled: false,
        secret_version: 1,
    };
    env.store().put_endpoint(&endpoint).await.unwrap();
    let event = status_event("acme", "wamid.X1");
    env.publish_and_handle(std::slice::from_ref(&event)).await;
    assert!(server.received_requests().await.unwrap().is_empty());
    let kept = env.store().event("acme", &event.id).await.unwrap().unwrap();
    let d = &kept.deliveries[&endpoint.endpoint_id];
    assert!(d.error.as_deref().unwrap().contains("loopback"), "{d:?}");
    // A job would retry it (and be refused again) until parked.
    let jobs = take(&env.sqs, &env.queue, 1).await;
    let job: DeliveryJob = serde_json::from_str(jobs[0].body().unwrap()).unwrap();
    assert_eq!(job.endpoint_id, endpoint.endpoint_id);
}

#[tokio::test]
async fn a_publish_fails_when_any_configured_queue_refuses_it() {
    let sqs = harness::sqs().await;
    let upstream = harness::create_queue(&sqs, "events").await;
    // A callbacks queue that does not exist: the upstream one takes the
    // event, the publish still fails, so the caller retries it whole.
    let missing = upstream.replace("events", "no-such-callbacks-queue");
    let publisher = publish::publisher(&sqs, Some(&upstream), Some(&missing));
    let event = status_event("acme", "wamid.P1");
    assert!(
        publisher
            .publish(std::slice::from_ref(&event))
            .await
            .is_err()
    );
    assert_eq!(harness::queue_depth(&sqs, &upstream).await, 1);
    // Neither set: logged only, nothing fails.
    let log_only = publish::publisher(&sqs, None, None);
    assert!(log_only.publish(std::slice::from_ref(&event)).await.is_ok());
}
