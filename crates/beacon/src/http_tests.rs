//! Unit tests for `http`: head reading and parsing, routing and serialisation, without sockets.

use super::*;

fn parse(head: &str) -> Result<Request<'_>, u16> {
    parse_head(head.as_bytes()).map_err(|resp| resp.status)
}

fn get(path: &str) -> Response {
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    route(&parse_head(head.as_bytes()).unwrap())
}

#[test]
fn parses_a_request_head() {
    let req = parse("GET /healthz?verbose=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
    assert_eq!(req, Ok(Request { method: "GET", target: "/healthz?verbose=1", path: "/healthz" }));
    let req = parse("GET http://example.com/version HTTP/1.0\n\n").unwrap();
    assert_eq!(req.path, "/version");
    assert_eq!(parse("GET http://example.com HTTP/1.1\r\n\r\n").unwrap().path, "/");
    assert_eq!(parse("OPTIONS * HTTP/1.1\r\n\r\n").unwrap().path, "*");
}

#[test]
fn rejects_malformed_heads() {
    for bad in [
        "",
        "GET\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET relative HTTP/1.1\r\n\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n",
        "GET / HTTX/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nno colon\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    ] {
        assert_eq!(parse(bad).map(|_| ()), Err(400), "{bad:?}");
    }
    assert_eq!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n").unwrap_err().status, 400);
    assert_eq!(parse("GET / HTTP/2.0\r\n\r\n").map(|_| ()), Err(505));
}

#[test]
fn routes() {
    let healthz = get("/healthz");
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok\n"));
    assert!(healthz.content_type.starts_with("text/plain"));

    let version = get("/version");
    assert_eq!(version.status, 200);
    assert_eq!(version.content_type, "application/json");
    let expected = format!(
        "{{\"name\":\"beacon\",\"version\":\"{}\",\"revision\":\"{}\"}}\n",
        env!("CARGO_PKG_VERSION"),
        crate::REVISION
    );
    assert_eq!(version.body, expected);

    assert_eq!(get("/").status, 200);
    assert_eq!(get("/nope").status, 404);
    assert_eq!(get("/healthz/").status, 404);
}

#[test]
fn methods() {
    let req = |method| Request { method, target: "/healthz", path: "/healthz" };
    let post = route(&req("POST"));
    assert_eq!((post.status, post.allow), (405, true));
    assert_eq!(route(&req("DELETE")).status, 405);
    let head = route(&req("HEAD"));
    assert_eq!((head.status, head.head_only), (200, true));
    // Unknown paths are 404 whatever the method.
    let unknown = Request { method: "POST", target: "/x", path: "/x" };
    assert_eq!(route(&unknown).status, 404);
}

#[test]
fn serialises_responses() {
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let bytes = Response::text(200, "ok\n").to_bytes(date);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    assert!(text.contains("\r\nContent-Length: 3\r\n"));
    assert!(text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(!text.contains("Allow:"));
    assert!(text.ends_with("\r\n\r\nok\n"));

    let mut not_allowed = Response::status_only(405);
    not_allowed.allow = true;
    let text = String::from_utf8(not_allowed.to_bytes(date)).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(text.contains("\r\nAllow: GET, HEAD\r\n"));

    let mut head = Response::text(200, "ok\n");
    head.head_only = true;
    let text = String::from_utf8(head.to_bytes(date)).unwrap();
    assert!(text.contains("\r\nContent-Length: 3\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
}

#[test]
fn finds_the_end_of_the_head() {
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nbody"), Some(16));
    assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    assert_eq!(find_head_end(b""), None);
}

/// A reader handing out its data a few bytes per read, like a slow client.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn reads_heads() {
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody bytes";
    for step in [1, 2, 3, 5, 1024] {
        let head = read_head(&mut Trickle(raw, step), MAX_HEAD_BYTES).unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "step {step}");
    }
    assert!(matches!(read_head(&mut &b""[..], 64), Err(ReadError::Closed)));
    assert!(matches!(read_head(&mut &b"GET / HT"[..], 64), Err(ReadError::Incomplete)));

    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
    let result = read_head(&mut huge.as_bytes(), MAX_HEAD_BYTES);
    assert!(matches!(result, Err(ReadError::TooLarge)));
    // Exactly at the limit is fine; one byte over is not.
    let exact = b"GET / HTTP/1.1\r\n\r\n";
    assert!(read_head(&mut &exact[..], exact.len()).is_ok());
    assert!(matches!(read_head(&mut &exact[..], exact.len() - 1), Err(ReadError::TooLarge)));
}

#[test]
fn formats_http_dates() {
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
}

#[test]
fn escapes_json() {
    assert_eq!(json_escape("3f2c1ab"), "3f2c1ab");
    assert_eq!(json_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\u000ad");
}
