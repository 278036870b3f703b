//! The one retry policy for every registry operation, pure: what a failed tool's output says
//! (transient, permanent, or unknown), how long to wait before the next attempt (bounded exponential
//! backoff with jitter from a seed the caller passes, a `Retry-After` honoured up to `max-wait`), when
//! to give up (attempts, the release's total wait budget), and the lines a retry prints.
//!
//! The engine's own registry client reads each answer's status itself ([`classify_status`], and
//! curl's exit status when there was no answer, [`classify_curl`]). docker, buildx, cosign and trivy
//! print an HTTP failure as text only, so their status is read from their output here, in one table
//! ([`MESSAGES`]) of what they really print, and nowhere else. Only what is known to pass is
//! retried: an unknown failure is reported at once, like a permanent one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[workspace.metadata.xtask.retry]`, as durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Attempts per operation, the first included (1: never retry).
    pub attempts: u32,
    /// The longest single wait, `Retry-After` included.
    pub max_wait: Duration,
    /// The most a whole run waits between attempts, all operations together.
    pub budget: Duration,
}

/// `[workspace.metadata.xtask.retry]`: transient registry failures (429, 5xx, a dropped
/// connection) are retried with exponential backoff; permanent ones never (docs/src/retries.md).
///
/// The defaults fit public registries: Docker Hub and ghcr.io answer a rate limit with a
/// `Retry-After` of seconds to a minute, and a 502/503 from a registry's front usually clears within
/// seconds; 5 attempts wait about 1 + 2 + 4 + 8 s (jittered), 30 s caps one wait, and 5 minutes of
/// waiting in all stops a release against a registry that is down instead of hanging a CI job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetryConfig {
    /// Attempts per registry operation, the first included (1: never retry), 1 to 20. Default `5`.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The longest single wait between attempts, a `Retry-After` included, e.g. `"30s"`. Default `"30s"`.
    #[serde(default = "default_max_wait")]
    pub max_wait: String,
    /// The most a release waits between attempts in all, e.g. `"5m"`. Default `"5m"`.
    #[serde(default = "default_budget")]
    pub budget: String,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self { attempts: default_attempts(), max_wait: default_max_wait(), budget: default_budget() }
    }
}

impl RetryConfig {
    /// The policy, durations parsed (checked at load, so this only fails on an unchecked config).
    pub fn policy(&self) -> anyhow::Result<Policy> {
        let duration = |key: &str, text: &str| {
            humantime::parse_duration(text).map_err(|error| {
                anyhow::anyhow!("workspace.metadata.xtask.retry.{key}: {text:?} is not a duration ({error}): write it like \"30s\" or \"5m\" (fix it in the root Cargo.toml)")
            })
        };
        Ok(Policy {
            attempts: self.attempts,
            max_wait: duration("max-wait", &self.max_wait)?,
            budget: duration("budget", &self.budget)?,
        })
    }
}

fn default_attempts() -> u32 {
    5
}
fn default_max_wait() -> String {
    "30s".into()
}
fn default_budget() -> String {
    "5m".into()
}
/// The first wait; each later one doubles, up to `max_wait`.
pub const BASE_WAIT: Duration = Duration::from_millis(1000);

/// What a failed registry operation's output says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt: 408, 429, 500, 502, 503, 504, a connection reset, refused or timed out.
    Transient(String),
    /// Retrying cannot fix it: 400 (`DIGEST_INVALID`, `MANIFEST_INVALID`), 401, 403, 404 on a write,
    /// `denied`, a TLS verification failure.
    Permanent(String),
    /// Nothing in the table: reported at once, not retried.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Transient,
    Permanent,
}

