//! What a handler gets while it runs: the mesh, the session, and one verb per audience.
//!
//! - [`RequestContext::broadcast`]: every stream of the deployment, across shards.
//! - [`RequestContext::notify_sessions`]: the listed sessions, wherever their streams are.
//! - [`RequestContext::notify_subscribers`]: the subscribers of a resource.
//! - [`RequestContext::notify_caller`], [`RequestContext::progress`], [`RequestContext::log`]: this
//!   request's own stream.
//!
//! Each takes a notification of the protocol's types (or a [`LogMessage`]), never SSE text: the mesh
//! frames it once. In the session era a server→client request goes out on the originating POST's SSE
//! stream and the answer comes back through the session's shard (`ReplyRouter::open_waiter`),
//! whichever isolate receives the client's POST. In the 2026-07-28 era there are no server→client
//! requests: asking the client ends the call with an `input_required` result, and the retried call
//! carries the answer (`inputResponses`). Handlers use one API, [`RequestContext::ask_client`], for
//! both. Must not touch the runtime.

use std::rc::Rc;

use futures::channel::mpsc::UnboundedSender;
use rmcp::model::ResourceUpdatedNotificationParam;
use serde_json::{json, Map, Value};

use super::backend::{McpBackend, ReplyWaiter};
use super::notifications::{IntoNotification, LogMessage};
use crate::delivery::{log_level_admits, LogLevel};
use crate::error::{MeshError, Result};
use crate::protocol::SendReport;
// Error payloads, kept with the error type so `crate::error` needs nothing from `mcp`.
pub use crate::error::{capability_for, InputRequest};

/// How long a server→client request waits for its answer before it is cancelled.
pub const CLIENT_REQUEST_TIMEOUT_MS: u32 = 60_000;

/// Which revision family a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25 and earlier: `initialize`, sessions, GET streams.
    Session,
    /// 2026-07-28: stateless requests carrying their own `_meta`.
    Stateless,
}

/// What a handler gets for one request; cheap to clone (the backend is shared).
pub struct RequestContext<B: McpBackend> {
    /// The mesh, for notifications, counters and session state.
    pub backend: Rc<B>,
    /// The revision family of the request, which decides how `ask_client` and errors travel.
    pub era: Era,
    /// The session (session era only).
    pub session: Option<String>,
    /// What the client declared it can do (from `initialize`, or the request's `_meta`).
    pub client_capabilities: Value,
    /// The session's (or request's) log level; `None` sends everything.
    pub log_level: Option<String>,
    /// The request's `_meta.progressToken`; without one, progress notifications are not sent.
    pub progress_token: Option<Value>,
    /// The request's own SSE stream, when it has one.
    pub(crate) outbox: Option<UnboundedSender<String>>,
    /// Answers to earlier `input_required` results (stateless era).
    pub input_responses: Map<String, Value>,
    /// The verified `requestState` of a retried call (stateless era): what the handler put in its
    /// previous `input_required` result.
    pub request_state: Option<Value>,
    /// Who owns what this request creates (its tasks): the authenticated principal, else the
    /// session; `None` for an anonymous stateless request.
    pub owner: Option<String>,
}

