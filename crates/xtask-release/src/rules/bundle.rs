//! An air-gapped bundle (`release bundle`, `release import`): one OCI image layout holding a
//! release's indexes, every platform, and every signature and attestation, kept by digest. Pure
//! here: the layout's `index.json` (each tag an entry, annotated with its source repository and,
//! for cosign's `--local-image`, the `kind` cosign's own `save` writes), the tags under which
//! cosign stores what refers to a digest, what a manifest references, and what an import may do
//! with a tag the destination already has.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The tag an OCI layout entry is known by.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The full reference (`registry/path:tag`) the entry was read from, as containerd names images.
pub const IMAGE_NAME: &str = "io.containerd.image.name";
/// The repository (`registry/path`) the entry was read from; an import keeps its image name.
pub const REPOSITORY: &str = "dev.xtask-release.bundle.repository";
/// cosign's own layout annotation (`cosign save`), read by `cosign verify --local-image`.
pub const KIND: &str = "kind";
pub const KIND_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
pub const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
pub const KIND_SIGS: &str = "dev.cosignproject.cosign/sigs";
pub const KIND_ATTS: &str = "dev.cosignproject.cosign/atts";

/// The `kind` that marks the bundle's subject for `cosign verify --local-image`: what `cosign save`
/// writes (`imageIndex` for an index) where the signature is cosign 2's `.sig` tag, which cosign
/// reads through that mark; `image` where it is a Sigstore bundle referring to the subject, the one
/// mark cosign 3.1 looks for such bundles under (it passes over an `imageIndex` there).
pub fn subject_kind(index: bool, legacy_signature: bool) -> &'static str {
    if index && legacy_signature {
        KIND_INDEX
    } else {
        KIND_IMAGE
    }
}

/// The layout's `oci-layout` file.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// A content descriptor, as an OCI index lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn tag(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

/// The layout's `index.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

impl LayoutIndex {
    pub fn new(manifests: Vec<Descriptor>) -> LayoutIndex {
        LayoutIndex { schema_version: 2, media_type: "application/vnd.oci.image.index.v1+json".into(), manifests }
    }
}

/// The entry of `tag` in `repository` (`registry/path`) for the manifest `digest`.
pub fn entry(repository: &str, tag: &str, manifest: (&str, &str, u64), kind: Option<&str>) -> Descriptor {
    let (digest, media_type, size) = manifest;
    let mut annotations = BTreeMap::from([
        (REF_NAME.to_owned(), tag.to_owned()),
        (IMAGE_NAME.to_owned(), format!("{repository}:{tag}")),
        (REPOSITORY.to_owned(), repository.to_owned()),
    ]);
    if let Some(kind) = kind {
        annotations.insert(KIND.to_owned(), kind.to_owned());
    }
    Descriptor { media_type: media_type.to_owned(), digest: digest.to_owned(), size, annotations }
}

/// The hex of a `sha256:` digest, checked (64 lower-case hex digits: it names a file of the layout).
pub fn hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        _ => bail!("{digest:?} is not a sha256 digest (sha256: and 64 lower-case hex digits)"),
    }
}

/// cosign's legacy tags for what refers to `digest` (`sha256-<hex>.sig`, `.att`, `.sbom`), then the
/// referrers tag schema's `sha256-<hex>` (cosign 3's bundles on a registry without the referrers API).
pub fn artifact_tags(digest: &str) -> Result<Vec<String>> {
    let base = format!("sha256-{}", hex(digest)?);
    Ok(vec![format!("{base}.sig"), format!("{base}.att"), format!("{base}.sbom"), base])
}

/// What a manifest references: its child manifests (an index's, with their media types) and its
/// blobs (an image manifest's config and layers, each once). A `subject` is not followed: it is the
/// parent. Read by the bundle, the import and the push of a built archive (`tools::archive_push`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Children {
    pub manifests: Vec<(String, String)>,
    pub blobs: Vec<String>,
    /// The manifest's own `mediaType`, empty when it has none.
    pub media_type: String,
}

pub fn children(bytes: &[u8]) -> Result<Children> {
    #[derive(Deserialize)]
    struct Node {
        #[serde(rename = "mediaType", default)]
        media_type: String,
        #[serde(default)]
        manifests: Vec<Descriptor>,
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let node: Node = serde_json::from_slice(bytes).context("not an OCI index or manifest")?;
    let mut children = Children { media_type: node.media_type, ..Default::default() };
    for child in node.manifests {
        hex(&child.digest)?;
        children.manifests.push((child.digest, child.media_type));
    }
    for blob in node.config.into_iter().chain(node.layers) {
        hex(&blob.digest)?;
        if !children.blobs.contains(&blob.digest) {
            children.blobs.push(blob.digest);
        }
    }
    Ok(children)
}

/// What an import does with one tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagMove {
    /// The destination lacks it: written.
    Write,
    /// It already names the bundled digest (an import repeated): left as it is.
    Unchanged,
}

