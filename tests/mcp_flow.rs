//! The MCP server end to end in memory: both protocol eras through `endpoint::handle` over the
//! in-memory backend, with no runtime. Covers the session lifecycle, streamed tool calls, log-level
//! filtering, server→client requests answered by a separate POST, their timeout, and the stateless
//! revision's validation and input-required round trips.

use std::rc::Rc;

use futures::executor::block_on;
use futures::StreamExt;
use mcp_mesh::access::OriginPolicy;
use mcp_mesh::mcp::backend::{InMemoryBackend, RecordingSink};
use mcp_mesh::mcp::endpoint::{handle, EndpointConfig};
use mcp_mesh::mcp::http::{HttpRequest, Outcome};
use mcp_mesh::mcp::reference::conformance_server;
use mcp_mesh::mcp::server::McpServer;
use mcp_mesh::sse::SseDecoder;
use mcp_mesh::SessionManager;
use serde_json::{json, Value};

struct Harness {
    server: Rc<McpServer<InMemoryBackend>>,
    backend: Rc<InMemoryBackend>,
    config: EndpointConfig,
}

fn harness() -> Harness {
    Harness {
        server: Rc::new(conformance_server()),
        backend: Rc::new(InMemoryBackend::new()),
        config: EndpointConfig::open(OriginPolicy::default(), 64 * 1024, b"test key"),
    }
}

fn post(body: Value) -> HttpRequest {
    HttpRequest::new("POST", "/mcp")
        .with_header("Host", "127.0.0.1:8787")
        .with_header("Accept", "application/json, text/event-stream")
        .with_header("Content-Type", "application/json")
        .with_body(body.to_string())
}

/// A reply's status and JSON body, or a stream's messages.
enum Answer {
    Json(u16, Value, Vec<(String, String)>),
    Stream(futures::stream::LocalBoxStream<'static, String>),
    Open(String),
}

impl Harness {
    fn send(&self, request: HttpRequest) -> Answer {
        match block_on(handle(self.server.clone(), self.backend.clone(), &request, &self.config)) {
            Outcome::Reply(reply) => {
                Answer::Json(reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null), reply.headers)
            }
            Outcome::Stream { body, .. } => Answer::Stream(body),
            Outcome::OpenStream { session, .. } => Answer::Open(session),
            Outcome::Listen { listener, .. } => Answer::Open(listener),
        }
    }

    fn json(&self, request: HttpRequest) -> (u16, Value) {
        match self.send(request) {
            Answer::Json(status, body, _) => (status, body),
            Answer::Stream(mut body) => (200, stream_messages(&mut body).pop().unwrap_or_default()),
            Answer::Open(id) => panic!("unexpected stream open for {id}"),
        }
    }

    fn initialize(&self, capabilities: Value) -> String {
        let request = post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "test", "version": "1"}}}));
        let Answer::Json(200, _, headers) = self.send(request) else { panic!("initialize failed") };
        let session = headers.iter().find(|(n, _)| n == "mcp-session-id").map(|(_, v)| v.clone()).expect("session id");
        let (status, _) =
            self.json(in_session(&session, json!({"jsonrpc": "2.0", "method": "notifications/initialized"})));
        assert_eq!(status, 202);
        session
    }

    /// Opens the session's GET stream the way the Worker does (through the manager).
    fn open_stream(&self, session: &str) -> RecordingSink {
        let get = HttpRequest::new("GET", "/mcp")
            .with_header("Accept", "text/event-stream")
            .with_header("Mcp-Session-Id", session);
        let Answer::Open(id) = self.send(get) else { panic!("GET did not open a stream") };
        let sink = RecordingSink::default();
        block_on(self.backend.streams.create(&id, sink.clone())).unwrap();
        sink
    }
}

fn in_session(session: &str, body: Value) -> HttpRequest {
    post(body).with_header("Mcp-Session-Id", session).with_header("MCP-Protocol-Version", "2025-11-25")
}

fn stream_messages(body: &mut futures::stream::LocalBoxStream<'static, String>) -> Vec<Value> {
    let mut decoder = SseDecoder::new();
    let mut messages = Vec::new();
    while let Some(chunk) = block_on(body.next()) {
        for event in decoder.feed(chunk.as_bytes()) {
            if let Ok(message) = serde_json::from_str(&event.data) {
                messages.push(message);
            }
        }
    }
    messages
}

