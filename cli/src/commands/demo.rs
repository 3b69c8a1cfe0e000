//! `chasqui demo` (`make demo`): the guided tour of a running local stack.
//! Each step says what it does, does it through the same paths as the CLI
//! (the send queue, the sandbox's customer), and checks what the table
//! says; any unmet expectation fails the demo.

use std::time::Duration;

use serde_json::{Value, json};
use shared::record::Status;

use super::status::{self, Found};
use super::{CliError, Output, bindings, send};
use crate::clock;
use crate::sandbox::client::SandboxClient;
use crate::sandbox::{Inbound, InboundMedia, SandboxApp};
use crate::target::Target;
use shared::secrets::SecretString;
use shared::tenant::{Binding, DynamoBindings};

const ANA: &str = "+5511988887777";
const BRUNO: &str = "+5511977776666";
const UNDELIVERABLE: &str = "+15550009999";
/// A customer with a username and no phone: known by BSUID only.
const CAIO: &str = "BR.4200000000000042";
/// The second business of the tour: its number, account, Meta app and token.
const SHOP_NUMBER: &str = "5550001001";
const SHOP_WABA: &str = "5550001";
const SHOP_APP: &str = "demo-shop";
const SHOP_APP_SECRET: &str = "demo-shop-app-secret";
const ACME: &str = "acme";
const ACME_TOKEN: &str = "demo-acme-access-token";
/// The customer of the scheduled sends (no history: no opt-out, no window).
const DORA: &str = "+5511966665555";
const BURST: usize = 15;
const BURST_RATE: u32 = 5;

/// A customer sends a photo of a damaged part: the media function keeps it
/// in the local bucket (moto S3) before Meta's link expires.
async fn customer_photo(tour: &mut Tour<'_>) -> Result<(), CliError> {
    tour.say("\n▶ 2b. The customer sends a photo; it lands in the media bucket");
    let Some(bucket) = tour.target.resources.media_bucket.clone() else {
        tour.check(
            false,
            "the local stack has a media bucket (restart `make dev`)",
        );
        return Ok(());
    };
    // A tiny PNG (1x1), as a customer's camera would send a JPEG.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let file = tour
        .sandbox
        .register_media(&json!({"mime_type": "image/png", "base64": png}))
        .await?;
    let receipt = tour
        .sandbox
        .inbound(&Inbound {
            from: ANA.into(),
            profile_name: Some("Ana Souza".into()),
            media: Some(InboundMedia {
                kind: "image".into(),
                id: file.id.clone(),
                mime_type: file.mime_type.clone(),
                sha256: file.sha256.clone(),
                caption: Some("a peça chegou quebrada".into()),
                filename: None,
            }),
            ..Inbound::default()
        })
        .await?;
    tour.say(&format!(
        "   ← Ana: [photo, {} bytes] \"a peça chegou quebrada\" ({})",
        file.file_size, receipt.wamid
    ));
    let key = shared::media::object_key(&tour.target.tenant, &receipt.wamid);
    let media = shared::media::s3::MediaBucket::new(&tour.target.aws);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stored = None;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(head)) = media.head(&bucket, &key).await {
            stored = Some(head);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ok = stored.as_ref().is_some_and(|h| {
        h.size == file.file_size as u64
            && h.metadata.get(shared::media::s3::SHA256_METADATA) == Some(&file.sha256)
    });
    tour.check(
        ok,
        &format!(
            "s3://{bucket}/{key} holds it, checksum checked (`chasqui media get {}`)",
            receipt.wamid
        ),
    );
    tour.steps
        .push(json!({"step": "customer_photo", "wamid": receipt.wamid, "bucket": bucket, "key": key, "stored": ok}));
    Ok(())
}

struct Tour<'a> {
    target: &'a Target,
    sandbox: SandboxClient,
    out: Output,
    run: String,
    failures: Vec<String>,
    steps: Vec<Value>,
}

