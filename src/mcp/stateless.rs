//! The 2026-07-28 transport: no `initialize` and no sessions. Every request carries its protocol
//! version, client capabilities and log level in `_meta`, and `Mcp-Method` / `Mcp-Name` (and
//! `Mcp-Param-*`) headers that must agree with the body. Questions to the client end a call with an
//! `input_required` result (MRTR) whose `requestState` is signed, instead of a server→client request.
//! Must not touch the runtime.

use std::rc::Rc;

use base64::Engine as _;
use futures::StreamExt;
use rmcp::model::RequestId;
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::context::{Era, RequestContext};
use super::http::{HttpReply, HttpRequest, Outcome, HEADER_PROTOCOL_VERSION, HEADER_SESSION_ID};
use super::jsonrpc::{self, Incoming};
use super::request_state;
use super::server::McpServer;
use super::streaming::{respond, Finished};
use crate::error::{MeshError, Result};

/// Revisions served statelessly.
pub const STATELESS_PROTOCOL_VERSIONS: &[&str] = &["2026-07-28"];
/// `_meta` key of a request's revision (required; must equal `MCP-Protocol-Version`).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client's capabilities (required, an object): what `initialize` carried before.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the request's log level (optional): what `logging/setLevel` set before.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key under which every result carries the server's `Implementation`.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `Mcp-Method`, lowercased: must repeat the body's `method`.
pub const HEADER_METHOD: &str = "mcp-method";
/// `Mcp-Name`, lowercased: must repeat the tool or prompt name, or the resource URI, of the body.
pub const HEADER_NAME: &str = "mcp-name";
/// Prefix of `Mcp-Param-<Suffix>`, lowercased: mirrors a tool argument whose schema property has
/// `x-mcp-header: <Suffix>`.
pub const HEADER_PARAM_PREFIX: &str = "mcp-param-";

/// Session-era methods this revision removed: 404 like any unknown method.
const REMOVED_METHODS: &[&str] =
    &["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];
/// Results that may be cached, with their hints (SEP-2549).
const LIST_TTL_MS: u64 = 300_000;

/// Whether a POST belongs to the stateless revision: it has no session, and either carries `_meta`
/// or names a revision in `MCP-Protocol-Version` that is not a session-era one.
pub fn is_stateless_post(request: &HttpRequest, message: &Incoming) -> bool {
    if request.header(HEADER_SESSION_ID).is_some() {
        return false;
    }
    let has_meta = match message {
        Incoming::Request { params, .. } | Incoming::Notification { params, .. } => params.contains_key("_meta"),
        _ => false,
    };
    let header = request.header(HEADER_PROTOCOL_VERSION).map(str::trim);
    has_meta && !matches!(message, Incoming::Request { method, .. } if method == "initialize")
        || header.is_some_and(|v| !super::SESSION_PROTOCOL_VERSIONS.contains(&v) && v != "2024-11-05")
}

/// Whether `MCP-Protocol-Version` names a stateless revision (GET and DELETE then get 405).
pub fn is_stateless_version_header(request: &HttpRequest) -> bool {
    request.header(HEADER_PROTOCOL_VERSION).is_some_and(|v| STATELESS_PROTOCOL_VERSIONS.contains(&v.trim()))
}

/// Handles one POSTed message of the stateless revision (already parsed, and
/// [`is_stateless_post`]). Errors are answered in the returned outcome, the way this revision sends
/// them, rather than returned as `Err`. `state_key` signs and checks `requestState`.
pub async fn handle_post<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    message: Incoming,
    state_key: Rc<[u8]>,
) -> Result<Outcome> {
    match message {
        Incoming::Notification { .. } => Ok(Outcome::Reply(HttpReply::empty(202))),
        Incoming::Response { id, .. } => {
            Ok(reject(Some(id), &MeshError::InvalidRequest("clients do not POST responses in this revision".into())))
        }
        Incoming::ErrorReply { id, .. } => {
            Ok(reject(id, &MeshError::InvalidRequest("clients do not POST responses in this revision".into())))
        }
        Incoming::Request { id, method, params } => match check_request(&server, request, &method, &params) {
            Ok(meta) => {
                let owner = request.owner();
                Ok(run(server, backend, id, method, params, meta, (state_key, owner)).await)
            }
            Err(error) => Ok(reject(Some(id), &error)),
        },
    }
}

fn reject(id: Option<RequestId>, error: &MeshError) -> Outcome {
    let status = match error {
        MeshError::MethodNotFound(_) => 404,
        _ => 400,
    };
    Outcome::Reply(HttpReply::json(status, error_body(id, error)))
}

