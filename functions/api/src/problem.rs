//! Every refusal and failure in one shape: RFC 9457 problem details
//! (`application/problem+json`), with `reason` (a word a program can
//! branch on) and, when one field is at fault, `path` (its JSON path).
//! The `detail` says what to change; it never holds a key, a phone number,
//! a message text or an internal URL (the reasons are Chasqui's own words).

use lambda_http::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;

/// The media type of a problem.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem: the answer to a refused or failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Problem {
    /// `urn:chasqui:problem:<reason>`: the kind of problem
    /// (`docs/api.md` lists them).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened and what to change.
    pub detail: String,
    /// The kind of problem in one word (`invalid_request`, `rate_limited`).
    pub reason: String,
    /// The JSON path of the field at fault (`message.text.body`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Seconds until the call may be made again (`429`, also in
    /// `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status` with `reason` and `detail`.
    pub fn new(status: StatusCode, reason: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:chasqui:problem:{reason}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            reason: reason.to_owned(),
            path: None,
            retry_after: None,
        }
    }

    /// The same problem, naming the field at fault.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `400`: the request is not one Chasqui can send (the sender's refusal).
    pub fn invalid(path: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail).at(path)
    }

    /// `404` for a message or contact the caller's tenant does not have
    /// (another tenant's are not found either).
    pub fn not_found(reason: &str, what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            reason,
            format!("no {what} with this id for this key's tenant"),
        )
    }

    /// `503`: a part of the stack failed; the caller may retry. `detail`
    /// names the part, never its URL or ARN.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }
}
