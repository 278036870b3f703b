//! Command-line and environment parsing, kept pure (arguments and an env lookup in, a
//! [`Command`] or an error out) so precedence rules are unit-tested. Addresses are parsed as
//! literal IPs: the image has no resolver configuration, so host names are rejected, not looked up.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);

pub const USAGE: &str = "\
Usage:
  beacon [serve] [--listen ADDR]        run the HTTP server (the default)
  beacon healthcheck [--listen ADDR | --url-port PORT]
                                        GET /healthz on the local server; exit 0 if it answers 200
  beacon --version                      print the version and git revision
  beacon --help                         print this help

ADDR is IP:PORT ([IPv6]:PORT for IPv6) or just PORT (meaning 0.0.0.0:PORT); host names are not
resolved. The listen address is, in order: --listen, $BEACON_LISTEN, 0.0.0.0:$PORT, 0.0.0.0:8080.
healthcheck connects to the port of that address on 127.0.0.1 (or to the address itself when it
names a specific IP).

Routes: GET /healthz, GET /version (JSON), GET /.
";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve { listen: Option<SocketAddr> },
    Healthcheck { listen: Option<SocketAddr>, port: Option<u16> },
    Version,
    Help,
}

/// Parses the arguments after the program name. The error is a message for stderr (exit 2).
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, String> {
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(|a| format!("argument is not UTF-8: {a:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let (subcommand, rest) = match args.first().map(String::as_str) {
        None => return Ok(Command::Serve { listen: None }),
        Some("--version" | "-V") if args.len() == 1 => return Ok(Command::Version),
        Some("--help" | "-h" | "help") if args.len() == 1 => return Ok(Command::Help),
        Some(sub @ ("serve" | "healthcheck")) => (sub, &args[1..]),
        Some(a) if a.starts_with("--listen") => ("serve", &args[..]),
        Some(a) => return Err(format!("unexpected argument '{a}'")),
    };
    let mut listen = None;
    let mut port = None;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| rest.next().cloned()).ok_or(format!("{flag} needs a value"));
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--listen" => listen = Some(parse_listen(&value()?).map_err(|e| format!("--listen: {e}"))?),
            "--url-port" if subcommand == "healthcheck" => {
                port = Some(parse_port(&value()?).map_err(|e| format!("--url-port: {e}"))?)
            }
            _ => return Err(format!("unexpected argument '{arg}' for '{subcommand}'")),
        }
    }
    if subcommand == "serve" {
        return Ok(Command::Serve { listen });
    }
    if listen.is_some() && port.is_some() {
        return Err("--listen and --url-port are mutually exclusive".to_owned());
    }
    Ok(Command::Healthcheck { listen, port })
}

/// The address to listen on: the flag, else `BEACON_LISTEN`, else `PORT`, else the default.
/// Empty variables count as unset. `env` looks a variable up (`std::env::var` in production).
pub fn listen_addr(flag: Option<SocketAddr>, env: impl Fn(&str) -> Option<String>) -> Result<SocketAddr, String> {
    if let Some(addr) = flag {
        return Ok(addr);
    }
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(value) = env("BEACON_LISTEN") {
        return parse_listen(&value).map_err(|e| format!("BEACON_LISTEN: {e}"));
    }
    if let Some(value) = env("PORT") {
        let port = parse_port(&value).map_err(|e| format!("PORT: {e}"))?;
        return Ok(SocketAddr::new(DEFAULT_LISTEN.ip(), port));
    }
    Ok(DEFAULT_LISTEN)
}

/// `IP:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (the last two on all IPv4 interfaces).
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    let port_only = value.strip_prefix(':').unwrap_or(value);
    if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(DEFAULT_LISTEN.ip(), parse_port(port_only)?));
    }
    value.parse().map_err(|_| {
        format!("invalid address '{value}': expected IP:PORT, [IPv6]:PORT or PORT (host names are not resolved)")
    })
}

fn parse_port(value: &str) -> Result<u16, String> {
    value.trim().parse().map_err(|_| format!("invalid port '{value}': expected 0-65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Command, String> {
        parse(list.iter().map(OsString::from))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subcommands_and_flags() {
        assert_eq!(args(&[]), Ok(Command::Serve { listen: None }));
        assert_eq!(args(&["--version"]), Ok(Command::Version));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        assert_eq!(args(&["serve", "--help"]), Ok(Command::Help));
        assert_eq!(args(&["serve"]), Ok(Command::Serve { listen: None }));
        let listen = Some(addr("127.0.0.1:9000"));
        assert_eq!(args(&["serve", "--listen", "127.0.0.1:9000"]), Ok(Command::Serve { listen }));
        assert_eq!(args(&["serve", "--listen=127.0.0.1:9000"]), Ok(Command::Serve { listen }));
        assert_eq!(args(&["--listen", "127.0.0.1:9000"]), Ok(Command::Serve { listen }));
        assert_eq!(args(&["healthcheck"]), Ok(Command::Healthcheck { listen: None, port: None }));
        assert_eq!(
            args(&["healthcheck", "--url-port", "81"]),
            Ok(Command::Healthcheck { listen: None, port: Some(81) })
        );
        assert_eq!(
            args(&["healthcheck", "--listen", "[::1]:81"]),
            Ok(Command::Healthcheck { listen: Some(addr("[::1]:81")), port: None })
        );
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--bogus"][..],
            &["serve", "extra"],
            &["serve", "--listen"],
            &["serve", "--listen", "localhost:80"],
            &["serve", "--url-port", "80"],
            &["healthcheck", "--url-port", "http"],
            &["healthcheck", "--url-port", "70000"],
            &["healthcheck", "--url-port", "1", "--listen", "1.2.3.4:5"],
            &["--version", "extra"],
            &["frobnicate"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn listen_address_forms() {
        assert_eq!(parse_listen("1.2.3.4:80"), Ok(addr("1.2.3.4:80")));
        assert_eq!(parse_listen("[::]:80"), Ok(addr("[::]:80")));
        assert_eq!(parse_listen("80"), Ok(addr("0.0.0.0:80")));
        assert_eq!(parse_listen(":80"), Ok(addr("0.0.0.0:80")));
        assert!(parse_listen("example.com:80").is_err());
        assert!(parse_listen("1.2.3.4").is_err());
        assert!(parse_listen("").is_err());
    }

    #[test]
    fn listen_precedence() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let both = &[("BEACON_LISTEN", "127.0.0.1:1"), ("PORT", "2")];
        assert_eq!(listen_addr(Some(addr("127.0.0.1:3")), env(both)), Ok(addr("127.0.0.1:3")));
        assert_eq!(listen_addr(None, env(both)), Ok(addr("127.0.0.1:1")));
        assert_eq!(listen_addr(None, env(&[("PORT", "2")])), Ok(addr("0.0.0.0:2")));
        assert_eq!(listen_addr(None, env(&[("BEACON_LISTEN", ""), ("PORT", "2")])), Ok(addr("0.0.0.0:2")));
        assert_eq!(listen_addr(None, env(&[])), Ok(DEFAULT_LISTEN));
        assert!(listen_addr(None, env(&[("PORT", "x")])).is_err());
        assert!(listen_addr(None, env(&[("BEACON_LISTEN", "nope")])).is_err());
    }
}
