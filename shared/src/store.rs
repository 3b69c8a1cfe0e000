//! What a store port answers when the table fails it: the one error of the
//! status function's ports and of the contact ports the CLI shares with it.
//! The DynamoDB adapters build it (`crate::table::dynamo::failure`); nothing
//! here knows about the SDK.

use crate::record::RecordError;

/// Why a store port's call failed; [`StoreError::is_retryable`] says whether to
/// try again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a network fault, a service error: a retry may help.
    #[error("{operation} failed: {reason}")]
    Unavailable {
        /// The DynamoDB operation and item (`UpdateItem message`, ...).
        operation: &'static str,
        /// What DynamoDB reported.
        reason: String,
    },
    /// The table refused the request as invalid: a retry cannot help.
    #[error("{operation} was refused: {reason}")]
    Rejected {
        /// The DynamoDB operation and item.
        operation: &'static str,
        /// What DynamoDB reported.
        reason: String,
    },
    /// An item came back that Chasqui cannot read: a retry cannot help, the
    /// item needs fixing.
    #[error("{operation} returned an unreadable item: {source}")]
    Unreadable {
        /// The DynamoDB operation and item.
        operation: &'static str,
        /// Which attribute was wrong, and how.
        #[source]
        source: RecordError,
    },
}

impl StoreError {
    /// Whether trying again later may help: only for
    /// [`StoreError::Unavailable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
