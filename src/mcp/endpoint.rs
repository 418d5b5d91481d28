//! The one MCP endpoint: checks shared by every request (Origin/Host, the bearer token, Accept,
//! Content-Type, size, JSON-RPC envelope, a tool's scopes), then the choice of protocol era per
//! request, then that era's transport. Also this resource's OAuth metadata (RFC 9728), which the
//! 401 challenges point to. Must not touch the runtime.

use std::rc::Rc;

use serde_json::Value;

use super::backend::{credential_refusal, McpBackend};
use super::http::{self, HttpReply, HttpRequest, Outcome};
use super::jsonrpc::{self, Incoming};
use super::server::McpServer;
use super::{legacy, stateless};
use crate::access::OriginPolicy;
use crate::auth::{
    challenge, protected_resource_metadata, resource_metadata_url, Authenticate, NoAuth, Principal,
    PROTECTED_RESOURCE_PATH,
};
use crate::error::{MeshError, Result};

/// Limits and policies of the endpoint.
#[derive(Clone)]
pub struct EndpointConfig {
    /// Which `Host` and `Origin` headers are accepted (DNS rebinding protection).
    pub origins: OriginPolicy,
    /// The largest POST body accepted, in bytes; larger gets 413.
    pub max_body_bytes: u32,
    /// Key that signs stateless `requestState` (`REQUEST_STATE_SECRET`).
    pub state_key: Rc<[u8]>,
    /// Who may call: [`NoAuth`], the development tokens, or the OAuth resource server.
    pub auth: Rc<dyn Authenticate>,
    /// With OAuth: the issuer and the scopes every request needs, for the metadata and challenges.
    pub oauth: Option<OAuthResource>,
}

/// What the endpoint tells clients about its OAuth protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthResource {
    /// The authorization server's issuer URL.
    pub issuer: String,
    /// `AUTH_AUDIENCE`, when set: the resource identifier (else the endpoint's own URL).
    pub audience: Option<String>,
    /// The scopes every request needs (`AUTH_SCOPES`).
    pub required_scopes: Vec<String>,
    /// Every scope the server knows: the required ones and the tools' own.
    pub scopes_supported: Vec<String>,
}

impl EndpointConfig {
    /// An endpoint with no authentication.
    pub fn open(origins: OriginPolicy, max_body_bytes: u32, state_key: &[u8]) -> Self {
        Self { origins, max_body_bytes, state_key: Rc::from(state_key), auth: Rc::new(NoAuth), oauth: None }
    }
}

/// Answers one request on the MCP endpoint. Never fails: every error becomes its HTTP answer.
pub async fn handle<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    config: &EndpointConfig,
) -> Outcome {
    match route(server, backend.clone(), request, config).await {
        Ok(outcome) => outcome,
        Err(error) => {
            if let Some(reason) = credential_refusal(&error) {
                backend.credentials_refused(reason, &error);
            }
            Outcome::Reply(error_reply(&error, request, config))
        }
    }
}

/// An error's answer: with OAuth on, a refused or missing token carries its `WWW-Authenticate`
/// challenge (RFC 6750 §3, RFC 9728 §5.1).
fn error_reply(error: &MeshError, request: &HttpRequest, config: &EndpointConfig) -> HttpReply {
    let reply = HttpReply::error(error, None);
    let Some(oauth) = &config.oauth else {
        return match error {
            MeshError::MissingToken | MeshError::InvalidToken(_) => reply.with_header("www-authenticate", "Bearer"),
            _ => reply,
        };
    };
    let metadata = resource_metadata_url(&origin(request));
    let required = oauth.required_scopes.join(" ");
    let value = match error {
        MeshError::MissingToken => challenge(&metadata, &required, None),
        MeshError::InvalidToken(why) => challenge(&metadata, &required, Some(("invalid_token", why))),
        MeshError::InsufficientScope(needed) => {
            challenge(&metadata, needed, Some(("insufficient_scope", &format!("needs {needed}"))))
        }
        _ => return reply,
    };
    reply.with_header("www-authenticate", &value)
}

