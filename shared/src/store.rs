//! What a store port answers when the table fails it: the one error of every
//! port onto the table (the sender's ledger and contact book, the status
//! function's stores, the contact ports the CLI shares with it). The DynamoDB
//! adapters build it (`crate::table::dynamo::failure`); nothing here knows
//! about the SDK.

use crate::error::{Cause, Chain};
use crate::record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a network fault, a service error: a retry may help.
    #[error("{operation} failed: {}", Chain(source.as_ref()))]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Cause,
    },
    /// The table refused the request as invalid: a retry cannot help.
    #[error("{operation} was refused: {}", Chain(source.as_ref()))]
    Rejected {
        operation: &'static str,
        #[source]
        source: Cause,
    },
    #[error("{operation} returned an unreadable item: {source}")]
    Unreadable {
        operation: &'static str,
        #[source]
        source: RecordError,
    },
}

impl StoreError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
