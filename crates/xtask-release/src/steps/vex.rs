//! The OpenVEX document of each image's accepted findings (`rules::openvex`), written beside the
//! release's outputs for the sign step to attest on every platform manifest: what the publisher
//! judged harmless, and until when, for every consumer's scanner.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::rules::openvex;
use crate::rules::plan::Plan;
use crate::rules::reference;
use crate::steps::build_record::BuildRecord;
use crate::steps::publish::built;
use crate::steps::scan::ScanSummary;
use crate::tools::files::{self, Access};

/// Writes each image's OpenVEX document (`rules::openvex`) to `out/vex/IMAGE.openvex.json`: image
/// name → its file, for the images with an accepted vulnerability.
pub fn write(plan: &Plan, record: &BuildRecord, scan: &ScanSummary, out: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut written = Vec::new();
    for image in plan.images.iter().filter(|i| !i.versioned_tags.is_empty()) {
        let (built, repositories) = (built(record, image)?, reference::pushed_repositories(&image.versioned_tags)?);
        let Some(scanned) = scan.images.iter().find(|s| s.name == image.name) else { continue };
        let manifests: Vec<String> = built.platforms.iter().map(|p| p.digest.clone()).collect();
        let subject = openvex::Image {
            name: &image.name,
            repositories: &repositories,
            index_digest: &built.index_digest,
            manifests: &manifests,
        };
        let author = image.labels.get("org.opencontainers.image.source").unwrap_or(&repositories[0]);
        let Some(doc) = openvex::document(&subject, &scanned.accepted, author, &plan.created, &plan.scan.ignorefile)
        else {
            continue;
        };
        let path = out.join("vex").join(format!("{}.openvex.json", image.name));
        std::fs::create_dir_all(out.join("vex")).with_context(|| format!("cannot create {}", out.display()))?;
        files::write(&path, (serde_json::to_string_pretty(&doc)? + "\n").as_bytes(), Access::Public)?;
        written.push((image.name.clone(), path));
    }
    Ok(written)
}
