//! The crate's one error type and the one place it is mapped to an HTTP status and a JSON-RPC error.
//!
//! Rust errors (`MeshError`) are kept apart from the wire error (a JSON-RPC error object built with
//! `rmcp::model` types): handlers return `MeshError`, and only [`MeshError::to_rpc_error`] and
//! [`MeshError::http_status`] decide what a client sees. Must not touch the Workers runtime.

use std::fmt;

use rmcp::model::{ErrorCode, ErrorData, JsonRpcError, RequestId};

/// The crate's result: [`MeshError`] unless said otherwise.
pub type Result<T, E = MeshError> = std::result::Result<T, E>;

/// JSON-RPC code the MCP reference server uses for transport-level errors (-32000..-32019 are
/// implementation-defined in the legacy revisions).
pub const CODE_TRANSPORT: i32 = -32000;
/// JSON-RPC code for an unknown or terminated session, as the reference servers send it.
pub const CODE_SESSION_NOT_FOUND: i32 = -32001;

/// A full shard frees room as sessions end; a few seconds keep retries from hammering it.
pub const RETRY_AFTER_SHARD_FULL_SECS: u32 = 5;
/// An object that failed to answer is usually back at once (a restart, a moved object).
pub const RETRY_AFTER_UPSTREAM_SECS: u32 = 1;

