//! `cargo xtask`: this workspace's release automation.
//!
//! The Cargo version becomes scanned, signed, verified, multi-arch container images in a registry.
//! `main` only parses flags, makes the shell and dispatches. The folders are the layers, each using
//! only the ones below it:
//!
//! - `commands/`: one module per subcommand; gathers inputs, runs steps, prints (the release
//!   pipeline's ordered list of steps is in `commands::pipeline`);
//! - `steps/`: the pipeline steps (preflight, build, smoke, scan, publish, sign, record), each turning
//!   the plan and earlier steps' outputs into its own output;
//! - `tools/`: thin wrappers over cargo, git, docker/buildx, skopeo, cosign and trivy;
//! - `rules/`: pure decisions (configuration, versions, tags, labels, references, scan policy, the
//!   plan), which never import `tools`, `steps` or `commands`.

mod commands;
mod console;
#[cfg(test)]
mod docs_reference;
mod rules;
mod steps;
mod tools;
#[cfg(test)]
mod workflow_commands;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{audit, bench, build, ci, doctor, plan, release, scan, version};

/// Release automation for this workspace: the Cargo version becomes scanned, signed, multi-arch container images.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    /// No step headers, progress or build output: warnings, failures and `--json` output only.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version(s), or change one (`bump`, `set`; `-p PACKAGE` in independent versioning).
    Version(version::Args),
    /// Print what a release would build and push: references, labels, platforms, cache, steps.
    Plan(plan::Args),
    /// Build every configured image for all its platforms (cross-compiled), load it, smoke-test each platform.
    Build(build::Args),
    /// Scan the built images' exact digests with trivy; fail on findings the policy names.
    Scan(scan::Args),
    /// Release: preflight, build, smoke, scan, push, verify, sign, move floating tags (dry run without
    /// --execute; `--execute --local` to a registry on this machine); `release retract X.Y.Z` withdraws a version.
    Release(release::Args),
    /// CI: fmt, clippy, the docs book, the tests, then the whole release rehearsed against a throwaway
    /// local registry; `--slow` adds the slow checks.
    Ci(ci::Args),
    /// Re-audit every live tag (released, not retracted, and the floating tags) against today's
    /// advisories, from each release's own signed SBOM attestation; fails if any fails the policy.
    Audit(audit::Args),
    /// Measure the pipeline against its goals (rows P1-P10: rebuild times, cross vs QEMU, image size,
    /// xtask speed, re-release, registry cache, scaling, audit, one engine vs two).
    Bench(bench::Args),
    /// Check that this machine can run the pipeline: git, the docker engine, its containerd image
    /// store, buildx 0.13+, binfmt for each foreign platform, trivy at the pinned version, skopeo (when
    /// pushing), cosign (when signing), and with --builder that builder. Prints each fix.
    Doctor(doctor::Args),
}

fn main() -> Result<()> {
    // Errors here are messages for people (what failed, what to do), not crashes: no backtraces
    // unless asked for explicitly with RUST_LIB_BACKTRACE=1.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    console::set_quiet(cli.quiet);
    let sh = xshell::Shell::new()?;
    sh.change_dir(tools::cargo::root(&sh)?);
    let result = dispatch(&sh, cli.command);
    if let (Err(error), true) = (&result, console::github_actions()) {
        let message = format!("{error:#}");
        let manifest = std::fs::read_to_string(sh.current_dir().join("Cargo.toml")).unwrap_or_default();
        let line = console::config_error_line(&message, &manifest);
        println!("{}", console::error_annotation(&message, line.map(|_| "Cargo.toml"), line));
    }
    result
}

fn dispatch(sh: &xshell::Shell, command: Command) -> Result<()> {
    match command {
        Command::Version(args) => version::run(sh, args),
        Command::Plan(args) => plan::run(sh, args),
        Command::Build(args) => build::run(sh, args),
        Command::Scan(args) => scan::run(sh, args),
        Command::Release(args) => release::run(sh, args),
        Command::Ci(args) => ci::run(sh, args),
        Command::Audit(args) => audit::run(sh, args),
        Command::Bench(args) => bench::run(sh, args),
        Command::Doctor(args) => doctor::run(sh, args),
    }
}