impl<B: McpBackend> Clone for RequestContext<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            era: self.era,
            session: self.session.clone(),
            client_capabilities: self.client_capabilities.clone(),
            log_level: self.log_level.clone(),
            progress_token: self.progress_token.clone(),
            outbox: self.outbox.clone(),
            input_responses: self.input_responses.clone(),
            request_state: self.request_state.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<B: McpBackend> RequestContext<B> {
    /// Sends `notification` to every stream of the deployment (a log only to sessions whose level
    /// admits it; a list change also to the listen streams that asked for it). The report counts the
    /// streams reached.
    pub async fn broadcast(&self, notification: impl IntoNotification) -> Result<SendReport> {
        self.backend.publish(None, &notification.into_notification()?).await
    }

    /// Sends `notification` to the listed sessions' streams, wherever they are.
    pub async fn notify_sessions(
        &self,
        sessions: &[String],
        notification: impl IntoNotification,
    ) -> Result<SendReport> {
        self.backend.publish(Some(sessions), &notification.into_notification()?).await
    }

    /// Tells the subscribers of resource `uri` that it changed (`notifications/resources/updated`).
    pub async fn notify_subscribers(&self, uri: &str) -> Result<SendReport> {
        self.notify_subscribers_with(ResourceUpdatedNotificationParam::new(uri)).await
    }

    /// [`Self::notify_subscribers`] with the notification's params given (a `_meta`, say).
    pub async fn notify_subscribers_with(&self, update: ResourceUpdatedNotificationParam) -> Result<SendReport> {
        let uri = update.uri.clone();
        let notification = rmcp::model::ResourceUpdatedNotification::new(update).into_notification()?;
        self.backend.publish_to_subscribers(&uri, &notification).await
    }

    /// Writes `notification` on this request's own stream; `false` if it has none or it closed.
    pub fn notify_caller(&self, notification: impl IntoNotification) -> bool {
        match (&self.outbox, notification.into_notification()) {
            (Some(outbox), Ok(notification)) => outbox.unbounded_send(notification.message().to_owned()).is_ok(),
            _ => false,
        }
    }

    /// `notifications/progress` for this request, if the client asked for progress.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        let Some(token) = &self.progress_token else { return false };
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        self.notify_caller(super::backend::OutgoingNotification::from_parts("notifications/progress", params))
    }

    /// A log message on this request's stream, if the session's level admits it. In the stateless era
    /// a request without `logLevel` gets no logs at all.
    pub fn log(&self, level: LogLevel, data: impl Into<Value>) -> bool {
        self.log_message(LogMessage::new(level, data))
    }

    /// [`Self::log`] with a whole [`LogMessage`] (a logger name, say).
    pub fn log_message(&self, message: LogMessage) -> bool {
        if self.era == Era::Stateless && self.log_level.is_none() {
            return false;
        }
        if !log_level_admits(self.log_level.as_deref(), message.level.as_str()) {
            return false;
        }
        self.notify_caller(message)
    }

    /// Waits `ms` milliseconds on the backend's clock (immediate, and advancing the clock, in memory).
    pub async fn sleep(&self, ms: u32) {
        self.backend.sleep(ms).await;
    }

    /// Whether the client declared the capability a server→client method (or capability name) needs.
    pub fn client_supports(&self, method: &str) -> bool {
        match capability_for(method) {
            Some(key) => self.client_capabilities.get(key).is_some_and(|v| !v.is_null()),
            None => true,
        }
    }

    /// Stateless era: the answers to all `questions` if the retried call carries them, otherwise
    /// the `input_required` error asking for the missing ones (with `state` to get back).
    pub fn answers(&self, questions: Vec<(String, String, Value)>, state: Option<Value>) -> Result<Vec<Value>> {
        let missing: Vec<_> =
            questions.iter().filter(|(key, _, _)| !self.input_responses.contains_key(key)).cloned().collect();
        if !missing.is_empty() {
            return Err(MeshError::InputRequired(InputRequest { questions: missing, state }));
        }
        Ok(questions.iter().map(|(key, _, _)| self.input_responses.get(key).cloned().unwrap_or(Value::Null)).collect())
    }

    /// Asks the client (`sampling/createMessage`, `elicitation/create`, `roots/list`) and returns its
    /// result. `key` names the question in the stateless era's `inputRequests`.
    pub async fn ask_client(&self, key: &str, method: &str, params: Value) -> Result<Value> {
        if !self.client_supports(method) {
            return Err(MeshError::MissingClientCapability(method.to_owned()));
        }
        match self.era {
            Era::Stateless => {
                let mut answers = self.answers(vec![(key.to_owned(), method.to_owned(), params)], None)?;
                Ok(answers.pop().unwrap_or(Value::Null))
            }
            Era::Session => self.ask_over_stream(method, params).await,
        }
    }

    async fn ask_over_stream(&self, method: &str, params: Value) -> Result<Value> {
        let session = self.session.as_deref().ok_or(MeshError::MissingSessionId)?;
        let outbox =
            self.outbox.as_ref().ok_or_else(|| MeshError::InvalidRequest("no stream to ask the client on".into()))?;
        let waiter = self.backend.open_waiter(session).await?;
        let id = waiter.request_id();
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        if outbox.unbounded_send(request.to_string()).is_err() {
            return Err(MeshError::ClientGone);
        }
        match waiter.wait(CLIENT_REQUEST_TIMEOUT_MS).await? {
            Some(reply) => match (reply.get("result"), reply.get("error")) {
                (Some(result), _) => Ok(result.clone()),
                (None, Some(error)) => Err(MeshError::ClientError(error.clone())),
                _ => Err(MeshError::ClientError(reply)),
            },
            None => {
                // The spec: a sender that gives up on its own request SHOULD say so.
                let cancelled = super::backend::OutgoingNotification::from_parts(
                    "notifications/cancelled",
                    json!({ "requestId": id, "reason": "timed out" }),
                );
                self.notify_caller(cancelled);
                Err(MeshError::ClientTimeout(method.to_owned()))
            }
        }
    }
}
