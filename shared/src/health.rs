//! The account and business number health items the status function keeps
//! from Meta's account and number webhooks (`docs/data-model.md`), read back
//! the way `chasqui numbers` lists them. Their attributes are
//! [`crate::table::attr::health`].

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::StoreError;
use crate::table::{self, dynamo};

/// Every account and number health item of a tenant, accounts before their
/// numbers (the sort key's order): one `Query` of its health partition,
/// paged.
pub async fn read_all(
    client: &Client,
    table_name: &str,
    tenant: &str,
) -> Result<Vec<dynamo::Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table_name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_values(":pk", AttributeValue::S(table::health_pk(tenant)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| dynamo::failure("Query health", e))?;
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}
