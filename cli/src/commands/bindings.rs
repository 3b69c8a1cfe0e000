//! `chasqui bindings add|list|show|remove`: which tenant, WhatsApp Business
//! Account, Meta app and token secret each business number is bound to
//! (`shared::tenant`). The bindings are the table's `BINDING` items, written
//! through the same adapter the functions read them with; token secrets are
//! named under `<WHATSAPP_SECRET_PREFIX>tenants/`, the only secrets the
//! sender may read. Secret values are never printed: only their ids.

use aws_sdk_secretsmanager::Client as SecretsClient;
use serde_json::{Value, json};
use shared::config::{SecretSettings, TOKEN_SECRETS};
use shared::secrets::{ACCESS_TOKEN, ExposeSecret, SecretString};
use shared::tenant::{self, BINDINGS_TTL, Binding, BindingStore, DEFAULT_APP, DynamoBindings};

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// The business phone number id (Meta's numeric `phone_number_id`).
    #[arg(long)]
    pub phone_number_id: String,
    /// The tenant that owns the number (a-z, 0-9, '-').
    #[arg(long)]
    pub tenant: String,
    /// The WhatsApp Business Account id the number belongs to.
    #[arg(long)]
    pub waba_id: String,
    /// The Meta app whose webhooks carry the number's changes (`default`:
    /// the `/webhook` route; another name: `/webhook/<app>`).
    #[arg(long, default_value = DEFAULT_APP)]
    pub app: String,
    /// The number as Meta displays it (+55 11 ...), for operators.
    #[arg(long)]
    pub display_phone_number: Option<String>,
    /// The Secrets Manager id of `{"access_token": ...}` (default:
    /// `<WHATSAPP_SECRET_PREFIX>tenants/<tenant>`).
    #[arg(long)]
    pub token_secret: Option<String>,
    /// Read the access token from stdin and create or update the token
    /// secret with it (it is never printed).
    #[arg(long)]
    pub access_token_stdin: bool,
}

/// What `add` did.
#[derive(Debug)]
pub struct Added {
    pub binding: Binding,
    /// `created` or `updated` when the token was written, else `None`.
    pub token_written: Option<&'static str>,
    pub token_secret_exists: bool,
    /// Things to fix before the number works (printed on stderr).
    pub warnings: Vec<String>,
}

fn usage(message: String, hint: impl Into<String>) -> CliError {
    CliError::new(message).hint(hint).code(2)
}

fn numeric(field: &str, value: &str) -> Result<String, CliError> {
    let value = value.trim();
    if shared::check::numeric_id(value) {
        Ok(value.to_owned())
    } else {
        Err(usage(
            format!("--{field} {value:?} is not a numeric id"),
            format!(
                "pass Meta's numeric {} from the WhatsApp manager (digits only, not the phone number)",
                field.replace('-', "_")
            ),
        ))
    }
}

fn name(field: &str, value: &str) -> Result<String, CliError> {
    let value = value.trim();
    tenant::check_name(value).map_err(|reason| {
        usage(
            format!("--{field} {value:?}: {reason}"),
            format!("pick a {field} name such as acme or shop-2"),
        )
    })?;
    Ok(value.to_owned())
}

/// The binding `args` describe, checked before anything is read or written.
pub fn plan(args: &AddArgs, secrets: &SecretSettings, now: u64) -> Result<Binding, CliError> {
    let phone_number_id = numeric("phone-number-id", &args.phone_number_id)?;
    let waba_id = numeric("waba-id", &args.waba_id)?;
    let tenant = name("tenant", &args.tenant)?;
    let app = name("app", &args.app)?;
    let display_phone_number = match args.display_phone_number.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => {
            let ok = d.len() <= 32
                && d.bytes().any(|b| b.is_ascii_digit())
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || b" +-().".contains(&b));
            if !ok {
                return Err(usage(
                    format!("--display-phone-number {d:?} is not a phone number"),
                    "pass it as Meta shows it, e.g. +55 11 98888-7777, or leave it out",
                ));
            }
            Some(d.to_owned())
        }
    };
    let Some(default_secret) = secrets.token_secret_id(&tenant) else {
        return Err(CliError::new("WHATSAPP_SECRET_PREFIX is not set: bindings need it").hint(
            "set WHATSAPP_SECRET_PREFIX to the prefix the stack's webhook and sender functions have (e.g. chasqui/prod/); token secrets live under <prefix>tenants/",
        ));
    };
    let token_secret = match args.token_secret.as_deref().map(str::trim) {
        None | Some("") => default_secret,
        Some(id) => {
            if !secrets.allows(id) {
                let under = format!(
                    "{}{TOKEN_SECRETS}",
                    secrets.prefix.as_deref().unwrap_or_default()
                );
                return Err(usage(
                    format!(
                        "--token-secret {id:?} is outside {under}: the sender function may read only secrets under it"
                    ),
                    format!(
                        "name a secret under {under} (e.g. {default_secret}, the default when --token-secret is left out)"
                    ),
                ));
            }
            id.to_owned()
        }
    };
    Ok(Binding {
        phone_number_id,
        tenant,
        app,
        waba_id,
        display_phone_number,
        token_secret,
        created_at: now,
    })
}

