//! The probe's GET streams: raw sockets, chunked transfer decoding, and a reader that timestamps each
//! notification as its bytes arrive: one small-stack thread per stream, or one epoll thread for all
//! (`--epoll`, poller.rs) where threads would run out (a machine's pid limit is 32,768).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mcp_mesh::sse::SseDecoder;
use serde_json::Value;

use super::*;

// ---------------------------------------------------------------------------------------------
// GET streams: raw sockets, chunked transfer decoding, one small-stack reader thread each.

#[derive(Debug)]
pub(crate) enum Kind {
    Broadcast(String),
    Targeted,
}

pub(crate) struct Delivery {
    pub(crate) stream: usize,
    pub(crate) kind: Kind,
    pub(crate) latency_ms: f64,
}

/// Incremental chunked-transfer de-framer.
#[derive(Default)]
pub(crate) struct Dechunker {
    pub(crate) state: ChunkState,
    pub(crate) line: Vec<u8>,
    pub(crate) done: bool,
}

#[derive(Default)]
pub(crate) enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailer,
}

impl Dechunker {
    pub(crate) fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() && !self.done {
            match self.state {
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(bytes);
                        return;
                    };
                    self.line.extend_from_slice(&bytes[..nl]);
                    bytes = &bytes[nl + 1..];
                    let line = String::from_utf8_lossy(&self.line).trim().to_owned();
                    self.line.clear();
                    match self.state {
                        ChunkState::Size => {
                            let hex = line.split(';').next().unwrap_or("").trim();
                            let size = usize::from_str_radix(hex, 16).unwrap_or(0);
                            self.state = if size == 0 { ChunkState::Trailer } else { ChunkState::Data(size) };
                        }
                        ChunkState::DataEnd => self.state = ChunkState::Size,
                        _ => {
                            if line.is_empty() {
                                self.done = true;
                            }
                        }
                    }
                }
                ChunkState::Data(left) => {
                    let n = left.min(bytes.len());
                    out.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    self.state = if n == left { ChunkState::DataEnd } else { ChunkState::Data(left - n) };
                }
            }
        }
    }
}

pub(crate) struct Stream {
    pub(crate) socket: Arc<TcpStream>,
    pub(crate) handle: Option<JoinHandle<()>>,
}

/// Opens the GET stream; returns once the 200 head has been read, with a reader thread started.
/// Connects, sends session `session`'s GET and reads up to the end of the response head. Returns the
/// socket, the bytes read (the head and whatever body bytes followed) and where the head ends.
pub(crate) fn get_head(args: &Args, session: &str, timeout: Duration) -> Result<(TcpStream, Vec<u8>, usize), String> {
    let mut socket = TcpStream::connect((args.host.as_str(), args.port)).map_err(|e| format!("connect: {e}"))?;
    socket.set_nodelay(true).ok();
    socket.set_read_timeout(Some(timeout)).ok();
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nConnection: close\r\n\r\n",
        args.path, args.host, args.port
    );
    socket.write_all(head.as_bytes()).map_err(|e| format!("write: {e}"))?;
    // Read the head up to the blank line; keep whatever body bytes followed.
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 2048];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok((socket, buf, p + 4));
        }
        if buf.len() > 64 * 1024 {
            return Err("response head too long".into());
        }
        let n = socket.read(&mut tmp).map_err(|e| format!("reading head: {e}"))?;
        if n == 0 {
            return Err("closed before the response head".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

pub(crate) fn open_stream(
    args: &Args,
    index: usize,
    session: &str,
    tx: Sender<Delivery>,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    poller: Option<&Poller>,
) -> Result<Stream, String> {
    let (socket, buf, header_end) = get_head(args, session, Duration::from_secs(30))?;
    let head_text = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let status: u16 = head_text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if status != 200 {
        return Err(format!("GET stream: HTTP {status}"));
    }
    let chunked = head_text.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let leftover = buf[header_end..].to_vec();
    socket.set_read_timeout(Some(Duration::from_millis(1000))).ok();
    // One descriptor per stream, shared with the reader thread (`&TcpStream` reads): a cloned socket
    // would be a second descriptor, and 10,000 streams must fit a 20,000 open-files limit.
    let socket = Arc::new(socket);
    let reader = socket.clone();
    if let Some(poller) = poller {
        poller.register(index, socket.clone(), StreamParser::new(index, chunked), leftover)?;
        return Ok(Stream { socket, handle: None });
    }
    let handle = thread::Builder::new()
        .name(format!("sse-{index}"))
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut parser = StreamParser::new(index, chunked);
            let mut buffer = vec![0u8; 16 * 1024];
            if !leftover.is_empty() && parser.feed(&leftover, now_ms(), &tx) {
                return;
            }
            loop {
                let n = match (&*reader).read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        continue;
                    }
                    Err(_) => break,
                };
                if parser.feed(&buffer[..n], now_ms(), &tx) {
                    break;
                }
            }
            if !stop.load(Ordering::Relaxed) {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        })
        .map_err(|e| format!("spawning reader: {e}"))?;
    Ok(Stream { socket, handle: Some(handle) })
}

/// One stream's bytes → timestamped deliveries: chunked de-framing, SSE decoding and classifying.
pub(crate) struct StreamParser {
    index: usize,
    chunked: bool,
    dechunker: Dechunker,
    decoder: SseDecoder,
    payload: Vec<u8>,
}

impl StreamParser {
    pub(crate) fn new(index: usize, chunked: bool) -> Self {
        Self { index, chunked, dechunker: Dechunker::default(), decoder: SseDecoder::new(), payload: Vec::new() }
    }

    /// Feeds bytes that arrived at `at` (ms since the epoch); true once the body has ended.
    pub(crate) fn feed(&mut self, bytes: &[u8], at: f64, tx: &Sender<Delivery>) -> bool {
        self.payload.clear();
        if self.chunked {
            self.dechunker.feed(bytes, &mut self.payload);
        } else {
            self.payload.extend_from_slice(bytes);
        }
        for event in self.decoder.feed(&self.payload) {
            let Ok(v) = serde_json::from_str::<Value>(&event.data) else { continue };
            match v.get("method").and_then(Value::as_str) {
                Some("notifications/message") => {
                    let data = &v["params"]["data"];
                    let (Some(text), Some(sent)) =
                        (data.get("text").and_then(Value::as_str), data.get("sent_at_ms").and_then(Value::as_f64))
                    else {
                        continue;
                    };
                    if text.starts_with(ANNOUNCE_PREFIX) {
                        let kind = Kind::Broadcast(text.to_owned());
                        let _ = tx.send(Delivery { stream: self.index, kind, latency_ms: at - sent });
                    }
                }
                Some("notifications/resources/updated") => {
                    if let Some(sent) = v.pointer("/params/_meta/sent_at_ms").and_then(Value::as_f64) {
                        let _ = tx.send(Delivery { stream: self.index, kind: Kind::Targeted, latency_ms: at - sent });
                    }
                }
                _ => {}
            }
        }
        self.dechunker.done
    }
}
