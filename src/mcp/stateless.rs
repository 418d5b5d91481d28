//! The 2026-07-28 transport: no `initialize` and no sessions. Every request carries its protocol
//! version, client capabilities and log level in `_meta`, and `Mcp-Method` / `Mcp-Name` headers that
//! must agree with the body. Questions to the client end a call with an `input_required` result
//! (MRTR) instead of a server→client request. Must not touch the runtime.

use std::rc::Rc;

use base64::Engine as _;
use rmcp::model::RequestId;
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::context::{Era, RequestContext};
use super::http::{HttpReply, HttpRequest, Outcome, HEADER_PROTOCOL_VERSION};
use super::jsonrpc::{self, Incoming};
use super::server::McpServer;
use crate::error::{MeshError, Result};

/// Revisions served statelessly.
pub const STATELESS_PROTOCOL_VERSIONS: &[&str] = &["2026-07-28"];
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const HEADER_METHOD: &str = "mcp-method";
pub const HEADER_NAME: &str = "mcp-name";

/// Methods that stream their answer (they may send progress and logs first).
const STREAMED_METHODS: &[&str] = &["tools/call"];

/// Whether `MCP-Protocol-Version` names a stateless revision (dated on or after 2026-07-28).
pub fn is_stateless_version_header(request: &HttpRequest) -> bool {
    request.header(HEADER_PROTOCOL_VERSION).is_some_and(|v| is_stateless_version(v.trim()))
}

fn is_stateless_version(version: &str) -> bool {
    version.len() == 10 && version.as_bytes()[4] == b'-' && version >= STATELESS_PROTOCOL_VERSIONS[0]
}

/// Whether the message names its revision in `_meta` (only stateless requests do).
pub fn carries_stateless_meta(message: &Incoming) -> bool {
    meta_of(message).is_some_and(|meta| meta.contains_key(META_PROTOCOL_VERSION))
}

fn meta_of(message: &Incoming) -> Option<&Map<String, Value>> {
    match message {
        Incoming::Request { params, .. } | Incoming::Notification { params, .. } => {
            params.get("_meta").and_then(Value::as_object)
        }
        _ => None,
    }
}

pub async fn handle_post<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    message: Incoming,
) -> Result<Outcome> {
    let id = message.request_id().cloned();
    match message {
        Incoming::Notification { .. } => Ok(Outcome::Reply(HttpReply::empty(202))),
        Incoming::Response { .. } | Incoming::ErrorReply { .. } => {
            Err(MeshError::InvalidRequest("clients do not POST responses in this revision".into()))
        }
        Incoming::Request { id, method, params } => match check_request(request, &method, &params) {
            Ok(meta) => Ok(run(server, backend, id, method, params, meta).await),
            Err(error) => Ok(Outcome::Reply(HttpReply::json(error.http_status(), error_body(Some(id), &error)))),
        },
    }
    .or_else(|error| Ok(Outcome::Reply(HttpReply::json(error.http_status(), error_body(id, &error)))))
}

/// Validates version and headers; returns the request's `_meta`.
fn check_request(request: &HttpRequest, method: &str, params: &Map<String, Value>) -> Result<Map<String, Value>> {
    let meta = params.get("_meta").and_then(Value::as_object).cloned().unwrap_or_default();
    let body_version = meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str);
    let header_version = request.header(HEADER_PROTOCOL_VERSION).map(str::trim);
    let version = match (body_version, header_version) {
        (Some(body), Some(header)) if body != header => {
            return Err(MeshError::HeaderMismatch(format!(
                "MCP-Protocol-Version {header:?} does not match _meta {body:?}"
            )))
        }
        (Some(version), _) | (None, Some(version)) => version,
        (None, None) => return Err(MeshError::HeaderMismatch("the protocol version is missing".into())),
    };
    if !STATELESS_PROTOCOL_VERSIONS.contains(&version) {
        return Err(MeshError::UnsupportedProtocolVersion(version.chars().take(64).collect()));
    }
    match request.header(HEADER_METHOD).map(decode_header_value) {
        None => return Err(MeshError::HeaderMismatch("Mcp-Method is required".into())),
        Some(Some(value)) if value == method => {}
        Some(_) => return Err(MeshError::HeaderMismatch(format!("Mcp-Method does not match {method:?}"))),
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => None,
    };
    if let Some(name) = named {
        match request.header(HEADER_NAME).map(decode_header_value) {
            None => return Err(MeshError::HeaderMismatch("Mcp-Name is required".into())),
            Some(Some(value)) if value == name => {}
            Some(_) => return Err(MeshError::HeaderMismatch(format!("Mcp-Name does not match {name:?}"))),
        }
    }
    Ok(meta)
}

