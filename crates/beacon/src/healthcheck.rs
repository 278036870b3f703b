//! `beacon healthcheck`: the image's HEALTHCHECK command (the image has no curl and no shell).
//! It sends `GET /healthz` to the locally running server and exits 0 on a 200, else 1 with the
//! reason on stderr. The whole check shares one 2-second deadline.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::http;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the check against `target` and reports the outcome as the process exit code.
pub fn run(target: SocketAddr) -> ExitCode {
    match check(target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            log!("healthcheck: http://{target}/healthz: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Where to probe a server listening on `listen`: the wildcard addresses map to loopback of the
/// same family; a specific IP is probed as is (a server bound to it is not on 127.0.0.1).
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

fn check(target: SocketAddr) -> Result<(), String> {
    if target.port() == 0 {
        return Err("port 0 cannot be probed".to_owned());
    }
    let deadline = Instant::now() + TIMEOUT;
    let stream = TcpStream::connect_timeout(&target, TIMEOUT).map_err(|e| describe(&e))?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {target}\r\nUser-Agent: beacon-healthcheck/{}\r\n\
         Connection: close\r\n\r\n",
        crate::VERSION
    );
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|e| describe(&e))?;
    (&stream).write_all(request.as_bytes()).map_err(|e| describe(&e))?;

    // Only the status line matters; read until it is complete, the server closes, or 8 KiB.
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    while !response.contains(&b'\n') && response.len() < http::MAX_HEAD_BYTES {
        stream.set_read_timeout(Some(remaining(deadline)?)).map_err(|e| describe(&e))?;
        match (&stream).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(describe(&e)),
        }
    }
    if response.is_empty() {
        return Err("connection closed without a response".to_owned());
    }
    let line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    match parse_status_line(&line) {
        Some(200) => Ok(()),
        Some(_) => Err(format!("unhealthy: {}", line.trim_end())),
        None => Err(format!("not an HTTP response: {:?}", line.trim_end())),
    }
}

/// The status code from a response's status line (`HTTP/1.1 200 OK`), for the healthcheck.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(format!("timed out after {}s", TIMEOUT.as_secs()));
    }
    Ok(left)
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("timed out after {}s", TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_probed_on_loopback() {
        let probe = |s: &str| probe_addr(s.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("127.0.0.1:81"), "127.0.0.1:81");
        assert_eq!(probe("10.1.2.3:81"), "10.1.2.3:81");
    }

    #[test]
    fn port_zero_is_refused_without_connecting() {
        assert!(check("127.0.0.1:0".parse().unwrap()).is_err());
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status_line("HTTP/1.1 200"), Some(200));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000 OK"), None);
    }
}
