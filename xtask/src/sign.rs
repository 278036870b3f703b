//! The sign step: cosign signs every pushed index (and, recursively, its manifests) in every
//! repository, attests each platform manifest with the scan's CycloneDX SBOM and the build's SLSA
//! provenance, then verifies the signature and both attestations from the registry.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cosign::Signer;
use crate::plan::Plan;
use crate::publish::built;
use crate::record::BuildRecord;
use crate::reference::Repository;
use crate::scan::ScanSummary;

const SBOM_TYPE: &str = "cyclonedx";
const PROVENANCE_TYPE: &str = "slsaprovenance";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signed {
    pub image: String,
    pub repository: String,
    pub signature: String,
    /// platform → where its attestations are stored
    pub attestations: Vec<(String, String)>,
}

pub fn sign_all(
    signer: &Signer<'_>,
    plan: &Plan,
    record: &BuildRecord,
    scan: &ScanSummary,
    out: &Path,
) -> Result<Vec<Signed>> {
    let public_key = out.join("cosign.pub");
    signer.write_public_key(&public_key)?;
    let mut signed = Vec::new();
    for image in plan.images.iter().filter(|i| !i.versioned_tags.is_empty()) {
        let built = built(record, image)?;
        let scanned =
            scan.images.iter().find(|s| s.name == image.name).context("image missing from the scan summary")?;
        for repository in pushed_repositories(&image.versioned_tags)? {
            let index = format!("{repository}@{}", built.index_digest);
            signer.sign(&index)?;
            let mut attestations = Vec::new();
            for platform in &built.platforms {
                let manifest = format!("{repository}@{}", platform.digest);
                let sbom = scanned
                    .targets
                    .iter()
                    .find(|t| t.digest.as_deref() == Some(platform.digest.as_str()))
                    .and_then(|t| t.sbom.as_deref())
                    .with_context(|| format!("no SBOM was written for {} {}", image.name, platform.platform))?;
                signer.attest(&manifest, SBOM_TYPE, sbom)?;
                signer.attest(&manifest, PROVENANCE_TYPE, &platform.provenance)?;
                signer.verify(&manifest, &public_key)?;
                signer.verify_attestation(&manifest, SBOM_TYPE, &public_key)?;
                signer.verify_attestation(&manifest, PROVENANCE_TYPE, &public_key)?;
                attestations.push((platform.platform.clone(), signer.triangulate(&manifest, "att")?));
            }
            signer.verify(&index, &public_key)?;
            let signature = signer.triangulate(&index, "sig")?;
            eprintln!("    signed and attested {index}; signature, SBOM and provenance verify");
            signed.push(Signed { image: image.name.clone(), repository, signature, attestations });
        }
    }
    Ok(signed)
}

/// The repositories (`host/path`) the versioned tags were pushed to, each once.
fn pushed_repositories(versioned: &[String]) -> Result<Vec<String>> {
    let mut repositories = Vec::new();
    for reference in versioned {
        let repository = reference.rsplit_once(':').map(|(r, _)| r).context("a versioned tag without a tag")?;
        Repository::parse(repository)?;
        if !repositories.iter().any(|r| r == repository) {
            repositories.push(repository.to_owned());
        }
    }
    Ok(repositories)
}
