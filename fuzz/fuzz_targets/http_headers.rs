//! Checks that the Streamable HTTP header rules in `mcp::http` (Accept, Content-Type, session id,
//! protocol version, Content-Length, Origin/Host policy), `mcp::stateless::decode_header_value`
//! and `event_log::EventId::parse` never panic on arbitrary headers, and that a parsed `EventId`
//! round-trips through `format()`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_mesh::access::OriginPolicy;
use mcp_mesh::auth::{bearer_token, MAX_AUTHORIZATION_BYTES};
use mcp_mesh::event_log::EventId;
use mcp_mesh::mcp::http::{
    check_content_type, check_declared_length, check_get_accept, check_post_accept, check_protocol_version,
    session_id, HttpRequest,
};
use mcp_mesh::mcp::stateless::decode_header_value;

fuzz_target!(|data: &[u8]| {
    let mut request = HttpRequest::new("POST", "/mcp");
    let mut values = Vec::new();
    for line in data.split(|&b| b == b'\n').take(8) {
        let line = String::from_utf8_lossy(line);
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name.trim(), value.strip_prefix(' ').unwrap_or(value)),
            None => (line.trim(), ""),
        };
        request = request.with_header(name, value);
        values.push(value.to_owned());
    }

    let _ = check_post_accept(&request);
    let _ = check_get_accept(&request);
    let _ = check_content_type(&request);
    if let Ok(Some(id)) = session_id(&request) {
        assert!(!id.is_empty() && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }
    let _ = check_protocol_version(&request);
    let _ = check_declared_length(&request, 1024);

    for value in &values {
        let _ = decode_header_value(value);
        // Any header value as an Authorization header: a token comes out only whole and well-formed.
        if let Ok(token) = bearer_token(Some(value)) {
            assert!(!token.is_empty() && token.len() <= MAX_AUTHORIZATION_BYTES, "{value:?}");
            assert!(!token.contains(' ') && !token.contains(','), "{value:?} gave {token:?}");
            assert!(value.trim().ends_with(token), "{value:?} gave {token:?}");
        }
        if let Some(id) = EventId::parse(value) {
            let formatted = id.format();
            assert_eq!(EventId::parse(&formatted), Some(id), "{value:?} -> {formatted:?} did not round-trip");
        }
    }

    let _ = OriginPolicy::from_lists("example.com", "https://a.example")
        .check(request.header("host"), request.header("origin"));
});
