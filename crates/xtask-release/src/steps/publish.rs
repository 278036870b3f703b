//! Publishing, in the order that keeps a failed release harmless: every versioned tag is decided
//! before any is pushed (an existing one with another digest refuses the whole release), then the
//! build archive is pushed by digest and each versioned tag written from that digest, then read
//! back and compared with the build (digests, platforms, version labels, the planned annotations on
//! the index and every platform manifest); only then do floating tags move, each pointed at the verified
//! digest inside the registry.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::console;
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::publish::{self as rules, Action};
use crate::rules::transport::Transports;
use crate::steps::build_record::{BuildRecord, BuiltImage};
use crate::steps::parallel;
use crate::tools::{archive_push, registry};

/// What publishing did to one image's tags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Published {
    pub pushed: Vec<String>,
    /// Versioned tags that already pointed at this build (a resumed release).
    pub unchanged: Vec<String>,
    pub floating: Vec<String>,
}

pub fn built<'r>(record: &'r BuildRecord, image: &ImagePlan) -> Result<&'r BuiltImage> {
    record
        .images
        .iter()
        .find(|b| b.name == image.name)
        .with_context(|| format!("image {} is not in the build record: run `cargo xtask build`", image.name))
}

/// Pushes each image from its build archive (the bytes the scan judged) to every repository a
/// versioned tag needs, by digest, then writes each versioned tag from that digest: the engine's
/// images, which anything could re-tag, are not involved.
pub fn push_versioned(
    sh: &Shell,
    transports: &Transports,
    plan: &Plan,
    record: &BuildRecord,
) -> Result<BTreeMap<String, Published>> {
    let mut decided = Vec::new();
    for image in &plan.images {
        let built = built(record, image)?;
        for reference in &image.versioned_tags {
            let existing = registry::digest_of(sh, transports, reference)?;
            let action = rules::versioned_action(reference, existing.as_deref(), &built.index_digest)?;
            decided.push((built, reference.clone(), action));
        }
    }
    let mut published: BTreeMap<String, Published> = BTreeMap::new();
    let mut holding = BTreeSet::new();
    for (built, reference, action) in decided {
        let entry = published.entry(built.name.clone()).or_default();
        let digest = &built.index_digest;
        match action {
            Action::Push => {
                let repository =
                    reference.rsplit_once(':').map(|(repo, _)| repo).context("a versioned tag without a tag")?;
                if holding.insert(repository.to_owned()) {
                    let uploaded = archive_push::push(sh, transports, &built.archive, repository, digest)?;
                    console::progress!(
                        "    {repository}@{digest}: pushed from {} ({uploaded} blobs uploaded)",
                        built.archive.display()
                    );
                }
                registry::tag_digest(sh, transports, &format!("{repository}@{digest}"), &reference)?;
                console::progress!("    pushed {reference} -> {digest}");
                entry.pushed.push(reference);
            }
            Action::AlreadyThere => {
                console::progress!("    {reference} already is this build");
                entry.unchanged.push(reference);
            }
        }
    }
    Ok(published)
}

/// Reads every pushed versioned tag back and compares it with the build. A tag found already
/// pointing at the build's index digest (`unchanged`) is not read again: the digest addresses the
/// index, and through it every platform manifest and label, exactly as built.
pub fn verify(
    sh: &Shell,
    transports: &Transports,
    plan: &Plan,
    record: &BuildRecord,
    published: &BTreeMap<String, Published>,
) -> Result<()> {
    for image in &plan.images {
        let version = image.version.to_string();
        let built = built(record, image)?;
        for reference in &image.versioned_tags {
            if published.get(&image.name).is_some_and(|p| p.unchanged.contains(reference)) {
                console::progress!("    {reference}: {} already verified by its digest", built.index_digest);
                continue;
            }
            let remote = registry::read_back(sh, transports, reference)?
                .with_context(|| format!("{reference} was pushed but the registry does not serve it"))?;
            let platforms = built.platforms.iter().map(|p| (p.platform.clone(), p.digest.clone())).collect();
            rules::verify(reference, &remote, &built.index_digest, &platforms, &version)?;
            rules::verify_annotations(reference, &remote, &image.annotations)?;
            console::progress!(
                "    {reference}: {} with {} and its annotations verified",
                remote.digest,
                remote.platforms.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

pub fn push_floating(
    sh: &Shell,
    transports: &Transports,
    plan: &Plan,
    record: &BuildRecord,
    published: &mut BTreeMap<String, Published>,
) -> Result<()> {
    let mut moves = Vec::new();
    for image in &plan.images {
        let digest = &built(record, image)?.index_digest;
        moves.extend(image.floating_tags.iter().map(|reference| (image, reference, digest)));
    }
    // Where each tag points now, read side by side; the moves are made one at a time (two tag writes
    // into one repository at once can fail on a registry that is consistent only per request).
    let now = parallel::each(sh, &moves, |sh, (_, reference, _)| registry::digest_of(sh, transports, reference));
    for ((image, reference, digest), now) in moves.into_iter().zip(now) {
        if now?.as_deref() == Some(digest.as_str()) {
            console::progress!("    {reference} -> {digest} (already there)");
        } else if let Some(why) = stays(sh, transports, reference, &image.version)? {
            console::progress!("    {reference}: not moved, {why}");
            continue;
        } else {
            move_floating(sh, transports, reference, digest)?;
            console::progress!("    {reference} -> {digest}");
        }
        published.entry(image.name.clone()).or_default().floating.push(reference.clone());
    }
    Ok(())
}

/// Why `reference` stays where the registry has it now, read right before the move (a release made
/// from a checkout that had not fetched a newer one, or another release at the same time).
fn stays(sh: &Shell, transports: &Transports, reference: &str, version: &semver::Version) -> Result<Option<String>> {
    let Some(current) = registry::read_back(sh, transports, reference)? else { return Ok(None) };
    Ok(rules::floating_stays(&current.version_labels, version))
}

/// Points floating tag `reference` (`repo:tag`) at `digest`, already in that repository, and checks
/// that the registry then says so (push-floating, and a retraction's moves). A tag already there is
/// left alone (one manifest request). Returns whether it moved.
pub fn point_floating(sh: &Shell, transports: &Transports, reference: &str, digest: &str) -> Result<bool> {
    if registry::digest_of(sh, transports, reference)?.as_deref() == Some(digest) {
        return Ok(false);
    }
    move_floating(sh, transports, reference, digest)?;
    Ok(true)
}

/// Copies `digest` to the floating tag `reference` inside its repository, then reads it back.
fn move_floating(sh: &Shell, transports: &Transports, reference: &str, digest: &str) -> Result<()> {
    let repository = reference.rsplit_once(':').map(|(repo, _)| repo).context("a floating tag without a tag")?;
    registry::tag_digest(sh, transports, &format!("{repository}@{digest}"), reference)?;
    let now = registry::digest_of(sh, transports, reference)?;
    if now.as_deref() != Some(digest) {
        anyhow::bail!("{reference} points at {now:?} after moving it to {digest}");
    }
    Ok(())
}