/// What the tools print, as seen through the test suite's fault-injecting registry front
/// (crates/xtask-testbed/src/flaky_front.rs; docker 26, skopeo 1.9, cosign 2.5) and in the tools' trackers: a fragment (matched without regard to case) and the status it stands for.
/// Permanent fragments are looked for first: a message that names both (`denied` after a retried
/// 503 inside the tool) is not worth retrying.
pub const MESSAGES: &[(&str, Kind, &str)] = &[
    // Registry error codes (distribution spec), as docker (`denied: …`), skopeo and go-containerregistry
    // (cosign, trivy: `MANIFEST_INVALID: manifest invalid`) print them.
    ("manifest_invalid", Kind::Permanent, "400 MANIFEST_INVALID"),
    ("manifest invalid", Kind::Permanent, "400 MANIFEST_INVALID"),
    ("digest_invalid", Kind::Permanent, "400 DIGEST_INVALID"),
    ("digest invalid", Kind::Permanent, "400 DIGEST_INVALID"),
    ("blob_unknown", Kind::Permanent, "400 BLOB_UNKNOWN"),
    ("name_invalid", Kind::Permanent, "400 NAME_INVALID"),
    ("tag_invalid", Kind::Permanent, "400 TAG_INVALID"),
    ("unauthorized", Kind::Permanent, "401 Unauthorized"),
    ("authentication required", Kind::Permanent, "401 Unauthorized"),
    ("401 unauthorized", Kind::Permanent, "401 Unauthorized"),
    ("no basic auth credentials", Kind::Permanent, "401 Unauthorized"),
    ("denied", Kind::Permanent, "403 denied"),
    ("403 forbidden", Kind::Permanent, "403 Forbidden"),
    ("404 not found", Kind::Permanent, "404 Not Found"),
    ("404 page not found", Kind::Permanent, "404 Not Found"),
    ("405 method not allowed", Kind::Permanent, "405 Method Not Allowed"),
    ("unsupported", Kind::Permanent, "405 UNSUPPORTED"),
    ("400 bad request", Kind::Permanent, "400 Bad Request"),
    // skopeo's form: `failed to read from destination repository acme/small: 400 (Bad Request)`.
    ("400 (bad request)", Kind::Permanent, "400 Bad Request"),
    ("401 (unauthorized)", Kind::Permanent, "401 Unauthorized"),
    ("403 (forbidden)", Kind::Permanent, "403 Forbidden"),
    ("404 (not found)", Kind::Permanent, "404 Not Found"),
    // TLS: a wrong or untrusted certificate, or TLS spoken to a plain-HTTP port.
    ("x509:", Kind::Permanent, "TLS verification failed"),
    ("tls: failed to verify certificate", Kind::Permanent, "TLS verification failed"),
    ("certificate signed by unknown authority", Kind::Permanent, "TLS verification failed"),
    ("server gave http response to https client", Kind::Permanent, "TLS verification failed"),
    // HTTP statuses as Go prints `resp.Status` (`received unexpected HTTP status: 503 Service
    // Unavailable`, `unexpected status code 502 Bad Gateway`, `…: 429 Too Many Requests`).
    ("408 request timeout", Kind::Transient, "408 Request Timeout"),
    ("429 too many requests", Kind::Transient, "429 Too Many Requests"),
    ("toomanyrequests", Kind::Transient, "429 Too Many Requests"),
    ("too many requests", Kind::Transient, "429 Too Many Requests"),
    ("500 internal server error", Kind::Transient, "500 Internal Server Error"),
    ("502 bad gateway", Kind::Transient, "502 Bad Gateway"),
    ("503 service unavailable", Kind::Transient, "503 Service Unavailable"),
    ("504 gateway timeout", Kind::Transient, "504 Gateway Timeout"),
    // skopeo's token requests: `invalid status code from registry 503 (Service Unavailable)`.
    ("503 (service unavailable)", Kind::Transient, "503 Service Unavailable"),
    // The distribution spec's error code of a 503 with a JSON body, as go-containerregistry (cosign)
    // prints it: `PATCH http://…/blobs/uploads/…: UNAVAILABLE: service unavailable`.
    ("unavailable: service unavailable", Kind::Transient, "503 Service Unavailable"),
    ("502 (bad gateway)", Kind::Transient, "502 Bad Gateway"),
    ("429 (too many requests)", Kind::Transient, "429 Too Many Requests"),
    // The connection, mid-operation.
    ("connection reset by peer", Kind::Transient, "connection reset"),
    ("broken pipe", Kind::Transient, "connection reset"),
    // docker push, its manifest PUT's connection reset: `write tcp …: use of closed network connection`.
    ("use of closed network connection", Kind::Transient, "connection reset"),
    ("connection refused", Kind::Transient, "connection refused"),
    ("i/o timeout", Kind::Transient, "timed out"),
    ("tls handshake timeout", Kind::Transient, "timed out"),
    ("context deadline exceeded", Kind::Transient, "timed out"),
    ("unexpected eof", Kind::Transient, "connection closed"),
    (": eof", Kind::Transient, "connection closed"),
];

