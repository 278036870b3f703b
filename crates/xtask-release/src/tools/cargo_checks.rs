//! cargo's checks of a workspace as `cargo xtask ci` runs them: rustfmt, clippy with warnings
//! denied, and the test suite (compiled, a selection of its targets as a job to run into a log, the
//! doc tests, the ignored slow tier). All `--locked`; their output is shown as it comes, as typed.

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::tools::process::Job;

/// `cargo fmt --all -- --check`.
pub fn fmt_check(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo fmt --all -- --check").run()?)
}

/// `cargo clippy --workspace --all-targets --locked -- -D warnings`.
pub fn clippy(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?)
}

/// Compiles every test target of the workspace without running one (`cargo test --no-run`).
pub fn compile_tests(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo test --workspace --locked --no-run").run()?)
}

/// `cargo test --locked SELECTION -- TEST_ARGS` as a job (`tools::process`), to run into a log.
pub fn tests(sh: &Shell, selection: &[&str], test_args: &[&str]) -> Job {
    Job::from(cmd!(sh, "cargo test --locked {selection...} -- {test_args...}"))
}

/// The workspace's doc tests (`cargo test --doc`), `test_args` to each.
pub fn doc_tests(sh: &Shell, test_args: &[&str]) -> Result<()> {
    Ok(cmd!(sh, "cargo test --workspace --locked --doc -- {test_args...}").run()?)
}

/// The tests marked `#[ignore]`, the slow tier (`cargo test -- --ignored`).
pub fn ignored_tests(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "cargo test --workspace --locked -- --ignored").run()?)
}
