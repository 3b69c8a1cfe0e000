//! The exact Cloud API body of every message type, and the refusals of
//! malformed requests, through the sender's handler against the local AWS
//! emulator (DynamoDB, Secrets Manager) and a `wiremock` Graph API.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::sqs::{SqsRecord, sqs_event};
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PN: &str = "1122334455";

struct Env {
    app: chasqui_sender::App,
    graph: MockServer,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

async fn env() -> Env {
    let graph = MockServer::start().await;
    let ddb = harness::dynamodb().await;
    let table = harness::create_table(&ddb).await;
    let sqs = harness::sqs().await;
    let queue_url = harness::create_queue(&sqs, "send").await;
    let secret = harness::create_secret(&harness::secrets_manager().await).await;
    let uri = graph.uri();
    let settings = Settings::from_pairs([
        ("WHATSAPP_SECRET_ID", secret.as_str()),
        ("TABLE_NAME", table.as_str()),
        ("SEND_QUEUE_URL", queue_url.as_str()),
        ("WHATSAPP_PHONE_NUMBER_ID", PN),
        ("GRAPH_API_BASE_URL", uri.as_str()),
        ("GRAPH_API_VERSION", "v25.0"),
    ]);
    let config = chasqui_sender::configure(&settings).unwrap();
    let app = chasqui_sender::App::from_config(&config, &harness::aws().await)
        .await
        .unwrap();
    Env {
        app,
        graph,
        ddb,
        table,
    }
}

fn event(bodies: &[(String, Value)]) -> Value {
    let records: Vec<SqsRecord> = bodies
        .iter()
        .map(|(id, body)| SqsRecord::new(id.as_str(), body.to_string()))
        .collect();
    sqs_event(&records)
}

async fn record(env: &Env, message_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    harness::message_item(&env.ddb, &env.table, message_id).await
}

fn s<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// `(name, request message, expected type object)`: the envelope and the
/// Cloud API frame are added around them.
fn golden_cases() -> Vec<(&'static str, Value, Value)> {
    let media = |kind: &str, obj: Value| {
        (
            json!({"type": kind, kind: obj.clone()}),
            json!({"type": kind, kind: obj}),
        )
    };
    let mut cases: Vec<(&'static str, Value, Value)> = Vec::new();
    let mut push = |name: &'static str, (msg, want): (Value, Value)| cases.push((name, msg, want));

    push(
        "text",
        (
            json!({"type": "text", "text": {"body": "Your order shipped 📦", "preview_url": false}}),
            json!({"type": "text", "text": {"body": "Your order shipped 📦", "preview_url": false}}),
        ),
    );
    push(
        "text-reply",
        (
            json!({"type": "text", "text": {"body": "Yes!"}, "context": {"message_id": "wamid.INBOUND1"}}),
            json!({"type": "text", "text": {"body": "Yes!"}, "context": {"message_id": "wamid.INBOUND1"}}),
        ),
    );
    push(
        "template-full",
        (
            json!({"type": "template", "template": {
            "name": "order_update", "language": {"code": "pt_BR", "policy": "deterministic"},
            "components": [
                {"type": "HEADER", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/box.jpg"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "currency", "currency": {"fallback_value": "R$ 100,99", "code": "BRL", "amount_1000": 100990}},
                    {"type": "date_time", "date_time": {"fallback_value": "25 de fevereiro de 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "TRACK-1234"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "1234"}]},
                {"type": "button", "sub_type": "COPY_CODE", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE25"}]},
                {"type": "button", "sub_type": "flow", "index": "3", "parameters": [{"type": "action", "action": {"flow_token": "tok-1", "flow_action_data": {"order": "1234"}}}]}
            ]}}),
            json!({"type": "template", "template": {
            "name": "order_update", "language": {"code": "pt_BR", "policy": "deterministic"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/box.jpg"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "currency", "currency": {"fallback_value": "R$ 100,99", "code": "BRL", "amount_1000": 100990}},
                    {"type": "date_time", "date_time": {"fallback_value": "25 de fevereiro de 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK-1234"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "1234"}]},
                {"type": "button", "sub_type": "copy_code", "index": "2", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE25"}]},
                {"type": "button", "sub_type": "flow", "index": "3", "parameters": [{"type": "action", "action": {"flow_token": "tok-1", "flow_action_data": {"order": "1234"}}}]}
            ]}}),
        ),
    );
    for (name, header) in [
        (
            "template-header-text",
            json!({"type": "text", "text": "Pedido 1234", "parameter_name": "order"}),
        ),
        (
            "template-header-document",
            json!({"type": "document", "document": {"id": "media-77", "filename": "invoice.pdf"}}),
        ),
        (
            "template-header-video",
            json!({"type": "video", "video": {"link": "https://cdn.example.com/clip.mp4"}}),
        ),
        (
            "template-header-location",
            json!({"type": "location", "location": {"latitude": -23.5505, "longitude": -46.6333, "name": "Loja Centro", "address": "Praça da Sé, São Paulo"}}),
        ),
    ] {
        let t = json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"},
            "components": [{"type": "header", "parameters": [header]}]}});
        push(name, (t.clone(), t));
    }
    push(
        "template-no-components",
        (
            json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
            json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
        ),
    );
    push(
        "image-link-caption",
        media(
            "image",
            json!({"link": "https://cdn.example.com/a.jpg", "caption": "Your receipt"}),
        ),
    );
    push("image-id", media("image", json!({"id": "1234567890"})));
    push("audio-id", media("audio", json!({"id": "audio-1"})));
    push(
        "audio-link",
        media("audio", json!({"link": "https://cdn.example.com/a.ogg"})),
    );
    push(
        "video-link-caption",
        media(
            "video",
            json!({"link": "https://cdn.example.com/v.mp4", "caption": "How to"}),
        ),
    );
    push(
        "document-id-filename-caption",
        media(
            "document",
            json!({"id": "doc-1", "filename": "invoice-1234.pdf", "caption": "Invoice"}),
        ),
    );
    push(
        "document-link",
        media("document", json!({"link": "https://cdn.example.com/d.pdf"})),
    );
    push("sticker-id", media("sticker", json!({"id": "sticker-1"})));
    push(
        "sticker-link",
        media("sticker", json!({"link": "https://cdn.example.com/s.webp"})),
    );
    push(
        "location-strings",
        (
            json!({"type": "location", "location": {"latitude": "37.4847", "longitude": "-122.1477", "name": "HQ", "address": "1 Hacker Way"}}),
            json!({"type": "location", "location": {"latitude": 37.4847, "longitude": -122.1477, "name": "HQ", "address": "1 Hacker Way"}}),
        ),
    );
    let card = json!({
        "addresses": [{"street": "1 Hacker Way", "city": "Menlo Park", "state": "CA", "zip": "94025", "country": "United States", "country_code": "us", "type": "WORK"}],
        "birthday": "1990-02-25",
        "emails": [{"email": "ana@example.com", "type": "WORK"}],
        "name": {"formatted_name": "Ana Souza", "first_name": "Ana", "last_name": "Souza"},
        "org": {"company": "Chasqui", "department": "Support", "title": "Agent"},
        "phones": [{"phone": "+55 11 98888-7777", "type": "CELL", "wa_id": "5511988887777"}],
        "urls": [{"url": "https://example.com", "type": "WORK"}]
    });
    push(
        "contacts",
        (
            json!({"type": "contacts", "contacts": [card.clone()]}),
            json!({"type": "contacts", "contacts": [card]}),
        ),
    );
    let same = |v: Value| (v.clone(), v);
    push(
        "interactive-button",
        same(json!({"type": "interactive", "interactive": {
        "type": "button",
        "header": {"type": "image", "image": {"id": "img-9"}},
        "body": {"text": "Confirm your appointment?"},
        "footer": {"text": "Clinic"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "no", "title": "No"}},
            {"type": "reply", "reply": {"id": "later", "title": "Later"}}]}}})),
    );
    push(
        "interactive-list",
        same(json!({"type": "interactive", "interactive": {
        "type": "list",
        "header": {"type": "text", "text": "Menu"},
        "body": {"text": "Pick a slot"},
        "footer": {"text": "Times are local"},
        "action": {"button": "Slots", "sections": [
            {"title": "Morning", "rows": [{"id": "m9", "title": "09:00", "description": "Dr. Lima"}, {"id": "m10", "title": "10:00"}]},
            {"title": "Afternoon", "rows": [{"id": "a2", "title": "14:00"}]}]}}})),
    );
    push(
        "interactive-cta-url",
        same(json!({"type": "interactive", "interactive": {
        "type": "cta_url",
        "header": {"type": "text", "text": "Track"},
        "body": {"text": "Follow your parcel"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Open tracking", "url": "https://example.com/t/1234"}}}})),
    );
    push(
        "interactive-flow",
        same(json!({"type": "interactive", "interactive": {
        "type": "flow",
        "header": {"type": "text", "text": "Booking"},
        "body": {"text": "Book your visit"},
        "footer": {"text": "2 minutes"},
        "action": {"name": "flow", "parameters": {
            "flow_message_version": "3", "flow_token": "tok-9", "flow_id": "1197715005513101",
            "flow_cta": "Book now", "mode": "published", "flow_action": "navigate",
            "flow_action_payload": {"screen": "BOOKING", "data": {"day": "2026-03-01"}}}}}})),
    );
    push(
        "interactive-location-request",
        same(json!({"type": "interactive", "interactive": {
        "type": "location_request_message",
        "body": {"text": "Where should we deliver?"},
        "action": {"name": "send_location"}}})),
    );
    push(
        "reaction",
        same(
            json!({"type": "reaction", "reaction": {"message_id": "wamid.INBOUND2", "emoji": "👍"}}),
        ),
    );
    push(
        "reaction-removed",
        same(
            json!({"type": "reaction", "reaction": {"message_id": "wamid.INBOUND2", "emoji": ""}}),
        ),
    );
    cases
}

#[tokio::test]
async fn every_message_type_sends_exactly_metas_body() {
    let env = env().await;
    let mut records = Vec::new();
    for (i, (name, message, want)) in golden_cases().into_iter().enumerate() {
        // distinct recipients, so the batch runs concurrently
        let to = format!("+55 11 9{:04}-{:04}", i, i);
        let digits = format!("55119{i:04}{i:04}");
        let id = format!("golden-{name}");
        let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": digits, "biz_opaque_callback_data": id});
        body.as_object_mut()
            .unwrap()
            .extend(want.as_object().unwrap().clone());
        Mock::given(method("POST"))
            .and(path(format!("/v25.0/{PN}/messages")))
            .and(header(
                "authorization",
                format!("Bearer {}", harness::ACCESS_TOKEN).as_str(),
            ))
            .and(body_json(&body))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": digits, "wa_id": digits}],
                "messages": [{"id": format!("wamid.{name}")}]})))
            .expect(1)
            .named(name)
            .mount(&env.graph)
            .await;
        records.push((
            format!("sqs-{name}"),
            json!({"id": id, "to": to, "message": message, "metadata": {"case": name}}),
        ));
    }
    // mark-as-read: Meta's own body, no recipient or callback data
    Mock::given(method("POST"))
        .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.INBOUND3"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .named("mark-as-read")
        .mount(&env.graph)
        .await;
    records.push((
        "sqs-read".into(),
        json!({"id": "golden-read", "message": {"status": "read", "message_id": "wamid.INBOUND3"}}),
    ));

    let response = chasqui_sender::handle(&env.app, event(&records)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    for (name, _, _) in golden_cases() {
        let item = record(&env, &format!("golden-{name}")).await;
        assert_eq!(
            s(&item, "wamid"),
            Some(format!("wamid.{name}").as_str()),
            "{name}"
        );
        assert_eq!(s(&item, "send_state"), Some("done"), "{name}");
        assert!(item.contains_key("accepted_at"), "{name}");
        assert_eq!(
            item.get("metadata")
                .and_then(|m| m.as_m().ok())
                .and_then(|m| m.get("case"))
                .and_then(|c| c.as_s().ok())
                .map(String::as_str),
            Some(name)
        );
    }
    let template = record(&env, "golden-template-full").await;
    assert_eq!(s(&template, "template_name"), Some("order_update"));
    assert_eq!(s(&template, "template_language"), Some("pt_BR"));
    assert_eq!(s(&template, "type"), Some("template"));
    let read = record(&env, "golden-read").await;
    assert_eq!(s(&read, "type"), Some("read"));
    assert!(read.contains_key("accepted_at") && !read.contains_key("wamid"));
    // expectations (one call each) are verified when the server drops
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// `(request, path of the refused field, a phrase of the reason)`.
fn invalid_cases() -> Vec<(Value, &'static str, &'static str)> {
    let to = "+5511988887777";
    let msg = |m: Value| json!({"to": to, "message": m});
    let interactive = |i: Value| msg(json!({"type": "interactive", "interactive": i}));
    let button =
        |id: &str, title: &str| json!({"type": "reply", "reply": {"id": id, "title": title}});
    let rows = |n: usize| {
        (0..n)
            .map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}")}))
            .collect::<Vec<_>>()
    };
    let template = |components: Value| {
        msg(
            json!({"type": "template", "template": {"name": "t", "language": {"code": "en_US"}, "components": components}}),
        )
    };
    vec![
        (
            json!({"to": "+55 11 9888x-7777", "message": {"type": "text", "text": {"body": "hi"}}}),
            "to",
            "contains 'x'",
        ),
        (
            json!({"to": "0055 11 98888 7777", "message": {"type": "text", "text": {"body": "hi"}}}),
            "to",
            "starts with 0",
        ),
        (
            json!({"to": "+1234", "message": {"type": "text", "text": {"body": "hi"}}}),
            "to",
            "has 4 digits",
        ),
        (
            json!({"message": {"type": "text", "text": {"body": "hi"}}}),
            "to",
            "is required",
        ),
        (json!({"to": to}), "body", "missing field `message`"),
        (
            json!({"to": to, "message": {"type": "text", "text": {"body": "hi"}}, "priority": "high"}),
            "priority",
            "unknown field `priority`",
        ),
        (
            json!({"to": to, "phone_number_id": "+1 555", "message": {"type": "text", "text": {"body": "hi"}}}),
            "phone_number_id",
            "numeric",
        ),
        (
            json!({"id": "", "to": to, "message": {"type": "text", "text": {"body": "hi"}}}),
            "id",
            "empty",
        ),
        (
            msg(json!({"text": {"body": "hi"}})),
            "message.type",
            "missing field `type`",
        ),
        (
            msg(json!({"type": "fax", "fax": {}})),
            "message.type",
            "unknown variant `fax`",
        ),
        (
            msg(json!({"type": "text", "text": {}})),
            "message.text.body",
            "missing field `body`",
        ),
        (
            msg(json!({"type": "text", "text": {"body": "  "}})),
            "message.text.body",
            "required",
        ),
        (
            msg(json!({"type": "text", "text": {"body": long(4097)}})),
            "message.text.body",
            "4097 characters; Meta's limit is 4096",
        ),
        (
            msg(json!({"type": "text", "text": {"body": "hi"}, "to": "5511"})),
            "message.to",
            "put the recipient in the envelope",
        ),
        (
            msg(json!({"type": "text", "text": {"body": "hi"}, "biz_opaque_callback_data": "x"})),
            "message.biz_opaque_callback_data",
            "Chasqui sets it",
        ),
        (
            msg(
                json!({"type": "image", "image": {"link": "https://a/b.jpg", "caption": long(1025)}}),
            ),
            "message.image.caption",
            "limit is 1024",
        ),
        (
            msg(json!({"type": "image", "image": {"caption": "no media"}})),
            "message.image",
            "needs \"id\"",
        ),
        (
            msg(json!({"type": "image", "image": {"id": "1", "link": "https://a/b.jpg"}})),
            "message.image",
            "exactly one",
        ),
        (
            msg(json!({"type": "image", "image": {"link": "ftp://a/b.jpg"}})),
            "message.image.link",
            "https://",
        ),
        (
            msg(json!({"type": "audio", "audio": {"id": "1", "caption": "hi"}})),
            "message.audio.caption",
            "no caption",
        ),
        (
            msg(json!({"type": "sticker", "sticker": {"id": "1", "caption": "hi"}})),
            "message.sticker.caption",
            "no caption",
        ),
        (
            msg(json!({"type": "image", "image": {"id": "1", "filename": "a.jpg"}})),
            "message.image.filename",
            "only a document",
        ),
        (
            msg(json!({"type": "location", "location": {"latitude": 91, "longitude": 0}})),
            "message.location.latitude",
            "between -90 and 90",
        ),
        (
            msg(json!({"type": "location", "location": {"latitude": 0}})),
            "message.location.longitude",
            "missing field `longitude`",
        ),
        (
            msg(json!({"type": "contacts", "contacts": []})),
            "message.contacts",
            "at least one",
        ),
        (
            msg(json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"}}]})),
            "message.contacts[0].name",
            "first_name",
        ),
        (
            interactive(
                json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("a", "A"), button("b", "B"), button("c", "C"), button("d", "D")]}}),
            ),
            "message.interactive.action.buttons",
            "4 buttons; give 1 to 3",
        ),
        (
            interactive(
                json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("a", &long(21))]}}),
            ),
            "message.interactive.action.buttons[0].reply.title",
            "limit is 20",
        ),
        (
            interactive(
                json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [button("a", "A"), button("a", "B")]}}),
            ),
            "message.interactive.action.buttons[1].reply.id",
            "repeats",
        ),
        (
            interactive(
                json!({"type": "button", "body": {"text": long(1025)}, "action": {"buttons": [button("a", "A")]}}),
            ),
            "message.interactive.body.text",
            "limit is 1024",
        ),
        (
            interactive(json!({"type": "button", "action": {"buttons": [button("a", "A")]}})),
            "message.interactive",
            "missing field `body`",
        ),
        (
            interactive(
                json!({"type": "list", "body": {"text": "?"}, "action": {"button": "Open", "sections": [{"title": "A", "rows": rows(6)}, {"title": "B", "rows": rows(5)}]}}),
            ),
            "message.interactive.action.sections",
            "11 rows",
        ),
        (
            interactive(
                json!({"type": "list", "body": {"text": "?"}, "action": {"button": "Open", "sections": [{"rows": rows(1)}, {"title": "B", "rows": [{"id": "x", "title": "X"}]}]}}),
            ),
            "message.interactive.action.sections[0].title",
            "more than one section",
        ),
        (
            interactive(
                json!({"type": "list", "body": {"text": "?"}, "action": {"button": "Open", "sections": [{"rows": [{"id": "x", "title": long(25)}]}]}}),
            ),
            "message.interactive.action.sections[0].rows[0].title",
            "limit is 24",
        ),
        (
            interactive(
                json!({"type": "list", "header": {"type": "image", "image": {"id": "1"}}, "body": {"text": "?"}, "action": {"button": "Open", "sections": [{"rows": rows(1)}]}}),
            ),
            "message.interactive.header",
            "only a text header",
        ),
        (
            interactive(
                json!({"type": "cta_url", "body": {"text": "?"}, "action": {"name": "cta_url", "parameters": {"display_text": "Go", "url": "example.com"}}}),
            ),
            "message.interactive.action.parameters.url",
            "https://",
        ),
        (
            interactive(
                json!({"type": "flow", "body": {"text": "?"}, "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_id": "1", "flow_name": "n", "flow_cta": "Go", "flow_action_payload": {"screen": "A"}}}}),
            ),
            "message.interactive.action.parameters",
            "exactly one of",
        ),
        (
            interactive(
                json!({"type": "flow", "body": {"text": "?"}, "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_id": "1", "flow_cta": "Go"}}}),
            ),
            "message.interactive.action.parameters.flow_action_payload",
            "required for flow_action navigate",
        ),
        (
            msg(json!({"type": "reaction", "reaction": {"message_id": "wamid.1", "emoji": "ok"}})),
            "message.reaction.emoji",
            "one emoji",
        ),
        (
            msg(json!({"type": "reaction", "reaction": {"message_id": "", "emoji": "👍"}})),
            "message.reaction.message_id",
            "required",
        ),
        (
            msg(json!({"type": "text", "text": {"body": "hi"}, "context": {"message_id": ""}})),
            "message.context.message_id",
            "required",
        ),
        (
            msg(
                json!({"type": "template", "template": {"name": "Order Update", "language": {"code": "en_US"}}}),
            ),
            "message.template.name",
            "lowercase",
        ),
        (
            msg(
                json!({"type": "template", "template": {"name": "t", "language": {"code": "english"}}}),
            ),
            "message.template.language.code",
            "en_US",
        ),
        (
            template(
                json!([{"type": "header", "parameters": [{"type": "text", "text": long(61)}]}]),
            ),
            "message.template.components[0].parameters[0].text",
            "limit is 60",
        ),
        (
            template(json!([{"type": "header", "parameters": []}])),
            "message.template.components[0].parameters",
            "exactly one",
        ),
        (
            template(
                json!([{"type": "body", "parameters": [{"type": "image", "image": {"id": "1"}}]}]),
            ),
            "message.template.components[0].parameters[0].type",
            "the body takes text, currency or date_time",
        ),
        (
            template(
                json!([{"type": "body", "parameters": [{"type": "text", "text": long(1025)}]}, {"type": "header", "parameters": [{"type": "text", "text": "h"}]}]),
            ),
            "message.template.components[0].parameters[0].text",
            "limit is 1024",
        ),
        (
            template(
                json!([{"type": "body", "parameters": [{"type": "currency", "currency": {"fallback_value": "$1", "code": "usd", "amount_1000": 1000}}]}]),
            ),
            "message.template.components[0].parameters[0].currency.code",
            "ISO 4217",
        ),
        (
            template(
                json!([{"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "text", "text": "x"}]}]),
            ),
            "message.template.components[0].parameters[0].type",
            "payload",
        ),
        (
            template(
                json!([{"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": long(16)}]}]),
            ),
            "message.template.components[0].parameters[0].coupon_code",
            "limit is 15",
        ),
        (
            template(
                json!([{"type": "button", "sub_type": "url", "index": "10", "parameters": [{"type": "text", "text": "x"}]}]),
            ),
            "message.template.components[0]",
            "\"0\" to \"9\"",
        ),
        (
            json!({"to": to, "message": {"type": "text", "text": {"body": "x"}}, "metadata": {"big": long(20_000)}}),
            "metadata",
            "the limit is 16384",
        ),
    ]
}

