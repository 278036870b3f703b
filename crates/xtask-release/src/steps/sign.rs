//! The sign step: cosign signs every pushed index (and, recursively, its manifests) in every
//! repository, attests each platform manifest with the scan's CycloneDX SBOM, the build's SLSA
//! provenance and, where the ignore file accepted a vulnerability, the OpenVEX document saying so
//! (`rules::openvex`), and verifies the signature and every attestation from the registry. What already
//! verifies is not signed again, so a resumed release uploads nothing new; the checks run side by
//! side, and with cosign 3 a passed one is reused while the registry lists the same referrers
//! (content-addressed) for the subject and the key is the same (`rules::verdicts::signing_key`).
//!
//! Writing and verifying repeat through the one retry loop (`tools::retry`, docs/src/retries.md):
//! each check's first verification is one retried operation, and so is each image's writing with
//! the verification after it ([`ensure`]); no loop of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console;
use crate::rules::cosign_output::Tree;
use crate::rules::plan::Plan;
use crate::rules::reference;
use crate::rules::verdicts::{signing_key, Check as VerdictCheck, Reused};
use crate::steps::build_record::BuildRecord;
use crate::steps::parallel;
use crate::steps::publish::built;
use crate::steps::scan::ScanSummary;
use crate::steps::verdicts::Store;
use crate::steps::vex;
use crate::tools::cosign::{self, SignatureFormat, Signer};

mod write;
pub use write::ensure;
use write::write;

/// Records written before the format was recorded were all cosign 2's.
fn legacy() -> SignatureFormat {
    SignatureFormat::LegacyTags
}

const SBOM_TYPE: &str = "cyclonedx";
const PROVENANCE_TYPE: &str = "slsaprovenance";
/// The OpenVEX document of the accepted findings (cosign's `--type openvex`).
pub const VEX_TYPE: &str = "openvex";

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
    /// The attestation types (cosign's `--type`) on every platform manifest: `cyclonedx`,
    /// `slsaprovenance`, and `openvex` where a vulnerability was accepted (empty in older records).
    #[serde(default)]
    pub attestation_types: Vec<String>,
}

/// One image in one repository: what is signed and what is attested.
struct Target<'p> {
    image: &'p str,
    repository: String,
    /// `repo@digest` of the index, and of each platform's manifest with its platform.
    index: String,
    manifests: Vec<(String, String)>,
    /// (manifest, predicate type, predicate file)
    attestations: Vec<(String, &'static str, &'p Path)>,
}

impl<'p> Target<'p> {
    /// What is signed: the index, then each platform's manifest (`repo@digest`).
    fn signed(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.index).chain(self.manifests.iter().map(|(m, _)| m))
    }

    /// Its checks: each signed subject's signature, then each attestation.
    fn checks(&self) -> Vec<Check<'p>> {
        let signatures = self.signed().map(|m| Check::Signature(m.clone()));
        let attestations = self.attestations.iter().map(|(m, kind, p)| Check::Attestation(m.clone(), kind, p));
        signatures.chain(attestations).collect()
    }
}

/// A check of what is in the registry: an image's signature, or one of its attestations (with
/// the predicate that attests it, should it have to be written).
pub enum Check<'p> {
    Signature(String),
    Attestation(String, &'p str, &'p Path),
}

impl Check<'_> {
    fn subject(&self) -> &str {
        match self {
            Check::Signature(image) | Check::Attestation(image, _, _) => image,
        }
    }

    fn what(&self) -> &str {
        match self {
            Check::Signature(_) => "signature",
            Check::Attestation(_, kind, _) => kind,
        }
    }

    /// Verified from the registry, under the retry policy.
    fn verify(&self, signer: &Signer<'_>, public_key: &Path) -> Result<()> {
        match self {
            Check::Signature(image) => signer.verify(image, public_key),
            Check::Attestation(image, kind, _) => signer.verify_attestation(image, kind, public_key),
        }
    }
}

