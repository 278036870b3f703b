//! The command line: parse, take the secrets out of the environment (`tools::secrets`: no child of
//! an engine subcommand inherits one), make the shell at the workspace root, dispatch to
//! `commands/`. A team's own subcommands (a `clap::Subcommand` enum given to [`main_with`]) sit
//! beside the engine's in one `cargo xtask --help`, and keep the environment as it was given.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{audit, bench, build, ci, doctor, init, plan, release, scan, version};
use crate::{console, tools};

/// Release automation for this workspace: the Cargo version becomes scanned, signed, multi-arch container images.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", long_about = None)]
#[command(version = concat!("(xtask-release ", env!("CARGO_PKG_VERSION"), ")"))]
struct Cli<T: Subcommand> {
    /// No step headers, progress or build output: warnings, failures and `--json` output only.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command<T>,
}

#[derive(Subcommand)]
enum Command<T: Subcommand> {
    /// Adopt the engine in this workspace: write `[workspace.metadata.xtask]` (one image per binary),
    /// the xtask member and alias; `--workflows` the GitHub workflows; `--check` fails when they are stale.
    Init(init::Args),
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
    /// CI: fmt, clippy, the workspace's tests, then the whole release rehearsed against a throwaway
    /// local registry; `--slow` adds the slow checks.
    Ci(ci::Args),
    /// Re-audit every live tag (released, not retracted, and the floating tags) against today's
    /// advisories, from each release's own signed SBOM attestation; fails if any fails the policy.
    Audit(audit::Args),
    /// Measure the pipeline against its goals (rows P1-P11: rebuild times, cross vs QEMU, image size,
    /// xtask speed, re-release, registry cache, scaling, audit, one engine vs two, a cold release's
    /// build vs the raw compile).
    Bench(bench::Args),
    /// Check that this machine can run the pipeline: git, the docker engine, its containerd image
    /// store, buildx 0.13+, binfmt for each foreign platform, trivy at the pinned version, curl 7.58+
    /// (when talking to registries: pushing, or reading the vulnerability DB), cosign (when signing),
    /// and with --builder that builder. Prints each fix; `--install` installs what is missing
    /// (opt-in, as root).
    Doctor(doctor::Args),
    #[command(flatten)]
    Team(T),
}

/// The subcommands of an xtask that adds none of its own: [`main`]'s.
#[derive(Subcommand)]
pub enum NoTeamCommands {}

/// `cargo xtask` with the engine's subcommands: the whole `main` of an adopter's xtask.
pub fn main() -> ExitCode {
    main_with(|_, team: NoTeamCommands| match team {})
}

/// `cargo xtask` with the engine's subcommands and the team's own (`T`, run by `team` in a shell at
/// the workspace root). Errors print as `Error: …` with their causes, and exit 1.
pub fn main_with<T: Subcommand>(team: impl FnOnce(&xshell::Shell, T) -> Result<()>) -> ExitCode {
    // Errors here are messages for people (what failed, what to do), not crashes: no backtraces
    // unless asked for explicitly with RUST_LIB_BACKTRACE=1.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::<T>::parse();
    // First, while this is the process's only thread: each secret then reaches only its one step.
    if !matches!(cli.command, Command::Team(_)) {
        tools::secrets::withhold();
    }
    console::set_quiet(cli.quiet);
    let result = xshell::Shell::new().map_err(anyhow::Error::from).and_then(|sh| {
        sh.change_dir(tools::cargo::root(&sh)?);
        let result = dispatch(&sh, cli.command, team);
        if let (Err(error), true) = (&result, console::github_actions()) {
            let message = format!("{error:#}");
            let manifest = std::fs::read_to_string(sh.current_dir().join("Cargo.toml")).unwrap_or_default();
            let line = console::config_error_line(&message, &manifest);
            println!("{}", console::error_annotation(&message, line.map(|_| "Cargo.toml"), line));
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

/// The engine's command line (with no team subcommands), for checking documentation against it.
pub fn command() -> clap::Command {
    <Cli<NoTeamCommands> as clap::CommandFactory>::command()
}

fn dispatch<T: Subcommand>(
    sh: &xshell::Shell,
    command: Command<T>,
    team: impl FnOnce(&xshell::Shell, T) -> Result<()>,
) -> Result<()> {
    match command {
        Command::Init(args) => init::run(sh, args),
        Command::Version(args) => version::run(sh, args),
        Command::Plan(args) => plan::run(sh, args),
        Command::Build(args) => build::run(sh, args),
        Command::Scan(args) => scan::run(sh, args),
        Command::Release(args) => release::run(sh, args),
        Command::Ci(args) => ci::run(sh, args),
        Command::Audit(args) => audit::run(sh, args),
        Command::Bench(args) => bench::run(sh, args),
        Command::Doctor(args) => doctor::run(sh, args),
        Command::Team(args) => team(sh, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_positional_argument_and_flag_has_help() {
        fn visit(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("`cargo xtask{path}` has no description"));
                }
                for arg in sub.get_arguments().filter(|a| a.get_id() != "help" && a.get_id() != "version") {
                    if arg.get_help().is_none() {
                        missing.push(format!("`cargo xtask{path}`: {} has no help", arg.get_id()));
                    }
                }
                visit(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        visit(&command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn ci_compiles_only_alone() {
        let parse = |args: &[&str]| command().try_get_matches_from([&["xtask", "ci"][..], args].concat());
        assert!(parse(&["--compile-only"]).is_ok());
        for other in ["--slow", "--rehearsal-only"] {
            let error = parse(&["--compile-only", other]).expect_err(other);
            assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict, "{other}: {error}");
        }
    }
}
