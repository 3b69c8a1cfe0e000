//! The OpenAPI 3.1 document of the API (`docs/openapi.json`), generated
//! from the Rust types: the answers' schemas from [`crate::views`] and
//! [`crate::problem`] (schemars, JSON Schema 2020-12 as OpenAPI 3.1 takes
//! it), the request body from the send request's own JSON Schema
//! (`shared::send_request::json_schema`, the committed
//! `docs/send-request.schema.json`), its definitions moved under
//! `components/schemas`. A test keeps the committed file equal to this.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::problem::Problem;
use crate::views::{
    Accepted, CallbackList, ContactView, Health, MessageView, NewCallback, OptResult,
    RegisteredCallback,
};

/// `$ref`s of the send request's schema point into its own `$defs`.
const SEND_REQUEST_DEFS: &str = "#/$defs/";
const COMPONENTS: &str = "#/components/schemas/";

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix(SEND_REQUEST_DEFS)
            {
                *r = format!("{COMPONENTS}{name}");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// The send request's schema as a component, its definitions beside it.
fn send_request(schemas: &mut Map<String, Value>) {
    let mut schema = shared::send_request::json_schema();
    rewrite_refs(&mut schema);
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            schemas.extend(defs);
        }
    }
    schemas.insert("SendRequest".into(), schema);
}

fn schema<T: JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
    schemas: &mut Map<String, Value>,
) -> Value {
    let name = T::schema_name().into_owned();
    let schema = generator.subschema_for::<T>();
    let mut value = schema.to_value();
    // Top-level types come inline from `subschema_for`; keep each as a
    // named component and refer to it.
    if value.get("$ref").is_none() {
        if let Value::Object(map) = &mut value {
            map.remove("$schema");
        }
        schemas.insert(name.clone(), value);
        return json!({ "$ref": format!("{COMPONENTS}{name}") });
    }
    value
}

fn content(media: &str, schema: Value) -> Value {
    json!({ media: { "schema": schema } })
}

