//! The merge step of `release merge`: reads the variant records the per-platform jobs wrote (the
//! newest of each variant, `variant::latest_per_variant`), admits them (`rules::fanout::admit`:
//! every configured platform, passing, one policy, one DB source, one commit — or nothing happens),
//! assembles each image's index exactly as a one-engine build writes it, packs it with the
//! variants' blobs into one archive, loads it, and returns the build record
//! and scan summary the rest of the publish path (push-versioned, verify, sign, push-floating,
//! record) takes, as if one engine had built and scanned every platform.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::fanout::{self, Candidate, IndexEntry, IndexPlatform};
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::policy::{Accepted, Listed};
use crate::steps::build_record::{self, BuildRecord, BuiltImage};
use crate::steps::scan::{self, ScanSummary, ScannedImage};
use crate::steps::variant::{self, VariantRecord};
use crate::tools::{docker, oci, oci_layout};

/// The admitted variants (directory, engine, DB, digest) in the merge's state directory.
pub const VARIANTS_FILE: &str = "variants.json";

pub struct Merged {
    pub record: BuildRecord,
    pub scan: ScanSummary,
}

pub fn merge(sh: &Shell, plan: &Plan, dirs: &[PathBuf]) -> Result<Merged> {
    let mut records = Vec::new();
    for dir in variant::find(dirs)? {
        records.push((dir.display().to_string(), variant::read(&dir)?));
    }
    let records = latest(records, &plan.git.sha);
    let candidates: Vec<Candidate> = records
        .iter()
        .map(|(source, r)| Candidate {
            source: source.clone(),
            image: r.image.clone(),
            platform: r.platform.clone(),
            git_sha: r.git_sha.clone(),
            version: r.version.clone(),
            passed: r.scan.passed,
            policy: r.scan.policy.clone(),
            db_repository: r.scan.db.as_ref().map(|db| db.repository.clone()),
        })
        .collect();
    // Every image admitted before anything is assembled, loaded or pushed.
    let mut admitted = Vec::new();
    let mut refusals = Vec::new();
    for image in &plan.images {
        match fanout::admit(image, plan, &candidates) {
            Ok(chosen) => admitted.push((image, chosen.iter().map(|c| by_source(&records, c)).collect::<Vec<_>>())),

            Err(error) => refusals.push(format!("{error:#}")),
        }
    }
    if !refusals.is_empty() {
        bail!("{}", refusals.join("\n"));
    }
    let out = sh.current_dir().join(&plan.out_dir);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    // Which variant came from where: its directory, engine, DB and digest, beside the release record.
    let provenance: Vec<serde_json::Value> = admitted
        .iter()
        .flat_map(|(_, variants)| variants.iter())
        .map(|(source, v)| {
            serde_json::json!({
                "image": v.image, "platform": v.platform, "digest": v.digest, "git_sha": v.git_sha,
                "source": source, "engine": v.engine, "db": v.scan.db, "pushed": v.pushed,
            })
        })
        .collect();
    let path = out.join(VARIANTS_FILE);
    crate::tools::files::write_json(&path, &provenance)?;
    let mut images = Vec::new();
    let mut scanned = Vec::new();
    let mut dbs = Vec::new();
    for (image, variants) in admitted {
        let variants: Vec<&VariantRecord> = variants.iter().map(|(_, v)| v).collect();
        dbs.extend(variants.iter().filter_map(|v| v.scan.db.clone()));
        let built = assemble(sh, plan, image, &variants)?;
        scanned.push(scanned_image(image, &built.index_digest, &variants));
        images.push(built);
    }
    let record = BuildRecord {
        schema_version: build_record::SCHEMA_VERSION,
        version: plan.version.to_string(),
        git_sha: plan.git.sha.clone(),
        images,
    };
    record.write(&out)?;
    let summary = ScanSummary {
        schema_version: scan::SCHEMA_VERSION,
        version: record.version.clone(),
        git_sha: record.git_sha.clone(),
        policy: plan.scan.clone(),
        overrides: plan.scan_overrides.clone(),
        // The newest DB any admitted variant was judged by (each variant's own is in its record).
        db: dbs.into_iter().max_by(|a, b| a.updated_at.cmp(&b.updated_at)),
        passed: true,
        images: scanned,
    };
    let path = out.join(scan::SUMMARY_FILE);
    crate::tools::files::write_json(&path, &summary)?;
    Ok(Merged { record, scan: summary })
}

