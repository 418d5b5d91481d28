//! What the end-to-end scenarios share: their constants, `check`, the manager API over HTTP
//! (`HttpDriver`, which runs the manager suite against the Worker) and the MCP calls over HTTP
//! (initialize, POST in a session, the GET stream, tools/call, the status route). Used by `tests/e2e.rs`.

use std::time::Duration;

use mcp_mesh::protocol::SendReport;
use serde_json::{json, Value};

use super::manager_suite::{CreateError, Driver, Probe};
use super::workerd::{request, Reply, SseStream, Wrangler};

/// The shared worker's SHARD_COUNT (`tests/e2e.rs` starts it with "16").
pub const SHARD_COUNT: u32 = 16;
/// How many sessions the MCP scenarios' `Fleet` holds.
pub const SESSIONS: usize = 48;
/// How long a scenario waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(15);
pub const ACCEPT_BOTH: (&str, &str) = ("Accept", "application/json, text/event-stream");
pub const JSON: (&str, &str) = ("Content-Type", "application/json");

/// `Ok` if `condition` holds, else `what` as the error.
pub fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

// ---- the manager API over HTTP ----

pub struct HttpDriver<'a> {
    pub wrangler: &'a Wrangler,
}

impl HttpDriver<'_> {
    pub fn admin(&self, path: &str, body: Value) -> Reply {
        let auth = format!("Bearer {}", self.wrangler.token);
        request("POST", &self.wrangler.url(path), &[("Authorization", &auth), JSON], Some(&body.to_string()))
    }
}

impl Probe for SseStream {
    fn wait_payloads(&mut self, count: usize, timeout: Duration) -> Vec<String> {
        // The priming event (an id, empty data) opens every fresh stream; it is not a payload.
        let is_payload = |e: &&mcp_mesh::sse::SseEvent| !e.data.is_empty();
        self.wait_until(timeout, |s| s.events.iter().filter(is_payload).count() >= count);
        self.events.iter().filter(is_payload).map(mcp_mesh::sse::encode).collect()
    }

    fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.closed)
    }
}

impl Driver for HttpDriver<'_> {
    type Stream = SseStream;

    fn create(&self, id: &str) -> Result<SseStream, CreateError> {
        let auth = format!("Bearer {}", self.wrangler.token);
        let path = format!("/mesh/stream?session={}", encode_query(id));
        match SseStream::open(self.wrangler.port, &path, &[("Authorization", &auth), ("Accept", "text/event-stream")]) {
            Ok(stream) => Ok(stream),
            Err((409, _)) => Err(CreateError::Conflict),
            Err((status, body)) => Err(CreateError::Other(format!("{status}: {body}"))),
        }
    }

    fn delete(&self, id: &str) {
        self.admin("/mesh/delete", json!({ "session": id }));
    }

    fn has(&self, id: &str) -> bool {
        self.admin("/mesh/has", json!({ "session": id })).json()["has"] == json!(true)
    }

    fn send(&self, ids: Option<Vec<String>>, data: &str) -> SendReport {
        let body = match ids {
            Some(ids) => json!({ "sessions": ids, "data": data }),
            None => json!({ "data": data }),
        };
        serde_json::from_str(&self.admin("/mesh/send", body).body).unwrap_or_default()
    }

    fn patience(&self) -> Duration {
        PATIENCE
    }
}

pub fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- MCP calls over HTTP ----

pub fn initialize(w: &Wrangler) -> Result<String, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let reply = request("POST", &w.url("/mcp"), &[ACCEPT_BOTH, JSON], Some(&body.to_string()));
    check(reply.status == 200, format!("initialize: {} {}", reply.status, reply.body))?;
    let id = reply.header("mcp-session-id").ok_or("initialize returned no Mcp-Session-Id")?.to_owned();
    let done = post(w, &id, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    check(done.status == 202, format!("initialized: {}", done.status))?;
    Ok(id)
}

pub fn post(w: &Wrangler, session: &str, body: Value) -> Reply {
    request(
        "POST",
        &w.url("/mcp"),
        &[ACCEPT_BOTH, JSON, ("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")],
        Some(&body.to_string()),
    )
}

pub fn open_get(w: &Wrangler, session: &str) -> Result<SseStream, (u16, String)> {
    SseStream::open(w.port, "/mcp", &[("Accept", "text/event-stream"), ("Mcp-Session-Id", session)])
}

pub fn call_tool(w: &Wrangler, session: &str, name: &str, arguments: Value) -> Result<Value, String> {
    let reply = post(
        w,
        session,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}}),
    );
    check(reply.status == 200, format!("tools/call {name}: {} {}", reply.status, reply.body))?;
    let result = rpc_body(&reply)["result"].clone();
    check(result.is_object() && result["isError"] != json!(true), format!("tools/call {name}: {}", reply.body))?;
    Ok(result)
}

/// The JSON-RPC response of a POST, whether it came as JSON or as an SSE stream (tools/call
/// streams: a priming event, any notifications, then the response).
pub fn rpc_body(reply: &Reply) -> Value {
    if reply.header("content-type").is_some_and(|t| t.starts_with("text/event-stream")) {
        let events = mcp_mesh::sse::SseDecoder::new().feed(reply.body.as_bytes());
        return events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_default();
    }
    reply.json()
}

pub fn status(w: &Wrangler) -> Value {
    request("GET", &w.url("/mesh/status"), &[("Authorization", &format!("Bearer {}", w.token))], None).json()
}
