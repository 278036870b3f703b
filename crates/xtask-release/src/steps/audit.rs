//! Reading a published release back for `audit` and `release notes`: each platform's SBOM from the
//! release's own CycloneDX attestation (its signature verified; scanned by digest instead, and
//! said so, only where there is no attestation at all), its SLSA provenance, and a scan of the SBOM
//! against the one DB this run fetched. Read-only: nothing is pushed, tagged or deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::rules::audit::SbomSource;
use crate::rules::config::ScanPolicy;
use crate::rules::policy::{self, Finding};
use crate::rules::transport::Transports;
use crate::steps::vulndb::VulnDb;
use crate::tools::cosign::Signer;
use crate::tools::{registry, trivy};

const SBOM_TYPE: &str = "cyclonedx";
const PROVENANCE_TYPE: &str = "slsaprovenance";

/// How attestations are checked: the verifier and its public key (key mode), or `None` when the
/// release is configured unsigned (every SBOM then comes from a scan by digest).
pub struct Reader<'a> {
    pub sh: &'a Shell,
    pub transports: &'a Transports,
    pub verifier: Option<(&'a Signer<'a>, &'a Path)>,
    /// Where SBOMs and reports are written.
    pub scratch: PathBuf,
}

/// One platform of a published tag.
pub struct PlatformRead {
    pub platform: String,
    pub digest: String,
    pub sbom: serde_json::Value,
    pub sbom_path: PathBuf,
    pub source: SbomSource,
    /// The build's SLSA provenance (`None`: not attested, or not asked for).
    pub provenance: Option<serde_json::Value>,
}

/// A tag as the registry has it now.
pub struct TagRead {
    pub digest: String,
    pub platforms: Vec<PlatformRead>,
}

impl Reader<'_> {
    /// Reads `repository:tag` back (`None`: no such tag); `provenance`: read that attestation too.
    pub fn read(&self, repository: &str, tag: &str, provenance: bool) -> Result<Option<TagRead>> {
        let reference = format!("{repository}:{tag}");
        let Some(remote) = registry::read_back(self.sh, self.transports, &reference)? else { return Ok(None) };
        let mut platforms = Vec::new();
        for (platform, digest) in &remote.platforms {
            let image = format!("{repository}@{digest}");
            let dir = self.scratch.join(repository.replace(['/', ':'], "_")).join(digest.replace(':', "-"));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let sbom_path = dir.join("sbom.cdx.json");
            let (sbom, source) = match self.attested(&image, SBOM_TYPE, &reference)? {
                Some(sbom) => {
                    std::fs::write(&sbom_path, serde_json::to_string(&sbom)?)?;
                    (sbom, SbomSource::Attestation)
                }
                None => {
                    trivy::remote_sbom(self.sh, &image, self.transports.plain_http(&image), &sbom_path)?;
                    let text = std::fs::read_to_string(&sbom_path)?;
                    (serde_json::from_str(&text).context("trivy wrote no CycloneDX")?, SbomSource::ScannedByDigest)
                }
            };
            let provenance = if provenance { self.attested(&image, PROVENANCE_TYPE, &reference)? } else { None };
            platforms.push(PlatformRead {
                platform: platform.clone(),
                digest: digest.clone(),
                sbom,
                sbom_path,
                source,
                provenance,
            });
        }
        Ok(Some(TagRead { digest: remote.digest, platforms }))
    }

    /// The predicate of `image`'s verified attestation of `predicate_type`; `None` when it has no
    /// attestation at all (or signing is off); an error naming `reference` when one is there but
    /// does not verify.
    fn attested(&self, image: &str, predicate_type: &str, reference: &str) -> Result<Option<serde_json::Value>> {
        let Some((signer, key)) = self.verifier else { return Ok(None) };
        match signer.verified_predicates(image, predicate_type, key) {
            Ok(predicates) => {
                let last = predicates.into_iter().last().context("cosign verified no attestation")?;
                Ok(Some(unwrap_predicate(last)?))
            }
            Err(error) => {
                // Where the attestations would be (cosign 2's tag, cosign 3's referrers): none there
                // means the image has none; one there that does not verify is a refusal.
                let Ok(stored) = signer.stored(image, "att") else { return Ok(None) };
                let first = stored.split(", ").next().unwrap_or_default();
                if registry::digest_of(self.sh, self.transports, first)?.is_none() {
                    return Ok(None);
                }
                bail!(
                    "{reference}: the {predicate_type} attestation on {image} does not verify with the release's \
                     key or identity: it was tampered with or signed by someone else; do not trust this tag until \
                     it is re-released or retracted ({error:#})"
                )
            }
        }
    }
}

/// cosign stores a CycloneDX predicate as the document itself, or (older cosign) as `{"Data": …}`.
fn unwrap_predicate(predicate: serde_json::Value) -> Result<serde_json::Value> {
    match predicate.get("Data") {
        Some(serde_json::Value::String(text)) => serde_json::from_str(text).context("the SBOM predicate is not JSON"),
        Some(data) => Ok(data.clone()),
        None => Ok(predicate),
    }
}

/// Scans each platform's SBOM against `db` under `policy`: platform → findings, those the ignore
/// file accepts left out, as in a release's scan.
pub fn scan(
    sh: &Shell,
    policy: &ScanPolicy,
    ignorefile: Option<&Path>,
    db: &VulnDb,
    platforms: &[PlatformRead],
) -> Result<BTreeMap<String, Vec<Finding>>> {
    let mut found = BTreeMap::new();
    for p in platforms {
        let report = p.sbom_path.with_file_name("report.json");
        trivy::scan_sbom(sh, &p.sbom_path, policy.ignore_unfixed, ignorefile, &db.cache_dir, &report)?;
        let text = std::fs::read_to_string(&report).with_context(|| format!("cannot read {}", report.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text).context("trivy wrote no JSON report")?;
        found.insert(p.platform.clone(), policy::findings(&json));
    }
    Ok(found)
}