/// Signs and attests every pushed image, and checks that all of it verifies from the registry;
/// `out` is where the public key is written. Returns what was signed, and the verifications reused
/// from `verdicts` (cosign 3: a signature or attestation whose subject lists the very referrers it
/// verified with before, with the same key).
pub fn sign_all(
    signer: &Signer<'_>,
    plan: &Plan,
    record: &BuildRecord,
    scan: &ScanSummary,
    out: &Path,
    verdicts: &mut Store,
) -> Result<(Vec<Signed>, Vec<Reused>)> {
    let public_key = out.join("cosign.pub");
    signer.write_public_key(&public_key)?;
    let vex = vex::write(plan, record, scan, out)?;
    let targets = targets(plan, record, scan, &vex)?;
    let verifier = signer.verifier(&public_key);
    let recorded = verdicts.read()?;
    // Everything is checked side by side first: on a re-release all of it is in place, and the
    // checks are the whole step. Only a target with something missing is written.
    let checks: Vec<(usize, Check)> =
        targets.iter().enumerate().flat_map(|(i, t)| t.checks().into_iter().map(move |c| (i, c))).collect();
    let mut trees = trees(signer, &targets, |_| true);
    let key = |trees: &BTreeMap<String, Tree>, check: &Check| {
        let tree = trees.get(check.subject())?;
        let referrers = [tree.bundle_referrers(false), tree.bundle_referrers(true)].concat();
        Some(signing_key(check.subject(), check.what(), &referrers, &verifier))
    };
    let keyed: Vec<Keyed> = checks
        .iter()
        .map(|(_, check)| {
            let key = key(&trees, check);
            let passed = key.as_deref().and_then(|k| recorded.pass(VerdictCheck::Signing, k)).map(|v| v.at.clone());
            Keyed { key, passed }
        })
        .collect();
    let absent: Vec<bool> = checks.iter().map(|(_, check)| absent(&trees, check)).collect();
    let missing = verify_unrecorded(signer, &checks, &keyed, &absent, verdicts, &public_key)?;
    // Each target with something missing is written, side by side: they are other subjects (and
    // other repositories), so no write reads what another rewrites.
    let acted: Vec<bool> =
        (0..targets.len()).map(|i| checks.iter().zip(&missing).any(|((t, _), m)| *t == i && *m)).collect();
    let to_write: Vec<usize> = (0..targets.len()).filter(|&i| acted[i]).collect();
    let detached = signer.detach();
    let written = parallel::all(signer.sh, &to_write, |sh, &i| {
        let (mine, missing): (Vec<&Check>, Vec<bool>) =
            checks.iter().zip(&missing).filter(|((t, _), _)| *t == i).map(|((_, c), m)| (c, *m)).unzip();
        write(&detached.on(sh), &targets[i].index, &mine, missing, &public_key)
    });
    written.into_iter().collect::<Result<Vec<()>>>()?;
    if !to_write.is_empty() {
        // All of it verifies now: recorded under what the registry lists after the writes.
        let fresh = self::trees(signer, &targets, |t| acted[t]);
        for (_, target) in targets.iter().enumerate().filter(|(i, _)| acted[*i]) {
            target.signed().for_each(|subject| drop(trees.remove(subject)));
        }
        trees.extend(fresh);
        for (_, check) in checks.iter().filter(|(t, _)| acted[*t]) {
            if let Some(key) = key(&trees, check) {
                record_verdict(verdicts, check, &key, true)?;
            }
        }
    }
    verdicts.save()?;
    let since: Vec<Option<&str>> = (0..targets.len())
        .map(|i| {
            let since = checks.iter().zip(&keyed).filter(|((t, _), _)| *t == i).map(|(_, k)| k.passed.as_deref());
            since.collect::<Option<Vec<&str>>>().and_then(|s| s.into_iter().min())
        })
        .collect();
    let stored = stored(signer, &targets, &trees);
    report(signer.format, targets.into_iter().zip(acted).zip(since), stored)
}

