//! Writing an air-gapped bundle (`release bundle`): every released image's index read from its
//! registry by the version's tag, and everything under it by digest (platform manifests, configs,
//! layers), then what refers to the index and to each manifest in it (cosign 2's `.sig`/`.att`/
//! `.sbom` tags, cosign 3's bundles under the referrers tag `sha256-<hex>` or, where the registry
//! offers it, the referrers API's index, kept under that tag), into one OCI image layout, packed as
//! one tar. Every manifest and blob is checked against its digest as it is read (the registry
//! client refuses other bytes); nothing is rewritten, so every digest is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::console;
use crate::rules::bundle::{self, Descriptor, LayoutIndex};
use crate::rules::reference::Repository;
use crate::rules::transport::Transports;
use crate::tools::bundle_archive;
use crate::tools::files::{self, Access};
use crate::tools::registry_client::Client;

/// One image to bundle: its repository (`registry/path`), the version's tags there, and the index
/// digest the release record names, when there is one.
pub struct Source {
    pub image: String,
    pub repository: String,
    pub tags: Vec<String>,
    pub recorded: Option<String>,
}

/// What a bundle holds.
pub struct Bundled {
    pub path: PathBuf,
    pub bytes: u64,
    pub blobs: usize,
    /// One line per image (`rules::bundle::describe`).
    pub images: Vec<String>,
}

/// The layout being written: its directory, the blobs in it (digest → media type and size), the
/// entries of its `index.json`.
struct Layout {
    dir: PathBuf,
    written: BTreeMap<String, (String, u64)>,
    entries: Vec<Descriptor>,
}

