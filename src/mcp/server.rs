//! The MCP server: a registry of tools and resources, and the Streamable HTTP dispatcher (revision
//! 2025-11-25 and the session-based revisions before it) over any [`McpBackend`].
//!
//! `handle` turns one HTTP request into either a reply or an instruction to open the session's GET
//! stream, which the Workers glue carries out through the mesh (`SessionManager::create`). Request-
//! level failures (unknown method, bad params) are JSON-RPC errors in a 200 response; transport
//! failures carry their HTTP status. Must not touch the runtime.

use std::rc::Rc;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use rmcp::model::{
    CallToolResult, Implementation, InitializeResult, JsonObject, ProtocolVersion, Resource,
    ReadResourceResult, RequestId, ResourceContents, ServerCapabilities, Tool,
};
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::http::{self, HttpReply, HttpRequest, HEADER_SESSION_ID};
use super::jsonrpc::{self, Incoming};
use crate::error::{MeshError, Result};
use crate::protocol::{SessionRecord, UpdateSession};

/// What the transport should do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Reply(HttpReply),
    /// Open the GET stream of this (existing, validated) session.
    OpenStream { session: String },
}

/// What a tool handler gets besides its arguments.
pub struct ToolContext<'a, B> {
    pub backend: &'a B,
    pub session: &'a str,
}

pub type ToolHandler<B> =
    Rc<dyn for<'a> Fn(ToolContext<'a, B>, JsonObject) -> LocalBoxFuture<'a, Result<CallToolResult>>>;
pub type ResourceReader<B> = Rc<dyn for<'a> Fn(&'a B) -> LocalBoxFuture<'a, Result<String>>>;

struct ToolEntry<B> {
    tool: Tool,
    handler: ToolHandler<B>,
}

struct ResourceEntry<B> {
    uri: String,
    name: String,
    description: String,
    mime_type: String,
    read: ResourceReader<B>,
}

pub struct McpServer<B> {
    info: Implementation,
    instructions: Option<String>,
    tools: Vec<ToolEntry<B>>,
    resources: Vec<ResourceEntry<B>>,
}

impl<B: McpBackend> McpServer<B> {
    pub fn new(name: &str, version: &str) -> Self {
        Self { info: Implementation::new(name, version), instructions: None, tools: Vec::new(), resources: Vec::new() }
    }

    pub fn with_instructions(mut self, text: &str) -> Self {
        self.instructions = Some(text.to_owned());
        self
    }

    /// Registers a tool; `input_schema` must be a JSON Schema object.
    pub fn tool(mut self, name: &str, description: &str, input_schema: Value, handler: ToolHandler<B>) -> Self {
        let schema = match input_schema {
            Value::Object(schema) => schema,
            _ => Map::from_iter([("type".to_owned(), json!("object"))]),
        };
        self.tools.push(ToolEntry { tool: Tool::new(name.to_owned(), description.to_owned(), Arc::new(schema)), handler });
        self
    }

    /// Registers a text resource.
    pub fn resource(mut self, uri: &str, name: &str, description: &str, mime_type: &str, read: ResourceReader<B>) -> Self {
        self.resources.push(ResourceEntry {
            uri: uri.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            mime_type: mime_type.to_owned(),
            read,
        });
        self
    }

    fn capabilities(&self) -> ServerCapabilities {
        // rmcp's builder needs its `macros` feature; the wire form is the same.
        serde_json::from_value(json!({
            "logging": {},
            "tools": { "listChanged": true },
            "resources": { "subscribe": true, "listChanged": true }
        }))
        .unwrap_or_default()
    }

    /// Handles one request on the MCP endpoint.
    pub async fn handle(&self, backend: &B, request: &HttpRequest, max_body_bytes: u32) -> Outcome {
        let result = match request.method.as_str() {
            "POST" => self.handle_post(backend, request, max_body_bytes).await,
            "GET" => self.handle_get(backend, request).await,
            "DELETE" => self.handle_delete(backend, request).await,
            _ => Err(MeshError::MethodNotAllowed),
        };
        result.unwrap_or_else(|error| Outcome::Reply(HttpReply::error(&error, None)))
    }

