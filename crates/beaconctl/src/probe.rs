//! One probe of a beacon with hyper's HTTP/1.1 client: connect, `GET /healthz` (must be 200),
//! then `GET /version` on the same connection (must be a beacon's version JSON, of the expected
//! version if one is given).

use std::fmt;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::cli::{Host, Target};

/// Largest response body read (beacon's are well under 100 bytes).
const MAX_BODY: usize = 64 * 1024;

/// What `/version` reported.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub version: String,
    pub revision: String,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.name, self.version, self.revision)
    }
}

/// Why a probe failed; the `Display` is the rest of the output line after the kind.
#[derive(Debug)]
pub enum Failure {
    /// No connection: name resolution, refused, unroutable.
    Unreachable(String),
    /// Connected, but no healthy answer: a status other than 200, not a beacon, too slow.
    Unhealthy(String),
    /// Healthy, but another version than expected.
    Mismatch { found: Found, expected: String },
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "unreachable",
            Failure::Unhealthy(_) => "unhealthy",
            Failure::Mismatch { .. } => "version mismatch",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(why) | Failure::Unhealthy(why) => f.write_str(why),
            Failure::Mismatch { found, expected } => write!(f, "found {found}, expected version {expected}"),
        }
    }
}

/// Probes `target` once. Not time-limited itself: the caller wraps it in a timeout.
pub async fn probe(target: &Target, expected: Option<&str>) -> Result<Found, Failure> {
    let stream = connect(target).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Unhealthy(format!("{}: {e}", target.url)))?;
    tokio::spawn(connection); // drives the socket until the sender is dropped

    let (status, _) = get(&mut sender, target, "/healthz").await?;
    if status != StatusCode::OK {
        return Err(Failure::Unhealthy(format!("{}/healthz answered {status}", target.url)));
    }
    let (status, body) = get(&mut sender, target, "/version").await?;
    if status != StatusCode::OK {
        return Err(Failure::Unhealthy(format!("{}/version answered {status}", target.url)));
    }
    let found = parse_version(&body).map_err(|why| Failure::Unhealthy(format!("{}/version: {why}", target.url)))?;
    match expected {
        Some(expected) if expected != found.version => Err(Failure::Mismatch { found, expected: expected.to_owned() }),
        _ => Ok(found),
    }
}

/// Connects to the target's address, or to each address its name resolves to until one answers.
async fn connect(target: &Target) -> Result<TcpStream, Failure> {
    let unreachable = |what: &dyn fmt::Display| Failure::Unreachable(format!("{}: {what}", target.url));
    let addrs: Vec<SocketAddr> = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        // getaddrinfo. Statically linked glibc (>= 2.34) has its `files` and `dns` sources built
        // in, so /etc/hosts and /etc/resolv.conf work in a FROM scratch image; other NSS modules
        // (mdns, ldap, systemd's resolve) would need dlopen and are not available.
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), target.port))
            .await
            .map_err(|e| unreachable(&format_args!("cannot resolve '{name}': {e}")))?
            .collect(),
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            // Name the address only when it came from a name.
            Err(e) if matches!(target.host, Host::Ip(_)) => last = Some(e.to_string()),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(unreachable(&last.unwrap_or_else(|| "the name resolves to no address".to_owned())))
}

/// `GET base_path + path`, returning the status and the (size-limited) body.
async fn get(
    sender: &mut SendRequest<Empty<Bytes>>,
    target: &Target,
    path: &str,
) -> Result<(StatusCode, Bytes), Failure> {
    let failed = |e: &dyn fmt::Display| Failure::Unhealthy(format!("{}{path}: {e}", target.url));
    sender.ready().await.map_err(|e| failed(&e))?;
    let request = Request::get(format!("{}{path}", target.base_path))
        .header(HOST, &target.authority)
        .header(USER_AGENT, concat!("beaconctl/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new())
        .map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_BODY).collect().await.map_err(|e| failed(&e))?;
    Ok((status, body.to_bytes()))
}

/// `{"name":"beacon","version":"X.Y.Z","revision":"abc1234"}`: the version is required.
fn parse_version(body: &[u8]) -> Result<Found, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let field = |name: &str| json.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
    let version = field("version").ok_or("no \"version\" string in the answer: not a beacon?")?;
    Ok(Found {
        name: field("name").unwrap_or_else(|| "beacon".to_owned()),
        version,
        revision: field("revision").unwrap_or_else(|| "unknown".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_beacon_version() {
        let found = parse_version(br#"{"name":"beacon","version":"1.2.3","revision":"abc1234"}"#).unwrap();
        assert_eq!(found.to_string(), "beacon 1.2.3 (abc1234)");
        let found = parse_version(br#"{"version":"1.2.3"}"#).unwrap();
        assert_eq!(found.to_string(), "beacon 1.2.3 (unknown)");
        assert!(parse_version(b"ok\n").is_err());
        assert!(parse_version(br#"{"version":123}"#).is_err());
        assert!(parse_version(br#"["1.2.3"]"#).is_err());
    }
}
