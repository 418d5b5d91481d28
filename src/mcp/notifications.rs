//! What a handler can send: any notification of the protocol's types (`rmcp::model`), and a log
//! message ([`LogMessage`], since the protocol types mark logging deprecated). Each becomes an
//! [`OutgoingNotification`] once, whatever its audience. Must not touch the runtime.

use rmcp::model::ServerNotification;
use serde_json::{json, Value};

use super::backend::OutgoingNotification;
use crate::delivery::LogLevel;
use crate::error::Result;

/// A notification a handler hands to one of the context's verbs.
pub trait IntoNotification {
    /// The notification as the mesh carries it.
    fn into_notification(self) -> Result<OutgoingNotification>;
}

impl<T: Into<ServerNotification>> IntoNotification for T {
    fn into_notification(self) -> Result<OutgoingNotification> {
        OutgoingNotification::new(self)
    }
}

impl IntoNotification for OutgoingNotification {
    fn into_notification(self) -> Result<OutgoingNotification> {
        Ok(self)
    }
}

/// A `notifications/message`: a log entry at a level, with any JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMessage {
    /// Its severity; sessions that chose a more severe level with `logging/setLevel` skip it.
    pub level: LogLevel,
    /// The logger's name, if any.
    pub logger: Option<String>,
    /// What is logged: text or any JSON.
    pub data: Value,
}

impl LogMessage {
    /// A message at `level`.
    pub fn new(level: LogLevel, data: impl Into<Value>) -> Self {
        Self { level, logger: None, data: data.into() }
    }

    /// An `info` message.
    pub fn info(data: impl Into<Value>) -> Self {
        Self::new(LogLevel::Info, data)
    }

    /// Names the logger.
    pub fn from_logger(mut self, logger: impl Into<String>) -> Self {
        self.logger = Some(logger.into());
        self
    }
}

impl IntoNotification for LogMessage {
    fn into_notification(self) -> Result<OutgoingNotification> {
        let mut params = json!({ "level": self.level.as_str(), "data": self.data });
        if let Some(logger) = self.logger {
            params["logger"] = json!(logger);
        }
        Ok(OutgoingNotification::from_parts("notifications/message", params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::NotificationKind;

    #[test]
    fn a_log_message_is_a_notification_at_its_level() {
        let sent = LogMessage::new(LogLevel::Warning, "disk").from_logger("probe").into_notification().unwrap();
        let message: Value = serde_json::from_str(sent.message()).unwrap();
        assert_eq!(message["params"], json!({"level": "warning", "data": "disk", "logger": "probe"}));
        assert_eq!(sent.kind(), &NotificationKind::Log("warning".into()));
    }
}
