//! Version math, pure: cargo-release style bumps, the rules a new version must follow, release tag
//! names, and the check that every shipped crate carries the one workspace version.
//!
//! `commands::version` does the I/O (print, edit, commit, tag); everything it decides is decided here.
//!
//! Bump table (cargo-release semantics; `pre` is any pre-release):
//!
//! | level     | from stable `1.2.3` | from a pre-release                                              |
//! |-----------|---------------------|-----------------------------------------------------------------|
//! | `major`   | `2.0.0`             | `2.0.0-pre` → `2.0.0`; `2.1.0-pre` → `3.0.0`                     |
//! | `minor`   | `1.3.0`             | `1.3.0-pre` → `1.3.0`; `1.3.1-pre` → `1.4.0`                     |
//! | `patch`   | `1.2.4`             | `1.2.4-pre` → `1.2.4`                                           |
//! | `rc`      | `1.2.4-rc.1`        | `1.2.4-rc.1` → `1.2.4-rc.2`; `1.2.4-beta.3` → `1.2.4-rc.1`        |
//! | `release` | refused             | `1.2.4-pre` → `1.2.4`                                           |
//!
//! Every result, and every `version set`, must be greater than the current version (no going back,
//! no same version) and carry no build metadata (`+…` can't be a Docker tag).

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use semver::{BuildMetadata, Prerelease, Version};

/// How `version bump` moves the version (see the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    Major,
    Minor,
    Patch,
    Rc,
    Release,
}

/// The version `bump` should move to: a level, or an explicit version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Bump(Level),
    Set(String),
}

/// The version after `target`, checked to be a valid next release of `current`.
pub fn next_version(current: &Version, target: &Target) -> Result<Version> {
    let next = match target {
        Target::Bump(level) => bumped(current, *level)?,
        Target::Set(text) => Version::parse(text.trim_start_matches('v'))
            .with_context(|| format!("{text:?} is not a semantic version: pass X.Y.Z or X.Y.Z-PRE, e.g. 1.2.0-rc.1"))?,
    };
    check_next(current, &next)?;
    Ok(next)
}

/// Applies the bump table from the module docs.
pub fn bumped(current: &Version, level: Level) -> Result<Version> {
    let (major, minor, patch) = (current.major, current.minor, current.patch);
    let pre = !current.pre.is_empty();
    let stable = |major, minor, patch| Version::new(major, minor, patch);
    Ok(match level {
        Level::Major if pre && minor == 0 && patch == 0 => stable(major, 0, 0),
        Level::Major => stable(major + 1, 0, 0),
        Level::Minor if pre && patch == 0 => stable(major, minor, 0),
        Level::Minor => stable(major, minor + 1, 0),
        Level::Patch if pre => stable(major, minor, patch),
        Level::Patch => stable(major, minor, patch + 1),
        Level::Release if pre => stable(major, minor, patch),
        Level::Release => {
            bail!("{current} is already a release: bump major, minor or patch, or `version set` a version")
        }
        Level::Rc => {
            let (base, rc) = if !pre {
                (stable(major, minor, patch + 1), 1)
            } else if let Some(n) = rc_number(&current.pre) {
                (stable(major, minor, patch), n + 1)
            } else {
                (stable(major, minor, patch), 1)
            };
            Version { pre: Prerelease::new(&format!("rc.{rc}")).context("rc.N is a valid pre-release")?, ..base }
        }
    })
}

/// `N` of an `rc.N` pre-release; a bare `rc` counts as `rc.0`.
fn rc_number(pre: &Prerelease) -> Option<u64> {
    match pre.as_str().strip_prefix("rc") {
        Some("") => Some(0),
        Some(rest) => rest.strip_prefix('.')?.parse().ok(),
        None => None,
    }
}

/// Refuses build metadata, the same version and going backwards.
pub fn check_next(current: &Version, next: &Version) -> Result<()> {
    if next.build != BuildMetadata::EMPTY {
        bail!("{next} carries build metadata `+{}`, which can't be a Docker tag: drop the `+…` part", next.build);
    }
    if next == current {
        bail!("the workspace version already is {current}: pass a greater version");
    }
    if next < current {
        bail!("{next} is lower than the current version {current}: versions only go forward");
    }
    Ok(())
}

/// The git tag that marks the release of `version`.
pub fn release_tag(version: &Version) -> String {
    format!("v{version}")
}

/// The version a `vX.Y.Z[-pre]` release tag names; `None` for any other tag.
pub fn parse_release_tag(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v')?).ok()
}

/// The annotated git tag that marks `version` as retracted; its message gives the reason.
pub fn retraction_tag(version: &Version) -> String {
    format!("retracted/v{version}")
}

/// The version a `retracted/vX.Y.Z[-pre]` tag withdraws; `None` for any other tag.
pub fn parse_retraction_tag(tag: &str) -> Option<Version> {
    parse_release_tag(tag.strip_prefix("retracted/")?)
}

/// Refuses to tag a release anywhere but on one of the configured release branches.
pub fn check_release_branch(branch: Option<&str>, release_branches: &[String]) -> Result<()> {
    match branch {
        Some(branch) if release_branches.iter().any(|allowed| allowed == branch) => Ok(()),
        Some(branch) => bail!(
            "releases are tagged on {release_branches:?}, not on `{branch}`: switch branch, or add it \
             to release-branches in [workspace.metadata.xtask]"
        ),
        None => bail!("HEAD is detached: check out one of the release branches {release_branches:?} to tag a release"),
    }
}

/// A shipped workspace member, as the version check needs it.
#[derive(Clone, Debug)]
pub struct MemberVersion {
    pub name: String,
    pub version: Version,
    /// Whether its manifest says `version.workspace = true`.
    pub inherits: bool,
}

