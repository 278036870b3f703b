//! Importing a bundle (`release import`) into another registry, with no need of the one it was
//! read from: the tar is unpacked and every blob checked against its digest before anything is
//! sent (a damaged or altered bundle is refused, naming the blob); each tag's destination is read
//! and a tag that points elsewhere refused before anything is sent; then every tree is pushed by
//! digest, blobs and child manifests first, the release's own indexes before what refers to them;
//! then the tags are written, and each read back to check its digest. The same bytes, so the same
//! digests; importing the same bundle again writes nothing new.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::bundle::{self, Descriptor, LayoutIndex, TagMove};
use crate::rules::reference::{self, Repository};
use crate::rules::transport::Transports;
use crate::steps::bundle::blob_path;
use crate::tools::bundle_archive;
use crate::tools::registry_client::{Client, Manifest};

/// One tag of the bundle and where it goes.
pub struct Planned {
    pub entry: Descriptor,
    /// `registry/path` in the destination.
    pub repository: String,
    pub tag: String,
    pub moved: TagMove,
}

/// The bundle unpacked and checked: its layout directory and its tags.
pub struct Unpacked {
    pub dir: PathBuf,
    pub entries: Vec<Descriptor>,
}

/// Unpacks `archive` into `dir` and checks every blob against its digest (file name), and that
/// every tag's tree is whole.
pub fn unpack(sh: &Shell, archive: &Path, dir: &Path) -> Result<Unpacked> {
    bundle_archive::unpack(sh, archive, dir)?;
    let index = std::fs::read(dir.join("index.json")).context("the bundle has no index.json")?;
    let index: LayoutIndex = serde_json::from_slice(&index).context("the bundle's index.json")?;
    let blobs = dir.join("blobs/sha256");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&blobs)
        .with_context(|| format!("the bundle has no blobs/sha256 ({})", archive.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for file in &names {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let digest = format!("sha256:{name}");
        bundle::hex(&digest).with_context(|| format!("the bundle holds a stray file blobs/sha256/{name}"))?;
        if !std::fs::symlink_metadata(file)?.is_file() {
            bail!("the bundle's blob {digest} is not a regular file: refusing the bundle");
        }
        let actual = crate::rules::digest::sha256(&std::fs::read(file)?);
        if actual != digest {
            bail!(
                "the bundle's blob {digest} holds other bytes (their digest is {actual}): the bundle is damaged or \
                 was altered after it was written. Nothing was imported; copy it again, or write it again with \
                 `cargo xtask release bundle`"
            );
        }
    }
    let mut seen = BTreeSet::new();
    for entry in &index.manifests {
        let tag = entry.tag().with_context(|| format!("the bundle's entry {} has no tag", entry.digest))?;
        whole(dir, &entry.digest, &mut seen).with_context(|| format!("the bundle's tag {tag}"))?;
    }
    Ok(Unpacked { dir: dir.to_owned(), entries: index.manifests })
}

/// Checks that the manifest `digest` and everything under it are in the layout.
fn whole(dir: &Path, digest: &str, seen: &mut BTreeSet<String>) -> Result<()> {
    if !seen.insert(digest.to_owned()) {
        return Ok(());
    }
    let bytes = std::fs::read(blob_path(dir, digest)?).with_context(|| format!("the bundle lacks {digest}"))?;
    let children = bundle::children(&bytes).with_context(|| format!("manifest {digest}"))?;
    for (child, _) in &children.manifests {
        whole(dir, child, seen)?;
    }
    for blob in &children.blobs {
        if !blob_path(dir, blob)?.is_file() {
            bail!("the bundle lacks blob {blob} of manifest {digest}: write the bundle again");
        }
    }
    Ok(())
}

/// Where each tag goes (`to`: `HOST[:PORT]/NAMESPACE`, keeping each image's name) and what it does
/// there; refused, before anything is sent, if a tag already points elsewhere.
pub fn plan(sh: &Shell, transports: &Transports, unpacked: &Unpacked, to: &str) -> Result<Vec<Planned>> {
    let mut planned = Vec::new();
    for entry in &unpacked.entries {
        let tag = entry.tag().unwrap_or_default().to_owned();
        // It becomes part of a request's path: only a tag as the registry API spells one.
        reference::validate_tag(&tag).with_context(|| format!("the bundle's entry {}", entry.digest))?;
        let source = entry.annotations.get(bundle::REPOSITORY).with_context(|| {
            format!(
                "the bundle's tag {tag} names no repository ({}): write it with `cargo xtask release bundle`",
                bundle::REPOSITORY
            )
        })?;
        let repository = reference::rewrite_registry(source, to)?;
        let parts = Repository::parse(&repository)?;
        let client = Client::new(sh, transports, parts.registry);
        let current = client.manifest(parts.path, &tag)?.map(|m| m.digest);
        let moved = bundle::tag_move(&format!("{repository}:{tag}"), current.as_deref(), &entry.digest)?;
        planned.push(Planned { entry: entry.clone(), repository, tag, moved });
    }
    Ok(planned)
}

/// Pushes every tag's tree by digest, then writes the tags, then reads each back. Returns how many
/// blobs were uploaded (the registry lacked them).
pub fn push(sh: &Shell, transports: &Transports, dir: &Path, planned: &[Planned]) -> Result<usize> {
    let mut uploaded = 0;
    let mut pushed = BTreeSet::new();
    for item in planned {
        let parts = Repository::parse(&item.repository)?;
        let client = Client::new(sh, transports, parts.registry);
        let mut tree = Tree { client: &client, dir, path: parts.path, pushed: &mut pushed, uploaded: &mut uploaded };
        tree.put(&item.entry.digest, &item.entry.media_type)
            .with_context(|| format!("pushing {}@{}", item.repository, item.entry.digest))?;
    }
    for item in planned.iter().filter(|p| p.moved == TagMove::Write) {
        let parts = Repository::parse(&item.repository)?;
        let manifest = manifest_of(dir, &item.entry)?;
        Client::new(sh, transports, parts.registry).put_manifest(parts.path, &item.tag, &manifest)?;
    }
    for item in planned {
        let parts = Repository::parse(&item.repository)?;
        let read = Client::new(sh, transports, parts.registry).manifest(parts.path, &item.tag)?;
        match read.map(|m| m.digest) {
            Some(digest) if digest == item.entry.digest => {}
            other => bail!(
                "{}:{} reads back as {other:?} after the import, not {}: the registry changed what it was given",
                item.repository,
                item.tag,
                item.entry.digest
            ),
        }
    }
    console::progress!("    {} tags checked: each names the digest it had in the bundle", planned.len());
    Ok(uploaded)
}

/// A tag's manifest, as the bundle holds it.
fn manifest_of(dir: &Path, entry: &Descriptor) -> Result<Manifest> {
    let bytes = std::fs::read(blob_path(dir, &entry.digest)?)?;
    let own = bundle::children(&bytes)?.media_type;
    let media_type = if own.is_empty() { entry.media_type.clone() } else { own };
    Ok(Manifest { bytes, media_type, digest: entry.digest.clone() })
}

/// One repository's push: manifests already pushed there (`repository@digest`) are not pushed again.
struct Tree<'a, 'c> {
    client: &'a Client<'c>,
    dir: &'a Path,
    path: &'a str,
    pushed: &'a mut BTreeSet<String>,
    uploaded: &'a mut usize,
}

impl Tree<'_, '_> {
    /// Pushes the manifest `digest` after its blobs and child manifests, under its own digest.
    fn put(&mut self, digest: &str, media_type: &str) -> Result<()> {
        if !self.pushed.insert(format!("{}@{digest}", self.path)) {
            return Ok(());
        }
        let entry = Descriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_owned(),
            size: 0,
            annotations: Default::default(),
        };
        let manifest = manifest_of(self.dir, &entry)?;
        let children = bundle::children(&manifest.bytes)?;
        for (child, child_type) in &children.manifests {
            self.put(child, child_type)?;
        }
        for blob in &children.blobs {
            if !self.client.blob_exists(self.path, blob)? {
                self.client.upload_blob(self.path, blob, &blob_path(self.dir, blob)?)?;
                *self.uploaded += 1;
            }
        }
        if manifest.media_type.is_empty() {
            bail!("manifest {digest} of the bundle names no media type");
        }
        self.client.put_manifest(self.path, digest, &manifest)
    }
}
