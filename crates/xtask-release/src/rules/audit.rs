//! The audit of live tags, pure: which tags are live (every released, non-retracted version and
//! the floating tags over them), which release a version's notes compare with (the one the
//! floating-tag rules would: the highest live stable release below it, in its minor line first,
//! then its major line, then any), and how each finding of today's scan stands: new since the
//! release's own scan or known then, and fixed in a newer live release or not. Rendering (table,
//! Markdown, SARIF) is in `rules::audit_report`.

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::rules::policy::Listed;
use crate::rules::tags;

/// Where a platform's SBOM came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SbomSource {
    /// The release's own CycloneDX attestation, its signature verified.
    Attestation,
    /// No attestation: the image was scanned by digest instead.
    ScannedByDigest,
}

/// A finding of today's scan of one live tag, and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audited {
    #[serde(flatten)]
    pub listed: Listed,
    /// Whether the release's own scan had it: `None` when that scan's record is not at hand.
    pub new_since_release: Option<bool>,
    /// The lowest newer live release that does not have it (it ships the fix).
    pub fixed_in_release: Option<String>,
}

/// One live tag of one repository, audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagAudit {
    pub image: String,
    pub repository: String,
    pub tag: String,
    /// The release it points at (a floating tag: the versioned tag with its digest); `None` when
    /// no live versioned tag has that digest.
    pub version: Option<String>,
    pub digest: String,
    /// platform → where its SBOM came from
    pub sboms: Vec<(String, SbomSource)>,
    /// Attestations on its platforms that did not verify with the release's key or identity:
    /// ignored, and named here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    pub findings: Vec<Audited>,
    /// No finding the policy names.
    pub passed: bool,
}

/// The tags live in each repository: every live version's own tag, then the floating tags over
/// them (`X.Y`, `X`, `latest`), each once, in that order.
pub fn live_tags(live: &[Version]) -> Vec<String> {
    let mut versions = live.to_vec();
    versions.sort();
    let mut tags: Vec<String> = versions.iter().rev().map(Version::to_string).collect();
    for version in versions.iter().rev() {
        for floating in tags::floating_of(version) {
            if !tags.contains(&floating.name()) {
                tags.push(floating.name());
            }
        }
    }
    tags
}

/// The release `version`'s notes compare with: the highest live stable release below it that its
/// `X.Y` line covers, else its `X` line, else any (`None` for the first release).
pub fn previous(version: &Version, live: &[Version]) -> Option<Version> {
    let earlier: Vec<Version> = live.iter().filter(|v| *v < version).cloned().collect();
    tags::floating_of(&Version { pre: semver::Prerelease::EMPTY, ..version.clone() })
        .into_iter()
        .find_map(|tag| tags::highest_covered(tag, &earlier).cloned())
}

/// The version whose versioned tag has `digest`, among `(version, digest)` pairs.
pub fn version_at<'a>(digest: &str, versioned: &'a [(Version, String)]) -> Option<&'a Version> {
    versioned.iter().filter(|(_, d)| d == digest).map(|(v, _)| v).max()
}

/// A finding's identity across releases: its advisory ID and package.
pub type Key = (String, Option<String>);

/// A live release and what today's scan found on it.
pub type Found = (Version, Vec<Key>);

/// Classifies today's findings on `version`: `at_release` the IDs its release's scan reported
/// (listed or accepted; `None` without its record), `newer` every newer live release with the
/// `(ID, package)` pairs today's scan found on it.
pub fn classify(
    findings: Vec<Listed>,
    at_release: Option<&[String]>,
    version: Option<&Version>,
    newer: &[Found],
) -> Vec<Audited> {
    findings
        .into_iter()
        .map(|listed| {
            let key = (listed.finding.id.clone(), listed.finding.package.clone());
            let fixed_in_release = version.and_then(|version| {
                let mut candidates: Vec<&Found> = newer.iter().filter(|(v, _)| v > version).collect();
                candidates.sort_by(|a, b| a.0.cmp(&b.0));
                candidates.into_iter().find(|(_, found)| !found.contains(&key)).map(|(v, _)| v.to_string())
            });
            let new_since_release = at_release.map(|ids| !ids.contains(&listed.finding.id));
            Audited { listed, new_since_release, fixed_in_release }
        })
        .collect()
}

/// The stored attestations of `predicate_type` (`(id, predicate type)` each, verified or not; an id
/// names one signed envelope) that are not among the `verified` ones: signed by another key or
/// identity, so ignored.
pub fn unverified<'a>(verified: &[&str], stored: &[(&'a str, &str)], predicate_type: &str) -> Vec<&'a str> {
    let mut ignored: Vec<&str> = stored
        .iter()
        .filter(|(id, kind)| *kind == predicate_type && !verified.contains(id))
        .map(|(id, _)| *id)
        .collect();
    ignored.sort_unstable();
    ignored.dedup();
    ignored
}

/// Why a floating tag cannot be audited as a release: it is on a digest no live versioned tag has
/// (`versioned`; `live_tags` lists the versions first, so they are all read by then), so no release
/// of this repository is what it serves. `None` for a versioned tag, and for a floating one over a
/// live release.
pub fn unknown_digest(reference: &str, digest: &str, versioned: &[(Version, String)]) -> Option<String> {
    let tag = reference.rsplit_once(':').map_or(reference, |(_, tag)| tag);
    if Version::parse(tag).is_ok() || versioned.iter().any(|(_, d)| d == digest) {
        return None;
    }
    Some(format!(
        "{reference} is on {digest}, which no live release has (no live version's tag points at it): it was \
         moved by hand, or left on a retracted release. Do not trust this tag: release a version (which moves \
         it), or move it back to a live release"
    ))
}

/// Whether every tag passes the policy.
pub fn passed(tags: &[TagAudit]) -> bool {
    tags.iter().all(|t| t.passed)
}
