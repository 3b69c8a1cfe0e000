//! `chasqui templates sync|list|show`: the template catalogue
//! (`docs/templates.md`). `sync` runs the sync the sender runs on its
//! schedule (`shared::templates::sync`), from here: against the sandbox on
//! the local stack, against the Graph API (`GRAPH_API_BASE_URL`) with the
//! stack's secrets on a deployed one. `list` and `show` read the table.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::config::{GraphSettings, Settings};
use shared::secrets::SecretCache;
use shared::templates::store::{DynamoTemplates, TemplateStore};
use shared::templates::sync::{self, Account};
use shared::templates::{Entry, check};
use shared::tenant::{self, Directory, DynamoBindings, TenantTokens};

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

fn store(target: &Target) -> Result<DynamoTemplates, CliError> {
    Ok(DynamoTemplates::new(target.dynamodb(), target.table()?))
}

/// The default tenant's account: `--waba-id`, else `WHATSAPP_WABA_ID`, else
/// (local stack) the sandbox's.
async fn default_waba(target: &Target, given: Option<String>) -> Option<String> {
    if given.is_some() {
        return given;
    }
    if let Some(w) = Settings::from_env().get("WHATSAPP_WABA_ID") {
        return Some(w);
    }
    if !target.local {
        return None;
    }
    let url = format!("{}/_sandbox/config", target.sandbox_url());
    let config: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    config["waba_id"].as_str().map(str::to_owned)
}

/// Runs the sync for the target's accounts; the report as JSON.
pub async fn sync_target(
    target: &Target,
    out: Output,
    waba_id: Option<String>,
) -> Result<Value, CliError> {
    let settings = Settings::from_env();
    let secret = match target.secret_settings() {
        Ok(s) => s,
        Err(_) => Settings::from_pairs([("WHATSAPP_SECRET_ID", target.secret_id()?)])
            .secret()
            .map_err(|e| CliError::new(e.to_string()))?,
    };
    let phone_number_id = target.phone_number_id(None)?;
    let base_url = if target.local {
        target.sandbox_url()
    } else {
        settings
            .get("GRAPH_API_BASE_URL")
            .unwrap_or_else(|| shared::config::DEFAULT_GRAPH_API_BASE_URL.to_owned())
    };
    let graph = GraphSettings {
        base_url: base_url.trim_end_matches('/').to_owned(),
        version: settings
            .get("GRAPH_API_VERSION")
            .unwrap_or_else(|| shared::config::DEFAULT_GRAPH_API_VERSION.to_owned()),
        phone_number_id: phone_number_id.clone(),
    };
    let bindings = Arc::new(DynamoBindings::new(target.dynamodb(), target.table()?));
    let tokens = TenantTokens {
        secrets: Arc::new(SecretCache::secrets_manager(
            target.secrets_manager(),
            secret.ttl,
        )),
        directory: Arc::new(Directory::new(bindings.clone(), tenant::BINDINGS_TTL)),
        secret,
    };
    let api =
        shared::cloud_api::CloudApiClient::new(&graph, Arc::new(tokens), Duration::from_secs(10))
            .map_err(|e| CliError::new(format!("HTTP client: {e}")))?;
    let default = default_waba(target, waba_id).await.map(|waba_id| Account {
        tenant: tenant::DEFAULT_TENANT.to_owned(),
        waba_id,
        phone_number_id,
    });
    if default.is_none() {
        out.progress(
            "no WHATSAPP_WABA_ID (or --waba-id): the default tenant's templates are not synced, only bound accounts'",
        );
    }
    // Changes the sync finds go to the stack's upstream events queue, as
    // the scheduled sync's do.
    let events = target.events();
    let report = sync::sync_all(
        &api,
        &store(target)?,
        events.as_ref(),
        bindings.as_ref(),
        default,
    )
    .await;
    if let Some(error) = report["error"].as_str() {
        return Err(CliError::new(error.to_owned()));
    }
    Ok(report)
}

