//! The scan gate, pure: which findings in trivy's JSON reports fail a release, the findings listed
//! once per ID across platforms, and the ones the ignore file accepted. Trivy reports every
//! severity; the policy decides, so the reports stay complete and the gate stays ours.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::ignorefile::Exception;

/// One finding, with enough to locate it and nothing of the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub id: String,
    pub severity: Severity,
    /// What trivy found it in: a binary or lock file (`beacon`), a file (`/etc/leak.env`), `Dockerfile`.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// A vulnerability's package (the crate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The package version installed in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
    /// The first version that fixes it; `None` when there is no fix (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Vuln,
    Secret,
    Misconfig,
}

/// A finding as the gate lists it: once, with every platform it was found on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    #[serde(flatten)]
    pub finding: Finding,
    /// The platforms whose image has it (none for a Dockerfile finding).
    pub platforms: Vec<String>,
    /// Whether it fails the gate: its severity is one the policy names.
    pub blocking: bool,
}

/// A finding the ignore file accepted, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    #[serde(flatten)]
    pub finding: Finding,
    pub platforms: Vec<String>,
    /// The `exp:` date of the exception (`YYYY-MM-DD`), and its line in the ignore file.
    pub until: String,
    pub line: usize,
}

/// Reads the findings out of one trivy JSON report (`trivy image|config --format json`).
pub fn findings(report: &serde_json::Value) -> Vec<Finding> {
    let mut found = Vec::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        let target = str_of(result, "Target");
        let list = |key: &str| result[key].as_array().cloned().unwrap_or_default();
        found.extend(list("Vulnerabilities").iter().map(|v| finding(FindingKind::Vuln, v, &target)));
        found.extend(list("Secrets").iter().map(|s| finding(FindingKind::Secret, s, &target)));
        let failed = list("Misconfigurations").into_iter().filter(|m| str_of(m, "Status") == "FAIL");
        found.extend(failed.map(|m| finding(FindingKind::Misconfig, &m, &target)));
    }
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    found
}

/// The findings the ignore file suppressed (trivy's `--show-suppressed`: `ExperimentalModifiedFindings`
/// with status `ignored`).
pub fn suppressed(report: &serde_json::Value) -> Vec<Finding> {
    let mut found = Vec::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        let target = str_of(result, "Target");
        for modified in result["ExperimentalModifiedFindings"].as_array().into_iter().flatten() {
            let kind = match str_of(modified, "Type").as_str() {
                "vulnerability" => FindingKind::Vuln,
                "secret" => FindingKind::Secret,
                "misconfiguration" => FindingKind::Misconfig,
                _ => continue,
            };
            if str_of(modified, "Status") == "ignored" {
                found.push(finding(kind, &modified["Finding"], &target));
            }
        }
    }
    found
}

fn str_of(value: &serde_json::Value, key: &str) -> String {
    value[key].as_str().unwrap_or("").to_owned()
}

fn finding(kind: FindingKind, v: &serde_json::Value, target: &str) -> Finding {
    let some = |key: &str| Some(str_of(v, key)).filter(|s| !s.is_empty());
    let (id, line) = match kind {
        FindingKind::Vuln => (str_of(v, "VulnerabilityID"), None),
        FindingKind::Secret => (str_of(v, "RuleID"), v["StartLine"].as_u64()),
        FindingKind::Misconfig => (str_of(v, "ID"), v.pointer("/CauseMetadata/StartLine").and_then(|l| l.as_u64())),
    };
    let vuln = kind == FindingKind::Vuln;
    Finding {
        kind,
        id,
        severity: parse_severity(&str_of(v, "Severity")),
        target: target.to_owned(),
        line,
        package: some("PkgName").filter(|_| vuln),
        installed: some("InstalledVersion").filter(|_| vuln),
        fixed: some("FixedVersion").filter(|_| vuln),
        title: str_of(v, "Title"),
    }
}

fn parse_severity(text: &str) -> Severity {
    match text {
        "LOW" => Severity::Low,
        "MEDIUM" => Severity::Medium,
        "HIGH" => Severity::High,
        "CRITICAL" => Severity::Critical,
        _ => Severity::Unknown,
    }
}

/// Whether `finding` fails the gate under `policy`.
pub fn blocks(policy: &ScanPolicy, finding: &Finding) -> bool {
    policy.severities.contains(&finding.severity)
}

/// Findings counted by severity, every severity present (zero where none).
pub fn count_by_severity(findings: &[Finding]) -> BTreeMap<Severity, usize> {
    let mut counts: BTreeMap<Severity, usize> =
        [Severity::Unknown, Severity::Low, Severity::Medium, Severity::High, Severity::Critical]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
    for finding in findings {
        *counts.entry(finding.severity).or_default() += 1;
    }
    counts
}

/// One entry per finding across the scanned targets (`(platform, findings)`; a target that is not
/// a platform, the Dockerfile, adds none), blocking ones first, then by severity and ID.
pub fn listed(policy: &ScanPolicy, targets: &[(Option<&str>, &[Finding])]) -> Vec<Listed> {
    let mut listed: Vec<Listed> = Vec::new();
    for (platform, findings) in targets {
        for finding in *findings {
            let index = match listed.iter().position(|l| l.finding == *finding) {
                Some(index) => index,
                None => {
                    let blocking = blocks(policy, finding);
                    listed.push(Listed { finding: finding.clone(), platforms: Vec::new(), blocking });
                    listed.len() - 1
                }
            };
            if let Some(platform) = platform {
                listed[index].platforms.push(platform.to_string());
            }
        }
    }
    listed.sort_by(|a, b| {
        (b.blocking, b.finding.severity, &a.finding.id).cmp(&(a.blocking, a.finding.severity, &b.finding.id))
    });
    listed
}

/// The suppressed findings, listed like [`listed`], each with the exception that accepted it.
pub fn accepted(exceptions: &[Exception], targets: &[(Option<&str>, &[Finding])]) -> Vec<Accepted> {
    let nothing_blocks = ScanPolicy { severities: Vec::new(), ..ScanPolicy::default() };
    listed(&nothing_blocks, targets)
        .into_iter()
        .map(|l| {
            let exception = exceptions.iter().find(|e| e.id == l.finding.id);
            Accepted {
                until: exception.map(|e| e.expires.clone()).unwrap_or_default(),
                line: exception.map_or(0, |e| e.line),
                finding: l.finding,
                platforms: l.platforms,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
