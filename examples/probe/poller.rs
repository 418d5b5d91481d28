//! One epoll thread reading every GET stream (`--epoll`): tens of thousands of streams per process
//! without a thread each. A readable socket is drained until it would block; each read is
//! timestamped when it returns, as the per-stream threads do.

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use super::now_ms;
use super::streams::{Delivery, StreamParser};

type Registered = HashMap<usize, (Arc<TcpStream>, StreamParser)>;

pub(crate) struct Poller {
    epoll: i32,
    streams: Arc<Mutex<Registered>>,
    tx: Sender<Delivery>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts the reader thread; it stops once `stop` is set. Streams that end before that are counted
    /// in `closed`.
    pub(crate) fn start(tx: Sender<Delivery>, stop: Arc<AtomicBool>, closed: Arc<AtomicUsize>) -> Result<Self, String> {
        // SAFETY: plain syscall; the descriptor is closed in Drop.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(format!("epoll_create1: {}", std::io::Error::last_os_error()));
        }
        let streams: Arc<Mutex<Registered>> = Arc::new(Mutex::new(HashMap::new()));
        let (reader_streams, reader_tx) = (streams.clone(), tx.clone());
        let handle = thread::Builder::new()
            .name("sse-epoll".into())
            .spawn(move || read_loop(epoll, &reader_streams, &reader_tx, &stop, &closed))
            .map_err(|e| format!("spawning the epoll reader: {e}"))?;
        Ok(Self { epoll, streams, tx, handle: Some(handle) })
    }

    /// Hands a stream whose head has been read to the reader; `leftover` is the body read with the head.
    pub(crate) fn register(
        &self,
        index: usize,
        socket: Arc<TcpStream>,
        mut parser: StreamParser,
        leftover: Vec<u8>,
    ) -> Result<(), String> {
        if !leftover.is_empty() && parser.feed(&leftover, now_ms(), &self.tx) {
            return Ok(());
        }
        socket.set_nonblocking(true).map_err(|e| format!("set_nonblocking: {e}"))?;
        let fd = socket.as_raw_fd();
        self.streams.lock().unwrap().insert(index, (socket, parser));
        let mut event = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, u64: index as u64 };
        // SAFETY: `fd` stays open while the stream is registered (the map holds the socket).
        if unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            self.streams.lock().unwrap().remove(&index);
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Waits for the reader thread (after `stop` was set).
    pub(crate) fn join(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns.
        unsafe { libc::close(self.epoll) };
    }
}

fn read_loop(epoll: i32, streams: &Mutex<Registered>, tx: &Sender<Delivery>, stop: &AtomicBool, closed: &AtomicUsize) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buffer = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `events` outlives the call and its length is passed.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, 200) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let mut streams = streams.lock().unwrap();
        for event in &events[..n as usize] {
            let index = event.u64 as usize;
            let Some((socket, parser)) = streams.get_mut(&index) else { continue };
            let ended = loop {
                match (&**socket).read(&mut buffer) {
                    Ok(0) => break true,
                    Ok(n) => {
                        if parser.feed(&buffer[..n], now_ms(), tx) {
                            break true;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break true,
                }
            };
            if ended {
                if let Some((socket, _)) = streams.remove(&index) {
                    // SAFETY: the descriptor is still open (the socket is alive until this scope ends).
                    unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_DEL, socket.as_raw_fd(), std::ptr::null_mut()) };
                }
                if !stop.load(Ordering::Relaxed) {
                    closed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