/// Everything that can go wrong in the crate, one variant per cause a client or operator can tell
/// apart; [`MeshError::http_status`] and [`MeshError::to_rpc_error`] say how each reaches the client.
#[derive(Debug, Clone, PartialEq)]
pub enum MeshError {
    /// A wrangler var or secret is missing or invalid; `var` names it.
    Config {
        /// The var's name, as in `wrangler.toml`.
        var: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The body is not JSON at all.
    Parse(String),
    /// The body is JSON but not a valid JSON-RPC message, or its params are wrong.
    InvalidRequest(String),
    /// Params of a known method failed validation.
    InvalidParams(String),
    /// The method is not one this server implements.
    MethodNotFound(String),
    /// A request other than `initialize` came without `Mcp-Session-Id`.
    MissingSessionId,
    /// The `Mcp-Session-Id` is not a well-formed session id.
    MalformedSessionId,
    /// The session does not exist or was terminated.
    SessionNotFound,
    /// The session already has its GET stream.
    StreamConflict,
    /// `initialize` sent on a session that already exists.
    AlreadyInitialized,
    /// `Accept` lacks a type the request needs.
    NotAcceptable(&'static str),
    /// `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than `MAX_BODY_BYTES`.
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: u32,
    },
    /// `MCP-Protocol-Version` names a revision this server does not speak.
    UnsupportedProtocolVersion(String),
    /// The HTTP method is not served on this path.
    MethodNotAllowed,
    /// An admin route was called with a wrong token.
    Unauthorized,
    /// The MCP endpoint needs a bearer token and the request has none.
    MissingToken,
    /// The bearer token is malformed, expired, for another resource, or otherwise not accepted (why).
    InvalidToken(String),
    /// The token is valid but lacks these scopes (space-separated).
    InsufficientScope(String),
    /// The authorization server (its metadata, keys or introspection) cannot be reached: the token
    /// can be neither accepted nor refused now.
    AuthUnavailable(String),
    /// The `Authorization` header is larger than any token this server accepts.
    HeaderTooLarge,
    /// No route, or an admin route while the admin token is not configured.
    NotFound,
    /// A shard is at its WebSocket limit; the client should retry later.
    ShardFull {
        /// The full shard's number.
        shard: u32,
    },
    /// A shard or the coordinator answered something this version does not understand.
    Protocol(String),
    /// A shard or the coordinator failed or could not be reached.
    Upstream {
        /// Which object or call (`"coordinator"`, `"shard send"`, ...).
        what: &'static str,
        /// The failure as reported, for logs.
        detail: String,
    },
    /// A Workers runtime call failed (`what` names the call).
    Platform {
        /// The runtime call that failed.
        what: &'static str,
        /// The runtime's error message.
        detail: String,
    },
    /// A handler needs a client capability the client did not declare.
    MissingClientCapability(String),
    /// The client answered a server→client request with an error.
    ClientError(serde_json::Value),
    /// The client did not answer a server→client request in time.
    ClientTimeout(String),
    /// The stream a server→client request was to go out on is closed.
    ClientGone,
    /// Stateless era: the handler needs input; the call ends with an `input_required` result.
    InputRequired(InputRequest),
    /// Origin or Host is not allowed (DNS rebinding protection).
    Forbidden(String),
    /// Stateless era: a required header is missing or disagrees with the body.
    HeaderMismatch(String),
    /// `resources/read` of a URI no resource or template serves.
    ResourceNotFound(String),
    /// Stateless era: a `requestState` that this server did not sign, or that was altered.
    TamperedState,
    /// A task's work ended with this JSON-RPC error (what 2025-11-25's `tasks/result` answers).
    TaskFailed {
        /// Its code.
        code: i32,
        /// Its message.
        message: String,
    },
}

impl MeshError {
    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Parse(_)
            | Self::InvalidRequest(_)
            | Self::InvalidParams(_)
            | Self::TamperedState
            | Self::MissingSessionId
            | Self::MalformedSessionId
            | Self::AlreadyInitialized
            | Self::UnsupportedProtocolVersion(_) => 400,
            Self::Unauthorized | Self::MissingToken | Self::InvalidToken(_) => 401,
            Self::InsufficientScope(_) => 403,
            Self::HeaderTooLarge => 431,
            Self::Forbidden(_) => 403,
            Self::HeaderMismatch(_) | Self::MissingClientCapability(_) => 400,
            Self::ClientError(_) | Self::ClientTimeout(_) | Self::ClientGone | Self::InputRequired(_) => 200,
            Self::TaskFailed { .. } => 200,
            Self::MethodNotFound(_) | Self::SessionNotFound | Self::NotFound => 404,
            Self::ResourceNotFound(_) => 200,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable(_) => 406,
            Self::StreamConflict => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Protocol(_) | Self::Upstream { .. } => 502,
            Self::ShardFull { .. } | Self::AuthUnavailable(_) => 503,
            Self::Config { .. } | Self::Platform { .. } => 500,
        }
    }

    /// The JSON-RPC error code this error carries.
    pub fn rpc_code(&self) -> i32 {
        match self {
            Self::Parse(_) => ErrorCode::PARSE_ERROR.0,
            Self::InvalidRequest(_) | Self::AlreadyInitialized => ErrorCode::INVALID_REQUEST.0,
            Self::InvalidParams(_) | Self::TamperedState => ErrorCode::INVALID_PARAMS.0,
            Self::MethodNotFound(_) => ErrorCode::METHOD_NOT_FOUND.0,
            Self::SessionNotFound => CODE_SESSION_NOT_FOUND,
            Self::HeaderMismatch(_) => ErrorCode::HEADER_MISMATCH.0,
            // -32002 is the session-era code; the stateless transport rewrites it to -32602.
            Self::ResourceNotFound(_) => ErrorCode::RESOURCE_NOT_FOUND.0,
            Self::MissingClientCapability(_) => ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY.0,
            Self::UnsupportedProtocolVersion(_) => ErrorCode::UNSUPPORTED_PROTOCOL_VERSION.0,
            Self::TaskFailed { code, .. } => *code,
            Self::ClientError(_) | Self::ClientTimeout(_) | Self::ClientGone | Self::InputRequired(_) => {
                ErrorCode::INTERNAL_ERROR.0
            }
            Self::Config { .. } | Self::Protocol(_) | Self::Upstream { .. } | Self::Platform { .. } => {
                ErrorCode::INTERNAL_ERROR.0
            }
            _ => CODE_TRANSPORT,
        }
    }

    /// Seconds a client should wait before retrying, for errors that are temporary (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::ShardFull { .. } => Some(RETRY_AFTER_SHARD_FULL_SECS),
            Self::Upstream { .. } | Self::AuthUnavailable(_) => Some(RETRY_AFTER_UPSTREAM_SECS),
            _ => None,
        }
    }

    /// Structured `error.data` some errors carry.
    pub fn rpc_data(&self) -> Option<serde_json::Value> {
        match self {
            Self::ResourceNotFound(uri) => Some(serde_json::json!({ "uri": uri })),
            Self::MissingClientCapability(method) => Some(match capability_for(method) {
                Some(capability) => serde_json::json!({ "requiredCapabilities": { capability: {} } }),
                // An extension (`io.modelcontextprotocol/tasks`) is declared under `extensions`.
                None if is_extension_id(method) => {
                    serde_json::json!({ "requiredCapabilities": { "extensions": { method.as_str(): {} } } })
                }
                None => serde_json::json!({ "requiredCapabilities": { method.as_str(): {} } }),
            }),
            _ => None,
        }
    }

    /// The wire form: a JSON-RPC error object (`id` is omitted when the request's id is unknown).
    pub fn to_rpc_error(&self, id: Option<RequestId>) -> JsonRpcError {
        JsonRpcError::new(id, ErrorData::new(ErrorCode(self.rpc_code()), self.to_string(), self.rpc_data()))
    }
}

