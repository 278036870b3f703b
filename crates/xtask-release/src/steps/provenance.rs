//! Each platform manifest's SLSA provenance predicate, written beside the image's archive for
//! the release to attest: read from the build's own record where buildx keeps it
//! (`Capabilities::provenance_from_history`, buildx 0.23 and later: one build per image), else
//! taken from a second build with provenance attestations, every step a cache hit.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::buildx_run::{build_image, Settings, Variant, METADATA_FILE};
use crate::steps::sources::Sources;
use crate::tools::{docker, oci};

/// Writes each platform manifest's provenance predicate next to the archive, in the order of
/// `index.manifests`: taken from the build's own record where buildx keeps it
/// (`Capabilities::provenance_from_history`), else from a second build with provenance attestations
/// (every step a cache hit).
pub fn record_provenance(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    sources: &Sources,
    out: &Path,
    index: &oci::ArchiveIndex,
) -> Result<Vec<PathBuf>> {
    let Some(capabilities) = settings.capabilities.filter(|c| c.provenance_from_history) else {
        return record_provenance_rebuilt(sh, plan, image, settings, sources, out, index);
    };
    let metadata = std::fs::read_to_string(out.join(METADATA_FILE))
        .with_context(|| format!("buildx wrote no {}", out.join(METADATA_FILE).display()))?;
    let metadata: docker::BuildMetadata = serde_json::from_str(&metadata).with_context(|| {
        let buildx = capabilities.buildx;
        format!("buildx {buildx} wrote a metadata file without `buildx.build.ref`: upgrade xtask-release or report it")
    })?;
    let build_ref = metadata.build_ref.as_str();
    let builder = settings.builder.as_deref();
    let attachments = docker::history_attachments(sh, builder, build_ref)?;
    let mut paths = Vec::new();
    for manifest in &index.manifests {
        // A single-platform build's record names no platform.
        let single = index.manifests.len() == 1;
        let Some(provenance) = attachments.iter().find(|a| {
            (a.platform == manifest.platform || (single && a.platform.is_empty()))
                && a.kind.starts_with("https://slsa.dev/provenance/")
        }) else {
            bail!("the build record {build_ref} holds no provenance for {}", manifest.platform);
        };
        if provenance.kind != SLSA_PROVENANCE_V02 {
            bail!(
                "the build record {build_ref} holds {} provenance; the release attests {SLSA_PROVENANCE_V02}",
                provenance.kind
            );
        }
        if !attachments.iter().any(|a| a.digest == manifest.digest) {
            bail!(
                "the build record {build_ref} does not hold the archive's {} manifest {}: not the same build",
                manifest.platform,
                manifest.digest
            );
        }
        let predicate = docker::history_attachment(sh, builder, build_ref, &provenance.digest)?;
        let predicate: serde_json::Value =
            serde_json::from_str(&predicate).context("an unreadable provenance predicate")?;
        paths.push(write_predicate(out, &manifest.platform, &predicate)?);
    }
    Ok(paths)
}

/// Runs the build again with provenance attestations (every step a cache hit): buildx before 0.23.
fn record_provenance_rebuilt(
    sh: &Shell,
    plan: &Plan,
    image: &ImagePlan,
    settings: &Settings,
    sources: &Sources,
    out: &Path,
    index: &oci::ArchiveIndex,
) -> Result<Vec<PathBuf>> {
    let attested = out.join("provenance.oci.tar");
    let extra: Vec<(&str, &str)> = settings.build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    build_image(sh, plan, image, settings, sources, (&attested, Variant::Provenance), &extra)?;
    let mut statements = oci::read_attestations(sh, &attested, SLSA_PROVENANCE_V02)?;
    let mut paths = Vec::new();
    for manifest in &index.manifests {
        let Some(statement) = statements.remove(&manifest.digest) else {
            bail!(
                "the build with provenance produced a different {} manifest than {}: the build is not reproducible (try `cargo xtask build --check-reproducible`)",
                manifest.platform,
                manifest.digest
            );
        };
        paths.push(write_predicate(out, &manifest.platform, &statement.predicate)?);
    }
    std::fs::remove_file(&attested).ok();
    Ok(paths)
}

const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// Writes one platform's provenance predicate (passed on untouched, for cosign to attest) as
/// `provenance-<os>-<arch>.json` in `out`; one release notes could not read is refused here, at
/// the build, not found at the next release's notes.
fn write_predicate(out: &Path, platform: &str, predicate: &serde_json::Value) -> Result<PathBuf> {
    crate::rules::sbom::provenance(predicate.clone()).map_err(|problem| {
        anyhow::anyhow!("BuildKit's {platform} provenance: {problem}; upgrade xtask-release or report it")
    })?;
    let path = out.join(format!("provenance-{}.json", platform.replace('/', "-")));
    crate::tools::files::write_json(&path, predicate)?;
    Ok(path)
}
