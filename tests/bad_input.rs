//! A corpus of bad requests against the MCP endpoint (in memory): each gets its HTTP status and,
//! where the transport answers with a body, a JSON-RPC error object; nothing panics, nothing is
//! lost, and the server keeps serving. Also: sessions bound to an authenticated identity.

use std::rc::Rc;

use futures::executor::block_on;
use mcp_mesh::access::OriginPolicy;
use mcp_mesh::auth::TokenAuth;
use mcp_mesh::mcp::backend::InMemoryBackend;
use mcp_mesh::mcp::endpoint::{handle, EndpointConfig};
use mcp_mesh::mcp::http::{HttpRequest, Outcome};
use mcp_mesh::mcp::reference::conformance_server;
use mcp_mesh::mcp::server::McpServer;
use mcp_mesh::protocol::MAX_TOPIC_BYTES;
use serde_json::{json, Value};

const LIMIT: u32 = 16 * 1024;

struct Endpoint {
    server: Rc<McpServer<InMemoryBackend>>,
    backend: Rc<InMemoryBackend>,
    config: EndpointConfig,
}

impl Endpoint {
    fn new(auth: &str) -> Self {
        Self {
            server: Rc::new(conformance_server()),
            backend: Rc::new(InMemoryBackend::new()),
            config: EndpointConfig {
                auth: Rc::new(TokenAuth::from_list(auth).expect("test tokens")),
                ..EndpointConfig::open(OriginPolicy::default(), LIMIT, b"k")
            },
        }
    }

    /// (status, parsed body or Null, the raw body)
    fn call(&self, request: &HttpRequest) -> (u16, Value) {
        match block_on(handle(self.server.clone(), self.backend.clone(), request, &self.config)) {
            Outcome::Reply(reply) => (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null)),
            Outcome::Stream { mut body, .. } => {
                // The last message of a streamed answer is the response.
                let mut decoder = mcp_mesh::sse::SseDecoder::new();
                let mut last = Value::Null;
                while let Some(chunk) = block_on(futures::StreamExt::next(&mut body)) {
                    for event in decoder.feed(chunk.as_bytes()) {
                        if let Ok(message) = serde_json::from_str(&event.data) {
                            last = message;
                        }
                    }
                }
                (200, last)
            }
            Outcome::Listen { .. } => (200, Value::Null),
            Outcome::OpenStream { .. } => (200, json!("open")),
        }
    }
}

fn post_raw(body: &[u8]) -> HttpRequest {
    HttpRequest::new("POST", "/mcp")
        .with_header("Accept", "application/json, text/event-stream")
        .with_header("Content-Type", "application/json")
        .with_body(body.to_vec())
}

fn post(body: Value) -> HttpRequest {
    post_raw(body.to_string().as_bytes())
}

/// A 2026-07-28 `subscriptions/listen` for `uris`.
fn stateless_listen(uris: Value) -> HttpRequest {
    post(json!({"jsonrpc": "2.0", "id": 46, "method": "subscriptions/listen", "params": {
        "notifications": {"resourceSubscriptions": uris},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }}))
    .with_header("MCP-Protocol-Version", "2026-07-28")
    .with_header("Mcp-Method", "subscriptions/listen")
}

fn initialize(endpoint: &Endpoint, token: Option<&str>) -> String {
    let mut request = post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
    if let Some(token) = token {
        request = request.with_header("Authorization", &format!("Bearer {token}"));
    }
    match block_on(handle(endpoint.server.clone(), endpoint.backend.clone(), &request, &endpoint.config)) {
        Outcome::Reply(reply) => reply.header("mcp-session-id").expect("a session id").to_owned(),
        other => panic!("initialize: {other:?}"),
    }
}