/// Reads the access token from `input` (one line; surrounding whitespace
/// dropped). Never part of an error message.
pub fn read_token(mut input: impl std::io::Read) -> Result<SecretString, CliError> {
    let mut text = String::new();
    input.read_to_string(&mut text).map_err(|e| {
        CliError::new(format!("reading the access token from stdin failed: {e}")).hint(
            "pipe the token in, e.g. `chasqui bindings add ... --access-token-stdin < token.txt`",
        )
    })?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(usage(
            "--access-token-stdin: stdin holds no access token (empty, or more than one word)"
                .into(),
            "pipe exactly the system user's access token, e.g. `< token.txt`",
        ));
    }
    Ok(SecretString::from(token))
}

fn describe_failed(id: &str, e: impl std::error::Error) -> CliError {
    CliError::aws(&format!("looking up the secret {id}"), e)
}

/// Whether the secret `id` exists.
pub async fn secret_exists(sm: &SecretsClient, id: &str) -> Result<bool, CliError> {
    match sm.describe_secret().secret_id(id).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(describe_failed(id, e)),
    }
}

/// Creates the token secret, or stores a new value in it: `created` or
/// `updated`.
async fn write_token(
    sm: &SecretsClient,
    id: &str,
    token: &SecretString,
) -> Result<&'static str, CliError> {
    let value = json!({ ACCESS_TOKEN: token.expose_secret() }).to_string();
    put_secret(
        sm,
        id,
        &value,
        "Cloud API access token of a Chasqui tenant (chasqui bindings add)",
    )
    .await
}

/// Creates the secret `id` with `value`, or stores `value` in it if it
/// exists: `created` or `updated`. Errors name the secret, never the value.
pub async fn put_secret(
    sm: &SecretsClient,
    id: &str,
    value: &str,
    description: &str,
) -> Result<&'static str, CliError> {
    let created = sm
        .create_secret()
        .name(id)
        .description(description)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok("created"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            sm.put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| CliError::aws(&format!("storing the value of {id}"), e))?;
            Ok("updated")
        }
        Err(e) => Err(CliError::aws(&format!("creating the secret {id}"), e)),
    }
}