impl fmt::Display for MeshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { var, reason } => write!(f, "Configuration error: {var} {reason}"),
            Self::Parse(detail) => write!(f, "Parse error: {detail}"),
            Self::InvalidRequest(detail) => write!(f, "Invalid request: {detail}"),
            Self::InvalidParams(detail) => write!(f, "Invalid params: {detail}"),
            Self::MethodNotFound(method) => write!(f, "Method not found: {method}"),
            Self::MissingSessionId => f.write_str("Bad Request: Mcp-Session-Id header is required"),
            Self::MalformedSessionId => {
                f.write_str("Bad Request: Mcp-Session-Id must be 1 to 128 visible ASCII characters")
            }
            Self::SessionNotFound => f.write_str("Session not found"),
            Self::StreamConflict => f.write_str("Conflict: Only one SSE stream is allowed per session"),
            Self::AlreadyInitialized => f.write_str("Invalid Request: Server already initialized"),
            Self::NotAcceptable(what) => write!(f, "Not Acceptable: Client must accept {what}"),
            Self::UnsupportedMediaType => f.write_str("Unsupported Media Type: Content-Type must be application/json"),
            Self::PayloadTooLarge { limit } => write!(f, "Payload Too Large: the limit is {limit} bytes"),
            Self::UnsupportedProtocolVersion(v) => {
                write!(f, "Bad Request: Unsupported protocol version: {v}")
            }
            Self::MethodNotAllowed => f.write_str("Method Not Allowed"),
            Self::Unauthorized => f.write_str("Unauthorized"),
            Self::MissingToken => f.write_str("Unauthorized: a bearer token is required"),
            Self::InvalidToken(why) => write!(f, "Unauthorized: invalid token: {why}"),
            Self::InsufficientScope(scope) => write!(f, "Forbidden: the token lacks scope {scope:?}"),
            Self::AuthUnavailable(what) => write!(f, "Service Unavailable: the authorization server: {what}"),
            Self::HeaderTooLarge => f.write_str("Request Header Fields Too Large: Authorization"),
            Self::NotFound => f.write_str("Not Found"),
            Self::ShardFull { shard } => {
                write!(f, "Service Unavailable: shard {shard} is at its connection limit")
            }
            Self::Protocol(detail) => write!(f, "Mesh protocol error: {detail}"),
            Self::Upstream { what, detail } => write!(f, "Upstream error from {what}: {detail}"),
            Self::Platform { what, detail } => write!(f, "Platform error in {what}: {detail}"),
            Self::MissingClientCapability(method) => write!(f, "Client does not support {method}"),
            Self::ClientError(error) => write!(f, "The client answered with an error: {error}"),
            Self::ClientTimeout(method) => write!(f, "The client did not answer {method} in time"),
            Self::ClientGone => f.write_str("The request's stream is closed"),
            Self::InputRequired(request) => write!(f, "Input required: {} question(s)", request.questions.len()),
            Self::Forbidden(what) => write!(f, "Forbidden: {what}"),
            Self::HeaderMismatch(what) => write!(f, "Header mismatch: {what}"),
            Self::ResourceNotFound(uri) => write!(f, "Resource not found: {uri}"),
            Self::TamperedState => f.write_str("requestState integrity check failed"),
            Self::TaskFailed { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for MeshError {}

impl From<serde_json::Error> for MeshError {
    fn from(error: serde_json::Error) -> Self {
        Self::Protocol(error.to_string())
    }
}

/// Why a stateless call stops: the questions for the client, and state to get back on the retry.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequest {
    /// (key, method, params) per question.
    pub questions: Vec<(String, String, serde_json::Value)>,
    /// Signed by the transport into `requestState`; returned verified in `RequestContext::request_state`.
    pub state: Option<serde_json::Value>,
}

