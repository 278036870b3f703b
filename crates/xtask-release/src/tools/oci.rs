//! Reads an OCI image-layout archive written by buildx: the index digest, and for each platform its
//! manifest digest, the labels of its image config and its size. The build record and the smoke test take
//! their facts from here, from the bytes that will be loaded and pushed, not from the engine's view.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::rules::cosign_output::{self, Statement};
use crate::rules::size_budget;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveIndex {
    pub index_digest: String,
    pub manifests: Vec<PlatformManifest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// `os/arch[/variant]`, as buildx's `--platform` spells it.
    pub platform: String,
    pub digest: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// The image's HEALTHCHECK command (`["CMD", "/app", "healthcheck"]`), if it has one.
    pub healthcheck: Option<Vec<String>>,
    /// The image's USER (`65532:65532`), empty when it runs as root.
    pub user: String,
    /// Its size as pushed: config and compressed layers (`rules::size_budget::image_size`).
    pub size: u64,
}

#[derive(Deserialize)]
struct Index {
    /// Empty when the blob is an image manifest rather than an index.
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    size: u64,
    platform: Option<Platform>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AttestationManifest {
    layers: Vec<Descriptor>,
}

/// Annotations BuildKit puts on an attestation manifest's descriptor in the index.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageConfig {
    config: Option<ContainerConfig>,
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    labels: Option<std::collections::BTreeMap<String, String>>,
    healthcheck: Option<Healthcheck>,
    #[serde(default)]
    user: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Healthcheck {
    #[serde(default)]
    test: Vec<String>,
}

impl ImageConfig {
    /// The platform manifest `digest` of `platform` with this config's facts and `manifest`'s size.
    fn describe(self, platform: &Platform, digest: String, manifest: &Manifest) -> PlatformManifest {
        let config = self.config;
        let (labels, healthcheck, user) = match config {
            Some(c) => (
                c.labels.unwrap_or_default(),
                c.healthcheck.map(|h| h.test).filter(|test| !test.is_empty() && test[0] != "NONE"),
                c.user,
            ),
            None => Default::default(),
        };
        PlatformManifest {
            platform: platform_name(&platform.os, &platform.architecture, platform.variant.as_deref()),
            digest,
            labels,
            healthcheck,
            user,
            size: size_budget::image_size(manifest.config.size, manifest.layers.iter().map(|layer| layer.size)),
        }
    }
}

pub fn read_archive(sh: &Shell, archive: &Path) -> Result<ArchiveIndex> {
    let blob = |digest: &str| read_blob(sh, archive, digest);
    let (index_digest, index) = read_index(sh, archive)?;
    if index.manifests.is_empty() {
        // A one-platform build exports its image manifest itself, not an index around it.
        let manifest: Manifest = serde_json::from_str(&blob(&index_digest)?).context("the image manifest")?;
        let config: ImageConfig = serde_json::from_str(&blob(&manifest.config.digest)?).context("an image config")?;
        let platform = Platform {
            os: config.os.clone().unwrap_or_default(),
            architecture: config.architecture.clone().unwrap_or_default(),
            variant: config.variant.clone(),
        };
        let only = config.describe(&platform, index_digest.clone(), &manifest);
        return Ok(ArchiveIndex { index_digest, manifests: vec![only] });
    }
    let mut manifests = Vec::new();
    for descriptor in index.manifests {
        if descriptor.annotations.contains_key(REFERENCE_TYPE) {
            continue;
        }
        let Some(platform) = descriptor.platform else { continue };
        let manifest: Manifest = serde_json::from_str(&blob(&descriptor.digest)?).context("a platform manifest")?;
        let config: ImageConfig = serde_json::from_str(&blob(&manifest.config.digest)?).context("an image config")?;
        manifests.push(config.describe(&platform, descriptor.digest, &manifest));
    }
    Ok(ArchiveIndex { index_digest, manifests })
}

/// The in-toto statements of predicate type `predicate_type` in an archive built with attestations,
/// keyed by the digest of the platform manifest they describe. A layer that is not a statement is
/// an error naming BuildKit, never left out.
pub fn read_attestations(
    sh: &Shell,
    archive: &Path,
    predicate_type: &str,
) -> Result<std::collections::BTreeMap<String, Statement>> {
    let (_, index) = read_index(sh, archive)?;
    let mut statements = std::collections::BTreeMap::new();
    for descriptor in index.manifests {
        if descriptor.annotations.get(REFERENCE_TYPE).map(String::as_str) != Some("attestation-manifest") {
            continue;
        }
        let subject = descriptor.annotations.get(REFERENCE_DIGEST).context("an attestation without a subject")?;
        let manifest: AttestationManifest =
            serde_json::from_str(&read_blob(sh, archive, &descriptor.digest)?).context("an attestation manifest")?;
        for layer in manifest.layers {
            if layer.annotations.get(PREDICATE_TYPE).map(String::as_str) == Some(predicate_type) {
                let statement =
                    cosign_output::statement(read_blob(sh, archive, &layer.digest)?.as_bytes()).map_err(|problem| {
                        anyhow!(
                            "BuildKit wrote an attestation this engine cannot read in {} ({}): {problem}; upgrade or \
                             report",
                            archive.display(),
                            layer.digest
                        )
                    })?;
                statements.insert(subject.clone(), statement);
            }
        }
    }
    Ok(statements)
}

/// One layer of a platform manifest: its bytes as stored (compressed) in the archive.
pub fn layer_blobs(sh: &Shell, archive: &Path, manifest_digest: &str) -> Result<Vec<Vec<u8>>> {
    let manifest: Manifest =
        serde_json::from_str(&read_blob(sh, archive, manifest_digest)?).context("a platform manifest")?;
    manifest
        .layers
        .iter()
        .map(|layer| {
            let member = format!("blobs/{}", layer.digest.replacen(':', "/", 1));
            let output = cmd!(sh, "tar -xOf {archive} {member}").quiet().output()?;
            Ok(output.stdout)
        })
        .collect()
}

/// The bytes of a gzip-compressed layer `blob` once uncompressed (`gzip -dc`).
pub fn uncompressed_bytes(sh: &Shell, blob: &[u8]) -> Result<u64> {
    Ok(cmd!(sh, "gzip -dc").stdin(blob).quiet().output()?.stdout.len() as u64)
}

/// The verbose listing of a gzip-compressed layer `blob` (`tar -tvz`): a line per file, its size third.
pub fn layer_listing(sh: &Shell, blob: &[u8]) -> Result<String> {
    Ok(cmd!(sh, "tar -tvzf -").stdin(blob).quiet().read()?)
}

fn read_member(sh: &Shell, archive: &Path, member: &str) -> Result<String> {
    cmd!(sh, "tar -xOf {archive} {member}")
        .quiet()
        .read()
        .with_context(|| format!("cannot read {member} from {}", archive.display()))
}

fn read_blob(sh: &Shell, archive: &Path, digest: &str) -> Result<String> {
    read_member(sh, archive, &format!("blobs/{}", digest.replacen(':', "/", 1)))
}

/// The digest of the archive's image index (its blob read, so the archive holds it).
pub fn index_digest(sh: &Shell, archive: &Path) -> Result<String> {
    Ok(read_index(sh, archive)?.0)
}

/// The archive's one image index: its digest and contents. (The layout lists it once per name it
/// was exported under, all with the same digest.)
fn read_index(sh: &Shell, archive: &Path) -> Result<(String, Index)> {
    let layout: Index =
        serde_json::from_str(&read_member(sh, archive, "index.json")?).context("index.json of the OCI archive")?;
    let Some(top) = layout.manifests.first().filter(|top| layout.manifests.iter().all(|m| m.digest == top.digest))
    else {
        let digests: Vec<&str> = layout.manifests.iter().map(|m| m.digest.as_str()).collect();
        bail!("{} should hold exactly one image index, found {digests:?}", archive.display());
    };
    let index =
        serde_json::from_str(&read_blob(sh, archive, &top.digest)?).context("the image index of the OCI archive")?;
    Ok((top.digest.clone(), index))
}

/// `os/arch[/variant]`, as buildx's `--platform` spells it.
pub fn platform_name(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    }
}

/// Unpacks the whole archive (an OCI layout) into `dir`, for a tool that reads a layout directory.
pub fn unpack(sh: &Shell, archive: &Path, dir: &Path) -> Result<()> {
    cmd!(sh, "tar -xf {archive} -C {dir}").quiet().run().with_context(|| format!("cannot unpack {}", archive.display()))
}