/// Reads a failed tool's output (stderr and stdout together).
pub fn classify(output: &str) -> Failure {
    // go-containerregistry (cosign) pings a plain-HTTP registry over HTTPS first and, refused,
    // falls back to HTTP: `Get "https://…/v2/": http: server gave HTTP response to HTTPS client;
    // GET http://…/v2/: TOOMANYREQUESTS: …`. The failure is the fallback's, after the `;`.
    let lower = output.to_ascii_lowercase().replace("server gave http response to https client;", "");
    for wanted in [Kind::Permanent, Kind::Transient] {
        if let Some((_, _, status)) = MESSAGES.iter().find(|(text, kind, _)| *kind == wanted && lower.contains(text)) {
            return match wanted {
                Kind::Transient => Failure::Transient((*status).to_owned()),
                Kind::Permanent => Failure::Permanent((*status).to_owned()),
            };
        }
    }
    Failure::Unknown
}

/// What an HTTP status from a registry means for the one request that got it (the registry client,
/// `tools::registry_client`, reads every answer itself): 408, 429, 500, 502, 503 and 504 are worth
/// another attempt; every other failure is not.
pub fn classify_status(status: u16) -> Failure {
    match status {
        408 | 429 | 500 | 502 | 503 | 504 => Failure::Transient(format!("{status} {}", reason(status))),
        400..=599 => Failure::Permanent(format!("{status} {}", reason(status))),
        _ => Failure::Unknown,
    }
}

/// The standard reason phrase of a status (HTTP/2 answers carry none).
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// What curl's exit status says of a request that got no HTTP answer (`man curl`, EXIT CODES): the
/// connection refused, reset, closed early or timed out is worth another attempt; a name that does
/// not resolve or a TLS failure is not.
pub fn classify_curl(exit_code: i32) -> Failure {
    let transient = |status: &str| Failure::Transient(status.to_owned());
    match exit_code {
        7 => transient("connection refused"),
        28 => transient("timed out"),
        52 => transient("connection closed"),
        55 | 56 => transient("connection reset"),
        18 | 92 => transient("connection closed"),
        6 => Failure::Permanent("the host does not resolve".to_owned()),
        35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91 => {
            Failure::Permanent("TLS verification failed".to_owned())
        }
        _ => Failure::Unknown,
    }
}

/// A failed attempt that another attempt may get past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transient {
    /// What failed, as the retry line and the final error name it: a status from the table
    /// ([`classify`]), [`classify_status`] or [`classify_curl`], or a failure a tool hid.
    pub status: String,
    /// How long the registry asked to be left alone (`Retry-After`), if it said.
    pub retry_after: Option<Duration>,
    /// What the final error closes with, should this attempt be the last one.
    pub last: String,
}

/// What one attempt of a retried operation came to.
#[derive(Debug)]
pub enum Attempted<T> {
    /// Finished: a success, or a failure retrying cannot fix, for the caller to read.
    Done(T),
    /// Failed for a reason another attempt may not meet.
    Failed(Transient),
}

impl<T> Attempted<T> {
    /// The outcome of a finished attempt, `value` made into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Attempted<U> {
        match self {
            Attempted::Done(value) => Attempted::Done(f(value)),
            Attempted::Failed(transient) => Attempted::Failed(transient),
        }
    }
}

impl Transient {
    /// A failed tool run (`said`: its stderr and stdout), transient if the table ([`MESSAGES`]) says
    /// so; `None` when it is not (permanent or unknown: the failure stands).
    pub fn of_output(said: &str) -> Option<Transient> {
        let Failure::Transient(status) = classify(said) else { return None };
        let last = format!("the last attempt said: {}", last_lines(said, 3));
        Some(Transient { status, retry_after: retry_after(said), last })
    }

    /// A failure a tool hid (cosign 3's, docs/src/retries.md): known to be transient from what the
    /// registry lists, not from what the tool said, `why`.
    pub fn hidden(status: &str, why: &str) -> Transient {
        Transient { status: status.to_owned(), retry_after: None, last: format!("the last attempt: {why}") }
    }
}

