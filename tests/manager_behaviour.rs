//! The `SessionManager` behavioural suite against the in-memory implementation (the reference
//! semantics). `tests/e2e.rs` runs the same suite against the sharded Durable Objects.

mod support;

use std::time::Duration;

use futures::executor::block_on;
use mcp_mesh::mcp::backend::RecordingSink;
use mcp_mesh::protocol::SendReport;
use mcp_mesh::{InMemorySessionManager, MeshError, SessionManager};
use support::manager_suite::{cases, CreateError, Driver, Probe};

struct InMemory(InMemorySessionManager<RecordingSink>);

impl Probe for RecordingSink {
    fn wait_payloads(&mut self, _count: usize, _timeout: Duration) -> Vec<String> {
        // Delivery is synchronous in memory: whatever arrived has arrived.
        self.received.borrow().clone()
    }

    fn wait_closed(&mut self, _timeout: Duration) -> bool {
        self.closed.get()
    }
}

impl Driver for InMemory {
    type Stream = RecordingSink;

    fn create(&self, id: &str) -> Result<RecordingSink, CreateError> {
        let sink = RecordingSink::default();
        match block_on(self.0.create(id, sink.clone())) {
            Ok(()) => Ok(sink),
            Err(MeshError::StreamConflict) => Err(CreateError::Conflict),
            Err(other) => Err(CreateError::Other(other.to_string())),
        }
    }

    fn delete(&self, id: &str) {
        block_on(self.0.delete(id)).expect("delete");
    }

    fn has(&self, id: &str) -> bool {
        block_on(self.0.has(id)).expect("has")
    }

    fn send(&self, ids: Option<Vec<String>>, data: &str) -> SendReport {
        block_on(self.0.send(ids.as_deref(), data)).expect("send")
    }

    fn patience(&self) -> Duration {
        Duration::ZERO
    }
}

#[test]
fn in_memory_manager_passes_the_behavioural_suite() {
    let mut failures = Vec::new();
    for (name, case) in cases::<InMemory>() {
        // A fresh manager per case, as the cases assume only their own sessions exist for broadcasts.
        let driver = InMemory(InMemorySessionManager::new());
        if let Err(error) = case(&driver, name) {
            failures.push(format!("{name}: {error}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_sink_that_lost_its_reader_is_dropped_and_others_still_get_the_send() {
    let manager = InMemorySessionManager::new();
    let (alive, dead) = (RecordingSink::default(), RecordingSink::default());
    block_on(manager.create("alive", alive.clone())).unwrap();
    block_on(manager.create("dead", dead.clone())).unwrap();
    dead.broken.set(true);
    let report = block_on(manager.send(None, "x")).unwrap();
    assert_eq!((report.delivered, report.failed), (1, 1));
    assert!(!block_on(manager.has("dead")).unwrap());
    assert!(block_on(manager.has("alive")).unwrap());
    assert_eq!(alive.received.borrow().as_slice(), ["x"]);
}

#[test]
fn malformed_ids_are_refused() {
    let manager = InMemorySessionManager::new();
    for bad in ["", "with space", &"x".repeat(200)] {
        assert_eq!(block_on(manager.create(bad, RecordingSink::default())), Err(MeshError::MalformedSessionId));
    }
}