/// Whether `name` is an extension's id (`<reverse domain>/<name>`), not a method or capability.
fn is_extension_id(name: &str) -> bool {
    name.split_once('/').is_some_and(|(prefix, _)| prefix.contains('.'))
}

/// The client capability a server→client method needs.
pub fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" | "sampling" => Some("sampling"),
        "elicitation/create" | "elicitation" => Some("elicitation"),
        "roots/list" | "roots" => Some("roots"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_extension_is_named_under_extensions() {
        let data = MeshError::MissingClientCapability("io.modelcontextprotocol/tasks".into()).rpc_data().unwrap();
        assert_eq!(
            data,
            serde_json::json!({ "requiredCapabilities": { "extensions": { "io.modelcontextprotocol/tasks": {} } } })
        );
        let data = MeshError::MissingClientCapability("sampling/createMessage".into()).rpc_data().unwrap();
        assert_eq!(data, serde_json::json!({ "requiredCapabilities": { "sampling": {} } }));
    }

    #[test]
    fn statuses_and_codes_match_the_reference_server() {
        let cases = [
            (MeshError::Parse("x".into()), 400, -32700),
            (MeshError::MissingSessionId, 400, -32000),
            (MeshError::SessionNotFound, 404, -32001),
            (MeshError::StreamConflict, 409, -32000),
            (MeshError::NotAcceptable("text/event-stream"), 406, -32000),
            (MeshError::UnsupportedMediaType, 415, -32000),
            (MeshError::PayloadTooLarge { limit: 10 }, 413, -32000),
            (MeshError::MethodNotFound("x".into()), 404, -32601),
            (MeshError::ShardFull { shard: 3 }, 503, -32000),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.http_status(), status, "{error}");
            assert_eq!(error.rpc_code(), code, "{error}");
        }
    }

    #[test]
    fn wire_error_omits_unknown_id() {
        let json = serde_json::to_value(MeshError::SessionNotFound.to_rpc_error(None)).unwrap();
        assert_eq!(json["error"]["code"], -32001);
        assert_eq!(json["jsonrpc"], "2.0");
        assert!(json.get("id").is_none());
        let json = serde_json::to_value(MeshError::StreamConflict.to_rpc_error(Some(RequestId::Number(7)))).unwrap();
        assert_eq!(json["id"], 7);
    }

    #[test]
    fn temporary_errors_carry_retry_after() {
        assert_eq!(MeshError::ShardFull { shard: 0 }.retry_after_secs(), Some(5));
        assert_eq!(MeshError::SessionNotFound.retry_after_secs(), None);
    }
}
