//! The tag rules, pure: which Docker tags a build pushes, given its context, the version and the
//! versions already released.
//!
//! - stable `X.Y.Z` → versioned `X.Y.Z`; floating `X.Y`, `X` (not for `0.x`) and `latest`, each
//!   only if this is the highest released stable version that tag covers, so a hotfix of an old
//!   line never moves `latest` (or its major tag) backwards; a retracted version (tag
//!   `retracted/vX.Y.Z`) counts as never released, and releasing it again is refused;
//! - pre-release `X.Y.Z-rc.N` → only `X.Y.Z-rc.N`;
//! - edge branch → versioned `edge` and `sha-<7 hex>`; pull requests and other branches → nothing;
//! - build metadata (`+…`) can't be a tag: refused; every tag is checked against the tag grammar;
//! - a `vX.Y.Z` tag (at HEAD or in the ref) must name the workspace version.

use anyhow::{bail, Result};
use semver::Version;

use crate::rules::context::Trigger;
use crate::rules::reference::validate_tag;
use crate::rules::version::{parse_release_tag, parse_retraction_tag, retraction_tag};

/// The tag a mutable "latest release" pointer uses.
const LATEST: &str = "latest";
/// The tag of the newest edge-branch build.
const EDGE: &str = "edge";

/// The tags one build pushes to each repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags {
    /// Tags that name this build only (`1.2.3`, `sha-0123abc`): pushed first, before verification.
    pub versioned: Vec<String>,
    /// Tags that move between releases (`1.2`, `1`, `latest`): pushed last, after signing.
    pub floating: Vec<String>,
}

/// The first 7 hex digits of a commit sha, as in `sha-0123abc`.
pub fn short_sha(sha: &str) -> Result<&str> {
    match sha.get(..7) {
        Some(short) if short.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(short),
        _ => bail!("{sha:?} is not a git commit sha: check `git rev-parse HEAD`"),
    }
}

/// The tags a build in `trigger` pushes; `release_tags` are the repository's `v*` tags,
/// `retracted_tags` its `retracted/v*` tags.
pub fn tags_for(
    trigger: &Trigger,
    version: &Version,
    release_tags: &[String],
    retracted_tags: &[String],
    sha: &str,
) -> Result<Tags> {
    tags_for_live(trigger, version, &live_releases(release_tags, retracted_tags), sha)
}

/// `tags_for` given the live releases (released, not retracted) of the image's package, as decided
/// per package in independent versioning.
pub fn tags_for_live(trigger: &Trigger, version: &Version, live: &[Version], sha: &str) -> Result<Tags> {
    refuse_build_metadata(version)?;
    let tags = match trigger {
        Trigger::Local | Trigger::Tag(_) => release(version, live),
        Trigger::Edge => {
            Tags { versioned: vec![EDGE.to_owned(), format!("sha-{}", short_sha(sha)?)], floating: Vec::new() }
        }
        Trigger::PullRequest { .. } | Trigger::Branch => Tags::default(),
    };
    for tag in tags.versioned.iter().chain(&tags.floating) {
        validate_tag(tag)?;
    }
    Ok(tags)
}

/// The tags of a release of `version`, given the `released` versions (from git tags; pre-releases
/// and this version itself may be among them).
pub fn release(version: &Version, released: &[Version]) -> Tags {
    let floating = floating_of(version)
        .into_iter()
        .filter(|&tag| highest_covered(tag, released).is_none_or(|highest| highest <= version))
        .map(Floating::name)
        .collect();
    Tags { versioned: vec![version.to_string()], floating }
}

/// A floating tag: a pointer that moves to the highest stable release it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Floating {
    /// `X.Y`: the line's highest patch release.
    Minor(u64, u64),
    /// `X` (never for `0.x`): the major line's highest release.
    Major(u64),
    /// `latest`: the highest release.
    Latest,
}

impl Floating {
    pub fn name(self) -> String {
        match self {
            Floating::Minor(major, minor) => format!("{major}.{minor}"),
            Floating::Major(major) => major.to_string(),
            Floating::Latest => LATEST.to_owned(),
        }
    }

    /// Whether this tag may point at `version`: stable versions of its line only.
    pub fn covers(self, version: &Version) -> bool {
        let stable = version.pre.is_empty() && version.build.is_empty();
        stable
            && match self {
                Floating::Minor(major, minor) => version.major == major && version.minor == minor,
                Floating::Major(major) => version.major == major,
                Floating::Latest => true,
            }
    }
}

/// The floating tags `version` falls under: `X.Y`, `X` (not for `0.x`) and `latest`; none for a
/// pre-release.
pub fn floating_of(version: &Version) -> Vec<Floating> {
    if !version.pre.is_empty() {
        return Vec::new();
    }
    let mut tags = vec![Floating::Minor(version.major, version.minor)];
    if version.major > 0 {
        tags.push(Floating::Major(version.major));
    }
    tags.push(Floating::Latest);
    tags
}

/// The highest stable version among `released` that `tag` covers.
pub fn highest_covered(tag: Floating, released: &[Version]) -> Option<&Version> {
    released.iter().filter(|v| tag.covers(v)).max()
}

