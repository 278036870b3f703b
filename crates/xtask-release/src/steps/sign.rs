//! The sign step: cosign signs every pushed index (and, recursively, its manifests) in every
//! repository, attests each platform manifest with the scan's CycloneDX SBOM and the build's SLSA
//! provenance, and verifies the signature and both attestations from the registry. What already
//! verifies is not signed again, so a resumed release uploads nothing new; the checks run side by
//! side, and with cosign 3 a passed one is reused while the registry lists the same referrers
//! (content-addressed) for the subject and the key is the same (`rules::verdicts::signing_key`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::console;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::rules::signing;
use crate::rules::verdicts::{self as rules_verdicts, Check as VerdictCheck, Reused, Verdict};
use crate::steps::build_record::BuildRecord;
use crate::steps::publish::built;
use crate::steps::scan::ScanSummary;
use crate::steps::{parallel, verdicts};
use crate::tools::cosign::{self, SignatureFormat, Signer};

/// Records written before the format was recorded were all cosign 2's.
fn legacy() -> SignatureFormat {
    SignatureFormat::LegacyTags
}

const SBOM_TYPE: &str = "cyclonedx";
/// Rounds of signing an image in one repository: each ends with everything verifying, or repeats
/// what does not.
const ROUNDS: usize = 4;
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

impl Target<'_> {
    /// What is signed: the index, then each platform's manifest (`repo@digest`).
    fn signed(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.index).chain(self.manifests.iter().map(|(m, _)| m))
    }
}

/// A check of what is in the registry: an image's signature, or one of its attestations (with
/// the predicate that attests it, should it have to be written).
enum Check<'p> {
    Signature(String),
    Attestation(String, &'static str, &'p Path),
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

    fn verify(&self, signer: &Signer<'_>, public_key: &Path) -> Result<()> {
        match self {
            Check::Signature(image) => signer.verify(image, public_key),
            Check::Attestation(image, kind, _) => signer.verify_attestation(image, kind, public_key),
        }
    }
}

/// Signs and attests every pushed image, and checks that all of it verifies from the registry.
/// Returns what was signed, and the verifications reused (cosign 3: a signature or attestation
/// whose subject lists the very referrers it verified with before, with the same key).
pub fn sign_all(
    signer: &Signer<'_>,
    plan: &Plan,
    record: &BuildRecord,
    scan: &ScanSummary,
    out: &Path,
) -> Result<(Vec<Signed>, Vec<Reused>)> {
    let public_key = out.join("cosign.pub");
    signer.write_public_key(&public_key)?;
    let targets = targets(plan, record, scan)?;
    let detached = signer.detach();
    let verifier = signer.verifier(&public_key);
    let mut recorded = verdicts::load(out)?;
    // Everything is checked side by side first: on a re-release all of it is in place, and the
    // checks are the whole step. Only a target with something missing takes the ordered write path.
    let checks: Vec<(usize, Check)> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let signatures = t.signed().map(move |m| (i, Check::Signature(m.clone())));
            let attestations =
                t.attestations.iter().map(move |(m, kind, p)| (i, Check::Attestation(m.clone(), kind, p)));
            signatures.chain(attestations)
        })
        .collect();
    let mut trees = trees(signer, &targets, |_| true);
    let key = |trees: &BTreeMap<String, String>, check: &Check| {
        let tree = trees.get(check.subject())?;
        let referrers = [signing::bundle_referrers(tree, false), signing::bundle_referrers(tree, true)].concat();
        Some(rules_verdicts::signing_key(check.subject(), check.what(), &referrers, &verifier))
    };
    let keys: Vec<Option<String>> = checks.iter().map(|(_, check)| key(&trees, check)).collect();
    let passed: Vec<Option<String>> = keys
        .iter()
        .map(|k| k.as_deref().and_then(|k| recorded.pass(VerdictCheck::Signing, k)).map(|v| v.at.clone()))
        .collect();
    let pending: Vec<&Check> = checks.iter().zip(&passed).filter(|(_, p)| p.is_none()).map(|((_, c), _)| c).collect();
    let mut verified =
        parallel::each(signer.sh, &pending, |sh, check| check.verify(&detached.on(sh), &public_key)).into_iter();
    let mut failing = Vec::new();
    for ((check, key), passed) in checks.iter().map(|(_, c)| c).zip(&keys).zip(&passed) {
        let ok = passed.is_some() || verified.next().context("a verification did not run")?.is_ok();
        if let (Some(key), None) = (key, passed) {
            recorded.record(verdict(check, key, ok));
        }
        failing.push(!ok);
    }
    let mut acted = vec![false; targets.len()];
    for (i, target) in targets.iter().enumerate() {
        let (mine, failing): (Vec<&Check>, Vec<bool>) =
            checks.iter().zip(&failing).filter(|((t, _), _)| *t == i).map(|((_, c), f)| (c, *f)).unzip();
        if !failing.contains(&true) {
            continue;
        }
        write(signer, target, (&mine, failing), &public_key)?;
        acted[i] = true;
        // All of it verifies now: recorded under what the registry lists after the writes.
        target.signed().for_each(|subject| drop(trees.remove(subject)));
        trees.extend(self::trees(signer, &targets, |t| t == i));
        for (_, check) in checks.iter().filter(|(t, _)| *t == i) {
            if let Some(key) = key(&trees, check) {
                recorded.record(verdict(check, &key, true));
            }
        }
    }
    verdicts::save(out, &mut recorded)?;
    let mut signed = Vec::new();
    let mut reused = Vec::new();
    let mut stored = stored(signer, &targets, &trees).into_iter();
    for (i, (target, acted)) in targets.into_iter().zip(acted).enumerate() {
        let signature = stored.next().context("a signature lookup is missing")??;
        let attestations = target
            .manifests
            .iter()
            .map(|(_, platform)| Ok((platform.clone(), stored.next().context("an attestation lookup is missing")??)))
            .collect::<Result<Vec<_>>>()?;
        let since = checks.iter().zip(&passed).filter(|((t, _), _)| *t == i).map(|(_, p)| p.as_deref());
        let since: Option<Vec<&str>> = since.collect();
        let done = if acted { "signed and attested" } else { "already signed and attested" };
        match since.and_then(|s| s.into_iter().min()) {
            Some(since) => {
                console::progress!(
                    "    {done} {}; signature, SBOM and provenance verified at {since}, reused",
                    target.index
                );
                reused.push(Reused {
                    check: "signature and attestation verification".into(),
                    subject: target.index.clone(),
                    since: since.to_owned(),
                });
            }
            None => console::progress!("    {done} {}; signature, SBOM and provenance verify", target.index),
        }
        signed.push(Signed {
            image: target.image.to_owned(),
            repository: target.repository,
            signature_format: signer.format,
            signature,
            attestations,
        });
    }
    Ok((signed, reused))
}

