//! Retraction decisions, pure: what withdrawing a released version does, decided before the
//! registry is touched.
//!
//! A retraction never deletes the version (versions are immutable): it moves every floating tag
//! that points at the retracted digest to the highest live (released, not retracted) stable release
//! it covers — the same "highest release covering a tag" the release's tag rules use — deletes a
//! floating tag no live release is left under, and attests the retraction on the version's index.
//! A tag that no longer points at the retracted digest is left alone, so an interrupted retraction
//! re-runs to completion. `commands::retract` gathers the facts, `steps::retract` acts on them.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::{bail, Context, Result};
use semver::Version;
use serde::Serialize;

use crate::rules::plan::{self, ImagePlan, Inputs, Plan};
use crate::rules::tags::{self, Floating};
use crate::rules::versioning::Versioning;

/// Appended to the image's source repository to make the retraction's predicate type.
const PREDICATE_PATH: &str = "retraction/v1";
/// The OCI label naming the image's source repository.
const SOURCE_LABEL: &str = "org.opencontainers.image.source";

/// The version to retract, written `X.Y.Z` or `vX.Y.Z`.
pub fn parse_version(text: &str) -> Result<Version> {
    Version::parse(text.strip_prefix('v').unwrap_or(text))
        .with_context(|| format!("{text:?} is not a version: pass the released version, e.g. 1.2.3"))
}

/// Refuses a version that was never released: without its `vX.Y.Z` tag there is nothing to retract.
#[cfg(test)]
pub fn check_released(version: &Version, release_tags: &[String]) -> Result<()> {
    check_released_of((&Versioning::default(), ""), version, release_tags)
}

/// `check_released` for `package`'s release tags (independent versioning; `""` in lockstep).
pub fn check_released_of(of: (&Versioning, &str), version: &Version, release_tags: &[String]) -> Result<()> {
    let (versioning, package) = of;
    if !versioning.released(package, release_tags).contains(version) {
        bail!(
            "{version} was never released: there is no git tag {} (fetch the tags with `git fetch --tags`, \
             or check the version)",
            versioning.release_tag(package, version)
        );
    }
    Ok(())
}

/// The reason of record: `--reason`, or the retraction tag's message when the tag exists (the
/// workflow case). Both given must agree; neither is an error.
#[cfg(test)]
pub fn reason(version: &Version, flag: Option<&str>, tag_message: Option<&str>) -> Result<String> {
    reason_for(&crate::rules::version::retraction_tag(version), version, flag, tag_message)
}

/// `reason` where the retraction tag is `tag` (`retracted/<release tag>`).
pub fn reason_for(tag: &str, version: &Version, flag: Option<&str>, tag_message: Option<&str>) -> Result<String> {
    let (flag, message) = (flag.map(str::trim), tag_message.map(str::trim).filter(|m| !m.is_empty()));
    match (flag, message) {
        (Some(""), _) => bail!("--reason is empty: say why {version} is withdrawn"),
        (Some(flag), Some(message)) if flag != message => bail!(
            "--reason {flag:?} differs from the message of the existing tag {tag} ({message:?}): \
             omit --reason to use the tag's"
        ),
        (Some(reason), _) | (None, Some(reason)) => Ok(reason.to_owned()),
        (None, None) => bail!(
            "no reason given: pass --reason TEXT (it becomes the message of tag {tag}), or create the \
             annotated tag first (`git tag -a {tag} -m TEXT`)"
        ),
    }
}

/// The release plan of `version` as its tag release made it: the repositories (after
/// `--registry`), the versioned references and the signing settings a retraction acts on. What is
/// checked out does not matter: only the configuration and the release tags do.
#[cfg(test)]
pub fn release_plan(inputs: &Inputs, version: &Version) -> Result<Plan> {
    release_plan_of(inputs, "", version)
}

/// `release_plan` of `package`'s release (independent versioning: that package's images only).
pub fn release_plan_of(inputs: &Inputs, package: &str, version: &Version) -> Result<Plan> {
    let mut inputs = inputs.clone();
    inputs.version = version.clone();
    if let Some(released) = inputs.versioning.packages.get_mut(package) {
        *released = version.clone();
    }
    let versioning = &inputs.versioning;
    let retraction = versioning.retraction_tag(package, version);
    inputs.ref_override = Some(format!("refs/tags/{}", versioning.release_tag(package, version)));
    inputs.git.tags_at_head.clear();
    inputs.git.retracted_tags.retain(|tag| *tag != retraction);
    plan::compute(&inputs)
}

/// The in-toto predicate type of `image`'s retraction attestations: `<source repository>/retraction/v1`,
/// so consumers derive it from the image's own `org.opencontainers.image.source` label.
pub fn predicate_type(image: &ImagePlan) -> Result<String> {
    let source = image.labels.get(SOURCE_LABEL).map(|s| s.trim_end_matches('/').trim_end_matches(".git"));
    match source {
        Some(source) if source.starts_with("https://") => Ok(format!("{source}/{PREDICATE_PATH}")),
        _ => bail!(
            "image {} has no https source repository (label {SOURCE_LABEL}), which names its retraction \
             attestations: set `repository` in [workspace.package] or crate {}'s [package]",
            image.name,
            image.package
        ),
    }
}

