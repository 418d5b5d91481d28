//! Sending notifications through the mesh: to every stream, to listed sessions, or to the subscribers
//! of a topic, and the topic index behind the last. A notification travels as its JSON-RPC text with
//! its [`NotificationKind`]; the shard frames it once for all its streams (`crate::frames`). Must not
//! touch the runtime.

use rmcp::model::{JsonRpcNotification, JsonRpcVersion2_0, ServerNotification};
use serde_json::Value;

use crate::delivery::NotificationKind;
use crate::error::Result;
use crate::protocol::{Payload, SendReport};

/// A notification as the mesh carries it: the JSON-RPC message, serialized once, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingNotification {
    message: String,
    kind: NotificationKind,
}

impl OutgoingNotification {
    /// A notification of the protocol's types (`rmcp::model`).
    pub fn new(notification: impl Into<ServerNotification>) -> Result<Self> {
        let message = JsonRpcNotification { jsonrpc: JsonRpcVersion2_0, notification: notification.into() };
        let value = serde_json::to_value(&message)?;
        let method = value.get("method").and_then(Value::as_str).unwrap_or_default();
        let kind = NotificationKind::of(method, value.get("params").unwrap_or(&Value::Null));
        Ok(Self { message: value.to_string(), kind })
    }

    /// A notification from its method and params (for methods the protocol types do not name).
    pub fn from_parts(method: &str, params: Value) -> Self {
        let kind = NotificationKind::of(method, &params);
        let message = serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string();
        Self { message, kind }
    }

    /// The JSON-RPC message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of notification it is, which decides the streams that take it.
    pub fn kind(&self) -> &NotificationKind {
        &self.kind
    }

    /// What a shard's send carries.
    pub fn payload(&self) -> Payload {
        Payload::Message(self.message.clone())
    }
}

/// Notifications to the streams the mesh holds, and the topic index.
#[allow(async_fn_in_trait)]
pub trait Broker {
    /// Sends `notification` to the listed sessions (`Some`) or to every stream (`None`), each stream
    /// taking it if its class admits the kind (a session's log level, a listen stream's filter).
    async fn publish(&self, to: Option<&[String]>, notification: &OutgoingNotification) -> Result<SendReport>;

    /// Adds `subscriber` (a session or listen stream) to the subscribers of `topic`; idempotent.
    async fn subscribe(&self, topic: &str, subscriber: &str) -> Result<()>;
    /// Removes `subscriber` from the subscribers of `topic`; no error if it was not one.
    async fn unsubscribe(&self, topic: &str, subscriber: &str) -> Result<()>;
    /// The sessions and listen streams subscribed to `topic`, each once.
    async fn subscribers(&self, topic: &str) -> Result<Vec<String>>;

    /// Sends `notification` to the subscribers of `topic`; nothing (and no send) if it has none.
    async fn publish_to_subscribers(&self, topic: &str, notification: &OutgoingNotification) -> Result<SendReport> {
        let subscribers = self.subscribers(topic).await?;
        if subscribers.is_empty() {
            return Ok(SendReport::default());
        }
        self.publish(Some(&subscribers), notification).await
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ToolListChangedNotification};
    use serde_json::json;

    use super::*;
    use crate::delivery::ListKind;

    #[test]
    fn protocol_notifications_become_json_rpc_messages_of_their_kind() {
        let updated = OutgoingNotification::new(ResourceUpdatedNotification::new(
            ResourceUpdatedNotificationParam::new("mesh://counter"),
        ))
        .unwrap();
        let message: Value = serde_json::from_str(updated.message()).unwrap();
        assert_eq!(
            message,
            json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "mesh://counter"}})
        );
        assert_eq!(updated.kind(), &NotificationKind::ResourceUpdated);
        let changed = OutgoingNotification::new(ToolListChangedNotification::default()).unwrap();
        assert_eq!(changed.kind(), &NotificationKind::ListChanged(ListKind::Tools));
        let parts = OutgoingNotification::from_parts("notifications/message", json!({"level": "error", "data": 1}));
        assert_eq!(parts.kind(), &NotificationKind::Log("error".into()));
    }
}
