//! Command-line parsing, kept pure (arguments in, a [`Command`] or a usage error out) so it is
//! unit-tested: the flags, durations and the beacon's URL.

use std::ffi::OsString;
use std::net::IpAddr;
use std::time::Duration;

use hyper::Uri;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub const USAGE: &str = "\
Usage:
  beaconctl [--url URL] [--timeout DURATION] [--wait DURATION] [--expect-version VERSION]
  beaconctl --version                   print the version and git revision
  beaconctl --help                      print this help

Probes a beacon over HTTP: GET URL/healthz must answer 200 and GET URL/version must report the
beacon's version. Prints one line saying what it found (stdout if healthy, else stderr).

  --url URL                 the beacon's base URL, plain http:// (default http://127.0.0.1:8080)
  --timeout DURATION        limit for one probe: connecting and both requests (default 5s)
  --wait DURATION           retry every second until healthy or DURATION has passed (init
                            containers); without it, one probe
  --expect-version VERSION  also require /version to report VERSION (a leading 'v' is ignored)

DURATION is a number with a unit (500ms, 5s, 2m, 1h) or plain seconds.
Exit status: 0 healthy; 1 unhealthy, unreachable or another version; 2 usage error.
A host name in URL is looked up in /etc/hosts and with the DNS servers of /etc/resolv.conf
(which Docker and Kubernetes provide, even to a FROM scratch image); no other resolver (no NSS
modules in a static binary). An IP address needs neither. A name that does not resolve is
reported as unreachable.
";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Probe(Options),
    Version,
    Help,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub target: Target,
    pub timeout: Duration,
    /// Retry until this much time has passed (`None`: one probe).
    pub wait: Option<Duration>,
    pub expect_version: Option<String>,
}

/// Where the beacon is, from `--url`.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as given, without a trailing `/` (for messages).
    pub url: String,
    pub host: Host,
    pub port: u16,
    /// The `Host` header: the URL's authority.
    pub authority: String,
    /// The URL's path without a trailing `/` (empty for the root); routes are appended to it.
    pub base_path: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// Resolved at probe time.
    Name(String),
}

/// Parses the arguments after the program name. The error is a message for stderr (exit 2).
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, String> {
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(|a| format!("argument is not UTF-8: {a:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    match args.first().map(String::as_str) {
        Some("--version" | "-V") if args.len() == 1 => return Ok(Command::Version),
        Some("--help" | "-h" | "help") if args.len() == 1 => return Ok(Command::Help),
        _ => {}
    }
    let (mut url, mut timeout, mut wait, mut expect_version) = (None, None, None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| rest.next().cloned()).ok_or(format!("{flag} needs a value"));
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--url" => {
                once(&url, flag)?;
                url = Some(parse_url(&value()?).map_err(|e| format!("--url: {e}"))?);
            }
            "--timeout" => {
                once(&timeout, flag)?;
                let duration = parse_duration(&value()?).map_err(|e| format!("--timeout: {e}"))?;
                if duration.is_zero() {
                    return Err("--timeout: must be more than 0".to_owned());
                }
                timeout = Some(duration);
            }
            "--wait" => {
                once(&wait, flag)?;
                wait = Some(parse_duration(&value()?).map_err(|e| format!("--wait: {e}"))?);
            }
            "--expect-version" => {
                once(&expect_version, flag)?;
                let version = value()?;
                let version = version.trim().strip_prefix('v').unwrap_or(version.trim());
                if version.is_empty() || version.contains(char::is_whitespace) {
                    return Err(format!("--expect-version: invalid version '{version}'"));
                }
                expect_version = Some(version.to_owned());
            }
            _ => return Err(format!("unexpected argument '{arg}'")),
        }
    }
    let target = match url {
        Some(target) => target,
        None => parse_url(DEFAULT_URL).expect("the default URL is valid"),
    };
    Ok(Command::Probe(Options { target, timeout: timeout.unwrap_or(DEFAULT_TIMEOUT), wait, expect_version }))
}

fn once<T>(slot: &Option<T>, flag: &str) -> Result<(), String> {
    match slot {
        Some(_) => Err(format!("{flag} given twice")),
        None => Ok(()),
    }
}

