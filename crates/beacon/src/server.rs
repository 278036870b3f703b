//! The accept loop and per-connection handling: one short-lived thread per connection (capped),
//! socket timeouts, one log line per request, and a prompt, bounded stop when [`Stopper::stop`]
//! is called (from the signal thread). The loop `poll`s the listener together with one end of a
//! socket pair, so a stop wakes it at once without a timer or a connection to itself.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{self, ReadError, Response};

/// Total time a client gets to send its request head, and per-write timeout for the response.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections handled at once; beyond it new ones get an immediate 503.
const MAX_CONNECTIONS: usize = 128;
/// How long a stop waits for in-flight requests before returning anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// After answering, how long unread request bytes are drained so closing doesn't reset the
/// connection before the client has read the response.
const LINGER: Duration = Duration::from_millis(500);
const CONN_STACK_SIZE: usize = 128 * 1024;

/// Requests a stop of [`run`]; cheap to call more than once, and from any thread.
pub struct Stopper {
    flag: Arc<AtomicBool>,
    wake: UnixStream,
}

/// The receiving half of a [`Stopper`], consumed by [`run`].
pub struct StopListener {
    flag: Arc<AtomicBool>,
    wake: UnixStream,
}

pub fn stop_channel() -> io::Result<(Stopper, StopListener)> {
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?; // never block the signal thread, even if the buffer were full
    let flag = Arc::new(AtomicBool::new(false));
    let stopper = Stopper { flag: Arc::clone(&flag), wake: tx };
    Ok((stopper, StopListener { flag, wake: rx }))
}

impl Stopper {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = (&self.wake).write(&[1]);
    }
}

/// Serves connections until stopped, then waits up to [`DRAIN_TIMEOUT`] for open ones.
pub fn run(listener: TcpListener, stop: StopListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.flag.load(Ordering::SeqCst) {
        if !wait_readable(&listener, &stop.wake)? {
            continue;
        }
        match listener.accept() {
            Ok((stream, peer)) => dispatch(stream, peer, &active),
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                // e.g. EMFILE: back off rather than spin, and keep serving.
                log!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
    drop(listener); // refuse new connections while draining
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let left = active.load(Ordering::SeqCst);
    if left > 0 {
        log!("{left} connection(s) still open, closing them");
    }
    Ok(())
}

/// Blocks until the listener has a connection or a stop was requested (`false` then).
fn wait_readable(listener: &TcpListener, wake: &UnixStream) -> io::Result<bool> {
    let mut fds = [
        libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    // SAFETY: `fds` is a valid array of two pollfds that outlives the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(err) };
    }
    Ok(fds[1].revents == 0 && fds[0].revents != 0)
}

/// Errors after which the next accept may well succeed (the client gave up, or poll raced).
fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted)
}

fn dispatch(stream: TcpStream, peer: SocketAddr, active: &Arc<AtomicUsize>) {
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::SeqCst);
        log!("request peer={peer} method=- path=- status=503 (too many connections)");
        // The socket buffer takes a response this small without blocking the accept loop.
        let _ = stream.set_nonblocking(true);
        let _ = (&stream).write_all(&Response::status_only(503).to_bytes(&now()));
        return;
    }
    let guard = ActiveGuard(Arc::clone(active));
    let spawned = thread::Builder::new().name("beacon-conn".into()).stack_size(CONN_STACK_SIZE).spawn(move || {
        let _guard = guard;
        handle(stream, peer);
    });
    if let Err(e) = spawned {
        log!("cannot spawn a connection thread: {e}"); // the closure (and guard) were dropped
    }
}

/// Decrements the active-connection count when the connection's thread ends (even by panic).
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn handle(stream: TcpStream, peer: SocketAddr) {
    // accept() doesn't pass O_NONBLOCK on to the new socket on Linux, but don't rely on it.
    if stream.set_nonblocking(false).is_err() || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err() {
        return;
    }
    let mut reader = DeadlineReader { stream: &stream, deadline: Instant::now() + IO_TIMEOUT };
    let head = http::read_head(&mut reader, http::MAX_HEAD_BYTES);
    let (method, target, resp) = match &head {
        Ok(head) => match http::parse_head(head) {
            Ok(req) => (req.method, req.target, http::route(&req)),
            Err(resp) => ("-", "-", resp),
        },
        Err(ReadError::Closed) => return,
        Err(ReadError::Io(e)) => {
            log!("request peer={peer} read error: {e}");
            return;
        }
        Err(ReadError::Incomplete) => ("-", "-", Response::status_only(400)),
        Err(ReadError::TooLarge) => ("-", "-", Response::status_only(431)),
        Err(ReadError::TimedOut) => ("-", "-", Response::status_only(408)),
    };
    let written = (&stream).write_all(&resp.to_bytes(&now()));
    let status = resp.status;
    match written {
        Ok(()) => log!("request peer={peer} method={method} path={target} status={status}"),
        Err(e) => log!("request peer={peer} method={method} path={target} status={status} write error: {e}"),
    }
    linger(&stream);
}

/// Half-closes, then reads and discards what the client still sends (a body, the rest of an
/// oversized head) until it closes or [`LINGER`] passes; closing with unread data would send a
/// reset that can destroy the response in flight.
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut reader = DeadlineReader { stream, deadline: Instant::now() + LINGER };
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < 64 * 1024 {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// A reader whose reads all share one deadline (so a client trickling bytes can't extend it).
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

fn now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    http::http_date(secs)
}
