//! `cargo xtask scan`: trivy against exactly the per-platform digests in the build record, and its
//! misconfiguration scanner against each image's Dockerfile. Writes, per image and platform under
//! `target/xtask/scan/`, the JSON report, SARIF and a CycloneDX SBOM; prints a summary; fails on any
//! finding the policy's severities name and on any `.trivyignore` entry without a future expiry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::console;
use crate::rules::config::{ScanPolicy, Scanner, Severity};
use crate::rules::ignorefile::{self, Exception};
use crate::rules::labels;
use crate::rules::plan::Plan;
use crate::rules::policy::{self, Finding};
use crate::steps::build_record::{BuildRecord, BuiltImage};
use crate::tools::trivy::{self, DbSource};

pub const SUMMARY_PATH: &str = "target/xtask/scan-summary.json";

/// What the scan found, for the release record and the publish step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSummary {
    pub schema_version: u32,
    pub version: String,
    pub git_sha: String,
    pub scanners: Vec<Scanner>,
    pub failing_severities: Vec<Severity>,
    pub passed: bool,
    pub images: Vec<ScannedImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScannedImage {
    pub name: String,
    pub index_digest: String,
    /// One row per platform digest, plus one for the Dockerfile when misconfig runs.
    pub targets: Vec<ScannedTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScannedTarget {
    /// `linux/arm64`, or `Dockerfile`.
    pub target: String,
    pub digest: Option<String>,
    pub counts: BTreeMap<Severity, usize>,
    pub failing: Vec<Finding>,
    pub report: PathBuf,
    pub sarif: Option<PathBuf>,
    pub sbom: Option<PathBuf>,
}

/// Scans every image of the record and fails if the gate does.
pub fn scan(sh: &Shell, plan: &Plan, record: &BuildRecord) -> Result<ScanSummary> {
    let root = sh.current_dir();
    let policy = plan.scan.clone();
    let db = DbSource { repository: Some(policy.db_repositories.join(",")), cache_dir: None };
    trivy::require_pinned_version(sh)?;
    let ignorefile = root.join(&policy.ignorefile);
    let exceptions = exceptions(&root, &policy)?;
    if !exceptions.problems.is_empty() {
        bail!("{} does not hold:\n  {}", policy.ignorefile, exceptions.problems.join("\n  "));
    }

    let mut images = Vec::new();
    for built in &record.images {
        let image_plan = plan.images.iter().find(|i| i.name == built.name).with_context(|| {
            format!("image {} is in the build record but not in the plan: run `cargo xtask build` again", built.name)
        })?;
        let dockerfile = root.join(&image_plan.dockerfile);
        images.push(scan_image(
            sh,
            &root,
            &policy,
            &db,
            ignorefile.exists().then_some(&ignorefile),
            built,
            &dockerfile,
        )?);
    }
    let passed = images.iter().flat_map(|i| &i.targets).all(|t| t.failing.is_empty());
    let summary = ScanSummary {
        schema_version: 1,
        version: record.version.clone(),
        git_sha: record.git_sha.clone(),
        scanners: policy.scanners.clone(),
        failing_severities: policy.severities.clone(),
        passed,
        images,
    };
    let path = root.join(SUMMARY_PATH);
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    print_summary(&summary, &policy);
    if !passed {
        let findings: usize = summary.images.iter().flat_map(|i| &i.targets).map(|t| t.failing.len()).sum();
        bail!(
            "the scan gate failed: {findings} finding(s) at {}, listed above. \
             Fix them, or accept one until a date with `ID exp:YYYY-MM-DD` in {}",
            severity_list(&policy.severities),
            policy.ignorefile
        );
    }
    Ok(summary)
}

/// The ignore file as of today: its valid exceptions, and each bad line as `FILE:LINE: ID problem`
/// with the fix.
pub struct Exceptions {
    pub valid: Vec<Exception>,
    pub problems: Vec<String>,
}

/// Reads the policy's ignore file (none is fine: nothing accepted).
pub fn exceptions(root: &Path, policy: &ScanPolicy) -> Result<Exceptions> {
    let path = root.join(&policy.ignorefile);
    if !path.exists() {
        return Ok(Exceptions { valid: Vec::new(), problems: Vec::new() });
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (valid, problems) = ignorefile::parse(&text, &today()?);
    let problems = problems
        .iter()
        .map(|p| {
            format!(
                "{}:{}: {} {}: accept it until a date with `{} exp:YYYY-MM-DD`, or remove the line",
                policy.ignorefile, p.line, p.id, p.problem, p.id
            )
        })
        .collect();
    Ok(Exceptions { valid, problems })
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> Result<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    Ok(labels::rfc3339_utc(now as i64)[..10].to_owned())
}

fn scan_image(
    sh: &Shell,
    root: &Path,
    policy: &ScanPolicy,
    db: &DbSource,
    ignorefile: Option<&PathBuf>,
    built: &BuiltImage,
    dockerfile: &Path,
) -> Result<ScannedImage> {
    let dir = root.join("target/xtask/scan").join(&built.name);
    let layout = dir.join("layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&layout).with_context(|| format!("cannot create {}", layout.display()))?;
    let archive = &built.archive;
    cmd!(sh, "tar -xf {archive} -C {layout}")
        .quiet()
        .run()
        .with_context(|| format!("cannot unpack {}", archive.display()))?;

    let image_scanners: Vec<Scanner> = policy.scanners.iter().copied().filter(|s| *s != Scanner::Misconfig).collect();
    let mut targets = Vec::new();
    for platform in &built.platforms {
        let out = dir.join(platform.platform.replace('/', "-"));
        let single = single_platform_layout(&layout, &out, &platform.digest)?;
        let report = out.join("report.json");
        if image_scanners.is_empty() {
            std::fs::write(&report, "{}\n")?;
        } else {
            trivy::scan_image(
                sh,
                &single,
                &image_scanners,
                policy.ignore_unfixed,
                ignorefile.map(PathBuf::as_path),
                db,
                &report,
            )
            .with_context(|| format!("scanning {} {}", built.name, platform.platform))?;
        }
        let sarif = out.join("report.sarif");
        trivy::to_sarif(sh, &report, &sarif)?;
        let sbom = out.join("sbom.cdx.json");
        trivy::sbom(sh, &single, &sbom)?;
        targets.push(target_result(
            &platform.platform,
            Some(&platform.digest),
            policy,
            &report,
            Some(sarif),
            Some(sbom),
        )?);
    }
    if policy.scanners.contains(&Scanner::Misconfig) {
        let report = dir.join("dockerfile.json");
        trivy::scan_dockerfile(sh, dockerfile, &report)?;
        let sarif = dir.join("dockerfile.sarif");
        trivy::to_sarif(sh, &report, &sarif)?;
        targets.push(target_result("Dockerfile", None, policy, &report, Some(sarif), None)?);
    }
    Ok(ScannedImage { name: built.name.clone(), index_digest: built.index_digest.clone(), targets })
}

/// An OCI layout whose index names only `digest`, sharing the blobs of the unpacked archive: trivy
/// then scans exactly that platform's manifest, not whichever one it would pick from the index.
fn single_platform_layout(full: &Path, out: &Path, digest: &str) -> Result<PathBuf> {
    let single = out.join("layout");
    std::fs::create_dir_all(&single).with_context(|| format!("cannot create {}", single.display()))?;
    let manifest_path = full.join("blobs").join(digest.replacen(':', "/", 1));
    let size = std::fs::metadata(&manifest_path).with_context(|| format!("{digest} is not in the archive"))?.len();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path)?)?;
    let media_type = manifest["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": digest, "size": size}]
    });
    std::fs::write(single.join("index.json"), index.to_string())?;
    std::fs::write(single.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::os::unix::fs::symlink(full.join("blobs"), single.join("blobs")).context("cannot link the layout's blobs")?;
    Ok(single)
}

