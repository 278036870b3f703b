//! The publish decisions, pure: what to do with a versioned tag that may already exist, and whether
//! what the registry serves is exactly what was built, scanned and smoke-tested.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// An image index as the registry serves it (read back by `tools::registry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub digest: String,
    /// platform → manifest digest
    pub platforms: BTreeMap<String, String>,
    /// platform → `org.opencontainers.image.version` label
    pub version_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Push,
    /// The tag already points at the built digest: a resumed release skips it.
    AlreadyThere,
}

/// Versioned tags are immutable, except `edge`, which every main-branch build moves.
pub fn is_immutable(tag_reference: &str) -> bool {
    tag_reference.rsplit_once(':').map(|(_, tag)| tag) != Some("edge")
}

/// What to do with a versioned tag given the digest it has in the registry now, if any.
pub fn versioned_action(reference: &str, existing: Option<&str>, built: &str) -> Result<Action> {
    match existing {
        None => Ok(Action::Push),
        Some(digest) if digest == built => Ok(Action::AlreadyThere),
        Some(_) if !is_immutable(reference) => Ok(Action::Push),
        Some(digest) => bail!(
            "{reference} already exists with digest {digest}, but this build is {built}: released versions are immutable. \
             Release a new version (`cargo xtask version bump patch --commit --tag`) instead of overwriting it"
        ),
    }
}

/// Why a floating tag must stay where it is rather than move to this release's `version`, read
/// right before the move: it serves a newer release (its version label, on any platform, is higher),
/// or the same version under another digest (a second build of one version: never let it win
/// silently). `None`: move it. Tags without a version label (not released by this tool) say
/// nothing of their version, so they do not stop the move.
pub fn floating_stays(labels: &BTreeMap<String, String>, version: &semver::Version) -> Option<String> {
    let versions = labels.values().filter_map(|label| semver::Version::parse(label.trim()).ok());
    let highest = versions.max()?;
    if highest > *version {
        return Some(format!("it serves {highest}, newer than {version}: floating tags only move forward"));
    }
    if highest == *version {
        return Some(format!("it serves {version} under another digest: left as it is, check which build is right"));
    }
    None
}

/// Checks that the registry serves the built index: same digest, same platforms with the same
/// manifests, and the workspace version in every platform's version label.
/// `built_platforms` maps each built platform to its manifest digest.
pub fn verify(
    reference: &str,
    remote: &Remote,
    built_index: &str,
    built_platforms: &BTreeMap<String, String>,
    version: &str,
) -> Result<()> {
    if remote.digest != built_index {
        bail!("{reference} reads back as {}, but {built_index} was built and scanned: aborting", remote.digest);
    }
    if remote.platforms != *built_platforms {
        bail!(
            "{reference} reads back with platforms {:?}, but {:?} were built",
            remote.platforms.keys().collect::<Vec<_>>(),
            built_platforms.keys().collect::<Vec<_>>()
        );
    }
    for platform in built_platforms.keys() {
        let label = remote.version_labels.get(platform).map(String::as_str);
        if label != Some(version) {
            bail!("{reference} on {platform} reads back with version label {label:?}, expected {version:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floating_tag_only_moves_forward() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        let labels = |l: &[&str]| -> BTreeMap<String, String> {
            l.iter().enumerate().map(|(i, l)| (format!("linux/p{i}"), (*l).to_owned())).collect()
        };
        assert_eq!(floating_stays(&labels(&["1.2.3", "1.2.3"]), &v("1.2.4")), None, "an older release: move");
        let newer = floating_stays(&labels(&["1.3.0"]), &v("1.2.4")).unwrap();
        assert!(newer.contains("serves 1.3.0, newer than 1.2.4"), "{newer}");
        assert!(floating_stays(&labels(&["1.2.4"]), &v("1.2.4")).unwrap().contains("another digest"));
        assert_eq!(floating_stays(&labels(&["", "not a version"]), &v("1.0.0")), None, "no label: not ours to judge");
        assert_eq!(floating_stays(&BTreeMap::new(), &v("1.0.0")), None);
        // A pre-release label is lower than its release (floating tags never take a pre-release).
        assert_eq!(floating_stays(&labels(&["2.0.0-rc.1"]), &v("2.0.0")), None);
    }

    #[test]
    fn versioned_tags_are_immutable_but_resumable_and_edge_moves() {
        let r = "localhost:5000/acme/beacon:1.0.0";
        assert_eq!(versioned_action(r, None, "sha256:a").unwrap(), Action::Push);
        assert_eq!(versioned_action(r, Some("sha256:a"), "sha256:a").unwrap(), Action::AlreadyThere);
        let err = versioned_action(r, Some("sha256:b"), "sha256:a").unwrap_err().to_string();
        assert!(err.contains("immutable") && err.contains("sha256:b") && err.contains("sha256:a"), "{err}");
        let edge = "localhost:5000/acme/beacon:edge";
        assert_eq!(versioned_action(edge, Some("sha256:b"), "sha256:a").unwrap(), Action::Push);
        let sha = "localhost:5000/acme/beacon:sha-0123abc";
        assert!(versioned_action(sha, Some("sha256:b"), "sha256:a").is_err(), "sha-… tags are immutable");
    }

    fn built() -> BTreeMap<String, String> {
        [("linux/amd64".into(), "sha256:a".into()), ("linux/arm64".into(), "sha256:b".into())].into()
    }

    fn remote() -> Remote {
        Remote {
            digest: "sha256:i".into(),
            platforms: [("linux/amd64".into(), "sha256:a".into()), ("linux/arm64".into(), "sha256:b".into())].into(),
            version_labels: [("linux/amd64".into(), "1.0.0".into()), ("linux/arm64".into(), "1.0.0".into())].into(),
        }
    }

    #[test]
    fn read_back_must_match_digest_platforms_and_version() {
        assert!(verify("r", &remote(), "sha256:i", &built(), "1.0.0").is_ok());
        let mut other = remote();
        other.digest = "sha256:x".into();
        assert!(verify("r", &other, "sha256:i", &built(), "1.0.0").unwrap_err().to_string().contains("aborting"));
        let mut one_platform = remote();
        one_platform.platforms.remove("linux/arm64");
        assert!(verify("r", &one_platform, "sha256:i", &built(), "1.0.0")
            .unwrap_err()
            .to_string()
            .contains("platforms"));
        let mut wrong_label = remote();
        wrong_label.version_labels.insert("linux/arm64".into(), "0.9.0".into());
        assert!(verify("r", &wrong_label, "sha256:i", &built(), "1.0.0")
            .unwrap_err()
            .to_string()
            .contains("linux/arm64"));
    }
}
