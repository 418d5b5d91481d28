//! Checks that `mcp::jsonrpc::parse_message` never panics and classifies consistently
//! (`method()` is Some iff Request/Notification, `request_id()` matches the variant), that
//! `protocol::ShardFrame::decode` never panics on arbitrary text and a reply frame carrying it decodes
//! back to it, and that a listen stream's event (`frames::listener_event_head` plus its tail) is, for
//! any JSON object, one SSE event holding that object with the subscription id in `params._meta`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_mesh::mcp::jsonrpc::{parse_message, Incoming};
use mcp_mesh::frames::{listener_event_head, listener_event_tail, META_SUBSCRIPTION_ID};
use mcp_mesh::protocol::{ShardFrame, PROTOCOL_VERSION};
use mcp_mesh::sse::SseDecoder;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    match parse_message(data) {
        Ok(message) => {
            let is_call = matches!(message, Incoming::Request { .. } | Incoming::Notification { .. });
            assert_eq!(message.method().is_some(), is_call, "method() disagrees with {message:?}");
            match &message {
                Incoming::Request { id, method, .. } => {
                    assert_eq!(message.request_id(), Some(id));
                    assert_eq!(message.method(), Some(method.as_str()));
                }
                Incoming::Notification { method, .. } => {
                    assert_eq!(message.request_id(), None);
                    assert_eq!(message.method(), Some(method.as_str()));
                }
                Incoming::Response { id, .. } => assert_eq!(message.request_id(), Some(id)),
                Incoming::ErrorReply { id, .. } => assert_eq!(message.request_id(), id.as_ref()),
            }
        }
        Err(error) => {
            // Every rejection maps to a JSON-RPC error code and a 4xx status without panicking.
            let _ = error.rpc_code();
            let _ = error.http_status();
        }
    }

    let text = String::from_utf8_lossy(data);
    let _ = ShardFrame::decode(&text);

    let reply = ShardFrame::reply(json!(text));
    let encoded = serde_json::to_string(&reply).expect("a reply frame encodes");
    match ShardFrame::decode(&encoded) {
        Ok(ShardFrame::Reply { v, message }) => {
            assert_eq!(v, PROTOCOL_VERSION);
            assert_eq!(message, json!(text));
        }
        other => panic!("a reply frame decoded to {other:?}"),
    }

    // Any text: no panic. A JSON object: the spliced event is that object, tagged.
    let head = listener_event_head(&text);
    if let (Ok(head), Ok(Value::Object(original))) = (head, serde_json::from_str::<Value>(&text)) {
        if original.get("params").is_none_or(|p| p.is_object() || p.is_null()) {
            let id = json!(text.len());
            let events = SseDecoder::new().feed((head + &listener_event_tail(&id)).as_bytes());
            assert_eq!(events.len(), 1, "one event");
            let tagged: Value = serde_json::from_str(&events[0].data).expect("the spliced event is JSON");
            assert_eq!(tagged["params"]["_meta"][META_SUBSCRIPTION_ID], id);
            for (key, value) in &original {
                if key != "params" {
                    assert_eq!(&tagged[key], value, "{key} changed");
                }
            }
        }
    }
});
