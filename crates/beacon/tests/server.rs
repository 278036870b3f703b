//! Runs the real binary as a server on 127.0.0.1 and checks routes and headers over real HTTP,
//! hyper's handling of bad requests, the `healthcheck` subcommand against it, and a clean exit on
//! SIGTERM/SIGINT.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{beacon, closed_port, get, raw_request, Response, Server};

#[test]
fn serves_healthz_version_and_index() {
    let server = Server::start();

    let healthz = get(server.addr, "/healthz");
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok\n"));
    assert_eq!(healthz.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(healthz.header("content-length"), Some("3"));
    assert_eq!(healthz.header("cache-control"), Some("no-store"));
    let date = healthz.header("date").expect("a Date header");
    assert!(date.ends_with(" GMT") && date.len() == "Sun, 06 Nov 1994 08:49:37 GMT".len(), "{date}");

    let version = get(server.addr, "/version");
    assert_eq!(version.status, 200);
    assert_eq!(version.header("content-type"), Some("application/json"));
    let prefix = format!("{{\"name\":\"beacon\",\"version\":\"{}\",\"revision\":\"", env!("CARGO_PKG_VERSION"));
    assert!(version.body.starts_with(&prefix) && version.body.ends_with("\"}\n"), "{}", version.body);

    let index = get(server.addr, "/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains(env!("CARGO_PKG_VERSION")), "{}", index.body);

    let line = server.log_line("path=/healthz").unwrap_or_else(|| panic!("{:?}", server.log()));
    assert!(line.contains(" INFO request ") && line.contains(" method=GET path=/healthz status=200 "), "{line}");
    assert!(common::field(&line, "peer").starts_with("127.0.0.1:"), "{line}");
}

#[test]
fn rejects_unknown_paths_methods_and_bad_requests() {
    let server = Server::start();
    let not_found = get(server.addr, "/nope");
    assert_eq!((not_found.status, not_found.body.as_str()), (404, "404 not found\n"));

    let post = raw_request(
        server.addr,
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    let post = Response::parse(&post);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET,HEAD"));

    let head =
        Response::parse(&raw_request(server.addr, b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("content-length"), Some("3"));

    assert_eq!(Response::parse(&raw_request(server.addr, b"garbage\r\n\r\n")).status, 400);

    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(16 * 1024));
    assert_eq!(Response::parse(&raw_request(server.addr, huge.as_bytes())).status, 431);
    assert!(server.log_contains("message head is too large"), "{:?}", server.log());
}

#[test]
fn keeps_connections_alive_between_requests() {
    let server = Server::start();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for path in ["/healthz", "/version", "/healthz"] {
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert!(reader.read_line(&mut head).unwrap() > 0, "closed after {head:?}");
        }
        let response = Response::parse(&head);
        assert_eq!(response.status, 200, "{path}");
        let length: usize = response.header("content-length").unwrap().parse().unwrap();
        reader.by_ref().take(length as u64).read_to_end(&mut Vec::new()).unwrap();
    }
    // The request log lines are written after the responses: wait for them.
    let requests = || server.log().iter().filter(|l| l.contains(" request ")).count();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while requests() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let peers: Vec<String> =
        server.log().iter().filter(|l| l.contains(" request ")).map(|l| common::field(l, "peer").to_owned()).collect();
    assert_eq!(peers.len(), 3, "{:?}", server.log());
    assert!(peers.iter().all(|p| *p == peers[0]), "one connection for all three: {peers:?}");
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
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    assert!(server.log_contains("path=/healthz status=200"), "{:?}", server.log());
}

#[test]
fn healthcheck_fails_against_a_closed_port() {
    let port = closed_port().to_string();
    let out = beacon().args(["healthcheck", "--url-port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("healthcheck: http://127.0.0.1:") && stderr.contains("refused"), "{stderr}");
}

#[test]
fn healthcheck_fails_on_a_non_200_answer() {
    // Something answering HTTP, but not healthy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = conn.read(&mut request);
        let _ = conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    });
    let out = beacon().args(["healthcheck", "--url-port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unhealthy: 503 Service Unavailable"), "{stderr}");
}

#[test]
fn healthcheck_times_out_on_a_silent_server() {
    // Accepts the connection (the kernel does, from the backlog) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let started = Instant::now();
    let out = beacon().args(["healthcheck", "--url-port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out after 2s"));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

fn assert_clean_exit_on(signal: libc::c_int, name: &str) {
    let mut server = Server::start();
    // Idle clients must not hold up the shutdown: one that never sends a request, and a
    // keep-alive connection between requests.
    let _idle = TcpStream::connect(server.addr).unwrap();
    let mut kept = TcpStream::connect(server.addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut answer = [0u8; 512];
    assert!(kept.read(&mut answer).unwrap() > 0);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    let sent = Instant::now();
    server.signal(signal);
    let status = server.wait_for_exit(Duration::from_secs(2));
    let status = status.unwrap_or_else(|| panic!("still running 2s after the signal; {:?}", server.log()));
    assert_eq!(status.code(), Some(0), "{:?}", server.log());
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert!(server.log_contains(&format!("shutting down signal={name}")), "{:?}", server.log());
    assert!(server.log_contains(" stopped"), "{:?}", server.log());
    assert!(!server.log_contains("drain timeout"), "idle connections close at once: {:?}", server.log());
}

#[test]
fn exits_zero_promptly_on_sigterm() {
    assert_clean_exit_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn exits_zero_promptly_on_sigint() {
    assert_clean_exit_on(libc::SIGINT, "SIGINT");
}
