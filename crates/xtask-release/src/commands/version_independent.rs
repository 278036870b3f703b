//! `cargo xtask version -p PACKAGE bump|set` in independent versioning: the package's own
//! `[package] version` (comments and markers on its line kept), its one Cargo.lock entry (every
//! other byte of the lock unchanged), the commit and the release tag the tag pattern names.

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::ReleaseOptions;
use crate::rules::manifest;
use crate::rules::version::{self, Target};
use crate::tools::cargo::{self, Workspace, LOCK_FILE};
use crate::tools::git;
use crate::tools::metadata::Package;

/// The workspace member named `package`.
pub fn member<'w>(workspace: &'w Workspace, package: &str) -> Result<&'w Package> {
    let members = workspace.metadata.workspace_packages();
    let names: Vec<&str> = members.iter().map(|member| member.name.as_str()).collect();
    let found = members.iter().find(|member| member.name.as_str() == package).copied();
    found.with_context(|| format!("-p {package}: no workspace member has that name (members: {names:?})"))
}

pub fn change(
    sh: &Shell,
    workspace: &Workspace,
    package: &str,
    target: &Target,
    options: ReleaseOptions,
) -> Result<()> {
    let member = member(workspace, package)?;
    let current = member.version.clone();
    let next = version::next_version(&current, target).with_context(|| format!("crate `{package}`"))?;
    let tag = workspace.versioning.release_tag(package, &next);
    if options.tag {
        if !workspace.versioning.packages.contains_key(package) {
            bail!(
                "--tag: no image releases crate `{package}`, so it has no release tag (tag {tag} would read as \
                 another crate's release): change its version without --tag"
            );
        }
        let config = workspace.config()?;
        version::check_release_branch(git::current_branch(sh)?.as_deref(), &config.release_branches)?;
        if git::tag_exists(sh, &tag)? {
            bail!("the tag {tag} already exists: choose another version, or delete the tag if it was a mistake");
        }
    }
    let root = workspace.metadata.workspace_root.as_std_path();
    let path = member.manifest_path.as_std_path();
    let relative = path.strip_prefix(root).context("the crate's manifest is outside the workspace")?.to_owned();
    let relative = relative.to_str().context("the crate's manifest path is not UTF-8")?.to_owned();

    let original = sh.read_file(&relative).with_context(|| format!("could not read {relative}"))?;
    let lock =
        sh.read_file(LOCK_FILE).context("could not read Cargo.lock: run `cargo generate-lockfile` and commit it")?;
    let edited = manifest::with_package_version(&original, &next).with_context(|| format!("editing {relative}"))?;
    let edited_lock = manifest::with_locked_member_version(&lock, package, &next)?;
    sh.write_file(&relative, edited).with_context(|| format!("could not write {relative}"))?;
    sh.write_file(LOCK_FILE, edited_lock).context("could not write Cargo.lock")?;
    // cargo must accept the lock as it is now: a member that requires the old version fails here.
    let checked = cargo::check_lock_file(sh);
    if let Err(error) = checked {
        sh.write_file(&relative, original).with_context(|| format!("could not restore {relative}"))?;
        sh.write_file(LOCK_FILE, lock).context("could not restore Cargo.lock")?;
        return Err(error).context(format!(
            "cargo refuses {package} {next} (see above; a member requiring another version of it?): \
             {relative} and Cargo.lock were restored"
        ));
    }
    let updated = cargo::load(sh)?;
    let now = &self::member(&updated, package)?.version;
    if *now != next {
        bail!("cargo reads {package} {now} after the edit, expected {next}: check {relative}");
    }
    println!("{package} {current} -> {next}");

    let message = format!("Release {package} {next}");
    if options.commit {
        git::commit_paths(sh, &[relative.as_str(), LOCK_FILE], &message)?;
        println!("committed \"{message}\"");
    }
    if options.tag {
        git::annotated_tag(sh, &tag, &message)?;
        println!("tagged {tag}: push with `git push --atomic origin HEAD {tag}`");
    }
    Ok(())
}
