//! The account and business number health items the status function keeps
//! from Meta's account and number webhooks (`docs/data-model.md`), read back
//! the way `chasqui numbers` lists them. Their attributes are
//! [`crate::table::attr::health`].

use aws_sdk_dynamodb::Client;

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
    dynamo::query_partition(client, table_name, &table::health_pk(tenant))
        .await
        .map_err(|e| dynamo::failure("Query health", e))
}
