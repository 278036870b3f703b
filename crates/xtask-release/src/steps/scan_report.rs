//! The scan summary for people: the policy and DB it rests on, counts per image and target, every
//! finding once (ID, crate or file, installed and fixed version, severity, platforms, gate), the
//! accepted ones with their expiry; under GitHub Actions an `::error` annotation per blocking
//! finding; and the gate's failure message, naming each blocking finding. The summary's types and its
//! file's name live here too, so that `steps::scan` (which makes the summary) uses this module and
//! not the reverse.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::console;
use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::overrides::{names, ScanOverride};
use crate::rules::plan_text;
use crate::rules::policy::{Accepted, Finding, FindingKind, Listed};
use crate::steps::vulndb::VulnDb;

/// The scan summary's file in the run's `out_dir`.
pub const SUMMARY_FILE: &str = "scan-summary.json";

/// What the scan found and what it rests on, for the release record and the publish step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSummary {
    pub schema_version: u32,
    pub version: String,
    pub git_sha: String,
    /// The policy applied (the configured one with this run's overrides), and the overrides.
    pub policy: ScanPolicy,
    pub overrides: Vec<ScanOverride>,
    /// The vulnerability DB every platform was scanned against; `None` without the vuln scanner.
    pub db: Option<VulnDb>,
    pub passed: bool,
    pub images: Vec<ScannedImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScannedImage {
    pub name: String,
    pub index_digest: String,
    /// One row per platform digest, plus one for the Dockerfile when misconfig runs.
    pub targets: Vec<ScannedTarget>,
    /// Every finding once, with the platforms it was found on and whether it blocks.
    pub findings: Vec<Listed>,
    /// Findings the ignore file accepted, each with its expiry.
    pub accepted: Vec<Accepted>,
    /// When the scan whose results these are ran, if this run reused them: it passed against the
    /// same index digest, vulnerability DB digest, policy, ignore file, Dockerfile and trivy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScannedTarget {
    /// `linux/arm64`, or `Dockerfile`.
    pub target: String,
    pub digest: Option<String>,
    pub counts: BTreeMap<Severity, usize>,
    pub report: PathBuf,
    pub sarif: Option<PathBuf>,
    pub sbom: Option<PathBuf>,
}

/// Rows of findings shown per image; the rest are in the summary JSON and the reports.
const SHOWN: usize = 25;

/// Prints the summary: what it rests on, the counts, each image's findings; under GitHub Actions an
/// `::error` annotation per blocking finding.
pub fn print(summary: &ScanSummary) {
    for line in plan_text::policy_lines(&summary.policy, &summary.overrides) {
        console::progress!("    {line}");
    }
    if let Some(db) = &summary.db {
        console::progress!("    judged by {}@{} (UpdatedAt {})", db.repository, db.digest, db.updated_at);
    }
    print_counts(summary);
    for image in &summary.images {
        print_findings(summary, image);
    }
    if console::github_actions() {
        annotate(summary);
    }
}

/// One row per image and target: its digest and its findings counted by severity.
fn print_counts(summary: &ScanSummary) {
    console::progress!(
        "    {:<12} {:<14} {:<19} {:>4} {:>4} {:>4} {:>4} {:>4}",
        "image",
        "target",
        "digest",
        "CRIT",
        "HIGH",
        "MED",
        "LOW",
        "UNKN"
    );
    for image in &summary.images {
        for t in &image.targets {
            let digest = t.digest.as_deref().map(|d| &d[..d.len().min(19)]).unwrap_or("-");
            let c = |s: Severity| t.counts.get(&s).copied().unwrap_or(0);
            console::progress!(
                "    {:<12} {:<14} {:<19} {:>4} {:>4} {:>4} {:>4} {:>4}",
                image.name,
                t.target,
                digest,
                c(Severity::Critical),
                c(Severity::High),
                c(Severity::Medium),
                c(Severity::Low),
                c(Severity::Unknown)
            );
        }
    }
}

