//! One variant (one image, one platform) on its own runner: push-digest pushes its manifest to every
//! repository of the image by digest only (no tag: nothing moves until `release merge` has every
//! platform), and record-variant writes the variant's directory — the record (digest, descriptor,
//! verdict under which policy, the DB, the engine, the commit) beside the archive, SBOM, provenance
//! and scan reports it names by relative path — for the merge job to read. A failed scan records
//! its verdict too, so the merge names the variant that failed rather than one that is missing.
//! Each record says when it was written: of several records of one variant (a re-run's beside
//! the failed attempt's), the merge reads the newest of its commit (`latest_per_variant`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::console;
use crate::rules::plan::Plan;
use crate::rules::schema;
use crate::rules::transport::Transports;
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::steps::scan::{ScanSummary, SUMMARY_FILE};
use crate::tools::engine::{self, EngineIdentity};
use crate::tools::oci_layout;

pub const SCHEMA_VERSION: u32 = 1;
/// The variant's directory in the run's `out_dir`: what its CI job uploads.
pub const DIR: &str = "variant";
pub const FILE: &str = "variant-record.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantRecord {
    pub schema_version: u32,
    pub image: String,
    pub version: String,
    pub platform: String,
    pub git_sha: String,
    /// The platform manifest: what the merged index's descriptor for it says.
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    /// `repository@digest` it was pushed as (empty when the plan pushes nothing).
    pub pushed: Vec<String>,
    /// The facts the build record keeps of it; its `provenance` relative to this directory.
    pub built: BuiltPlatform,
    /// The OCI archive of the variant, relative to this directory.
    pub archive: PathBuf,
    /// The scan's verdict, policy, DB and reports (paths relative to this directory).
    pub scan: ScanSummary,
    pub engine: EngineIdentity,
    /// When the record was written (RFC 3339, UTC; empty in records of engines before it).
    #[serde(default)]
    pub recorded_at: String,
}

fn only(record: &BuildRecord) -> Result<(&BuiltImage, &BuiltPlatform)> {
    let image = record.images.first().context("a variant's build record without an image")?;
    let [platform] = image.platforms.as_slice() else {
        bail!("a variant is one platform, the build record of {} has {}", image.name, image.platforms.len())
    };
    Ok((image, platform))
}

/// Pushes the variant's manifest to every repository of its image, by digest.
pub fn push_digest(sh: &Shell, transports: &Transports, plan: &Plan, record: &BuildRecord) -> Result<Vec<String>> {
    let (built, platform) = only(record)?;
    let image = plan.images.iter().find(|i| i.name == built.name).context("the variant's image is not planned")?;
    let mut pushed = Vec::new();
    for repository in &image.repositories {
        oci_layout::push_by_digest(sh, transports, &built.archive, repository, &platform.digest)
            .with_context(|| format!("pushing {} {} by digest", built.name, platform.platform))?;
        console::progress!("    pushed {repository}@{} (no tag)", platform.digest);
        pushed.push(format!("{repository}@{}", platform.digest));
    }
    Ok(pushed)
}

/// Writes the variant's directory (`out_dir/variant`): its record and the files it names.
pub fn write(
    sh: &Shell,
    plan: &Plan,
    record: &BuildRecord,
    scan: &ScanSummary,
    pushed: &[String],
    builder: Option<&str>,
) -> Result<PathBuf> {
    let (built, platform) = only(record)?;
    let dir = sh.current_dir().join(&plan.out_dir).join(DIR);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keep = |from: &Path, name: &str| -> Result<PathBuf> {
        std::fs::copy(from, dir.join(name))
            .with_context(|| format!("cannot copy {} into {}", from.display(), dir.display()))?;
        Ok(PathBuf::from(name))
    };
    let top = oci_layout::top_manifest(sh, &built.archive)?;
    if top.digest != platform.digest {
        bail!("the archive of {} holds {}, the build record says {}", built.name, top.digest, platform.digest);
    }
    let mut scan = scan.clone();
    for image in &mut scan.images {
        for target in &mut image.targets {
            let slug = target.target.replace('/', "-");
            target.report = keep(&target.report, &format!("scan-{slug}.json"))?;
            if let Some(sarif) = &target.sarif {
                target.sarif = Some(keep(sarif, &format!("scan-{slug}.sarif"))?);
            }
            if let Some(sbom) = &target.sbom {
                target.sbom = Some(keep(sbom, &format!("sbom-{slug}.cdx.json"))?);
            }
        }
    }
    let mut kept = platform.clone();
    kept.provenance = keep(&platform.provenance, "provenance.json")?;
    let variant = VariantRecord {
        schema_version: SCHEMA_VERSION,
        image: built.name.clone(),
        version: built.version.clone(),
        platform: platform.platform.clone(),
        git_sha: record.git_sha.clone(),
        digest: top.digest,
        media_type: top.media_type,
        size: top.size,
        annotations: top.annotations,
        pushed: pushed.to_vec(),
        built: kept,
        archive: keep(&built.archive, "image.oci.tar")?,
        scan,
        engine: engine::identity(sh, builder),
        recorded_at: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    };
    let path = dir.join(FILE);
    crate::tools::files::write_json(&path, &variant)?;
    console::progress!(
        "    variant {} {} {} ({}): {}",
        variant.image,
        variant.platform,
        variant.digest,
        if variant.scan.passed { "scan passed" } else { "scan FAILED" },
        dir.display()
    );
    Ok(dir)
}