    async fn open_session(&self, backend: &B, request: &HttpRequest) -> Result<(String, SessionRecord)> {
        let session = http::require_session_id(request)?.to_owned();
        http::check_protocol_version(request)?;
        let record = backend.load_session(&session).await?.ok_or(MeshError::SessionNotFound)?;
        Ok((session, record))
    }

    async fn handle_get(&self, backend: &B, request: &HttpRequest) -> Result<Outcome> {
        http::check_get_accept(request)?;
        let (session, _) = self.open_session(backend, request).await?;
        Ok(Outcome::OpenStream { session })
    }

    async fn handle_delete(&self, backend: &B, request: &HttpRequest) -> Result<Outcome> {
        let session = http::require_session_id(request)?;
        if backend.end_session(session).await? {
            Ok(Outcome::Reply(HttpReply::empty(200)))
        } else {
            Err(MeshError::SessionNotFound)
        }
    }

    async fn handle_post(&self, backend: &B, request: &HttpRequest, max_body_bytes: u32) -> Result<Outcome> {
        http::check_post_accept(request)?;
        http::check_content_type(request)?;
        http::check_body_length(&request.body, max_body_bytes)?;
        let message = jsonrpc::parse_message(&request.body)?;
        if let Incoming::Request { id, method, params } = &message {
            if method == "initialize" {
                return self.initialize(backend, request, id.clone(), params).await;
            }
        }
        let (session, record) = self.open_session(backend, request).await?;
        match message {
            Incoming::Notification { method, .. } => {
                if method == "notifications/initialized" {
                    backend
                        .update_session(UpdateSession { session, initialized: Some(true), ..Default::default() })
                        .await?;
                }
                Ok(Outcome::Reply(HttpReply::empty(202)))
            }
            // Answers to server→client requests: accepted; routing them to a waiter is the job of the
            // full server (issue: server-to-client requests across isolates).
            Incoming::Response { .. } | Incoming::ErrorReply { .. } => Ok(Outcome::Reply(HttpReply::empty(202))),
            Incoming::Request { id, method, params } => {
                let reply = match self.dispatch(backend, &session, &record, &method, params).await {
                    Ok(result) => HttpReply::json(200, jsonrpc::response_json(id, legacy_result(result))),
                    Err(error) if is_request_level(&error) => {
                        HttpReply::json(200, jsonrpc::error_json(Some(id), &error))
                    }
                    Err(error) => HttpReply::error(&error, Some(id)),
                };
                Ok(Outcome::Reply(reply))
            }
        }
    }

