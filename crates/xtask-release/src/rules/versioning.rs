//! Versioning modes and release tag patterns, pure: which version each image releases and which
//! git tag names that release.
//!
//! - *lockstep*: `[workspace.package] version`, inherited by every shipped member, is the one
//!   version of every image; release tags `v{version}` by default.
//! - *independent*: each image's version is its own package's version; other members keep theirs.
//!   Release tags `v{version}` when one package is released from the repository,
//!   `{package}-v{version}` when several are (release-plz / cargo-dist style).
//!
//! Absent `versioning` in `[workspace.metadata.xtask]`, the mode is detected: lockstep when the
//! workspace declares a version and every shipped member inherits it, else independent. Retraction
//! tags are `retracted/<release tag>`. Floating tags of a package are decided from that package's
//! own release tags only.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::rules::version::{self, MemberVersion};

/// Where the two keys live, for error messages.
const KEY: &str = "workspace.metadata.xtask";

/// How the images' versions relate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One workspace version for every image.
    #[default]
    Lockstep,
    /// Each image at its own package's version.
    Independent,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lockstep => "lockstep",
            Mode::Independent => "independent",
        }
    }
}

/// The shape of release tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagPattern {
    /// `1.2.3`
    #[serde(rename = "{version}")]
    Bare,
    /// `v1.2.3`
    #[default]
    #[serde(rename = "v{version}")]
    V,
    /// `beacon-v1.2.3`
    #[serde(rename = "{package}-v{version}")]
    PackageV,
    /// `beacon-1.2.3`
    #[serde(rename = "{package}-{version}")]
    PackageDash,
}

impl TagPattern {
    pub fn as_str(self) -> &'static str {
        match self {
            TagPattern::Bare => "{version}",
            TagPattern::V => "v{version}",
            TagPattern::PackageV => "{package}-v{version}",
            TagPattern::PackageDash => "{package}-{version}",
        }
    }

    /// Whether the tag names the package.
    pub fn names_package(self) -> bool {
        matches!(self, TagPattern::PackageV | TagPattern::PackageDash)
    }

    /// The release tag of `package` at `version`.
    pub fn tag(self, package: &str, version: &Version) -> String {
        match self {
            TagPattern::Bare => version.to_string(),
            TagPattern::V => format!("v{version}"),
            TagPattern::PackageV => format!("{package}-v{version}"),
            TagPattern::PackageDash => format!("{package}-{version}"),
        }
    }

    /// The version `tag` names as a release tag of `package`; `None` for any other tag.
    pub fn version_of(self, package: &str, tag: &str) -> Option<Version> {
        let rest = match self {
            TagPattern::Bare => Some(tag),
            TagPattern::V => tag.strip_prefix('v'),
            TagPattern::PackageV => tag.strip_prefix(package).and_then(|rest| rest.strip_prefix("-v")),
            TagPattern::PackageDash => tag.strip_prefix(package).and_then(|rest| rest.strip_prefix('-')),
        }?;
        Version::parse(rest).ok()
    }
}

/// `versioning` and `tag-pattern` as configured (absent: detected / defaulted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub mode: Option<Mode>,
    pub tag_pattern: Option<TagPattern>,
}

/// The decided versioning of a workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versioning {
    pub mode: Mode,
    pub tag_pattern: TagPattern,
    /// Independent mode: each released package's version (empty in lockstep).
    pub packages: BTreeMap<String, Version>,
}

impl Versioning {
    /// The version `package` releases: its own in independent mode, `workspace` in lockstep.
    pub fn version_of<'a>(&'a self, package: &str, workspace: &'a Version) -> &'a Version {
        match self.mode {
            Mode::Lockstep => workspace,
            Mode::Independent => self.packages.get(package).unwrap_or(workspace),
        }
    }

    /// The release tag of `package` at `version`.
    pub fn release_tag(&self, package: &str, version: &Version) -> String {
        self.tag_pattern.tag(package, version)
    }

    /// The tag that marks that release retracted.
    pub fn retraction_tag(&self, package: &str, version: &Version) -> String {
        format!("retracted/{}", self.release_tag(package, version))
    }

    /// The versions of `package` among the repository's `tags` (release tags of other packages,
    /// and other tags, are ignored).
    pub fn released(&self, package: &str, tags: &[String]) -> Vec<Version> {
        tags.iter().filter_map(|tag| self.tag_pattern.version_of(package, tag)).collect()
    }

