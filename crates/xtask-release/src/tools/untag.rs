//! Deleting a tag from a registry without deleting the image it points at.
//!
//! The registry API deletes manifests by digest, and deleting one removes every tag that points at
//! it: `skopeo delete docker://repo:1.1` resolves the tag and deletes the retracted version itself
//! (its `1.1.0` tag with it). Deleting a tag by name (`DELETE /v2/<name>/manifests/<tag>`) is
//! optional in the distribution spec; Debian's registry (distribution 2.8) answers it with
//! 400 DIGEST_INVALID. What works on any registry that allows deletes (regclient's fallback): point
//! the tag at a small manifest made for this one deletion, then delete that manifest by its digest,
//! which takes the tag with it. The placeholder is an image manifest with an empty config and no
//! layers (skopeo inspects it like any image, unlike an artifact), annotated so that a re-run
//! recognises one an interrupted deletion left behind — and so that nothing else is ever deleted.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::console;
use crate::rules::transport::{self, Transports};
use crate::tools::{registry, retry};

/// The annotation that marks a placeholder; its value makes each one unique.
const PLACEHOLDER: &str = "xtask.untag.placeholder";
/// The placeholder's image config, and its digest (the registry checks it on upload).
const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
const CONFIG_DIGEST: &str = "dc570f145a7f2862c9ef3c30b8d6ae2feaceb0d364e4b2e08e67ae18815427d9";

/// Deletes tag `reference` (`repo:tag`), leaving the manifest it pointed at in place; `scratch`
/// holds the placeholder's OCI layout meanwhile.
pub fn delete(sh: &Shell, transports: &Transports, reference: &str, scratch: &Path) -> Result<()> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let layout = scratch.join(format!("untag-{}-{nanos}", std::process::id()));
    let digest = write_layout(sh, &layout, &format!("{reference} {nanos}"))?;
    let (from, to) = (format!("oci:{}", layout.display()), format!("docker://{reference}"));
    let tls = if transports.plain_http(reference) { &["--dest-tls-verify=false"][..] } else { &[] };
    let pushed = retry::run(
        &format!("skopeo copy placeholder to {reference}"),
        transport::registry_of(reference),
        || {
            cmd!(sh, "skopeo copy --quiet --preserve-digests {tls...} {from} {to}")
                .quiet()
                .ignore_status()
                .output()
                .context("cannot run skopeo")
        },
        || registry::digest_of(sh, transports, reference).ok().flatten().as_deref() == Some(digest.as_str()),
    );
    let _ = std::fs::remove_dir_all(&layout);
    let pushed = pushed?;
    if !pushed.status.success() {
        bail!(
            "pointing {reference} at a placeholder (to delete the tag) failed: {}",
            String::from_utf8_lossy(&pushed.stderr).trim()
        );
    }
    let now = registry::digest_of(sh, transports, reference)?;
    if now.as_deref() != Some(digest.as_str()) {
        bail!("{reference} points at {now:?} after pointing it at the placeholder {digest}");
    }
    delete_placeholder(sh, transports, reference, &digest)
}

/// Whether `repository`'s registry deletes manifests, asked without touching a tag: a placeholder
/// pushed by digest (untagged), then deleted by digest. `None` when it can, or when it takes no
/// writes at all (then the first tag move fails with the registry's answer, and the retraction
/// resumes once it does); otherwise what the registry answered to the delete (a registry that
/// refuses keeps the untagged placeholder, which references nothing, for its garbage collection).
pub fn probe_delete(sh: &Shell, transports: &Transports, repository: &str, scratch: &Path) -> Result<Option<String>> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let layout = scratch.join(format!("probe-{}-{nanos}", std::process::id()));
    let digest = write_layout(sh, &layout, &format!("{repository} delete probe {nanos}"))?;
    let (from, to) = (format!("oci:{}", layout.display()), format!("docker://{repository}@{digest}"));
    let plain = transports.plain_http(repository);
    let tls = if plain { &["--dest-tls-verify=false"][..] } else { &[] };
    let pushed =
        cmd!(sh, "skopeo copy --quiet --preserve-digests {tls...} {from} {to}").quiet().ignore_status().output();
    let _ = std::fs::remove_dir_all(&layout);
    let pushed = pushed.context("cannot run skopeo")?;
    if !pushed.status.success() {
        console::progress!(
            "    {repository}: no delete probe (the registry refused its push: {})",
            String::from_utf8_lossy(&pushed.stderr).trim()
        );
        return Ok(None);
    }
    let tls = if plain { &["--tls-verify=false"][..] } else { &[] };
    let deleted =
        cmd!(sh, "skopeo delete {tls...} {to}").quiet().ignore_status().output().context("cannot run skopeo")?;
    if deleted.status.success() {
        return Ok(None);
    }
    let answer = String::from_utf8_lossy(&deleted.stderr);
    let answer = answer.trim().rsplit("msg=").next().unwrap_or_default().trim_matches('"');
    Ok(Some(format!(
        "the registry refuses to delete manifests (it answered a delete probe: {answer}); allow deletes          (registry:2: storage.delete.enabled) or delete the tag in the registry's own interface"
    )))
}