/// After a failed scan: the variant's record with the failed verdict (from the summary the scan
/// wrote), so that a merge names this variant as failed. Nothing is pushed. When the scan failed
/// before judging this build (no summary of this commit), no record: an earlier one is removed.
pub fn write_failed_scan(sh: &Shell, plan: &Plan, record: &BuildRecord, builder: Option<&str>) -> Result<()> {
    let path = sh.current_dir().join(&plan.out_dir).join(SUMMARY_FILE);
    let summary = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<ScanSummary>(&t).ok());
    match summary {
        Some(summary) if !summary.passed && summary.git_sha == record.git_sha => {
            write(sh, plan, record, &summary, &[], builder)?;
        }
        _ => {
            let _ = std::fs::remove_dir_all(sh.current_dir().join(&plan.out_dir).join(DIR));
        }
    }
    Ok(())
}

/// A variant record read back, its relative paths made absolute under the directory it is in.
pub fn read(dir: &Path) -> Result<VariantRecord> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut record: VariantRecord =
        serde_json::from_str(&text).with_context(|| format!("{} is not a variant record", path.display()))?;
    if !schema::readable(&path.display().to_string(), record.schema_version, SCHEMA_VERSION)? {
        bail!(
            "{} has schema_version {}, expected {SCHEMA_VERSION}: build the variant again",
            path.display(),
            record.schema_version
        );
    }
    record.archive = dir.join(&record.archive);
    record.built.provenance = dir.join(&record.built.provenance);
    for target in record.scan.images.iter_mut().flat_map(|i| &mut i.targets) {
        target.report = dir.join(&target.report);
        target.sarif = target.sarif.as_ref().map(|p| dir.join(p));
        target.sbom = target.sbom.as_ref().map(|p| dir.join(p));
    }
    Ok(record)
}

/// The variant directories under `dirs`: each one holding a record, or whose subdirectories do
/// (a CI job's downloaded artifacts). A directory with neither is an error naming it.
pub fn find(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for dir in dirs {
        if dir.join(FILE).is_file() {
            found.push(dir.clone());
            continue;
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: no such directory of variant records", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(FILE).is_file())
            .collect();
        if children.is_empty() {
            bail!("{} holds no {FILE} (nor do its subdirectories): pass the directories the variant jobs wrote (OUT_DIR/variant)", dir.display());
        }
        children.sort();
        found.extend(children);
    }
    Ok(found)
}

/// One record found, as `latest_per_variant` compares it.
pub struct Found<'r> {
    pub image: &'r str,
    pub platform: &'r str,
    pub git_sha: &'r str,
    pub recorded_at: &'r str,
}

/// The records to merge, as indices into `found` in its order: of each image and platform, the
/// newest record of `commit`, or the newest of all when none is of it (the merge then names its
/// commit). A record without a readable time counts as the oldest.
pub fn latest_per_variant(found: &[Found], commit: &str) -> Vec<usize> {
    let key = |f: &Found| (f.git_sha == commit, humantime::parse_rfc3339(f.recorded_at).ok());
    (0..found.len())
        .filter(|&i| {
            let me = &found[i];
            let same = |j: &usize| found[*j].image == me.image && found[*j].platform == me.platform;
            // The first of the variant's records with the greatest key wins ties.
            (0..found.len()).filter(same).max_by(|&a, &b| key(&found[a]).cmp(&key(&found[b])).then(b.cmp(&a)))
                == Some(i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'r>(platform: &'r str, git_sha: &'r str, recorded_at: &'r str) -> Found<'r> {
        Found { image: "beacon", platform, git_sha, recorded_at }
    }

    #[test]
    fn the_newest_record_of_the_commit_wins_for_each_variant() {
        let records = [
            found("linux/amd64", "c0ffee", "2026-12-03T10:00:00.000000000Z"),
            found("linux/arm64", "c0ffee", "2026-12-03T10:00:00.000000000Z"),
            // A re-run of amd64, after its failed attempt: the newer record is merged.
            found("linux/amd64", "c0ffee", "2026-12-03T11:30:00.500000000Z"),
            // A newer record of another commit loses to this commit's.
            found("linux/arm64", "0ld5ha", "2026-12-04T09:00:00.000000000Z"),
        ];
        assert_eq!(latest_per_variant(&records, "c0ffee"), [1, 2]);
        // No record of this commit: the newest, which the merge then refuses naming its commit.
        assert_eq!(latest_per_variant(&records[3..], "c0ffee"), [0]);
        // An engine's record without a time counts as the oldest; equal times keep the first.
        let undated = [found("linux/amd64", "c0ffee", ""), found("linux/amd64", "c0ffee", "2026-12-03T10:00:00Z")];
        assert_eq!(latest_per_variant(&undated, "c0ffee"), [1]);
        let tied = [
            found("linux/amd64", "c0ffee", "2026-12-03T10:00:00Z"),
            found("linux/amd64", "c0ffee", "2026-12-03T10:00:00Z"),
        ];
        assert_eq!(latest_per_variant(&tied, "c0ffee"), [0]);
        // Another image's record of the same platform is its own variant.
        let two =
            [found("linux/amd64", "c0ffee", ""), Found { image: "beaconctl", ..found("linux/amd64", "c0ffee", "") }];
        assert_eq!(latest_per_variant(&two, "c0ffee"), [0, 1]);
    }
}
