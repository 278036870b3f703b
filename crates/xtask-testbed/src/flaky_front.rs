//! A fault-injecting front for a real `registry:2`, on loopback, plain HTTP: a reverse proxy that
//! answers a share of the requests itself with what busy registries answer, with the bodies they
//! send — `429 Too Many Requests` and `503 Service Unavailable` with the distribution spec's JSON
//! error and `Retry-After: 1`, nginx's HTML page for `502 Bad Gateway`, or a connection reset — and
//! passes the rest through. Deterministic: whether the n-th occurrence of a request
//! (method and path, upload ids and queries left out) fails follows from the seed, whatever order
//! the tools' parallel requests arrive in; and a request that failed passes the next time, so
//! every operation can complete by retrying. A test can also make it answer some requests with a
//! fixed status every time (a registry that refuses, or stays down), or lie about a manifest that
//! exists (a proxy's 404 page, a 403 whose error code is `NOT_FOUND`), or ask for credentials
//! (`require_credentials`: a 401 to every request without an `Authorization` header).
//!
//! One request per connection (the front asks the registry for `Connection: close`), so a request
//! is its connection: the proxy needs no HTTP body framing, it pipes bytes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the front answers instead of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    TooManyRequests,
    BadGateway,
    Unavailable,
    /// The connection reset (RST) before any answer.
    Reset,
    Unauthorized,
    NotFound,
    ManifestInvalid,
    /// A proxy's own 404 page (HTML), not the registry's answer.
    NotFoundPage,
    /// A 403 whose spec error code says `NOT_FOUND` (what some registries answer a user who may not
    /// read a repository).
    ForbiddenNotFound,
}

/// nginx's page for a 502.
pub const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

impl Fault {
    const TRANSIENT: [Fault; 4] = [Fault::TooManyRequests, Fault::BadGateway, Fault::Unavailable, Fault::Reset];

    fn answer(self, head_only: bool) -> Option<String> {
        let (status, extra, body) = match self {
            Fault::Reset => return None,
            Fault::TooManyRequests => (
                "429 Too Many Requests",
                "Retry-After: 1\r\nContent-Type: application/json\r\n",
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}"#,
            ),
            Fault::BadGateway => ("502 Bad Gateway", "Server: nginx\r\nContent-Type: text/html\r\n", NGINX_502),
            Fault::Unavailable => (
                "503 Service Unavailable",
                "Retry-After: 1\r\nContent-Type: application/json\r\n",
                r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#,
            ),
            Fault::Unauthorized => (
                "401 Unauthorized",
                "Www-Authenticate: Basic realm=\"flaky-front\"\r\nContent-Type: application/json\r\n",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ),
            Fault::NotFound => (
                "404 Not Found",
                "Content-Type: application/json\r\n",
                r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#,
            ),
            Fault::ManifestInvalid => (
                "400 Bad Request",
                "Content-Type: application/json\r\n",
                r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}}]}"#,
            ),
            Fault::NotFoundPage => (
                "404 Not Found",
                "Content-Type: text/html\r\n",
                "<html><head><title>404 page not found</title></head><body>404 page not found</body></html>",
            ),
            Fault::ForbiddenNotFound => (
                "403 Forbidden",
                "Content-Type: application/json\r\n",
                r#"{"errors":[{"code":"NOT_FOUND","message":"artifact not found"}]}"#,
            ),
        };
        let body = if head_only { "" } else { body };
        Some(format!(
            "HTTP/1.1 {status}\r\n{extra}Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    }
}

/// Requests the front always answers with `fault`: `method` (or `"*"`) and a path (without its
/// query) that `path` accepts.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: fn(&str) -> bool,
    pub fault: Fault,
}

#[derive(Default)]
struct State {
    /// Fail about one request in `one_in` (0: none).
    one_in: u64,
    seed: u64,
    /// key → (occurrences so far, whether the last one failed)
    seen: HashMap<String, (u64, bool)>,
    rules: Vec<Rule>,
    /// Answer 401 to every request without an `Authorization` header.
    credentials: bool,
    /// Every fault answered: `METHOD path → fault`.
    injected: Vec<String>,
    /// Every request seen, `METHOD path`.
    requests: Vec<String>,
}

