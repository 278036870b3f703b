//! The publish decisions, pure: what to do with a versioned tag that may already exist, and whether
//! what the registry serves is exactly what was built, scanned and smoke-tested.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// An image index as the registry serves it (read back by `tools::registry`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub digest: String,
    /// platform → manifest digest
    pub platforms: BTreeMap<String, String>,
    /// platform → `org.opencontainers.image.version` label
    pub version_labels: BTreeMap<String, String>,
    /// The index's annotations (none for a one-platform image, pushed as its manifest alone).
    pub index_annotations: BTreeMap<String, String>,
    /// platform → its manifest's annotations
    pub manifest_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// platform → its size as pushed (`rules::size_budget::image_size`)
    pub sizes: BTreeMap<String, u64>,
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

/// The namespace of the annotations the engine computes: on the registry, no key of it but the
/// plan's may appear (a key the configuration removed stays removed).
const OCI_NAMESPACE: &str = "org.opencontainers.image.";

/// Checks that the registry serves the plan's `expected` annotations on the index (a one-platform
/// image has none: it is pushed as its manifest alone) and on every platform manifest: each
/// expected key with its value, and no other `org.opencontainers.image.*` key.
pub fn verify_annotations(reference: &str, remote: &Remote, expected: &BTreeMap<String, String>) -> Result<()> {
    let differences = |found: &BTreeMap<String, String>| -> Vec<String> {
        let ours = |key: &&String| expected.contains_key(*key) || key.starts_with(OCI_NAMESPACE);
        let keys: std::collections::BTreeSet<&String> = expected.keys().chain(found.keys().filter(ours)).collect();
        keys.into_iter()
            .filter(|key| expected.get(*key) != found.get(*key))
            .map(|key| format!("{key} is {:?}, expected {:?}", found.get(key), expected.get(key)))
            .collect()
    };
    let is_index = remote.platforms.values().all(|digest| *digest != remote.digest);
    let index = if is_index { differences(&remote.index_annotations) } else { Vec::new() };
    if !index.is_empty() {
        bail!("{reference} reads back with other index annotations than planned: {}", index.join("; "));
    }
    for platform in remote.platforms.keys() {
        let found = remote.manifest_annotations.get(platform).cloned().unwrap_or_default();
        let manifest = differences(&found);
        if !manifest.is_empty() {
            bail!("{reference} on {platform} reads back with other annotations than planned: {}", manifest.join("; "));
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
            ..Remote::default()
        }
    }

    #[test]
    fn annotations_must_read_back_as_planned_at_both_levels() {
        let planned: BTreeMap<String, String> = [
            ("org.opencontainers.image.version".to_owned(), "1.0.0".to_owned()),
            ("com.acme.team".to_owned(), "platform".to_owned()),
        ]
        .into();
        let mut served = remote();
        served.index_annotations = planned.clone();
        served.index_annotations.insert("com.example.other".into(), "not ours".into());
        served.manifest_annotations =
            served.platforms.keys().map(|platform| (platform.clone(), planned.clone())).collect();
        assert!(verify_annotations("r", &served, &planned).is_ok(), "keys outside the plan's are not ours");

        let mut no_index = served.clone();
        no_index.index_annotations.clear();
        let error = verify_annotations("r", &no_index, &planned).unwrap_err().to_string();
        assert!(error.contains("index annotations") && error.contains("com.acme.team is None"), "{error}");

        let mut removed_key_back = served.clone();
        let arm = removed_key_back.manifest_annotations.get_mut("linux/arm64").unwrap();
        arm.insert("org.opencontainers.image.url".into(), "https://a".into());
        let error = verify_annotations("r", &removed_key_back, &planned).unwrap_err().to_string();
        assert!(error.contains("on linux/arm64") && error.contains("url is Some(\"https://a\"), expected None"));

        let mut wrong = served.clone();
        wrong.manifest_annotations.get_mut("linux/amd64").unwrap().insert("com.acme.team".into(), "x".into());
        assert!(verify_annotations("r", &wrong, &planned).unwrap_err().to_string().contains("on linux/amd64"));

        // A one-platform image is its manifest: no index to carry them.
        let mut one = served.clone();
        one.platforms = [("linux/amd64".to_owned(), one.digest.clone())].into();
        one.index_annotations.clear();
        assert!(verify_annotations("r", &one, &planned).is_ok());
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
