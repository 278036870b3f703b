//! The release record: what was published, as JSON under `target/xtask/`, a summary table, and,
//! under GitHub Actions, the same summary in `$GITHUB_STEP_SUMMARY` and the digests in
//! `$GITHUB_OUTPUT`. Built only from what earlier steps returned.

use crate::rules::verdicts::Reused;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::notes::{self, ImageNotes, Notes};
use crate::rules::overrides::{names, ScanOverride};
use crate::rules::plan::{ContextInfo, Plan};
use crate::rules::policy::{Accepted, Listed};
use crate::rules::schema;
use crate::steps::build_record::BuildRecord;
use crate::steps::publish::Published;
use crate::steps::scan::ScanSummary;
use crate::steps::sign::Signed;
use crate::steps::vulndb::VulnDb;
use crate::tools::files;

pub const SCHEMA_VERSION: u32 = 2;
/// The release record's file in the run's `out_dir`.
pub const FILE: &str = "release-record.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub schema_version: u32,
    /// The engine that made the release (`xtask-release X.Y.Z`); empty in records from before it was named.
    #[serde(default)]
    pub engine: String,
    pub version: String,
    pub git_sha: String,
    pub context: ContextInfo,
    /// What every image's scan verdict rests on.
    pub scan: ScanBasis,
    pub images: Vec<ReleasedImage>,
    /// Each step and its duration in seconds, in order.
    pub steps: Vec<(String, f64)>,
    /// Registry operations retried after a transient failure, by step (docs/src/retries.md).
    #[serde(default)]
    pub retries: BTreeMap<String, u32>,
    /// Verdicts this run reused instead of checking again (an unchanged build, a smoke test or scan
    /// that passed for the same digest and settings), each with when it was reached.
    #[serde(default)]
    pub reused: Vec<Reused>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleasedImage {
    pub name: String,
    /// The version this image was released at: its package's own in independent versioning
    /// (empty in records written before images had their own versions).
    #[serde(default)]
    pub version: String,
    pub index_digest: String,
    pub platforms: BTreeMap<String, String>,
    pub tags_pushed: Vec<String>,
    pub tags_unchanged: Vec<String>,
    pub floating_tags: Vec<String>,
    pub scan: ScanOutcome,
    pub signatures: Vec<Signed>,
    /// What changed inside the image since the previous release of its line, from both releases'
    /// SBOMs (`release notes`); none for the first release of a line, or when they could not be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<ImageNotes>,
}

/// The scan policy applied (overrides marked) and the vulnerability DB (repository, digest,
/// `UpdatedAt`): the knowledge the release was judged by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanBasis {
    pub policy: ScanPolicy,
    pub overrides: Vec<ScanOverride>,
    pub db: Option<VulnDb>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanOutcome {
    pub passed: bool,
    /// target (platform or Dockerfile) → findings by severity
    pub counts: BTreeMap<String, BTreeMap<Severity, usize>>,
    /// Every finding once: ID, crate, installed and fixed versions, severity, platforms, blocking.
    pub findings: Vec<Listed>,
    /// Findings accepted in the ignore file, each with its `exp:` date.
    pub accepted: Vec<Accepted>,
}

pub fn assemble(
    plan: &Plan,
    record: &BuildRecord,
    scan: &ScanSummary,
    published: &BTreeMap<String, Published>,
    signed: &[Signed],
    steps: Vec<(String, f64)>,
) -> ReleaseRecord {
    let images = record
        .images
        .iter()
        .map(|built| {
            let publish = published.get(&built.name).cloned().unwrap_or_default();
            let scanned = scan.images.iter().find(|s| s.name == built.name);
            ReleasedImage {
                name: built.name.clone(),
                version: built.version.clone(),
                index_digest: built.index_digest.clone(),
                platforms: built.platforms.iter().map(|p| (p.platform.clone(), p.digest.clone())).collect(),
                tags_pushed: publish.pushed,
                tags_unchanged: publish.unchanged,
                floating_tags: publish.floating,
                scan: ScanOutcome {
                    passed: scanned.is_some_and(|s| s.findings.iter().all(|f| !f.blocking)),
                    counts: scanned
                        .map(|s| s.targets.iter().map(|t| (t.target.clone(), t.counts.clone())).collect())
                        .unwrap_or_default(),
                    findings: scanned.map(|s| s.findings.clone()).unwrap_or_default(),
                    accepted: scanned.map(|s| s.accepted.clone()).unwrap_or_default(),
                },
                signatures: signed.iter().filter(|s| s.image == built.name).cloned().collect(),
                notes: None,
            }
        })
        .collect();
    ReleaseRecord {
        schema_version: SCHEMA_VERSION,
        engine: schema::engine(),
        version: plan.version.to_string(),
        git_sha: plan.git.sha.clone(),
        context: plan.context.clone(),
        scan: ScanBasis { policy: scan.policy.clone(), overrides: scan.overrides.clone(), db: scan.db.clone() },
        images,
        steps,
        retries: BTreeMap::new(),
        reused: Vec::new(),
    }
}