fn verdict(check: &Check, key: &str, passed: bool) -> Verdict {
    Verdict {
        check: VerdictCheck::Signing,
        subject: format!("{} {}", check.subject(), check.what()),
        key: key.to_owned(),
        passed,
        at: verdicts::now(),
        outcome: serde_json::Value::Null,
    }
}

/// cosign 3: what the registry lists for every subject (index and manifests) of the targets `which`
/// picks, side by side; a subject it could not list is left out (its checks run, unkeyed). cosign
/// 2's signatures are tags, not content-addressed: none is listed, every check runs.
fn trees(signer: &Signer<'_>, targets: &[Target<'_>], which: impl Fn(usize) -> bool) -> BTreeMap<String, String> {
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
fn stored(signer: &Signer<'_>, targets: &[Target<'_>], trees: &BTreeMap<String, String>) -> Vec<Result<String>> {
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

/// Signs `target` if a signature of it did not verify, and attests each manifest whose
/// attestation did not (`failing`, per check), one write after another; then checks all of it,
/// side by side. A registry without the OCI referrers API keeps cosign 3's signatures and
/// attestations in one index under a fallback tag that each write rewrites, and a transient error
/// while reading it can drop an earlier entry: so a round that leaves something unverified writes
/// that again, up to `ROUNDS` times (harmless: a repeated write verifies the same).
fn write(
    signer: &Signer<'_>,
    target: &Target<'_>,
    (checks, failing): (&[&Check<'_>], Vec<bool>),
    public_key: &Path,
) -> Result<()> {
    let detached = signer.detach();
    let mut failing = failing;
    for round in 1..=ROUNDS {
        let failed = || checks.iter().zip(&failing).filter(|(_, f)| **f).map(|(c, _)| *c);
        if failed().any(|c| matches!(c, Check::Signature(_))) {
            signer.sign(&target.index)?;
        }
        for check in failed() {
            if let Check::Attestation(manifest, predicate_type, predicate) = check {
                signer.attest(manifest, predicate_type, predicate)?;
            }
        }
        let results = parallel::each(signer.sh, checks, |sh, check| check.verify(&detached.on(sh), public_key));
        failing = results.iter().map(Result::is_err).collect();
        let Some(error) = results.into_iter().find_map(Result::err) else { return Ok(()) };
        if round == ROUNDS {
            return Err(error.context(format!(
                "{}: signed and attested {ROUNDS} times, and still not all of it verifies",
                target.index
            )));
        }
        console::progress!("    signing again (round {} of {ROUNDS}): {error:#}", round + 1);
    }
    Ok(())
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
