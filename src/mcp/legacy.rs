//! The session-era Streamable HTTP transport (revisions 2025-03-26 to 2025-11-25): `initialize`
//! mints a session kept in its shard; POST carries requests, notifications and the client's answers
//! to server requests; GET opens the session's stream through the mesh; DELETE ends the session.
//!
//! `tools/call` answers with an SSE stream (priming event first for 2025-11-25 clients) so a tool can
//! send progress, logs and server→client requests before its result; other requests answer JSON.
//! Must not touch the runtime.

use std::rc::Rc;

use rmcp::model::{InitializeResult, ProtocolVersion, RequestId};
use serde_json::{json, Map, Value};

use super::backend::McpBackend;
use super::context::{Era, RequestContext};
use super::http::{self, HttpReply, HttpRequest, Outcome, HEADER_SESSION_ID};
use super::jsonrpc::{self, Incoming};
use super::server::McpServer;
use super::streaming::{respond, Finished};
use crate::error::{MeshError, Result};
use crate::protocol::SessionRecord;

/// Methods whose handlers may talk to the client first: their answer streams (SSE) if they do.
const STREAMED_METHODS: &[&str] = &["tools/call", "tasks/result"];
/// The first revision whose clients expect a priming event on POST streams.
const PRIMING_VERSION: &str = "2025-11-25";

/// A GET: checks `Accept`, the session id and the version header, and (unless the backend checks it
/// as the stream opens) that the session exists and is the caller's; then asks the glue to open the
/// session's stream.
pub async fn handle_get<B: McpBackend>(backend: &B, request: &HttpRequest) -> Result<Outcome> {
    http::check_get_accept(request)?;
    let session = if B::OPEN_CHECKS_SESSION {
        let session = http::require_session_id(request)?.to_owned();
        http::check_protocol_version(request)?;
        session
    } else {
        open_session(backend, request).await?.0
    };
    let last_event_id = request.header(http::HEADER_LAST_EVENT_ID).map(|id| id.chars().take(64).collect());
    Ok(Outcome::OpenStream { session, last_event_id, owner: request.owner() })
}

/// A DELETE: ends the caller's session (200); 404 for an unknown session or another identity's.
pub async fn handle_delete<B: McpBackend>(backend: &B, request: &HttpRequest) -> Result<Outcome> {
    let session = http::require_session_id(request)?;
    let record = backend.load_session(session).await?.ok_or(MeshError::SessionNotFound)?;
    if record.owner != request.owner() {
        return Err(MeshError::SessionNotFound);
    }
    if backend.end_session(session).await? {
        Ok(Outcome::Reply(HttpReply::empty(200)))
    } else {
        Err(MeshError::SessionNotFound)
    }
}

async fn open_session<B: McpBackend>(backend: &B, request: &HttpRequest) -> Result<(String, SessionRecord)> {
    let session = http::require_session_id(request)?.to_owned();
    http::check_protocol_version(request)?;
    let record = backend.load_session(&session).await?.ok_or(MeshError::SessionNotFound)?;
    // Another identity's session does not exist, as far as this caller can tell.
    if record.owner != request.owner() {
        return Err(MeshError::SessionNotFound);
    }
    Ok((session, record))
}

