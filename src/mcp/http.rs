//! The Streamable HTTP rules as pure checks over a plain request: Accept, Content-Type, body size,
//! session and protocol-version headers. The Worker copies the runtime's request into
//! [`HttpRequest`], so every rule is tested natively. Must not touch the runtime.

use futures::stream::LocalBoxStream;

use crate::auth::Principal;
use crate::error::{MeshError, Result};
use crate::manager::validate_session_id;

/// `Mcp-Session-Id`, lowercased: the session a request belongs to, set by the server on `initialize`.
pub const HEADER_SESSION_ID: &str = "mcp-session-id";
/// `MCP-Protocol-Version`, lowercased: the revision a client negotiated (see [`check_protocol_version`]).
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Last-Event-ID`, lowercased: the last SSE event id a resuming client saw.
pub const HEADER_LAST_EVENT_ID: &str = "last-event-id";

/// An HTTP request as the core sees it: header names lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, uppercase (`GET`, `POST`, `DELETE`, ...).
    pub method: String,
    /// The URL path, without the query string.
    pub path: String,
    /// Name/value pairs, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The whole body, read before the request reaches the core.
    pub body: Vec<u8>,
    /// Who sent it, once the endpoint has checked the bearer token; sessions are bound to it.
    pub principal: Option<Principal>,
}

impl HttpRequest {
    /// A request with no headers, no body and no identity.
    pub fn new(method: &str, path: &str) -> Self {
        Self { method: method.to_owned(), path: path.to_owned(), ..Default::default() }
    }

    /// Adds a header, lowercasing its name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The id of the principal that sent it (what sessions are bound to); `None` when anonymous.
    pub fn owner(&self) -> Option<String> {
        self.principal.as_ref().map(|principal| principal.id.clone())
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An HTTP answer the core produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The HTTP status code.
    pub status: u16,
    /// Name/value pairs, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: String,
}

impl HttpReply {
    /// A reply with `Content-Type: application/json`; `body` must already be JSON text.
    pub fn json(status: u16, body: String) -> Self {
        Self { status, headers: vec![("content-type".into(), "application/json".into())], body }
    }

    /// A reply with no headers and no body (such as 202 for an accepted notification).
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new() }
    }

    /// Adds a header as given (reply header names are not normalised).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// An error as the transport answers it: its status, a JSON-RPC error object, and the headers
    /// some statuses need (`Allow` on 405, `Retry-After` on temporary failures).
    pub fn error(error: &MeshError, id: Option<rmcp::model::RequestId>) -> Self {
        let mut reply = Self::json(error.http_status(), super::jsonrpc::error_json(id, error));
        if let MeshError::MethodNotAllowed = error {
            reply = reply.with_header("allow", "GET, POST, DELETE");
        }
        if let MeshError::Unauthorized = error {
            reply = reply.with_header("www-authenticate", "Bearer");
        }
        if let Some(seconds) = error.retry_after_secs() {
            reply = reply.with_header("retry-after", &seconds.to_string());
        }
        reply
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the transport answers one request with.
pub enum Outcome {
    /// A complete answer, sent as is.
    Reply(HttpReply),
    /// Open the GET stream of this session through the mesh, replaying what came after
    /// `last_event_id` when the client is resuming. Unless the backend checks the session as it
    /// opens the stream ([`super::backend::McpBackend::OPEN_CHECKS_SESSION`]), the session exists
    /// and belongs to `owner` already; otherwise the open must refuse (404) one that does not.
    OpenStream {
        /// The session whose stream to open.
        session: String,
        /// The client's `Last-Event-ID`, if it is resuming.
        last_event_id: Option<String>,
        /// The identity the session must belong to, when requests are authenticated.
        owner: Option<String>,
    },
    /// An SSE response produced as the handler runs; each item is already SSE-framed.
    Stream {
        /// The response headers, normally [`sse_headers`].
        headers: Vec<(String, String)>,
        /// The SSE events, sent as they come; the response ends with the stream.
        body: LocalBoxStream<'static, String>,
    },
    /// Open a `subscriptions/listen` stream through the mesh: `listener` is its mesh id (hashed onto
    /// a shard like a session), `first_event` the acknowledgement to send before anything else, and
    /// every later notification gets `subscription_id` in its `_meta`.
    Listen {
        /// The stream's mesh id (`listen-<id>`).
        listener: String,
        /// The id of the `subscriptions/listen` request, as JSON.
        subscription_id: serde_json::Value,
        /// Which list-changed notifications the stream receives.
        filter: crate::delivery::ListenerFilter,
        /// Resource URIs whose `notifications/resources/updated` the stream receives.
        resource_uris: Vec<String>,
        /// The SSE-framed `notifications/subscriptions/acknowledged`.
        first_event: String,
    },
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reply(reply) => f.debug_tuple("Reply").field(reply).finish(),
            Self::OpenStream { session, .. } => f.debug_struct("OpenStream").field("session", session).finish(),
            Self::Stream { headers, .. } => f.debug_struct("Stream").field("headers", headers).finish(),
            Self::Listen { listener, filter, resource_uris, .. } => f
                .debug_struct("Listen")
                .field("listener", listener)
                .field("filter", filter)
                .field("resource_uris", resource_uris)
                .finish(),
        }
    }
}

/// Headers every SSE response carries.
pub fn sse_headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "text/event-stream".into()),
        ("cache-control".into(), "no-cache, no-transform".into()),
        ("x-accel-buffering".into(), "no".into()),
    ]
}

/// Whether an `Accept` header admits `media_type` (exact type, `type/*` or `*/*`).
pub fn accepts(accept: Option<&str>, media_type: &str) -> bool {
    let Some(accept) = accept else { return false };
    let major = media_type.split('/').next().unwrap_or_default();
    accept.split(',').any(|range| {
        let range = range.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        range == media_type || range == "*/*" || range == format!("{major}/*")
    })
}

/// POST needs `Accept` with both JSON and SSE: the server picks per request, and the client must
/// take either.
pub fn check_post_accept(request: &HttpRequest) -> Result<()> {
    let accept = request.header("accept");
    if accepts(accept, "application/json") && accepts(accept, "text/event-stream") {
        Ok(())
    } else {
        Err(MeshError::NotAcceptable("both application/json and text/event-stream"))
    }
}

/// GET opens an event stream, so it needs `Accept: text/event-stream`.
pub fn check_get_accept(request: &HttpRequest) -> Result<()> {
    if accepts(request.header("accept"), "text/event-stream") {
        Ok(())
    } else {
        Err(MeshError::NotAcceptable("text/event-stream"))
    }
}

/// POST bodies must be JSON.
pub fn check_content_type(request: &HttpRequest) -> Result<()> {
    let media_type = request
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    if media_type.as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err(MeshError::UnsupportedMediaType)
    }
}

/// Rejects a body over the limit, by `Content-Length` before reading when the header is there.
pub fn check_declared_length(request: &HttpRequest, limit: u32) -> Result<()> {
    match request.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(length) if length > u64::from(limit) => Err(MeshError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Rejects a body over `limit` bytes, for when `Content-Length` was absent or wrong.
pub fn check_body_length(body: &[u8], limit: u32) -> Result<()> {
    if body.len() as u64 > u64::from(limit) {
        Err(MeshError::PayloadTooLarge { limit })
    } else {
        Ok(())
    }
}

/// The session id a request carries, validated; `None` when the header is absent.
pub fn session_id(request: &HttpRequest) -> Result<Option<&str>> {
    match request.header(HEADER_SESSION_ID) {
        None => Ok(None),
        Some(id) => {
            validate_session_id(id)?;
            Ok(Some(id))
        }
    }
}

/// The session id a request must carry.
pub fn require_session_id(request: &HttpRequest) -> Result<&str> {
    session_id(request)?.ok_or(MeshError::MissingSessionId)
}

/// Checks `MCP-Protocol-Version` on a session request: absent is allowed (the spec says to assume
/// 2025-03-26); present must be a revision this server negotiates.
pub fn check_protocol_version(request: &HttpRequest) -> Result<()> {
    match request.header(HEADER_PROTOCOL_VERSION) {
        None => Ok(()),
        Some(version) if super::SESSION_PROTOCOL_VERSIONS.contains(&version.trim()) => Ok(()),
        Some(version) => Err(MeshError::UnsupportedProtocolVersion(version.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post() -> HttpRequest {
        HttpRequest::new("POST", "/mcp")
    }

    #[test]
    fn accept_parsing_handles_lists_params_and_wildcards() {
        assert!(accepts(Some("application/json, text/event-stream"), "text/event-stream"));
        assert!(accepts(Some("text/event-stream;q=0.9,application/json"), "application/json"));
        assert!(accepts(Some("*/*"), "application/json"));
        assert!(accepts(Some("text/*"), "text/event-stream"));
        assert!(!accepts(Some("text/html"), "text/event-stream"));
        assert!(!accepts(None, "application/json"));
    }

    #[test]
    fn post_needs_both_media_types_and_a_json_body() {
        assert!(check_post_accept(&post().with_header("Accept", "application/json")).is_err());
        assert!(check_post_accept(&post().with_header("Accept", "application/json, text/event-stream")).is_ok());
        assert_eq!(check_content_type(&post()).unwrap_err().http_status(), 415);
        assert!(check_content_type(&post().with_header("Content-Type", "application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(&post().with_header("Content-Type", "text/plain")).is_err());
    }

    #[test]
    fn session_headers_are_validated() {
        assert_eq!(session_id(&post()).unwrap(), None);
        assert_eq!(require_session_id(&post()).unwrap_err(), MeshError::MissingSessionId);
        let long = "x".repeat(129);
        for bad in ["", "has space", long.as_str(), "tab\there", "é"] {
            assert_eq!(
                session_id(&post().with_header("Mcp-Session-Id", bad)).unwrap_err(),
                MeshError::MalformedSessionId,
                "{bad:?}"
            );
        }
        assert_eq!(session_id(&post().with_header("MCP-SESSION-ID", "abc")).unwrap(), Some("abc"));
    }

    #[test]
    fn protocol_versions_and_sizes_are_checked() {
        assert!(check_protocol_version(&post()).is_ok());
        assert!(check_protocol_version(&post().with_header("MCP-Protocol-Version", "2025-06-18")).is_ok());
        let error = check_protocol_version(&post().with_header("MCP-Protocol-Version", "1999-01-01")).unwrap_err();
        assert_eq!(error.http_status(), 400);
        assert!(check_declared_length(&post().with_header("Content-Length", "2000"), 1024).is_err());
        assert!(check_declared_length(&post().with_header("Content-Length", "20"), 1024).is_ok());
        assert!(check_body_length(&[0; 1025], 1024).is_err());
    }

    #[test]
    fn unauthorized_replies_ask_for_a_bearer_token() {
        let reply = HttpReply::error(&MeshError::Unauthorized, None);
        assert_eq!((reply.status, reply.header("www-authenticate")), (401, Some("Bearer")));
    }

    #[test]
    fn error_replies_carry_their_extra_headers() {
        let reply = HttpReply::error(&MeshError::MethodNotAllowed, None);
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("allow"), Some("GET, POST, DELETE"));
        let reply = HttpReply::error(&MeshError::ShardFull { shard: 1 }, None);
        assert_eq!(reply.header("retry-after"), Some("5"));
    }
}