fn sink_messages(sink: &RecordingSink) -> Vec<Value> {
    let mut decoder = SseDecoder::new();
    sink.received
        .borrow()
        .iter()
        .flat_map(|c| decoder.feed(c.as_bytes()))
        .filter_map(|e| serde_json::from_str(&e.data).ok())
        .collect()
}

#[test]
fn session_lifecycle_and_transport_errors() {
    let h = harness();
    let session = h.initialize(json!({}));
    let (status, body) = h.json(in_session(&session, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})));
    assert_eq!(status, 200);
    let names: Vec<&str> =
        body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"announce") && names.contains(&"test_simple_text"));
    assert_eq!(h.json(post(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))).0, 400);
    let (status, body) =
        h.json(in_session("not-a-session", json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"})));
    assert_eq!((status, body["error"]["code"].clone()), (404, json!(-32001)));
    let (status, body) = h.json(in_session(&session, json!({"jsonrpc": "2.0", "id": 5, "method": "nope/nope"})));
    assert_eq!((status, body["error"]["code"].clone()), (200, json!(-32601)));
    let delete = HttpRequest::new("DELETE", "/mcp").with_header("Mcp-Session-Id", &session);
    assert_eq!(h.json(delete.clone()).0, 200);
    assert_eq!(h.json(in_session(&session, json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}))).0, 404);
    assert_eq!(h.json(delete).0, 404);
    let evil =
        post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).with_header("Origin", "http://evil.example.com");
    assert_eq!(h.json(evil).0, 403);
}

#[test]
fn announce_respects_each_sessions_log_level() {
    let h = harness();
    let (loud, quiet) = (h.initialize(json!({})), h.initialize(json!({})));
    let (loud_sink, quiet_sink) = (h.open_stream(&loud), h.open_stream(&quiet));
    let set_level = json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "error"}});
    assert_eq!(h.json(in_session(&quiet, set_level)).1["result"], json!({}));
    let call = json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "announce", "arguments": {"text": "hi"}}
    });
    let (_, response) = h.json(in_session(&loud, call));
    assert_eq!(response["result"]["structuredContent"]["delivered"], 1);
    assert_eq!(sink_messages(&loud_sink)[0]["params"]["data"]["text"], "hi");
    assert!(sink_messages(&quiet_sink).is_empty());
}

#[test]
fn subscribers_alone_get_resource_updates() {
    let h = harness();
    let (subscriber, bystander) = (h.initialize(json!({})), h.initialize(json!({})));
    let (subscriber_sink, bystander_sink) = (h.open_stream(&subscriber), h.open_stream(&bystander));
    let subscribe =
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": "mesh://counter"}});
    assert_eq!(h.json(in_session(&subscriber, subscribe)).1["result"], json!({}));
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "increment"}});
    let (_, response) = h.json(in_session(&bystander, call));
    assert_eq!(response["result"]["structuredContent"]["notified"], 1);
    assert_eq!(sink_messages(&subscriber_sink)[0]["method"], "notifications/resources/updated");
    assert!(sink_messages(&bystander_sink).is_empty());
}

#[test]
fn a_tool_that_says_nothing_first_answers_plain_json() {
    let h = harness();
    let session = h.initialize(json!({}));
    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "increment"}});
    let Answer::Json(200, body, _) = h.send(in_session(&session, call)) else {
        panic!("a quiet tool call must answer JSON")
    };
    assert_eq!(body["id"], 4);
    assert_eq!(body["result"]["structuredContent"]["notified"], 0);
}