/// The release records of several runs of one release (one per image, each on its own CI runner)
/// as one record, images in `planned` order; and the planned images no record has, whose release
/// failed. Records of another version or commit are an error, as is an image released twice with
/// different digests.
pub fn merge(records: Vec<(PathBuf, ReleaseRecord)>, planned: &[String]) -> Result<(ReleaseRecord, Vec<String>)> {
    let mut records = records.into_iter();
    let Some((first_path, mut merged)) = records.next() else {
        anyhow::bail!("no release records to merge: pass the release-record.json files (or directories holding them) the release jobs wrote");
    };
    for (path, record) in records {
        // One commit's release: in independent versioning its images carry their own versions.
        let own_versions = record.images.iter().chain(&merged.images).all(|i| !i.version.is_empty());
        if record.git_sha != merged.git_sha || (record.version != merged.version && !own_versions) {
            anyhow::bail!(
                "{} is a release of {} at {}, but {} is of {} at {}: merge the records of one release",
                path.display(),
                record.version,
                record.git_sha,
                first_path.display(),
                merged.version,
                merged.git_sha
            );
        }
        for image in record.images {
            match merged.images.iter().find(|m| m.name == image.name) {
                Some(seen) if seen.index_digest != image.index_digest => anyhow::bail!(
                    "image {} is in two records with different digests ({} and {}, in {})",
                    image.name,
                    seen.index_digest,
                    image.index_digest,
                    path.display()
                ),
                Some(_) => {}
                None => merged.images.push(image),
            }
        }
        merged.steps.extend(record.steps);
        for (step, count) in record.retries {
            *merged.retries.entry(step).or_default() += count;
        }
        merged.reused.extend(record.reused);
    }
    merged.images.sort_by_key(|i| planned.iter().position(|p| *p == i.name).unwrap_or(usize::MAX));
    let missing = planned.iter().filter(|p| !merged.images.iter().any(|i| &i.name == *p)).cloned().collect();
    Ok((merged, missing))
}

pub fn write(out: &Path, record: &ReleaseRecord) -> Result<PathBuf> {
    let path = out.join(FILE);
    write_json(&path, record)?;
    Ok(path)
}

/// Writes `value` as pretty JSON to `path` (the release and retraction records): whole or not at
/// all, never through a symlink (`tools::files`).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    files::write_json(path, value)
}

