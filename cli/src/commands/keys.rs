//! `chasqui keys create|list|revoke`: the HTTP API's keys (`docs/api.md`).
//! A key is printed once, at creation; the table keeps only its hash.

use serde_json::json;
use shared::keys::{self, ApiKey, DynamoKeys};
use shared::secrets::ExposeSecret;

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

fn store(target: &Target) -> Result<DynamoKeys, CliError> {
    Ok(DynamoKeys::new(target.dynamodb(), target.table()?))
}

fn failed(what: &str) -> impl Fn(shared::store::StoreError) -> CliError + '_ {
    move |e| {
        CliError::new(format!("{what} failed: {e}")).hint(
            "check that the stack is running (`make dev`) or, for a deployed stack, your AWS credentials",
        )
    }
}

fn as_json(key: &ApiKey) -> serde_json::Value {
    json!({
        "key_id": key.key_id,
        "tenant": key.tenant,
        "name": key.name,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    })
}

/// Makes a key for the target's tenant and prints it, once.
pub async fn create(target: &Target, out: Output, name: Option<&str>) -> Result<(), CliError> {
    shared::tenant::check_name(&target.tenant)
        .map_err(|e| CliError::new(format!("--tenant {e}")).code(2))?;
    if let Some(name) = name {
        keys::check_name(name).map_err(|e| CliError::new(format!("--name {e}")).code(2))?;
    }
    let store = store(target)?;
    let new = keys::generate(&target.tenant, name, shared::now_millis())
        .map_err(|e| CliError::new(format!("making the key failed: {e}")))?;
    if !store
        .create(&new.item)
        .await
        .map_err(failed("storing the key"))?
    {
        return Err(CliError::new(
            "the new key's id is taken (a 1 in 2^64 chance): run it again",
        ));
    }
    let key = new.key.expose_secret();
    out.result(
        &format!(
            "{key}\n\nkey {} for tenant {}: shown once, stored only as a hash. Send it as `Authorization: Bearer <key>`.",
            new.item.key_id, new.item.tenant
        ),
        &json!({"key": key, "key_id": new.item.key_id, "tenant": new.item.tenant, "name": new.item.name}),
    );
    Ok(())
}

/// Lists the target tenant's keys.
pub async fn list(target: &Target, out: Output) -> Result<(), CliError> {
    let now = shared::now_millis();
    let all: Vec<ApiKey> = store(target)?
        .list()
        .await
        .map_err(failed("reading the keys"))?
        .into_iter()
        .filter(|k| k.tenant == target.tenant)
        .collect();
    let mut lines = vec![format!(
        "{:<16}  {:<20}  {:<24}  {:<24}  revoked",
        "key id", "name", "created", "last used"
    )];
    for k in &all {
        let revoked = match k.revoked_at {
            None => "-".to_owned(),
            Some(at) if at <= now => format!("since {}", clock::iso(at)),
            Some(at) => format!("from {}", clock::iso(at)),
        };
        lines.push(format!(
            "{:<16}  {:<20}  {:<24}  {:<24}  {revoked}",
            k.key_id,
            k.name.as_deref().unwrap_or("-"),
            clock::iso(k.created_at),
            k.last_used_at.map_or_else(|| "-".to_owned(), clock::iso),
        ));
    }
    if all.is_empty() {
        lines = vec![format!(
            "tenant {} has no API keys (`chasqui keys create`)",
            target.tenant
        )];
    }
    out.result(
        &lines.join("\n"),
        &json!(all.iter().map(as_json).collect::<Vec<_>>()),
    );
    Ok(())
}

/// Revokes a key now, at a time, or after a while (a rotation: create the
/// new key, deploy it, let the old one lapse).
pub async fn revoke(
    target: &Target,
    out: Output,
    key_id: &str,
    at: Option<&str>,
    after: Option<&str>,
) -> Result<(), CliError> {
    if !keys::is_key_id(key_id) {
        return Err(
            CliError::new("expected the key id (16 hex digits, `chasqui keys list`)").code(2),
        );
    }
    let now = shared::now_millis();
    let when = match (at, after) {
        (Some(at), _) => clock::parse_utc(at).ok_or_else(|| {
            CliError::new(format!(
                "--at {at:?} is not a UTC time such as 2026-12-01T09:00:00Z"
            ))
            .code(2)
        })?,
        (None, Some(after)) => {
            now + clock::parse_duration(after).ok_or_else(|| {
                CliError::new(format!(
                    "--in {after:?} is not a duration such as 90s, 30m, 24h or 7d"
                ))
                .code(2)
            })?
        }
        (None, None) => now,
    };
    let store = store(target)?;
    // Only the target tenant's keys: a key id of another tenant is as unknown.
    match store.get(key_id).await.map_err(failed("reading the key"))? {
        Some(k) if k.tenant == target.tenant => {}
        _ => {
            return Err(CliError::new(format!(
                "tenant {} has no key {key_id} (`chasqui keys list`)",
                target.tenant
            )));
        }
    }
    let key = store
        .revoke(key_id, when)
        .await
        .map_err(failed("revoking the key"))?
        .ok_or_else(|| CliError::new(format!("no key {key_id}")))?;
    out.result(
        &format!(
            "key {key_id} is refused from {} (instances that loaded it notice within API_KEY_CACHE_SECONDS)",
            clock::iso(when)
        ),
        &as_json(&key),
    );
    Ok(())
}