/// The released versions the floating tags may point at: every `v*` tag's version except those a
/// `retracted/v*` tag withdraws (a retracted version counts as never released).
pub fn live_releases(release_tags: &[String], retracted_tags: &[String]) -> Vec<Version> {
    let retracted: Vec<Version> = retracted_tags.iter().filter_map(|tag| parse_retraction_tag(tag)).collect();
    release_tags.iter().filter_map(|tag| parse_release_tag(tag)).filter(|v| !retracted.contains(v)).collect()
}

/// Refuses to release a retracted version again: versions are immutable, and a retraction is final.
pub fn check_not_retracted(version: &Version, trigger: &Trigger, retracted_tags: &[String]) -> Result<()> {
    check_not_retracted_as(version, trigger, &retraction_tag(version), retracted_tags)
}

/// `check_not_retracted` where the retraction tag is `tag` (`retracted/<release tag>` of a package).
pub fn check_not_retracted_as(
    version: &Version,
    trigger: &Trigger,
    tag: &str,
    retracted_tags: &[String],
) -> Result<()> {
    let releases = matches!(trigger, Trigger::Local | Trigger::Tag(_));
    if releases && retracted_tags.iter().any(|retracted| retracted == tag) {
        bail!(
            "{version} was retracted (git tag {tag}) and is never released again: release a new version \
             instead (`cargo xtask version bump patch --commit --tag`)"
        );
    }
    Ok(())
}

/// The tag a build is known by locally (loaded into docker, smoke-tested, scanned), also when it
/// pushes nothing: the version for releases, `pr-<n>` for pull requests, `sha-<7 hex>` otherwise.
pub fn local_tag(trigger: &Trigger, version: &Version, sha: &str) -> Result<String> {
    refuse_build_metadata(version)?;
    let tag = match trigger {
        Trigger::Local | Trigger::Tag(_) => version.to_string(),
        Trigger::PullRequest { number: Some(number) } => format!("pr-{number}"),
        Trigger::PullRequest { number: None } | Trigger::Branch | Trigger::Edge => {
            format!("sha-{}", short_sha(sha)?)
        }
    };
    validate_tag(&tag)?;
    Ok(tag)
}

/// Refuses a release tag (from the ref, or on HEAD) that names another version than the workspace's.
pub fn check_release_tags(version: &Version, trigger: &Trigger, tags_at_head: &[String]) -> Result<()> {
    if let Trigger::Tag(tagged) = trigger {
        if tagged != version {
            bail!(
                "the ref names release v{tagged} but the workspace version is {version}: \
                 tag the commit that sets version {tagged} (`cargo xtask version set {tagged} --commit --tag`)"
            );
        }
    }
    for tag in tags_at_head {
        if parse_release_tag(tag).is_some_and(|tagged| tagged != *version) {
            bail!(
                "HEAD carries tag {tag} but the workspace version is {version}: a release tag must \
                 name the version of its commit; delete the tag (`git tag -d {tag}`) or fix the version"
            );
        }
    }
    Ok(())
}

