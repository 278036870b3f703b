//! `beacon healthcheck`: the image's HEALTHCHECK command (the image has no curl and no shell).
//! It sends `GET /healthz` to the locally running server with hyper's client and exits 0 on a 200,
//! else 1 with the reason on stderr. The whole check shares one 2-second deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the check against `target` and reports the outcome as the process exit code.
pub fn run(target: SocketAddr) -> ExitCode {
    let outcome = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(check(target)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            crate::log_line(format_args!("healthcheck: http://{target}/healthz: {why}"));
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

async fn check(target: SocketAddr) -> Result<(), String> {
    if target.port() == 0 {
        return Err("port 0 cannot be probed".to_owned());
    }
    let status = tokio::time::timeout(TIMEOUT, get_healthz(target))
        .await
        .map_err(|_| format!("timed out after {}s", TIMEOUT.as_secs()))??;
    match status {
        StatusCode::OK => Ok(()),
        status => Err(format!("unhealthy: {status}")),
    }
}

async fn get_healthz(target: SocketAddr) -> Result<StatusCode, String> {
    let stream = TcpStream::connect(target).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection); // drives the socket; ends with the sender
    let request = Request::get("/healthz")
        .header(HOST, target.to_string())
        .header(USER_AGENT, concat!("beacon-healthcheck/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    Ok(response.status())
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
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert!(runtime.block_on(check("127.0.0.1:0".parse().unwrap())).is_err());
    }
}
