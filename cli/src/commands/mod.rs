//! The `chasqui` subcommands. Each prints a human-readable result, or JSON
//! with `--json`, and fails with a [`CliError`] that says what to do.

pub mod bindings;
pub mod callbacks;
pub mod contacts;
pub mod demo;
pub mod dlq;
pub mod inbound;
pub mod keys;
pub mod local;
pub mod media;
pub mod numbers;
pub mod send;
pub mod status;
pub mod templates;
pub mod webhook;

use serde_json::Value;

pub use crate::error::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `human` or, with `--json`, `json` on one line.
    pub fn result(&self, human: &str, json: &Value) {
        if self.json {
            println!("{json}");
        } else {
            println!("{human}");
        }
    }

    /// A progress line: on stderr, and only for people.
    pub fn progress(&self, line: &str) {
        if !self.json {
            eprintln!("{line}");
        }
    }
}
