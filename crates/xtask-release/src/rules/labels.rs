//! OCI labels and annotations (`org.opencontainers.image.*`), pure.
//!
//! Made only from Cargo metadata and the commit (never from the clock), so building the same
//! commit twice gives the same labels and, with `SOURCE_DATE_EPOCH`, the same image. An image's
//! configured `annotations` then replace, add or (with `""`) remove keys, except those that follow
//! the release (`FIXED`).

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
    #[serde(default)]
    pub documentation: Option<String>,
    /// `authors` as Cargo has them (`"Name <email>"`); the first one's name is the vendor.
    #[serde(default)]
    pub authors: Vec<String>,
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

/// The keys that follow the release (its version, commit and time): never configured.
pub const FIXED: [&str; 3] =
    ["org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.created"];

/// The `org.opencontainers.image.*` labels; keys without a value (no description, say) are left out.
/// Annotations use the same map.
pub fn oci_labels(inputs: LabelInputs) -> BTreeMap<String, String> {
    let package = inputs.package;
    let entries = [
        ("title", Some(inputs.image.to_owned())),
        ("description", package.description.as_deref().and_then(one_line)),
        ("version", Some(inputs.version.to_string())),
        ("revision", Some(inputs.revision.to_owned())),
        ("created", Some(rfc3339_utc(inputs.commit_time))),
        ("source", package.repository.clone()),
        ("url", package.homepage.clone().or_else(|| package.repository.clone())),
        ("licenses", package.license.clone()),
        ("documentation", package.documentation.clone()),
        ("vendor", package.authors.first().map(String::as_str).and_then(vendor)),
    ];
    entries.into_iter().filter_map(|(key, value)| Some((format!("org.opencontainers.image.{key}"), value?))).collect()
}

/// A Cargo `description` as one line: a TOML multi-line string (`"""` … `"""`, wrapped like prose)
/// has its line breaks and runs of spaces made single spaces, as crates.io shows it; registries and
/// `docker inspect` show an annotation's value as it is. `None` when nothing is left.
fn one_line(text: &str) -> Option<String> {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!line.is_empty()).then_some(line)
}

/// The vendor named by a Cargo author, `"Acme Corp <oss@acme.example>"`: the name without the
/// address (`None` when only an address is given).
fn vendor(author: &str) -> Option<String> {
    let name = author.split('<').next().unwrap_or_default().trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// `computed` with an image's configured `overrides` applied: a value replaces or adds its key, an
/// empty value removes it. The configuration never names a `FIXED` key (`rules::config` refuses it).
pub fn with_overrides(
    mut computed: BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    for (key, value) in overrides {
        if value.is_empty() {
            computed.remove(key);
        } else {
            computed.insert(key.clone(), value.clone());
        }
    }
    computed
}

/// Why `key` cannot be configured as an annotation, if it cannot: a key that follows the release, or
/// one that is not an annotation key (`com.acme.team`: non-empty, no whitespace, `=` or control
/// character, at most 255 bytes).
pub fn refuse_key(key: &str) -> Option<String> {
    if FIXED.contains(&key) {
        return Some(format!("{key:?} follows the release (its version, commit and time): remove it"));
    }
    if key.is_empty() || key.len() > 255 || key.chars().any(|c| c.is_whitespace() || c.is_control() || c == '=') {
        return Some(format!(
            "{key:?} is not an annotation key: use a reverse-DNS name without spaces or `=`, e.g. \"com.acme.team\""
        ));
    }
    None
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
            documentation: Some("https://docs.rs/beacon".into()),
            authors: vec!["Acme Corp <oss@acme.example>".into(), "Jane Doe".into()],
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
            ("documentation", "https://docs.rs/beacon"),
            ("licenses", "MIT OR Apache-2.0"),
            ("revision", "0123abcdef0123abcdef0123abcdef0123abcdef"),
            ("source", "https://github.com/acme/beacon"),
            ("title", "beacon"),
            ("url", "https://github.com/acme/beacon"),
            ("vendor", "Acme Corp"),
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

    #[test]
    fn a_wrapped_description_becomes_one_line() {
        let wrapped = "\nAn incomplete implementation of a Rust client and server. Used as a\nlarger example of  an idiomatic Tokio application.\n";
        assert_eq!(
            one_line(wrapped).as_deref(),
            Some("An incomplete implementation of a Rust client and server. Used as a larger example of an idiomatic Tokio application.")
        );
        assert_eq!(one_line(" \n\t "), None, "a blank description is no description");
    }

    #[test]
    fn the_vendor_is_the_first_authors_name() {
        assert_eq!(vendor("Acme Corp <oss@acme.example>").as_deref(), Some("Acme Corp"));
        assert_eq!(vendor("  Jane Doe  ").as_deref(), Some("Jane Doe"));
        assert_eq!(vendor("<oss@acme.example>"), None, "an address alone names no vendor");
        assert_eq!(vendor(""), None);
    }

    #[test]
    fn overrides_replace_add_and_remove() {
        let key = |k: &str| format!("org.opencontainers.image.{k}");
        let computed: BTreeMap<String, String> =
            [(key("vendor"), "Jane Doe".to_owned()), (key("url"), "https://a".to_owned())].into();
        let overrides: BTreeMap<String, String> = [
            (key("vendor"), "ACME".to_owned()),
            (key("url"), String::new()),
            ("com.acme.team".to_owned(), "platform".to_owned()),
            (key("documentation"), String::new()),
        ]
        .into();
        let applied = with_overrides(computed, &overrides);
        let expected: BTreeMap<String, String> =
            [(key("vendor"), "ACME".to_owned()), ("com.acme.team".to_owned(), "platform".to_owned())].into();
        assert_eq!(applied, expected);
    }

    #[test]
    fn keys_that_follow_the_release_or_are_malformed_are_refused() {
        for fixed in FIXED {
            assert!(refuse_key(fixed).unwrap().contains("follows the release"), "{fixed}");
        }
        for bad in ["", "com.acme team", "a=b", "tab\there"] {
            assert!(refuse_key(bad).unwrap().contains("not an annotation key"), "{bad:?}");
        }
        assert_eq!(refuse_key("org.opencontainers.image.vendor"), None);
        assert_eq!(refuse_key("com.acme.team"), None);
        assert!(refuse_key(&"k".repeat(256)).is_some());
    }
}