#[tokio::test]
async fn malformed_requests_fail_permanently_with_the_path_and_no_call() {
    let env = env().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&env.graph)
        .await;
    let cases = invalid_cases();
    let mut records: Vec<SqsRecord> = cases
        .iter()
        .enumerate()
        .map(|(i, (request, _, _))| SqsRecord::new(format!("sqs-invalid-{i}"), request.to_string()))
        .collect();
    // not JSON at all
    records.push(SqsRecord::new("sqs-invalid-not-json", "{not json"));
    let ev = sqs_event(&records);

    let response = chasqui_sender::handle(&env.app, ev).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "invalid requests are deleted, not retried: {:?}",
        response.batch_item_failures
    );
    let mut wrong = Vec::new();
    for (i, (request, want_path, phrase)) in cases.iter().enumerate() {
        let item = record(&env, &format!("sqs-invalid-{i}")).await;
        let error = item
            .get("error")
            .and_then(|e| e.as_m().ok())
            .unwrap_or_else(|| panic!("case {i}: no error in {item:?}"));
        let get = |k: &str| {
            error
                .get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(get("reason"), "invalid_request", "case {i}");
        assert_eq!(get("class"), "permanent", "case {i}");
        if get("details") != *want_path || !get("message").contains(phrase) {
            wrong.push(format!(
                "case {i} {request}\n  want {want_path}: ..{phrase}..\n  got  {}: {}",
                get("details"),
                get("message")
            ));
        }
        assert!(item.contains_key("failed_at"), "case {i}");
        assert_eq!(s(&item, "send_state"), Some("done"));
        assert!(!item.contains_key("attempts"), "no call was made");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let item = record(&env, "sqs-invalid-not-json").await;
    assert!(item.contains_key("failed_at"));
}

#[tokio::test]
async fn an_invalid_copy_never_overwrites_a_sent_record() {
    let env = env().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.KEEP"}]})),
        )
        .expect(1)
        .mount(&env.graph)
        .await;
    let good = json!({"id": "order-9", "to": "+5511988887777", "message": {"type": "text", "text": {"body": "hi"}}});
    let bad = json!({"id": "order-9", "to": "+5511988887777", "message": {"type": "text", "text": {"body": ""}}});
    let r = chasqui_sender::handle(&env.app, event(&[("sqs-good".into(), good)])).await;
    assert!(r.batch_item_failures.is_empty());
    let r = chasqui_sender::handle(&env.app, event(&[("sqs-bad".into(), bad)])).await;
    assert!(r.batch_item_failures.is_empty());
    let item = record(&env, "order-9").await;
    assert_eq!(s(&item, "wamid"), Some("wamid.KEEP"));
    assert!(!item.contains_key("failed_at") && !item.contains_key("error"));
}

