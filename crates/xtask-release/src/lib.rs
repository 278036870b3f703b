//! `xtask-release`: the release engine behind a workspace's `cargo xtask`.
//!
//! The Cargo version becomes scanned, signed, verified, multi-arch container images in a registry.
//! A workspace adopts it with a two-file `xtask/` crate whose `main` hands over to [`main`] (or to
//! [`main_with`], to add the team's own subcommands beside the engine's). The folders are the
//! layers, each using only the ones below it (ARCHITECTURE.md):
//!
//! - `commands/`: one module per subcommand; gathers inputs, runs steps, prints (`commands::pipeline`
//!   runs a plan's steps);
//! - `steps/`: the pipeline steps (preflight, build, smoke, scan, publish, sign, record), each turning
//!   the plan and earlier steps' outputs into its own output (their order, and which of them run, is
//!   decided in one place: `rules::pipeline`);
//! - `tools/`: thin wrappers over cargo, git, docker/buildx, cosign, trivy and curl (the registry
//!   client's HTTP);
//! - `rules/`: pure decisions (configuration, versions, tags, labels, references, scan policy, the
//!   plan), which never import `tools`, `steps` or `commands`.
//!
//! ```no_run
//! // xtask/src/main.rs
//! fn main() -> std::process::ExitCode {
//!     xtask_release::main()
//! }
//! ```

mod cli;
mod commands;
mod console;
#[cfg(feature = "reference")]
pub mod reference;
mod rules;
mod steps;
mod tools;

/// Re-exported for a team's own subcommands (`#[derive(clap::Subcommand)]` through `use
/// xtask_release::clap;`), so the xtask crate needs no dependency but this one.
pub use anyhow;
pub use clap;
pub use xshell;

pub use cli::{command, main, main_with, NoTeamCommands};

/// The engine's version: `cargo xtask --version` prints it, and every release record names it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
