//! The registry API (OCI distribution spec) read exactly, pure: a reference's parts, one HTTP answer
//! as curl printed it (`--include`), what it means for the request that got it, how to describe it
//! in an error, and the authentication it asks for (`WWW-Authenticate`, the token's answer).
//!
//! **Absent means 404 with `MANIFEST_UNKNOWN` or `NAME_UNKNOWN`, and nothing else**: a proxy's 404
//! page, a 403 whose code is `NOT_FOUND`, a 404 without the spec's error body, all stop the step
//! that asked, named. (A blob's `HEAD` has no body: there a 404 is "upload it", which is harmless,
//! since a blob is addressed by its content.) Which statuses are worth another attempt is the retry
//! policy's (`rules::retry::classify_status`).

use serde::Deserialize;

use crate::rules::retry::{self, Failure};

/// What a manifest request may find absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absence {
    /// A manifest read: 404 with `MANIFEST_UNKNOWN` or `NAME_UNKNOWN` (the spec's body) is absent.
    Manifest,
    /// A blob `HEAD`: no body to read, a 404 means "not there yet, upload it".
    BlobHead,
    /// A write or a read that must find its object: nothing is absent.
    Never,
}

/// One HTTP answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The reason phrase (`Not Found`), empty over HTTP/2.
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What an answer means for the request that got it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    Done,
    Absent,
    /// Worth another attempt of this one request: its status.
    Retry(String),
    /// Stops the step: the answer, described.
    Stop(String),
}

/// A reference split: `127.0.0.1:5000/acme/beacon:1.0` → registry, repository, tag or digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    /// A tag, or a `sha256:…` digest.
    pub reference: &'a str,
}

/// Splits `HOST[:PORT]/REPOSITORY(:TAG|@DIGEST)`; a repository without either gets `latest`.
pub fn parts(reference: &str) -> Option<Parts<'_>> {
    let (registry, rest) = reference.split_once('/')?;
    if let Some((repository, digest)) = rest.split_once('@') {
        return Some(Parts { registry, repository, reference: digest });
    }
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (rest, "latest"),
    };
    Some(Parts { registry, repository, reference: tag })
}

/// The host the registry API answers on: Docker Hub's (`docker.io`) is `registry-1.docker.io`.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// The last answer of curl's `--include` output: redirects and `100 Continue` come first, each a
/// head of its own. `None` when there is no HTTP head at all.
pub fn parse_response(raw: &[u8]) -> Option<Response> {
    let mut rest = raw;
    loop {
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let mut words = status_line.splitn(3, ' ');
        let version = words.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        let status: u16 = words.next()?.parse().ok()?;
        let reason = words.next().unwrap_or_default().trim().to_owned();
        let interim = (100..200).contains(&status) || (300..400).contains(&status);
        if interim && body.starts_with(b"HTTP/") {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        return Some(Response { status, reason, headers, body: body.to_vec() });
    }
}

/// One entry of the spec's error body, `{"errors":[{"code":…,"message":…}]}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// The spec's error entries in a body (none when it is not the spec's JSON).
pub fn errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ApiError>,
    }
    serde_json::from_slice::<Body>(body).map(|b| b.errors).unwrap_or_default()
}

/// What a request's answer means: done, absent (only as `absence` allows), worth another attempt
/// (a transient status), or the end of the step.
pub fn judge(response: &Response, absence: Absence) -> Judged {
    let status = response.status;
    if (200..300).contains(&status) {
        return Judged::Done;
    }
    let absent = match absence {
        Absence::Manifest => {
            status == 404
                && errors(&response.body).iter().any(|e| e.code == "MANIFEST_UNKNOWN" || e.code == "NAME_UNKNOWN")
        }
        Absence::BlobHead => status == 404,
        Absence::Never => false,
    };
    if absent {
        return Judged::Absent;
    }
    match retry::classify_status(status) {
        Failure::Transient(status) => Judged::Retry(status),
        _ => Judged::Stop(describe(response)),
    }
}

