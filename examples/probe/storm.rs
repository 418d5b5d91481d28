//! The reconnect storm (`--storm`): every client coming back at once after a deploy. K sessions are
//! created first without streams; then K threads released by one barrier each connect and send
//! their GET at the same instant, and the probe counts the streams whose `200` head arrived against
//! the ones refused, reset or answered otherwise.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::delete_sessions;
use super::{Args, Client};

/// Waits this long for a stream's response head before counting it as failed.
const HEAD_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn run(args: &Arc<Args>, client: &Arc<Client>) -> Value {
    let sessions = create_sessions(args, client);
    eprintln!("probe[{}]: storm: {} sessions created; opening every GET stream at once", args.label, sessions.len());
    let barrier = Arc::new(Barrier::new(sessions.len() + 1));
    let opened: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
    let failures: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::with_capacity(sessions.len());
    for session in &sessions {
        let (args, session, start, opened, failed) =
            (args.clone(), session.clone(), barrier.clone(), opened.clone(), failures.clone());
        let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            start.wait();
            let released = Instant::now();
            match open_head(&args, &session) {
                Ok(socket) => opened.lock().unwrap().push(socket),
                Err(error) => {
                    failed.lock().unwrap().push(format!("{error} (after {} ms)", released.elapsed().as_millis()))
                }
            }
        });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(error) => {
                // The barrier counts every session; a thread that could not start must still arrive.
                failures.lock().unwrap().push(format!("thread: {error}"));
                let barrier = barrier.clone();
                threads.push(thread::spawn(move || {
                    barrier.wait();
                }));
            }
        }
    }
    barrier.wait();
    let started = Instant::now();
    for handle in threads {
        let _ = handle.join();
    }
    let storm_secs = started.elapsed().as_secs_f64();
    let sockets = std::mem::take(&mut *opened.lock().unwrap());
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    eprintln!(
        "probe[{}]: storm: {}/{} streams opened in {storm_secs:.1}s, {} failed",
        args.label,
        sockets.len(),
        sessions.len(),
        failures.len()
    );
    for socket in &sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
    delete_sessions(client, &sessions, args.create_concurrency);
    json!({
        "system": args.label,
        "sessions": args.sessions,
        "storm_sessions": sessions.len(),
        "storm_opened": sockets.len(),
        "storm_failed": failures.len(),
        "storm_secs": (storm_secs * 10.0).round() / 10.0,
        "storm_error_samples": failures.iter().take(5).collect::<Vec<_>>(),
    })
}

fn create_sessions(args: &Arc<Args>, client: &Arc<Client>) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..args.create_concurrency)
        .map(|_| {
            let (args, client, next, created) = (args.clone(), client.clone(), next.clone(), created.clone());
            thread::spawn(move || loop {
                if next.fetch_add(1, Ordering::Relaxed) >= args.sessions {
                    return;
                }
                let init = json!({
                    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}
                });
                if let Ok((Some(session), _)) = client.rpc(None, 1, "initialize", init) {
                    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                    if client.post(Some(&session), &initialized).is_ok() {
                        created.lock().unwrap().push(session);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let sessions = std::mem::take(&mut *created.lock().unwrap());
    sessions
}

/// Connects, sends the GET and reads up to the end of the response head; the socket stays open.
fn open_head(args: &Args, session: &str) -> Result<TcpStream, String> {
    let mut socket = TcpStream::connect((args.host.as_str(), args.port)).map_err(|e| format!("connect: {e}"))?;
    socket.set_read_timeout(Some(HEAD_TIMEOUT)).ok();
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nConnection: close\r\n\r\n",
        args.path, args.host, args.port
    );
    socket.write_all(head.as_bytes()).map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(512);
    let mut tmp = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut tmp).map_err(|e| format!("reading head: {e}"))?;
        if n == 0 {
            return Err("closed before the response head".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let status_line = String::from_utf8_lossy(&buf).lines().next().unwrap_or_default().to_owned();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(socket)
    } else {
        Err(format!("answered {status_line}"))
    }
}
