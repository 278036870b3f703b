//! OCI image layouts on disk for the per-platform fan-out: the one manifest of a one-platform
//! archive (its media type, size and annotations, as an index descriptor needs them), pushing that
//! manifest to a repository by digest only (no tag), and packing several variants' blobs
//! with an index into one archive that `docker load` takes like a multi-platform build's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::rules::transport::Transports;
use crate::tools::archive_push;

/// The single manifest of a one-platform build's archive.
#[derive(Debug, Clone)]
pub struct TopManifest {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// The manifest's own annotations.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Layout {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct ManifestAnnotations {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The archive's one image manifest (a one-platform build exports it without an index around it).
pub fn top_manifest(sh: &Shell, archive: &Path) -> Result<TopManifest> {
    let layout = cmd!(sh, "tar -xOf {archive} index.json").quiet().read()?;
    let layout: Layout = serde_json::from_str(&layout).context("index.json of the OCI archive")?;
    let Some(top) = layout.manifests.first() else { bail!("{} holds no image", archive.display()) };
    let member = format!("blobs/{}", top.digest.replacen(':', "/", 1));
    let blob = cmd!(sh, "tar -xOf {archive} {member}").quiet().read()?;
    let manifest: ManifestAnnotations = serde_json::from_str(&blob).context("the archive's manifest")?;
    if manifest.media_type.ends_with("index.v1+json") || top.media_type.ends_with("index.v1+json") {
        bail!("{} holds an index, not one platform's manifest: build one platform (--platform)", archive.display());
    }
    Ok(TopManifest {
        media_type: top.media_type.clone(),
        digest: top.digest.clone(),
        size: top.size,
        annotations: manifest.annotations,
    })
}

/// Pushes the archive's one manifest (and its blobs) to `repository@digest`: by digest, no tag,
/// through the registry client (`tools::archive_push`).
pub fn push_by_digest(
    sh: &Shell,
    transports: &Transports,
    archive: &Path,
    repository: &str,
    digest: &str,
) -> Result<()> {
    let top = top_manifest(sh, archive)?;
    if top.digest != digest {
        bail!("{} holds {}, not {digest}", archive.display(), top.digest);
    }
    archive_push::push(sh, transports, archive, repository, digest)?;
    Ok(())
}

/// Packs the blobs of `archives` and `index` (the index's bytes) into one OCI archive at `out`,
/// its index named `names` (what `docker load` tags); returns the index digest.
pub fn pack(sh: &Shell, archives: &[PathBuf], index: &str, names: &[String], out: &Path) -> Result<String> {
    let dir = out.with_extension("layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("blobs/sha256")).with_context(|| format!("cannot create {}", dir.display()))?;
    for archive in archives {
        cmd!(sh, "tar -xf {archive} -C {dir} blobs")
            .quiet()
            .run()
            .with_context(|| format!("cannot unpack {}", archive.display()))?;
    }
    let scratch = dir.join("index.blob");
    std::fs::write(&scratch, index)?;
    let sum = cmd!(sh, "sha256sum {scratch}").quiet().read().context("sha256sum")?;
    let hex = sum.split_whitespace().next().context("sha256sum printed nothing")?.to_owned();
    std::fs::rename(&scratch, dir.join("blobs/sha256").join(&hex))?;
    let digest = format!("sha256:{hex}");
    let entries: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            let tag = name.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or("latest", |(_, t)| t);
            serde_json::json!({
                "mediaType": crate::rules::fanout::INDEX_MEDIA_TYPE,
                "digest": digest,
                "size": index.len(),
                "annotations": { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag },
            })
        })
        .collect();
    let layout = serde_json::json!({ "schemaVersion": 2, "manifests": entries });
    std::fs::write(dir.join("index.json"), layout.to_string())?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    cmd!(sh, "tar -cf {out} -C {dir} oci-layout index.json blobs")
        .quiet()
        .run()
        .with_context(|| format!("cannot write {}", out.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(digest)
}