/// A check's verdict key (cosign 3, its subject listed), and when a recorded pass of it was made.
struct Keyed {
    key: Option<String>,
    passed: Option<String>,
}

/// cosign 3: whether the registry's listing of `check`'s subject shows no bundle of its kind, so
/// that verifying it can only fail (a first release: nothing is there yet). Writing it then is
/// harmless even were the listing behind: a repeated write verifies the same.
fn absent(trees: &BTreeMap<String, Tree>, check: &Check) -> bool {
    trees.get(check.subject()).is_some_and(|tree| !tree.lists_bundle(check.what()))
}

/// Verifies, side by side, every check no recorded pass covers and the listing does not show
/// `absent`, and records each keyed outcome; whether each check is missing (it did not verify, or
/// is absent, and no recorded pass covers it).
fn verify_unrecorded(
    signer: &Signer<'_>,
    checks: &[(usize, Check)],
    keyed: &[Keyed],
    absent: &[bool],
    verdicts: &mut Store,
    public_key: &Path,
) -> Result<Vec<bool>> {
    let asked = |k: &Keyed, absent: bool| k.passed.is_none() && !absent;
    let pending: Vec<&Check> =
        checks.iter().zip(keyed.iter().zip(absent)).filter(|(_, (k, a))| asked(k, **a)).map(|((_, c), _)| c).collect();
    let detached = signer.detach();
    let mut verified =
        parallel::each(signer.sh, &pending, |sh, check| check.verify(&detached.on(sh), public_key)).into_iter();
    let mut missing = Vec::new();
    for (((_, check), Keyed { key, passed }), absent) in checks.iter().zip(keyed).zip(absent) {
        let ok = passed.is_some() || (!absent && verified.next().context("a verification did not run")?.is_ok());
        if let (Some(key), None) = (key, passed) {
            record_verdict(verdicts, check, key, ok)?;
        }
        missing.push(!ok);
    }
    Ok(missing)
}

/// What was signed, from each target (whether it was written, and since when all of its checks
/// passed if every one was reused) and where its signature and attestations are stored.
fn report<'p>(
    format: SignatureFormat,
    targets: impl Iterator<Item = ((Target<'p>, bool), Option<&'p str>)>,
    stored: Vec<Result<String>>,
) -> Result<(Vec<Signed>, Vec<Reused>)> {
    let mut signed = Vec::new();
    let mut reused = Vec::new();
    let mut stored = stored.into_iter();
    for ((target, acted), since) in targets {
        let signature = stored.next().context("a signature lookup is missing")??;
        let attestations = target
            .manifests
            .iter()
            .map(|(_, platform)| Ok((platform.clone(), stored.next().context("an attestation lookup is missing")??)))
            .collect::<Result<Vec<_>>>()?;
        let done = if acted { "signed and attested" } else { "already signed and attested" };
        match since {
            Some(since) => {
                console::progress!(
                    "    {done} {}; signature, SBOM and provenance verified at {since}, reused",
                    target.index
                );
                reused.push(Reused {
                    check: VerdictCheck::Signing,
                    subject: target.index.clone(),
                    since: since.to_owned(),
                });
            }
            None => console::progress!("    {done} {}; signature, SBOM and provenance verify", target.index),
        }
        let mut attestation_types: Vec<String> = Vec::new();
        for (_, kind, _) in &target.attestations {
            if !attestation_types.iter().any(|k| k == kind) {
                attestation_types.push(kind.to_string());
            }
        }
        signed.push(Signed {
            attestation_types,
            image: target.image.to_owned(),
            repository: target.repository,
            signature_format: format,
            signature,
            attestations,
        });
    }
    Ok((signed, reused))
}

