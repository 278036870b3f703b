//! `cargo xtask version [-p PACKAGE] [bump|set]`: prints the version(s), or changes one — edits the
//! manifest that holds it, records it in Cargo.lock, and on request commits "Release X.Y.Z" and tags
//! the release (`vX.Y.Z`, or the tag pattern's). In lockstep versioning that is the root Cargo.toml's
//! `[workspace.package] version`; in independent versioning the package's own `[package] version`,
//! and only that package's lock entry changes. The version math is `rules::version`; this is the I/O
//! around it.
//!
//! Every check (clean tree, valid next version, release branch, free tag) runs before the first
//! write, so a refused bump changes nothing.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use xshell::Shell;

#[path = "version_independent.rs"]
mod independent;

use crate::rules::manifest;
use crate::rules::version::{self, Level, Target};
use crate::rules::versioning::Mode;
use crate::tools::cargo::{self, Workspace, LOCK_FILE, ROOT_MANIFEST};
use crate::tools::git;

/// `cargo xtask version [bump LEVEL | set VERSION]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The crate whose version to show or change (independent versioning); default: the one crate
    /// the images release.
    #[arg(short = 'p', long = "package", value_name = "PACKAGE", global = true)]
    pub package: Option<String>,
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Bump the workspace version: major, minor, patch, rc (release candidate) or release.
    Bump {
        /// Which part to bump: major, minor, patch, rc (the next release candidate) or release (drop
        /// the pre-release).
        #[arg(value_enum, value_name = "LEVEL")]
        level: Level,
        #[command(flatten)]
        release: ReleaseOptions,
    },
    /// Set the workspace version to X.Y.Z or X.Y.Z-PRE (it must be greater than the current one).
    Set {
        /// The new version: X.Y.Z or X.Y.Z-PRE (e.g. 2.0.0-rc.1), greater than the current one.
        #[arg(value_name = "VERSION")]
        version: String,
        #[command(flatten)]
        release: ReleaseOptions,
    },
}

/// What to do with the changed Cargo.toml and Cargo.lock.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct ReleaseOptions {
    /// Commit Cargo.toml and Cargo.lock as "Release X.Y.Z".
    #[arg(long)]
    pub commit: bool,
    /// Create the annotated release tag on that commit: vX.Y.Z, or as `tag-pattern` says (requires --commit).
    #[arg(long, requires = "commit")]
    pub tag: bool,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let package = args.package.as_deref();
    let (target, release) = match args.action {
        None => return show(sh, package),
        Some(Action::Bump { level, release }) => (Target::Bump(level), release),
        Some(Action::Set { version, release }) => (Target::Set(version), release),
    };
    if git::is_dirty(sh)? {
        bail!(
            "the work tree has uncommitted changes: commit or stash them first, so that the version \
             change stands alone (see `git status`)"
        );
    }
    let workspace = cargo::load(sh)?;
    match (workspace.versioning.mode, package) {
        (Mode::Lockstep, None) => change(sh, workspace, &target, release),
        (Mode::Lockstep, Some(package)) => bail!(
            "-p {package}: versioning is lockstep, every released crate is at the workspace version: change it \
             without -p (or set workspace.metadata.xtask.versioning = \"independent\")"
        ),
        (Mode::Independent, package) => {
            let package = released_package(&workspace, package)?;
            independent::change(sh, &workspace, &package, &target, release)
        }
    }
}

/// Lockstep: the workspace version. Independent: the mode and each released crate's version, or
/// the version of `-p PACKAGE`.
fn show(sh: &Shell, package: Option<&str>) -> Result<()> {
    let workspace = cargo::load(sh)?;
    let versioning = &workspace.versioning;
    match (versioning.mode, package) {
        (Mode::Lockstep, _) => println!("{}", workspace.version),
        (Mode::Independent, Some(package)) => println!("{}", independent::member(&workspace, package)?.version),
        (Mode::Independent, None) => {
            println!("independent versioning, release tags {}", versioning.tag_pattern.as_str());
            for (package, version) in &versioning.packages {
                println!("{package} {version}");
            }
        }
    }
    Ok(())
}

/// `-p PACKAGE`, or the one crate the images release.
fn released_package(workspace: &Workspace, package: Option<&str>) -> Result<String> {
    if let Some(package) = package {
        return Ok(package.to_owned());
    }
    let released: Vec<&String> = workspace.versioning.packages.keys().collect();
    match released.as_slice() {
        [only] => Ok(only.to_string()),
        _ => bail!(
            "versioning is independent and the images release {released:?}: say which crate with -p PACKAGE \
             (e.g. `cargo xtask version -p {} bump patch`)",
            released.first().map_or("NAME", |name| name.as_str())
        ),
    }
}

fn change(sh: &Shell, current: Workspace, target: &Target, options: ReleaseOptions) -> Result<()> {
    let next = version::next_version(&current.version, target)?;
    let tag = version::release_tag(&next);
    if options.tag {
        let config = current.config()?;
        version::check_release_branch(git::current_branch(sh)?.as_deref(), &config.release_branches)?;
        if git::tag_exists(sh, &tag)? {
            bail!("the tag {tag} already exists: choose another version, or delete the tag if it was a mistake");
        }
    }

    let original = sh.read_file(ROOT_MANIFEST).context("could not read the root Cargo.toml")?;
    let edited = manifest::with_workspace_version(&original, &next)?;
    sh.write_file(ROOT_MANIFEST, edited).context("could not write the root Cargo.toml")?;
    if let Err(error) = update_lock_file(sh) {
        sh.write_file(ROOT_MANIFEST, original)
            .context("could not restore the root Cargo.toml after the failed Cargo.lock update")?;
        return Err(error);
    }
    let updated = cargo::load(sh)?;
    if updated.version != next {
        bail!("cargo reads version {} after the edit, expected {next}: check the root Cargo.toml", updated.version);
    }
    println!("{} -> {next}", current.version);

    let message = format!("Release {next}");
    if options.commit {
        git::commit_paths(sh, &[ROOT_MANIFEST, LOCK_FILE], &message)?;
        println!("committed \"{message}\"");
    }
    if options.tag {
        git::annotated_tag(sh, &tag, &message)?;
        println!("tagged {tag}: push with `git push --atomic origin HEAD {tag}`");
    }
    Ok(())
}

/// Records the new member versions in Cargo.lock without touching any dependency.
fn update_lock_file(sh: &Shell) -> Result<()> {
    cargo::update_lock_file(sh).context(
        "`cargo update --workspace --offline` failed: the Cargo.toml change was undone; fix the error above and retry",
    )
}
