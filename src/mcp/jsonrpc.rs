//! One POSTed body → one classified JSON-RPC message, with the exact error for everything else.
//!
//! The envelope is checked by hand (not by deserializing into an enum of every method) so that a
//! body that is not JSON is -32700, a batch or a malformed envelope is -32600, and an unknown method
//! is still a well-formed request that the dispatcher answers with -32601. Params stay JSON until the
//! dispatcher parses them into the `rmcp::model` type of their method. Must not touch the runtime.

use rmcp::model::{ErrorData, JsonRpcError, JsonRpcResponse, RequestId};
use serde_json::{Map, Value};

use crate::error::{MeshError, Result};

/// A classified message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A call that expects an answer.
    Request {
        /// The client's id, echoed in the answer.
        id: RequestId,
        /// The method name; not checked against the known methods here.
        method: String,
        /// The params object; empty when absent or `null`.
        params: Map<String, Value>,
    },
    /// A message without an `id`: it gets no answer.
    Notification {
        /// The method name.
        method: String,
        /// The params object; empty when absent or `null`.
        params: Map<String, Value>,
    },
    /// A client's answer to a server→client request.
    Response {
        /// The id the server gave the request.
        id: RequestId,
        /// The `result` member, unparsed.
        result: Value,
    },
    /// A client's error answer to a server→client request.
    ErrorReply {
        /// The id the server gave the request; `None` when the client could not read it.
        id: Option<RequestId>,
        /// The `error` member.
        error: ErrorData,
    },
}

impl Incoming {
    /// The method of a request or notification; `None` for answers.
    pub fn method(&self) -> Option<&str> {
        match self {
            Self::Request { method, .. } | Self::Notification { method, .. } => Some(method),
            _ => None,
        }
    }

    /// The id of a request or an answer; `None` for a notification (and an error answer without one).
    pub fn request_id(&self) -> Option<&RequestId> {
        match self {
            Self::Request { id, .. } | Self::Response { id, .. } => Some(id),
            Self::ErrorReply { id, .. } => id.as_ref(),
            Self::Notification { .. } => None,
        }
    }
}

/// Parses and classifies one body.
pub fn parse_message(body: &[u8]) -> Result<Incoming> {
    let value: Value = serde_json::from_slice(body).map_err(|e| MeshError::Parse(e.to_string()))?;
    classify(value)
}

/// Classifies an already-parsed JSON value.
pub fn classify(value: Value) -> Result<Incoming> {
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return Err(MeshError::InvalidRequest("batches are not supported".into())),
        _ => return Err(MeshError::InvalidRequest("a message must be a JSON object".into())),
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(MeshError::InvalidRequest("\"jsonrpc\" must be \"2.0\"".into()));
    }
    let id = match object.remove("id") {
        None => None,
        Some(raw) => Some(parse_id(raw)?),
    };
    if let Some(method) = object.remove("method") {
        let Value::String(method) = method else {
            return Err(MeshError::InvalidRequest("\"method\" must be a string".into()));
        };
        let params = match object.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params,
            Some(_) => return Err(MeshError::InvalidRequest("\"params\" must be an object".into())),
        };
        return Ok(match id {
            Some(id) => Incoming::Request { id, method, params },
            None => Incoming::Notification { method, params },
        });
    }
    if let Some(result) = object.remove("result") {
        let id = id.ok_or_else(|| MeshError::InvalidRequest("a response needs an \"id\"".into()))?;
        return Ok(Incoming::Response { id, result });
    }
    if let Some(error) = object.remove("error") {
        let error: ErrorData = serde_json::from_value(error)
            .map_err(|e| MeshError::InvalidRequest(format!("malformed error object: {e}")))?;
        return Ok(Incoming::ErrorReply { id, error });
    }
    Err(MeshError::InvalidRequest("a message needs \"method\", \"result\" or \"error\"".into()))
}

fn parse_id(raw: Value) -> Result<RequestId> {
    match raw {
        Value::String(_) | Value::Number(_) => serde_json::from_value(raw)
            .map_err(|_| MeshError::InvalidRequest("\"id\" must be a string or an integer".into())),
        _ => Err(MeshError::InvalidRequest("\"id\" must be a string or an integer".into())),
    }
}

/// A success response body.
pub fn response_json(id: RequestId, result: Value) -> String {
    serde_json::to_string(&JsonRpcResponse { jsonrpc: Default::default(), id, result }).unwrap_or_default()
}

/// An error response body.
pub fn error_json(id: Option<RequestId>, error: &MeshError) -> String {
    serde_json::to_string(&error.to_rpc_error(id)).unwrap_or_default()
}

/// A notification body, as it is framed into a stream.
pub fn notification_json(method: &str, params: Value) -> String {
    serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string()
}

/// Sets `key` in the `_meta` of a result or params object (created if absent); anything but an
/// object is left as it is.
pub fn set_meta(value: &mut Value, key: &str, entry: Value) {
    if let Value::Object(object) = value {
        if let Value::Object(meta) = object.entry("_meta").or_insert_with(|| Value::Object(Map::new())) {
            meta.insert(key.to_owned(), entry);
        }
    }
}

/// The wire form of any error object (used when a handler produced an `ErrorData` itself).
pub fn rpc_error_json(id: Option<RequestId>, error: ErrorData) -> String {
    serde_json::to_string(&JsonRpcError::new(id, error)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let request = parse_message(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(request.method(), Some("tools/list"));
        assert_eq!(request.request_id(), Some(&RequestId::Number(1)));
        let notification = parse_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(notification, Incoming::Notification { .. }));
        let response = parse_message(br#"{"jsonrpc":"2.0","id":"s-1","result":{}}"#).unwrap();
        assert!(matches!(response, Incoming::Response { .. }));
        let error = parse_message(br#"{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"no"}}"#).unwrap();
        assert!(matches!(error, Incoming::ErrorReply { .. }));
    }

    #[test]
    fn bad_bodies_get_the_right_error() {
        let cases: [(&[u8], i32); 9] = [
            (b"{not json", -32700),
            (b"", -32700),
            (b"[]", -32600),
            (b"42", -32600),
            (br#"{"id":1,"method":"x"}"#, -32600),
            (br#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#, -32600),
            (br#"{"jsonrpc":"2.0","id":1,"method":7}"#, -32600),
            (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, -32600),
            (br#"{"jsonrpc":"2.0","id":1}"#, -32600),
        ];
        for (body, code) in cases {
            let error = parse_message(body).unwrap_err();
            assert_eq!(error.rpc_code(), code, "{}", String::from_utf8_lossy(body));
            assert_eq!(error.http_status(), 400);
        }
    }

    #[test]
    fn response_bodies_round_trip() {
        let body = response_json(RequestId::Number(3), serde_json::json!({"ok": true}));
        assert_eq!(
            parse_message(body.as_bytes()).unwrap(),
            Incoming::Response { id: RequestId::Number(3), result: serde_json::json!({"ok": true}) }
        );
        let body = error_json(None, &MeshError::SessionNotFound);
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["error"]["code"], -32001);
    }
}
