//! An MCP session's record as its shard keeps it, and the partial update the server applies to it.
//! Must not touch the runtime.

use serde::{Deserialize, Serialize};

/// The MCP-level facts about a session that must be strongly consistent, kept in its shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The MCP protocol version negotiated by `initialize`.
    pub protocol_version: String,
    /// The client's `clientInfo` from `initialize`, as sent.
    #[serde(default)]
    pub client_info: serde_json::Value,
    /// The client's `capabilities` from `initialize`, as sent.
    #[serde(default)]
    pub client_capabilities: serde_json::Value,
    /// The level chosen by `logging/setLevel` (an MCP level name such as `"info"`); `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Topics (resource URIs) this session subscribed to, so ending it can clean the indexes.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// When `initialize` created the session, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The last time a request used the session (written at most once a minute); idle expiry
    /// counts from here.
    #[serde(default)]
    pub last_seen_ms: u64,
    /// The authenticated identity that created the session; any other identity gets 404 for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A partial update of a session's record; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateSession {
    /// The session to update.
    pub session: String,
    /// A new `logging/setLevel` level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// A resource URI to add to [`SessionRecord::subscriptions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_subscription: Option<String>,
    /// A resource URI to remove from [`SessionRecord::subscriptions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_subscription: Option<String>,
}

impl UpdateSession {
    /// Applies the update to a record; every store (the shard, the in-memory backend) applies it
    /// through here, so they agree.
    pub fn apply_to(&self, record: &mut SessionRecord) {
        if let Some(level) = &self.log_level {
            record.log_level = Some(level.clone());
        }
        if let Some(topic) = &self.add_subscription {
            if !record.subscriptions.contains(topic) {
                record.subscriptions.push(topic.clone());
            }
        }
        if let Some(topic) = &self.remove_subscription {
            record.subscriptions.retain(|t| t != topic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_change_only_what_they_name_and_subscriptions_stay_a_set() {
        let mut record = SessionRecord { log_level: Some("info".into()), ..Default::default() };
        let subscribe = UpdateSession { session: "s".into(), add_subscription: Some("u".into()), ..Default::default() };
        subscribe.apply_to(&mut record);
        subscribe.apply_to(&mut record);
        assert_eq!(record.subscriptions, vec!["u".to_owned()]);
        assert_eq!(record.log_level.as_deref(), Some("info"));
        let level = UpdateSession { session: "s".into(), log_level: Some("error".into()), ..Default::default() };
        level.apply_to(&mut record);
        assert_eq!(record.log_level.as_deref(), Some("error"));
        let unsubscribe =
            UpdateSession { session: "s".into(), remove_subscription: Some("u".into()), ..Default::default() };
        unsubscribe.apply_to(&mut record);
        assert!(record.subscriptions.is_empty());
    }
}
