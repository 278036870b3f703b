//! Pushes exactly the bytes of an OCI archive (the build's, which the scan judged) to a repository,
//! by digest: the archive is unpacked beside itself, and from the manifest or index `digest` down,
//! every blob the registry lacks is uploaded, then every manifest is written under its own digest,
//! children first. No tag is written here and the engine's images are not involved: tags are then
//! written from that digest (`tools::registry::tag_digest`), so what a tag names is what was scanned.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::bundle;
use crate::rules::transport::Transports;
use crate::tools::registry_client::{Client, Manifest};

/// Pushes the manifest or index `digest` of `archive`, and everything it references, to
/// `repository` (`HOST[:PORT]/PATH`), by digest. Returns how many blobs were uploaded.
pub fn push(sh: &Shell, transports: &Transports, archive: &Path, repository: &str, digest: &str) -> Result<usize> {
    let dir = archive.with_extension("push");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let unpacked = cmd!(sh, "tar -xf {archive} -C {dir} blobs").quiet().run();
    let pushed = unpacked
        .with_context(|| format!("cannot unpack {}", archive.display()))
        .and_then(|()| push_tree(sh, transports, &dir, repository, digest));
    let _ = std::fs::remove_dir_all(&dir);
    pushed
}

fn push_tree(sh: &Shell, transports: &Transports, dir: &Path, repository: &str, digest: &str) -> Result<usize> {
    let (registry, path) = repository.split_once('/').with_context(|| format!("{repository} names no registry"))?;
    let client = Client::new(sh, transports, registry);
    let mut uploaded = 0;
    put(&client, dir, path, digest, "", &mut uploaded).with_context(|| format!("pushing {repository}@{digest}"))?;
    Ok(uploaded)
}

/// Pushes manifest `digest` (of `media_type`, as its parent describes it) after what it references.
fn put(
    client: &Client<'_>,
    dir: &Path,
    repository: &str,
    digest: &str,
    media_type: &str,
    uploaded: &mut usize,
) -> Result<()> {
    let bytes = std::fs::read(blob(dir, digest)?).with_context(|| format!("the archive lacks manifest {digest}"))?;
    if crate::rules::digest::sha256(&bytes) != digest {
        bail!("the archive's manifest {digest} has other bytes: the archive is damaged, build again");
    }
    let children = bundle::children(&bytes).with_context(|| format!("manifest {digest} of the archive"))?;
    for (child, media_type) in &children.manifests {
        put(client, dir, repository, child, media_type, uploaded)?;
    }
    for digest in &children.blobs {
        if !client.blob_exists(repository, digest)? {
            client.upload_blob(repository, digest, &blob(dir, digest)?)?;
            *uploaded += 1;
        }
    }
    let media_type = if children.media_type.is_empty() { media_type } else { &children.media_type };
    if media_type.is_empty() {
        bail!("manifest {digest} of the archive names no media type");
    }
    let manifest = Manifest { bytes, media_type: media_type.to_owned(), digest: digest.to_owned() };
    client.put_manifest(repository, digest, &manifest)
}

/// A blob's file in the unpacked layout, checked to exist.
fn blob(dir: &Path, digest: &str) -> Result<PathBuf> {
    let (algorithm, hex) = digest.split_once(':').with_context(|| format!("{digest:?} is not a digest"))?;
    let file = dir.join("blobs").join(algorithm).join(hex);
    if !file.is_file() {
        bail!("the archive lacks blob {digest}");
    }
    Ok(file)
}
