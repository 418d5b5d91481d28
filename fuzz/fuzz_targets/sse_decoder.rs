//! Checks that `sse::SseDecoder` never panics on arbitrary bytes, that splitting the input into two
//! feeds at any point yields the same events (and the same remembered id/retry), and that every
//! decoded event survives `sse::encode` + a fresh decode unchanged; also that `encode` of an
//! arbitrary event decodes back to its data with CR/CRLF normalised to LF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_mesh::sse::{encode, SseDecoder, SseEvent};

fuzz_target!(|data: &[u8]| {
    // 1. Whole input in one feed.
    let mut whole = SseDecoder::new();
    let events = whole.feed(data);

    // 2. The same bytes in two feeds, split at a data-derived point.
    let split = if data.is_empty() {
        0
    } else {
        let seed = data.iter().fold(0usize, |acc, &b| acc.wrapping_mul(31).wrapping_add(b as usize));
        seed % (data.len() + 1)
    };
    let mut halves = SseDecoder::new();
    let mut split_events = halves.feed(&data[..split]);
    split_events.extend(halves.feed(&data[split..]));
    assert_eq!(events, split_events, "split at {split} changed the events");
    assert_eq!(whole.last_event_id, halves.last_event_id, "split at {split} changed last_event_id");
    assert_eq!(whole.retry_ms, halves.retry_ms, "split at {split} changed retry_ms");

    // 3. A decoded event cannot hold CR, a NUL-bearing id, or a CR/LF in id/event, so the encoder
    //    writes it back exactly: the round trip is the identity on the whole event, not just `data`.
    for event in &events {
        assert!(!event.data.contains('\r'));
        let text = encode(event);
        let again = SseDecoder::new().feed(text.as_bytes());
        assert_eq!(again.len(), 1, "encode produced {} events from {event:?}: {text:?}", again.len());
        assert_eq!(again[0].data, event.data, "data changed through encode: {text:?}");
        assert_eq!(&again[0], event, "event changed through encode: {text:?}");
    }

    // 4. Encode an arbitrary (not decoder-produced) event: data's line endings normalise to LF,
    //    CR/LF are dropped from id and event name, and an id holding NUL is ignored by the reader.
    let text = String::from_utf8_lossy(data);
    let (head, tail) = text.split_at(text.char_indices().nth(text.chars().count() / 3).map_or(text.len(), |(i, _)| i));
    let (name, body) = tail.split_at(tail.char_indices().nth(tail.chars().count() / 2).map_or(tail.len(), |(i, _)| i));
    let original = SseEvent {
        id: Some(head.to_owned()),
        event: Some(name.to_owned()),
        data: body.to_owned(),
        retry_ms: data.first().map(|&b| u64::from(b) * 1000),
    };
    let decoded = SseDecoder::new().feed(encode(&original).as_bytes());
    assert_eq!(decoded.len(), 1);
    let strip = |s: &str| s.chars().filter(|c| *c != '\r' && *c != '\n').collect::<String>();
    let expected = SseEvent {
        id: if head.contains('\0') { None } else { Some(strip(head)) },
        event: Some(strip(name)),
        data: body.replace("\r\n", "\n").replace('\r', "\n"),
        retry_ms: original.retry_ms,
    };
    assert_eq!(decoded[0], expected);
});
