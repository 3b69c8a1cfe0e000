//! The sender's queue body: `SendRequest::parse` (serde + validation) and the
//! id hint used to record a refusal, over arbitrary bytes.
//!
//! Invariants, beyond "never panics":
//! - a refusal names a field (non-empty path and reason);
//! - an accepted request has E.164 digits in `to` (or no `to` for a read
//!   receipt) and a valid id; it serialises and parses back to itself with the
//!   same request hash (the idempotency key's body check);
//! - the Cloud API body says `messaging_product: whatsapp` and carries the
//!   message id as `biz_opaque_callback_data` (the id the status webhooks
//!   name);
//! - the id hint of an accepted body is its id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::phone;
use shared::send_request::{self, SendRequest};

const PHONE_NUMBER_ID: &str = "106540352242922";
const MESSAGE_ID: &str = "fuzz-message-id";

fuzz_target!(|data: &[u8]| {
    // The sender's queue bodies are SQS strings: UTF-8 by construction.
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let hint = send_request::id_hint(body);
    let request = match SendRequest::parse(body) {
        Ok(request) => request,
        Err(err) => {
            assert!(!err.path.is_empty(), "a refusal without a path: {err}");
            assert!(!err.reason.is_empty(), "a refusal without a reason: {err}");
            return;
        }
    };
    if let Some(id) = &request.id {
        assert_eq!(
            hint.as_deref(),
            Some(id.as_str()),
            "the id hint is not the id"
        );
    }
    match &request.to {
        Some(to) => assert_eq!(phone::normalise(to).as_deref(), Ok(to.as_str())),
        None => assert!(!request.delivers_content(), "a send without a recipient"),
    }
    assert!(!request.kind().is_empty());

    let hash = request.request_hash(PHONE_NUMBER_ID);
    assert_eq!(hash.len(), 64);
    let again = serde_json::to_string(&request).expect("an accepted request serialises");
    let reparsed = SendRequest::parse(&again)
        .unwrap_or_else(|e| panic!("an accepted request, serialised, is refused: {e}\n{again}"));
    assert_eq!(reparsed, request, "serialise -> parse changed the request");
    assert_eq!(reparsed.request_hash(PHONE_NUMBER_ID), hash);

    let call = request.cloud_api_body(MESSAGE_ID);
    assert_eq!(call["messaging_product"], "whatsapp");
    if request.delivers_content() {
        assert_eq!(call["biz_opaque_callback_data"], MESSAGE_ID);
        assert_eq!(call["recipient_type"], "individual");
        assert_eq!(call["to"], Value::from(request.to.clone()));
        assert_eq!(call["type"], request.kind(), "{call}");
    } else {
        assert_eq!(call["status"], "read");
    }
});