/// Writes the bundle of `sources` to `out` (a tar; its layout is assembled beside it and removed).
pub fn write(sh: &xshell::Shell, transports: &Transports, sources: &[Source], out: &Path) -> Result<Bundled> {
    let dir = out.with_extension("layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("blobs/sha256")).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut layout = Layout { dir: dir.clone(), written: BTreeMap::new(), entries: Vec::new() };
    let mut images = Vec::new();
    let result = (|| {
        for (i, source) in sources.iter().enumerate() {
            images.push(add_image(sh, transports, source, i == 0, &mut layout)?);
        }
        let index = serde_json::to_vec_pretty(&LayoutIndex::new(layout.entries.clone()))?;
        files::write(&dir.join("index.json"), &index, Access::Public)?;
        files::write(&dir.join("oci-layout"), bundle::OCI_LAYOUT.as_bytes(), Access::Public)?;
        bundle_archive::pack(sh, &dir, out)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let bytes = std::fs::metadata(out).with_context(|| format!("cannot read {}", out.display()))?.len();
    Ok(Bundled { path: out.to_owned(), bytes, blobs: layout.written.len(), images })
}

/// Adds one image: its index (the version's tags), then what refers to it and to its manifests.
/// The first image's index gets cosign's `kind` (what `cosign verify --local-image` verifies:
/// `rules::bundle::subject_kind`).
fn add_image(
    sh: &xshell::Shell,
    transports: &Transports,
    source: &Source,
    first: bool,
    layout: &mut Layout,
) -> Result<String> {
    let repository = Repository::parse(&source.repository)?;
    let client = Client::new(sh, transports, repository.registry);
    let path = repository.path;
    let mut index: Option<(String, String, u64)> = None;
    for tag in &source.tags {
        let reference = format!("{}:{tag}", source.repository);
        let manifest = client.manifest(path, tag)?.with_context(|| {
            format!(
                "{reference} is not in the registry: bundle a version released there (--registry as it was released)"
            )
        })?;
        if let Some(recorded) = source.recorded.as_ref().filter(|r| **r != manifest.digest) {
            bail!(
                "{reference} points at {}, but the release record names {recorded}: the tag was moved since the \
                 release; find out why before bundling it",
                manifest.digest
            );
        }
        if let Some((digest, _, _)) = index.as_ref().filter(|(d, _, _)| *d != manifest.digest) {
            bail!("{reference} points at {}, but the version's other tag points at {digest}", manifest.digest);
        }
        let (media_type, size) = collect(&client, path, &manifest.digest, &manifest.media_type, layout)?;
        layout.entries.push(bundle::entry(&source.repository, tag, (&manifest.digest, &media_type, size), None));
        index = Some((manifest.digest, media_type, size));
    }
    let marked = layout.entries.len() - source.tags.len();
    let (digest, media_type, _) =
        index.with_context(|| format!("image {} has no versioned tag to bundle", source.image))?;
    let bytes = std::fs::read(blob_path(&layout.dir, &digest)?)?;
    let subjects: Vec<String> = std::iter::once(digest.clone())
        .chain(bundle::children(&bytes)?.manifests.into_iter().map(|(d, _)| d))
        .collect();
    let mut artifacts = 0;
    for subject in &subjects {
        let kinds = first && *subject == digest;
        artifacts += add_referring(&client, &source.repository, path, subject, kinds, layout)
            .with_context(|| format!("reading what refers to {}@{subject}", source.repository))?;
    }
    if first {
        let legacy = bundle::artifact_tags(&digest)?.remove(0);
        let legacy = layout.entries.iter().any(|e| e.tag() == Some(legacy.as_str()));
        let kind = bundle::subject_kind(media_type.ends_with("index.v1+json"), legacy);
        layout.entries[marked].annotations.insert(bundle::KIND.to_owned(), kind.to_owned());
    }
    // An index's manifests; a one-platform release's tag names its one manifest.
    let manifests = (subjects.len() - 1).max(1);
    let line = bundle::describe(&source.repository, &source.tags, &digest, manifests, artifacts);
    console::progress!("    {line}");
    Ok(line)
}

/// Adds the signatures and attestations of `subject`: each tag cosign may store them under, and,
/// without the referrers tag, the referrers API's index (kept under that tag). Returns how many
/// tags were added.
fn add_referring(
    client: &Client<'_>,
    repository: &str,
    path: &str,
    subject: &str,
    kinds: bool,
    layout: &mut Layout,
) -> Result<usize> {
    let tags = bundle::artifact_tags(subject)?;
    let mut added = 0;
    for tag in &tags {
        let manifest = match client.manifest(path, tag)? {
            Some(manifest) => manifest,
            None if tag == tags.last().expect("the referrers tag") => match client.referrers(path, subject)? {
                Some(listed) if !bundle::children(&listed.bytes)?.manifests.is_empty() => listed,
                _ => continue,
            },
            None => continue,
        };
        let (media_type, size) = match tag.ends_with(".sig") || tag.ends_with(".att") || tag.ends_with(".sbom") {
            true => collect(client, path, &manifest.digest, &manifest.media_type, layout)?,
            false => store_listing(client, path, &manifest, layout)?,
        };
        let kind = match (kinds, tag.rsplit('.').next()) {
            (true, Some("sig")) => Some(bundle::KIND_SIGS),
            (true, Some("att")) => Some(bundle::KIND_ATTS),
            _ => None,
        };
        layout.entries.push(bundle::entry(repository, tag, (&manifest.digest, &media_type, size), kind));
        added += 1;
    }
    Ok(added)
}

/// A referrers index (the tag's, or the API's answer, which has no manifest of its own in the
/// registry): its bytes stored as read, then each referrer it lists.
fn store_listing(
    client: &Client<'_>,
    path: &str,
    listing: &crate::tools::registry_client::Manifest,
    layout: &mut Layout,
) -> Result<(String, u64)> {
    let children = bundle::children(&listing.bytes)?;
    for (digest, media_type) in &children.manifests {
        collect(client, path, digest, media_type, layout)?;
    }
    store(layout, &listing.digest, &listing.bytes, &listing.media_type)
}

/// Stores the manifest `digest` and everything it references (children first), each read by
/// digest and checked; its media type and size.
fn collect(
    client: &Client<'_>,
    path: &str,
    digest: &str,
    media_type: &str,
    layout: &mut Layout,
) -> Result<(String, u64)> {
    if let Some(known) = layout.written.get(digest) {
        return Ok(known.clone());
    }
    let manifest = client.manifest(path, digest)?.with_context(|| format!("{path}@{digest} is not in the registry"))?;
    let children = bundle::children(&manifest.bytes).with_context(|| format!("manifest {digest}"))?;
    for (child, child_type) in &children.manifests {
        collect(client, path, child, child_type, layout)?;
    }
    for blob in &children.blobs {
        if !layout.written.contains_key(blob) {
            let bytes = client.blob(path, blob)?;
            store(layout, blob, &bytes, "")?;
        }
    }
    let media_type = [children.media_type.as_str(), media_type, manifest.media_type.as_str()]
        .into_iter()
        .find(|t| !t.is_empty())
        .unwrap_or_default()
        .to_owned();
    store(layout, digest, &manifest.bytes, &media_type)
}

/// Writes one blob of the layout, checked against its digest.
fn store(layout: &mut Layout, digest: &str, bytes: &[u8], media_type: &str) -> Result<(String, u64)> {
    if crate::rules::digest::sha256(bytes) != digest {
        bail!("the bytes read for {digest} have another digest: refusing to bundle them");
    }
    files::write(&blob_path(&layout.dir, digest)?, bytes, Access::Public)?;
    let known = (media_type.to_owned(), bytes.len() as u64);
    layout.written.insert(digest.to_owned(), known.clone());
    Ok(known)
}

/// Where the layout `dir` keeps the blob `digest`.
pub fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    Ok(dir.join("blobs/sha256").join(bundle::hex(digest)?))
}
