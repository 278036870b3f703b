//! The doctor's judgements, pure: a check of one tool (its problem and fix, and whether the tool
//! is missing rather than too old), a version against its supported range, and curl's version
//! text. `tools::doctor` runs the tools and hands their texts here.

use crate::rules::install::{pages, Missing};
use crate::rules::toolset::{self as ranges, Standing, Tool, Version};

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub problem: Option<Problem>,
    pub detail: String,
    /// The failure is this tool not being installed (not too old, nor a daemon that is down).
    pub missing: Option<Missing>,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check { name: name.into(), problem: None, detail: detail.into(), missing: None }
    }
    pub fn failed(name: &str, what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            problem: Some(Problem { what: what.into(), fix: fix.into() }),
            detail: String::new(),
            missing: None,
        }
    }
    pub fn not_installed(self, tool: Missing) -> Check {
        Check { missing: Some(tool), ..self }
    }
}

/// The tools the failed checks found not installed, each once.
pub fn missing(checks: &[Check]) -> Vec<Missing> {
    let mut missing: Vec<Missing> = checks.iter().filter(|c| c.problem.is_some()).filter_map(|c| c.missing).collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

/// A tool's version judged against its supported range (`rules::toolset::RANGES`).
pub fn ranged(tool: Tool, version: Version, install: &str) -> Check {
    let range = ranges::range(tool);
    let span = format!("supported {}..{}", range.minimum, range.tested);
    match ranges::standing(range, version) {
        Standing::Supported => Check::ok(range.name, format!("version {version} ({span})")),
        Standing::Newer => {
            Check::ok(range.name, format!("version {version} ({span}; newer than the newest tested, {})", range.tested))
        }
        Standing::TooOld => Check::failed(
            range.name,
            format!("{} {version} is older than the minimum {} ({} needs it)", range.name, range.minimum, range.why),
            format!("upgrade {} to {} or newer (tested up to {}): {install}", range.name, range.minimum, range.tested),
        ),
    }
}

/// The oldest curl the registry client (`tools::http`) works with. Its options are all older
/// (`--config -` read from stdin, `--include`, `--connect-timeout`, `--speed-limit`, `--upload-file`,
/// `--data-binary`, `--cacert`, `--cert`/`--key`) but two: `data-raw` in that config (a token
/// request's form, 7.43.0; an older curl only warns of an option it does not know in a config, and
/// `--silent` hides that, so the request would go without its form), and a custom `Authorization`
/// header kept from the other host a followed redirect leads to (7.58.0, CVE-2018-1000007):
/// registries redirect blob reads to their storage, which must not get the registry's token (and,
/// as S3 does, refuses a request carrying two).
pub const CURL_MINIMUM: Version = Version(7, 58, 0);
const CURL_WHY: &str = "the first that keeps a registry's token from the other host a redirect leads to";

/// `curl --version`, judged: `curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.11 …`,
/// then `Protocols: … http https …`. The tool and its library each meet the minimum (the options
/// are the tool's, the redirect rule the library's), and it speaks HTTPS.
pub fn curl_check(text: &str) -> Check {
    let first = text.lines().next().unwrap_or("").trim();
    let tool = first.split_whitespace().nth(1).and_then(Version::find);
    let library = first.split_whitespace().find_map(|w| w.strip_prefix("libcurl/")).and_then(Version::find);
    let Some(tool) = tool else {
        return Check::failed(
            "curl",
            format!("`curl --version` said {first:?}: no version in it"),
            format!("install curl {CURL_MINIMUM} or newer: {}", pages::CURL),
        );
    };
    let shown = match library {
        Some(library) if library != tool => format!("{tool} (libcurl {library})"),
        _ => tool.to_string(),
    };
    if tool.min(library.unwrap_or(tool)) < CURL_MINIMUM {
        return Check::failed(
            "curl",
            format!("curl {shown} is older than the minimum {CURL_MINIMUM} ({CURL_WHY})"),
            format!("upgrade curl to {CURL_MINIMUM} or newer: {}", pages::CURL),
        );
    }
    let protocols = text.lines().find_map(|l| l.trim().strip_prefix("Protocols:"));
    if protocols.is_some_and(|p| !p.split_whitespace().any(|p| p == "https")) {
        return Check::failed(
            "curl",
            format!("curl {shown} is built without HTTPS, which registries speak"),
            format!("install a curl built with TLS (the distribution's curl package): {}", pages::CURL),
        );
    }
    Check::ok("curl", format!("version {shown} (minimum {CURL_MINIMUM}; sends the registry requests)"))
}

#[cfg(test)]
#[path = "tool_checks_tests.rs"]
mod tests;