/// Validates, in the order the reference server uses: the version header, the required `_meta`
/// fields, header/`_meta` agreement, the version, then `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*`.
fn check_request<B: McpBackend>(
    server: &McpServer<B>,
    request: &HttpRequest,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let header_version = request
        .header(HEADER_PROTOCOL_VERSION)
        .map(str::trim)
        .ok_or_else(|| MeshError::HeaderMismatch("MCP-Protocol-Version is required".into()))?;
    let meta = params
        .get("_meta")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| MeshError::InvalidParams("params._meta is required".into()))?;
    let body_version = meta
        .get(META_PROTOCOL_VERSION)
        .and_then(Value::as_str)
        .ok_or_else(|| MeshError::InvalidParams(format!("_meta[\"{META_PROTOCOL_VERSION}\"] is required")))?;
    if !meta.get(META_CLIENT_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(MeshError::InvalidParams(format!("_meta[\"{META_CLIENT_CAPABILITIES}\"] is required")));
    }
    if header_version != body_version {
        return Err(MeshError::HeaderMismatch(format!(
            "MCP-Protocol-Version {header_version:?} does not match _meta {body_version:?}"
        )));
    }
    if !STATELESS_PROTOCOL_VERSIONS.contains(&body_version) {
        return Err(MeshError::UnsupportedProtocolVersion(body_version.chars().take(64).collect()));
    }
    match request.header(HEADER_METHOD).map(decode_header_value) {
        None => return Err(MeshError::HeaderMismatch("Mcp-Method is required".into())),
        Some(Ok(value)) if value == method => {}
        Some(_) => return Err(MeshError::HeaderMismatch(format!("Mcp-Method does not match {method:?}"))),
    }
    let named = match method {
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => crate::tasks::task_header_name(method, params),
    };
    if let Some(name) = named {
        match request.header(HEADER_NAME).map(decode_header_value) {
            None => return Err(MeshError::HeaderMismatch("Mcp-Name is required".into())),
            Some(Ok(value)) if value == name => {}
            Some(_) => return Err(MeshError::HeaderMismatch(format!("Mcp-Name does not match {name:?}"))),
        }
    }
    if method == "tools/call" {
        check_param_headers(server, request, params)?;
    }
    Ok(meta)
}

/// Arguments whose schema property has `x-mcp-header: <Suffix>` must be mirrored in
/// `Mcp-Param-<Suffix>` with the same value.
fn check_param_headers<B: McpBackend>(
    server: &McpServer<B>,
    request: &HttpRequest,
    params: &Map<String, Value>,
) -> Result<()> {
    let Some(name) = params.get("name").and_then(Value::as_str) else { return Ok(()) };
    let Some(schema) = server.tool_input_schema(name) else { return Ok(()) };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    let arguments = params.get("arguments").and_then(Value::as_object);
    for (property, spec) in properties {
        let Some(suffix) = spec.get("x-mcp-header").and_then(Value::as_str) else { continue };
        let Some(value) = arguments.and_then(|a| a.get(property)) else { continue };
        let expected = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let header = format!("{HEADER_PARAM_PREFIX}{}", suffix.to_ascii_lowercase());
        match request.header(&header).map(decode_header_value) {
            Some(Ok(given)) if given == expected => {}
            Some(Ok(_)) => {
                return Err(MeshError::HeaderMismatch(format!(
                    "Mcp-Param-{suffix} does not match the argument {property:?}"
                )))
            }
            Some(Err(error)) => return Err(error),
            None => return Err(MeshError::HeaderMismatch(format!("Mcp-Param-{suffix} is required"))),
        }
    }
    Ok(())
}

/// Trims optional whitespace; a value wrapped as `=?base64?<data>?=` must be valid, padded base64
/// of UTF-8 (anything else is a mismatch); any other value is taken literally.
pub fn decode_header_value(raw: &str) -> Result<String> {
    let raw = raw.trim();
    match raw.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| MeshError::HeaderMismatch("a =?base64?...?= header value is not valid base64".into())),
        None => Ok(raw.to_owned()),
    }
}

