//! The seed's manager API (`create`, `delete`, `has`, `send`) as a trait, and its in-memory
//! implementation, which is the reference semantics and the test double.
//!
//! The sharded Durable Object implementation lives in the Workers glue and passes the same behavioural
//! suite (`tests/manager_behaviour.rs` in-memory, `tests/e2e` against workerd). Async methods carry no
//! `Send` bound: wasm is single-threaded and the Workers types are `!Send`. Must not touch the runtime.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{MeshError, Result};
use crate::protocol::SendReport;

/// Where a session's stream writes go. For MCP this is the SSE body of the session's GET request.
pub trait SessionSink {
    /// Writes one payload; `false` means the reader is gone and the session should be dropped.
    fn write(&self, data: &str) -> bool;
    /// Ends the stream.
    fn close(&self);
}

/// The manager API, kept from `@tmcp/session-manager-durable-objects`.
#[allow(async_fn_in_trait)]
pub trait SessionManager {
    /// The stream a session's sends are written to.
    type Sink: SessionSink;

    /// Attaches `sink` as the stream of session `id`. A session has at most one stream: a second
    /// `create` for a live id is [`MeshError::StreamConflict`].
    async fn create(&self, id: &str, sink: Self::Sink) -> Result<()>;
    /// Closes and forgets the session's stream. Deleting an unknown id is not an error.
    async fn delete(&self, id: &str) -> Result<()>;
    /// Whether the session has a live stream.
    async fn has(&self, id: &str) -> Result<bool>;
    /// Sends `data` to the listed sessions, or to every session when `sessions` is `None`.
    /// Ids without a live stream are counted as missing, never an error; one failed stream does not
    /// stop delivery to the others.
    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport>;
}

/// Checks a session id before it is used as a tag, a storage key or a URL parameter: 1 to 128
/// visible ASCII characters (the MCP rule is 0x21..=0x7E; the length bound keeps tags, which the
/// runtime caps at 256 characters, and storage keys small).
pub fn validate_session_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_SESSION_ID_LEN || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(MeshError::MalformedSessionId);
    }
    Ok(())
}

/// The longest session id accepted (a UUID is 36).
pub const MAX_SESSION_ID_LEN: usize = 128;

/// Sessions held in one process: the reference semantics of [`SessionManager`].
pub struct InMemorySessionManager<S: SessionSink> {
    sessions: RefCell<HashMap<String, Rc<S>>>,
}

impl<S: SessionSink> Default for InMemorySessionManager<S> {
    fn default() -> Self {
        Self { sessions: RefCell::new(HashMap::new()) }
    }
}

impl<S: SessionSink> InMemorySessionManager<S> {
    /// A manager holding no session.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions have a live stream.
    pub fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Whether no session has a live stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sessions with a live stream, in no particular order.
    pub fn ids(&self) -> Vec<String> {
        self.sessions.borrow().keys().cloned().collect()
    }

    fn write_to(&self, id: &str, sink: &Rc<S>, data: &str, report: &mut SendReport, dead: &mut Vec<String>) {
        if sink.write(data) {
            report.delivered += 1;
        } else {
            report.failed += 1;
            dead.push(id.to_owned());
        }
    }
}

impl<S: SessionSink> SessionManager for InMemorySessionManager<S> {
    type Sink = S;

    async fn create(&self, id: &str, sink: S) -> Result<()> {
        validate_session_id(id)?;
        let mut sessions = self.sessions.borrow_mut();
        if sessions.contains_key(id) {
            return Err(MeshError::StreamConflict);
        }
        sessions.insert(id.to_owned(), Rc::new(sink));
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        // Take the sink out before closing it, so a sink whose close re-enters the manager does not
        // find the map borrowed.
        let removed = self.sessions.borrow_mut().remove(id);
        if let Some(sink) = removed {
            sink.close();
        }
        Ok(())
    }

    async fn has(&self, id: &str) -> Result<bool> {
        Ok(self.sessions.borrow().contains_key(id))
    }

    async fn send(&self, sessions: Option<&[String]>, data: &str) -> Result<SendReport> {
        let mut report = SendReport::default();
        let mut dead = Vec::new();
        // Clone the targets out so sinks run without the map borrowed.
        let targets: Vec<(String, Option<Rc<S>>)> = {
            let map = self.sessions.borrow();
            match sessions {
                None => map.iter().map(|(id, sink)| (id.clone(), Some(sink.clone()))).collect(),
                Some(ids) => {
                    let mut ids: Vec<&String> = ids.iter().collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids.into_iter().map(|id| (id.clone(), map.get(id).cloned())).collect()
                }
            }
        };
        for (id, sink) in targets {
            match sink {
                Some(sink) => self.write_to(&id, &sink, data, &mut report, &mut dead),
                None => report.missing += 1,
            }
        }
        // A sink that refused a write has lost its reader: drop it so `has` turns false.
        let mut map = self.sessions.borrow_mut();
        for id in dead {
            map.remove(&id);
        }
        Ok(report)
    }
}
