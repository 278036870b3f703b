//! The scan gate, pure: which findings in trivy's JSON reports fail a release, the findings listed
//! once per ID across platforms, and the ones the ignore file accepted. Trivy reports every
//! severity; the policy decides, so the reports stay complete and the gate stays ours. The reports
//! are read typed (`rules::trivy_report`): one that is incomplete never gets here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::ignorefile::{Exception, Vex};
use crate::rules::trivy_report::{Misconfiguration, Report, Secret, Suppressed, Vulnerability};

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
    /// What the release's OpenVEX statement on it claims (`rules::openvex`).
    #[serde(default)]
    pub vex: Vex,
}

/// The findings of one trivy report (`trivy image|config|sbom --format json`, as
/// `rules::trivy_report::parse` accepted it), worst first.
pub fn findings(report: &Report) -> Vec<Finding> {
    let mut found = Vec::new();
    for result in report.targets() {
        let target = result.target.as_str();
        found.extend(result.vulnerabilities.iter().map(|v| vulnerability(v, target)));
        found.extend(result.secrets.iter().map(|s| secret(s, target)));
        found.extend(result.misconfigurations.iter().filter(|m| m.status == "FAIL").map(|m| misconfig(m, target)));
    }
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    found
}

/// The findings the ignore file suppressed (trivy's `--show-suppressed`: `ExperimentalModifiedFindings`
/// with status `ignored`).
pub fn suppressed(report: &Report) -> Vec<Finding> {
    let mut found = Vec::new();
    for result in report.targets() {
        let target = result.target.as_str();
        // `parse` checked every one: an incomplete one refused the whole report.
        found.extend(result.suppressed().unwrap_or_default().iter().map(|s| match s {
            Suppressed::Vuln(v) => vulnerability(v, target),
            Suppressed::Secret(s) => secret(s, target),
            Suppressed::Misconfig(m) => misconfig(m, target),
        }));
    }
    found
}

fn vulnerability(v: &Vulnerability, target: &str) -> Finding {
    Finding {
        kind: FindingKind::Vuln,
        id: v.vulnerability_id.clone(),
        severity: v.severity,
        target: target.to_owned(),
        line: None,
        package: Some(v.pkg_name.clone()).filter(|p| !p.is_empty()),
        installed: Some(v.installed_version.clone()).filter(|i| !i.is_empty()),
        fixed: v.fixed_version.clone().filter(|f| !f.is_empty()),
        title: v.title.clone().unwrap_or_default(),
    }
}

fn secret(s: &Secret, target: &str) -> Finding {
    let title = s.title.clone().unwrap_or_default();
    Finding { line: s.start_line, ..other(FindingKind::Secret, &s.rule_id, s.severity, target, title) }
}

fn misconfig(m: &Misconfiguration, target: &str) -> Finding {
    let line = m.cause_metadata.as_ref().and_then(|c| c.start_line);
    let title = m.title.clone().unwrap_or_default();
    Finding { line, ..other(FindingKind::Misconfig, &m.id, m.severity, target, title) }
}

/// A finding that is not a package's: no package or versions.
fn other(kind: FindingKind, id: &str, severity: Severity, target: &str, title: String) -> Finding {
    Finding {
        kind,
        id: id.to_owned(),
        severity,
        target: target.to_owned(),
        line: None,
        package: None,
        installed: None,
        fixed: None,
        title,
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
                vex: exception.map(|e| e.vex.clone()).unwrap_or_default(),
                finding: l.finding,
                platforms: l.platforms,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
