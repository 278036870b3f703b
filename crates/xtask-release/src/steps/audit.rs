//! Reading a published release back for `audit` and `release notes`, trusting only the release's own
//! evidence: the tag's digest must verify with the release's key or identity; each platform's SBOMs
//! are every CycloneDX attestation there that verifies (their union: an extra clean one hides
//! nothing), an attestation signed by anyone else ignored and named (scanned by digest instead, and
//! said so, only where there is no attestation at all); its SLSA provenance; and a scan of each SBOM
//! against the one DB this run fetched; and the release's OpenVEX documents (`vex`), whose unexpired
//! `not_affected` statements the audit honours. Read-only: nothing is pushed, tagged or deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use xshell::Shell;

use crate::rules::audit::{self, SbomSource};
use crate::rules::config::ScanPolicy;
use crate::rules::policy::{self, Finding};
use crate::rules::sbom;
use crate::rules::transport::Transports;
use crate::steps::vulndb::VulnDb;
use crate::tools::cosign::Signer;
use crate::tools::{registry, trivy};

const SBOM_TYPE: &str = "cyclonedx";
const PROVENANCE_TYPE: &str = "slsaprovenance";
const VEX_TYPE: &str = "openvex";

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
    /// The union of its SBOMs' components (`rules::sbom::union`), for release notes.
    pub sbom: sbom::Bom,
    /// Each SBOM as a file: every verified attestation's, or the one made by scanning the digest.
    pub sbom_paths: Vec<PathBuf>,
    pub source: SbomSource,
    /// Attestations on it that do not verify with the release's key or identity: ignored, named.
    pub ignored: Vec<String>,
    /// The build's SLSA provenance (`None`: not attested, or not asked for).
    pub provenance: Option<sbom::Provenance>,
    /// Its size as pushed, from its manifest (`rules::size_budget::image_size`).
    pub size: Option<u64>,
}

/// A tag as the registry has it now.
pub struct TagRead {
    pub digest: String,
    pub platforms: Vec<PlatformRead>,
}

/// The verified attestations of one type on an image, and the ones there that did not verify. Each
/// predicate as attested, untouched: an SBOM is written back out for trivy as it was signed.
struct Attested {
    predicates: Vec<serde_json::Value>,
    ignored: Vec<String>,
}