fn target_result(
    target: &str,
    digest: Option<&str>,
    policy: &ScanPolicy,
    report: &Path,
    sarif: Option<PathBuf>,
    sbom: Option<PathBuf>,
) -> Result<ScannedTarget> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report)?)
        .with_context(|| format!("{} is not trivy JSON", report.display()))?;
    let found = policy::findings(&json);
    Ok(ScannedTarget {
        target: target.to_owned(),
        digest: digest.map(str::to_owned),
        counts: policy::count_by_severity(&found),
        failing: policy::failing(policy, &found).into_iter().cloned().collect(),
        report: report.to_path_buf(),
        sarif,
        sbom,
    })
}

fn severity_list(severities: &[Severity]) -> String {
    severities.iter().map(|s| format!("{s:?}").to_uppercase()).collect::<Vec<_>>().join(",")
}

fn print_summary(summary: &ScanSummary, policy: &ScanPolicy) {
    let scanners: Vec<&str> = policy.scanners.iter().map(|s| trivy::scanner_name(*s)).collect();
    console::progress!(
        "    scanners: {}; failing severities: {}",
        scanners.join(","),
        severity_list(&policy.severities)
    );
    console::progress!(
        "    {:<12} {:<14} {:<19} {:>4} {:>4} {:>4} {:>4} {:>4}  gate",
        "image",
        "target",
        "digest",
        "CRIT",
        "HIGH",
        "MED",
        "LOW",
        "UNKN"
    );
    let gha = console::github_actions();
    for image in &summary.images {
        for t in &image.targets {
            let digest = t.digest.as_deref().map(|d| &d[..d.len().min(19)]).unwrap_or("-");
            let c = |s: Severity| t.counts.get(&s).copied().unwrap_or(0);
            let gate = if t.failing.is_empty() { "pass" } else { "FAIL" };
            console::progress!(
                "    {:<12} {:<14} {:<19} {:>4} {:>4} {:>4} {:>4} {:>4}  {gate}",
                image.name,
                t.target,
                digest,
                c(Severity::Critical),
                c(Severity::High),
                c(Severity::Medium),
                c(Severity::Low),
                c(Severity::Unknown)
            );
            for finding in t.failing.iter().take(10) {
                let at = finding.line.map(|l| format!(":{l}")).unwrap_or_default();
                eprintln!(
                    "        {:?} {} {} in {}{at}: {}",
                    finding.severity,
                    finding.id,
                    kind(finding),
                    finding.target,
                    finding.title
                );
                if gha {
                    let file =
                        if t.target == "Dockerfile" { format!("file={},", finding.target) } else { String::new() };
                    let line = finding.line.map(|l| format!("line={l},")).unwrap_or_default();
                    println!(
                        "::error {file}{line}title={}::{} in {}: {}",
                        finding.id,
                        kind(finding),
                        finding.target,
                        finding.title
                    );
                }
            }
            if t.failing.len() > 10 {
                eprintln!("        … and {} more in {}", t.failing.len() - 10, t.report.display());
            }
        }
    }
}

fn kind(finding: &Finding) -> &'static str {
    match finding.kind {
        policy::FindingKind::Vuln => "vulnerability",
        policy::FindingKind::Secret => "secret",
        policy::FindingKind::Misconfig => "misconfiguration",
    }
}
