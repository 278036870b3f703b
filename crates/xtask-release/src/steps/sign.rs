//! The sign step: cosign signs every pushed index (and, recursively, its manifests) in every
//! repository, attests each platform manifest with the scan's CycloneDX SBOM and the build's SLSA
//! provenance, and verifies the signature and both attestations from the registry. What already
//! verifies is not signed again, so a resumed release uploads nothing new; the checks run side by
//! side, and with cosign 3 a passed one is reused while the registry lists the same referrers
//! (content-addressed) for the subject and the key is the same (`rules::verdicts::signing_key`).
//!
//! Writing and verifying repeat through the one retry loop (`tools::retry`, docs/src/retries.md):
//! each check's first verification is one retried operation, and so is each image's writing with
//! the verification after it ([`ensure`]); no loop of their own.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console;
use crate::rules::cosign_output::Tree;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::rules::verdicts::{signing_key, Check as VerdictCheck, Reused};
use crate::steps::build_record::BuildRecord;
use crate::steps::parallel;
use crate::steps::publish::built;
use crate::steps::scan::ScanSummary;
use crate::steps::verdicts::Store;
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
    let targets = targets(plan, record, scan)?;
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
    let missing = verify_unrecorded(signer, &checks, &keyed, verdicts, &public_key)?;
    let mut acted = vec![false; targets.len()];
    for (i, target) in targets.iter().enumerate() {
        let (mine, missing): (Vec<&Check>, Vec<bool>) =
            checks.iter().zip(&missing).filter(|((t, _), _)| *t == i).map(|((_, c), m)| (c, *m)).unzip();
        if !missing.contains(&true) {
            continue;
        }
        write(signer, &target.index, &mine, missing, &public_key)?;
        acted[i] = true;
        // All of it verifies now: recorded under what the registry lists after the writes.
        target.signed().for_each(|subject| drop(trees.remove(subject)));
        trees.extend(self::trees(signer, &targets, |t| t == i));
        for (_, check) in checks.iter().filter(|(t, _)| *t == i) {
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

/// Verifies, side by side, every check no recorded pass covers, and records each keyed outcome;
/// whether each check is missing (it did not verify, and no recorded pass covers it).
fn verify_unrecorded(
    signer: &Signer<'_>,
    checks: &[(usize, Check)],
    keyed: &[Keyed],
    verdicts: &mut Store,
    public_key: &Path,
) -> Result<Vec<bool>> {
    let pending: Vec<&Check> =
        checks.iter().zip(keyed).filter(|(_, k)| k.passed.is_none()).map(|((_, c), _)| c).collect();
    let detached = signer.detach();
    let mut verified =
        parallel::each(signer.sh, &pending, |sh, check| check.verify(&detached.on(sh), public_key)).into_iter();
    let mut missing = Vec::new();
    for ((_, check), Keyed { key, passed }) in checks.iter().zip(keyed) {
        let ok = passed.is_some() || verified.next().context("a verification did not run")?.is_ok();
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
        signed.push(Signed {
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

/// Every image with versioned tags, in every repository it was pushed to.
fn targets<'p>(plan: &'p Plan, record: &'p BuildRecord, scan: &'p ScanSummary) -> Result<Vec<Target<'p>>> {
    let mut targets = Vec::new();
    for image in plan.images.iter().filter(|i| !i.versioned_tags.is_empty()) {
        let built = built(record, image)?;
        let scanned =
            scan.images.iter().find(|s| s.name == image.name).context("image missing from the scan summary")?;
        for repository in pushed_repositories(&image.versioned_tags)? {
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
