//! How Chasqui's errors keep their cause. An adapter's error holds the error
//! it got (the SDK's, with its code and request id, or the I/O error under
//! it) as its `#[source]`, so code can still ask what happened, and says
//! whether a retry may help (`is_retryable`). Its `Display` is the whole story
//! on one line, the operation then every cause under it ([`Chain`]), because
//! that is what a log line prints.

use std::error::Error;
use std::fmt;

/// A failure's cause, kept whole.
pub type Cause = Box<dyn Error + Send + Sync + 'static>;

/// Displays an error and each of its sources, `: `-separated, on one line
/// (the SDK's own errors say only "service error" without their sources).
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_in_order() {
        let err = Outer(std::io::Error::other("inner"));
        assert_eq!(Chain(&err).to_string(), "outer: inner");
        let cause: Cause = "plain".into();
        assert_eq!(Chain(cause.as_ref()).to_string(), "plain");
    }
}
