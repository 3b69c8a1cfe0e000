//! `chasqui bindings` against the emulator (run with `scripts/with-moto`),
//! through the real DynamoDB and Secrets Manager clients and the same
//! `DynamoBindings` adapter the functions read bindings with; and the
//! `chasqui` binary itself for what it prints (never the access token).

use std::io::Write as _;
use std::process::{Command, Stdio};

use chasqui_cli::commands::bindings::{self, AddArgs};
use shared::config::{SecretSettings, Settings};
use shared::secrets::SecretString;
use shared::tenant::{BindingStore, DynamoBindings};

struct Env {
    ddb: aws_sdk_dynamodb::Client,
    sm: aws_sdk_secretsmanager::Client,
    table: String,
    /// Unique per test: tests share one emulator.
    prefix: String,
}

async fn env() -> Env {
    let ddb = harness::dynamodb().await;
    let table = harness::create_table(&ddb).await;
    Env {
        ddb,
        sm: harness::secrets_manager().await,
        table,
        prefix: format!("{}/", harness::unique("chasqui")),
    }
}

impl Env {
    fn store(&self) -> DynamoBindings {
        DynamoBindings::new(self.ddb.clone(), &self.table)
    }

    fn secrets(&self) -> SecretSettings {
        Settings::from_pairs([
            ("WHATSAPP_SECRET_ID", "chasqui/whatsapp"),
            ("WHATSAPP_SECRET_PREFIX", self.prefix.as_str()),
        ])
        .secret()
        .unwrap()
    }

    async fn secret_value(&self, id: &str) -> Option<String> {
        self.sm
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .ok()
            .and_then(|v| v.secret_string().map(str::to_owned))
    }