/// Who sent `request`, or the answer that refuses it (401 or 403 with its challenge, 431, 503): the
/// check every request to the endpoint passes, also offered to JavaScript servers on the mesh.
pub async fn check_caller(
    request: &HttpRequest,
    config: &EndpointConfig,
    now_ms: u64,
) -> std::result::Result<Option<Principal>, HttpReply> {
    authenticate(request, config, now_ms).await.map_err(|error| error_reply(&error, request, config))
}

async fn authenticate(request: &HttpRequest, config: &EndpointConfig, now_ms: u64) -> Result<Option<Principal>> {
    let audience = format!("{}/mcp", origin(request));
    config.auth.authenticate(request.header("authorization"), &audience, now_ms).await
}

async fn route<B: McpBackend>(
    server: Rc<McpServer<B>>,
    backend: Rc<B>,
    request: &HttpRequest,
    config: &EndpointConfig,
) -> Result<Outcome> {
    config.origins.check(request.header("host"), request.header("origin"))?;
    // A refusal goes up as an error, so `handle` counts it before answering it.
    let principal = authenticate(request, config, backend.now_ms()).await?;
    // The principal rides on the request; copying it costs a body copy, only with auth enabled.
    let authenticated;
    let request = if principal.is_some() {
        authenticated = HttpRequest { principal, ..request.clone() };
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
            check_tool_scopes(&server, request, &message)?;
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

/// A `tools/call` of a tool that declares scopes the caller's token lacks is refused before it runs:
/// 403 with the scopes it needs (a development token is not scoped).
fn check_tool_scopes<B: McpBackend>(server: &McpServer<B>, request: &HttpRequest, message: &Incoming) -> Result<()> {
    let (Some(principal), Incoming::Request { method, params, .. }) = (&request.principal, message) else {
        return Ok(());
    };
    if method != "tools/call" {
        return Ok(());
    }
    let Some(needed) = params.get("name").and_then(Value::as_str).and_then(|name| server.tool_scopes(name)) else {
        return Ok(());
    };
    if principal.has_scopes(needed) {
        Ok(())
    } else {
        Err(MeshError::InsufficientScope(needed.join(" ")))
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

/// `GET /.well-known/oauth-protected-resource[/mcp]`: this resource's metadata (RFC 9728), readable
/// by browsers from any origin; 404 when OAuth is off. `OPTIONS` answers the CORS preflight.
pub fn protected_resource(request: &HttpRequest, config: &EndpointConfig) -> HttpReply {
    let cors = |reply: HttpReply| {
        reply
            .with_header("access-control-allow-origin", "*")
            .with_header("access-control-allow-methods", "GET, OPTIONS")
            .with_header("access-control-allow-headers", "mcp-protocol-version")
    };
    let Some(oauth) = &config.oauth else { return HttpReply::error(&MeshError::NotFound, None) };
    let known = request.path == PROTECTED_RESOURCE_PATH || request.path == format!("{PROTECTED_RESOURCE_PATH}/mcp");
    match request.method.as_str() {
        _ if !known => HttpReply::error(&MeshError::NotFound, None),
        "OPTIONS" => cors(HttpReply::empty(204)),
        "GET" => {
            let resource = oauth.audience.clone().unwrap_or_else(|| format!("{}/mcp", origin(request)));
            let metadata = protected_resource_metadata(&resource, &oauth.issuer, &oauth.scopes_supported);
            cors(HttpReply::json(200, metadata.to_string()).with_header("cache-control", "public, max-age=3600"))
        }
        _ => HttpReply::error(&MeshError::MethodNotAllowed, None),
    }
}

/// The endpoint's origin as the request names it: `https://host`, or `http://` on a loopback host
/// (development and tests, where there is no TLS).
pub fn origin(request: &HttpRequest) -> String {
    let host = request.header("host").unwrap_or("localhost");
    let name =
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let loopback = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    format!("{}://{host}", if loopback { "http" } else { "https" })
}