/// The workspace version `declared` in `[workspace.package]`, after checking that every shipped
/// member inherits it: one version per workspace, so image tags can't disagree with binaries.
pub fn workspace_version(declared: Option<&str>, members: &[MemberVersion]) -> Result<Version> {
    let declared =
        declared.context("the root Cargo.toml has no [workspace.package] version: add `version = \"0.1.0\"` there")?;
    let version = Version::parse(declared)
        .with_context(|| format!("[workspace.package] version {declared:?} is not a semantic version"))?;
    for member in members {
        if !member.inherits || member.version != version {
            bail!(
                "crate `{}` has version {} instead of inheriting the workspace version {version}: \
                 write `version.workspace = true` in its [package] table",
                member.name,
                member.version
            );
        }
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn bump_table() {
        use Level::*;
        let table = [
            ("1.2.3", Major, "2.0.0"),
            ("1.2.3", Minor, "1.3.0"),
            ("1.2.3", Patch, "1.2.4"),
            ("1.2.3", Rc, "1.2.4-rc.1"),
            ("1.0.0", Rc, "1.0.1-rc.1"),
            ("1.0.1-rc.1", Rc, "1.0.1-rc.2"),
            ("1.0.1-rc.9", Rc, "1.0.1-rc.10"),
            ("1.0.1-rc", Rc, "1.0.1-rc.1"),
            ("1.0.1-beta.3", Rc, "1.0.1-rc.1"),
            ("1.0.1-rc.2", Patch, "1.0.1"),
            ("1.0.1-rc.2", Release, "1.0.1"),
            ("1.0.1-rc.2", Minor, "1.1.0"),
            ("1.0.1-rc.2", Major, "2.0.0"),
            ("1.1.0-rc.1", Minor, "1.1.0"),
            ("1.1.0-rc.1", Major, "2.0.0"),
            ("2.0.0-rc.1", Major, "2.0.0"),
            ("2.0.0-rc.1", Minor, "2.0.0"),
            ("0.1.0", Minor, "0.2.0"),
            ("0.1.0", Patch, "0.1.1"),
            ("0.9.9", Major, "1.0.0"),
        ];
        for (from, level, to) in table {
            let next = next_version(&v(from), &Target::Bump(level)).unwrap();
            assert_eq!(next, v(to), "{from} {level:?}");
        }
    }

    #[test]
    fn refused_bumps_and_sets() {
        let cases = [
            ("1.2.3", Target::Bump(Level::Release), "already a release"),
            ("1.0.1-zeta", Target::Bump(Level::Rc), "lower than the current version"),
            ("1.2.3", Target::Set("1.2.3".into()), "already is 1.2.3"),
            ("1.2.3", Target::Set("1.2.2".into()), "lower than the current version 1.2.3"),
            ("1.2.3", Target::Set("1.2.3-rc.1".into()), "lower than"),
            ("1.2.3", Target::Set("1.3.0+build.7".into()), "build metadata"),
            ("1.2.3", Target::Set("1.3".into()), "not a semantic version"),
        ];
        for (from, target, message) in cases {
            let error = next_version(&v(from), &target).unwrap_err();
            assert!(format!("{error:#}").contains(message), "{from} {target:?}: {error:#}");
        }
        assert_eq!(next_version(&v("1.2.3"), &Target::Set("v1.3.0-rc.1".into())).unwrap(), v("1.3.0-rc.1"));
    }

    #[test]
    fn release_tags() {
        assert_eq!(release_tag(&v("1.2.3-rc.1")), "v1.2.3-rc.1");
        assert_eq!(parse_release_tag("v1.2.3"), Some(v("1.2.3")));
        assert_eq!(parse_release_tag("1.2.3"), None);
        assert_eq!(parse_release_tag("v1.2"), None);
        assert_eq!(parse_release_tag("vnext"), None);
        assert_eq!(retraction_tag(&v("1.2.3")), "retracted/v1.2.3");
        assert_eq!(parse_retraction_tag("retracted/v1.2.3-rc.1"), Some(v("1.2.3-rc.1")));
        assert_eq!(parse_retraction_tag("v1.2.3"), None);
        assert_eq!(parse_retraction_tag("retracted/1.2.3"), None);
    }

    #[test]
    fn tags_are_cut_on_release_branches_only() {
        let branches = ["main".to_string(), "release/1.x".to_string()];
        assert!(check_release_branch(Some("main"), &branches).is_ok());
        assert!(check_release_branch(Some("release/1.x"), &branches).is_ok());
        let error = check_release_branch(Some("feature"), &branches).unwrap_err().to_string();
        assert!(error.contains("`feature`") && error.contains("release-branches"), "{error}");
        assert!(check_release_branch(None, &branches).unwrap_err().to_string().contains("detached"));
    }

    #[test]
    fn shipped_members_must_inherit_the_version() {
        let member =
            |name: &str, version: &str, inherits| MemberVersion { name: name.into(), version: v(version), inherits };
        let ok = [member("beacon", "1.0.0", true)];
        assert_eq!(workspace_version(Some("1.0.0"), &ok).unwrap(), v("1.0.0"));
        let pinned = [member("beacon", "1.0.0", true), member("probe", "1.0.0", false)];
        let error = workspace_version(Some("1.0.0"), &pinned).unwrap_err().to_string();
        assert!(error.contains("crate `probe`") && error.contains("version.workspace = true"), "{error}");
        let differs = [member("beacon", "0.9.0", true)];
        assert!(workspace_version(Some("1.0.0"), &differs)
            .unwrap_err()
            .to_string()
            .contains("`beacon` has version 0.9.0"));
        assert!(workspace_version(None, &ok).unwrap_err().to_string().contains("[workspace.package]"));
        assert!(workspace_version(Some("one"), &ok).is_err());
    }
}
