//! Shared helpers for the integration tests: start the real `beacon` binary on an ephemeral
//! 127.0.0.1 port (its `listening` log line carries the bound address as `addr=`), collect its
//! stderr, and make raw HTTP requests against it.

#![allow(dead_code)] // each test crate uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_beacon");

/// `beacon` with the listen-related environment cleared, so the host's settings don't leak in.
pub fn beacon() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("BEACON_LISTEN").env_remove("PORT");
    cmd
}

/// A running server; killed on drop if a test failed before stopping it.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start() -> Server {
        let mut child = beacon()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn beacon");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        // Keep draining stderr so the server never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(" listening ") {
                    let _ = tx.send(field(&line, "addr").parse::<SocketAddr>().expect("bound address"));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("no startup line; stderr: {:?}", log.lock().unwrap());
            }
        };
        Server { child, addr, log }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain syscall on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The stderr lines so far (waiting briefly for the reader thread to catch up).
    pub fn log_contains(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The first stderr line containing `needle` (waiting briefly for it).
    pub fn log_line(&self, needle: &str) -> Option<String> {
        self.log_contains(needle).then(|| self.log().into_iter().find(|l| l.contains(needle)).unwrap())
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `name=value` in a log line (values have no spaces).
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name}= in {line:?}")) + name.len() + 2;
    line[start..].split(' ').next().unwrap()
}

/// Sends raw bytes and returns everything the server answers until it closes the connection
/// (a request should say `Connection: close`). A reset after the answer arrived is tolerated:
/// hyper closes at once after rejecting a request it did not read whole.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).expect("send request");
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !response.is_empty() => break,
            Err(e) => panic!("reading the response: {e}; got so far: {:?}", String::from_utf8_lossy(&response)),
        }
    }
    String::from_utf8(response).expect("UTF-8 response")
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    Response::parse(&raw_request(addr, request.as_bytes()))
}

/// A response as received: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// Parses one response; the body is whatever follows the head.
    pub fn parse(response: &str) -> Response {
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response head: {response:?}"));
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("bad header {line:?}"));
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Response { status, headers, body: body.to_owned() }
    }

    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
