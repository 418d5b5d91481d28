//! How a JavaScript server's `subscriptions/listen` streams are found across isolates (the tmcp
//! adapter's subscription manager): each listen stream is indexed in the topic index under every
//! resource URI it listens to and under a reserved topic per list it listens to, and a notification
//! goes, as a message the shards frame for listen streams, to the listen streams indexed under its
//! topic. (The Rust server reaches its list listeners with a broadcast instead: its own sends reach
//! session streams too, where tmcp's transport sends to those itself.) Must not touch the runtime.

use serde::Serialize;
use serde_json::Value;

use crate::delivery::{ListKind, ListenerFilter, NotificationKind};
use crate::error::{MeshError, Result};
use crate::protocol::Payload;

/// The prefix of every such listen stream's id, so a topic's subscribers can be told from sessions.
pub const LISTENER_ID_PREFIX: &str = "listen-";

/// The reserved topic of the listen streams that asked for `kind`'s `list_changed` (not a URI a
/// resource can have: it has no scheme separator).
pub fn list_topic(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Tools => "@listeners tools",
        ListKind::Prompts => "@listeners prompts",
        ListKind::Resources => "@listeners resources",
    }
}

/// What a listen stream is opened with and indexed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerIndex {
    /// Its filter, as the stream's flags.
    pub flags: String,
    /// The topics to index it under (list topics, then the URIs).
    pub topics: Vec<String>,
}

/// The flags and topics of a listen stream asking for `filter` and the resources `uris`.
pub fn listener_index(filter: ListenerFilter, uris: &[String]) -> ListenerIndex {
    let lists =
        [(filter.tools, ListKind::Tools), (filter.prompts, ListKind::Prompts), (filter.resources, ListKind::Resources)];
    let mut topics: Vec<String> =
        lists.iter().filter(|(on, _)| *on).map(|(_, kind)| list_topic(*kind).to_owned()).collect();
    for uri in uris {
        if !topics.contains(uri) {
            topics.push(uri.clone());
        }
    }
    ListenerIndex { flags: filter.to_flags(), topics }
}

/// A notification's send to the listen streams: to whom (the subscribers of `topic` that are listen
/// streams), what, and as which kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerSend {
    /// The topic whose listen streams receive it.
    pub topic: String,
    /// The notification, for the shards to frame.
    pub payload: Payload,
    /// Its kind (the shards admit it only to listen streams that asked for it).
    pub kind: NotificationKind,
}

/// The send of `notification` (a JSON-RPC notification) to listen streams; `None` for one no listen
/// stream takes.
pub fn listener_send(notification: &str) -> Result<Option<ListenerSend>> {
    let message: Value = serde_json::from_str(notification)?;
    let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let kind = NotificationKind::of(method, &params);
    let topic = match &kind {
        NotificationKind::ListChanged(list) => list_topic(*list).to_owned(),
        NotificationKind::ResourceUpdated => match params.get("uri").and_then(Value::as_str) {
            Some(uri) => uri.to_owned(),
            None => return Err(MeshError::InvalidParams("notifications/resources/updated needs params.uri".into())),
        },
        _ => return Ok(None),
    };
    Ok(Some(ListenerSend { topic, payload: Payload::Message(notification.to_owned()), kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listen_stream_is_indexed_under_its_lists_and_its_resources() {
        let filter = ListenerFilter { tools: true, prompts: false, resources: true };
        let index = listener_index(filter, &["file:///a".into(), "file:///a".into(), "mesh://b".into()]);
        assert_eq!(index.flags, "tr");
        assert_eq!(index.topics, ["@listeners tools", "@listeners resources", "file:///a", "mesh://b"]);
    }

    #[test]
    fn a_notification_goes_to_the_listeners_of_its_topic_and_others_to_none() {
        let changed = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        let send = listener_send(changed).unwrap().unwrap();
        assert_eq!(send.topic, "@listeners tools");
        assert_eq!(send.kind, NotificationKind::ListChanged(ListKind::Tools));
        assert_eq!(send.payload, Payload::Message(changed.to_owned()));
        let updated = r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"mesh://c"}}"#;
        assert_eq!(listener_send(updated).unwrap().unwrap().topic, "mesh://c");
        assert_eq!(listener_send(r#"{"method":"notifications/message","params":{}}"#).unwrap(), None);
        assert!(listener_send(r#"{"method":"notifications/resources/updated"}"#).is_err());
        assert!(listener_send("not json").is_err());
    }
}
