//! A shard's send, answered headers first (see `crate::headers_first`): the call's headers go back at
//! once, and the first read of the body runs the send: it frames the event once, writes it to the
//! addressed streams (`sockets::deliver`), logs it for replay, and ends the body with its report.
//!
//! The streams are written before the log row: a socket send issued while a write is pending waits
//! for the commit (output gates), so logging first would hold every recipient behind it. The report
//! goes out after the row, and output gates hold it until the commit, so a report means delivered
//! and logged. Writing and logging happen in one turn (nothing awaits between them), so a stream that
//! opens meanwhile gets the event either live or in its replay, never both and never neither.

use std::cell::Cell;
use std::rc::Rc;

use worker::{js_sys, State};

use super::super::log;
use super::metrics::ShardMetricsStore;
use super::replay_log::ReplayLog;
use super::sockets::{deliver, Delivery};
use crate::delivery::DeliveryRule;
use crate::error::Result;
use crate::event_log::{Audience, EventId, LogLimits};
use crate::frames::{event, listener_event_head, with_event_id};
use crate::log_event::{Level, LogEvent};
use crate::protocol::{Payload, SendReply, SendRequest};

/// What a send needs of its shard once the call's headers have gone.
pub(super) struct SendTask {
    pub state: Rc<State>,
    pub log: Rc<ReplayLog>,
    pub shard: u32,
    pub limits: LogLimits,
    /// Set when a socket could not be written, so the next call reports the changed count.
    pub sockets_failed: Rc<Cell<bool>>,
    pub metrics: Rc<ShardMetricsStore>,
    /// When the call arrived (the runtime's clock, which moves only across I/O).
    pub arrived_ms: f64,
    #[cfg(feature = "test-routes")]
    pub hold: super::held_sends::SendHold,
}

impl SendTask {
    /// Runs the send; its reply is the call's report.
    pub async fn run(self, request: SendRequest) -> Result<SendReply> {
        #[cfg(feature = "test-routes")]
        {
            self.hold.started();
            self.hold.wait().await?;
        }
        let targeted = request.sessions.is_some();
        let reply = self.write_and_log(request)?;
        let duration_ms = js_sys::Date::now() - self.arrived_ms;
        self.metrics.count(|counters| counters.count_send(&reply.report, targeted, duration_ms));
        Ok(reply)
    }

    fn write_and_log(&self, request: SendRequest) -> Result<SendReply> {
        let seq = self.log.reserve_seq()?;
        // Framed once for every recipient, as the stream's SSE bytes, so the Worker's relay copies it
        // into the body as it is.
        let event = event(&request.payload);
        let frame = with_event_id(&event, &EventId { shard: self.shard, seq }.format());
        let mut admitted = DeliveryRule::for_kind(&request.kind).admitted();
        let listener_frame = match (&request.payload, admitted.listeners.is_empty()) {
            (Payload::Message(message), false) => listener_event_head(message).unwrap_or_else(|error| {
                let message = format!("no listen stream takes a send: {error}");
                log::emit(&LogEvent::new(Level::Warn, "listener_frame_failed", message).shard(self.shard));
                admitted.listeners.clear();
                String::new()
            }),
            (Payload::Event(_), false) => {
                // A pre-framed event cannot carry a listen stream's subscription id.
                admitted.listeners.clear();
                String::new()
            }
            (_, true) => String::new(),
        };
        let reply = deliver(
            &self.state,
            Delivery {
                sessions: request.sessions.as_deref(),
                frame: &frame,
                listener_frame: &listener_frame,
                admitted: &admitted,
            },
        )?;
        // A crash between the writes and the commit loses the event from the replay log, not from
        // the streams that got it (see docs/reliability.md).
        let audience = match request.sessions {
            None => Audience::Everyone,
            Some(ids) => Audience::Sessions(ids),
        };
        self.log.append(seq, &audience, &event, &request.kind, self.limits)?;
        if reply.report.failed > 0 {
            self.sockets_failed.set(true);
            let message = format!("closed {} streams whose write failed", reply.report.failed);
            log::emit(&LogEvent::new(Level::Warn, "streams_cut", message).shard(self.shard).kind(request.kind.label()));
        }
        Ok(reply)
    }
}