/// Header values that are not plain ASCII arrive as `=?base64?<data>?=`.
pub fn decode_header_value(raw: &str) -> Option<String> {
    let raw = raw.trim();
    match raw.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(raw.to_owned()),
    }
}

async fn run<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    id: RequestId,
    method: String,
    mut params: Map<String, Value>,
    meta: Map<String, Value>,
) -> Outcome {
    let ctx = RequestContext {
        backend,
        era: Era::Stateless,
        session: None,
        client_capabilities: meta.get(META_CLIENT_CAPABILITIES).cloned().unwrap_or(Value::Null),
        log_level: meta.get(META_LOG_LEVEL).and_then(Value::as_str).map(str::to_owned),
        progress_token: meta.get("progressToken").cloned(),
        outbox: None,
        input_responses: match params.remove("inputResponses") {
            Some(Value::Object(responses)) => responses,
            _ => Map::new(),
        },
    };
    let server_info = serde_json::to_value(&server.info).unwrap_or(Value::Null);
    if method == "server/discover" {
        let result = discover(&server);
        return Outcome::Reply(HttpReply::json(200, jsonrpc::response_json(id, with_server_info(result, &server_info))));
    }
    if STREAMED_METHODS.contains(&method.as_str()) {
        let finish = move |result: Result<Value>| finish_body(id, result, &server_info);
        return super::legacy::streamed(server, ctx, method, params, None, finish);
    }
    let result = server.dispatch(ctx, &method, params).await;
    let status = match &result {
        Err(MeshError::MethodNotFound(_)) => 404,
        Err(error @ (MeshError::UnsupportedProtocolVersion(_) | MeshError::HeaderMismatch(_))) => error.http_status(),
        _ => 200,
    };
    Outcome::Reply(HttpReply::json(status, finish_body(id, result, &server_info)))
}

/// The response body for a finished request: a result (with `resultType` and `serverInfo`), an
/// `input_required` result, or an error.
fn finish_body(id: RequestId, result: Result<Value>, server_info: &Value) -> String {
    match result {
        Ok(result) => jsonrpc::response_json(id, with_server_info(complete(result), server_info)),
        Err(MeshError::InputRequired(questions)) => {
            let requests: Map<String, Value> = questions
                .into_iter()
                .map(|(key, method, params)| (key, json!({ "method": method, "params": params })))
                .collect();
            let result = json!({ "resultType": "input_required", "inputRequests": requests });
            jsonrpc::response_json(id, with_server_info(result, server_info))
        }
        Err(error) => error_body(Some(id), &error),
    }
}

fn error_body(id: Option<RequestId>, error: &MeshError) -> String {
    match error {
        // The stateless revision reports a missing resource as invalid params.
        MeshError::ResourceNotFound(_) => {
            let mut body: Value = serde_json::from_str(&jsonrpc::error_json(id, error)).unwrap_or_default();
            body["error"]["code"] = json!(-32602);
            body.to_string()
        }
        MeshError::UnsupportedProtocolVersion(requested) => {
            let mut body: Value = serde_json::from_str(&jsonrpc::error_json(id, error)).unwrap_or_default();
            body["error"]["data"] = json!({ "supported": STATELESS_PROTOCOL_VERSIONS, "requested": requested });
            body.to_string()
        }
        _ => jsonrpc::error_json(id, error),
    }
}

fn complete(mut result: Value) -> Value {
    if let Value::Object(object) = &mut result {
        object.entry("resultType").or_insert(json!("complete"));
    }
    result
}

fn with_server_info(mut result: Value, server_info: &Value) -> Value {
    if let Value::Object(object) = &mut result {
        let meta = object.entry("_meta").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.insert(META_SERVER_INFO.to_owned(), server_info.clone());
        }
    }
    result
}

fn discover<B: McpBackend>(server: &McpServer<B>) -> Value {
    let mut versions: Vec<&str> = STATELESS_PROTOCOL_VERSIONS.to_vec();
    versions.extend_from_slice(super::SESSION_PROTOCOL_VERSIONS);
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": versions,
        "capabilities": server.capabilities(Era::Stateless),
        "ttlMs": 60_000,
        "cacheScope": "public",
    });
    if let Some(text) = &server.instructions {
        result["instructions"] = json!(text);
    }
    result
}