fn refuse_build_metadata(version: &Version) -> Result<()> {
    if !version.build.is_empty() {
        bail!(
            "the workspace version {version} carries build metadata `+{}`, which a Docker tag can't \
             hold: remove it with `cargo xtask version set`",
            version.build
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123abcdef0123abcdef0123abcdef0123abcdef";

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| tag.to_string()).collect()
    }

    #[test]
    fn release_tag_rules() {
        let table: [(&str, &[&str], &[&str]); 13] = [
            // docker/metadata-action's documented cases
            ("1.2.3", &[], &["1.2", "1", "latest"]),
            ("2.0.8-beta.67", &[], &[]),
            // 0.x: no bare `0`
            ("0.4.2", &["v0.4.1", "v0.3.0"], &["0.4", "latest"]),
            ("0.4.2", &["v0.5.0"], &["0.4"]),
            // the highest release of each line moves its tags; rc tags don't count as released
            ("1.2.3", &["v1.2.2", "v1.1.0", "v1.3.0-rc.1"], &["1.2", "1", "latest"]),
            ("1.2.3", &["v1.2.3"], &["1.2", "1", "latest"]),
            ("2.0.0", &["v1.9.9", "v2.0.0-rc.2"], &["2.0", "2", "latest"]),
            // hotfixes of older lines
            ("1.9.1", &["v2.0.1", "v1.9.0"], &["1.9", "1"]),
            ("1.0.1", &["v1.1.0", "v1.0.0"], &["1.0"]),
            ("1.0.1", &["v1.0.2"], &[]),
            ("1.0.1", &["v2.0.0", "v1.0.0"], &["1.0", "1"]),
            // pre-releases: only their own tag, whatever else exists
            ("1.1.0-rc.1", &["v1.0.0"], &[]),
            ("3.0.0-rc.1", &[], &[]),
        ];
        for (version, released, floating) in table {
            let released = tags(released);
            let result = tags_for(&Trigger::Local, &v(version), &released, &[], SHA).unwrap();
            assert_eq!(result.versioned, [version], "{version} after {released:?}");
            assert_eq!(result.floating, tags(floating), "{version} after {released:?}");
            let tagged = tags_for(&Trigger::Tag(v(version)), &v(version), &released, &[], SHA).unwrap();
            assert_eq!(tagged, result);
        }
    }

    #[test]
    fn retracted_versions_count_as_never_released() {
        // (version, release tags, retraction tags, floating tags pushed)
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let table: [Case; 6] = [
            // 1.2.3 was retracted: 1.2.4 moves 1.2, 1 and latest as if 1.2.3 never existed
            ("1.2.4", &["v1.2.3", "v1.2.2"], &["retracted/v1.2.3"], &["1.2", "1", "latest"]),
            // a retracted 2.0.0 no longer holds latest or 2 against a 1.x hotfix
            ("1.9.1", &["v2.0.0", "v1.9.0"], &["retracted/v2.0.0"], &["1.9", "1", "latest"]),
            // a retracted higher patch no longer holds its line
            ("1.0.1", &["v1.0.2", "v1.1.0"], &["retracted/v1.0.2"], &["1.0"]),
            // only the retracted version stops counting; a live higher release still does
            ("1.0.1", &["v1.0.2", "v1.0.3"], &["retracted/v1.0.2"], &[]),
            // a retracted pre-release changes nothing
            ("1.1.0", &["v1.1.0-rc.1", "v1.0.0"], &["retracted/v1.1.0-rc.1"], &["1.1", "1", "latest"]),
            // other tags under retracted/ are ignored
            ("0.4.2", &["v0.5.0"], &["retracted/0.5.0", "retracted/latest"], &["0.4"]),
        ];
        for (version, released, retracted, floating) in table {
            let (released, retracted) = (tags(released), tags(retracted));
            let result = tags_for(&Trigger::Local, &v(version), &released, &retracted, SHA).unwrap();
            assert_eq!(result.floating, tags(floating), "{version} after {released:?}, retracted {retracted:?}");
        }
    }

    #[test]
    fn releasing_a_retracted_version_again_is_refused() {
        let retracted = tags(&["retracted/v1.2.3"]);
        for trigger in [Trigger::Local, Trigger::Tag(v("1.2.3"))] {
            let error = check_not_retracted(&v("1.2.3"), &trigger, &retracted).unwrap_err().to_string();
            assert!(error.contains("retracted/v1.2.3") && error.contains("version bump patch"), "{error}");
        }
        assert!(check_not_retracted(&v("1.2.4"), &Trigger::Local, &retracted).is_ok());
        // edge and branch builds of the same workspace version still build (they release nothing)
        assert!(check_not_retracted(&v("1.2.3"), &Trigger::Edge, &retracted).is_ok());
    }

    #[test]
    fn edge_and_pull_request_rules() {
        let version = v("1.2.3");
        let edge = tags_for(&Trigger::Edge, &version, &[], &[], SHA).unwrap();
        assert_eq!((edge.versioned, edge.floating), (tags(&["edge", "sha-0123abc"]), vec![]));
        for trigger in [Trigger::PullRequest { number: Some(7) }, Trigger::Branch] {
            assert_eq!(tags_for(&trigger, &version, &[], &[], SHA).unwrap(), Tags::default());
        }
        let local = [
            (Trigger::Local, "1.2.3"),
            (Trigger::Tag(v("1.2.3")), "1.2.3"),
            (Trigger::Edge, "sha-0123abc"),
            (Trigger::Branch, "sha-0123abc"),
            (Trigger::PullRequest { number: Some(7) }, "pr-7"),
            (Trigger::PullRequest { number: None }, "sha-0123abc"),
        ];
        for (trigger, expected) in local {
            assert_eq!(local_tag(&trigger, &version, SHA).unwrap(), expected, "{trigger:?}");
        }
        assert!(tags_for(&Trigger::Edge, &version, &[], &[], "xyz").is_err());
    }

    #[test]
    fn build_metadata_is_refused() {
        let version = v("1.2.3+build.5");
        for trigger in [Trigger::Local, Trigger::Edge, Trigger::Branch] {
            let error = tags_for(&trigger, &version, &[], &[], SHA).unwrap_err().to_string();
            assert!(error.contains("build metadata `+build.5`"), "{error}");
        }
        assert!(local_tag(&Trigger::Local, &version, SHA).is_err());
    }

    #[test]
    fn release_tags_must_name_the_workspace_version() {
        let version = v("1.2.3");
        assert!(check_release_tags(&version, &Trigger::Tag(v("1.2.3")), &tags(&["v1.2.3", "other"])).is_ok());
        let error = check_release_tags(&version, &Trigger::Tag(v("1.2.4")), &[]).unwrap_err().to_string();
        assert!(error.contains("v1.2.4") && error.contains("1.2.3"), "{error}");
        let error = check_release_tags(&version, &Trigger::Edge, &tags(&["v1.2.2"])).unwrap_err().to_string();
        assert!(error.contains("v1.2.2") && error.contains("1.2.3"), "{error}");
    }
}