/// Binds `binding`'s number after checking it is free and that its account
/// is not another tenant's or app's; with `token`, writes the token secret
/// first.
pub async fn add(
    store: &dyn BindingStore,
    sm: &SecretsClient,
    secrets: &SecretSettings,
    binding: Binding,
    token: Option<&SecretString>,
) -> Result<Added, CliError> {
    let bindings = store.list().await.map_err(read_failed)?;
    if let Some(b) = bindings
        .iter()
        .find(|b| b.phone_number_id == binding.phone_number_id)
    {
        return Err(already_bound(b));
    }
    // The status function finds an account's tenant from any one of its
    // numbers (`Directory::binding_of_account`): they must agree.
    if let Some(b) = bindings.iter().find(|b| {
        b.waba_id == binding.waba_id && (b.tenant != binding.tenant || b.app != binding.app)
    }) {
        return Err(CliError::new(format!(
            "WABA {} is bound to tenant {} through app {} (number {}): every number of one WhatsApp Business Account must have the same tenant and app",
            b.waba_id, b.tenant, b.app, b.phone_number_id
        ))
        .hint(format!(
            "bind it with --tenant {} --app {}, or remove the account's bindings first (`chasqui bindings list`)",
            b.tenant, b.app
        )));
    }
    let token_written = match token {
        Some(token) => Some(write_token(sm, &binding.token_secret, token).await?),
        None => None,
    };
    if !store.put(&binding).await.map_err(read_failed)? {
        // Bound by someone else since the list above.
        let now = store.list().await.map_err(read_failed)?;
        return Err(
            match now
                .iter()
                .find(|b| b.phone_number_id == binding.phone_number_id)
            {
                Some(b) => already_bound(b),
                None => CliError::new(format!(
                    "phone number id {} was bound and unbound meanwhile",
                    binding.phone_number_id
                ))
                .hint("run the command again"),
            },
        );
    }
    let mut warnings = Vec::new();
    let token_secret_exists =
        token_written.is_some() || secret_exists(sm, &binding.token_secret).await?;
    if !token_secret_exists {
        warnings.push(format!(
            "the token secret {id} does not exist: the sender cannot send from {pn} until it does. Create it with\n  aws secretsmanager create-secret --name {id} --secret-string '{{\"access_token\":\"<the tenant's system user token>\"}}'\nor run `chasqui bindings remove {pn}` and add it again with --access-token-stdin",
            id = binding.token_secret,
            pn = binding.phone_number_id,
        ));
    }
    if binding.app != DEFAULT_APP
        && let Some(app_secret) = secrets.app_secret_id(&binding.app)
        && !secret_exists(sm, &app_secret).await?
    {
        warnings.push(format!(
            "the app secret {app_secret} does not exist: the webhook refuses /webhook/{app} until it does, so {pn}'s statuses and messages are not received. Create it with\n  aws secretsmanager create-secret --name {app_secret} --secret-string '{{\"app_secret\":\"<the Meta app's secret>\",\"verify_token\":\"<the token typed into Meta's dashboard>\"}}'\nand set the app's callback URL to <the webhook URL>/{app}",
            app = binding.app,
            pn = binding.phone_number_id,
        ));
    }
    Ok(Added {
        binding,
        token_written,
        token_secret_exists,
        warnings,
    })
}

fn already_bound(b: &Binding) -> CliError {
    CliError::new(format!(
        "phone number id {} is already bound to tenant {} through app {}",
        b.phone_number_id, b.tenant, b.app
    ))
    .hint(format!(
        "a number is unbound before it is bound again: `chasqui bindings remove {}` first",
        b.phone_number_id
    ))
}

fn read_failed(e: tenant::DirectoryError) -> CliError {
    CliError::new(e.to_string()).hint(
        "check that the stack is running (`make dev`) or, for a deployed stack, TABLE_NAME and your AWS credentials",
    )
}

fn binding_json(b: &Binding) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    v["created"] = clock::iso(b.created_at).into();
    v
}

fn store(target: &Target) -> Result<DynamoBindings, CliError> {
    Ok(DynamoBindings::new(target.dynamodb(), target.table()?))
}

pub async fn run_add(target: &Target, out: Output, args: &AddArgs) -> Result<(), CliError> {
    let secrets = target.secret_settings()?;
    let binding = plan(args, &secrets, shared::now_millis())?;
    let token = if args.access_token_stdin {
        Some(read_token(std::io::stdin().lock())?)
    } else {
        None
    };
    let added = add(
        &store(target)?,
        &target.secrets_manager(),
        &secrets,
        binding,
        token.as_ref(),
    )
    .await?;
    for w in &added.warnings {
        eprintln!("warning: {w}");
    }
    let b = &added.binding;
    let token_state = match added.token_written {
        Some(how) => format!("{how}, holds the token read from stdin"),
        None if added.token_secret_exists => "exists".to_owned(),
        None => "missing".to_owned(),
    };
    out.result(
        &format!(
            "bound {pn} to tenant {tenant} through app {app} (WABA {waba})\n  token secret  {secret} ({token_state})\n  the functions find it within seconds",
            pn = b.phone_number_id,
            tenant = b.tenant,
            app = b.app,
            waba = b.waba_id,
            secret = b.token_secret,
        ),
        &json!({
            "binding": binding_json(b),
            "token_secret_written": added.token_written,
            "token_secret_exists": added.token_secret_exists,
            "warnings": added.warnings,
        }),
    );
    Ok(())
}