async fn run<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    id: RequestId,
    method: String,
    mut params: Map<String, Value>,
    meta: Map<String, Value>,
    (state_key, owner): (Rc<[u8]>, Option<String>),
) -> Outcome {
    if REMOVED_METHODS.contains(&method.as_str()) {
        return reject(Some(id), &MeshError::MethodNotFound(method));
    }
    let request_state = match params.remove("requestState") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => match request_state::verify(&state_key, &token, owner.as_deref()) {
            Ok(state) => Some(state),
            Err(error) => return Outcome::Reply(HttpReply::json(200, error_body(Some(id), &error))),
        },
        Some(_) => {
            return Outcome::Reply(HttpReply::json(
                200,
                error_body(Some(id), &MeshError::InvalidParams("requestState must be a string".into())),
            ))
        }
    };
    let input_responses = match params.remove("inputResponses") {
        None => Map::new(),
        Some(Value::Object(responses)) => responses,
        Some(_) => {
            let error = MeshError::InvalidParams("inputResponses must be an object".into());
            return Outcome::Reply(HttpReply::json(200, error_body(Some(id), &error)));
        }
    };
    let ctx = RequestContext {
        backend,
        era: Era::Stateless,
        session: None,
        client_capabilities: meta.get(META_CLIENT_CAPABILITIES).cloned().unwrap_or(Value::Null),
        log_level: meta.get(META_LOG_LEVEL).and_then(Value::as_str).map(str::to_owned),
        progress_token: meta.get("progressToken").cloned(),
        outbox: None,
        input_responses,
        request_state,
        owner: owner.clone(),
    };
    let server_info = serde_json::to_value(&server.info).unwrap_or(Value::Null);
    if method == "subscriptions/listen" {
        return listen(&ctx, id, &params).await;
    }
    if method == "server/discover" {
        let result = discover(&server);
        return Outcome::Reply(HttpReply::json(
            200,
            jsonrpc::response_json(id, with_server_info(result, &server_info)),
        ));
    }
    let hints = caching_hints(&method);
    let finish = move |result: Result<Value>| {
        let status = match &result {
            Err(MeshError::MethodNotFound(_)) => 404,
            Err(MeshError::MissingClientCapability(_)) => 400,
            _ => 200,
        };
        Finished { status, body: finish_body(id, result, &server_info, hints, (&state_key, owner.as_deref())) }
    };
    // Every stateless request may stream (a prompt handler can ask for input too): SSE only when the
    // handler sends something before it answers.
    respond(server, ctx, method, params, None, finish).await
}

/// `ttlMs` and `cacheScope` for results that may be cached (SEP-2549).
fn caching_hints(method: &str) -> Option<(u64, &'static str)> {
    match method {
        "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => Some((LIST_TTL_MS, "public")),
        "resources/read" => Some((0, "private")),
        _ => None,
    }
}

/// The response body for a finished request: a result (with `resultType`, caching hints and
/// `serverInfo`), an `input_required` result with signed state, or an error.
fn finish_body(
    id: RequestId,
    result: Result<Value>,
    server_info: &Value,
    hints: Option<(u64, &str)>,
    (state_key, owner): (&[u8], Option<&str>),
) -> String {
    match result {
        Ok(mut result) => {
            if let (Some((ttl, scope)), Value::Object(object)) = (hints, &mut result) {
                object.entry("ttlMs").or_insert(json!(ttl));
                object.entry("cacheScope").or_insert(json!(scope));
            }
            jsonrpc::response_json(id, with_server_info(complete(result), server_info))
        }
        Err(MeshError::InputRequired(request)) => {
            let requests: Map<String, Value> = request
                .questions
                .into_iter()
                .map(|(key, method, params)| (key, json!({ "method": method, "params": params })))
                .collect();
            let mut result = json!({ "resultType": "input_required", "inputRequests": requests });
            if let Some(state) = request.state {
                result["requestState"] = json!(request_state::sign(state_key, &state, owner));
            }
            jsonrpc::response_json(id, with_server_info(result, server_info))
        }
        Err(error) => error_body(Some(id), &error),
    }
}

fn error_body(id: Option<RequestId>, error: &MeshError) -> String {
    let mut body: Value = serde_json::from_str(&jsonrpc::error_json(id, error)).unwrap_or_default();
    match error {
        // This revision reports a missing resource as invalid params (SEP-2164).
        MeshError::ResourceNotFound(_) => body["error"]["code"] = json!(-32602),
        MeshError::UnsupportedProtocolVersion(requested) => {
            body["error"]["data"] = json!({ "supported": STATELESS_PROTOCOL_VERSIONS, "requested": requested });
        }
        _ => {}
    }
    body.to_string()
}

fn complete(mut result: Value) -> Value {
    if let Value::Object(object) = &mut result {
        object.entry("resultType").or_insert(json!("complete"));
    }
    result
}

fn with_server_info(mut result: Value, server_info: &Value) -> Value {
    jsonrpc::set_meta(&mut result, META_SERVER_INFO, server_info.clone());
    result
}

pub use crate::frames::META_SUBSCRIPTION_ID;

/// The most task ids one listen stream may name.
pub const MAX_LISTENED_TASKS: usize = 256;

