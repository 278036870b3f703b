//! This repository's `cargo xtask`: the release engine, plus one subcommand of our own, added as
//! any team adds theirs (docs/src/adopting.md).

use xtask_release::clap;
use xtask_release::xshell::{cmd, Shell};

/// This repository's own subcommands, beside the engine's.
#[derive(clap::Subcommand)]
enum Repository {
    /// Build the docs book (docs/) with mdBook, as CI does.
    Book,
}

fn main() -> std::process::ExitCode {
    xtask_release::main_with(|sh: &Shell, command: Repository| match command {
        Repository::Book => Ok(cmd!(sh, "mdbook build docs").run()?),
    })
}
