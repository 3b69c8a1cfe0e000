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

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
};

use crate::customer::CustomerIds;
use crate::events::OptSource;
use crate::store::StoreError;
use crate::table::attr::contact as attr;
use crate::table::dynamo::{Update, failure, is_condition_failure};
use crate::table::{self, dynamo};

/// Link hops followed from the ids asked for: phone → BSUID → previous
/// BSUID → its phone covers a phone change; more is a chain of changes.
pub const MAX_LINK_HOPS: usize = 4;

/// One contact item as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactItem {
    /// The id the item is keyed by.
    pub id: String,
    /// The item's attributes as DynamoDB returned them.
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
    /// Whether the decision in force is an opt-out; `false` when there is none.
    pub opted_out: bool,
    /// Where the decision in force came from (`keyword`, `manual`, ...).
    pub opt_source: Option<String>,
    /// The decision in force (`<time, 13 digits>#<signal id>`), when there is
    /// one.
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
    tenant: &str,
    scope: &str,
    ids: &CustomerIds,
    now_ms: u64,
) -> Result<Vec<ContactItem>, StoreError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut found = Vec::new();
    let mut next: Vec<String> = ids.all().into_iter().map(str::to_owned).collect();
    for _ in 0..MAX_LINK_HOPS {
        next.retain(|id| seen.insert(id.clone()));
        if next.is_empty() {
            break;
        }
        let items = fetch(client, table_name, tenant, scope, &next).await?;
        next = Vec::new();
        for item in items {
            let expired = item
                .get(table::EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|e| table::has_expired(e, now_ms / 1000));
            let Some(id) = item
                .get(table::PK)
                .and_then(|v| v.as_s().ok())
                .and_then(|pk| pk.strip_prefix(&table::contact_pk(tenant, scope, "")))
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
    tenant: &str,
    scope: &str,
    ids: &[String],
) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
    let key = |id: &str| dynamo::contact_key(tenant, scope, id);
    if let [id] = ids {
        let item = dynamo::get_item(client, table_name, key(id), "GetItem contact").await?;
        return Ok(item.into_iter().collect());
    }
    let mut keys = KeysAndAttributes::builder().consistent_read(true);
    for id in ids {
        keys = keys.keys(key(id));
    }
    let mut request = HashMap::from([(
        table_name.to_owned(),
        keys.build().map_err(|e| StoreError::Rejected {
            operation: "BatchGetItem contact",
            source: Box::new(e),
        })?,
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
            .map_err(|e| failure("BatchGetItem contact", e))?;
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
    Err(StoreError::Unavailable {
        operation: "BatchGetItem contact",
        source: "keys left unprocessed after 5 rounds".into(),
    })
}

/// An opt-out or opt-in decision for one customer: a signal the status
/// function read from a webhook, or a manual one (`chasqui contacts`).
#[derive(Debug, Clone, PartialEq)]
pub struct OptWrite {
    /// The tenant whose customer it is (`shared::tenant`).
    pub tenant: String,
    /// The business number: the scope of the customer's items.
    pub phone_number_id: String,
    /// The customer id whose item holds the decision: the BSUID when known,
    /// else the phone.
    pub customer_id: String,
    /// `true` to opt out, `false` to opt in.
    pub opted_out: bool,
    /// The signal's time, Unix milliseconds (Meta's time of the webhook, or now
    /// for a manual one).
    pub at: u64,
    /// Where the signal came from.
    pub source: OptSource,
    /// The `wamid` (or message id) that carried the signal; `None` for Meta's
    /// preference or a manual decision.
    pub message_id: Option<String>,
    /// `<at, 13 digits>#<signal id>`: decisions are ordered by it, so the
    /// newest signal wins whatever the arrival order, and a tie has one
    /// answer too.
    pub decision: String,
    /// When the write happens, Unix milliseconds (`updated_at`).
    pub now: u64,
}

/// What became of an opt decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutcome {
    /// It is now the contact's latest decision.
    Applied,
    /// It already was (a replay).
    Replayed,
    /// A newer decision is in place; nothing changed.
    Superseded,
}

/// Port: a customer's opt decisions.
#[async_trait]
pub trait OptStore: Send + Sync {
    /// Applies a decision if it is newer than the one on the customer's item.
    async fn decide_opt(&self, opt: &OptWrite) -> Result<OptOutcome, StoreError>;
}

/// Adapter: the contact items of the one table, through the AWS SDK.
#[derive(Clone)]
pub struct DynamoContacts {
    client: Client,
    table: String,
}

impl DynamoContacts {
    /// An adapter on the contact items of the table `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// `user_id` for an item keyed by BSUID, `wa_id` for one keyed by phone:
/// the attribute by which an item names its own id.
pub fn own_id_attribute(id: &str) -> &'static str {
    if crate::customer::is_user_id(id) {
        attr::USER_ID
    } else {
        attr::WA_ID
    }
}

#[async_trait]
impl OptStore for DynamoContacts {
    async fn decide_opt(&self, o: &OptWrite) -> Result<OptOutcome, StoreError> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut e = Update::default();
        e.set(attr::OPTED_OUT, AttributeValue::Bool(o.opted_out));
        e.set(
            if o.opted_out {
                attr::OPTED_OUT_AT
            } else {
                attr::OPTED_IN_AT
            },
            n(o.at),
        );
        e.set(attr::OPT_SOURCE, s(o.source.as_str()));
        match &o.message_id {
            Some(id) => e.set(attr::OPT_MESSAGE_ID, s(id)),
            None => e.remove(attr::OPT_MESSAGE_ID),
        };
        e.set(attr::OPT_DECISION, s(&o.decision));
        e.set(attr::PHONE_NUMBER_ID, s(&o.phone_number_id));
        e.set(attr::TENANT, s(&o.tenant));
        // The item names its own id, as a phone item always did.
        e.set(own_id_attribute(&o.customer_id), s(&o.customer_id));
        e.set(attr::UPDATED_AT, n(o.now));
        let decision = e.name(attr::OPT_DECISION);
        let this = e.value(s(&o.decision));
        let condition = format!("attribute_not_exists({decision}) OR {decision} < {this}");
        let key = dynamo::contact_key(&o.tenant, &o.phone_number_id, &o.customer_id);
        let result = e
            .update_item(&self.client, &self.table, key, Some(condition))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(OptOutcome::Applied),
            Err(err) if is_condition_failure(&err) => {
                let current = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    })
                    .and_then(|item| item.get(attr::OPT_DECISION))
                    .and_then(|v| v.as_s().ok());
                Ok(if current == Some(&o.decision) {
                    OptOutcome::Replayed
                } else {
                    OptOutcome::Superseded
                })
            }
            Err(err) => Err(failure("UpdateItem contact opt", err)),
        }
    }
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
