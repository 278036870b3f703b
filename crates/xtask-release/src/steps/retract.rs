//! The retraction's steps, acting on what `rules::retract` decides: survey (every fact read from the
//! registry before anything changes: the withdrawn digest, where each floating tag points, the
//! digest each move targets, whether the attestation is already there), refuse a tag deletion the
//! registry cannot carry out (`rules::tag_deletion`) before changing anything, move the floating tags
//! (each read back after), attest the retraction on the version's index, and record it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use semver::Version;
use serde::Serialize;

use crate::console;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::rules::retract::{self, Action, Change, Current, Predicate, RepositoryPlan};
use crate::rules::tag_deletion;
use crate::rules::tags;
use crate::rules::transport::Transports;
use crate::steps::publish::point_floating;
use crate::steps::record;
use crate::steps::sign::{ensure, Check};
use crate::tools::cosign::Signer;
use crate::tools::{registry, untag};

/// The retraction record's file in the run's `out_dir`.
pub const RECORD_FILE: &str = "retraction-record.json";
const RECORD_SCHEMA_VERSION: u32 = 1;

/// How to check for the retraction attestation: the signer and the public key file (key mode).
pub type Verifier<'s> = (&'s Signer<'s>, &'s Path);

/// Reads every repository's state and decides its changes; refuses a version whose versioned tag
/// is not in the registry, or a move whose target release is not.
pub fn survey(
    sh: &xshell::Shell,
    transports: &Transports,
    plan: &Plan,
    (released, retracted): (&[Version], &[Version]),
    verifier: Option<Verifier<'_>>,
) -> Result<Vec<RepositoryPlan>> {
    let version = &plan.version;
    let mut plans = Vec::new();
    for image in &plan.images {
        let predicate_type = retract::predicate_type(image)?;
        for repository in &image.repositories {
            let versioned = format!("{repository}:{version}");
            let digest = registry::digest_of(sh, transports, &versioned)?.with_context(|| {
                format!(
                    "{versioned} is not in the registry: {version} was never released there, nothing to retract \
                     (check --registry or XTASK_REGISTRY)"
                )
            })?;
            let mut current = BTreeMap::new();
            for floating in tags::floating_of(version) {
                let tag = floating.name();
                let now = match registry::digest_of(sh, transports, &format!("{repository}:{tag}"))? {
                    None => Current::Missing,
                    Some(at)
                        if at != digest && untag::is_placeholder(sh, transports, &format!("{repository}@{at}"))? =>
                    {
                        Current::Placeholder(at)
                    }
                    Some(at) => Current::At(at),
                };
                current.insert(tag, now);
            }
            let changes = retract::changes(version, released, retracted, &digest, &current);
            let mut targets = BTreeMap::new();
            for change in &changes {
                if let Action::Move(to) = &change.action {
                    if !targets.contains_key(to) {
                        let target = target_digest(sh, transports, repository, to, &change.tag)?;
                        signed_by_the_release(verifier, repository, (to, &target), &change.tag)?;
                        targets.insert(to.clone(), target);
                    }
                }
            }
            let index = format!("{repository}@{digest}");
            let attested =
                verifier.map(|(signer, key)| signer.verify_attestation(&index, &predicate_type, key).is_ok());
            plans.push(RepositoryPlan {
                image: image.name.clone(),
                repository: repository.clone(),
                digest,
                changes,
                targets,
                attested,
            });
        }
    }
    Ok(plans)
}

/// The digest floating `tag` moves to: read back from release `to`'s versioned tag, every
/// platform of which must carry version `to` in its label.
fn target_digest(
    sh: &xshell::Shell,
    transports: &Transports,
    repository: &str,
    to: &Version,
    tag: &str,
) -> Result<String> {
    let reference = format!("{repository}:{to}");
    let remote = registry::read_back(sh, transports, &reference)?.with_context(|| {
        format!(
            "{repository}:{tag} must move to {to}, the highest release left under it, but {reference} is not in \
             the registry: publish {to} there again first (`cargo xtask release --execute --ref refs/tags/v{to}` \
             from its tag), then retract"
        )
    })?;
    let expected = to.to_string();
    if let Some((platform, label)) = remote.version_labels.iter().find(|(_, label)| **label != expected) {
        bail!("{reference} on {platform} carries version label {label:?}, not {to}: refusing to point {tag} at it");
    }
    Ok(remote.digest)
}

/// Refuses to point floating `tag` at release `to`'s `digest` unless its signature verifies with
/// the release's key or identity: an image pushed under a version's tag by anyone else is never
/// promoted. Without signing (`verifier` none) there is nothing to check it against.
fn signed_by_the_release(
    verifier: Option<Verifier<'_>>,
    repository: &str,
    (to, digest): (&Version, &str),
    tag: &str,
) -> Result<()> {
    let Some((signer, key)) = verifier else { return Ok(()) };
    let index = format!("{repository}@{digest}");
    signer.verify(&index, key).with_context(|| {
        format!(
            "{repository}:{tag} must move to {to} ({digest}), but its signature does not verify with this release's key or \
             identity: refusing to promote an image this project did not sign (re-release {to} from its tag, or retract it too)"
        )
    })
}