#[test]
fn committed_schema_is_the_generated_one() {
    let generated =
        serde_json::to_string_pretty(&shared::send_request::json_schema()).unwrap() + "\n";
    let path = harness::root().join("docs/send-request.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/send-request.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p chasqui-tests --test sender_golden committed_schema` and commit it"
    );
}

#[test]
fn documented_examples_parse() {
    // every ```json block in docs/send-request.md that looks like a request
    let doc = std::fs::read_to_string(harness::root().join("docs/send-request.md")).unwrap();
    let mut count = 0;
    for block in doc.split("```json").skip(1) {
        let json = block.split("```").next().unwrap();
        let value: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        if value.get("message").is_some() {
            shared::send_request::SendRequest::parse(json)
                .unwrap_or_else(|e| panic!("{e}: {json}"));
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} examples");
    let _ = Duration::ZERO;
}

#[test]
fn sample_events_for_cargo_lambda_invoke_are_well_formed() {
    for (name, invalid) in [
        ("sender-text.json", 0),
        ("sender-template.json", 0),
        ("sender-mark-read.json", 0),
        ("sender-invalid.json", 1),
        ("sender-batch.json", 1),
    ] {
        let event: Value = serde_json::from_str(&harness::event(name)).unwrap();
        let records = event["Records"].as_array().unwrap();
        assert!(!records.is_empty(), "{name}");
        let refused = records
            .iter()
            .filter(|r| {
                assert!(
                    r["messageId"].as_str().is_some_and(|id| !id.is_empty()),
                    "{name}"
                );
                shared::send_request::SendRequest::parse(r["body"].as_str().unwrap()).is_err()
            })
            .count();
        assert_eq!(refused, invalid, "{name}");
    }
}