    /// The versions of `package` withdrawn by `retracted/<release tag>` tags.
    pub fn retracted(&self, package: &str, tags: &[String]) -> Vec<Version> {
        tags.iter()
            .filter_map(|tag| tag.strip_prefix("retracted/"))
            .filter_map(|tag| self.tag_pattern.version_of(package, tag))
            .collect()
    }

    /// The release tag `tag` as (package, version), among `packages`; `None` for any other tag.
    /// Without a package in the pattern, a tag names every package.
    pub fn parse_tag<'p>(&self, packages: &'p [String], tag: &str) -> Option<(Option<&'p str>, Version)> {
        if !self.tag_pattern.names_package() {
            return self.tag_pattern.version_of("", tag).map(|version| (None, version));
        }
        // The longest package name first: `a-b-v1.0.0` is package `a-b`, not `a`'s `b-v1.0.0`.
        let mut candidates: Vec<&String> = packages.iter().collect();
        candidates.sort_by_key(|name| std::cmp::Reverse(name.len()));
        candidates
            .into_iter()
            .find_map(|package| Some((Some(package.as_str()), self.tag_pattern.version_of(package, tag)?)))
    }
}

/// Decides the mode, the tag pattern and each released package's version. `members` are the shipped
/// workspace members (all but the xtask), `images` each configured image's name and package.
pub fn decide(
    settings: Settings,
    declared: Option<&str>,
    members: &[MemberVersion],
    images: &[(String, String)],
) -> Result<(Versioning, Option<Version>)> {
    for (image, package) in images {
        if !members.iter().any(|member| member.name == *package) {
            let names: Vec<&str> = members.iter().map(|member| member.name.as_str()).collect();
            bail!(
                "{KEY}.images.{image}.package: `{package}` is not a member of the workspace (members: {names:?}): \
                 name a workspace crate, or add it to [workspace] members"
            );
        }
    }
    let released: BTreeSet<&str> = images.iter().map(|(_, package)| package.as_str()).collect();
    // Lockstep when the workspace has a version and every released package inherits it; a library
    // member with its own version then gets today's error (with the way out).
    let shipped_inherit =
        members.iter().filter(|member| released.contains(member.name.as_str())).all(|member| member.inherits);
    let detected = if declared.is_some() && shipped_inherit { Mode::Lockstep } else { Mode::Independent };
    let mode = settings.mode.unwrap_or(detected);
    let tag_pattern = match (settings.tag_pattern, mode) {
        (Some(pattern), Mode::Lockstep) if pattern.names_package() => bail!(
            "{KEY}.tag-pattern: {:?} names a package, but versioning is lockstep (one version, one tag for \
             every image): use \"v{{version}}\" or \"{{version}}\", or set versioning = \"independent\"",
            pattern.as_str()
        ),
        (Some(pattern), Mode::Independent) if released.len() > 1 && !pattern.names_package() => bail!(
            "{KEY}.tag-pattern: {:?} names no package, but {} packages are released independently \
             ({released:?}), so one tag could not say which: use \"{{package}}-v{{version}}\" or \
             \"{{package}}-{{version}}\"",
            pattern.as_str(),
            released.len()
        ),
        (Some(pattern), _) => pattern,
        (None, Mode::Independent) if released.len() > 1 => TagPattern::PackageV,
        (None, _) => TagPattern::V,
    };
    match mode {
        Mode::Lockstep => {
            let version = version::workspace_version(declared, members).map_err(|error| {
                let why = match settings.mode {
                    Some(_) => format!("{KEY}.versioning is \"lockstep\""),
                    None => {
                        "versioning is lockstep (detected: the released crates inherit the workspace version)".into()
                    }
                };
                anyhow::anyhow!(
                    "{error} ({why}; for crates that keep their own versions, set {KEY}.versioning = \"independent\")"
                )
            })?;
            Ok((Versioning { mode, tag_pattern, packages: BTreeMap::new() }, Some(version)))
        }
        Mode::Independent => {
            let packages = members
                .iter()
                .filter(|member| released.contains(member.name.as_str()))
                .map(|member| (member.name.clone(), member.version.clone()))
                .collect();
            let declared = declared.and_then(|text| Version::parse(text).ok());
            Ok((Versioning { mode, tag_pattern, packages }, declared))
        }
    }
}

#[cfg(test)]
#[path = "versioning_tests.rs"]
mod tests;
