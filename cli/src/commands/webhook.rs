//! `chasqui webhook sign|verify|post FILE`: `X-Hub-Signature-256` over the
//! exact bytes of a file, for debugging what Meta's dashboard sends.

use std::path::Path;

use serde_json::json;
use shared::secrets::{ExposeSecret, SecretString, WhatsAppSecret};
use shared::signature;

use super::{CliError, Output};
use crate::target::Target;

/// The file's bytes, untouched (`-` reads stdin).
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| CliError::new(format!("reading stdin: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))
}

/// The app secret: given, from `CHASQUI_APP_SECRET`, or from the stack's
/// WhatsApp secret in Secrets Manager.
pub async fn app_secret(target: &Target, given: Option<&str>) -> Result<SecretString, CliError> {
    if let Some(s) = given {
        return Ok(SecretString::from(s));
    }
    if let Some(s) = shared::config::Settings::from_env().get("CHASQUI_APP_SECRET") {
        return Ok(SecretString::from(s));
    }
    let id = target.secret_id().map_err(|e| {
        e.hint("pass --app-secret, set CHASQUI_APP_SECRET, or point WHATSAPP_SECRET_ID at the stack's secret")
    })?;
    let value = target
        .secrets_manager()
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| CliError::aws("reading the WhatsApp secret", e))?;
    let secret = WhatsAppSecret::from_json(id, value.secret_string().unwrap_or_default())
        .map_err(|e| CliError::new(e.to_string()))?;
    Ok(secret.app_secret)
}

pub fn sign(out: Output, body: &[u8], secret: &SecretString) {
    let sig = signature::sign(body, secret.expose_secret().as_bytes());
    out.result(
        &sig,
        &json!({"header": "X-Hub-Signature-256", "signature": sig, "bytes": body.len()}),
    );
}

pub fn verify(
    out: Output,
    body: &[u8],
    secret: &SecretString,
    given: &str,
) -> Result<(), CliError> {
    match signature::verify(
        Some(given.as_bytes()),
        body,
        secret.expose_secret().as_bytes(),
    ) {
        Ok(()) => {
            out.result(
                "valid: the signature matches these bytes and this app secret",
                &json!({"valid": true}),
            );
            Ok(())
        }
        Err(e) => {
            let expected = signature::sign(body, secret.expose_secret().as_bytes());
            if out.json {
                println!(
                    "{}",
                    json!({"valid": false, "reason": e.to_string(), "expected": expected})
                );
            }
            Err(CliError::new(format!("invalid: {e}")).hint(format!(
                "these bytes with this app secret sign as {expected}; a mismatch usually means the body was re-serialised (Meta escapes / and non-ASCII) or the app secret is another app's"
            )))
        }
    }
}

pub async fn post(
    out: Output,
    body: Vec<u8>,
    secret: &SecretString,
    url: &str,
) -> Result<(), CliError> {
    let sig = signature::sign(&body, secret.expose_secret().as_bytes());
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(signature::HEADER, sig)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            CliError::new(format!("POST {url}: {e}"))
                .hint("is the stack running? `make dev` serves the webhook")
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    out.result(
        &format!("{status} {text}"),
        &json!({"status": status, "body": text}),
    );
    if status == 200 {
        Ok(())
    } else {
        Err(CliError::new(format!("the webhook answered {status}")))
    }
}