/// Decides `reference`'s move from what the destination has (`current`) to the `bundled` digest: a
/// tag that points elsewhere is never moved (a version is immutable, and a signature tag elsewhere
/// holds signatures the bundle does not).
pub fn tag_move(reference: &str, current: Option<&str>, bundled: &str) -> Result<TagMove> {
    match current {
        None => Ok(TagMove::Write),
        Some(current) if current == bundled => Ok(TagMove::Unchanged),
        Some(current) => bail!(
            "{reference} already points at {current}, but the bundle holds {bundled} under that tag: \
             refusing to move it (nothing was imported). Import into another repository (--registry), \
             or delete that tag there first if it is known to be wrong"
        ),
    }
}

/// The bundle's summary line of one image: `reg/acme/ledger:1.0.0 sha256:… (2 manifests, 3 signature and attestation tags)`.
pub fn describe(repository: &str, tags: &[String], index: &str, manifests: usize, artifacts: usize) -> String {
    format!(
        "{repository}:{} {index} ({manifests} manifest{}, {artifacts} signature and attestation tag{})",
        tags.join(","),
        if manifests == 1 { "" } else { "s" },
        if artifacts == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn artifact_tags_are_cosigns_legacy_tags_then_the_referrers_fallback() {
        let tags = artifact_tags(D).unwrap();
        let base = format!("sha256-{}", &D[7..]);
        assert_eq!(tags, [format!("{base}.sig"), format!("{base}.att"), format!("{base}.sbom"), base]);
    }

    #[test]
    fn a_digest_that_could_escape_the_layout_is_refused() {
        for bad in ["sha256:../../etc/passwd", "sha512:abc", "sha256:ABCDEF", &D[..70]] {
            assert!(hex(bad).is_err(), "{bad}");
        }
        assert_eq!(hex(D).unwrap(), &D[7..]);
    }

    #[test]
    fn children_of_an_index_and_of_a_manifest() {
        let index = format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":1}}]}}"#
        );
        let children = children(index.as_bytes()).unwrap();
        assert_eq!(children.manifests, [(D.to_owned(), "application/vnd.oci.image.manifest.v1+json".to_owned())]);
        assert!(children.blobs.is_empty());
        let manifest = format!(
            r#"{{"config":{{"digest":"{D}","size":2}},"layers":[{{"digest":"{D}","size":2}}],"subject":{{"digest":"sha256:x"}}}}"#
        );
        let children = super::children(manifest.as_bytes()).unwrap();
        assert_eq!(
            (children.blobs, children.manifests.len(), children.media_type),
            (vec![D.to_owned()], 0, String::new())
        );
        assert!(super::children(br#"{"layers":[{"digest":"sha256:../x"}]}"#).is_err());
    }

    #[test]
    fn an_import_writes_missing_tags_keeps_equal_ones_and_refuses_to_move_others() {
        assert_eq!(tag_move("r:1.0.0", None, D).unwrap(), TagMove::Write);
        assert_eq!(tag_move("r:1.0.0", Some(D), D).unwrap(), TagMove::Unchanged);
        let error = tag_move("r:1.0.0", Some("sha256:other"), D).unwrap_err().to_string();
        assert!(error.contains("r:1.0.0 already points at sha256:other"), "{error}");
    }

    #[test]
    fn cosign_2_finds_an_index_s_tag_signature_by_its_index_mark_cosign_3_its_bundles_by_the_image_mark() {
        assert_eq!(subject_kind(true, true), KIND_INDEX);
        assert_eq!(subject_kind(true, false), KIND_IMAGE);
        assert_eq!(subject_kind(false, true), KIND_IMAGE);
        assert_eq!(subject_kind(false, false), KIND_IMAGE);
    }

    #[test]
    fn the_summary_counts_manifests_and_signature_tags() {
        let line = describe("reg/acme/ledger", &["1.0.0".into()], D, 1, 2);
        assert_eq!(line, format!("reg/acme/ledger:1.0.0 {D} (1 manifest, 2 signature and attestation tags)"));
    }

    #[test]
    fn entries_carry_the_tag_the_source_and_cosigns_kind() {
        let entry = entry("reg.example/acme/ledger", "1.0.0", (D, "m", 3), Some(KIND_INDEX));
        assert_eq!(entry.tag(), Some("1.0.0"));
        assert_eq!(entry.annotations[IMAGE_NAME], "reg.example/acme/ledger:1.0.0");
        assert_eq!(entry.annotations[REPOSITORY], "reg.example/acme/ledger");
        assert_eq!(entry.annotations[KIND], KIND_INDEX);
        let json = serde_json::to_string(&LayoutIndex::new(vec![entry])).unwrap();
        assert!(json.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json""#));
    }
}