/// `subscriptions/listen`: every list and resource filter is honoured, and the task ids (tasks
/// extension) of tasks the caller owns; the stream itself is opened by the glue.
async fn listen<B: McpBackend>(ctx: &RequestContext<B>, id: RequestId, params: &Map<String, Value>) -> Outcome {
    let wanted = params.get("notifications").and_then(Value::as_object).cloned().unwrap_or_default();
    let flag = |key: &str| wanted.get(key).and_then(Value::as_bool).unwrap_or(false);
    let filter = crate::delivery::ListenerFilter {
        tools: flag("toolsListChanged"),
        prompts: flag("promptsListChanged"),
        resources: flag("resourcesListChanged"),
    };
    let resource_uris: Vec<String> = wanted
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .map(|uris| uris.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Err(error) = resource_uris.iter().try_for_each(|uri| check_listened_uri(uri)) {
        return reject(Some(id), &error);
    }
    let task_ids = match listened_tasks(ctx, wanted.get("taskIds")).await {
        Ok(task_ids) => task_ids,
        Err(error) => return reject(Some(id), &error),
    };
    let subscription_id = serde_json::to_value(&id).unwrap_or(Value::Null);
    let mut honored = Map::new();
    for (key, on) in [
        ("toolsListChanged", filter.tools),
        ("promptsListChanged", filter.prompts),
        ("resourcesListChanged", filter.resources),
    ] {
        if on {
            honored.insert(key.to_owned(), json!(true));
        }
    }
    if !resource_uris.is_empty() {
        honored.insert("resourceSubscriptions".to_owned(), json!(resource_uris));
    }
    if wanted.contains_key("taskIds") {
        honored.insert("taskIds".to_owned(), json!(task_ids));
    }
    let ack = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "notifications": honored, "_meta": { META_SUBSCRIPTION_ID: subscription_id } }
    });
    let mut topics = resource_uris;
    topics.extend(task_ids.iter().map(|task| crate::tasks::task_topic(task)));
    Outcome::Listen {
        listener: format!("listen-{}", ctx.backend.new_id()),
        subscription_id,
        filter,
        resource_uris: topics,
        first_event: super::super::sse::encode_message(&ack.to_string(), None),
    }
}

/// A resource URI a listen stream may subscribe to: within the topic index's limits, and not one of
/// the index's task topics.
fn check_listened_uri(uri: &str) -> Result<()> {
    super::server::check_topic(uri)?;
    if uri.starts_with(crate::tasks::TASK_TOPIC_PREFIX) {
        return Err(MeshError::InvalidParams(format!("{uri:?} is not a resource URI")));
    }
    Ok(())
}

/// The task ids a listen stream asked for that it will hear about: the caller's own, existing tasks
/// (another owner's or an unknown id is left out of the acknowledgement). Asking needs the tasks
/// extension.
async fn listened_tasks<B: McpBackend>(ctx: &RequestContext<B>, asked: Option<&Value>) -> Result<Vec<String>> {
    let Some(asked) = asked else { return Ok(Vec::new()) };
    if !crate::tasks::declares_tasks(&ctx.client_capabilities) {
        return Err(MeshError::MissingClientCapability(crate::tasks::TASKS_EXTENSION.to_owned()));
    }
    let ids: Vec<&str> = match asked.as_array() {
        Some(ids) if ids.len() <= MAX_LISTENED_TASKS => ids.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(MeshError::InvalidParams(format!(
                "notifications.taskIds must be an array of at most {MAX_LISTENED_TASKS} task ids"
            )))
        }
    };
    let lookups = ids.iter().map(|task| async move {
        let found = ctx.backend.load_task(task, ctx.owner.as_deref()).await?;
        Ok::<_, MeshError>(found.map(|_| (*task).to_owned()))
    });
    let found: Vec<Result<Option<String>>> = futures::stream::iter(lookups).buffered(6).collect().await;
    let mut honored = Vec::new();
    for task in found {
        if let Some(task) = task? {
            if !honored.contains(&task) {
                honored.push(task);
            }
        }
    }
    Ok(honored)
}

fn discover<B: McpBackend>(server: &McpServer<B>) -> Value {
    let mut versions: Vec<&str> = STATELESS_PROTOCOL_VERSIONS.to_vec();
    versions.extend_from_slice(super::SESSION_PROTOCOL_VERSIONS);
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": versions,
        "capabilities": server.capabilities(Era::Stateless),
        "ttlMs": LIST_TTL_MS,
        "cacheScope": "public",
    });
    if let Some(text) = &server.instructions {
        result["instructions"] = json!(text);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::decode_header_value;

    #[test]
    fn header_values_decode_strictly() {
        assert_eq!(decode_header_value("  tools/list ").unwrap(), "tools/list");
        assert_eq!(decode_header_value("=?base64?SGVsbG8=?=").unwrap(), "Hello");
        assert!(decode_header_value("=?base64?SGVsbG8?=").is_err());
        assert!(decode_header_value("=?base64?SGVs!!!bG8=?=").is_err());
        assert_eq!(decode_header_value("SGVsbG8=").unwrap(), "SGVsbG8=");
        assert_eq!(decode_header_value("=?base64?SGVsbG8=").unwrap(), "=?base64?SGVsbG8=");
    }
}
