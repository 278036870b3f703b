//! The HTTP/1.1 subset beacon speaks: reading and parsing a request head, routing it, and
//! serialising the response. Everything here is pure (or generic over `Read`) so it is unit-tested
//! without sockets; `server` owns the I/O, timeouts and threads.

use std::io::{self, Read};

/// Largest request head (request line + headers) accepted; beyond it the answer is 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Methods served by every route (HEAD is GET without the body).
const ALLOW: &str = "GET, HEAD";

/// A parsed request head, borrowing from the bytes read off the socket.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target as sent (for logging).
    pub target: &'a str,
    /// The target's path, without query or fragment (for routing).
    pub path: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Whether to send an `Allow` header (405 responses).
    pub allow: bool,
    /// HEAD: send the headers (with the GET body's length) but no body.
    pub head_only: bool,
}

/// Why no request head could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed before sending a byte (port probes, a shutdown wake-up): nothing to answer.
    Closed,
    /// The peer closed mid-head.
    Incomplete,
    TooLarge,
    TimedOut,
    Io(io::Error),
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow: false,
            head_only: false,
        }
    }

    /// The plain-text response for a status with no further content (`404 not found\n`).
    pub fn status_only(status: u16) -> Response {
        Response::text(status, format!("{status} {}\n", reason(status).to_ascii_lowercase()))
    }

    /// The full response bytes. `date` is an IMF-fixdate (see [`http_date`]).
    pub fn to_bytes(&self, date: &str) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nDate: {date}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
        );
        if self.allow {
            head.push_str(&format!("Allow: {ALLOW}\r\n"));
        }
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Reads up to the end of the request head (the blank line) and returns the head without it.
/// Any body or pipelined bytes are ignored: every response closes the connection.
pub fn read_head<R: Read>(reader: &mut R, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(ReadError::TimedOut)
            }
            Err(e) => return Err(ReadError::Io(e)),
        };
        if n == 0 {
            return Err(if buf.is_empty() { ReadError::Closed } else { ReadError::Incomplete });
        }
        // The terminator may straddle two reads: rescan the last three old bytes.
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf[scan_from..]).map(|e| scan_from + e) {
            if end > limit {
                return Err(ReadError::TooLarge);
            }
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() >= limit {
            return Err(ReadError::TooLarge);
        }
    }
}

/// The offset just past the blank line ending a head (`\r\n\r\n`, leniently also bare `\n`s).
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| match (buf[i], buf.get(i + 1), buf.get(i + 2)) {
        (b'\n', Some(b'\n'), _) => Some(i + 2),
        (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
        _ => None,
    })
}

/// Parses a request head; the error is the response to send instead (400 or 505).
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, Response> {
    let bad = |why: &str| Response::text(400, format!("400 bad request: {why}\n"));
    let head = std::str::from_utf8(head).map_err(|_| bad("not UTF-8"))?;
    let mut lines = head.lines(); // splits on \n, strips a trailing \r
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(bad("invalid method"));
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("invalid request target"));
    }
    let path = target_path(target).ok_or_else(|| bad("invalid request target"))?;
    match version.strip_prefix("HTTP/") {
        Some("1.0" | "1.1") => {}
        Some(v) if v.len() == 3 && v.as_bytes()[1] == b'.' => {
            return Err(Response::status_only(505));
        }
        _ => return Err(bad("invalid HTTP version")),
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        let name = line.split_once(':').map(|(name, _)| name).unwrap_or_default();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad("malformed header"));
        }
        if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(bad("control character in header"));
        }
    }
    Ok(Request { method, target, path })
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://host/p`) target; `*` is kept.
fn target_path(target: &str) -> Option<&str> {
    let rest = if target.starts_with('/') || target == "*" {
        target
    } else {
        let after_scheme = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://"))?;
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    };
    Some(rest.split(['?', '#']).next().unwrap_or(rest))
}

/// RFC 9110 `tchar`: the characters allowed in methods and header names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Routes a parsed request. Unknown paths are 404 whatever the method; known ones answer GET
/// and HEAD, anything else is 405 with `Allow`.
pub fn route(req: &Request<'_>) -> Response {
    let mut resp = match req.path {
        "/healthz" => Response::text(200, "ok\n"),
        "/version" => Response { content_type: "application/json", ..Response::text(200, version_json()) },
        "/" => Response::text(
            200,
            format!("{} {} ({})\nendpoints: /healthz /version\n", crate::NAME, crate::VERSION, crate::REVISION),
        ),
        _ => return Response::status_only(404),
    };
    match req.method {
        "GET" => {}
        "HEAD" => resp.head_only = true,
        _ => {
            resp = Response::status_only(405);
            resp.allow = true;
        }
    }
    resp
}

fn version_json() -> String {
    format!(
        "{{\"name\":\"{}\",\"version\":\"{}\",\"revision\":\"{}\"}}\n",
        json_escape(crate::NAME),
        json_escape(crate::VERSION),
        json_escape(crate::REVISION)
    )
}

/// Escapes a string for a JSON string literal (the revision comes from a build-time env var).
pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// computed by hand: no time zone or locale files exist in the image.
pub fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01: Thu
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil-from-days (Howard Hinnant), for dates on or after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