/// The document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_serialize()
        .into_generator();
    let mut schemas = Map::new();
    send_request(&mut schemas);
    let accepted = schema::<Accepted>(&mut generator, &mut schemas);
    let message = schema::<MessageView>(&mut generator, &mut schemas);
    let contact = schema::<ContactView>(&mut generator, &mut schemas);
    let opt = schema::<OptResult>(&mut generator, &mut schemas);
    let health = schema::<Health>(&mut generator, &mut schemas);
    let new_callback = schema::<NewCallback>(&mut generator, &mut schemas);
    let registered = schema::<RegisteredCallback>(&mut generator, &mut schemas);
    let callbacks = schema::<CallbackList>(&mut generator, &mut schemas);
    let problem = schema::<Problem>(&mut generator, &mut schemas);
    schemas.extend(generator.take_definitions(true));

    let json_body = |s: &Value| content("application/json", s.clone());
    let problem_body = content(crate::problem::CONTENT_TYPE, problem.clone());
    let refusal =
        |description: &str| json!({ "description": description, "content": problem_body });
    let auth_refusals = json!({
        "401": refusal("No key, or not a Chasqui key (`WWW-Authenticate: Bearer`)."),
        "403": refusal("Unknown, wrong or revoked key."),
        "429": {
            "description": "The key's calls of this minute are spent (`Retry-After`).",
            "headers": { "Retry-After": { "schema": { "type": "integer" }, "description": "Seconds until the next window." } },
            "content": problem_body,
        },
        "503": refusal("A part of the stack failed; retry."),
    });
    let with_auth = |mut responses: Value| {
        if let (Value::Object(r), Value::Object(a)) = (&mut responses, &auth_refusals) {
            for (k, v) in a {
                r.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        responses
    };
    let id_param = |description: &str| json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": description });
    let number_param = json!({
        "name": "phone_number_id", "in": "query", "required": false,
        "schema": { "type": "string", "pattern": "^[0-9]+$" },
        "description": "The business number whose customer this is (default: the tenant's only number, or WHATSAPP_PHONE_NUMBER_ID for the default tenant)."
    });
    let customer = "The customer: a phone in international format (`+5511988887777`, URL-encoded) or a business-scoped user id (`BR.1502576394655843`).";
    let opt_op = |summary: &str| {
        json!({
            "summary": summary,
            "parameters": [id_param(customer), number_param],
            "responses": with_auth(json!({
                "200": { "description": "The decision, applied or superseded by a newer one.", "content": json_body(&opt) },
                "400": refusal("The id or phone_number_id is malformed, or the number is not the tenant's."),
            })),
        })
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Chasqui HTTP API",
            "version": "1",
            "description": "Send WhatsApp messages and follow them, manage opt-outs. Every call but /v1/health takes `Authorization: Bearer chq_<key id>_<secret>` and acts for the key's tenant. Refusals are RFC 9457 problems (docs/api.md).",
        },
        "security": [{ "apiKey": [] }],
        "paths": {
            "/v1/messages": {
                "post": {
                    "summary": "Send a message (the send request of docs/send-request.md).",
                    "requestBody": { "required": true, "content": json_body(&json!({ "$ref": format!("{COMPONENTS}SendRequest") })) },
                    "responses": with_auth(json!({
                        "202": { "description": "Accepted and queued.", "content": json_body(&accepted) },
                        "200": { "description": "The same id and body again: the message as it is (queued again if the sender has not taken it).", "content": json_body(&message) },
                        "400": refusal("The sender would refuse it: `path` names the field, `detail` the reason."),
                        "403": refusal("Unknown, wrong or revoked key, or the body names another tenant (`tenant_mismatch`)."),
                        "409": refusal("The id was used for another request."),
                        "413": refusal("Over the send queue's 256 KiB."),
                    })),
                }
            },
            "/v1/messages/{id}": {
                "get": {
                    "summary": "A message, its status and timeline.",
                    "parameters": [id_param("The message id.")],
                    "responses": with_auth(json!({
                        "200": { "description": "The message.", "content": json_body(&message) },
                        "404": refusal("No such message for this key's tenant."),
                    })),
                },
                "delete": {
                    "summary": "Cancel a message the sender has not taken yet (a scheduled send, docs/scheduled-sends.md); cancelling again answers the same.",
                    "parameters": [id_param("The message id.")],
                    "responses": with_auth(json!({
                        "200": { "description": "Cancelled: it never goes.", "content": json_body(&accepted) },
                        "404": refusal("No such message for this key's tenant."),
                        "409": refusal("The sender has taken it (`not_cancellable`): it went, or is going."),
                    })),
                }
            },
            "/v1/callbacks": {
                "get": {
                    "summary": "The tenant's callback endpoints (docs/callbacks.md).",
                    "responses": with_auth(json!({
                        "200": { "description": "The endpoints.", "content": json_body(&callbacks) },
                    })),
                },
                "post": {
                    "summary": "Register an https endpoint for the tenant's events; its signing secret is answered once.",
                    "requestBody": { "required": true, "content": json_body(&new_callback) },
                    "responses": with_auth(json!({
                        "201": { "description": "Registered; `secret` verifies the Standard Webhooks signature and is not shown again.", "content": json_body(&registered) },
                        "400": refusal("The URL is not https on a public address, or an event type is unknown (`invalid_callback`, with `path`)."),
                        "409": refusal("The tenant has its maximum of endpoints."),
                    })),
                }
            },
            "/v1/callbacks/{id}": {
                "delete": {
                    "summary": "Remove one of the tenant's endpoints.",
                    "parameters": [id_param("The endpoint id (`ep_...`).")],
                    "responses": with_auth(json!({
                        "200": { "description": "Removed." },
                        "404": refusal("No such endpoint for this key's tenant."),
                    })),
                }
            },
            "/v1/contacts/{id}": {
                "get": {
                    "summary": "A customer's opt-out state and service window.",
                    "parameters": [id_param(customer), number_param],
                    "responses": with_auth(json!({
                        "200": { "description": "The contact.", "content": json_body(&contact) },
                        "400": refusal("The id or phone_number_id is malformed, or the number is not the tenant's."),
                        "404": refusal("No contact yet."),
                    })),
                }
            },
            "/v1/contacts/{id}/opt-out": {
                "put": opt_op("Opt the customer out (a manual decision, newest wins)."),
                "delete": opt_op("Opt the customer back in (a manual decision, newest wins)."),
            },
            "/v1/health": {
                "get": {
                    "summary": "Whether the table and the send queue are reachable (no key).",
                    "security": [],
                    "responses": {
                        "200": { "description": "Every part answered.", "content": json_body(&health) },
                        "503": { "description": "A part failed, named in `checks`.", "content": json_body(&health) },
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "bearerFormat": "chq_<16 hex key id>_<64 hex secret>" }
            },
            "schemas": schemas,
        },
    })
}