/// What the retraction attestation says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Predicate {
    pub version: String,
    pub reason: String,
    /// When the retraction tag was made, RFC 3339 UTC.
    pub retracted_at: String,
    /// `refs/tags/retracted/vX.Y.Z`.
    pub git_ref: String,
    /// The commit that tag points at.
    pub git_sha: String,
    /// The withdrawn reference and its index digest.
    pub image: String,
    pub digest: String,
}

/// What a floating tag holds now, as the registry says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Current {
    Missing,
    At(String),
    /// A placeholder left by a tag deletion that was interrupted (see `tools::untag`).
    Placeholder(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Point the tag at this live release.
    Move(Version),
    /// No live release is left under the tag: it disappears.
    Delete,
    /// It does not point at the retracted version (any more): left alone.
    Keep,
}

/// One floating tag of the retracted version, what it holds and what happens to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub tag: String,
    pub now: Current,
    pub action: Action,
}

/// The changes to the floating tags `version` falls under (`X.Y`, `X`, `latest`; none for a
/// pre-release) in one repository, given the released versions, the retracted ones (this one
/// counts as retracted), the retracted index digest and what each tag holds now.
pub fn changes(
    version: &Version,
    released: &[Version],
    retracted: &[Version],
    retracted_digest: &str,
    current: &BTreeMap<String, Current>,
) -> Vec<Change> {
    let live: Vec<Version> = released.iter().filter(|v| *v != version && !retracted.contains(v)).cloned().collect();
    tags::floating_of(version)
        .into_iter()
        .map(|floating: Floating| {
            let tag = floating.name();
            let now = current.get(&tag).cloned().unwrap_or(Current::Missing);
            let held = match &now {
                Current::At(digest) => digest == retracted_digest,
                Current::Placeholder(_) => true,
                Current::Missing => false,
            };
            let action = if held {
                tags::highest_covered(floating, &live).map_or(Action::Delete, |highest| Action::Move(highest.clone()))
            } else {
                Action::Keep
            };
            Change { tag, now, action }
        })
        .collect()
}

/// The released and retracted versions of `package` (`""` in lockstep): those its release tags
/// (`v1.2.3`, `tool-v1.2.3`) and retraction tags (`retracted/<release tag>`) name.
pub fn versions_of(
    of: (&Versioning, &str),
    release_tags: &[String],
    retracted_tags: &[String],
) -> (Vec<Version>, Vec<Version>) {
    let (versioning, package) = of;
    let released = versioning.released(package, release_tags);
    let retracted = versioning.retracted(package, retracted_tags);
    (released, retracted)
}

/// One repository's retraction: the withdrawn digest, the tag changes, the digest each move
/// targets (read back from that release's versioned tag) and whether the retraction attestation
/// already verifies (`None`: signing is off).
#[derive(Clone, Debug, Serialize)]
pub struct RepositoryPlan {
    pub image: String,
    pub repository: String,
    pub digest: String,
    pub changes: Vec<Change>,
    pub targets: BTreeMap<Version, String>,
    pub attested: Option<bool>,
}

impl RepositoryPlan {
    /// Nothing left to do: no tag to move or delete, and the attestation (if signing) is there.
    pub fn is_done(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Keep) && self.attested != Some(false)
    }
}

/// The retraction as a readable listing: per image and repository, each floating tag, where it
/// points now and where it goes.
pub fn render(version: &Version, reason: &str, plans: &[RepositoryPlan]) -> String {
    let mut out = format!("retract {version}: {reason}\n");
    for plan in plans {
        let _ = writeln!(out, "\nimage {} in {}", plan.image, plan.repository);
        let attestation = match plan.attested {
            Some(true) => "retraction attestation already attached",
            Some(false) => "gets a signed retraction attestation",
            None => "not attested (signing is off)",
        };
        let _ = writeln!(out, "  {version:<8} {}  stays (versions are immutable); {attestation}", plan.digest);
        for change in &plan.changes {
            let now = match &change.now {
                Current::Missing => "(absent)".to_owned(),
                Current::At(digest) if *digest == plan.digest => format!("{digest} ({version})"),
                Current::At(digest) => digest.clone(),
                Current::Placeholder(digest) => format!("{digest} (placeholder of an interrupted deletion)"),
            };
            let next = match &change.action {
                Action::Move(to) => {
                    format!("-> {to} {}", plan.targets.get(to).map(String::as_str).unwrap_or("(digest unknown)"))
                }
                Action::Delete => "-> deleted (no live release left under it)".to_owned(),
                Action::Keep => "unchanged".to_owned(),
            };
            let _ = writeln!(out, "  {:<8} {now}  {next}", change.tag);
        }
    }
    out
}

#[cfg(test)]
#[path = "retract_tests.rs"]
mod tests;
