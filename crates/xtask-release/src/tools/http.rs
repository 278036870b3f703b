//! One HTTP request through curl, thin: the registry client (`tools::registry_client`) sends each
//! request of the registry API as one curl run and reads the whole answer itself (`--include`:
//! status, headers, body), so that nothing is lost to a tool's rendering of it.
//!
//! curl is a program every build machine and CI runner has, and running it costs the xtask's cold
//! compile nothing (an HTTP and TLS stack in Rust would: see Cargo.toml). Nothing secret is in its
//! argv: the URL (an upload's carries opaque state), the `Authorization` header and a token
//! request's form go in the config curl reads on its stdin (`--config -`). TLS is verified against
//! the system's CAs (`SSL_CERT_FILE` honoured) plus the registry's own in docker's
//! `/etc/docker/certs.d/HOST[:PORT]/` (`*.crt`; a client certificate `*.cert` with its `*.key`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::rules::registry_api::{self, Response};
use crate::tools::files::{self, Access};

/// What a request sends.
pub enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// Streamed from a file (a layer).
    File(&'a Path),
    /// A form that holds a secret (a token request's refresh token): sent through curl's config.
    SecretForm(String),
}

pub struct Request<'a> {
    pub method: &'a str,
    pub url: String,
    /// Headers that are not secret (`Accept`, `Content-Type`).
    pub headers: Vec<(&'static str, String)>,
    /// `Authorization`'s value, if any.
    pub authorization: Option<String>,
    pub body: Body<'a>,
    /// The registry (`HOST[:PORT]`) whose certs.d directory applies.
    pub registry: &'a str,
}

/// What came back.
pub enum Exchange {
    Answered(Response),
    /// No HTTP answer: curl's exit status and what it said.
    Failed {
        exit_code: i32,
        said: String,
    },
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// Sends `request` once.
pub fn exchange(sh: &Shell, request: &Request<'_>) -> Result<Exchange> {
    let mut config = format!("url = {}\n", registry_api::curl_quoted(&request.url));
    for (name, value) in &request.headers {
        config.push_str(&format!("header = {}\n", registry_api::curl_quoted(&format!("{name}: {value}"))));
    }
    if let Some(authorization) = &request.authorization {
        config
            .push_str(&format!("header = {}\n", registry_api::curl_quoted(&format!("Authorization: {authorization}"))));
    }
    let mut args: Vec<String> = ["--silent", "--show-error", "--include", "--config", "-", "--connect-timeout", "10"]
        .map(String::from)
        .to_vec();
    // A stalled transfer (under 1 byte/s for a minute) is a timeout; an answer is not waited for on
    // an upload's `Expect: 100-continue`.
    args.extend(["--speed-limit", "1", "--speed-time", "60", "--header", "Expect:"].map(String::from));
    let scratch = match &request.body {
        Body::Bytes(bytes) => {
            let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
            let file = std::env::temp_dir().join(format!("xtask-http-{}-{n}", std::process::id()));
            files::write(&file, bytes, Access::Public)?;
            Some(file)
        }
        _ => None,
    };
    // A file is streamed (`--upload-file`: an upload URL always names its session, so curl adds no
    // file name to it); bytes are sent whole (`--data-binary`, which leaves the URL as it is).
    match (&request.body, &scratch) {
        (Body::File(file), _) => args.extend(["--upload-file".into(), file.display().to_string()]),
        (_, Some(file)) => args.extend(["--data-binary".into(), format!("@{}", file.display())]),
        (Body::SecretForm(form), _) => config.push_str(&format!("data-raw = {}\n", registry_api::curl_quoted(form))),
        _ => {}
    }
    match request.method {
        "HEAD" => args.extend(["--head".into(), "--location".into()]),
        "GET" => args.push("--location".into()),
        method => args.extend(["--request".into(), method.into()]),
    }
    args.extend(tls_args(sh, request.registry));
    let output = cmd!(sh, "curl {args...}").stdin(config).quiet().ignore_status().output();
    if let Some(file) = scratch {
        let _ = std::fs::remove_file(file);
    }
    let output = output.context("cannot run curl (install it: it is how the xtask talks to registries)")?;
    let exit_code = output.status.code().unwrap_or(-1);
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if exit_code != 0 {
        return Ok(Exchange::Failed { exit_code, said });
    }
    match registry_api::parse_response(&output.stdout) {
        Some(response) => Ok(Exchange::Answered(response)),
        None => Ok(Exchange::Failed { exit_code: 52, said: format!("no HTTP answer from {}", request.registry) }),
    }
}

/// Per registry: the CA bundle and client certificate of its certs.d directory, if it has one.
static TLS: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

fn tls_args(sh: &Shell, registry: &str) -> Vec<String> {
    let mut known = TLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(args) = known.get(registry) {
        return args.clone();
    }
    // curl (Debian's, at least) reads no SSL_CERT_FILE of its own, as OpenSSL and cosign do: the
    // trust that variable names (a rehearsal's throwaway registry, a TLS-intercepting proxy's CA)
    // is passed on as `--cacert`, unless the registry's certs.d bundle (built on it) is.
    let args = certs_d(sh, registry)
        .filter(|args| !args.is_empty())
        .or_else(|| sh.var("SSL_CERT_FILE").ok().filter(|f| !f.is_empty()).map(|f| vec!["--cacert".to_owned(), f]))
        .unwrap_or_default();
    known.insert(registry.to_owned(), args.clone());
    args
}

/// curl's TLS arguments for a registry with files in docker's certs.d: its CAs added to the
/// system's (one bundle written to the temporary directory: certificates, nothing secret), and its
/// client certificate.
fn certs_d(sh: &Shell, registry: &str) -> Option<Vec<String>> {
    let dir = Path::new("/etc/docker/certs.d").join(registry);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).ok()?.flatten().map(|e| e.path()).collect();
    files.sort();
    let ext = |f: &PathBuf, e: &str| f.extension().is_some_and(|x| x == e);
    let mut args = Vec::new();
    let cas: Vec<&PathBuf> = files.iter().filter(|f| ext(f, "crt")).collect();
    if !cas.is_empty() {
        let system = sh.var("SSL_CERT_FILE").ok().map(PathBuf::from).into_iter().chain(
            ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
                .map(PathBuf::from),
        );
        let mut bundle = system.into_iter().find_map(|f| std::fs::read_to_string(f).ok()).unwrap_or_default();
        for ca in cas {
            bundle.push('\n');
            bundle.push_str(&std::fs::read_to_string(ca).ok()?);
        }
        // One file per registry, replaced whole and never through a symlink (`tools::files`): runs
        // side by side read a complete bundle, and runs one after another leave one file.
        let name: String = registry.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let file = std::env::temp_dir().join(format!("xtask-ca-{name}.pem"));
        files::write(&file, bundle.as_bytes(), Access::Public).ok()?;
        args.extend(["--cacert".into(), file.display().to_string()]);
    }
    if let Some(cert) = files.iter().find(|f| ext(f, "cert")) {
        args.extend(["--cert".into(), cert.display().to_string()]);
        args.extend(["--key".into(), cert.with_extension("key").display().to_string()]);
    }
    Some(args)
}