/// Of several records of one variant (a re-run's beside the failed attempt's), the newest of
/// this commit (`variant::latest_per_variant`); each one passed over is named.
fn latest(records: Vec<(String, VariantRecord)>, commit: &str) -> Vec<(String, VariantRecord)> {
    let found: Vec<variant::Found> = records
        .iter()
        .map(|(_, r)| variant::Found {
            image: &r.image,
            platform: &r.platform,
            git_sha: &r.git_sha,
            recorded_at: &r.recorded_at,
        })
        .collect();
    let keep = variant::latest_per_variant(&found, commit);
    let mut kept = Vec::new();
    for (i, (source, record)) in records.into_iter().enumerate() {
        if keep.contains(&i) {
            kept.push((source, record));
        } else {
            console::progress!("    {} {}: passed over {source}, an older record", record.image, record.platform);
        }
    }
    kept
}

/// The record (and its directory) an admitted candidate was made from.
fn by_source<'r>(records: &'r [(String, VariantRecord)], chosen: &Candidate) -> &'r (String, VariantRecord) {
    // The candidates were made from `records` one for one, each named by its directory.
    records.iter().find(|(source, _)| *source == chosen.source).expect("an admitted candidate's record")
}

/// The index a one-engine build of `variants` writes, packed with their blobs and loaded.
fn assemble(sh: &Shell, plan: &Plan, image: &ImagePlan, variants: &[&VariantRecord]) -> Result<BuiltImage> {
    let entries = variants
        .iter()
        .map(|v| {
            Ok(IndexEntry {
                media_type: v.media_type.clone(),
                digest: v.digest.clone(),
                size: v.size,
                platform: IndexPlatform::parse(&v.platform)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest_annotations: Vec<BTreeMap<String, String>> = variants.iter().map(|v| v.annotations.clone()).collect();
    let bytes = fanout::index_bytes(&entries, &fanout::index_annotations(image, &manifest_annotations));
    let dir = sh.current_dir().join(&plan.out_dir).join("build").join(&image.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let archive = dir.join("image.oci.tar");
    let mut names = vec![image.local_ref.clone()];
    names.extend(image.versioned_tags.iter().filter(|t| **t != image.local_ref).cloned());
    let archives: Vec<PathBuf> = variants.iter().map(|v| v.archive.clone()).collect();
    let digest = oci_layout::pack(sh, &archives, &bytes, &names, &archive)?;
    let index = oci::read_archive(sh, &archive)?;
    let order: Vec<&str> = index.manifests.iter().map(|m| m.digest.as_str()).collect();
    let expected: Vec<&str> = variants.iter().map(|v| v.digest.as_str()).collect();
    if index.index_digest != digest || order != expected {
        bail!(
            "the merged archive of {} reads back as {} {order:?}, not {digest} {expected:?}",
            image.name,
            index.index_digest
        );
    }
    docker::load(sh, &archive)?;
    console::progress!(
        "    {} {digest}: {} from {}",
        image.local_ref,
        image.platforms.join(", "),
        variants.iter().map(|v| format!("{} ({})", v.engine.name, v.platform)).collect::<Vec<_>>().join(", ")
    );
    Ok(BuiltImage {
        name: image.name.clone(),
        version: image.version.to_string(),
        local_ref: image.local_ref.clone(),
        index_digest: digest,
        platforms: variants.iter().map(|v| v.built.clone()).collect(),
        archive,
        // Merged, not built from one identity: never reused by a later build.
        inputs: Default::default(),
        built_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        reused: false,
    })
}

/// The image's scan: every variant's targets (the Dockerfile's once), each finding once with the
/// platforms it was found on.
fn scanned_image(image: &ImagePlan, index_digest: &str, variants: &[&VariantRecord]) -> ScannedImage {
    let mut merged = ScannedImage {
        name: image.name.clone(),
        index_digest: index_digest.to_owned(),
        targets: Vec::new(),
        findings: Vec::new(),
        accepted: Vec::new(),
        reused_from: None,
    };
    for scanned in variants.iter().flat_map(|v| v.scan.images.iter().filter(|i| i.name == image.name)) {
        for target in &scanned.targets {
            if !merged.targets.iter().any(|t| t.target == target.target) {
                merged.targets.push(target.clone());
            }
        }
        for listed in &scanned.findings {
            match merged.findings.iter_mut().find(|l: &&mut Listed| l.finding == listed.finding) {
                Some(known) => union(&mut known.platforms, &listed.platforms),
                None => merged.findings.push(listed.clone()),
            }
        }
        for accepted in &scanned.accepted {
            match merged.accepted.iter_mut().find(|a: &&mut Accepted| a.finding == accepted.finding) {
                Some(known) => union(&mut known.platforms, &accepted.platforms),
                None => merged.accepted.push(accepted.clone()),
            }
        }
    }
    merged
}

fn union(into: &mut Vec<String>, more: &[String]) {
    for platform in more {
        if !into.contains(platform) {
            into.push(platform.clone());
        }
    }
}
