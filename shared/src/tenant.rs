//! Tenants: the businesses one deployment serves, and the Meta apps their
//! webhooks come through.
//!
//! A **binding** ties one business phone number id to its tenant, its
//! WhatsApp Business Account, the Meta app its webhooks arrive through and
//! the Secrets Manager secret that holds its access token. Bindings live in
//! the table (one partition, `BINDING`, one item per phone number id, so a
//! number is bound to at most one tenant) and are managed with
//! `chasqui bindings`.
//!
//! A deployment with no binding is a single business, as before tenants
//! existed: the **default app** (the `/webhook` route and the
//! `WHATSAPP_SECRET_ID` secret) and the **default tenant**, which owns every
//! number no binding names. A number bound to a tenant belongs to that
//! tenant only: its webhooks are applied only when they come through its
//! binding's app, and only requests naming its tenant may send from it.

use serde::{Deserialize, Serialize};

/// The tenant of every number no binding names, and of send requests that
/// name no tenant.
pub const DEFAULT_TENANT: &str = "default";
/// The Meta app of the `/webhook` route, whose secret is `WHATSAPP_SECRET_ID`.
pub const DEFAULT_APP: &str = "default";

/// How long the functions keep the bindings before reading them again (a
/// number not found reads them again after a second).
pub const BINDINGS_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Longest tenant or app name.
pub const MAX_NAME_CHARS: usize = 40;

/// Checks a tenant or app name: 1-40 of `a-z`, `0-9` and `-`, starting with
/// a letter or digit. Names appear in keys, routes and secret ids, so they
/// are kept to characters that need no escaping anywhere.
pub fn check_name(value: &str) -> Result<(), &'static str> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err("expected 1-40 characters of a-z, 0-9 and '-', not starting with '-'")
    }
}

/// One business number's binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The business phone number id (Meta's `phone_number_id`).
    pub phone_number_id: String,
    /// The tenant (business) the number serves: its items' keys carry this
    /// tenant's prefix.
    pub tenant: String,
    /// The Meta app whose webhooks carry this number's changes.
    pub app: String,
    /// The WhatsApp Business Account the number belongs to.
    pub waba_id: String,
    /// The number as Meta displays it, for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// Id of the Secrets Manager secret holding `{"access_token": ...}`;
    /// always under `WHATSAPP_SECRET_PREFIX`.
    pub token_secret: String,
    /// When the binding was made (ms).
    pub created_at: u64,
}

/// Why a webhook change or a send request is not applied for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A webhook through a named app for a number no binding names.
    UnboundNumber,
    /// A webhook through one app for a number bound through another.
    NumberOfAnotherApp,
    /// A send request from a number that is not its tenant's.
    NumberNotBound,
}

impl Refusal {
    /// The reason recorded and logged.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::UnboundNumber => "unbound_number",
            Refusal::NumberOfAnotherApp => "number_of_another_app",
            Refusal::NumberNotBound => "number_not_bound",
        }
    }

    /// A sentence for the record or the log: names, never secrets.
    pub fn explain(self, app_or_tenant: &str, phone_number_id: &str) -> String {
        match self {
            Refusal::UnboundNumber => format!(
                "phone number id {phone_number_id} has no binding for app {app_or_tenant}: kept aside, not applied (add one with `chasqui bindings add`)"
            ),
            Refusal::NumberOfAnotherApp => format!(
                "phone number id {phone_number_id} is bound through another app than {app_or_tenant}: kept aside, not applied"
            ),
            Refusal::NumberNotBound => {
                format!("phone number id {phone_number_id} is not bound to tenant {app_or_tenant}")
            }
        }
    }
}

/// The tenant whose data a webhook change for `binding`'s number, received
/// through `app`, belongs to.
pub fn tenant_of_webhook<'a>(app: &str, binding: Option<&'a Binding>) -> Result<&'a str, Refusal> {
    match binding {
        Some(b) if b.app == app => Ok(&b.tenant),
        Some(_) => Err(Refusal::NumberOfAnotherApp),
        None if app == DEFAULT_APP => Ok(DEFAULT_TENANT),
        None => Err(Refusal::UnboundNumber),
    }
}

/// Whether `tenant` may send from the number `binding` describes (`None`:
/// the number has no binding, which only the default tenant may use).
pub fn check_sender(tenant: &str, binding: Option<&Binding>) -> Result<(), Refusal> {
    match binding {
        Some(b) if b.tenant == tenant => Ok(()),
        None if tenant == DEFAULT_TENANT => Ok(()),
        _ => Err(Refusal::NumberNotBound),
    }
}

/// Prefix of every key of a named tenant's items. The default tenant's keys
/// carry none, so data written before tenants existed is the default
/// tenant's, unchanged.
pub fn key_prefix(tenant: &str) -> String {
    if tenant == DEFAULT_TENANT {
        String::new()
    } else {
        format!("T#{tenant}#")
    }
}

#[cfg(feature = "aws")]
mod directory;
#[cfg(feature = "aws")]
pub use directory::{BindingStore, Directory, DirectoryError, DynamoBindings, TenantTokens};

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(tenant: &str, app: &str) -> Binding {
        Binding {
            phone_number_id: "111".into(),
            tenant: tenant.into(),
            app: app.into(),
            waba_id: "999".into(),
            display_phone_number: None,
            token_secret: "chasqui/tenants/x".into(),
            created_at: 0,
        }
    }

    #[test]
    fn names_are_checked() {
        for ok in ["acme", "a", "shop-7", &"x".repeat(40)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "Acme", "a#b", "a/b", "a b", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_apply_only_through_the_binding_app() {
        let acme = binding("acme", "app-a");
        assert_eq!(tenant_of_webhook("app-a", Some(&acme)), Ok("acme"));
        assert_eq!(
            tenant_of_webhook("app-b", Some(&acme)),
            Err(Refusal::NumberOfAnotherApp)
        );
        assert_eq!(
            tenant_of_webhook(DEFAULT_APP, Some(&acme)),
            Err(Refusal::NumberOfAnotherApp)
        );
        assert_eq!(tenant_of_webhook(DEFAULT_APP, None), Ok(DEFAULT_TENANT));
        assert_eq!(
            tenant_of_webhook("app-a", None),
            Err(Refusal::UnboundNumber)
        );
    }

    #[test]
    fn only_the_bound_tenant_sends_from_a_number() {
        let acme = binding("acme", "app-a");
        assert_eq!(check_sender("acme", Some(&acme)), Ok(()));
        assert_eq!(
            check_sender("globex", Some(&acme)),
            Err(Refusal::NumberNotBound)
        );
        assert_eq!(
            check_sender(DEFAULT_TENANT, Some(&acme)),
            Err(Refusal::NumberNotBound)
        );
        assert_eq!(check_sender(DEFAULT_TENANT, None), Ok(()));
        assert_eq!(check_sender("acme", None), Err(Refusal::NumberNotBound));
    }

    #[test]
    fn only_named_tenants_prefix_keys() {
        assert_eq!(key_prefix(DEFAULT_TENANT), "");
        assert_eq!(key_prefix("acme"), "T#acme#");
        // A default-tenant key never starts like a named tenant's.
        assert_ne!(
            key_prefix("acme"),
            key_prefix("acme2")[..key_prefix("acme").len()]
        );
    }
}
