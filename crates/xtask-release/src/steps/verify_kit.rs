//! Writes a signed release's verification kit (`rules::verify_kit`) into `verify/` beside the
//! release record: the cosign commands, the Kyverno and policy-controller policies, the public key
//! (key mode) and a README, the same Markdown the release's summary gets.

use std::path::Path;

use anyhow::{Context, Result};

use crate::rules::transport::Transports;
use crate::rules::verify_kit::{self, Kit, KitImage};
use crate::steps::record::ReleaseRecord;
use crate::tools::cosign::{Mode, SignatureFormat, Signer};
use crate::tools::files::{self, Access};

/// The kit's folder in the run's output directory.
pub const DIR: &str = "verify";

/// Writes the kit of `release` (signed by `signer`) under `out/verify/`; its Markdown section, or
/// `None` when nothing was signed. `shown_dir` is how the section names the folder.
pub fn write(
    release: &ReleaseRecord,
    signer: &Signer<'_>,
    transports: &Transports,
    out: &Path,
    shown_dir: &str,
) -> Result<Option<String>> {
    let mut images = Vec::new();
    for image in &release.images {
        for signed in &image.signatures {
            let index = format!("{}@{}", signed.repository, image.index_digest);
            images.push(KitImage {
                name: image.name.clone(),
                repository: signed.repository.clone(),
                plain_http: transports.plain_http(&index),
                index_digest: image.index_digest.clone(),
                manifests: image.platforms.iter().map(|(p, d)| (p.clone(), d.clone())).collect(),
                attestation_types: signed.attestation_types.clone(),
            });
        }
    }
    if images.is_empty() {
        return Ok(None);
    }
    let public_key = match signer.mode {
        Mode::Key => std::fs::read_to_string(out.join(verify_kit::PUBLIC_KEY))
            .with_context(|| format!("the release's public key is not in {}", out.display()))?,
        Mode::Keyless(_) => String::new(),
    };
    let kit = Kit {
        mode: &signer.mode,
        public_key: &public_key,
        tlog_upload: signer.tlog_upload,
        bundles: signer.format == SignatureFormat::SigstoreBundle,
        images,
    };
    let dir = out.join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let markdown = kit.markdown(shown_dir);
    let mut written = vec![
        (verify_kit::COMMANDS, kit.commands_file()),
        (verify_kit::KYVERNO, kit.kyverno()),
        (verify_kit::POLICY_CONTROLLER, kit.policy_controller()),
        ("README.md", markdown.trim_start().replacen("### ", "# ", 1)),
    ];
    if !public_key.is_empty() {
        written.push((verify_kit::PUBLIC_KEY, public_key.clone()));
    }
    for (name, text) in written {
        files::write(&dir.join(name), text.as_bytes(), Access::Public)?;
    }
    Ok(Some(markdown))
}
