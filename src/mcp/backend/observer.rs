//! What the server tells the mesh about its own work, for metrics and logs: tool calls and their
//! outcomes, and requests refused for their credentials. The mesh counts them (`crate::metrics`);
//! nothing here may fail or block a request. Must not touch the runtime.

use crate::error::MeshError;
use crate::metrics::ToolOutcome;

/// Hears about tool calls and refused requests.
pub trait Observer {
    /// A `tools/call` of the registered tool `tool` ended with `outcome` after `duration_ms`.
    fn tool_called(&self, tool: &str, outcome: ToolOutcome, duration_ms: f64);
    /// A request was refused for its credentials (`MissingToken`, `InvalidToken`,
    /// `InsufficientScope`, `AuthUnavailable`); other errors are not passed.
    fn credentials_refused(&self, reason: &'static str, error: &MeshError);
}

/// The `reason` label of an error that refuses a request for its credentials; `None` for others.
pub fn credential_refusal(error: &MeshError) -> Option<&'static str> {
    match error {
        MeshError::MissingToken => Some("missing_token"),
        MeshError::InvalidToken(_) => Some("invalid_token"),
        MeshError::InsufficientScope(_) => Some("insufficient_scope"),
        MeshError::AuthUnavailable(_) => Some("auth_unavailable"),
        _ => None,
    }
}