/// Handles one POSTed message (already parsed).
pub async fn handle_post<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    message: Incoming,
) -> Result<Outcome> {
    if let Incoming::Request { id, method, params } = &message {
        if method == "initialize" {
            return initialize(&server, &*backend, request, id.clone(), params).await;
        }
    }
    if let Incoming::Notification { .. } = message {
        // No client notification changes session state (notifications/initialized included), so
        // none is worth a shard call: a well-formed one is accepted without looking the session up.
        http::require_session_id(request)?;
        http::check_protocol_version(request)?;
        return Ok(Outcome::Reply(HttpReply::empty(202)));
    }
    let (session, record) = open_session(&*backend, request).await?;
    match message {
        Incoming::Notification { .. } => Ok(Outcome::Reply(HttpReply::empty(202))),
        Incoming::Response { id, result } => {
            deliver(&*backend, &session, &id, json!({ "jsonrpc": "2.0", "id": id, "result": result })).await
        }
        Incoming::ErrorReply { id: Some(id), error } => {
            deliver(&*backend, &session, &id, json!({ "jsonrpc": "2.0", "id": id, "error": error })).await
        }
        Incoming::ErrorReply { id: None, .. } => Ok(Outcome::Reply(HttpReply::empty(202))),
        Incoming::Request { id, method, params } => {
            let ctx = RequestContext {
                backend: backend.clone(),
                era: Era::Session,
                session: Some(session.clone()),
                client_capabilities: record.client_capabilities.clone(),
                log_level: record.log_level.clone(),
                progress_token: params.get("_meta").and_then(|m| m.get("progressToken")).cloned(),
                outbox: None,
                input_responses: Map::new(),
                request_state: None,
                owner: request.owner().or_else(|| Some(session.clone())),
            };
            if STREAMED_METHODS.contains(&method.as_str()) {
                let priming = (record.protocol_version.as_str() >= PRIMING_VERSION).then(|| backend.new_id());
                let finish = move |result: Result<Value>| Finished {
                    status: 200,
                    body: match result {
                        Ok(result) => jsonrpc::response_json(id, session_result(result)),
                        Err(error) => jsonrpc::error_json(Some(id), &error),
                    },
                };
                Ok(respond(server, ctx, method, params, priming, finish).await)
            } else {
                let reply = match server.dispatch(ctx, &method, params).await {
                    Ok(result) => HttpReply::json(200, jsonrpc::response_json(id, session_result(result))),
                    Err(error) => error_reply(Some(id), &error),
                };
                Ok(Outcome::Reply(reply))
            }
        }
    }
}

/// A client's answer to a server→client request: route it to the waiter through the shard.
async fn deliver<B: McpBackend>(backend: &B, session: &str, id: &RequestId, message: Value) -> Result<Outcome> {
    let id = match id {
        RequestId::Number(n) => n.to_string(),
        RequestId::String(s) => s.to_string(),
    };
    // Accepted whether or not someone still waits: a late answer after a timeout is not the
    // client's error.
    backend.deliver_reply(session, &id, message).await?;
    Ok(Outcome::Reply(HttpReply::empty(202)))
}

async fn initialize<B: McpBackend>(
    server: &McpServer<B>,
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
        return Ok(Outcome::Reply(error_reply(Some(id), &error)));
    };
    let version = super::negotiate_version(requested);
    let session = backend.new_id();
    let record = SessionRecord {
        protocol_version: version.to_owned(),
        client_info: params.get("clientInfo").cloned().unwrap_or(Value::Null),
        client_capabilities: params.get("capabilities").cloned().unwrap_or(Value::Null),
        log_level: None,
        subscriptions: Vec::new(),
        created_ms: backend.now_ms(),
        last_seen_ms: backend.now_ms(),
        owner: request.owner(),
    };
    backend.register_session(&session, record).await?;
    let advertised = server.capabilities(Era::Session);
    let capabilities = serde_json::from_value(advertised.clone()).unwrap_or_default();
    let mut result = InitializeResult::new(capabilities)
        .with_server_info(server.info.clone())
        .with_protocol_version(serde_json::from_value::<ProtocolVersion>(json!(version))?);
    if let Some(text) = &server.instructions {
        result = result.with_instructions(text.clone());
    }
    let mut result = serde_json::to_value(result)?;
    // 2025-11-25's `tasks` capability has no field in the protocol types: carried over as advertised.
    if let (Some(tasks), Some(Value::Object(capabilities))) = (advertised.get("tasks"), result.get_mut("capabilities"))
    {
        capabilities.insert("tasks".into(), tasks.clone());
    }
    let body = jsonrpc::response_json(id, result);
    Ok(Outcome::Reply(HttpReply::json(200, body).with_header(HEADER_SESSION_ID, &session)))
}

/// A failed request: request-level errors travel as a JSON-RPC error in a 200, transport failures
/// with their HTTP status.
fn error_reply(id: Option<RequestId>, error: &MeshError) -> HttpReply {
    if error.http_status() < 500 && !matches!(error, MeshError::SessionNotFound) {
        HttpReply::json(200, jsonrpc::error_json(id, error))
    } else {
        HttpReply::error(error, id)
    }
}

/// Session-era results carry no `resultType` (rmcp's constructors add it for 2026-07-28).
fn session_result(mut result: Value) -> Value {
    if let Value::Object(object) = &mut result {
        object.remove("resultType");
    }
    result
}