impl Reader<'_> {
    /// Reads `repository:tag` back (`None`: no such tag); `provenance`: read that attestation too.
    /// With signing on, the tag's digest must verify with the release's key or identity first.
    pub fn read(&self, repository: &str, tag: &str, provenance: bool) -> Result<Option<TagRead>> {
        let reference = format!("{repository}:{tag}");
        // Where the SBOMs and reports go, and the audit's own report, however the reads end.
        std::fs::create_dir_all(&self.scratch).with_context(|| format!("cannot create {}", self.scratch.display()))?;
        let Some(remote) = registry::read_back(self.sh, self.transports, &reference)? else { return Ok(None) };
        self.signed(&format!("{repository}@{}", remote.digest), &reference)?;
        let mut platforms = Vec::new();
        for (platform, digest) in &remote.platforms {
            let image = format!("{repository}@{digest}");
            let dir = self.scratch.join(repository.replace(['/', ':'], "_")).join(digest.replace(':', "-"));
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let (sboms, sbom_paths, source, mut ignored) = match self.attested(&image, SBOM_TYPE, &reference)? {
                Some(attested) => {
                    let mut sboms = Vec::new();
                    let mut sbom_paths = Vec::new();
                    for (index, predicate) in attested.predicates.into_iter().enumerate() {
                        let sbom = unwrap_predicate(predicate)?;
                        sboms.push(sbom::bom(sbom.clone()).map_err(|problem| {
                            anyhow!("{reference}: the {SBOM_TYPE} attestation on {image} is unreadable: {problem}")
                        })?);
                        let path = dir.join(format!("sbom-{index}.cdx.json"));
                        std::fs::write(&path, serde_json::to_string(&sbom)?)?;
                        sbom_paths.push(path);
                    }
                    (sboms, sbom_paths, SbomSource::Attestation, attested.ignored)
                }
                None => {
                    let path = dir.join("sbom.cdx.json");
                    trivy::remote_sbom(self.sh, &image, self.transports.plain_http(&image), &path)?;
                    (vec![trivy::read_sbom(self.sh, &path)?], vec![path], SbomSource::ScannedByDigest, Vec::new())
                }
            };
            let provenance = match provenance {
                true => self.attested(&image, PROVENANCE_TYPE, &reference)?,
                false => None,
            };
            let provenance = match provenance {
                Some(p) => {
                    ignored.extend(p.ignored);
                    p.predicates.into_iter().last().map(sbom::provenance).transpose().map_err(|problem| {
                        anyhow!("{reference}: the {PROVENANCE_TYPE} attestation on {image} is unreadable: {problem}")
                    })?
                }
                None => None,
            };
            platforms.push(PlatformRead {
                platform: platform.clone(),
                digest: digest.clone(),
                sbom: sbom::union(&sboms),
                sbom_paths,
                source,
                ignored,
                provenance,
                size: remote.sizes.get(platform).copied(),
            });
        }
        Ok(Some(TagRead { digest: remote.digest, platforms }))
    }

    /// The OpenVEX documents attested on `image` (a platform manifest, `repo@digest`) that verify
    /// with the release's key or identity: none when it has none (or signing is off); an error
    /// naming `reference` when one is there and none verifies.
    pub fn vex(&self, image: &str, reference: &str) -> Result<Vec<serde_json::Value>> {
        let Some((signer, _)) = self.verifier else { return Ok(Vec::new()) };
        // cosign 2 keeps every attestation under one tag: whether one is OpenVEX, its statements say.
        // A listing that cannot be read honours nothing: the audit then reports more, never less.
        let Ok(stored) = signer.stored_statements(image) else { return Ok(Vec::new()) };
        if !stored.iter().any(|s| s.statement.predicate_type.starts_with("https://openvex.dev/")) {
            return Ok(Vec::new());
        }
        Ok(self.attested(image, VEX_TYPE, reference)?.map(|a| a.predicates).unwrap_or_default())
    }

    /// `image` (a tag's digest) is signed with the release's key or identity, or the refusal naming
    /// `reference`. Signing off: nothing to verify.
    fn signed(&self, image: &str, reference: &str) -> Result<()> {
        let Some((signer, key)) = self.verifier else { return Ok(()) };
        signer.verify(image, key).map_err(|error| {
            anyhow!(
                "{reference}: {image} is not signed with the release's key or identity: no release of this \
                 repository made it (pushed by hand, or the tag was moved). Do not trust this tag until it is \
                 re-released, retracted or moved back ({error:#})"
            )
        })
    }

    /// Every verified attestation of `predicate_type` on `image`, and the ones there that do not
    /// verify (ignored); `None` when it has no attestation at all (or signing is off); an error
    /// naming `reference` when there are some and none verifies.
    fn attested(&self, image: &str, predicate_type: &str, reference: &str) -> Result<Option<Attested>> {
        let Some((signer, key)) = self.verifier else { return Ok(None) };
        match signer.verified_statements(image, predicate_type, key) {
            Ok(verified) => {
                let uri = verified.first().context("cosign verified no attestation")?.statement.predicate_type.clone();
                let stored = signer.stored_statements(image)?;
                let stored: Vec<(&str, &str)> =
                    stored.iter().map(|s| (s.id.as_str(), s.statement.predicate_type.as_str())).collect();
                let trusted: Vec<&str> = verified.iter().map(|s| s.id.as_str()).collect();
                let ignored = audit::unverified(&trusted, &stored, &uri)
                    .into_iter()
                    .map(|id| {
                        format!(
                            "a {predicate_type} attestation on {image} does not verify with the release's key or \
                             identity (signed by someone else), and is not read: its envelope {id}"
                        )
                    })
                    .collect();
                let predicates = verified.into_iter().map(|s| s.statement.predicate).collect();
                Ok(Some(Attested { predicates, ignored }))
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

/// cosign stores a CycloneDX predicate as the document itself, or (older cosign) as `{"Data": …}`:
/// the document, untouched (it is written back out for trivy as it was attested).
fn unwrap_predicate(predicate: serde_json::Value) -> Result<serde_json::Value> {
    match predicate.get("Data") {
        Some(serde_json::Value::String(text)) => serde_json::from_str(text).context("the SBOM predicate is not JSON"),
        Some(data) => Ok(data.clone()),
        None => Ok(predicate),
    }
}

/// Scans each platform's SBOMs against `db` under `policy`: platform → the union of their findings,
/// those the ignore file accepts left out, as in a release's scan. An SBOM that lists no package adds
/// nothing; a platform whose SBOMs all list none is an error (the audit cannot see it).
pub fn scan(
    sh: &Shell,
    policy: &ScanPolicy,
    ignorefile: Option<&Path>,
    db: &VulnDb,
    platforms: &[PlatformRead],
) -> Result<BTreeMap<String, Vec<Finding>>> {
    let mut found = BTreeMap::new();
    for p in platforms {
        let mut union: Vec<Finding> = Vec::new();
        let mut read = 0;
        for sbom in &p.sbom_paths {
            let text = std::fs::read_to_string(sbom).with_context(|| format!("cannot read {}", sbom.display()))?;
            let listed = sbom::parse_bom(&text).map_err(|problem| anyhow!("{}: {problem}", sbom.display()))?;
            if sbom::packages(&listed).is_empty() {
                continue; // it adds nothing to the union (and trivy would report nothing it read)
            }
            read += 1;
            let report = sbom.with_extension("report.json");
            trivy::scan_sbom(sh, sbom, policy.ignore_unfixed, ignorefile, &db.cache_dir, &report)?;
            for finding in policy::findings(&trivy::read_report(sh, &report)?) {
                if !union.contains(&finding) {
                    union.push(finding);
                }
            }
        }
        if read == 0 {
            bail!(
                "{} ({}): no SBOM of it lists a package, so the audit cannot see what it ships, and fails closed: \
                 re-release it (a release's scan writes its SBOM from the image)",
                p.platform,
                p.digest
            );
        }
        found.insert(p.platform.clone(), union);
    }
    Ok(found)
}
