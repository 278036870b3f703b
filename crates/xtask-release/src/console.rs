//! Step headers and timings, and GitHub Actions' workflow commands. Every pipeline step prints one
//! line when it starts and one with its duration when it ends; under GitHub Actions each step is
//! also a collapsible log group, and a failure becomes an `::error::` annotation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

static QUIET: AtomicBool = AtomicBool::new(false);
/// The step running now, for the lines a retry prints and the record's retry counts.
static STEP: Mutex<String> = Mutex::new(String::new());

/// The name of the innermost step running now (`""` outside any).
pub fn current_step() -> String {
    STEP.lock().map(|s| s.clone()).unwrap_or_default()
}

/// `--quiet`: no step headers, progress lines or build output; warnings, failures and the
/// requested output (`--json`) still print.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A progress line on stderr, unless `--quiet`.
macro_rules! progress {
    ($($arg:tt)*) => {
        if !$crate::console::quiet() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use progress;

pub fn github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Runs one named step, printing its header and duration to stderr, in a log group under Actions.
pub fn run<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    timed(name, github_actions(), f)
}

/// Like [`run`] but without a log group, for a step whose sub-steps are the groups (Actions
/// groups do not nest).
pub fn run_ungrouped<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    timed(name, false, f)
}

fn timed<T>(name: &str, group: bool, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let group = group && !quiet();
    if group {
        eprintln!("::group::{name}");
    }
    progress!("==> {name}");
    let outer = STEP.lock().map(|mut s| std::mem::replace(&mut *s, name.to_owned())).unwrap_or_default();
    let start = Instant::now();
    let result = f();
    if let Ok(mut step) = STEP.lock() {
        *step = outer;
    }
    if group {
        eprintln!("::endgroup::");
    }
    let verdict = if result.is_ok() { "ok" } else { "FAILED" };
    progress!("<== {name} {verdict} in {:.1}s", start.elapsed().as_secs_f64());
    result
}

/// An `::error::` workflow command for `message`, at `file` (and `line`) when known.
pub fn error_annotation(message: &str, file: Option<&str>, line: Option<usize>) -> String {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = line {
        properties.push(format!("line={line}"));
    }
    let properties = if properties.is_empty() { String::new() } else { format!(" {}", properties.join(",")) };
    format!("::error{properties}::{}", escape_data(message))
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Where in the root Cargo.toml a configuration error points: the line of the deepest table or
/// key of `workspace.metadata.xtask.…` named at the start of the message.
pub fn config_error_line(message: &str, manifest: &str) -> Option<usize> {
    let start = message.find("workspace.metadata.xtask")?;
    let path = message[start..].split([':', ' ']).next()?.strip_prefix("workspace.metadata.xtask")?;
    let segments: Vec<&str> = path.split(['.', '[']).filter(|s| !s.is_empty() && !s.ends_with(']')).collect();
    let mut table = String::from("workspace.metadata.xtask");
    let mut line = manifest.lines().position(|l| l.trim() == format!("[{table}]")).map(|i| i + 1);
    for segment in segments {
        let candidate = format!("{table}.{segment}");
        if let Some(i) = manifest.lines().position(|l| l.trim() == format!("[{candidate}]")) {
            line = Some(i + 1);
        } else if let Some(i) = line.and_then(|start| {
            manifest
                .lines()
                .skip(start)
                .position(|l| {
                    l.trim_start().starts_with(&format!("{segment} "))
                        || l.trim_start().starts_with(&format!("{segment}="))
                })
                .map(|offset| start + offset)
        }) {
            return Some(i + 1);
        }
        table = candidate;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_and_locate() {
        assert_eq!(error_annotation("a\nb 100%", None, None), "::error::a%0Ab 100%25");
        assert_eq!(
            error_annotation("bad", Some("docker/Dockerfile"), Some(7)),
            "::error file=docker/Dockerfile,line=7::bad"
        );
    }

    #[test]
    fn config_errors_point_at_their_line() {
        let manifest = "[workspace]\n\n[workspace.metadata.xtask]\nrelease-branches = [\"main\"]\n\n[workspace.metadata.xtask.images.beacon]\npackage = \"beacon\"\nplatforms = [\"linux/s390\"]\n";
        let message = "workspace.metadata.xtask.images.beacon.platforms[0]: unknown variant `linux/s390`";
        assert_eq!(config_error_line(message, manifest), Some(8));
        assert_eq!(
            config_error_line("workspace.metadata.xtask.images.beacon: missing field `dockerfile`", manifest),
            Some(6)
        );
        assert_eq!(config_error_line("workspace.metadata.xtask.release-branches: bad", manifest), Some(4));
        assert_eq!(config_error_line("something else", manifest), None);
        let wrapped = "invalid configuration: workspace.metadata.xtask.images.beacon.platforms[0]: bad";
        assert_eq!(config_error_line(wrapped, manifest), Some(8));
    }
}