/// Deletes the placeholder `digest` that tag `reference` points at, and with it the tag.
pub fn delete_placeholder(sh: &Shell, transports: &Transports, reference: &str, digest: &str) -> Result<()> {
    let repository = reference.rsplit_once(':').map(|(repo, _)| repo).context("a tag reference without a tag")?;
    let pinned = format!("{repository}@{digest}");
    if !is_placeholder(sh, transports, &pinned)? {
        bail!("{pinned} is not a placeholder made to delete a tag: refusing to delete it");
    }
    let target = format!("docker://{pinned}");
    let tls = if transports.plain_http(reference) { &["--tls-verify=false"][..] } else { &[] };
    // Deleted once, the placeholder is gone: a retry first checks that the tag still points at it.
    let output = retry::run(
        &format!("skopeo delete {pinned}"),
        transport::registry_of(reference),
        || cmd!(sh, "skopeo delete {tls...} {target}").quiet().ignore_status().output().context("cannot run skopeo"),
        || matches!(registry::digest_of(sh, transports, reference), Ok(None)),
    )?;
    if !output.status.success() {
        bail!(
            "the registry refused to delete the placeholder {digest}: {reference} now points at it (an empty \
             image), no longer at the retracted version. Allow deletes in the registry (registry:2: \
             storage.delete.enabled) and run the retraction again, or delete tag {reference} in the \
             registry's own interface. The registry said: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    if let Some(now) = registry::digest_of(sh, transports, reference)? {
        bail!("{reference} still points at {now} after deleting the placeholder {digest}");
    }
    Ok(())
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Whether `pinned` (`repo@digest`) is a placeholder this module made.
pub fn is_placeholder(sh: &Shell, transports: &Transports, pinned: &str) -> Result<bool> {
    let image = format!("docker://{pinned}");
    let tls = if transports.plain_http(pinned) { &["--tls-verify=false"][..] } else { &[] };
    let output = retry::idempotent(&format!("skopeo inspect {pinned}"), transport::registry_of(pinned), || {
        cmd!(sh, "skopeo inspect {tls...} --raw {image}").quiet().ignore_status().output().context("cannot run skopeo")
    })?;
    if !output.status.success() {
        bail!("cannot read the manifest of {pinned}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let raw = String::from_utf8_lossy(&output.stdout);
    let manifest: Manifest = serde_json::from_str(&raw).with_context(|| format!("unexpected manifest of {pinned}"))?;
    Ok(manifest.annotations.contains_key(PLACEHOLDER))
}

/// Writes the placeholder as a one-manifest OCI layout in `dir`; returns its manifest digest.
fn write_layout(sh: &Shell, dir: &Path, unique: &str) -> Result<String> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("cannot create {}", blobs.display()))?;
    let config = serde_json::json!({
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": format!("sha256:{CONFIG_DIGEST}"),
        "size": CONFIG.len(),
    });
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [],
        "annotations": {
            PLACEHOLDER: unique,
            "org.opencontainers.image.description":
                "placeholder made by `cargo xtask release retract` to delete a tag; deleted right after",
        },
    })
    .to_string();
    let manifest_file = dir.join("manifest.json");
    std::fs::write(&manifest_file, &manifest).with_context(|| format!("cannot write {}", manifest_file.display()))?;
    let digest = cmd!(sh, "skopeo manifest-digest {manifest_file}").quiet().read().context("cannot run skopeo")?;
    let hex = digest.trim().strip_prefix("sha256:").context("skopeo printed no sha256 digest")?.to_owned();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{hex}"),
            "size": manifest.len(),
        }],
    });
    for (path, contents) in [
        (blobs.join(CONFIG_DIGEST), CONFIG.to_owned()),
        (blobs.join(&hex), manifest),
        (dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#.to_owned()),
        (dir.join("index.json"), index.to_string()),
    ] {
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(format!("sha256:{hex}"))
}