pub async fn run_sync(
    target: &Target,
    out: Output,
    waba_id: Option<String>,
) -> Result<(), CliError> {
    let report = sync_target(target, out, waba_id).await?;
    let mut lines = Vec::new();
    for account in report["accounts"].as_array().into_iter().flatten() {
        let head = format!(
            "account {} (tenant {})",
            account["waba_id"].as_str().unwrap_or("?"),
            account["tenant"].as_str().unwrap_or("?")
        );
        match account["error"].as_str() {
            Some(error) => lines.push(format!("{head}: failed: {error}")),
            None => {
                lines.push(format!(
                    "{head}: {} templates in {} page(s)",
                    account["templates"], account["pages"]
                ));
                for c in account["changed"].as_array().into_iter().flatten() {
                    lines.push(format!("  changed: {}", c.as_str().unwrap_or_default()));
                }
                for c in account["skipped"].as_array().into_iter().flatten() {
                    lines.push(format!("  skipped: {}", c.as_str().unwrap_or_default()));
                }
            }
        }
    }
    if lines.is_empty() {
        lines.push("no account to sync".into());
    }
    out.result(&lines.join("\n"), &report);
    Ok(())
}

pub async fn run_list(target: &Target, out: Output) -> Result<(), CliError> {
    let mut entries = store(target)?
        .list(&target.tenant)
        .await
        .map_err(|e| CliError::new(format!("reading the catalogue: {e}")))?;
    entries.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
    let human = if entries.is_empty() {
        "no templates in the catalogue: run `chasqui templates sync`".to_owned()
    } else {
        let mut lines = vec![format!(
            "{:<24} {:<7} {:<10} {:<8} {:<15} {:<10} synced",
            "name", "lang", "status", "quality", "category", "params"
        )];
        for e in &entries {
            let params = e
                .shape
                .as_ref()
                .map(|s| s.parameter_format.to_ascii_lowercase())
                .unwrap_or_else(|| "-".into());
            lines.push(format!(
                "{:<24} {:<7} {:<10} {:<8} {:<15} {:<10} {}",
                e.name,
                e.language,
                e.status.as_deref().unwrap_or("-"),
                e.quality.as_deref().unwrap_or("-"),
                e.category.as_deref().unwrap_or("-"),
                params,
                e.synced_at
                    .map(clock::iso)
                    .unwrap_or_else(|| "never".into())
            ));
        }
        lines.join("\n")
    };
    out.result(&human, &json!({ "templates": entries }));
    Ok(())
}

pub async fn run_show(
    target: &Target,
    out: Output,
    name: &str,
    language: Option<&str>,
) -> Result<(), CliError> {
    let entries = store(target)?
        .entries(&target.tenant, name)
        .await
        .map_err(|e| CliError::new(format!("reading the catalogue: {e}")))?;
    let shown: Vec<&Entry> = entries
        .iter()
        .filter(|e| language.is_none_or(|l| e.language == l))
        .collect();
    if shown.is_empty() {
        let languages: Vec<&str> = entries.iter().map(|e| e.language.as_str()).collect();
        let hint = if languages.is_empty() {
            "run `chasqui templates sync`, or `chasqui templates list` for the names".to_owned()
        } else {
            format!("its languages: {}", languages.join(", "))
        };
        return Err(CliError::new(format!(
            "no template {name}{} in the catalogue",
            language.map(|l| format!(" in {l}")).unwrap_or_default()
        ))
        .hint(hint));
    }
    let mut lines = Vec::new();
    let mut json_out = Vec::new();
    for e in shown {
        lines.push(format!(
            "{} ({}): {} {}, quality {}",
            e.name,
            e.language,
            e.status.as_deref().unwrap_or("status unknown"),
            e.category.as_deref().unwrap_or("-"),
            e.quality.as_deref().unwrap_or("-")
        ));
        if let Some(reason) = &e.status_reason {
            lines.push(format!("  Meta's reason: {reason}"));
        }
        let expects = e.shape.as_ref().map(check::describe).unwrap_or_default();
        if expects.is_empty() {
            lines.push("  shape unknown until a sync reads it".into());
        }
        lines.extend(expects.iter().map(|l| format!("  {l}")));
        let example = check::example(e);
        lines.push("  example send request:".into());
        lines.push(format!("  {example}"));
        json_out.push(json!({"template": e, "expects": expects, "example": example}));
    }
    out.result(&lines.join("\n"), &json!({ "templates": json_out }));
    Ok(())
}
