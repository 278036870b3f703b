//! OCI labels and annotations (`org.opencontainers.image.*`), pure.
//!
//! Made only from Cargo metadata and the commit (never from the clock), so building the same
//! commit twice gives the same labels and, with `SOURCE_DATE_EPOCH`, the same image.

use std::collections::BTreeMap;

use semver::Version;
use serde::{Deserialize, Serialize};

/// The Cargo metadata of the package an image carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    pub description: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    /// Its binary targets: what an image of it can ship.
    #[serde(default)]
    pub binaries: Vec<String>,
}

/// What the labels describe.
#[derive(Clone, Copy, Debug)]
pub struct LabelInputs<'a> {
    /// The image name (the `images.<name>` key).
    pub image: &'a str,
    pub package: &'a PackageMeta,
    pub version: &'a Version,
    /// The full commit sha.
    pub revision: &'a str,
    /// The commit time, seconds since the Unix epoch.
    pub commit_time: i64,
}

/// The label that carries the workspace version: the smoke test and the read-back check it.
pub const VERSION_LABEL: &str = "org.opencontainers.image.version";

/// The `org.opencontainers.image.*` labels; keys without a value (no description, say) are left out.
/// Annotations use the same map.
pub fn oci_labels(inputs: LabelInputs) -> BTreeMap<String, String> {
    let package = inputs.package;
    let entries = [
        ("title", Some(inputs.image.to_owned())),
        ("description", package.description.clone()),
        ("version", Some(inputs.version.to_string())),
        ("revision", Some(inputs.revision.to_owned())),
        ("created", Some(rfc3339_utc(inputs.commit_time))),
        ("source", package.repository.clone()),
        ("url", package.homepage.clone().or_else(|| package.repository.clone())),
        ("licenses", package.license.clone()),
    ];
    entries.into_iter().filter_map(|(key, value)| Some((format!("org.opencontainers.image.{key}"), value?))).collect()
}

/// `epoch` (seconds since 1970-01-01T00:00:00Z) as RFC 3339 in UTC, e.g. `2024-02-29T12:00:00Z`;
/// instants before the epoch (no git commit has one) print as the epoch.
pub fn rfc3339_utc(epoch: i64) -> String {
    let instant = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(instant).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        let table = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_208_000, "2024-02-29T12:00:00Z"),
            (1_735_689_599, "2024-12-31T23:59:59Z"),
            (1_735_689_600, "2025-01-01T00:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (-1, "1970-01-01T00:00:00Z"),
        ];
        for (epoch, expected) in table {
            assert_eq!(rfc3339_utc(epoch), expected, "{epoch}");
        }
    }

    #[test]
    fn labels_come_from_cargo_and_git() {
        let package = PackageMeta {
            description: Some("A small HTTP service".into()),
            license: Some("MIT OR Apache-2.0".into()),
            repository: Some("https://github.com/acme/beacon".into()),
            homepage: None,
            binaries: vec!["beacon".into()],
        };
        let version = Version::new(1, 2, 3);
        let inputs = LabelInputs {
            image: "beacon",
            package: &package,
            version: &version,
            revision: "0123abcdef0123abcdef0123abcdef0123abcdef",
            commit_time: 1_709_208_000,
        };
        let labels = oci_labels(inputs);
        let expected = [
            ("created", "2024-02-29T12:00:00Z"),
            ("description", "A small HTTP service"),
            ("licenses", "MIT OR Apache-2.0"),
            ("revision", "0123abcdef0123abcdef0123abcdef0123abcdef"),
            ("source", "https://github.com/acme/beacon"),
            ("title", "beacon"),
            ("url", "https://github.com/acme/beacon"),
            ("version", "1.2.3"),
        ];
        let expected: BTreeMap<String, String> = expected
            .iter()
            .map(|(key, value)| (format!("org.opencontainers.image.{key}"), value.to_string()))
            .collect();
        assert_eq!(labels, expected);
        assert_eq!(oci_labels(inputs), labels, "the same commit gives the same labels");

        let bare = oci_labels(LabelInputs { package: &PackageMeta::default(), ..inputs });
        let keys: Vec<&str> = bare.keys().map(|key| key.trim_start_matches("org.opencontainers.image.")).collect();
        assert_eq!(keys, ["created", "revision", "title", "version"]);
    }
}