    async fn initialize(
        &self,
        backend: &B,
        request: &HttpRequest,
        id: RequestId,
        params: &Map<String, Value>,
    ) -> Result<Outcome> {
        if let Some(existing) = http::session_id(request)? {
            if backend.load_session(existing).await?.is_some() {
                return Ok(Outcome::Reply(HttpReply::error(&MeshError::AlreadyInitialized, Some(id))));
            }
        }
        let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
            let error = MeshError::InvalidParams("initialize needs \"protocolVersion\"".into());
            return Ok(Outcome::Reply(HttpReply::json(200, jsonrpc::error_json(Some(id), &error))));
        };
        let version = super::negotiate_version(requested);
        let session = backend.new_session_id();
        let record = SessionRecord {
            protocol_version: version.to_owned(),
            initialized: false,
            client_info: params.get("clientInfo").cloned().unwrap_or(Value::Null),
            client_capabilities: params.get("capabilities").cloned().unwrap_or(Value::Null),
            log_level: None,
            subscriptions: Vec::new(),
            created_ms: backend.now_ms(),
        };
        backend.register_session(&session, record).await?;
        let mut result = InitializeResult::new(self.capabilities())
            .with_server_info(self.info.clone())
            .with_protocol_version(serde_json::from_value::<ProtocolVersion>(json!(version))?);
        if let Some(text) = &self.instructions {
            result = result.with_instructions(text.clone());
        }
        let body = jsonrpc::response_json(id, serde_json::to_value(result)?);
        Ok(Outcome::Reply(HttpReply::json(200, body).with_header(HEADER_SESSION_ID, &session)))
    }

    async fn dispatch(
        &self,
        backend: &B,
        session: &str,
        record: &SessionRecord,
        method: &str,
        params: Map<String, Value>,
    ) -> Result<Value> {
        match method {
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({ "tools": self.tools.iter().map(|t| &t.tool).collect::<Vec<_>>() })),
            "tools/call" => self.call_tool(backend, session, params).await,
            "resources/list" => Ok(json!({ "resources": self.resources.iter().map(resource_json).collect::<Vec<_>>() })),
            "resources/templates/list" => Ok(json!({ "resourceTemplates": [] })),
            "resources/read" => self.read_resource(backend, &params).await,
            "resources/subscribe" => {
                let uri = required_str(&params, "uri")?;
                backend.subscribe(uri, session).await?;
                let update = UpdateSession { session: session.to_owned(), add_subscription: Some(uri.to_owned()), ..Default::default() };
                backend.update_session(update).await?;
                Ok(json!({}))
            }
            "resources/unsubscribe" => {
                let uri = required_str(&params, "uri")?;
                backend.unsubscribe(uri, session).await?;
                let update = UpdateSession { session: session.to_owned(), remove_subscription: Some(uri.to_owned()), ..Default::default() };
                backend.update_session(update).await?;
                Ok(json!({}))
            }
            "logging/setLevel" => {
                let level = required_str(&params, "level")?;
                if !LOG_LEVELS.contains(&level) {
                    return Err(MeshError::InvalidParams(format!("unknown log level {level:?}")));
                }
                let update = UpdateSession { session: session.to_owned(), log_level: Some(level.to_owned()), ..Default::default() };
                backend.update_session(update).await?;
                Ok(json!({}))
            }
            "prompts/list" => Ok(json!({ "prompts": [] })),
            _ => {
                let _ = record;
                Err(MeshError::MethodNotFound(method.chars().take(128).collect()))
            }
        }
    }

    async fn call_tool(&self, backend: &B, session: &str, params: Map<String, Value>) -> Result<Value> {
        let name = required_str(&params, "name")?;
        let entry = self
            .tools
            .iter()
            .find(|entry| entry.tool.name == name)
            .ok_or_else(|| MeshError::InvalidParams(format!("unknown tool {name:?}")))?;
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) => arguments.clone(),
            Some(_) => return Err(MeshError::InvalidParams("\"arguments\" must be an object".into())),
        };
        let result = (entry.handler)(ToolContext { backend, session }, arguments).await?;
        Ok(serde_json::to_value(result)?)
    }

    async fn read_resource(&self, backend: &B, params: &Map<String, Value>) -> Result<Value> {
        let uri = required_str(params, "uri")?;
        let entry = self
            .resources
            .iter()
            .find(|entry| entry.uri == uri)
            .ok_or_else(|| MeshError::InvalidParams(format!("resource not found: {uri}")))?;
        let text = (entry.read)(backend).await?;
        let contents = ResourceContents::text(text, uri.to_owned()).with_mime_type(entry.mime_type.clone());
        Ok(serde_json::to_value(ReadResourceResult::new(vec![contents]))?)
    }
}

/// The log levels of `logging/setLevel`, least severe first.
pub const LOG_LEVELS: &[&str] = &["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

fn resource_json<B>(entry: &ResourceEntry<B>) -> Value {
    let resource = Resource::new(entry.uri.clone(), entry.name.clone())
        .with_description(entry.description.clone())
        .with_mime_type(entry.mime_type.clone());
    serde_json::to_value(resource).unwrap_or(Value::Null)
}

/// Errors answered inside a 200 JSON-RPC response rather than with an HTTP status.
fn is_request_level(error: &MeshError) -> bool {
    matches!(error, MeshError::InvalidParams(_) | MeshError::MethodNotFound(_) | MeshError::InvalidRequest(_))
}

/// Session-based revisions have no `resultType`; rmcp's constructors add it for 2026-07-28.
fn legacy_result(mut result: Value) -> Value {
    if let Value::Object(object) = &mut result {
        object.remove("resultType");
    }
    result
}

pub fn required_str<'a>(params: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams(format!("\"{key}\" must be a string")))
}