/// The closing summary as Markdown (printed, and appended to `$GITHUB_STEP_SUMMARY`).
pub fn summary_markdown(record: &ReleaseRecord) -> String {
    let mut md = format!("### Release {} ({})\n\n", record.version, &record.git_sha[..record.git_sha.len().min(7)]);
    md.push_str("| image | index digest | platforms | pushed | unchanged | floating | scan | signed |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    for image in &record.images {
        let tags = |t: &[String]| {
            if t.is_empty() {
                "-".to_owned()
            } else {
                t.iter().map(|r| short_tag(r)).collect::<Vec<_>>().join(" ")
            }
        };
        md.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |\n",
            image.name,
            image.index_digest,
            image.platforms.keys().cloned().collect::<Vec<_>>().join(" "),
            tags(&image.tags_pushed),
            tags(&image.tags_unchanged),
            tags(&image.floating_tags),
            if image.scan.passed { "pass" } else { "FAIL" },
            if image.signatures.is_empty() { "no" } else { "yes" },
        ));
    }
    md.push_str(&scan_markdown(record));
    md.push_str("\n| step | seconds |\n|---|---|\n");
    for (step, seconds) in &record.steps {
        md.push_str(&format!("| {step} | {seconds:.1} |\n"));
    }
    if !record.retries.is_empty() {
        let retried: Vec<String> = record.retries.iter().map(|(step, n)| format!("{step} {n}")).collect();
        md.push_str(&format!("\nRetried after transient registry failures: {}.\n", retried.join(", ")));
    }
    if !record.reused.is_empty() {
        let reused: Vec<String> =
            record.reused.iter().map(|r| format!("{} of {} ({})", r.check.reused_name(), r.subject, r.since)).collect();
        md.push_str(&format!("\nReused, unchanged since: {}.\n", reused.join(", ")));
    }
    for image in record.images.iter().filter_map(|i| i.notes.as_ref()) {
        let (from, to) = (image.from.version.clone(), image.to.version.clone());
        md.push('\n');
        md.push_str(&notes::markdown(&Notes { schema_version: 1, from, to, images: vec![image.clone()] }));
    }
    md
}

/// What the scan verdicts rest on, and every finding and accepted finding.
fn scan_markdown(record: &ReleaseRecord) -> String {
    let scanners = names(&record.scan.policy.scanners).join(", ");
    let mut md = match &record.scan.db {
        Some(db) => format!(
            "\nScanned ({scanners}) against the vulnerability DB `{}@{}`, updated {}.\n",
            db.repository, db.digest, db.updated_at
        ),
        None => format!("\nScanned ({scanners}) without a vulnerability DB.\n"),
    };
    for o in &record.scan.overrides {
        md.push_str(&format!(
            "Override: `{}` set by `{}` (configured: {}).\n",
            o.setting,
            o.by,
            o.configured.join(", ")
        ));
    }
    let rows: Vec<String> = record
        .images
        .iter()
        .flat_map(|image| {
            let listed =
                image.scan.findings.iter().map(|l| {
                    (&l.finding, &l.platforms, if l.blocking { "FAIL".to_owned() } else { "listed".to_owned() })
                });
            let accepted =
                image.scan.accepted.iter().map(|a| (&a.finding, &a.platforms, format!("accepted until {}", a.until)));
            listed.chain(accepted).map(|(f, platforms, gate)| {
                format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {gate} |\n",
                    image.name,
                    f.id,
                    names(&[f.severity]).concat(),
                    f.package.clone().unwrap_or_else(|| f.target.clone()),
                    f.installed.as_deref().unwrap_or("-"),
                    f.fixed.as_deref().unwrap_or("-"),
                    if platforms.is_empty() { "-".to_owned() } else { platforms.join(" ") },
                )
            })
        })
        .collect();
    if !rows.is_empty() {
        md.push_str("\n| image | finding | severity | crate / file | installed | fixed | platforms | gate |\n");
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        md.push_str(&rows.concat());
    }
    md
}

fn short_tag(reference: &str) -> &str {
    reference.rsplit_once(':').map(|(_, tag)| tag).unwrap_or(reference)
}

/// Under GitHub Actions: the summary to `$GITHUB_STEP_SUMMARY`, digests to `$GITHUB_OUTPUT`.
pub fn github_outputs(record: &ReleaseRecord, record_path: &Path) -> Result<()> {
    let mut lines = String::new();
    for image in &record.images {
        lines.push_str(&format!("{}-digest={}\n", image.name, image.index_digest));
    }
    lines.push_str(&format!("version={}\nrelease-record={}\n", record.version, record_path.display()));
    to_github(&summary_markdown(record), &lines)
}

/// Under GitHub Actions: `summary` (Markdown) to `$GITHUB_STEP_SUMMARY`, `outputs` (`key=value`
/// lines) to `$GITHUB_OUTPUT`.
pub fn to_github(summary: &str, outputs: &str) -> Result<()> {
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append(Path::new(&path), summary)?;
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT") {
        append(Path::new(&path), outputs)?;
    }
    Ok(())
}

pub fn append(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
