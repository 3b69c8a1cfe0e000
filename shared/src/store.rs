//! What a store port answers when the table fails it: the one error of the
//! status function's ports and of the contact ports the CLI shares with it.
//! The DynamoDB adapters build it (`crate::table::dynamo::failure`); nothing
//! here knows about the SDK.

use crate::record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a network fault, a service error: a retry may help.
    #[error("{operation} failed: {reason}")]
    Unavailable {
        operation: &'static str,
        reason: String,
    },
    /// The table refused the request as invalid: a retry cannot help.
    #[error("{operation} was refused: {reason}")]
    Rejected {
        operation: &'static str,
        reason: String,
    },
    #[error("{operation} returned an unreadable item: {source}")]
    Unreadable {
        operation: &'static str,
        #[source]
        source: RecordError,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
