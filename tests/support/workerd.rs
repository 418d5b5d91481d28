//! The end-to-end harness: starts `wrangler dev` (workerd with real Durable Objects, hibernation
//! and SQLite) on a free port with its own state directory, and talks to it with plain HTTP and a
//! raw-socket SSE client that can drop its connection on purpose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use mcp_mesh::sse::{SseDecoder, SseEvent};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub struct Wrangler {
    pub port: u16,
    pub token: String,
    child: Option<Child>,
    state_dir: PathBuf,
    pub log_path: PathBuf,
    args: Vec<String>,
}

impl Wrangler {
    /// Starts `wrangler dev` with `vars` on top of wrangler.toml's, and waits until it answers.
    pub fn start(vars: &[(&str, &str)]) -> Result<Self, String> {
        Self::start_with_config(None, vars)
    }

    /// The same with another wrangler config (relative to the crate root).
    pub fn start_with_config(config: Option<&str>, vars: &[(&str, &str)]) -> Result<Self, String> {
        Self::start_with_args(config, None, vars)
    }

    /// The same under another worker name (so it does not take over the dev registry's entry for
    /// the main worker).
    pub fn start_with_args(config: Option<&str>, name: Option<&str>, vars: &[(&str, &str)]) -> Result<Self, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        if !root.join("node_modules/.bin/wrangler").exists() {
            return Err("node_modules/.bin/wrangler is missing: run `make test`".into());
        }
        // A free port can be taken between the probe and wrangler's bind (workerd's own ephemeral
        // ports come from the same range): try another one then.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let token = format!("e2e-{}-{}", std::process::id(), port);
            let state_dir = std::env::temp_dir().join(format!("mcp-mesh-e2e-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&state_dir).map_err(|e| e.to_string())?;
            let env_file = state_dir.join("env");
            std::fs::write(&env_file, format!("MESH_ADMIN_TOKEN={token}\n")).map_err(|e| e.to_string())?;
            let mut args: Vec<String> =
                vec!["dev".into(), "--ip".into(), "127.0.0.1".into(), "--port".into(), port.to_string()];
            let config = match config {
                Some(config) => config.to_owned(),
                None => unwatched_config(&root)?,
            };
            args.extend(["--config".into(), config]);
            if let Some(name) = name {
                args.extend(["--name".into(), name.into()]);
            }
            args.extend(["--inspector-port".into(), free_port().to_string()]);
            args.extend(["--persist-to".into(), state_dir.join("state").to_string_lossy().into_owned()]);
            args.extend(["--env-file".into(), env_file.to_string_lossy().into_owned()]);
            args.extend(["--show-interactive-dev-session=false".into(), "--log-level".into(), "warn".into()]);
            args.extend(["--var".into(), format!("MESH_ADMIN_TOKEN:{token}")]);
            for (name, value) in vars {
                args.extend(["--var".into(), format!("{name}:{value}")]);
            }
            let log_path = state_dir.join("wrangler.log");
            let mut wrangler = Wrangler { port, token, child: None, state_dir, log_path, args };
            match wrangler.spawn() {
                Ok(()) => return Ok(wrangler),
                Err(error) if error.contains("Address already in use") => last_error = error,
                Err(error) => return Err(error),
            }
        }
        Err(last_error)
    }

    fn spawn(&mut self) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).map_err(|e| e.to_string())?;
        let mut command = Command::new(root.join("node_modules/.bin/wrangler"));
        command.current_dir(&root).args(&self.args);
        command.process_group(0).stdin(Stdio::null()).stdout(log.try_clone().map_err(|e| e.to_string())?).stderr(log);
        self.child = Some(command.spawn().map_err(|e| format!("spawning wrangler: {e}"))?);
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            // A wrangler that exited (its port was taken, a bad config) will not answer: say so now.
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|child| child.try_wait()) {
                self.child = None;
                return Err(format!("wrangler exited ({status}) on port {}; log: {}", self.port, self.log_tail()));
            }
            // An answer from the Worker means it is serving (the tmcp example answers `/` with 404); a
            // 5xx may still be wrangler's proxy waiting for workerd.
            match ureq::get(&self.url("/")).timeout(Duration::from_secs(2)).call() {
                Ok(_) => return Ok(()),
                Err(ureq::Error::Status(status, _)) if status < 500 => return Ok(()),
                Err(_) => {}
            }
            thread::sleep(Duration::from_millis(250));
        }
        Err(format!("wrangler did not answer on port {}; log: {}", self.port, self.log_tail()))
    }

    /// Kills every process of this wrangler (workerd included): every Durable Object and every
    /// WebSocket goes, storage stays.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // `-s SIG --` matters: procps-ng 4.0's kill misreads `kill -TERM -<pgid>` and signals far more
        // than the group (it took down this machine's shell).
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-s", "TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = child.wait();
    }

    /// A deploy with changed vars: like [`Wrangler::restart`], with each `name` set to `value`.
    pub fn redeploy_with_vars(&mut self, vars: &[(&str, &str)]) -> Result<(), String> {
        for (name, value) in vars {
            let prefix = format!("{name}:");
            if let Some(position) = self.args.iter().position(|a| a.starts_with(&prefix)) {
                self.args[position] = format!("{name}:{value}");
            } else {
                self.args.extend(["--var".into(), format!("{name}:{value}")]);
            }
        }
        self.restart()
    }

    /// A deploy or crash: everything stops, then starts again on the same port with the same storage.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Wrangler {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A plain HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends a request and returns whatever status came back (ureq's error statuses included).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(body) => req.send_string(body),
        None => req.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => return Reply { status: 0, headers: vec![], body: error.to_string() },
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| response.header(&name).map(|v| (name.clone(), v.to_owned())))
        .collect();
    let body = response.into_string().unwrap_or_default();
    Reply { status, headers, body }
}

