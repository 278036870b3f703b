//! Deleting a tag from a registry without deleting the image it points at.
//!
//! The registry API deletes manifests by digest, and deleting one removes every tag that points at
//! it: `skopeo delete docker://repo:1.1` resolves the tag and deletes the retracted version itself
//! (its `1.1.0` tag with it). Deleting a tag by name (`DELETE /v2/<name>/manifests/<tag>`) is
//! optional in the distribution spec; Debian's registry (distribution 2.8) answers it with
//! 400 DIGEST_INVALID. What works on any registry that allows deletes (regclient's fallback): point
//! the tag at a small manifest made for this one deletion, then delete that manifest by its digest,
//! which takes the tag with it. The placeholder is an image manifest with an empty config and no
//! layers (tools read it like any image, unlike an artifact), annotated so that a re-run
//! recognises one an interrupted deletion left behind — and so that nothing else is ever deleted.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::Shell;

use crate::rules::transport::Transports;
use crate::tools::registry;
use crate::tools::registry_client::{Client, Manifest};

/// The annotation that marks a placeholder; its value makes each one unique.
const PLACEHOLDER: &str = "xtask.untag.placeholder";
/// The placeholder's image config, and its digest (the registry checks it on upload).
const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
const CONFIG_DIGEST: &str = "dc570f145a7f2862c9ef3c30b8d6ae2feaceb0d364e4b2e08e67ae18815427d9";

/// Deletes tag `reference` (`repo:tag`), leaving the manifest it pointed at in place; `scratch`
/// holds the placeholder's config meanwhile.
pub fn delete(sh: &Shell, transports: &Transports, reference: &str, scratch: &Path) -> Result<()> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let (client, parts) = Client::of(sh, transports, reference)?;
    let placeholder = upload_placeholder(&client, parts.repository, &format!("{reference} {nanos}"), scratch)?;
    // Writing the same manifest again writes the same: each request is simply retried.
    client
        .put_manifest(parts.repository, parts.reference, &placeholder)
        .with_context(|| format!("pointing {reference} at a placeholder (to delete the tag)"))?;
    let now = registry::digest_of(sh, transports, reference)?;
    if now.as_deref() != Some(placeholder.digest.as_str()) {
        bail!("{reference} points at {now:?} after pointing it at the placeholder {}", placeholder.digest);
    }
    delete_placeholder(sh, transports, reference, &placeholder.digest)
}

/// Whether `repository`'s registry deletes manifests, asked without touching a tag: a placeholder
/// pushed by digest (untagged), then deleted by digest. `None` when it can, or when it takes no
/// writes at all (then the first tag move fails with the registry's answer, and the retraction
/// resumes once it does); otherwise what the registry answered to the delete (a registry that
/// refuses keeps the untagged placeholder, which references nothing, for its garbage collection).
pub fn probe_delete(sh: &Shell, transports: &Transports, repository: &str, scratch: &Path) -> Result<Option<String>> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let probe = format!("{repository}:probe");
    let (client, parts) = Client::of(sh, transports, &probe)?;
    let pushed = upload_placeholder(&client, parts.repository, &format!("{repository} delete probe {nanos}"), scratch)
        .and_then(|placeholder| {
            client.put_manifest(parts.repository, &placeholder.digest, &placeholder)?;
            Ok(placeholder)
        });
    let placeholder = match pushed {
        Ok(placeholder) => placeholder,
        Err(error) => {
            crate::console::progress!("    {repository}: no delete probe (the registry refused its push: {error:#})");
            return Ok(None);
        }
    };
    match client.delete_manifest(parts.repository, &placeholder.digest) {
        Ok(_) => Ok(None),
        Err(answer) => Ok(Some(format!(
            "the registry refuses to delete manifests (it answered a delete probe: {answer:#}); allow deletes \
             (registry:2: storage.delete.enabled) or delete the tag in the registry's own interface"
        ))),
    }
}

/// Deletes the placeholder `digest` that tag `reference` points at, and with it the tag.
pub fn delete_placeholder(sh: &Shell, transports: &Transports, reference: &str, digest: &str) -> Result<()> {
    let repository = reference.rsplit_once(':').map(|(repo, _)| repo).context("a tag reference without a tag")?;
    let pinned = format!("{repository}@{digest}");
    if !is_placeholder(sh, transports, &pinned)? {
        bail!("{pinned} is not a placeholder made to delete a tag: refusing to delete it");
    }
    let (client, parts) = Client::of(sh, transports, &pinned)?;
    // Deleted once, the placeholder is gone: a retried delete that finds it absent is done.
    if let Err(error) = client.delete_manifest(parts.repository, digest) {
        bail!(
            "the registry refused to delete the placeholder {digest}: {reference} now points at it (an empty \
             image), no longer at the retracted version. Allow deletes in the registry (registry:2: \
             storage.delete.enabled) and run the retraction again, or delete tag {reference} in the \
             registry's own interface. {error:#}"
        );
    }
    if let Some(now) = registry::digest_of(sh, transports, reference)? {
        bail!("{reference} still points at {now} after deleting the placeholder {digest}");
    }
    Ok(())
}

#[derive(Deserialize)]
struct Annotated {
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Whether `pinned` (`repo@digest`) is a placeholder this module made.
pub fn is_placeholder(sh: &Shell, transports: &Transports, pinned: &str) -> Result<bool> {
    let (client, parts) = Client::of(sh, transports, pinned)?;
    let manifest = client
        .manifest(parts.repository, parts.reference)?
        .with_context(|| format!("cannot read the manifest of {pinned}: the registry does not have it"))?;
    let manifest: Annotated =
        serde_json::from_slice(&manifest.bytes).with_context(|| format!("unexpected manifest of {pinned}"))?;
    Ok(manifest.annotations.contains_key(PLACEHOLDER))
}

/// Uploads the placeholder's config blob (from a file in `scratch`) if the repository lacks it, and
/// returns the placeholder manifest, annotated with `unique`.
fn upload_placeholder(client: &Client<'_>, repository: &str, unique: &str, scratch: &Path) -> Result<Manifest> {
    let config_digest = format!("sha256:{CONFIG_DIGEST}");
    if !client.blob_exists(repository, &config_digest)? {
        std::fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
        let file = scratch.join(format!("untag-config-{}", std::process::id()));
        std::fs::write(&file, CONFIG).with_context(|| format!("cannot write {}", file.display()))?;
        let uploaded = client.upload_blob(repository, &config_digest, &file);
        let _ = std::fs::remove_file(&file);
        uploaded?;
    }
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": CONFIG.len(),
        },
        "layers": [],
        "annotations": {
            PLACEHOLDER: unique,
            "org.opencontainers.image.description":
                "placeholder made by `cargo xtask release retract` to delete a tag; deleted right after",
        },
    })
    .to_string()
    .into_bytes();
    let digest = crate::rules::digest::sha256(&manifest);
    Ok(Manifest { bytes: manifest, media_type: media_type.to_owned(), digest })
}
