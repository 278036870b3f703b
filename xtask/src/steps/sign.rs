//! The sign step: cosign signs every pushed index (and, recursively, its manifests) in every
//! repository, attests each platform manifest with the scan's CycloneDX SBOM and the build's SLSA
//! provenance, and verifies the signature and both attestations from the registry. What already
//! verifies is not signed again, so a resumed release uploads nothing new.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::steps::build_record::BuildRecord;
use crate::steps::publish::built;
use crate::steps::scan::ScanSummary;
use crate::tools::cosign::{SignatureFormat, Signer};

/// Records written before the format was recorded were all cosign 2's.
fn legacy() -> SignatureFormat {
    SignatureFormat::LegacyTags
}

const SBOM_TYPE: &str = "cyclonedx";
/// Rounds of signing an image in one repository: each ends with everything verifying, or repeats.
const ROUNDS: usize = 3;
const PROVENANCE_TYPE: &str = "slsaprovenance";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signed {
    pub image: String,
    pub repository: String,
    /// cosign 2's legacy `.sig`/`.att` tags, or cosign 3's Sigstore bundles as OCI referrers.
    #[serde(default = "legacy")]
    pub signature_format: SignatureFormat,
    /// Where the signature is stored: the tag (legacy), or the referrer(s) `repo@digest` (bundle).
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
            let manifests: Vec<String> = built.platforms.iter().map(|p| format!("{repository}@{}", p.digest)).collect();
            let signatures_verify = || -> Result<()> {
                signer.verify(&index, &public_key)?;
                manifests.iter().try_for_each(|m| signer.verify(m, &public_key))
            };
            let mut subjects = Vec::new();
            for (platform, manifest) in built.platforms.iter().zip(&manifests) {
                let sbom = scanned
                    .targets
                    .iter()
                    .find(|t| t.digest.as_deref() == Some(platform.digest.as_str()))
                    .and_then(|t| t.sbom.as_deref())
                    .with_context(|| format!("no SBOM was written for {} {}", image.name, platform.platform))?;
                subjects.push((manifest, SBOM_TYPE, sbom));
                subjects.push((manifest, PROVENANCE_TYPE, platform.provenance.as_path()));
            }
            let attestations_verify = || -> Result<()> {
                subjects.iter().try_for_each(|(m, kind, _)| signer.verify_attestation(m, kind, &public_key))
            };
            let mut acted = false;
            for round in 1..=ROUNDS {
                let mut wrote = ensure(signatures_verify, || signer.sign(&index))?;
                for (manifest, predicate_type, predicate) in &subjects {
                    wrote |= ensure(
                        || signer.verify_attestation(manifest, predicate_type, &public_key),
                        || signer.attest(manifest, predicate_type, predicate),
                    )?;
                }
                acted |= wrote;
                // Each write can drop an earlier one (see `ensure`): a round that wrote ends with
                // everything verifying, or runs again.
                let lost = if wrote { signatures_verify().and_then(|()| attestations_verify()).err() } else { None };
                match lost {
                    None => break,
                    Some(error) if round < ROUNDS => {
                        console::progress!("    signing again (round {} of {ROUNDS}): {error:#}", round + 1)
                    }
                    Some(error) => {
                        return Err(error.context(format!(
                            "{index}: a later signature or attestation write lost an earlier one {ROUNDS} times"
                        )))
                    }
                }
            }
            let attestations = built
                .platforms
                .iter()
                .zip(&manifests)
                .map(|(platform, manifest)| Ok((platform.platform.clone(), signer.stored(manifest, "att")?)))
                .collect::<Result<Vec<_>>>()?;
            let signature = signer.stored(&index, "sig")?;
            let done = if acted { "signed and attested" } else { "already signed and attested" };
            console::progress!("    {done} {index}; signature, SBOM and provenance verify");
            signed.push(Signed {
                image: image.name.clone(),
                repository,
                signature_format: signer.format,
                signature,
                attestations,
            });
        }
    }
    Ok(signed)
}

/// Runs `act` unless `check` already passes (a resumed release signs nothing twice), then requires
/// `check` to pass. Returns whether it acted. A registry without the OCI referrers API keeps cosign
/// 3's signatures and attestations in one index under a fallback tag that each of them rewrites: a
/// transient error while reading it can drop an earlier entry. So an act that does not verify is
/// repeated (harmless: it verifies the same), up to `ACTS` times, before `check`'s error stands.
pub fn ensure(check: impl Fn() -> Result<()>, act: impl Fn() -> Result<()>) -> Result<bool> {
    const ACTS: usize = 3;
    if check().is_ok() {
        return Ok(false);
    }
    for attempt in 1..ACTS {
        act()?;
        match check() {
            Ok(()) => return Ok(true),
            Err(error) => {
                console::progress!("    signing again ({attempt} of {ACTS}): it did not verify: {error:#}")
            }
        }
    }
    act()?;
    check()?;
    Ok(true)
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
