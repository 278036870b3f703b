//! Step headers and timings. Every pipeline step prints one line when it starts and one with its
//! duration when it ends; under GitHub Actions each step is also a collapsible log group.

use std::time::Instant;

use anyhow::Result;

pub fn github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Runs one named step, printing its header and duration to stderr.
pub fn run<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let gha = github_actions();
    if gha {
        eprintln!("::group::{name}");
    }
    eprintln!("==> {name}");
    let start = Instant::now();
    let result = f();
    if gha {
        eprintln!("::endgroup::");
    }
    let verdict = if result.is_ok() { "ok" } else { "FAILED" };
    eprintln!("<== {name} {verdict} in {:.1}s", start.elapsed().as_secs_f64());
    result
}