#[test]
fn a_sampling_request_is_answered_by_another_post() {
    let h = harness();
    let session = h.initialize(json!({"sampling": {}}));
    let call = json!({
        "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "test_sampling", "arguments": {"prompt": "2+2?"}}
    });
    let Answer::Stream(mut body) = h.send(in_session(&session, call)) else { panic!("tools/call must stream") };
    let mut decoder = SseDecoder::new();
    let priming = decoder.feed(block_on(body.next()).unwrap().as_bytes());
    assert!(priming[0].id.is_some() && priming[0].data.is_empty(), "priming event first");
    let request: Value =
        serde_json::from_str(&decoder.feed(block_on(body.next()).unwrap().as_bytes())[0].data).unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let reply = json!({
        "jsonrpc": "2.0", "id": request["id"],
        "result": {"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "m"}
    });
    assert_eq!(h.json(in_session(&session, reply)).0, 202);
    let rest = stream_messages(&mut body);
    assert_eq!(rest.last().unwrap()["result"]["content"][0]["text"], "LLM response: 4");
}

#[test]
fn an_unanswered_request_is_cancelled() {
    let h = harness();
    h.backend.replies_time_out.set(true);
    let session = h.initialize(json!({"elicitation": {}}));
    let call = json!({
        "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "test_elicitation", "arguments": {"message": "?"}}
    });
    let Answer::Stream(mut body) = h.send(in_session(&session, call)) else { panic!("tools/call must stream") };
    let messages = stream_messages(&mut body);
    let cancelled =
        messages.iter().find(|m| m["method"] == "notifications/cancelled").expect("notifications/cancelled");
    let asked = messages.iter().find(|m| m["method"] == "elicitation/create").unwrap();
    assert_eq!(cancelled["params"]["requestId"], asked["id"]);
    assert!(messages.last().unwrap().get("error").is_some());
}

fn stateless(method: &str, name: Option<&str>, params: Value) -> HttpRequest {
    let mut request = post(json!({"jsonrpc": "2.0", "id": 77, "method": method, "params": params}))
        .with_header("MCP-Protocol-Version", "2026-07-28")
        .with_header("Mcp-Method", method);
    if let Some(name) = name {
        request = request.with_header("Mcp-Name", name);
    }
    request
}

fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities
    })
}

#[test]
fn stateless_requests_are_validated_in_order() {
    let h = harness();
    let (status, body) = h.json(stateless("server/discover", None, json!({"_meta": meta(json!({}))})));
    assert_eq!(status, 200);
    assert!(body["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    let cases = [
        (stateless("tools/list", None, json!({})), 400, -32602),
        (
            stateless(
                "tools/list",
                None,
                json!({"_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2099-01-01",
                    "io.modelcontextprotocol/clientCapabilities": {}
                }}),
            ),
            400,
            -32020,
        ),
        (
            post(json!({"jsonrpc": "2.0", "id": 77, "method": "tools/list", "params": {"_meta": meta(json!({}))}}))
                .with_header("MCP-Protocol-Version", "2026-07-28"),
            400,
            -32020,
        ),
        (
            stateless("tools/list", None, json!({"_meta": meta(json!({}))}))
                .with_header("Mcp-Method", "ignored-second"),
            200,
            0,
        ),
        (
            stateless("tools/call", Some("wrong"), json!({"name": "test_simple_text", "_meta": meta(json!({}))})),
            400,
            -32020,
        ),
        (stateless("ping", None, json!({"_meta": meta(json!({}))})), 404, -32601),
        (
            stateless(
                "tools/call",
                Some("test_missing_capability"),
                json!({"name": "test_missing_capability", "_meta": meta(json!({}))}),
            ),
            400,
            -32021,
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got_status, body) = h.json(request);
        assert_eq!(got_status, status, "case {i}: {body}");
        if code != 0 {
            assert_eq!(body["error"]["code"], code, "case {i}: {body}");
            assert_eq!(body["id"], 77, "case {i}");
        } else {
            assert_eq!(body["result"]["resultType"], "complete", "case {i}");
        }
    }
}

#[test]
fn input_required_round_trips_carry_signed_state() {
    let h = harness();
    let caps = json!({"elicitation": {}, "sampling": {}});
    let call = |params: Value| stateless("tools/call", Some("test_input_required_result_multi_round"), params);
    let base = json!({"name": "test_input_required_result_multi_round", "arguments": {}, "_meta": meta(caps.clone())});
    let (_, first) = h.json(call(base.clone()));
    let first = &first["result"];
    assert_eq!(first["resultType"], "input_required");
    let key = first["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
    let mut retry = base.clone();
    retry["requestState"] = first["requestState"].clone();
    retry["inputResponses"] = json!({ key: {"action": "accept", "content": {"name": "Alice"}} });
    let (_, second) = h.json(call(retry.clone()));
    let second = &second["result"];
    assert_eq!(second["resultType"], "input_required");
    assert_ne!(second["requestState"], first["requestState"]);
    let key = second["inputRequests"].as_object().unwrap().keys().next().unwrap().clone();
    let mut last = base.clone();
    last["requestState"] = second["requestState"].clone();
    last["inputResponses"] = json!({ key: {"action": "accept", "content": {"color": "blue"}} });
    let (_, done) = h.json(call(last.clone()));
    assert_eq!(done["result"]["content"][0]["text"], "Multi-round complete for Alice who likes blue");
    last["requestState"] = json!(format!("{}-TAMPERED", second["requestState"].as_str().unwrap()));
    let (_, tampered) = h.json(call(last));
    assert_eq!(tampered["error"]["code"], -32602);
}