/// An answer as an error names it: `404 Not Found, an HTML page ("404 page not found")`,
/// `403 Forbidden, NOT_FOUND: artifact not found`, `502 Bad Gateway, an HTML page ("502 Bad Gateway")`.
pub fn describe(response: &Response) -> String {
    let reason = if response.reason.is_empty() { retry::reason(response.status) } else { &response.reason };
    let status = format!("{} {reason}", response.status).trim().to_owned();
    let errors = errors(&response.body);
    if !errors.is_empty() {
        let said: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        return format!("{status}, {}", said.join("; "));
    }
    let text = String::from_utf8_lossy(&response.body);
    let text = text.trim();
    if text.is_empty() {
        return format!("{status}, no body");
    }
    let html = response.header("content-type").is_some_and(|t| t.contains("html")) || text.starts_with('<');
    let shown = if html { html_text(text) } else { text.to_owned() };
    let mut shown: String = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    if shown.chars().count() > 80 {
        shown = shown.chars().take(80).collect::<String>() + "…";
    }
    let kind = if html { "an HTML page" } else { "not the registry API's error body" };
    format!("{status}, {kind} ({shown:?})")
}

/// An HTML page's title, or its text without tags.
fn html_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        if start + 7 <= end {
            return html[start + 7..end].to_owned();
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// A `WWW-Authenticate` challenge: `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer`, lower-case.
    pub scheme: String,
    pub realm: String,
    pub service: Option<String>,
}

pub fn challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut realm = String::new();
    let mut service = None;
    for param in split_params(params) {
        let Some((key, value)) = param.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = value,
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), realm, service })
}

/// `a="x,y",b=z` → `a="x,y"`, `b=z` (commas inside quotes kept).
fn split_params(params: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in params.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&params[start..]);
    parts
}

/// The token request of a bearer challenge for `repository` and `actions` (`pull` or `pull,push`).
pub fn token_url(challenge: &Challenge, repository: &str, actions: &str) -> String {
    let mut url = challenge.realm.clone();
    let mut query = Vec::new();
    if let Some(service) = &challenge.service {
        query.push(format!("service={}", encode(service)));
    }
    query.push(format!("scope={}", encode(&format!("repository:{repository}:{actions}"))));
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&query.join("&"));
    url
}

/// A token server's answer: `token`, or OAuth2's `access_token`.
pub fn token(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    answer.token.or(answer.access_token).filter(|t| !t.is_empty())
}

/// A manifest's media type from its bytes, for a registry whose `Content-Type` does not say: its
/// `mediaType`, or (an OCI manifest may leave that out) an index when it lists `manifests`, else an
/// image manifest. Bytes that are not a manifest (no `schemaVersion`) are the problem, in words.
pub fn media_type_of(bytes: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sniffed {
        #[serde(rename = "schemaVersion")]
        _schema_version: u32,
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    let sniffed: Sniffed = serde_json::from_slice(bytes).map_err(|e| format!("it is not a manifest: {e}"))?;
    Ok(match (sniffed.media_type, sniffed.manifests) {
        (Some(media_type), _) => media_type,
        (None, Some(_)) => "application/vnd.oci.image.index.v1+json".to_owned(),
        (None, None) => "application/vnd.oci.image.manifest.v1+json".to_owned(),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An upload's `Location` (absolute, or a path on `base`, `scheme://host`) with `?digest=` added.
pub fn upload_url(base: &str, location: &str, digest: &str) -> String {
    let absolute = if location.contains("://") { location.to_owned() } else { format!("{base}{location}") };
    let separator = if absolute.contains('?') { '&' } else { '?' };
    format!("{absolute}{separator}digest={}", encode(digest))
}

/// `url` without its query (upload URLs carry opaque state): what an error or a retry line shows.
pub fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A value for curl's config file (`header = "…"`), quoted and escaped.
pub fn curl_quoted(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            '\n' | '\r' => vec![],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let values: Vec<u32> = text
        .trim()
        .trim_end_matches('=')
        .bytes()
        .map(|c| BASE64.iter().position(|b| *b == c).map(|p| p as u32))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, v)| n | v << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
#[path = "registry_api_tests.rs"]
mod tests;
