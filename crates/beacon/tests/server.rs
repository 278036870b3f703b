//! Runs the real binary as a server on 127.0.0.1 and checks routes, error handling, the
//! `healthcheck` subcommand against it, and a clean exit on SIGTERM/SIGINT.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{beacon, closed_port, get, raw_request, split_response, Server};

#[test]
fn serves_healthz_version_and_index() {
    let server = Server::start();

    let (status, head, body) = get(server.addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(head.contains("\r\nContent-Type: text/plain"), "{head}");
    assert!(head.contains("\r\nContent-Length: 3\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close"), "{head}");

    let (status, head, body) = get(server.addr, "/version");
    assert_eq!(status, 200);
    assert!(head.contains("\r\nContent-Type: application/json"), "{head}");
    let version = format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(body.starts_with("{\"name\":\"beacon\","), "{body}");
    assert!(body.contains(&version), "{body}");
    assert!(body.contains("\"revision\":\""), "{body}");

    let (status, _, body) = get(server.addr, "/");
    assert_eq!(status, 200);
    assert!(body.contains(env!("CARGO_PKG_VERSION")), "{body}");

    assert!(server.log_contains("method=GET path=/healthz status=200"), "{:?}", server.log());
}

#[test]
fn rejects_unknown_paths_methods_and_bad_requests() {
    let server = Server::start();
    assert_eq!(get(server.addr, "/nope").0, 404);

    let post = raw_request(server.addr, b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    let (status, head, _) = split_response(&post);
    assert_eq!(status, 405);
    assert!(head.contains("\r\nAllow: GET, HEAD"), "{head}");

    let head_req = raw_request(server.addr, b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let (status, head, body) = split_response(&head_req);
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("\r\nContent-Length: 3\r\n"), "{head}");

    assert_eq!(split_response(&raw_request(server.addr, b"garbage\r\n\r\n")).0, 400);

    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(16 * 1024));
    assert_eq!(split_response(&raw_request(server.addr, huge.as_bytes())).0, 431);

    assert!(server.log_contains("status=431"), "{:?}", server.log());
}

#[test]
fn healthcheck_passes_against_a_running_server() {
    let server = Server::start();
    let port = server.addr.port().to_string();
    let listen = server.addr.to_string();
    let runs = [
        beacon().args(["healthcheck", "--url-port", &port]).output().unwrap(),
        beacon().args(["healthcheck", "--listen", &listen]).output().unwrap(),
        beacon().arg("healthcheck").env("BEACON_LISTEN", &listen).output().unwrap(),
        beacon().arg("healthcheck").env("PORT", &port).output().unwrap(),
    ];
    for out in runs {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn healthcheck_fails_against_a_closed_port() {
    let port = closed_port().to_string();
    let out = beacon().args(["healthcheck", "--url-port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("healthcheck:"), "{stderr}");
}

#[test]
fn healthcheck_fails_on_a_non_200_answer() {
    // Something answering HTTP, but not healthy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    });
    let out = beacon().args(["healthcheck", "--url-port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));
}

fn assert_clean_exit_on(signal: libc::c_int) {
    let mut server = Server::start();
    // An idle client that never sends a request must not hold up the shutdown.
    let _idle = TcpStream::connect(server.addr).unwrap();
    assert_eq!(get(server.addr, "/healthz").0, 200);
    let sent = Instant::now();
    server.signal(signal);
    let status = server.wait_for_exit(Duration::from_secs(2));
    let status = status.unwrap_or_else(|| panic!("still running 2s after the signal; {:?}", server.log()));
    assert_eq!(status.code(), Some(0), "{:?}", server.log());
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(server.log_contains("shutting down"), "{:?}", server.log());
}

#[test]
fn exits_zero_promptly_on_sigterm() {
    assert_clean_exit_on(libc::SIGTERM);
}

#[test]
fn exits_zero_promptly_on_sigint() {
    assert_clean_exit_on(libc::SIGINT);
}
