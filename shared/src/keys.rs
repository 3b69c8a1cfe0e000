//! API keys of the HTTP API (`docs/api.md`): their format, how they are
//! stored (only a hash) and checked (in constant time), and, behind the
//! `aws` feature, the table items that hold them.
//!
//! A key is `chq_<key id>_<secret>`: the key id is 16 hex digits (64
//! random bits) and names the key's item (`APIKEY`/`<key id>`, not
//! tenant-scoped, like a binding: the item holds the tenant); the secret is
//! 64 hex digits (256 random bits). The item keeps SHA-256 of the secret,
//! never the secret. A fast hash is enough here: slow password hashes
//! (bcrypt, argon2) exist to make guessing a low-entropy password costly,
//! and a uniformly random 256-bit secret cannot be guessed from its hash at
//! any speed; the check stays a microsecond per request.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every key starts with it, so secret scanners and people recognise one.
pub const PREFIX: &str = "chq_";
/// Hex digits of a key id (64 bits).
pub const KEY_ID_HEX: usize = 16;
/// Hex digits of a key's secret (256 bits).
pub const SECRET_HEX: usize = 64;
/// Characters of a whole key.
pub const KEY_CHARS: usize = PREFIX.len() + KEY_ID_HEX + 1 + SECRET_HEX;
/// Characters of a key's name.
pub const MAX_NAME_CHARS: usize = 64;

/// A key as a request presents it: its id and its secret.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The key id (16 lowercase hex digits).
    pub key_id: &'a str,
    /// The secret (64 lowercase hex digits); never logged.
    pub secret: &'a str,
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads a key; `None` when it is not one (wrong prefix, length or digits).
pub fn parse(key: &str) -> Option<Presented<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    (lower_hex(key_id, KEY_ID_HEX) && lower_hex(secret, SECRET_HEX))
        .then_some(Presented { key_id, secret })
}

/// Whether `key_id` is a well-formed key id.
pub fn is_key_id(key_id: &str) -> bool {
    lower_hex(key_id, KEY_ID_HEX)
}

/// SHA-256 of a secret, hex: what the key's item keeps.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored` (hex), compared in constant time.
pub fn secret_matches(secret: &str, stored: &str) -> bool {
    let Ok(stored) = hex::decode(stored) else {
        return false;
    };
    let presented = Sha256::digest(secret.as_bytes());
    stored.len() == presented.len() && bool::from(presented.as_slice().ct_eq(&stored))
}

/// A key's name: optional, at most [`MAX_NAME_CHARS`] printable characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err("expected 1 to 64 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

/// A key's item (the secret's hash, never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key id (the item's sort key).
    pub key_id: String,
    /// The tenant every call made with the key acts for.
    pub tenant: String,
    /// What the key is for, as its creator named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 (hex) of the key's secret.
    pub secret_hash: String,
    /// When it was created, Unix milliseconds.
    pub created_at: u64,
    /// From when it is refused, Unix milliseconds (a rotation revokes the
    /// old key some time ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// When a function last loaded it to authenticate a call (at most once
    /// per cache period per instance), Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
}

impl ApiKey {
    /// Whether the key is refused at `now_ms`.
    pub fn is_revoked(&self, now_ms: u64) -> bool {
        self.revoked_at.is_some_and(|at| at <= now_ms)
    }
}

/// A new key: its whole text (shown once) and its item.
#[cfg(feature = "aws")]
pub struct NewKey {
    /// `chq_<key id>_<secret>`: printed once, stored nowhere.
    pub key: crate::secrets::SecretString,
    /// The item to store.
    pub item: ApiKey,
}

/// Makes a key for `tenant` from the operating system's secure random
/// source (AWS-LC's, through rustls).
#[cfg(feature = "aws")]
pub fn generate(tenant: &str, name: Option<&str>, now_ms: u64) -> Result<NewKey, KeyError> {
    let mut random = [0u8; KEY_ID_HEX / 2 + SECRET_HEX / 2];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut random)
        .map_err(|_| KeyError::Random)?;
    let (id, secret) = random.split_at(KEY_ID_HEX / 2);
    let key_id = hex::encode(id);
    let secret = hex::encode(secret);
    Ok(NewKey {
        key: format!("{PREFIX}{key_id}_{secret}").into(),
        item: ApiKey {
            secret_hash: hash_secret(&secret),
            key_id,
            tenant: tenant.to_owned(),
            name: name.map(str::to_owned),
            created_at: now_ms,
            revoked_at: None,
            last_used_at: None,
        },
    })
}

/// Why a key could not be made, stored or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The secure random source failed.
    #[error("the secure random source failed")]
    Random,
    /// The table failed.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(feature = "aws")]
pub use dynamo::DynamoKeys;

#[cfg(feature = "aws")]
mod dynamo {
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

    use super::ApiKey;
    use crate::store::StoreError;
    use crate::table;
    use crate::table::attr::api_key as attr;
    use crate::table::dynamo::{Item, Update, failure, from_item, is_condition_failure, key};

    /// Adapter: the key items of the table.
    #[derive(Clone)]
    pub struct DynamoKeys {
        client: aws_sdk_dynamodb::Client,
        table: String,
    }

    fn read(item: &Item) -> Result<ApiKey, StoreError> {
        from_item(item).map_err(|source| StoreError::Unreadable {
            operation: "GetItem api key",
            source,
        })
    }

