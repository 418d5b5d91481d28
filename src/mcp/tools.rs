//! Building blocks for writing an MCP server's tools, resources and prompts on the mesh: a tool
//! descriptor, a change broadcast, typed arguments and results. Used by the reference server and the
//! conformance fixtures alike.

use rmcp::model::{CallToolResult, ContentBlock, GetPromptResult, Prompt, Tool};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::backend::{McpBackend, SendFilter};
use super::jsonrpc::notification_json;
use super::server::Params;
use crate::error::{MeshError, Result};
use crate::sse;

/// Broadcasts a `*/list_changed` notification to every session stream and to the listen streams
/// that asked for `topic`.
pub async fn broadcast_change<B: McpBackend>(
    backend: &B,
    method: &str,
    topic: &str,
) -> Result<crate::protocol::SendReport> {
    let notification = notification_json(method, json!({}));
    backend.notify(None, &sse::encode_message(&notification, None), &SendFilter::change(topic)).await
}

/// A tool descriptor from a name, a description and a JSON Schema object.
pub fn tool(name: &str, description: &str, input_schema: Value) -> Tool {
    let schema: Map<String, Value> = match input_schema {
        Value::Object(schema) => schema,
        _ => Map::from_iter([("type".to_owned(), json!("object"))]),
    };
    Tool::new(name.to_owned(), description.to_owned(), std::sync::Arc::new(schema))
}

/// Builds an `rmcp::model` value from its wire form (several of its types have no public constructor
/// for every field).
pub fn wire<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| MeshError::Protocol(format!("fixture: {e}")))
}

/// A successful tool result holding one text block.
pub fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A required string argument, or an invalid-params error naming it.
pub fn string_arg(params: &Params, name: &str) -> Result<String> {
    params
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| MeshError::InvalidParams(format!("\"{name}\" must be a string")))
}

/// A prompt descriptor from its wire form.
pub fn prompt(value: Value) -> Prompt {
    let name = value.get("name").and_then(Value::as_str).unwrap_or("prompt").to_owned();
    wire(value).unwrap_or_else(|_| Prompt::new(name, None::<String>, None))
}

/// A prompt result from its messages in wire form.
pub fn prompt_result(messages: Value) -> Result<GetPromptResult> {
    wire(json!({ "messages": messages }))
}
