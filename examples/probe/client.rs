//! The probe's POSTs and DELETEs: one ureq agent per phase, answers read as JSON or SSE.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mcp_mesh::sse::SseDecoder;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// POSTs (ureq; SSE or JSON answers)

pub(crate) struct Client {
    agent: ureq::Agent,
    pub(crate) url: String,
}

impl Client {
    /// A client with its own pool of at most 64 keep-alive connections.
    pub(crate) fn pooled(url: &str) -> Arc<Self> {
        Arc::new(Client {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .max_idle_connections(64)
                .max_idle_connections_per_host(64)
                .build(),
            url: url.to_owned(),
        })
    }

    pub(crate) fn post(&self, session: Option<&str>, body: &Value) -> Result<(Option<String>, String), String> {
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json, text/event-stream")
            .set("MCP-Protocol-Version", "2025-11-25");
        if let Some(sid) = session {
            req = req.set("Mcp-Session-Id", sid);
        }
        match req.send_string(&body.to_string()) {
            Ok(resp) => {
                let sid = resp.header("mcp-session-id").map(str::to_owned);
                let text = resp.into_string().map_err(|e| format!("reading body: {e}"))?;
                Ok((sid, text))
            }
            Err(ureq::Error::Status(code, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                Err(format!("HTTP {code}: {}", text.chars().take(200).collect::<String>()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// A JSON-RPC request; returns the response object with the same id (from JSON or SSE).
    pub(crate) fn rpc(
        &self,
        session: Option<&str>,
        id: u64,
        method: &str,
        params: Value,
    ) -> Result<(Option<String>, Value), String> {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (sid, text) = self.post(session, &body)?;
        let found = find_response(&text, id).ok_or_else(|| {
            format!("{method}: no response with id {id} in {:?}", text.chars().take(200).collect::<String>())
        })?;
        if let Some(err) = found.get("error") {
            return Err(format!("{method}: JSON-RPC error {err}"));
        }
        if found.pointer("/result/isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("{method}: tool error {}", found["result"]));
        }
        Ok((sid, found))
    }

    pub(crate) fn delete(&self, session: &str) {
        let _ = self.agent.delete(&self.url).set("Mcp-Session-Id", session).call();
    }
}

pub(crate) fn find_response(text: &str, id: u64) -> Option<Value> {
    let matches = |v: &Value| v.get("id").and_then(Value::as_u64) == Some(id);
    if let Ok(v) = serde_json::from_str::<Value>(text.trim()) {
        if matches(&v) {
            return Some(v);
        }
        if let Some(arr) = v.as_array() {
            return arr.iter().find(|x| matches(x)).cloned();
        }
    }
    let mut dec = SseDecoder::new();
    let mut events = dec.feed(text.as_bytes());
    events.extend(dec.feed(b"\n\n"));
    events.into_iter().filter_map(|e| serde_json::from_str::<Value>(&e.data).ok()).find(|v| matches(v))
}

/// Subscribes each of `sessions` (stream index, session id) to `mesh://counter` with `concurrency`
/// workers; returns the stream indexes whose subscription succeeded, and reports the others.
pub(crate) fn subscribe_sessions(
    client: &Arc<Client>,
    sessions: Vec<(usize, String)>,
    concurrency: usize,
    note_error: impl Fn(String) + Clone + Send + 'static,
) -> Vec<usize> {
    let sessions = Arc::new(sessions);
    let subscribed = Arc::new(Mutex::new(Vec::new()));
    let cursor = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, sessions, cursor, subscribed, note_error) =
                (client.clone(), sessions.clone(), cursor.clone(), subscribed.clone(), note_error.clone());
            thread::spawn(move || loop {
                let j = cursor.fetch_add(1, Ordering::Relaxed);
                let Some((index, session)) = sessions.get(j) else { return };
                match client.rpc(Some(session), 2, "resources/subscribe", json!({"uri": "mesh://counter"})) {
                    Ok(_) => subscribed.lock().unwrap().push(*index),
                    Err(e) => note_error(format!("subscribe: {e}")),
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let subscribed = std::mem::take(&mut *subscribed.lock().unwrap());
    subscribed
}

/// DELETEs `sessions` with `concurrency` workers, for at most 60 s.
pub(crate) fn delete_sessions(client: &Arc<Client>, sessions: &[String], concurrency: usize) {
    let sessions: Arc<Vec<String>> = Arc::new(sessions.to_vec());
    let cursor = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, sessions, cursor) = (client.clone(), sessions.clone(), cursor.clone());
            thread::spawn(move || loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                if i >= sessions.len() || Instant::now() > deadline {
                    return;
                }
                client.delete(&sessions[i]);
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
}