/// Records the outcome of `check`, verified under `key`.
fn record_verdict(verdicts: &mut Store, check: &Check, key: &str, passed: bool) -> Result<()> {
    let subject = format!("{} {}", check.subject(), check.what());
    verdicts.record(VerdictCheck::Signing, &subject, key, passed, serde_json::Value::Null)
}

/// cosign 3: what the registry lists for every subject (index and manifests) of the targets `which`
/// picks, side by side; a subject it could not list is left out (its checks run, unkeyed). cosign
/// 2's signatures are tags, not content-addressed: none is listed, every check runs.
fn trees(signer: &Signer<'_>, targets: &[Target<'_>], which: impl Fn(usize) -> bool) -> BTreeMap<String, Tree> {
    if signer.format != SignatureFormat::SigstoreBundle {
        return BTreeMap::new();
    }
    let subjects: Vec<&str> = targets
        .iter()
        .enumerate()
        .filter(|(i, _)| which(*i))
        .flat_map(|(_, t)| t.signed().map(String::as_str))
        .collect();
    let detached = signer.detach();
    let listed = parallel::each(signer.sh, &subjects, |sh, subject| detached.on(sh).tree(subject));
    subjects.into_iter().zip(listed).filter_map(|(s, tree)| Some((s.to_owned(), tree.ok()?))).collect()
}

/// Where each target's signature and each platform's attestations are stored, for the record:
/// from the listed trees (cosign 3), or asked side by side.
fn stored(signer: &Signer<'_>, targets: &[Target<'_>], trees: &BTreeMap<String, Tree>) -> Vec<Result<String>> {
    let lookups: Vec<(&str, &str)> = targets
        .iter()
        .flat_map(|t| {
            std::iter::once((t.index.as_str(), "sig")).chain(t.manifests.iter().map(|(m, _)| (m.as_str(), "att")))
        })
        .collect();
    let detached = signer.detach();
    parallel::each(signer.sh, &lookups, |sh, (image, kind)| match trees.get(*image) {
        Some(tree) => cosign::stored_in(tree, image, kind),
        None => detached.on(sh).stored(image, kind),
    })
}

/// Every image with versioned tags, in every repository it was pushed to; `vex`: the images'
/// OpenVEX documents, attested beside the SBOM and provenance.
fn targets<'p>(
    plan: &'p Plan,
    record: &'p BuildRecord,
    scan: &'p ScanSummary,
    vex: &'p [(String, PathBuf)],
) -> Result<Vec<Target<'p>>> {
    let mut targets = Vec::new();
    for image in plan.images.iter().filter(|i| !i.versioned_tags.is_empty()) {
        let built = built(record, image)?;
        let scanned =
            scan.images.iter().find(|s| s.name == image.name).context("image missing from the scan summary")?;
        for repository in reference::pushed_repositories(&image.versioned_tags)? {
            let manifests: Vec<(String, String)> =
                built.platforms.iter().map(|p| (format!("{repository}@{}", p.digest), p.platform.clone())).collect();
            let mut attestations = Vec::new();
            for (platform, (manifest, _)) in built.platforms.iter().zip(&manifests) {
                let sbom = scanned
                    .targets
                    .iter()
                    .find(|t| t.digest.as_deref() == Some(platform.digest.as_str()))
                    .and_then(|t| t.sbom.as_deref())
                    .with_context(|| format!("no SBOM was written for {} {}", image.name, platform.platform))?;
                attestations.push((manifest.clone(), SBOM_TYPE, sbom));
                attestations.push((manifest.clone(), PROVENANCE_TYPE, platform.provenance.as_path()));
                if let Some((_, document)) = vex.iter().find(|(name, _)| *name == image.name) {
                    attestations.push((manifest.clone(), VEX_TYPE, document.as_path()));
                }
            }
            targets.push(Target {
                image: &image.name,
                index: format!("{repository}@{}", built.index_digest),
                repository,
                manifests,
                attestations,
            });
        }
    }
    Ok(targets)
}
