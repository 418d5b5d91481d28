//! Test builds only (`test-routes`): holding a shard's sends after their headers and before their
//! writes, or failing them there, so the end-to-end suite shows in the real runtime that a call's
//! headers come back before the shard writes, that the Worker's fan-out starts more calls while
//! earlier bodies are open, and that a shard failing after its headers is not counted.

use std::cell::Cell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::super::timer::sleep;
use crate::error::{MeshError, Result};
use crate::protocol::ObjectCall;

/// What a shard does with a send once its headers are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldMode {
    /// Runs it (the normal path).
    #[default]
    Release,
    /// Waits, its body open, until the mode changes.
    Hold,
    /// Fails the body without writing, as a shard dying after its headers does.
    Fail,
}

/// Sets a shard's hold mode; it answers what its sends have done since it woke.
#[derive(Debug, Serialize, Deserialize)]
pub struct HoldSends {
    pub mode: HoldMode,
}

/// Sends a shard has started (their headers answered), or a relay has relayed, and those held now.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HeldSends {
    pub started: u64,
    pub held: u64,
}

impl ObjectCall for HoldSends {
    const PATH: &'static str = "/v3/test/hold-sends";
    type Reply = HeldSends;
}

/// One shard's hold, shared with its running sends.
#[derive(Clone, Default)]
pub struct SendHold {
    mode: Rc<Cell<HoldMode>>,
    started: Rc<Cell<u64>>,
    held: Rc<Cell<u64>>,
}

impl SendHold {
    pub fn set(&self, call: HoldSends) -> HeldSends {
        self.mode.set(call.mode);
        HeldSends { started: self.started.get(), held: self.held.get() }
    }

    pub fn started(&self) {
        self.started.set(self.started.get() + 1);
    }

    /// Waits while the mode is `Hold`; an error if it is `Fail`.
    pub async fn wait(&self) -> Result<()> {
        self.held.set(self.held.get() + 1);
        while self.mode.get() == HoldMode::Hold {
            sleep(5).await;
        }
        self.held.set(self.held.get() - 1);
        match self.mode.get() {
            HoldMode::Fail => Err(MeshError::Upstream { what: "shard send", detail: "failed by the test hold".into() }),
            _ => Ok(()),
        }
    }
}
