//! How to reach a registry: applies `rules::transport` (by the host's literal name, never DNS),
//! and, only where plain HTTP is allowed, asks the registry whether it speaks it (at the addresses
//! the system resolver gives, as the tools will connect; dockerd's own rule resolves too).
//! A registry that is not allowed plain HTTP is never sent a plaintext request; one that speaks TLS
//! keeps TLS with verification.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Result;

use crate::rules::retry::{Attempted, Transient};
use crate::rules::transport::{self, Allowance, Transport};
use crate::tools::retry;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What was decided for one registry.
#[derive(Debug, Clone)]
pub struct Access {
    pub transport: Transport,
    pub allowance: Allowance,
    /// What its host resolved to.
    pub addresses: Vec<IpAddr>,
}

/// Decides how to reach `registry` (`HOST[:PORT]`); fails if it answers plain HTTP where HTTPS
/// was expected.
pub fn access(registry: &str, insecure: &[String]) -> Result<Access> {
    let (host, port) = transport::split_host(registry);
    let addresses: Vec<IpAddr> = (host, 0).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default();
    let allowance = transport::allowance(registry, insecure);
    let plain = allowance != Allowance::HttpsOnly && answers_plain_http(registry, &addresses, port);
    let transport = transport::transport(registry, &allowance, plain)?;
    Ok(Access { transport, allowance, addresses })
}

/// Whether the registry answers the registry API's `GET /v2/` in plain HTTP: on its port, or,
/// without one, on port 80 when nothing listens on 443 (where HTTPS would be tried first). A TLS
/// port answers a plaintext request with `400 Bad Request` (Go, nginx) or not at all.
fn answers_plain_http(registry: &str, addresses: &[IpAddr], port: Option<u16>) -> bool {
    let addresses = if addresses.is_empty() {
        transport::split_host(registry).0.parse().into_iter().collect()
    } else {
        addresses.to_vec()
    };
    let port = match port {
        Some(port) => port,
        None if addresses
            .iter()
            .any(|a| TcpStream::connect_timeout(&SocketAddr::new(*a, 443), CONNECT_TIMEOUT).is_ok()) =>
        {
            return false
        }
        None => 80,
    };
    // A connection reset before the answer (a busy registry's front) is asked again, under the retry policy.
    let operation = format!("GET /v2/ of {registry}");
    let head = retry::retry(&operation, registry, || match ask_v2(registry, &addresses, port) {
        Ok(head) => Ok(Attempted::Done(Some(head))),
        Err(error) => Ok(Transient::of_output(&error.to_string()).map_or(Attempted::Done(None), Attempted::Failed)),
    });
    let Ok(Some(head)) = head else { return false };
    let status = head.strip_prefix("HTTP/1.").and_then(|rest| rest.get(2..5));
    status.is_some_and(|status| status.bytes().all(|b| b.is_ascii_digit()) && status != "400")
}

/// The first bytes of the registry's answer to `GET /v2/` (empty: none).
fn ask_v2(registry: &str, addresses: &[IpAddr], port: u16) -> std::io::Result<String> {
    let Some(mut stream) =
        addresses.iter().find_map(|a| TcpStream::connect_timeout(&SocketAddr::new(*a, port), CONNECT_TIMEOUT).ok())
    else {
        return Ok(String::new());
    };
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: {registry}\r\nUser-Agent: cargo-xtask\r\nConnection: close\r\n\r\n");
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Err(error) if read == 0 && error.kind() == std::io::ErrorKind::ConnectionReset => return Err(error),
            Err(_) => break,
            Ok(n) => read += n,
        }
    }
    Ok(String::from_utf8_lossy(&head[..read]).into_owned())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A one-shot server on loopback that answers any request with `answer` (nothing: it hangs up).
    fn serve(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 512];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        port
    }

    #[test]
    fn a_plain_http_registry_is_told_from_a_tls_one_by_its_answer() {
        let plain = serve("HTTP/1.1 200 OK\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\r\n{}");
        let access = access(&format!("127.0.0.1:{plain}"), &[]).unwrap();
        assert_eq!((access.transport, access.allowance), (Transport::PlainHttp, Allowance::Loopback));
        let auth = serve("HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Basic\r\n\r\n");
        assert_eq!(access_of(auth), Transport::PlainHttp, "a registry asking for credentials still answered");
        // What Go's (and nginx's) TLS servers answer a plaintext request: not plain HTTP.
        let tls = serve("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
        assert_eq!(access_of(tls), Transport::Https);
        assert_eq!(access_of(serve("")), Transport::Https, "no answer");
        assert_eq!(access_of(serve("\u{15}\u{3}\u{1}\u{0}\u{2}\u{2}\u{50}")), Transport::Https, "a TLS alert");
        let nothing = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(access_of(nothing), Transport::Https, "nothing listening: the tools will say so");
    }

    fn access_of(port: u16) -> Transport {
        access(&format!("127.0.0.1:{port}"), &[]).unwrap().transport
    }
}