/// The last `n` lines of `said` that are not blank, trimmed.
pub fn last_lines(said: &str, n: usize) -> String {
    let lines: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The one retry loop: runs `attempt` until it is done, and after each transient failure asks
/// `pause` (the attempts made, the failure) to wait, or to say why it gives up: then the error is
/// that reason and the failure's `last` words. An attempt that cannot run at all (an `Err`) stops
/// at once. Pure: the waiting, the budget and the counting are `pause`'s (`tools::retry`).
pub fn repeat<T>(
    mut attempt: impl FnMut() -> anyhow::Result<Attempted<T>>,
    mut pause: impl FnMut(u32, &Transient) -> Result<(), String>,
) -> anyhow::Result<T> {
    let mut made = 0;
    loop {
        made += 1;
        match attempt()? {
            Attempted::Done(value) => return Ok(value),
            Attempted::Failed(transient) => {
                if let Err(gave_up) = pause(made, &transient) {
                    anyhow::bail!("{gave_up}\n{}", transient.last);
                }
            }
        }
    }
}

/// A `Retry-After` the output passes on (`Retry-After: 7`, `retry after 7s`), in seconds.
pub fn retry_after(output: &str) -> Option<Duration> {
    let lower = output.to_ascii_lowercase();
    ["retry-after:", "retry after"].iter().find_map(|marker| {
        let rest = &lower[lower.find(marker)? + marker.len()..];
        let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().map(Duration::from_secs)
    })
}

/// The wait after `failures` failed attempts (1 after the first): `BASE_WAIT` doubled each time,
/// at most `max_wait`, a random share of its second half dropped (`seed`) so that parallel jobs
/// spread out; at least `retry_after` when the registry asked for it, but never over `max_wait`.
pub fn wait(policy: &Policy, failures: u32, retry_after: Option<Duration>, seed: u64) -> Duration {
    let doubled = BASE_WAIT.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let ceiling = doubled.min(policy.max_wait);
    let half = ceiling / 2;
    let jitter = half.mul_f64((mix(seed ^ u64::from(failures)) >> 11) as f64 / (1u64 << 53) as f64);
    let jittered = half + jitter;
    retry_after.map_or(jittered, |asked| asked.max(jittered)).min(policy.max_wait)
}

/// Whether to try again after `made` attempts, having waited `waited` so far in this run: the wait,
/// or `None` when the attempts or the budget are spent.
pub fn next_wait(policy: &Policy, made: u32, waited: Duration, wait: Duration) -> Option<Duration> {
    (made < policy.attempts && waited + wait <= policy.budget).then_some(wait)
}

/// splitmix64: a seed's well-spread 64 bits.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One retried operation, for its printed line and its final error.
pub struct Attempt<'a> {
    pub step: &'a str,
    pub operation: &'a str,
    pub registry: &'a str,
    pub status: &'a str,
    /// Attempts made so far (the failed one included).
    pub made: u32,
}

/// The line a retry prints.
pub fn retry_line(a: &Attempt<'_>, policy: &Policy, wait: Duration) -> String {
    format!(
        "    retry: {} {} at {}: {} (attempt {} of {}), next in {:.1}s",
        a.step,
        a.operation,
        a.registry,
        a.status,
        a.made,
        policy.attempts,
        wait.as_secs_f64()
    )
}

/// The error when giving up on a transient failure.
pub fn gave_up(a: &Attempt<'_>, policy: &Policy, waited: Duration) -> String {
    let why = if a.made >= policy.attempts {
        format!("all {} attempts failed", a.made)
    } else {
        format!(
            "the next wait would pass the run's retry budget ({} waited of {})",
            humantime::format_duration(round(waited)),
            humantime::format_duration(policy.budget)
        )
    };
    format!(
        "{} at {} failed with {} after {} attempt{}: {why}. The registry is busy or failing: run the \
         release again later (it resumes), or raise [workspace.metadata.xtask.retry] attempts/budget",
        a.operation,
        a.registry,
        a.status,
        a.made,
        if a.made == 1 { "" } else { "s" }
    )
}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
