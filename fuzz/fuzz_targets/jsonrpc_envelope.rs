//! Checks that `mcp::jsonrpc::parse_message` never panics and classifies consistently
//! (`method()` is Some iff Request/Notification, `request_id()` matches the variant), that
//! `protocol::ShardFrame::decode` never panics on arbitrary text, and that a data frame built by
//! `ShardFrame::encode_data_with_id` decodes back to the same data and id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_mesh::mcp::jsonrpc::{parse_message, Incoming};
use mcp_mesh::protocol::{ShardFrame, PROTOCOL_VERSION};

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

    let frame = ShardFrame::encode_data_with_id(&text, Some(&text));
    match ShardFrame::decode(&frame) {
        Ok(ShardFrame::Data { v, data: got, id }) => {
            assert_eq!(v, PROTOCOL_VERSION);
            assert_eq!(got, text);
            assert_eq!(id.as_deref(), Some(&*text));
        }
        other => panic!("encode_data_with_id produced {frame:?}, which decoded to {other:?}"),
    }
    let frame = ShardFrame::encode_data_with_id(&text, None);
    assert_eq!(
        ShardFrame::decode(&frame).ok(),
        Some(ShardFrame::Data { v: PROTOCOL_VERSION, data: text.clone().into_owned(), id: None })
    );
});
