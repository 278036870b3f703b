//! buildx's Dockerfile checks (`docker buildx build --call check,format=json`) as findings, pure:
//! read out of buildx's JSON, given a severity (buildx gives none: the rules that can leak a secret
//! are high, those that silently change what is built medium, style low), and gated by the scan
//! policy's severities like trivy's misconfiguration findings.

use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::policy::{Finding, FindingKind};

/// The severity of a buildx check rule (https://docs.docker.com/reference/build-checks/).
pub fn severity(rule: &str) -> Severity {
    match rule {
        "SecretsUsedInArgOrEnv" => Severity::High,
        "UndefinedVar"
        | "UndefinedArgInFrom"
        | "InvalidDefaultArgInFrom"
        | "InvalidBaseImagePlatform"
        | "CopyIgnoredFile"
        | "FromPlatformFlagConstDisallowed"
        | "RedundantTargetPlatform"
        | "MultipleInstructionsDisallowed"
        | "ExposeInvalidFormat"
        | "ExposeProtoCasing" => Severity::Medium,
        _ => Severity::Low,
    }
}

/// The findings in buildx's `--call check,format=json` output for `dockerfile` (its path as shown).
pub fn findings(json: &serde_json::Value, dockerfile: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = json["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let rule = w["ruleName"].as_str().unwrap_or("unknown").to_owned();
            let detail = w["detail"].as_str().or(w["description"].as_str()).unwrap_or_default();
            Finding {
                kind: FindingKind::Misconfig,
                severity: severity(&rule),
                id: rule,
                target: dockerfile.to_owned(),
                line: w["location"]["ranges"][0]["start"]["line"].as_u64(),
                package: None,
                installed: None,
                fixed: None,
                title: detail.to_owned(),
            }
        })
        .collect();
    found.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.line.cmp(&b.line)));
    found
}

/// Whether a finding fails the release under `policy` (its severity is one the policy names).
pub fn blocking(policy: &ScanPolicy, finding: &Finding) -> bool {
    policy.severities.contains(&finding.severity)
}

/// One line for a finding: `Dockerfile:12 UndefinedVar (MEDIUM): Usage of undefined variable '$X'`.
pub fn describe(finding: &Finding) -> String {
    let at = finding.line.map_or_else(|| finding.target.clone(), |l| format!("{}:{l}", finding.target));
    let severity = format!("{:?}", finding.severity).to_uppercase();
    format!("{at} {} ({severity}): {}", finding.id, finding.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_check_warnings_become_findings_with_a_severity() {
        let json = serde_json::json!({
            "warnings": [
                {"ruleName": "FromAsCasing", "description": "The 'as' keyword should match the case of the 'from' keyword",
                 "detail": "'as' and 'FROM' keywords' casing do not match",
                 "location": {"ranges": [{"start": {"line": 3}, "end": {"line": 3}}]}},
                {"ruleName": "SecretsUsedInArgOrEnv", "description": "Sensitive data should not be used in the ARG or ENV commands",
                 "detail": "Do not use ARG or ENV instructions for sensitive data (ENV \"API_TOKEN\")",
                 "location": {"ranges": [{"start": {"line": 7}}]}}
            ]
        });
        let found = findings(&json, "docker/Dockerfile");
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].id.as_str(), found[0].severity, found[0].line),
            ("SecretsUsedInArgOrEnv", Severity::High, Some(7))
        );
        assert_eq!((found[1].id.as_str(), found[1].severity), ("FromAsCasing", Severity::Low));
        assert_eq!(found[1].kind, FindingKind::Misconfig);
        assert_eq!(
            describe(&found[1]),
            "docker/Dockerfile:3 FromAsCasing (LOW): 'as' and 'FROM' keywords' casing do not match"
        );
        assert!(findings(&serde_json::json!({}), "Dockerfile").is_empty(), "no warnings, no findings");
    }

    #[test]
    fn the_scan_policy_severities_gate_them() {
        let policy = ScanPolicy { severities: vec![Severity::High, Severity::Critical], ..ScanPolicy::default() };
        let json = serde_json::json!({"warnings": [
            {"ruleName": "SecretsUsedInArgOrEnv", "detail": "ENV API_TOKEN"},
            {"ruleName": "JSONArgsRecommended", "detail": "CMD"}
        ]});
        let found = findings(&json, "Dockerfile");
        assert!(blocking(&policy, &found[0]));
        assert!(!blocking(&policy, &found[1]), "low: listed, not blocking");
        let strict = ScanPolicy { severities: vec![Severity::Low], ..policy };
        assert!(blocking(&strict, &found[1]));
    }
}