/// The bindings, by tenant then number.
pub async fn list(store: &dyn BindingStore) -> Result<Vec<Binding>, CliError> {
    let mut bindings = store.list().await.map_err(read_failed)?;
    bindings.sort_by(|a, b| (&a.tenant, &a.phone_number_id).cmp(&(&b.tenant, &b.phone_number_id)));
    Ok(bindings)
}

/// The bindings as a table, one line each.
pub fn table(bindings: &[Binding]) -> String {
    if bindings.is_empty() {
        return "no bindings: every number is the default tenant's, through the default app (add one with `chasqui bindings add`)".to_owned();
    }
    let header = [
        "PHONE NUMBER ID",
        "TENANT",
        "APP",
        "WABA",
        "DISPLAY NUMBER",
        "TOKEN SECRET",
        "CREATED",
    ];
    let rows: Vec<[String; 7]> = bindings
        .iter()
        .map(|b| {
            [
                b.phone_number_id.clone(),
                b.tenant.clone(),
                b.app.clone(),
                b.waba_id.clone(),
                b.display_phone_number.clone().unwrap_or_else(|| "-".into()),
                b.token_secret.clone(),
                clock::iso(b.created_at),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

pub async fn run_list(target: &Target, out: Output) -> Result<(), CliError> {
    let bindings = list(&store(target)?).await?;
    out.result(
        &table(&bindings),
        &json!({ "bindings": bindings.iter().map(binding_json).collect::<Vec<_>>() }),
    );
    Ok(())
}

/// One number's binding and whether its token secret exists.
pub async fn show(
    store: &dyn BindingStore,
    sm: &SecretsClient,
    phone_number_id: &str,
) -> Result<(Binding, bool), CliError> {
    let pn = numeric("phone-number-id", phone_number_id)?;
    let binding = store
        .list()
        .await
        .map_err(read_failed)?
        .into_iter()
        .find(|b| b.phone_number_id == pn)
        .ok_or_else(|| not_bound(&pn))?;
    let exists = secret_exists(sm, &binding.token_secret).await?;
    Ok((binding, exists))
}

fn not_bound(pn: &str) -> CliError {
    CliError::new(format!(
        "phone number id {pn} has no binding: it is the default tenant's, through the default app"
    ))
    .hint("`chasqui bindings list` shows the bound numbers")
}

pub async fn run_show(target: &Target, out: Output, phone_number_id: &str) -> Result<(), CliError> {
    let (b, exists) = show(&store(target)?, &target.secrets_manager(), phone_number_id).await?;
    let route = if b.app == DEFAULT_APP {
        "/webhook".to_owned()
    } else {
        format!("/webhook/{}", b.app)
    };
    let mut human = format!(
        "{pn}: tenant {tenant}\n  app           {app} (webhooks through {route})\n  WABA          {waba}\n  display       {display}\n  token secret  {secret} ({state})\n  created       {created}",
        pn = b.phone_number_id,
        tenant = b.tenant,
        app = b.app,
        waba = b.waba_id,
        display = b.display_phone_number.as_deref().unwrap_or("-"),
        secret = b.token_secret,
        state = if exists {
            "exists"
        } else {
            "MISSING: the sender cannot send from this number"
        },
        created = clock::iso(b.created_at),
    );
    if let Ok(secrets) = target.secret_settings()
        && !secrets.allows(&b.token_secret)
    {
        human.push_str(
            "\n  warning: the token secret is outside <prefix>tenants/: the sender refuses it",
        );
    }
    let mut json = binding_json(&b);
    json["token_secret_exists"] = exists.into();
    out.result(&human, &json!({ "binding": json }));
    Ok(())
}

/// Unbinds a number; the binding it had. Its token secret is kept.
pub async fn remove(store: &dyn BindingStore, phone_number_id: &str) -> Result<Binding, CliError> {
    let pn = numeric("phone-number-id", phone_number_id)?;
    store
        .remove(&pn)
        .await
        .map_err(read_failed)?
        .ok_or_else(|| not_bound(&pn))
}

pub async fn run_remove(
    target: &Target,
    out: Output,
    phone_number_id: &str,
) -> Result<(), CliError> {
    let b = remove(&store(target)?, phone_number_id).await?;
    out.result(
        &format!(
            "removed the binding of {pn} (tenant {tenant}, app {app}, WABA {waba})\n  its token secret {secret} is kept: delete it yourself if no other binding names it\n  the functions may use the old binding for up to {ttl} s",
            pn = b.phone_number_id,
            tenant = b.tenant,
            app = b.app,
            waba = b.waba_id,
            secret = b.token_secret,
            ttl = BINDINGS_TTL.as_secs(),
        ),
        &json!({ "removed": binding_json(&b) }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::Settings;

    fn secrets(prefix: Option<&str>) -> SecretSettings {
        let mut pairs = vec![("WHATSAPP_SECRET_ID", "chasqui/whatsapp")];
        pairs.extend(prefix.map(|p| ("WHATSAPP_SECRET_PREFIX", p)));
        Settings::from_pairs(pairs).secret().unwrap()
    }

    fn args() -> AddArgs {
        AddArgs {
            phone_number_id: "111".into(),
            tenant: "acme".into(),
            waba_id: "999".into(),
            app: DEFAULT_APP.into(),
            display_phone_number: None,
            token_secret: None,
            access_token_stdin: false,
        }
    }

    #[test]
    fn a_plan_checks_every_field_and_names_the_token_secret() {
        let s = secrets(Some("chasqui/prod/"));
        let b = plan(&args(), &s, 7).unwrap();
        assert_eq!(b.token_secret, "chasqui/prod/tenants/acme");
        assert_eq!(b.app, DEFAULT_APP);
        assert_eq!(b.created_at, 7);
        type Change = fn(&mut AddArgs);
        let cases: Vec<(Change, &str)> = vec![
            (|a| a.phone_number_id = "+55 11".into(), "--phone-number-id"),
            (|a| a.waba_id = "".into(), "--waba-id"),
            (|a| a.tenant = "Acme".into(), "--tenant"),
            (|a| a.app = "shop/x".into(), "--app"),
            (
                |a| a.display_phone_number = Some("call me".into()),
                "--display-phone-number",
            ),
            (
                |a| a.token_secret = Some("chasqui/prod/apps/shop".into()),
                "--token-secret",
            ),
            (
                |a| a.token_secret = Some("other/tenants/acme".into()),
                "--token-secret",
            ),
        ];
        for (change, field) in cases {
            let mut a = args();
            change(&mut a);
            let err = plan(&a, &s, 0).unwrap_err();
            assert!(err.message.contains(field), "{field}: {err}");
            assert_eq!(err.code, 2, "{field}");
        }
        let mut a = args();
        a.token_secret = Some("chasqui/prod/tenants/acme-2".into());
        assert_eq!(
            plan(&a, &s, 0).unwrap().token_secret,
            "chasqui/prod/tenants/acme-2"
        );
        let err = plan(&args(), &secrets(None), 0).unwrap_err();
        assert!(err.to_string().contains("WHATSAPP_SECRET_PREFIX"), "{err}");
    }

    #[test]
    fn tokens_are_one_word_and_never_in_errors() {
        assert_eq!(
            read_token(&b"  EAAB123\n"[..]).unwrap().expose_secret(),
            "EAAB123"
        );
        for bad in [&b""[..], b"  \n", b"EAAB 123"] {
            let err = read_token(bad).unwrap_err();
            assert!(!err.to_string().contains("EAAB"), "{err}");
        }
    }

    #[test]
    fn the_table_lines_up() {
        let b = Binding {
            phone_number_id: "111".into(),
            tenant: "acme".into(),
            app: "shop".into(),
            waba_id: "999".into(),
            display_phone_number: None,
            token_secret: "p/tenants/acme".into(),
            created_at: 1_730_000_000_000,
        };
        let text = table(&[b]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with("PHONE NUMBER ID  TENANT  APP "),
            "{text}"
        );
        assert!(
            lines[1].starts_with("111              acme    shop"),
            "{text}"
        );
        assert!(table(&[]).starts_with("no bindings"));
    }
}
