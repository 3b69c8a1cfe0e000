//! The contact items and how a customer's state is read across them.
//!
//! A customer may be keyed by phone (`CONTACT#<scope>#<wa_id>`, every item
//! written before BSUIDs) and by BSUID (`CONTACT#<scope>#<user_id>`). The
//! items name each other: `user_id` on the phone item, `wa_id` on the BSUID
//! item, and across a BSUID change `replaced_by` on the old item and
//! `previous_user_id` on the new one. Writes go to one item (the BSUID's when
//! known); reads follow the links and resolve with the same ordering rule the
//! writes use: the opt decision in force is the greatest `opt_decision`
//! among the linked items, the service window the latest `last_inbound_at`.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use crate::customer::CustomerIds;
use crate::table;

/// Contact item attributes (`docs/data-model.md`).
pub mod attr {
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// The phone; on a BSUID item, the link to the phone item.
    pub const WA_ID: &str = "wa_id";
    /// The BSUID; on a phone item, the link to the BSUID item.
    pub const USER_ID: &str = "user_id";
    pub const PARENT_USER_ID: &str = "parent_user_id";
    pub const USERNAME: &str = "username";
    /// When the `user_id` / `wa_id` link was last written (ms): an older
    /// webhook never overwrites a newer link.
    pub const LINKED_AT: &str = "linked_at";
    /// On an old BSUID item: the BSUID that replaced it.
    pub const REPLACED_BY: &str = "replaced_by";
    /// On a new BSUID item: the BSUID it replaced.
    pub const PREVIOUS_USER_ID: &str = "previous_user_id";
    pub const PROFILE_NAME: &str = "profile_name";
    pub const LAST_INBOUND_AT: &str = "last_inbound_at";
    pub const LAST_INBOUND_WAMID: &str = "last_inbound_wamid";
    pub const OPTED_OUT: &str = "opted_out";
    pub const OPTED_OUT_AT: &str = "opted_out_at";
    pub const OPTED_IN_AT: &str = "opted_in_at";
    pub const OPT_SOURCE: &str = "opt_source";
    pub const OPT_MESSAGE_ID: &str = "opt_message_id";
    /// `<time, 13 digits>#<signal id>` of the decision in force.
    pub const OPT_DECISION: &str = "opt_decision";
    pub const UPDATED_AT: &str = "updated_at";
}

/// Link hops followed from the ids asked for: phone → BSUID → previous
/// BSUID → its phone covers a phone change; more is a chain of changes.
pub const MAX_LINK_HOPS: usize = 4;

/// One contact item as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactItem {
    /// The id the item is keyed by.
    pub id: String,
    pub item: HashMap<String, AttributeValue>,
}

impl ContactItem {
    fn text(&self, name: &str) -> Option<&str> {
        self.item
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.item
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<f64>().ok())
            .map(|f| f as u64)
    }

    /// The ids this item links to.
    pub fn links(&self) -> Vec<&str> {
        [
            attr::WA_ID,
            attr::USER_ID,
            attr::REPLACED_BY,
            attr::PREVIOUS_USER_ID,
        ]
        .into_iter()
        .filter_map(|a| self.text(a))
        .filter(|id| *id != self.id)
        .collect()
    }
}

/// A customer's state, resolved over their linked items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactState {
    pub opted_out: bool,
    pub opt_source: Option<String>,
    pub opt_decision: Option<String>,
    /// Milliseconds; opens the 24-hour customer service window.
    pub last_inbound_at: Option<u64>,
    /// Every id of the customer that was found.
    pub ids: CustomerIds,
}

/// Resolves linked items: the greatest `opt_decision` wins (an item written
/// before decisions were ordered, with `opted_out` but no decision, counts
/// as the oldest), the latest `last_inbound_at` is the window. `None` when
/// no item exists.
pub fn resolve(items: &[ContactItem]) -> Option<ContactState> {
    if items.is_empty() {
        return None;
    }
    let decided = items
        .iter()
        .filter(|i| i.item.contains_key(attr::OPTED_OUT))
        .max_by(|a, b| a.text(attr::OPT_DECISION).cmp(&b.text(attr::OPT_DECISION)));
    let mut state = ContactState {
        last_inbound_at: items
            .iter()
            .filter_map(|i| i.number(attr::LAST_INBOUND_AT))
            .max(),
        ..ContactState::default()
    };
    if let Some(d) = decided {
        state.opted_out = d
            .item
            .get(attr::OPTED_OUT)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        state.opt_source = d.text(attr::OPT_SOURCE).map(str::to_owned);
        state.opt_decision = d.text(attr::OPT_DECISION).map(str::to_owned);
    }
    for i in items {
        let (wa, user) = if crate::customer::is_user_id(&i.id) {
            (i.text(attr::WA_ID), Some(i.id.as_str()))
        } else {
            (Some(i.id.as_str()), i.text(attr::USER_ID))
        };
        // The newest BSUID names the customer: one nobody replaced.
        let current = i.text(attr::REPLACED_BY).is_none();
        if state.ids.wa_id.is_none() {
            state.ids.wa_id = wa.map(str::to_owned);
        }
        if current && state.ids.user_id.is_none() {
            state.ids.user_id = user.map(str::to_owned);
        }
    }
    Some(state)
}