/// The image's findings (the first [`SHOWN`]) with their gate, then the accepted ones with their expiry.
fn print_findings(summary: &ScanSummary, image: &ScannedImage) {
    if !image.findings.is_empty() {
        let blocking = image.findings.iter().filter(|f| f.blocking).count();
        console::progress!("    {}: {} finding(s), {blocking} blocking", image.name, image.findings.len());
        print_rows(
            image.findings.iter().take(SHOWN).map(|l| {
                (&l.finding, l.platforms.as_slice(), if l.blocking { "FAIL".into() } else { "listed".into() })
            }),
        );
        if image.findings.len() > SHOWN {
            console::progress!("      … and {} more in {}", image.findings.len() - SHOWN, SUMMARY_FILE);
        }
    }
    if !image.accepted.is_empty() {
        console::progress!("    {}: {} accepted in {}", image.name, image.accepted.len(), summary.policy.ignorefile);
        print_rows(image.accepted.iter().map(|a| {
            let gate = format!("accepted until {} ({}:{})", a.until, summary.policy.ignorefile, a.line);
            (&a.finding, a.platforms.as_slice(), gate)
        }));
    }
}

/// A table of findings: each with its platforms and what the gate made of it.
fn print_rows<'a>(listed: impl Iterator<Item = (&'a Finding, &'a [String], String)>) {
    console::progress!(
        "      {:<9} {:<20} {:<16} {:<10} {:<10} {:<25} gate",
        "severity",
        "id",
        "in",
        "installed",
        "fixed",
        "platforms"
    );
    for (finding, platforms, gate) in listed {
        console::progress!(
            "      {:<9} {:<20} {:<16} {:<10} {:<10} {:<25} {gate}",
            name(finding.severity),
            finding.id,
            place(finding),
            finding.installed.as_deref().unwrap_or("-"),
            fixed(finding),
            if platforms.is_empty() { "-".to_owned() } else { platforms.join(" ") }
        );
    }
}

/// A GitHub Actions `::error` annotation per blocking finding, on its file and line where it has them.
fn annotate(summary: &ScanSummary) {
    for finding in summary.images.iter().flat_map(|i| &i.findings).filter(|f| f.blocking) {
        let f = &finding.finding;
        let file = if f.target == "Dockerfile" || f.kind == FindingKind::Secret {
            format!("file={},", f.target.trim_start_matches('/'))
        } else {
            String::new()
        };
        let line = f.line.map(|l| format!("line={l},")).unwrap_or_default();
        println!("::error {file}{line}title={}::{}", f.id, describe(finding));
    }
}

/// The gate's failure: every blocking finding, and the ways out.
pub fn gate_failure(summary: &ScanSummary) -> String {
    let blocking: Vec<String> = summary
        .images
        .iter()
        .flat_map(|image| {
            image.findings.iter().filter(|f| f.blocking).map(move |f| format!("{}: {}", image.name, describe(f)))
        })
        .collect();
    format!(
        "the scan gate failed: {} finding(s) at {}:\n  {}\n\
         Fix them (upgrade, rebuild), or accept one deliberately until a date with `ID exp:YYYY-MM-DD` in {}",
        blocking.len(),
        names(&summary.policy.severities).join(", "),
        blocking.join("\n  "),
        summary.policy.ignorefile
    )
}

/// One finding in a sentence: `XTASK-1 (HIGH) in libc 0.2.191, fixed in 0.2.999, on linux/amd64, linux/arm64: title`.
pub fn describe(listed: &Listed) -> String {
    let f = &listed.finding;
    let on = if listed.platforms.is_empty() { String::new() } else { format!(", on {}", listed.platforms.join(", ")) };
    let what = match f.kind {
        FindingKind::Vuln => format!(
            "vulnerability in {} {}, {}",
            place(f),
            f.installed.as_deref().unwrap_or("?"),
            match &f.fixed {
                Some(version) => format!("fixed in {version}"),
                None => "no fixed version".to_owned(),
            }
        ),
        FindingKind::Secret => format!("secret in {}", place(f)),
        FindingKind::Misconfig => format!("misconfiguration in {}", place(f)),
    };
    format!("{} ({}) {what}{on}: {}", f.id, name(f.severity), f.title)
}

/// Where it is: the crate, or the file and line.
fn place(f: &Finding) -> String {
    match (&f.package, f.line) {
        (Some(package), _) => package.clone(),
        (None, Some(line)) => format!("{}:{line}", f.target),
        (None, None) => f.target.clone(),
    }
}

fn fixed(f: &Finding) -> &str {
    match (&f.fixed, f.kind) {
        (Some(version), _) => version,
        (None, FindingKind::Vuln) => "(none)",
        (None, _) => "-",
    }
}

fn name(severity: Severity) -> String {
    names(&[severity]).concat()
}