pub struct FlakyFront {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FlakyFront {
    /// A front on a free loopback port for the registry on `upstream` (a loopback port), failing
    /// about one request in `one_in` (0: none) as `seed` decides.
    pub fn start(upstream: u16, one_in: u64, seed: u64) -> FlakyFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { one_in, seed, ..State::default() }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(client, upstream, &state));
            }
        });
        FlakyFront { port, state }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on, answer the requests `rule` names with its fault, every time.
    pub fn always(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    /// From now on, ask for credentials: a 401 (Basic) to every request without `Authorization`.
    pub fn require_credentials(&self) {
        self.state.lock().unwrap().credentials = true;
    }

    /// Stops the random faults (the rules stay).
    pub fn calm(&self) {
        self.state.lock().unwrap().one_in = 0;
    }

    /// The faults answered so far, `METHOD path → fault`.
    pub fn injected(&self) -> Vec<String> {
        self.state.lock().unwrap().injected.clone()
    }

    /// The requests seen so far, `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// `METHOD path` with the query and a blob upload's id left out: the same request on every run.
fn key(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let path = match path.find("/blobs/uploads/") {
        Some(at) if path.len() > at + "/blobs/uploads/".len() => format!("{}*", &path[..at + "/blobs/uploads/".len()]),
        _ => path.to_owned(),
    };
    format!("{method} {path}")
}

/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn decide(state: &Mutex<State>, method: &str, path: &str, authorized: bool) -> Option<Fault> {
    let mut state = state.lock().unwrap();
    let key = key(method, path);
    state.requests.push(key.clone());
    let bare = path.split('?').next().unwrap_or(path);
    let unauthorized = (state.credentials && !authorized).then_some(Fault::Unauthorized);
    let ruled = unauthorized.or_else(|| {
        state.rules.iter().find(|r| (r.method == "*" || r.method == method) && (r.path)(bare)).map(|r| r.fault)
    });
    let (one_in, seed) = (state.one_in, state.seed);
    let (occurrence, failed_last) = *state.seen.get(&key).unwrap_or(&(0, false));
    let fault = ruled.or_else(|| {
        let roll = mix(seed ^ fnv(&key) ^ mix(occurrence));
        (one_in > 0 && !failed_last && roll % one_in == 0).then(|| Fault::TRANSIENT[((roll >> 32) % 4) as usize])
    });
    state.seen.insert(key.clone(), (occurrence + 1, fault.is_some()));
    if let Some(fault) = fault {
        state.injected.push(format!("{key} → {fault:?}"));
    }
    fault
}

fn serve(mut client: TcpStream, upstream: u16, state: &Mutex<State>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    // The request's head, peeked: left unread, it makes closing the socket a reset.
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    let head_len = loop {
        let Ok(n) = client.peek(&mut buffer) else { return };
        if n == 0 {
            return;
        }
        if !buffer[0].is_ascii_uppercase() {
            // Not HTTP (a TLS handshake: docker and skopeo try HTTPS first): the registry answers
            // it as a plain-HTTP server does, and the tools fall back to HTTP.
            return pipe(client, upstream, None);
        }
        if let Some(at) = buffer[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if Instant::now() > deadline || n == buffer.len() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let head = String::from_utf8_lossy(&buffer[..head_len]).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or("").to_owned(), words.next().unwrap_or("").to_owned());
    let authorized = head.lines().any(|line| line.to_ascii_lowercase().starts_with("authorization:"));
    match decide(state, &method, &path, authorized) {
        Some(fault) => match fault.answer(method == "HEAD") {
            // Dropped with the request unread: the kernel answers with a reset.
            None => drop(client),
            Some(answer) => {
                let mut head = vec![0u8; head_len];
                let _ = client.read_exact(&mut head);
                let _ = client.write_all(answer.as_bytes());
                let _ = client.shutdown(Shutdown::Write);
                // Take in what the client still sends (a body) until it hangs up, so that
                // closing does not reset the answer away.
                let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                let mut sink = [0u8; 16 * 1024];
                while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
            }
        },
        None => pass(client, upstream, &head, head_len),
    }
}

/// Pipes the connection to the registry both ways, `head` sent first (else the client's bytes as
/// they come), until the registry hangs up.
fn pipe(mut client: TcpStream, upstream: u16, head: Option<&str>) {
    let Ok(mut registry) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    if let Some(head) = head {
        if registry.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
    let (Ok(mut client_in), Ok(mut registry_out)) = (client.try_clone(), registry.try_clone()) else { return };
    let _ = client_in.set_read_timeout(None);
    let body = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut registry_out);
    });
    let _ = std::io::copy(&mut registry, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = registry.shutdown(Shutdown::Both);
    let _ = body.join();
}

/// Sends the request to the registry with `Connection: close` and pipes both ways until it answers.
fn pass(mut client: TcpStream, upstream: u16, head: &str, head_len: usize) {
    let mut consumed = vec![0u8; head_len];
    if client.read_exact(&mut consumed).is_err() {
        return;
    }
    let mut rewritten = String::new();
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    pipe(client, upstream, Some(&rewritten));
}
