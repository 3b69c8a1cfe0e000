//! The inbound record's `media` map: the port and its DynamoDB adapter.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use shared::media::{MediaInfo, MediaJob, state};
use shared::store::StoreError;
use shared::table::attr::inbound as inbound_attr;
use shared::table::dynamo::{Update, failure, from_json, is_condition_failure, key};
use shared::table::{PK, contact_pk, inbound_sk};

/// Port: where a file's outcome is recorded.
#[async_trait]
pub trait MediaRecords: Send + Sync {
    /// Sets the job's inbound record's `media` to `info`. A failure never
    /// overwrites a stored file; nothing is written when the record is
    /// gone (its TTL passed). `Ok(false)`: nothing was written.
    async fn set_media(&self, job: &MediaJob, info: &MediaInfo) -> Result<bool, StoreError>;
}

/// Adapter: the table.
pub struct DynamoMediaRecords {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoMediaRecords {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl MediaRecords for DynamoMediaRecords {
    async fn set_media(&self, job: &MediaJob, info: &MediaInfo) -> Result<bool, StoreError> {
        let mut e = Update::default();
        let value = serde_json::to_value(info).unwrap_or_default();
        e.set(inbound_attr::MEDIA, from_json(&value));
        let pk = e.name(PK);
        let mut condition = format!("attribute_exists({pk})");
        if info.state != state::STORED {
            let media = e.name(inbound_attr::MEDIA);
            let st = e.name("state");
            let stored = e.value(AttributeValue::S(state::STORED.to_owned()));
            condition.push_str(&format!(
                " AND (attribute_not_exists({media}.{st}) OR {media}.{st} <> {stored})"
            ));
        }
        let item_key = key(
            contact_pk(&job.tenant, &job.phone_number_id, &job.customer_id),
            inbound_sk(job.at, &job.inbound_id),
        );
        match e
            .update_item(&self.client, &self.table, item_key, Some(condition))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure("UpdateItem inbound media", err)),
        }
    }
}
