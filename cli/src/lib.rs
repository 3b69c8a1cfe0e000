//! Chasqui's local loop and the `chasqui` CLI.
//!
//! - [`sandbox`]: a Cloud API stand-in that answers as Meta does and sends
//!   signed status and inbound webhooks.
//! - [`runtime`]: a local Lambda Runtime API that runs the real function
//!   binaries.
//! - [`poller`]: SQS event source mappings with Lambda's batch semantics.
//! - [`gateway`]: an API Gateway (HTTP API 2.0) front for HTTP functions.
//! - [`stack`]: the three functions wired to their queues, as the SAM
//!   template wires them.

pub mod clock;
pub mod commands;
pub mod error;
pub mod firer;
pub mod gateway;
pub mod http;
pub mod poller;
pub mod runtime;
pub mod sandbox;
pub mod stack;
pub mod target;