#[test]
fn every_bad_request_gets_its_status_and_a_json_rpc_error() {
    let endpoint = Endpoint::new("");
    let session = initialize(&endpoint, None);
    let with_session = |request: HttpRequest| request.with_header("Mcp-Session-Id", &session);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let huge = vec![b' '; LIMIT as usize + 1];
    let corpus: Vec<(&str, HttpRequest, u16, Option<i64>)> = vec![
        ("not json", with_session(post_raw(b"{\"jsonrpc\":")), 400, Some(-32700)),
        ("invalid utf-8", with_session(post_raw(b"\xff\xfe{}")), 400, Some(-32700)),
        ("empty body", with_session(post_raw(b"")), 400, Some(-32700)),
        ("batch", with_session(post(json!([list.clone()]))), 400, Some(-32600)),
        ("a number", with_session(post(json!(5))), 400, Some(-32600)),
        ("no jsonrpc field", with_session(post(json!({"id": 1, "method": "ping"}))), 400, Some(-32600)),
        ("method is a number", with_session(post(json!({"jsonrpc": "2.0", "id": 1, "method": 5}))), 400, Some(-32600)),
        (
            "params is an array",
            with_session(post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}))),
            400,
            Some(-32600),
        ),
        (
            "id is an object",
            with_session(post(json!({"jsonrpc": "2.0", "id": {}, "method": "ping"}))),
            400,
            Some(-32600),
        ),
        ("id is null", with_session(post(json!({"jsonrpc": "2.0", "id": null, "method": "ping"}))), 400, Some(-32600)),
        ("body over the limit", with_session(post_raw(&huge)), 413, Some(-32000)),
        (
            "content-length over the limit",
            with_session(post(list.clone())).with_header("Content-Length", "999999999"),
            200,
            None,
        ),
        (
            "no accept",
            HttpRequest::new("POST", "/mcp")
                .with_header("Content-Type", "application/json")
                .with_body(list.to_string()),
            406,
            Some(-32000),
        ),
        (
            "no content type",
            HttpRequest::new("POST", "/mcp")
                .with_header("Accept", "application/json, text/event-stream")
                .with_body(list.to_string()),
            415,
            Some(-32000),
        ),
        ("no session", post(list.clone()), 400, Some(-32000)),
        ("huge session id", post(list.clone()).with_header("Mcp-Session-Id", &"a".repeat(10_000)), 400, Some(-32000)),
        ("session id with spaces", post(list.clone()).with_header("Mcp-Session-Id", "a b"), 400, Some(-32000)),
        ("non-ascii session id", post(list.clone()).with_header("Mcp-Session-Id", "séance"), 400, Some(-32000)),
        ("unknown session", post(list.clone()).with_header("Mcp-Session-Id", "nobody"), 404, Some(-32001)),
        (
            "bad protocol version",
            with_session(post(list.clone())).with_header("MCP-Protocol-Version", "1.0"),
            400,
            Some(-32022),
        ),
        (
            "unknown method",
            with_session(post(json!({"jsonrpc": "2.0", "id": 3, "method": "no/such"}))),
            200,
            Some(-32601),
        ),
        (
            "wrong param types",
            with_session(post(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": 5}}))),
            200,
            Some(-32602),
        ),
        (
            "a tool argument of the wrong type",
            with_session(post(json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                "params": {"name": "announce", "arguments": {"text": 3}}}))),
            200,
            Some(-32602),
        ),
        (
            "a required tool argument missing",
            with_session(post(json!({"jsonrpc": "2.0", "id": 42, "method": "tools/call",
                "params": {"name": "test_sampling", "arguments": {}}}))),
            200,
            Some(-32602),
        ),
        (
            "tool arguments that are not an object",
            with_session(post(json!({"jsonrpc": "2.0", "id": 43, "method": "tools/call",
                "params": {"name": "announce", "arguments": ["x"]}}))),
            200,
            Some(-32602),
        ),
        (
            "a subscribed URI over the topic index's limit",
            with_session(post(json!({"jsonrpc": "2.0", "id": 44, "method": "resources/subscribe",
                "params": {"uri": format!("mesh://{}", "u".repeat(MAX_TOPIC_BYTES))}}))),
            200,
            Some(-32602),
        ),
        (
            "an empty subscribed URI",
            with_session(post(json!({"jsonrpc": "2.0", "id": 45, "method": "resources/subscribe",
                "params": {"uri": ""}}))),
            200,
            Some(-32602),
        ),
        (
            "a listen URI over the topic index's limit",
            stateless_listen(json!([format!("mesh://{}", "u".repeat(MAX_TOPIC_BYTES))])),
            400,
            Some(-32602),
        ),
        (
            "unknown tool",
            with_session(post(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "nope"}}))),
            200,
            None,
        ),
        (
            "unknown resource",
            with_session(post(
                json!({"jsonrpc": "2.0", "id": 6, "method": "resources/read", "params": {"uri": "x://y"}}),
            )),
            200,
            Some(-32002),
        ),
        (
            "bad log level",
            with_session(post(
                json!({"jsonrpc": "2.0", "id": 7, "method": "logging/setLevel", "params": {"level": "loud"}}),
            )),
            200,
            Some(-32602),
        ),
        (
            "GET without session",
            HttpRequest::new("GET", "/mcp").with_header("Accept", "text/event-stream"),
            400,
            Some(-32000),
        ),
        (
            "DELETE unknown",
            HttpRequest::new("DELETE", "/mcp").with_header("Mcp-Session-Id", "nobody"),
            404,
            Some(-32001),
        ),
        ("PATCH", HttpRequest::new("PATCH", "/mcp"), 405, Some(-32000)),
        ("foreign host", with_session(post(list.clone())).with_header("Host", "evil.example.com"), 403, Some(-32000)),
        (
            "stateless without a version header",
            post(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": {"_meta": {}}})),
            400,
            Some(-32020),
        ),
    ];
    for (name, request, status, code) in corpus {
        let (got, body) = endpoint.call(&request);
        if name == "content-length over the limit" {
            // The in-memory endpoint reads the body it was given; the Worker refuses by header first
            // (see `to_core_request`), which `tests/e2e.rs` exercises. Here it must simply work.
            assert!(got == 200 || got == 413, "{name}: {got}");
            continue;
        }
        assert_eq!(got, status, "{name}: {body}");
        if let Some(code) = code {
            assert_eq!(body["error"]["code"], code, "{name}: {body}");
            assert_eq!(body["jsonrpc"], "2.0", "{name}");
        } else {
            assert!(body.get("result").is_some() || body.get("error").is_some() || body.is_null(), "{name}: {body}");
        }
    }
    // A bad argument is named, so the client can tell which.
    let wrong_type = with_session(post(json!({"jsonrpc": "2.0", "id": 47, "method": "tools/call",
        "params": {"name": "announce", "arguments": {"text": 3}}})));
    let message = endpoint.call(&wrong_type).1["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("arguments.text"), "{message}");
    let missing = with_session(post(json!({"jsonrpc": "2.0", "id": 48, "method": "tools/call",
        "params": {"name": "test_sampling", "arguments": {}}})));
    let message = endpoint.call(&missing).1["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("missing field `prompt`"), "{message}");
    // Still serving, and the session is intact.
    let (status, body) = endpoint.call(&with_session(post(list)));
    assert_eq!(status, 200);
    assert!(body["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn sessions_belong_to_the_identity_that_created_them() {
    let endpoint = Endpoint::new("alice:token-a,bob:token-b");
    let session = initialize(&endpoint, Some("token-a"));
    let ping = |token: Option<&str>| {
        let mut request =
            post(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).with_header("Mcp-Session-Id", &session);
        if let Some(token) = token {
            request = request.with_header("Authorization", &format!("Bearer {token}"));
        }
        endpoint.call(&request)
    };
    assert_eq!(ping(Some("token-a")).0, 200);
    let (status, body) = ping(Some("token-b"));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!(-32001)),
        "another identity must not see the session"
    );
    assert_eq!(ping(None).0, 401);
    assert_eq!(ping(Some("forged")).0, 401);
    let refused = endpoint.backend.observed.borrow().auth_rejections.clone();
    assert_eq!(refused.get("missing_token"), Some(&1), "each refusal is counted by reason: {refused:?}");
    assert_eq!(refused.get("invalid_token"), Some(&1), "{refused:?}");
    let delete = |token: &str| {
        let request = HttpRequest::new("DELETE", "/mcp")
            .with_header("Mcp-Session-Id", &session)
            .with_header("Authorization", &format!("Bearer {token}"));
        endpoint.call(&request).0
    };
    assert_eq!(delete("token-b"), 404, "bob cannot end alice's session");
    assert_eq!(ping(Some("token-a")).0, 200);
    assert_eq!(delete("token-a"), 200);
}
