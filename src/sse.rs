//! Server-Sent Events: the encoder the Worker writes streams with, and an incremental decoder used by
//! tests, the load probe and anything that reads a stream back.
//!
//! Follows the WHATWG EventSource parsing rules (lines end in LF, CRLF or CR; `data` lines join with
//! LF; a field without a colon has an empty value; one leading space after the colon is dropped;
//! comments start with `:`). Must not touch the runtime.

/// One event as written or read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field, if the event has one.
    pub id: Option<String>,
    /// The `event:` type; `None` means the default, `message`.
    pub event: Option<String>,
    /// The `data:` lines joined with LF.
    pub data: String,
    /// The `retry:` field: the client's reconnection delay, in milliseconds.
    pub retry_ms: Option<u64>,
}

/// An event with empty data: with an id in front, the 2025-11-25 priming event, which gives the
/// client a cursor to resume from before anything has been sent.
pub const EMPTY_DATA_EVENT: &str = "data: \n\n";

/// Encodes a `message` event carrying one JSON-RPC message, the way MCP streams carry them.
pub fn encode_message(json: &str, id: Option<&str>) -> String {
    encode(&SseEvent { id: id.map(str::to_owned), event: Some("message".into()), data: json.into(), retry_ms: None })
}

/// Encodes any event. Newlines inside `data` become separate `data:` lines so the decoder restores
/// them; CR and LF in `id` and `event` (which cannot carry them) are dropped.
pub fn encode(event: &SseEvent) -> String {
    let mut out = String::with_capacity(event.data.len() + 32);
    if let Some(id) = &event.id {
        out.push_str("id: ");
        push_single_line(&mut out, id);
        out.push('\n');
    }
    if let Some(name) = &event.event {
        out.push_str("event: ");
        push_single_line(&mut out, name);
        out.push('\n');
    }
    if let Some(retry) = event.retry_ms {
        out.push_str(&format!("retry: {retry}\n"));
    }
    for line in split_lines(&event.data) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A comment line (ignored by readers); used for keepalives.
pub fn encode_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str(": ");
    push_single_line(&mut out, text);
    out.push_str("\n\n");
    out
}

/// A stream's opening: the `retry:` hint on its own, which readers apply without dispatching an event.
pub fn encode_retry(retry_ms: u64) -> String {
    format!("retry: {retry_ms}\n\n")
}

fn push_single_line(out: &mut String, text: &str) {
    out.extend(text.chars().filter(|c| *c != '\n' && *c != '\r'));
}

/// Splits on LF, CRLF or CR; an empty input is one empty line (an event with empty data).
fn split_lines(data: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = data.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&data[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&data[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&data[start..]);
    lines
}

/// Incremental decoder: feed it bytes as they arrive, take complete events out.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    pending_cr: bool,
    current: SseEvent,
    has_data: bool,
    /// The last `id:` seen, which EventSource keeps across events (the `Last-Event-ID` to resume with).
    pub last_event_id: Option<String>,
    /// The last `retry:` seen.
    pub retry_ms: Option<u64>,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every event completed by them. Invalid UTF-8 is replaced, never a panic.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            if self.pending_cr {
                self.pending_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.pending_cr = true;
                    self.end_line(&mut events);
                }
                _ => self.buffer.push(byte),
            }
        }
        events
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&self.buffer).into_owned();
        self.buffer.clear();
        if line.is_empty() {
            if self.has_data {
                let mut event = std::mem::take(&mut self.current);
                if event.data.ends_with('\n') {
                    event.data.pop();
                }
                events.push(event);
            } else {
                self.current = SseEvent::default();
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                self.current.data.push_str(value);
                self.current.data.push('\n');
                self.has_data = true;
            }
            "event" => self.current.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.current.id = Some(value.to_owned());
                self.last_event_id = Some(value.to_owned());
            }
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry_ms = Some(ms);
                    self.current.retry_ms = Some(ms);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(text: &str) -> Vec<SseEvent> {
        SseDecoder::new().feed(text.as_bytes())
    }

    #[test]
    fn message_events_round_trip() {
        let json = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}}"#;
        let events = decode_all(&encode_message(json, Some("7")));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, json);
        assert_eq!(events[0].event.as_deref(), Some("message"));
        assert_eq!(events[0].id.as_deref(), Some("7"));
    }

    #[test]
    fn multi_line_data_and_every_line_ending_round_trip() {
        for data in ["a\nb", "a\r\nb", "a\rb", "", "\n", "trailing\n"] {
            let events = decode_all(&encode(&SseEvent { data: data.into(), ..Default::default() }));
            let expected = data.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(events, vec![SseEvent { data: expected, ..Default::default() }], "{data:?}");
        }
    }

    #[test]
    fn comments_and_retry_dispatch_nothing_but_are_remembered() {
        let mut decoder = SseDecoder::new();
        assert!(decoder.feed(encode_comment("keepalive").as_bytes()).is_empty());
        assert!(decoder.feed(encode_retry(1500).as_bytes()).is_empty());
        assert_eq!(decoder.retry_ms, Some(1500));
    }

    #[test]
    fn bytes_split_anywhere_decode_the_same() {
        let text = format!("{}{}{}", encode_message("{}", Some("1")), encode_comment("x"), encode_message("[1]", None));
        let whole = decode_all(&text);
        for split in 0..text.len() {
            let mut decoder = SseDecoder::new();
            let mut events = decoder.feed(&text.as_bytes()[..split]);
            events.extend(decoder.feed(&text.as_bytes()[split..]));
            assert_eq!(events, whole, "split at {split}");
        }
        assert_eq!(whole.len(), 2);
    }

    #[test]
    fn crlf_split_across_feeds_is_one_line_end() {
        let mut decoder = SseDecoder::new();
        assert!(decoder.feed(b"data: x\r").is_empty());
        let events = decoder.feed(b"\n\r\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "x");
    }

    #[test]
    fn ids_cannot_inject_lines_and_invalid_utf8_does_not_panic() {
        let text = encode(&SseEvent { id: Some("a\nevent: evil".into()), data: "d".into(), ..Default::default() });
        let events = decode_all(&text);
        assert_eq!(events[0].id.as_deref(), Some("aevent: evil"));
        assert_eq!(events[0].event, None);
        let events = SseDecoder::new().feed(b"data: \xff\xfe\n\n");
        assert_eq!(events.len(), 1);
    }
}
