//! The bytes MCP streams carry, framed in one place: a session stream's event (the JSON-RPC message as
//! an SSE `message` event, with the shard's event id in front), the priming event, the keepalive, and
//! a listen stream's event, whose subscription id the Worker's relay splices in without parsing.
//!
//! Handlers hand the mesh JSON-RPC messages, never SSE text; the shard frames each send once for all
//! its recipients. Must not touch the runtime.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::{MeshError, Result};
use crate::protocol::Payload;
use crate::sse::{encode_message, EMPTY_DATA_EVENT};

/// The SSE comment a stream is kept alive with (and a vanished client noticed by).
pub const KEEPALIVE_EVENT: &str = ": keepalive\n\n";

/// How every frame with an event id starts: the relay counts those for SSE polling.
pub const EVENT_ID_PREFIX: &str = "id: ";

/// The `_meta` key carrying a listen stream's subscription id (the `subscriptions/listen` request's
/// id) on every notification of that stream.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// A send's event as its streams receive it, without an id.
pub fn event(payload: &Payload) -> Cow<'_, str> {
    match payload {
        Payload::Message(json) => Cow::Owned(encode_message(json, None)),
        Payload::Event(event) => Cow::Borrowed(event),
    }
}

/// Prefixes an event with its id, so the client can resume from it.
pub fn with_event_id(event: &str, id: &str) -> String {
    let mut out = String::with_capacity(event.len() + id.len() + 6);
    out.push_str(EVENT_ID_PREFIX);
    out.extend(id.chars().filter(|c| *c != '\n' && *c != '\r'));
    out.push('\n');
    out.push_str(event);
    out
}

/// The 2025-11-25 priming event: an id and empty data, so a client that loses the stream before any
/// event still has a cursor to resume from.
pub fn priming_event(id: &str) -> String {
    with_event_id(EMPTY_DATA_EVENT, id)
}

/// A listen stream's event up to its subscription id: the message with `params._meta` last and the
/// subscription key last in it, open where the id goes. [`listener_event_tail`] closes it. One head
/// serves every listen stream a send reaches; the relay appends its own stream's tail.
pub fn listener_event_head(message: &str) -> Result<String> {
    let Value::Object(mut root) = serde_json::from_str(message)? else {
        return Err(MeshError::InvalidParams("a notification must be a JSON object".into()));
    };
    let mut params = match root.remove("params") {
        Some(Value::Object(params)) => params,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(MeshError::InvalidParams("a notification's params must be an object".into())),
    };
    let mut meta = match params.remove("_meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.remove(META_SUBSCRIPTION_ID);
    let mut json = String::with_capacity(message.len() + 64);
    json.push('{');
    open_members(&mut json, &root, "params")?;
    json.push('{');
    open_members(&mut json, &params, "_meta")?;
    json.push('{');
    open_members(&mut json, &meta, META_SUBSCRIPTION_ID)?;
    let mut head = encode_message(&json, None);
    // `encode_message` ends the event; the tail does that once the id is in.
    head.truncate(head.len() - 2);
    Ok(head)
}

/// The end of a listen stream's events: its subscription id and the closing braces, then the event's
/// end. Made once per stream.
pub fn listener_event_tail(subscription_id: &Value) -> String {
    format!("{subscription_id}}}}}}}\n\n")
}

/// Writes `members`' members, then `"last":` (the member whose value the caller writes next).
fn open_members(out: &mut String, members: &Map<String, Value>, last: &str) -> Result<()> {
    for (key, value) in members {
        out.push_str(&serde_json::to_string(key)?);
        out.push(':');
        out.push_str(&serde_json::to_string(value)?);
        out.push(',');
    }
    out.push_str(&serde_json::to_string(last)?);
    out.push(':');
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sse::SseDecoder;

    fn listener_event(message: &Value, subscription_id: &Value) -> Value {
        let framed = listener_event_head(&message.to_string()).unwrap() + &listener_event_tail(subscription_id);
        let events = SseDecoder::new().feed(framed.as_bytes());
        assert_eq!(events.len(), 1, "{framed:?}");
        assert_eq!(events[0].event.as_deref(), Some("message"));
        assert_eq!(events[0].id, None);
        serde_json::from_str(&events[0].data).unwrap()
    }

    #[test]
    fn a_listen_stream_event_is_the_message_with_its_subscription_id_in_meta() {
        let message = json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
            "params": {"uri": "mesh://counter", "_meta": {"value": 3}}});
        let tagged = listener_event(&message, &json!(7));
        let mut expected = message.clone();
        expected["params"]["_meta"][META_SUBSCRIPTION_ID] = json!(7);
        assert_eq!(tagged, expected);
        // Without params or _meta, and with a string id that needs escaping.
        let bare = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
        let tagged = listener_event(&bare, &json!("a\"b\nc"));
        assert_eq!(tagged["params"], json!({"_meta": {META_SUBSCRIPTION_ID: "a\"b\nc"}}));
        // A subscription id already in the message is replaced, not repeated.
        let stale = json!({"jsonrpc": "2.0", "method": "m", "params": {"_meta": {META_SUBSCRIPTION_ID: 1}}});
        assert_eq!(listener_event(&stale, &json!(2))["params"]["_meta"][META_SUBSCRIPTION_ID], json!(2));
    }

    #[test]
    fn a_listen_stream_event_needs_an_object_message() {
        assert!(listener_event_head("[1]").is_err());
        assert!(listener_event_head(r#"{"params": 3}"#).is_err());
        assert!(listener_event_head("not json").is_err());
    }

    #[test]
    fn events_carry_their_id_first_and_raw_events_pass_as_they_are() {
        let framed = with_event_id(&event(&Payload::Message("{}".into())), "3-9");
        assert!(framed.starts_with(EVENT_ID_PREFIX));
        let events = SseDecoder::new().feed(framed.as_bytes());
        assert_eq!((events[0].id.as_deref(), events[0].data.as_str()), (Some("3-9"), "{}"));
        assert_eq!(event(&Payload::Event("data: x\n\n".into())), "data: x\n\n");
        let primed = SseDecoder::new().feed(priming_event("0-1").as_bytes());
        assert_eq!((primed[0].id.as_deref(), primed[0].data.as_str()), (Some("0-1"), ""));
    }
}