    impl DynamoKeys {
        /// An adapter on the key items of the table `table`.
        pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
            }
        }

        /// Stores a new key; `false` if its id is taken (2^-64: try again).
        pub async fn create(&self, key: &ApiKey) -> Result<bool, StoreError> {
            let mut item: Item = serde_dynamo::to_item(key).map_err(|e| StoreError::Rejected {
                operation: "PutItem api key",
                source: Box::new(e),
            })?;
            item.extend(table::dynamo::key(
                table::API_KEY_PK.to_owned(),
                key.key_id.clone(),
            ));
            table::dynamo::put_new(&self.client, &self.table, item)
                .await
                .map_err(|e| failure("PutItem api key", e))
        }

        /// The key `key_id`, if it exists.
        pub async fn get(&self, key_id: &str) -> Result<Option<ApiKey>, StoreError> {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(table::API_KEY_PK.to_owned(), key_id)))
                .send()
                .await
                .map_err(|e| failure("GetItem api key", e))?;
            out.item.as_ref().map(read).transpose()
        }

        /// Every key (of every tenant), oldest first.
        pub async fn list(&self) -> Result<Vec<ApiKey>, StoreError> {
            let items =
                table::dynamo::query_partition(&self.client, &self.table, table::API_KEY_PK)
                    .await
                    .map_err(|e| failure("Query api keys", e))?;
            let mut out = items.iter().map(read).collect::<Result<Vec<_>, _>>()?;
            out.sort_by_key(|k| k.created_at);
            Ok(out)
        }

        /// Sets `attribute` of an existing key; the key as it now is, or
        /// `None` for an unknown id.
        async fn set(
            &self,
            key_id: &str,
            attribute: &str,
            ms: u64,
        ) -> Result<Option<ApiKey>, StoreError> {
            let mut u = Update::default();
            u.set(attribute, AttributeValue::N(ms.to_string()));
            let pk = u.name(table::PK);
            let result = u
                .update_item(
                    &self.client,
                    &self.table,
                    key(table::API_KEY_PK.to_owned(), key_id),
                    Some(format!("attribute_exists({pk})")),
                )
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(out) => out.attributes().map(read).transpose(),
                Err(e) if is_condition_failure(&e) => Ok(None),
                Err(e) => Err(failure("UpdateItem api key", e)),
            }
        }

        /// Refuses the key from `at_ms` on; the key as it now is, or `None`
        /// for an unknown id.
        pub async fn revoke(&self, key_id: &str, at_ms: u64) -> Result<Option<ApiKey>, StoreError> {
            self.set(key_id, attr::REVOKED_AT, at_ms).await
        }

        /// Records that the key was just loaded to authenticate a call.
        pub async fn touch(&self, key_id: &str, now_ms: u64) -> Result<(), StoreError> {
            self.set(key_id, attr::LAST_USED_AT, now_ms).await.map(drop)
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef";

    fn key(secret: &str) -> String {
        format!("{PREFIX}{ID}_{secret}")
    }

    #[test]
    fn keys_parse_strictly() {
        let secret = "a".repeat(SECRET_HEX);
        let k = key(&secret);
        assert_eq!(k.len(), KEY_CHARS);
        assert_eq!(
            parse(&k),
            Some(Presented {
                key_id: ID,
                secret: &secret
            })
        );
        for bad in [
            String::new(),
            "chq_".to_owned(),
            key(&"a".repeat(SECRET_HEX - 1)),
            key(&"A".repeat(SECRET_HEX)),
            key(&"g".repeat(SECRET_HEX)),
            format!("chk_{ID}_{secret}"),
            format!("{PREFIX}{ID}{secret}"),
            format!("{PREFIX}{ID}_{secret}_"),
            format!("{PREFIX}0123_{secret}"),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_secret_of_the_hash_matches() {
        let secret = "5".repeat(SECRET_HEX);
        let stored = hash_secret(&secret);
        assert_eq!(stored.len(), 64);
        assert!(secret_matches(&secret, &stored));
        assert!(!secret_matches(&"6".repeat(SECRET_HEX), &stored));
        assert!(!secret_matches(&secret, "not hex"));
        assert!(!secret_matches(&secret, &stored[..62]));
    }

    #[test]
    fn revocation_takes_effect_at_its_time() {
        let mut k = ApiKey {
            key_id: ID.into(),
            tenant: "default".into(),
            name: None,
            secret_hash: String::new(),
            created_at: 1,
            revoked_at: None,
            last_used_at: None,
        };
        assert!(!k.is_revoked(10));
        k.revoked_at = Some(10);
        assert!(!k.is_revoked(9));
        assert!(k.is_revoked(10) && k.is_revoked(11));
    }

    #[cfg(feature = "aws")]
    #[test]
    fn generated_keys_parse_and_match_their_hash_and_differ() {
        use crate::secrets::ExposeSecret;
        let a = generate("acme", Some("crm"), 5).unwrap();
        let b = generate("acme", None, 5).unwrap();
        let p = parse(a.key.expose_secret()).unwrap();
        assert_eq!(p.key_id, a.item.key_id);
        assert!(secret_matches(p.secret, &a.item.secret_hash));
        assert!(!a.item.secret_hash.contains(p.secret));
        assert_ne!(a.item.key_id, b.item.key_id);
        assert_ne!(a.key.expose_secret(), b.key.expose_secret());
        assert_eq!(a.item.tenant, "acme");
        assert_eq!(a.item.name.as_deref(), Some("crm"));
    }
}
