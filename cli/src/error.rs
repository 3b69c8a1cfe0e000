//! The CLI's error: what went wrong and what to do about it.

use std::fmt;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
    /// The process exit code (1 unless said otherwise).
    pub code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            code: 1,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// An AWS SDK error with its whole chain, and where to look.
    pub fn aws(what: &str, err: impl std::error::Error) -> Self {
        Self::new(format!("{what}: {}", aws_smithy_context(&err))).hint(
            "check that the stack is running (`make dev`) or, for a deployed stack, your AWS credentials and region",
        )
    }
}

fn aws_smithy_context(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<crate::sandbox::client::ClientError> for CliError {
    fn from(e: crate::sandbox::client::ClientError) -> Self {
        Self::new(e.to_string())
    }
}