pub enum StreamItem {
    Event(SseEvent),
    Raw(String),
    Closed,
}

/// An SSE stream read by a background thread from a raw socket, so a test can drop the connection
/// the way a vanished client would.
pub struct SseStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    socket: TcpStream,
    items: Receiver<StreamItem>,
    pub events: Vec<SseEvent>,
    pub raw: Vec<String>,
    pub closed: bool,
}

impl SseStream {
    /// Opens a GET stream. Non-200 answers come back as `Err((status, body))`.
    pub fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<SseStream, (u16, String)> {
        Self::open_with("GET", port, path, headers, "")
    }

    /// A stream answered to a POST (a `subscriptions/listen` request).
    pub fn open_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Result<SseStream, (u16, String)> {
        Self::open_with("POST", port, path, headers, body)
    }

    fn open_with(
        method: &str,
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<SseStream, (u16, String)> {
        let socket = TcpStream::connect(("127.0.0.1", port)).map_err(|e| (0, e.to_string()))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(body);
        (&socket).write_all(head.as_bytes()).map_err(|e| (0, e.to_string()))?;
        let mut reader = BufReader::new(socket.try_clone().map_err(|e| (0, e.to_string()))?);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).map_err(|e| (0, e.to_string()))?;
        let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut response_headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| (status, e.to_string()))? == 0 {
                break;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                response_headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let chunked = response_headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        if status != 200 {
            let mut body = String::new();
            if chunked {
                let _ = read_chunk(&mut reader).map(|c| body = String::from_utf8_lossy(&c).into_owned());
            } else {
                let length = response_headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0usize);
                let mut buffer = vec![0; length];
                let _ = reader.read_exact(&mut buffer);
                body = String::from_utf8_lossy(&buffer).into_owned();
            }
            return Err((status, body));
        }
        let (tx, rx) = channel();
        thread::spawn(move || {
            let mut decoder = SseDecoder::new();
            loop {
                let bytes = if chunked {
                    match read_chunk(&mut reader) {
                        Some(bytes) if !bytes.is_empty() => bytes,
                        _ => break,
                    }
                } else {
                    let mut buffer = [0u8; 4096];
                    match reader.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buffer[..n].to_vec(),
                    }
                };
                let _ = tx.send(StreamItem::Raw(String::from_utf8_lossy(&bytes).into_owned()));
                for event in decoder.feed(&bytes) {
                    if tx.send(StreamItem::Event(event)).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(StreamItem::Closed);
        });
        Ok(SseStream {
            status,
            headers: response_headers,
            socket,
            items: rx,
            events: Vec::new(),
            raw: Vec::new(),
            closed: false,
        })
    }

    fn take(&mut self, item: StreamItem) {
        match item {
            StreamItem::Event(event) => self.events.push(event),
            StreamItem::Raw(raw) => self.raw.push(raw),
            StreamItem::Closed => self.closed = true,
        }
    }

    /// Waits until `done(self)` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(&mut self, timeout: Duration, mut done: impl FnMut(&SseStream) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if self.closed {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.items.recv_timeout(left) {
                Ok(item) => self.take(item),
                Err(RecvTimeoutError::Timeout) => return done(self),
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    return done(self);
                }
            }
        }
    }

    /// Data of every event received so far.
    pub fn data(&self) -> Vec<String> {
        self.events.iter().map(|e| e.data.clone()).collect()
    }

    /// Drops the connection without a goodbye, like a client that vanished.
    pub fn disconnect(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// wrangler.toml serving the test build (`build-test/`: the conformance fixtures and the manager API
/// over HTTP) and without its `[build]` section, written under target/: wrangler dev runs the build
/// command at start and again whenever src/ changes, which would reload every test server mid-run
/// when a file is edited. `make e2e` builds first, so the tests serve that build as it is.
/// The test build's entry (scripts/build.sh test).
const TEST_BUILD_MAIN: &str = "build-test/index.js";

fn unwatched_config(root: &std::path::Path) -> Result<String, String> {
    let original = std::fs::read_to_string(root.join("wrangler.toml")).map_err(|e| format!("wrangler.toml: {e}"))?;
    let mut out = String::new();
    let mut in_build = false;
    for line in original.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_build = trimmed.starts_with("[build]");
        }
        if in_build {
            continue;
        }
        // main is relative to the config file, which moves one level down.
        if trimmed.starts_with("main = \"") {
            out.push_str(&format!("main = \"../{TEST_BUILD_MAIN}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    // The test workers write Analytics Engine points to the local binding (it keeps none; the test
    // routes show what was written); the peer worker has no binding.
    out.push_str("\n[[analytics_engine_datasets]]\nbinding = \"MESH_ANALYTICS\"\ndataset = \"mcp_mesh_e2e\"\n");
    let path = root.join("target").join("e2e-wrangler.toml");
    std::fs::create_dir_all(root.join("target")).map_err(|e| e.to_string())?;
    std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok("target/e2e-wrangler.toml".into())
}

fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut size_line = String::new();
    if reader.read_line(&mut size_line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(size_line.trim().split(';').next()?.trim(), 16).ok()?;
    let mut chunk = vec![0; size];
    reader.read_exact(&mut chunk).ok()?;
    let mut crlf = [0u8; 2];
    reader.read_exact(&mut crlf).ok()?;
    Some(chunk)
}