/// Refuses, before any tag changes, a retraction that must delete a tag where the registry cannot:
/// on a host known to refuse (ghcr.io, Docker Hub) always, dry run included; on any other registry
/// when `execute`, by asking it (`untag::probe_delete`, once per repository that deletes).
pub fn check_deletable(
    sh: &xshell::Shell,
    transports: &Transports,
    (version, plans): (&Version, &[RepositoryPlan]),
    scratch: &Path,
    execute: bool,
) -> Result<()> {
    let mut answers = BTreeMap::new();
    for plan in plans.iter().filter(|plan| !tag_deletion::deletions(plan).is_empty()) {
        let registry = Repository::parse(&plan.repository)?.registry.to_owned();
        let answer = match tag_deletion::known_refusal(&registry) {
            Some(known) => Some(known),
            None if execute => {
                std::fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
                untag::probe_delete(sh, transports, &plan.repository, scratch)?
            }
            None => None,
        };
        answers.insert(plan.repository.clone(), answer);
    }
    tag_deletion::check(&version.to_string(), plans, |repository| answers.get(repository).cloned().flatten())
}

/// Carries out the moves, then the deletions (moving `latest` off the version matters most; a
/// registry may refuse deletes), checking each against the registry.
pub fn move_floating(
    sh: &xshell::Shell,
    transports: &Transports,
    plans: &[RepositoryPlan],
    scratch: &Path,
) -> Result<()> {
    std::fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    for plan in plans {
        let (moves, others): (Vec<&Change>, Vec<&Change>) =
            plan.changes.iter().partition(|change| matches!(change.action, Action::Move(_)));
        for change in moves.into_iter().chain(others) {
            let reference = format!("{}:{}", plan.repository, change.tag);
            match (&change.action, &change.now) {
                (Action::Keep, _) => console::progress!("    {reference} unchanged"),
                (Action::Move(to), _) => {
                    let digest = plan.targets.get(to).context("the survey found no digest for this move")?;
                    // Read again right before the move: a release since the survey moved it on.
                    let now = registry::digest_of(sh, transports, &reference)?;
                    if now.as_deref().is_some_and(|now| now != plan.digest && now != digest) {
                        console::progress!("    {reference} left as it is: no longer on the retracted version");
                        continue;
                    }
                    point_floating(sh, transports, &reference, digest)?;
                    console::progress!("    {reference} -> {to} {digest}");
                }
                (Action::Delete, Current::Placeholder(digest)) => {
                    untag::delete_placeholder(sh, transports, &reference, digest)?;
                    console::progress!("    {reference} deleted (the placeholder an interrupted run left)");
                }
                (Action::Delete, _) => {
                    untag::delete(sh, transports, &reference, scratch)?;
                    console::progress!("    {reference} deleted");
                }
            }
        }
    }
    Ok(())
}

/// Attaches the signed retraction attestation to each repository's index, unless it already
/// verifies; returns where each is stored, by repository.
pub fn attest(
    (signer, public_key): Verifier<'_>,
    plan: &Plan,
    plans: &[RepositoryPlan],
    base: &Predicate,
    out: &Path,
) -> Result<BTreeMap<String, String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut stored = BTreeMap::new();
    for (n, repository) in plans.iter().enumerate() {
        let image = plan.images.iter().find(|i| i.name == repository.image).context("an image not in the plan")?;
        let predicate_type = retract::predicate_type(image)?;
        let index = format!("{}@{}", repository.repository, repository.digest);
        let predicate = Predicate {
            image: format!("{}:{}", repository.repository, plan.version),
            digest: repository.digest.clone(),
            ..base.clone()
        };
        let file = out.join(format!("{}-{}-{n}.predicate.json", repository.image, plan.version));
        record::write_json(&file, &predicate)?;
        let acted = ensure(signer, &index, &[Check::Attestation(index.clone(), &predicate_type, &file)], public_key)?;
        let done = if acted { "attested" } else { "already attested" };
        console::progress!("    {done} {index}: {predicate_type} verifies");
        stored.insert(repository.repository.clone(), signer.stored(&index, "att")?);
    }
    Ok(stored)
}

/// What a retraction did, as `target/xtask/retraction-record.json`.
#[derive(Debug, Serialize)]
pub struct RetractionRecord<'a> {
    pub schema_version: u32,
    pub version: String,
    pub reason: String,
    pub git_ref: String,
    pub git_sha: String,
    pub retracted_at: String,
    /// Per repository: the withdrawn digest, each floating tag's change, the move targets.
    pub repositories: &'a [RepositoryPlan],
    /// repository → where its retraction attestation is stored
    pub attestations: BTreeMap<String, String>,
    /// Registry operations retried after a transient failure, by step (docs/src/retries.md).
    pub retries: BTreeMap<String, u32>,
}

impl<'a> RetractionRecord<'a> {
    pub fn new(base: &Predicate, repositories: &'a [RepositoryPlan], attestations: BTreeMap<String, String>) -> Self {
        RetractionRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            version: base.version.clone(),
            reason: base.reason.clone(),
            git_ref: base.git_ref.clone(),
            git_sha: base.git_sha.clone(),
            retracted_at: base.retracted_at.clone(),
            repositories,
            attestations,
            retries: crate::tools::retry::counts(),
        }
    }
}

/// Writes the record and, under GitHub Actions, the step summary (`listing`) and outputs.
pub fn write_record(out: &Path, record: &RetractionRecord<'_>, listing: &str) -> Result<PathBuf> {
    let path = out.join(RECORD_FILE);
    record::write_json(&path, record)?;
    if console::github_actions() {
        let summary = format!("### Retraction of {}\n\n```text\n{listing}```\n", record.version);
        let outputs = format!("version={}\nretraction-record={}\n", record.version, path.display());
        record::to_github(&summary, &outputs)?;
    }
    Ok(path)
}