    /// Runs the `chasqui` binary against this table and prefix, as against
    /// a deployed stack; stdout and stderr together.
    fn chasqui(&self, args: &[&str], stdin: &str) -> (bool, String) {
        let mut child = Command::new(harness::local::function_binaries().join("chasqui"))
            .args(args)
            .env("TABLE_NAME", &self.table)
            .env("WHATSAPP_SECRET_PREFIX", &self.prefix)
            .env_remove("CHASQUI_STACK_FILE")
            .env_remove("WHATSAPP_SECRET_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

fn args(pn: &str, tenant: &str, waba: &str, app: &str) -> AddArgs {
    AddArgs {
        phone_number_id: pn.into(),
        tenant: tenant.into(),
        waba_id: waba.into(),
        app: app.into(),
        display_phone_number: Some("+55 11 4000-0001".into()),
        token_secret: None,
        access_token_stdin: false,
    }
}

#[tokio::test]
async fn add_list_show_remove_round_trip() {
    let env = env().await;
    let store = env.store();
    let secrets = env.secrets();
    let token = SecretString::from("EAAG-round-trip-token");
    let binding = bindings::plan(&args("111", "acme", "901", "shop"), &secrets, 42).unwrap();
    let added = bindings::add(&store, &env.sm, &secrets, binding, Some(&token))
        .await
        .unwrap();
    let secret_id = format!("{}tenants/acme", env.prefix);
    assert_eq!(added.binding.token_secret, secret_id);
    assert_eq!(added.token_written, Some("created"));
    assert!(added.token_secret_exists);
    // The app secret of `shop` was never made: one warning, naming it.
    assert_eq!(added.warnings.len(), 1, "{:?}", added.warnings);
    assert!(
        added.warnings[0].contains(&format!("{}apps/shop", env.prefix)),
        "{:?}",
        added.warnings
    );
    let stored: serde_json::Value =
        serde_json::from_str(&env.secret_value(&secret_id).await.unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"access_token": "EAAG-round-trip-token"})
    );

    // A second number of the same account and tenant, naming the existing
    // secret, and the secret updated through it.
    let mut second = args("112", "acme", "901", "shop");
    second.display_phone_number = None;
    let binding = bindings::plan(&second, &secrets, 43).unwrap();
    let added = bindings::add(
        &store,
        &env.sm,
        &secrets,
        binding,
        Some(&SecretString::from("EAAG-rotated")),
    )
    .await
    .unwrap();
    assert_eq!(added.token_written, Some("updated"));
    assert!(
        env.secret_value(&secret_id)
            .await
            .unwrap()
            .contains("EAAG-rotated")
    );

    // What the functions read is what was written.
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    let first = listed.iter().find(|b| b.phone_number_id == "111").unwrap();
    assert_eq!(
        (
            first.tenant.as_str(),
            first.app.as_str(),
            first.waba_id.as_str(),
            first.display_phone_number.as_deref(),
            first.token_secret.as_str(),
            first.created_at
        ),
        (
            "acme",
            "shop",
            "901",
            Some("+55 11 4000-0001"),
            secret_id.as_str(),
            42
        )
    );
    let sorted = bindings::list(&store).await.unwrap();
    assert_eq!(
        sorted
            .iter()
            .map(|b| b.phone_number_id.as_str())
            .collect::<Vec<_>>(),
        ["111", "112"]
    );
    assert!(bindings::table(&sorted).contains(&secret_id));

    let (shown, exists) = bindings::show(&store, &env.sm, "112").await.unwrap();
    assert_eq!(shown.tenant, "acme");
    assert!(exists);

    let removed = bindings::remove(&store, "111").await.unwrap();
    assert_eq!(removed.phone_number_id, "111");
    assert_eq!(store.list().await.unwrap().len(), 1);
    // The secret is kept; the number is unbound.
    assert!(env.secret_value(&secret_id).await.is_some());
    assert!(bindings::show(&store, &env.sm, "111").await.is_err());
    let err = bindings::remove(&store, "111").await.unwrap_err();
    assert!(err.message.contains("has no binding"), "{err}");
}

#[tokio::test]
async fn a_binding_without_its_token_secret_warns_and_shows_it_missing() {
    let env = env().await;
    let store = env.store();
    let secrets = env.secrets();
    let binding = bindings::plan(&args("211", "globex", "902", "default"), &secrets, 1).unwrap();
    let added = bindings::add(&store, &env.sm, &secrets, binding, None)
        .await
        .unwrap();
    assert_eq!(added.token_written, None);
    assert!(!added.token_secret_exists);
    // The default app's secret is WHATSAPP_SECRET_ID: no app warning.
    assert_eq!(added.warnings.len(), 1, "{:?}", added.warnings);
    assert!(added.warnings[0].contains("tenants/globex does not exist"));
    let (_, exists) = bindings::show(&store, &env.sm, "211").await.unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn refusals_leave_the_bindings_and_secrets_as_they_were() {
    let env = env().await;
    let store = env.store();
    let secrets = env.secrets();
    let binding = bindings::plan(&args("311", "acme", "903", "shop"), &secrets, 1).unwrap();
    bindings::add(&store, &env.sm, &secrets, binding, None)
        .await
        .unwrap();
    let before = store.list().await.unwrap();

    // The same number again, even for the same tenant.
    let again = bindings::plan(&args("311", "acme", "903", "shop"), &secrets, 2).unwrap();
    let err = bindings::add(&store, &env.sm, &secrets, again, None)
        .await
        .unwrap_err();
    assert!(
        err.message.contains("already bound to tenant acme"),
        "{err}"
    );
    assert!(
        err.to_string().contains("chasqui bindings remove 311"),
        "{err}"
    );

    // Another number of the same account, for another tenant or app; the
    // token it carries is not written.
    for (tenant, app) in [("globex", "shop"), ("acme", "other-app")] {
        let other = bindings::plan(&args("312", tenant, "903", app), &secrets, 2).unwrap();
        let token = SecretString::from("EAAG-not-written");
        let err = bindings::add(&store, &env.sm, &secrets, other, Some(&token))
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("WABA 903 is bound to tenant acme through app shop"),
            "{err}"
        );
        assert!(
            err.to_string().contains("--tenant acme --app shop"),
            "{err}"
        );
        assert!(
            env.secret_value(&format!("{}tenants/{tenant}", env.prefix))
                .await
                .is_none()
        );
    }
    assert_eq!(store.list().await.unwrap(), before);

    // A secret outside <prefix>tenants/ is refused before anything is read.
    let mut outside = args("313", "acme", "903", "shop");
    outside.token_secret = Some(format!("{}apps/shop", env.prefix));
    let err = bindings::plan(&outside, &secrets, 0).unwrap_err();
    assert!(err.message.contains("outside"), "{err}");
}

#[tokio::test]
async fn the_binary_never_prints_the_access_token() {
    let env = env().await;
    let token = format!("EAAG{}", harness::unique("secret-token"));
    let add = [
        "bindings",
        "add",
        "--phone-number-id",
        "411",
        "--tenant",
        "acme",
        "--waba-id",
        "904",
        "--app",
        "shop",
        "--access-token-stdin",
    ];
    let (ok, out) = env.chasqui(&add, &format!("{token}\n"));
    assert!(ok, "{out}");
    assert!(
        out.contains("bound 411 to tenant acme through app shop"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}tenants/acme (created", env.prefix)),
        "{out}"
    );
    assert!(
        out.contains(&format!("warning: the app secret {}apps/shop", env.prefix)),
        "{out}"
    );
    assert!(!out.contains(&token), "{out}");
    let stored = env
        .secret_value(&format!("{}tenants/acme", env.prefix))
        .await
        .unwrap();
    assert!(stored.contains(&token));

    // Refused (already bound), with the token on stdin and --json.
    let mut json_add = vec!["--json"];
    json_add.extend(add);
    let (ok, out) = env.chasqui(&json_add, &format!("{token}\n"));
    assert!(!ok);
    assert!(out.contains("already bound"), "{out}");
    assert!(!out.contains(&token), "{out}");

    for args in [
        &["bindings", "list"][..],
        &["--json", "bindings", "list"],
        &["bindings", "show", "411"],
        &["--json", "bindings", "show", "411"],
    ] {
        let (ok, out) = env.chasqui(args, "");
        assert!(ok, "{args:?}: {out}");
        assert!(
            out.contains("411") && out.contains("tenants/acme"),
            "{args:?}: {out}"
        );
        assert!(!out.contains(&token), "{args:?}: {out}");
    }
    let (_, out) = env.chasqui(&["--json", "bindings", "show", "411"], "");
    let shown: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["binding"]["token_secret_exists"], true);
    assert_eq!(shown["binding"]["tenant"], "acme");

    let (ok, out) = env.chasqui(&["bindings", "remove", "411"], "");
    assert!(ok, "{out}");
    assert!(out.contains("removed the binding of 411"), "{out}");
    assert!(env.store().list().await.unwrap().is_empty());

    // No prefix: refused, saying which setting to set.
    let out = Command::new(harness::local::function_binaries().join("chasqui"))
        .args([
            "bindings",
            "add",
            "--phone-number-id",
            "412",
            "--tenant",
            "acme",
            "--waba-id",
            "904",
        ])
        .env("TABLE_NAME", &env.table)
        .env_remove("WHATSAPP_SECRET_PREFIX")
        .env_remove("CHASQUI_STACK_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no WHATSAPP_SECRET_PREFIX"), "{err}");
    assert!(env.store().list().await.unwrap().is_empty());
}
