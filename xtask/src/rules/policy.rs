//! The scan gate, pure: which findings in trivy's JSON reports fail a release, and the summary the
//! scan prints. Trivy reports every severity; the policy decides, so the reports stay complete and
//! the gate stays ours.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::config::{ScanPolicy, Severity};

/// One finding, with enough to locate it and nothing of the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub id: String,
    pub severity: Severity,
    /// The file, package or Dockerfile the finding is in.
    pub target: String,
    pub line: Option<u64>,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Vuln,
    Secret,
    Misconfig,
}

/// Reads the findings out of one trivy JSON report (`trivy image|config --format json`).
pub fn findings(report: &serde_json::Value) -> Vec<Finding> {
    let mut found = Vec::new();
    let str_of = |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).unwrap_or("").to_owned();
    let severity_of = |v: &serde_json::Value| parse_severity(&str_of(v, "Severity"));
    for result in report.get("Results").and_then(|r| r.as_array()).into_iter().flatten() {
        let target = str_of(result, "Target");
        let list = |key: &str| result.get(key).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for v in list("Vulnerabilities") {
            let package = format!("{} {}", str_of(&v, "PkgName"), str_of(&v, "InstalledVersion"));
            found.push(Finding {
                kind: FindingKind::Vuln,
                id: str_of(&v, "VulnerabilityID"),
                severity: severity_of(&v),
                target: format!("{target}: {package}"),
                line: None,
                title: str_of(&v, "Title"),
            });
        }
        for s in list("Secrets") {
            found.push(Finding {
                kind: FindingKind::Secret,
                id: str_of(&s, "RuleID"),
                severity: severity_of(&s),
                target: target.clone(),
                line: s.get("StartLine").and_then(|l| l.as_u64()),
                title: str_of(&s, "Title"),
            });
        }
        for m in list("Misconfigurations").into_iter().filter(|m| str_of(m, "Status") == "FAIL") {
            found.push(Finding {
                kind: FindingKind::Misconfig,
                id: str_of(&m, "ID"),
                severity: severity_of(&m),
                target: target.clone(),
                line: m.pointer("/CauseMetadata/StartLine").and_then(|l| l.as_u64()),
                title: str_of(&m, "Title"),
            });
        }
    }
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    found
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

/// The findings that fail the gate under `policy`.
pub fn failing<'a>(policy: &ScanPolicy, findings: &'a [Finding]) -> Vec<&'a Finding> {
    findings.iter().filter(|f| policy.severities.contains(&f.severity)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::config::Scanner;

    fn policy(severities: &[Severity]) -> ScanPolicy {
        ScanPolicy {
            scanners: vec![Scanner::Secret, Scanner::Misconfig],
            severities: severities.to_vec(),
            ..ScanPolicy::default()
        }
    }

    fn report() -> serde_json::Value {
        serde_json::json!({
            "Results": [
                {"Target": "/etc/leak.env", "Class": "secret", "Secrets": [
                    {"RuleID": "github-pat", "Severity": "CRITICAL", "Title": "GitHub Personal Access Token", "StartLine": 2, "Match": "GITHUB=****"}
                ]},
                {"Target": "beacon", "Class": "lang-pkgs", "Vulnerabilities": [
                    {"VulnerabilityID": "RUSTSEC-2099-0001", "PkgName": "libc", "InstalledVersion": "0.2.1", "Severity": "MEDIUM", "Title": "t"}
                ]},
                {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [
                    {"ID": "DS002", "Severity": "HIGH", "Status": "FAIL", "Title": "root user", "CauseMetadata": {"StartLine": 7}},
                    {"ID": "DS026", "Severity": "LOW", "Status": "PASS", "Title": "healthcheck"}
                ]}
            ]
        })
    }

    #[test]
    fn findings_are_read_from_every_class_worst_first_without_the_secret() {
        let found = findings(&report());
        let ids: Vec<_> = found.iter().map(|f| (f.id.as_str(), f.severity, f.line)).collect();
        assert_eq!(
            ids,
            [
                ("github-pat", Severity::Critical, Some(2)),
                ("DS002", Severity::High, Some(7)),
                ("RUSTSEC-2099-0001", Severity::Medium, None)
            ]
        );
        assert!(!format!("{found:?}").contains("****"), "the match text must not be carried");
    }

    #[test]
    fn the_gate_fails_only_on_the_policy_severities() {
        let found = findings(&report());
        let gate = |severities: &[Severity]| {
            failing(&policy(severities), &found).iter().map(|f| f.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(gate(&[Severity::High, Severity::Critical]), ["github-pat", "DS002"]);
        assert_eq!(gate(&[Severity::Critical]), ["github-pat"]);
        assert_eq!(gate(&[Severity::Low]), Vec::<String>::new());
        assert!(failing(&policy(&[Severity::Critical]), &findings(&serde_json::json!({}))).is_empty());
    }

    #[test]
    fn severities_are_counted_including_zeros() {
        let counts = count_by_severity(&findings(&report()));
        assert_eq!(counts[&Severity::Critical], 1);
        assert_eq!(counts[&Severity::High], 1);
        assert_eq!(counts[&Severity::Medium], 1);
        assert_eq!(counts[&Severity::Low], 0);
    }
}