/// `http://HOST[:PORT][/PATH]`: HOST an IP (`[…]` for IPv6) or a name; PORT defaults to 80.
pub fn parse_url(value: &str) -> Result<Target, String> {
    let value = value.trim();
    let uri: Uri = value.parse().map_err(|e| format!("invalid URL '{value}': {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!("'{value}': https is not supported (beaconctl speaks plain HTTP, like beacon)"))
        }
        Some(other) => return Err(format!("'{value}': unsupported scheme '{other}', expected http://")),
        None => return Err(format!("'{value}' is not an absolute URL: expected http://HOST[:PORT]")),
    }
    let authority = uri.authority().ok_or_else(|| format!("'{value}' has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("'{value}': credentials in the URL are not supported"));
    }
    if uri.query().is_some() {
        return Err(format!("'{value}': a query is not supported; give the base URL of the beacon"));
    }
    let host = authority.host();
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let host = match bare.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) if host.starts_with('[') => return Err(format!("'{value}': invalid IPv6 address '{host}'")),
        Err(_) if host.is_empty() => return Err(format!("'{value}' has no host")),
        Err(_) => Host::Name(host.to_owned()),
    };
    Ok(Target {
        url: value.trim_end_matches('/').to_owned(),
        host,
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_owned(),
        base_path: uri.path().trim_end_matches('/').to_owned(),
    })
}

/// `500ms`, `5s`, `2m`, `1h`, or plain (possibly fractional) seconds: `1.5`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let invalid = || format!("invalid duration '{value}': expected e.g. 500ms, 5s, 2m, 1h");
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Command, String> {
        parse(list.iter().map(OsString::from))
    }

    fn options(list: &[&str]) -> Options {
        match args(list) {
            Ok(Command::Probe(options)) => options,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = options(&[]);
        assert_eq!(o.target, parse_url("http://127.0.0.1:8080").unwrap());
        assert_eq!((o.timeout, o.wait, o.expect_version), (Duration::from_secs(5), None, None));
        assert_eq!(args(&["--version"]), Ok(Command::Version));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        assert_eq!(args(&["--url", "http://1.2.3.4", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn flags() {
        let o =
            options(&["--url", "http://10.0.0.7:9000/", "--timeout=750ms", "--wait", "2m", "--expect-version=v1.2.3"]);
        assert_eq!(o.target.url, "http://10.0.0.7:9000");
        assert_eq!(o.target.host, Host::Ip("10.0.0.7".parse().unwrap()));
        assert_eq!(o.target.port, 9000);
        assert_eq!((o.timeout, o.wait), (Duration::from_millis(750), Some(Duration::from_secs(120))));
        assert_eq!(o.expect_version.as_deref(), Some("1.2.3"));
    }

    #[test]
    fn urls() {
        let t = parse_url("http://[::1]:81/beacon/").unwrap();
        assert_eq!((t.host, t.port), (Host::Ip("::1".parse().unwrap()), 81));
        assert_eq!((t.authority.as_str(), t.base_path.as_str()), ("[::1]:81", "/beacon"));
        let t = parse_url("http://beacon.default.svc").unwrap();
        assert_eq!((t.host, t.port, t.base_path.as_str()), (Host::Name("beacon.default.svc".into()), 80, ""));
        for bad in [
            "https://10.0.0.1",
            "ftp://10.0.0.1",
            "10.0.0.1:8080",
            "/healthz",
            "http://",
            "http://user:pw@10.0.0.1",
            "http://10.0.0.1/?x=1",
            "http://[nope]:80",
            "",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s);
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(d("5"), Ok(Duration::from_secs(5)));
        assert_eq!(d("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(d("0s"), Ok(Duration::ZERO));
        for bad in ["", "s", "5x", "-1s", "5 s", "1e3", "ms"] {
            assert!(d(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--bogus"][..],
            &["extra"],
            &["--url"],
            &["--url", "https://1.2.3.4"],
            &["--timeout", "0s"],
            &["--timeout", "soon"],
            &["--wait", "-1"],
            &["--expect-version", ""],
            &["--url", "http://1.2.3.4", "--url", "http://1.2.3.5"],
            &["--version", "extra"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