/// Reads a customer's contact items by any of `ids`, following the links
/// (consistently: an opt-out written a moment ago must be seen). Items whose
/// TTL passed count as absent. One `GetItem` for a single id with no links;
/// one `BatchGetItem` per further hop.
pub async fn read_linked(
    client: &Client,
    table_name: &str,
    scope: &str,
    ids: &CustomerIds,
    now_ms: u64,
) -> Result<Vec<ContactItem>, String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut found = Vec::new();
    let mut next: Vec<String> = ids.all().into_iter().map(str::to_owned).collect();
    for _ in 0..MAX_LINK_HOPS {
        next.retain(|id| seen.insert(id.clone()));
        if next.is_empty() {
            break;
        }
        let items = fetch(client, table_name, scope, &next).await?;
        next = Vec::new();
        for item in items {
            let expired = item
                .get(table::EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|e| e < now_ms / 1000);
            let Some(id) = item
                .get(table::PK)
                .and_then(|v| v.as_s().ok())
                .and_then(|pk| pk.strip_prefix(&table::contact_pk(scope, "")))
                .map(str::to_owned)
            else {
                continue;
            };
            if expired {
                continue;
            }
            let item = ContactItem { id, item };
            next.extend(item.links().into_iter().map(str::to_owned));
            found.push(item);
        }
    }
    Ok(found)
}

async fn fetch(
    client: &Client,
    table_name: &str,
    scope: &str,
    ids: &[String],
) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    let key = |id: &str| {
        HashMap::from([
            (
                table::PK.to_owned(),
                AttributeValue::S(table::contact_pk(scope, id)),
            ),
            (
                table::SK.to_owned(),
                AttributeValue::S(table::CONTACT_SK.to_owned()),
            ),
        ])
    };
    if let [id] = ids {
        let out = client
            .get_item()
            .table_name(table_name)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("GetItem contact: {}", DisplayErrorContext(e)))?;
        return Ok(out.item.into_iter().collect());
    }
    let mut keys = KeysAndAttributes::builder().consistent_read(true);
    for id in ids {
        keys = keys.keys(key(id));
    }
    let mut request = HashMap::from([(
        table_name.to_owned(),
        keys.build()
            .map_err(|e| format!("BatchGetItem contact: {e}"))?,
    )]);
    let mut out = Vec::new();
    // Unprocessed keys (throttling) are asked again; a handful of keys
    // settles in a few rounds.
    for _ in 0..5 {
        let page = client
            .batch_get_item()
            .set_request_items(Some(request))
            .send()
            .await
            .map_err(|e| format!("BatchGetItem contact: {}", DisplayErrorContext(e)))?;
        if let Some(mut responses) = page.responses
            && let Some(items) = responses.remove(table_name)
        {
            out.extend(items);
        }
        match page.unprocessed_keys {
            Some(left) if !left.is_empty() => request = left,
            _ => return Ok(out),
        }
    }
    Err("BatchGetItem contact: keys left unprocessed after 5 rounds".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, attrs: &[(&str, AttributeValue)]) -> ContactItem {
        ContactItem {
            id: id.to_owned(),
            item: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn the_greatest_decision_and_the_latest_window_win_across_items() {
        let phone = item(
            "5511",
            &[
                (attr::USER_ID, s("BR.1")),
                (attr::OPTED_OUT, AttributeValue::Bool(true)),
                (attr::OPT_DECISION, s("0000000000002#a")),
                (attr::OPT_SOURCE, s("keyword")),
                (attr::LAST_INBOUND_AT, AttributeValue::N("9".into())),
            ],
        );
        let bsuid = item(
            "BR.1",
            &[
                (attr::WA_ID, s("5511")),
                (attr::OPTED_OUT, AttributeValue::Bool(false)),
                (attr::OPT_DECISION, s("0000000000001#b")),
                (attr::LAST_INBOUND_AT, AttributeValue::N("5".into())),
            ],
        );
        let state = resolve(&[bsuid.clone(), phone.clone()]).unwrap();
        assert!(state.opted_out);
        assert_eq!(state.opt_source.as_deref(), Some("keyword"));
        assert_eq!(state.last_inbound_at, Some(9));
        assert_eq!(state.ids, CustomerIds::new(Some("5511"), Some("BR.1")));
        // A newer opt-in on the other item wins the other way.
        let mut newer = bsuid;
        newer
            .item
            .insert(attr::OPT_DECISION.into(), s("0000000000003#c"));
        assert!(!resolve(&[phone, newer]).unwrap().opted_out);
        assert_eq!(resolve(&[]), None);
    }

    #[test]
    fn links_name_the_other_items_but_not_the_item_itself() {
        let old = item(
            "BR.1",
            &[
                (attr::REPLACED_BY, s("BR.2")),
                (attr::WA_ID, s("5511")),
                (attr::USER_ID, s("BR.1")),
            ],
        );
        assert_eq!(old.links(), ["5511", "BR.2"]);
        let new = item("BR.2", &[(attr::PREVIOUS_USER_ID, s("BR.1"))]);
        let state = resolve(&[old, new]).unwrap();
        assert_eq!(state.ids.user_id.as_deref(), Some("BR.2"));
    }
}