impl Tour<'_> {
    fn say(&self, line: &str) {
        if !self.out.json {
            println!("{line}");
        }
    }

    fn check(&mut self, ok: bool, what: &str) {
        self.say(&format!("   {} {what}", if ok { "✓" } else { "✗" }));
        if !ok {
            self.failures.push(what.to_owned());
        }
    }

    async fn send(&self, suffix: &str, request: Value) -> Result<String, CliError> {
        let mut request = request;
        request["id"] = format!("demo-{}-{suffix}", self.run).into();
        send::check(&request)?;
        let queued = send::enqueue(self.target, &request).await?;
        self.say(&format!(
            "   → queued {} ({})",
            queued.id,
            send::describe(&request)
        ));
        Ok(queued.id)
    }

    async fn follow(&self, id: &str, timeout: Duration) -> Result<Found, CliError> {
        let out = self.out;
        status::watch(self.target, id, timeout, |f| {
            if !out.json {
                let at = status::timeline(&f.record)
                    .last()
                    .map(|(_, at)| clock::iso(*at))
                    .unwrap_or_default();
                println!("     {at}  {}", f.record.status());
            }
        })
        .await
    }

    /// Sends `request` and checks it ends suppressed with no call to Meta.
    async fn expect_suppressed(
        &mut self,
        step: &str,
        suffix: &str,
        request: Value,
    ) -> Result<(), CliError> {
        let id = self.send(suffix, request).await?;
        let found = self.follow(&id, Duration::from_secs(60)).await?;
        let (calls, _) = self.sandbox.calls(Some(&id)).await?;
        self.check(
            found.record.status() == Status::Suppressed
                && found.record.suppressed_reason.as_deref() == Some("opted_out"),
            "suppressed (opted_out)",
        );
        self.check(calls.is_empty(), "and Meta was never called for it");
        self.steps.push(
            json!({"step": step, "id": id, "status": found.record.status(), "calls": calls.len()}),
        );
        Ok(())
    }

    /// The customer's contact items (by phone or BSUID, with the items
    /// linked to it), once `done` holds for one of them.
    async fn wait_contact(
        &self,
        customer: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<bool, CliError> {
        let pn = self.target.phone_number_id(None)?;
        self.wait_contact_of(&self.target.tenant, &pn, customer, what, done)
            .await
    }

    /// `wait_contact` for a tenant's customer on one of its numbers.
    async fn wait_contact_of(
        &self,
        tenant: &str,
        pn: &str,
        customer: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<bool, CliError> {
        let ddb = self.target.dynamodb();
        let ids = super::contacts::customer_ids(customer)?;
        for _ in 0..120 {
            let items = shared::contact::read_linked(
                &ddb,
                self.target.table()?,
                tenant,
                pn,
                &ids,
                shared::now_millis(),
            )
            .await
            .map_err(|e| CliError::new(format!("reading a contact failed: {e}")))?;
            if items.iter().any(|i| {
                done(&shared::table::dynamo::to_json(
                    &aws_sdk_dynamodb::types::AttributeValue::M(i.item.clone()),
                ))
            }) {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.say(&format!("   (waited 30 s for {what})"));
        Ok(false)
    }
}

fn template(to: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    json!({"to": to, "message": {"type": "template", "template": {
        "name": "appointment_reminder", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": params}]}}})
}

pub async fn run(target: &Target, out: Output) -> Result<(), CliError> {
    if !target.local {
        return Err(CliError::new("the demo plays the customer through the sandbox, so it runs against the local stack only")
            .hint("start it with `make dev` (or run `make demo`, which starts one)"));
    }
    let sandbox = SandboxClient::new(&target.sandbox_url());
    let config = sandbox.config().await?;
    let mut tour = Tour {
        target,
        sandbox,
        out,
        run: format!("{:x}", shared::now_millis() / 1000),
        failures: Vec::new(),
        steps: Vec::new(),
    };
    let timeout = Duration::from_secs(60);

    tour.say("\n▶ 1. A template message reaches `read`");
    let id = tour
        .send("reminder", template(ANA, &["Ana", "amanhã às 10h"]))
        .await?;
    let mut found = tour.follow(&id, timeout).await?;
    // Meta's `delivered` and `read` may be applied in either order (the
    // status function takes them in separate batches): `read` can be on
    // the record a moment before `delivered`.
    for _ in 0..40 {
        if found.record.times.delivered_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(again) = status::fetch(tour.target, &id).await? {
            found = again;
        }
    }
    let all = status::timeline(&found.record)
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>();
    tour.check(
        found.record.status() == Status::Read,
        "read, with every status on the record",
    );
    tour.check(
        all.starts_with(&["accepted", "sent"]) && all.contains(&"delivered"),
        &format!("timeline {}", all.join(" → ")),
    );
    tour.steps
        .push(json!({"step": "template_read", "id": id, "status": found.record.status()}));

    tour.say("\n▶ 2. The customer answers; a free-form reply inside the 24-hour window");
    let receipt = tour
        .sandbox
        .inbound(&Inbound {
            from: ANA.into(),
            text: Some("Posso remarcar para as 15h?".into()),
            profile_name: Some("Ana Souza".into()),
            ..Inbound::default()
        })
        .await?;
    tour.say(&format!(
        "   ← Ana: \"Posso remarcar para as 15h?\" ({})",
        receipt.wamid
    ));
    let sent_at = shared::now_millis().saturating_sub(5_000);
    let recorded = tour
        .wait_contact(ANA, "the inbound message", |c| {
            c.get(shared::table::attr::contact::LAST_INBOUND_AT)
                .and_then(Value::as_u64)
                .is_some_and(|t| t >= sent_at / 1000 * 1000)
        })
        .await?;
    tour.check(
        recorded,
        "the status function recorded it: Ana's window is open",
    );
    let reply = json!({"to": ANA, "message": {"type": "text", "text": {"body": "Claro! Remarcado para as 15h."},
        "context": {"message_id": receipt.wamid}}});
    let id = tour.send("reply", reply).await?;
    let found = tour.follow(&id, timeout).await?;
    tour.check(
        found.record.status() == Status::Read,
        "the free-form reply was accepted and read",
    );
    tour.steps
        .push(json!({"step": "reply_in_window", "id": id, "status": found.record.status()}));

    customer_photo(&mut tour).await?;

    tour.say("\n▶ 3. A customer sends STOP; the next send is suppressed");
    tour.sandbox
        .inbound(&Inbound {
            from: BRUNO.into(),
            text: Some("STOP".into()),
            profile_name: Some("Bruno".into()),
            ..Inbound::default()
        })
        .await?;
    tour.say("   ← Bruno: \"STOP\"");
    let opted = tour
        .wait_contact(BRUNO, "the opt-out", |c| {
            c.get(shared::table::attr::contact::OPTED_OUT)
                .and_then(Value::as_bool)
                == Some(true)
        })
        .await?;
    tour.check(opted, "Bruno is opted out (opt_source keyword)");
    tour.expect_suppressed(
        "stop_suppresses",
        "after-stop",
        template(BRUNO, &["Bruno", "sexta às 9h"]),
    )
    .await?;

    tour.say("\n▶ 3b. A username customer (no phone, known by BSUID) sends STOP; a send to their BSUID is suppressed");
    tour.sandbox
        .inbound(&Inbound {
            user_id: Some(CAIO.into()),
            username: Some("@caio".into()),
            text: Some("STOP".into()),
            profile_name: Some("Caio".into()),
            ..Inbound::default()
        })
        .await?;
    tour.say(&format!("   ← @caio ({CAIO}, no phone): \"STOP\""));
    let opted = tour
        .wait_contact(CAIO, "the opt-out", |c| {
            c.get(shared::table::attr::contact::OPTED_OUT)
                .and_then(Value::as_bool)
                == Some(true)
        })
        .await?;
    tour.check(opted, "Caio is opted out under his BSUID");
    let mut request = template(ANA, &["Caio", "sexta às 11h"]);
    if let Value::Object(map) = &mut request {
        map.remove("to");
        map.insert("recipient".into(), CAIO.into());
    }
    tour.expect_suppressed("username_stop_suppresses", "bsuid-after-stop", request)
        .await?;

    second_business(&mut tour).await?;

    tour.say(&format!("\n▶ 4. A burst of {BURST} above Meta's rate ({BURST_RATE}/s here): throttled, retried, all delivered"));
    let previous = config.rate_limit_per_second;
    tour.sandbox
        .configure(&json!({"rate_limit_per_second": BURST_RATE}))
        .await?;
    let mut ids = Vec::new();
    for i in 0..BURST {
        let to = format!("+551195550{i:04}");
        let id = format!("burst-{i}");
        let request = {
            let mut r = template(&to, &["Cliente", "hoje"]);
            r["id"] = format!("demo-{}-{id}", tour.run).into();
            r
        };
        send::check(&request)?;
        ids.push(send::enqueue(target, &request).await?.id);
    }
    tour.say(&format!("   → queued {BURST} templates"));
    let mut read = 0;
    for id in &ids {
        if let Ok(found) = status::watch(target, id, Duration::from_secs(120), |_| {}).await
            && found.record.status() == Status::Read
        {
            read += 1;
        }
    }
    let (calls, by_callback) = tour.sandbox.calls(None).await?;
    let throttled = calls
        .iter()
        .filter(|c| {
            c.code == Some(130429) && c.callback.as_ref().is_some_and(|cb| ids.contains(cb))
        })
        .count();
    let once = ids
        .iter()
        .all(|id| by_callback.get(id).is_some_and(|s| s.delivered == 1));
    tour.sandbox
        .configure(&json!({"rate_limit_per_second": previous}))
        .await?;
    tour.say(&format!(
        "   {throttled} call(s) answered 130429 and retried later"
    ));
    tour.check(throttled > 0, "Meta throttled the burst");
    tour.check(read == BURST, &format!("all {BURST} reached read ({read})"));
    tour.check(once, "each was sent exactly once");
    tour.steps.push(
        json!({"step": "throttled_burst", "sent": BURST, "read": read, "throttled": throttled}),
    );

    tour.say("\n▶ 5. A permanent failure keeps Meta's reason");
    let mut undeliverable = config.undeliverable.clone();
    let digits: String = UNDELIVERABLE.chars().filter(char::is_ascii_digit).collect();
    if !undeliverable.contains(&digits) {
        undeliverable.push(digits);
        tour.sandbox
            .configure(&json!({"undeliverable": undeliverable}))
            .await?;
    }
    let id = tour
        .send(
            "undeliverable",
            template(UNDELIVERABLE, &["Carla", "segunda às 8h"]),
        )
        .await?;
    let found = tour.follow(&id, timeout).await?;
    let reason = status::reason(&found).unwrap_or_default();
    tour.say(&format!("   reason: {reason}"));
    let code = found.record.error.as_ref().and_then(|e| e.code);
    tour.check(
        found.record.status() == Status::Failed && code == Some(131026),
        "failed with 131026, not retried",
    );
    tour.steps.push(json!({"step": "permanent_failure", "id": id, "status": found.record.status(), "reason": reason}));

    paused_template(&mut tour).await?;
    signed_callback(&mut tour).await?;
    scheduled_sends(&mut tour).await?;
    api_send(&mut tour).await?;

    let ok = tour.failures.is_empty();
    if out.json {
        println!(
            "{}",
            json!({"ok": ok, "steps": tour.steps, "failures": tour.failures})
        );
    } else if ok {
        println!(
            "\nThe tour passed. `chasqui status <id>` shows any message above; `chasqui dlq list` shows dead letters."
        );
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "{} expectation(s) failed: {}",
            tour.failures.len(),
            tour.failures.join("; ")
        ))
        .hint("the stack's log shows what each function did (.dev/functions.log)"))
    }
}

/// Step 3c: a second business (tenant `acme`) on its own number, Meta app
/// and access token, bound the way `chasqui bindings add` binds it. Ana opts
/// out of acme's number only; one message id sent by both businesses is two
/// messages: suppressed for acme, read for the default business.
async fn second_business(tour: &mut Tour<'_>) -> Result<(), CliError> {
    tour.say("\n▶ 3c. A second business in the same deployment (tenant acme: its own number, Meta app and token); Ana opts out of acme only, and one message id is two messages");
    let target = tour.target;
    let secrets = target.secret_settings()?;
    // Meta (the sandbox) gets the app and its number...
    let config = tour.sandbox.config().await?;
    if !config.apps.iter().any(|a| a.name == SHOP_APP) {
        let mut apps = config.apps.clone();
        apps.push(SandboxApp {
            name: SHOP_APP.into(),
            app_secret: SHOP_APP_SECRET.into(),
            access_token: ACME_TOKEN.into(),
            phone_number_ids: vec![SHOP_NUMBER.into()],
            waba_id: SHOP_WABA.into(),
            display_phone_number: "+55 11 5550-1001".into(),
        });
        tour.sandbox.configure(&json!({ "apps": apps })).await?;
    }
    // ...and Chasqui the app's secret and the number's binding and token.
    let sm = target.secrets_manager();
    let app_secret = secrets.app_secret_id(SHOP_APP).unwrap_or_default();
    let value = json!({"app_secret": SHOP_APP_SECRET, "verify_token": "demo-shop-verify"});
    bindings::put_secret(&sm, &app_secret, &value.to_string(), "demo Meta app").await?;
    let store = DynamoBindings::new(target.dynamodb(), target.table()?);
    let bound = bindings::list(&store)
        .await?
        .into_iter()
        .find(|b| b.phone_number_id == SHOP_NUMBER);
    match bound {
        Some(b) if b.tenant == ACME && b.app == SHOP_APP => {}
        Some(b) => {
            return Err(CliError::new(format!(
                "the demo's number {SHOP_NUMBER} is bound to tenant {} through app {}",
                b.tenant, b.app
            ))
            .hint(format!(
                "`chasqui bindings remove {SHOP_NUMBER}` and run the demo again"
            )));
        }
        None => {
            let binding = Binding {
                phone_number_id: SHOP_NUMBER.into(),
                tenant: ACME.into(),
                app: SHOP_APP.into(),
                waba_id: SHOP_WABA.into(),
                display_phone_number: Some("+55 11 5550-1001".into()),
                token_secret: secrets.token_secret_id(ACME).unwrap_or_default(),
                created_at: shared::now_millis(),
            };
            let token = SecretString::from(ACME_TOKEN);
            bindings::add(&store, &sm, &secrets, binding, Some(&token)).await?;
        }
    }
    tour.say(&format!(
        "   bound {SHOP_NUMBER} to tenant {ACME} (app {SHOP_APP}, token in {})",
        secrets.token_secret_id(ACME).unwrap_or_default()
    ));
    // The functions look a number up again at most once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for text in ["Oi, loja", "STOP"] {
        tour.sandbox
            .inbound(&Inbound {
                from: ANA.into(),
                text: Some(text.into()),
                profile_name: Some("Ana".into()),
                phone_number_id: Some(SHOP_NUMBER.into()),
                ..Inbound::default()
            })
            .await?;
        tour.say(&format!(
            "   ← Ana to acme ({SHOP_NUMBER}, /webhook/{SHOP_APP}): \"{text}\""
        ));
    }
    let opted_out = |c: &Value| {
        c.get(shared::table::attr::contact::OPTED_OUT)
            .and_then(Value::as_bool)
            == Some(true)
    };
    let acme_opted = tour
        .wait_contact_of(ACME, SHOP_NUMBER, ANA, "acme's opt-out", opted_out)
        .await?;
    tour.check(acme_opted, "Ana is opted out of acme");

    let mut acme_target = target.clone();
    acme_target.tenant = ACME.into();
    let mut acme_request = template(ANA, &["Ana", "sábado às 10h"]);
    acme_request["tenant"] = ACME.into();
    acme_request["phone_number_id"] = SHOP_NUMBER.into();
    let acme_id = tour.send("two-businesses", acme_request).await?;
    let default_id = tour
        .send("two-businesses", template(ANA, &["Ana", "sábado às 10h"]))
        .await?;
    let acme_found = status::watch(&acme_target, &acme_id, Duration::from_secs(60), |_| {}).await?;
    let default_found = tour.follow(&default_id, Duration::from_secs(60)).await?;
    let (calls, _) = tour.sandbox.calls(Some(&acme_id)).await?;
    let acme_calls = calls
        .iter()
        .filter(|c| c.phone_number_id == SHOP_NUMBER)
        .count();
    tour.check(
        acme_found.record.status() == Status::Suppressed && acme_calls == 0,
        &format!("{acme_id} for acme: suppressed, no call from {SHOP_NUMBER}"),
    );
    tour.check(
        default_found.record.status() == Status::Read,
        &format!("{default_id} for the default business: read (Ana opted out of acme only)"),
    );
    tour.steps
        .push(json!({"step": "two_businesses", "id": acme_id,
        "acme": acme_found.record.status(), "default": default_found.record.status()}));
    Ok(())
}

/// Step 9: the HTTP API (`docs/api.md`). A key is made as `chasqui keys
/// create` makes it, a template is sent with `POST /v1/messages` and
/// followed with `GET /v1/messages/{id}` to `read`.
async fn api_send(tour: &mut Tour<'_>) -> Result<(), CliError> {
    tour.say(
        "\n▶ 9. An upstream system sends over the HTTP API with a key and follows it to `read`",
    );
    let target = tour.target;
    let Some(base) = target
        .resources
        .webhook_url
        .as_deref()
        .and_then(|w| w.strip_suffix("/webhook"))
        .map(|b| format!("{b}/v1"))
    else {
        tour.check(
            false,
            "the local stack serves the HTTP API (restart `make dev`)",
        );
        return Ok(());
    };
    use shared::secrets::ExposeSecret;
    let new = shared::keys::generate(&target.tenant, Some("demo"), shared::now_millis())
        .map_err(|e| CliError::new(format!("making a key: {e}")))?;
    shared::keys::DynamoKeys::new(target.dynamodb(), target.table()?)
        .create(&new.item)
        .await
        .map_err(|e| CliError::new(format!("storing the key: {e}")))?;
    tour.say(&format!(
        "   key {} made (chasqui keys create)",
        new.item.key_id
    ));
    let http = reqwest::Client::new();
    let id = format!("demo-{}-api", tour.run);
    let request = json!({"id": id, "to": ANA, "message": {"type": "template", "template": {
        "name": "appointment_reminder", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Ana"}, {"type": "text", "text": "15h"}]}]}}});
    let failed = |e: reqwest::Error| CliError::new(format!("the HTTP API: {e}"));
    let posted = http
        .post(format!("{base}/messages"))
        .bearer_auth(new.key.expose_secret())
        .json(&request)
        .send()
        .await
        .map_err(failed)?;
    let status = posted.status().as_u16();
    tour.say(&format!("   → POST {base}/messages: {status}"));
    tour.check(status == 202, "accepted (202) and queued");
    let mut last = Value::Null;
    for _ in 0..240 {
        last = http
            .get(format!("{base}/messages/{id}"))
            .bearer_auth(new.key.expose_secret())
            .send()
            .await
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)?;
        if last["status"] == "read" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let steps: Vec<&str> = last["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|s| s["status"].as_str()).collect())
        .unwrap_or_default();
    tour.say(&format!(
        "   ← GET {base}/messages/{id}: {}",
        steps.join(" → ")
    ));
    tour.check(last["status"] == "read", "followed to `read` over the API");
    tour.steps.push(
        json!({"step": "api_send", "id": id, "status": last["status"], "key_id": new.item.key_id}),
    );
    Ok(())
}

/// Step 6: the template catalogue. It is synced from the sandbox, a
/// template is paused at "Meta" (the sandbox's control API), its
/// `message_template_status_update` webhook lands, and the next send of it
/// is refused by the sender with the reason, without calling Meta.
async fn paused_template(tour: &mut Tour<'_>) -> Result<(), CliError> {
    use shared::templates::store::{DynamoTemplates, TemplateStore};
    tour.say("\n▶ 6. A paused template is refused before any call");
    let target = tour.target;
    let report = super::templates::sync_target(target, tour.out, None).await?;
    let synced = report["accounts"][0]["templates"].as_u64().unwrap_or(0);
    tour.check(
        synced > 0,
        &format!("the catalogue synced {synced} templates from Meta's paged list"),
    );
    let control = |status: &str| {
        let url = format!(
            "{}/_sandbox/templates/order_update/en_US",
            target.sandbox_url()
        );
        let body = json!({"status": status, "reason": "LOW_QUALITY"});
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| CliError::new(format!("the sandbox's control API: {e}")))
        }
    };
    control("PAUSED").await?;
    tour.say("   Meta paused order_update (en_US) for low quality");
    let store = DynamoTemplates::new(target.dynamodb(), target.table()?);
    let mut landed = false;
    for _ in 0..120 {
        let entries = store
            .entries(&target.tenant, "order_update")
            .await
            .map_err(|e| CliError::new(format!("reading the catalogue: {e}")))?;
        if entries
            .iter()
            .any(|e| e.language == "en_US" && e.status.as_deref() == Some("PAUSED"))
        {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tour.check(landed, "its webhook landed: the catalogue says PAUSED");
    let request = json!({"to": ANA, "message": {"type": "template", "template": {
        "name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                {"type": "text", "text": "A-1"}, {"type": "text", "text": "today"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "A-1"}]}]}}});
    let id = tour.send("paused", request).await?;
    let found = tour.follow(&id, Duration::from_secs(60)).await?;
    let (calls, _) = tour.sandbox.calls(Some(&id)).await?;
    let reason = found.record.error.as_ref().and_then(|e| e.reason.clone());
    tour.say(&format!(
        "   reason: {}",
        status::reason(&found).unwrap_or_default()
    ));
    tour.check(
        found.record.status() == Status::Failed && reason.as_deref() == Some("template_paused"),
        "failed with template_paused",
    );
    tour.check(calls.is_empty(), "and Meta was never called for it");
    control("APPROVED").await?;
    tour.say("   (order_update approved again)");
    tour.steps.push(
        json!({"step": "paused_template", "id": id, "status": found.record.status(),
                           "reason": reason, "calls": calls.len()}),
    );
    Ok(())
}

/// Step 7: a signed callback. A local receiver is registered for the
/// tenant's status events (`chasqui callbacks add`); a message goes to
/// `read`, and each status arrives at the receiver, signed (Standard
/// Webhooks) with the endpoint's secret, and verified.
async fn signed_callback(tour: &mut Tour<'_>) -> Result<(), CliError> {
    use super::callbacks::{self, Keys, Receiver};
    tour.say("\n▶ 7. A signed callback is received and verified");
    let target = tour.target;
    let registry = callbacks::registry(target)?;
    let receiver = Receiver::start(
        ([127, 0, 0, 1], 0).into(),
        Keys::Registry(registry.clone(), target.tenant.clone()),
        None,
    )
    .await?;
    let url = format!("{}/hook", receiver.server.url());
    let added = registry
        .register(
            &target.tenant,
            &url,
            &[shared::events::STATUS_CHANGED.to_owned()],
        )
        .await
        .map_err(|e| CliError::new(format!("registering the receiver: {e}")))?;
    let endpoint_id = added.endpoint.endpoint_id.clone();
    tour.say(&format!(
        "   registered {endpoint_id} -> {url} for message.status_changed (secret shown once by `chasqui callbacks add`)"
    ));
    let id = tour
        .send("callback", template(ANA, &["Ana", "sexta às 9h"]))
        .await?;
    let found = tour.follow(&id, Duration::from_secs(60)).await?;
    let mut got = Vec::new();
    for _ in 0..120 {
        got = receiver
            .received()
            .into_iter()
            .filter(|r| r.message_id.as_deref() == Some(id.as_str()))
            .collect();
        if got.iter().any(|r| r.verified_by.is_some()) && got.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let verified = got
        .iter()
        .filter(|r| r.verified_by.as_deref() == Some(endpoint_id.as_str()))
        .count();
    tour.say(&format!(
        "   the receiver got {} callback(s) for {id}, {verified} verified with the endpoint's secret",
        got.len()
    ));
    tour.check(
        found.record.status() == Status::Read,
        "the message reached read",
    );
    tour.check(
        !got.is_empty() && verified == got.len(),
        "every status callback arrived signed and verified",
    );
    registry
        .remove(&target.tenant, &endpoint_id)
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    receiver.server.stop().await;
    tour.steps.push(
        json!({"step": "signed_callback", "id": id, "endpoint_id": endpoint_id,
        "received": got.len(), "verified": verified}),
    );
    Ok(())
}

/// Step 8: a send scheduled a few seconds ahead goes at its time
/// (`scheduled`, then `read`); another, cancelled before its time, never
/// goes (docs/scheduled-sends.md).
async fn scheduled_sends(tour: &mut Tour<'_>) -> Result<(), CliError> {
    const AHEAD_MS: u64 = 8_000;
    tour.say(
        "\n▶ 8. A send scheduled 8 s ahead goes at its time; another is cancelled and never goes",
    );
    let target = tour.target;
    let send_at = shared::time::rfc3339_utc(shared::now_millis() + AHEAD_MS);
    // The time as written (to the second), which is what the sender reads.
    let send_at_ms = shared::time::parse_rfc3339_millis(&send_at)
        .map_err(|e| CliError::new(format!("send_at {send_at}: {e}")))?;
    let mut later = template(DORA, &["Dora", "sexta às 9h"]);
    later["send_at"] = send_at.clone().into();
    let id = tour.send("later", later.clone()).await?;
    let cancelled = tour.send("cancelled", later).await?;
    tour.say(&format!("   both for {send_at}"));
    // Each is recorded `scheduled` before its time.
    let mut scheduled = 0;
    for _ in 0..40 {
        scheduled = 0;
        for m in [&id, &cancelled] {
            if status::fetch(target, m)
                .await?
                .is_some_and(|f| f.record.status() == Status::Scheduled)
            {
                scheduled += 1;
            }
        }
        if scheduled == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tour.check(scheduled == 2, "both recorded scheduled, before their time");
    let outcome = send::cancel_message(target, &cancelled).await?;
    tour.say(&format!("   chasqui send cancel {cancelled}: {outcome:?}"));
    tour.check(
        outcome == shared::schedule::Cancel::Cancelled,
        "cancelled before its time",
    );
    let found = tour.follow(&id, Duration::from_secs(60)).await?;
    let accepted_at = found.record.times.accepted_at.unwrap_or_default();
    tour.check(
        found.record.status() == Status::Read && found.record.times.scheduled_at.is_some(),
        "the scheduled one went: scheduled, then read",
    );
    tour.check(
        accepted_at + 1_000 >= send_at_ms && accepted_at < send_at_ms + 5_000,
        &format!(
            "at its time ({} ms after send_at)",
            accepted_at as i64 - send_at_ms as i64
        ),
    );
    let after = status::fetch(target, &cancelled).await?;
    let (calls, _) = tour.sandbox.calls(Some(&cancelled)).await?;
    tour.check(
        after.is_some_and(|f| f.record.status() == Status::Cancelled) && calls.is_empty(),
        "the cancelled one never went (cancelled, no call to Meta)",
    );
    tour.steps.push(
        json!({"step": "scheduled_sends", "id": id, "cancelled": cancelled,
        "status": found.record.status(), "late_ms": accepted_at as i64 - send_at_ms as i64,
        "cancelled_calls": calls.len()}),
    );
    Ok(())
}
