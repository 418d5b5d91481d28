//! The one MCP endpoint: checks shared by every request (Origin/Host, Accept, Content-Type, size,
//! JSON-RPC envelope), then the choice of protocol era per request, then that era's transport.
//! Must not touch the runtime.

use std::rc::Rc;

use super::backend::McpBackend;
use super::http::{self, HttpReply, HttpRequest, Outcome};
use super::jsonrpc::{self, Incoming};
use super::server::McpServer;
use super::{legacy, stateless};
use crate::access::{OriginPolicy, TokenAuth};
use crate::error::{MeshError, Result};

/// Limits and policies of the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Which `Host` and `Origin` headers are accepted (DNS rebinding protection).
    pub origins: OriginPolicy,
    /// The largest POST body accepted, in bytes; larger gets 413.
    pub max_body_bytes: u32,
    /// Key that signs stateless `requestState` (`REQUEST_STATE_SECRET`).
    pub state_key: Rc<[u8]>,
    /// Bearer tokens (`AUTH_TOKENS`); empty: no authentication.
    pub auth: TokenAuth,
}

/// Answers one request on the MCP endpoint. Never fails: every error becomes its HTTP answer.
pub async fn handle<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    config: &EndpointConfig,
) -> Outcome {
    match route(server, backend, request, config).await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Reply(HttpReply::error(&error, None)),
    }
}

async fn route<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    config: &EndpointConfig,
) -> Result<Outcome> {
    config.origins.check(request.header("host"), request.header("origin"))?;
    let identity = config.auth.authenticate(request.header("authorization"))?;
    // The identity rides on the request; copying it costs a body copy, only with auth enabled.
    let authenticated;
    let request = if identity.is_some() {
        authenticated = HttpRequest { identity, ..request.clone() };
        &authenticated
    } else {
        request
    };
    let stateless_header = stateless::is_stateless_version_header(request);
    match request.method.as_str() {
        "POST" => {
            http::check_post_accept(request)?;
            http::check_content_type(request)?;
            http::check_body_length(&request.body, config.max_body_bytes)?;
            let message = jsonrpc::parse_message(&request.body)?;
            if stateless::is_stateless_post(request, &message) {
                stateless::handle_post(server, backend, request, message, config.state_key.clone()).await
            } else {
                legacy_post(server, backend, request, message).await
            }
        }
        // The stateless revision has no GET stream and no sessions to delete.
        "GET" | "DELETE" if stateless_header => Err(MeshError::MethodNotAllowed),
        "GET" => legacy::handle_get(&*backend, request).await,
        "DELETE" => legacy::handle_delete(&*backend, request).await,
        _ => Err(MeshError::MethodNotAllowed),
    }
}

async fn legacy_post<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    message: Incoming,
) -> Result<Outcome> {
    // Transport errors of a request still name the request's id, so the client can match them.
    let id = message.request_id().cloned();
    match legacy::handle_post(server, backend, request, message).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => Ok(Outcome::Reply(HttpReply::error(&error, id))),
    }
}
