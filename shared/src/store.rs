//! What a store port answers when the table fails it: the one error of every
//! port onto the table (the sender's ledger and contact book, the status
//! function's stores, the contact ports the CLI shares with it). The DynamoDB
//! adapters build it (`crate::table::dynamo::failure`); nothing here knows
//! about the SDK.

use crate::error::{Cause, Chain};
use crate::record::RecordError;

/// Why a store port's call failed; [`StoreError::is_retryable`] says whether to
/// try again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a network fault, a service error: a retry may help.
    #[error("{operation} failed: {}", Chain(source.as_ref()))]
    Unavailable {
        /// The DynamoDB operation and item (`UpdateItem message`, ...).
        operation: &'static str,
        /// What DynamoDB (or the SDK on the way) reported, whole.
        #[source]
        source: Cause,
    },
    /// The table refused the request as invalid: a retry cannot help.
    #[error("{operation} was refused: {}", Chain(source.as_ref()))]
    Rejected {
        /// The DynamoDB operation and item.
        operation: &'static str,
        /// What DynamoDB (or the SDK on the way) reported, whole.
        #[source]
        source: Cause,
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
