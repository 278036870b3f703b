//! buildx's Dockerfile checks (`docker buildx build --call check,format=json`) as findings, pure:
//! read out of buildx's JSON, given a severity (buildx gives none: the rules that can leak a secret
//! are high, those that silently change what is built medium, style low), and gated by the scan
//! policy's severities like trivy's misconfiguration findings.

use serde::{Deserialize, Serialize};

use crate::rules::config::{ScanPolicy, Severity};
use crate::rules::json::nullable;
use crate::rules::policy::{Finding, FindingKind};

/// buildx's `--call check,format=json` output, as far as it is read (and kept as the check's
/// verdict outcome). `warnings` is always there, `null` when no check warns; `buildError` only when
/// buildx could not evaluate the Dockerfile at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(deserialize_with = "nullable")]
    pub warnings: Vec<Warning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_error: Option<BuildError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    pub rule_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildError {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default)]
    pub ranges: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub start: Position,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub line: u64,
}

/// Reads buildx's check output for `dockerfile`; the problem in words when it is not that, or when
/// buildx could not evaluate the Dockerfile (its own words: the Dockerfile is to fix).
pub fn report(json: &[u8], dockerfile: &str) -> Result<Report, String> {
    let report: Report = serde_json::from_slice(json).map_err(|e| format!("it is not buildx's check output: {e}"))?;
    if let Some(error) = &report.build_error {
        return Err(format!("buildx could not evaluate {dockerfile}: {}: fix the Dockerfile", error.message));
    }
    Ok(report)
}

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
pub fn findings(report: &Report, dockerfile: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = report
        .warnings
        .iter()
        .map(|w| {
            let rule = w.rule_name.clone();
            let detail = w.detail.as_deref().or(w.description.as_deref()).unwrap_or_default();
            Finding {
                kind: FindingKind::Misconfig,
                severity: severity(&rule),
                id: rule,
                target: dockerfile.to_owned(),
                line: w.location.as_ref().and_then(|l| l.ranges.first()).map(|r| r.start.line),
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

    fn read(json: serde_json::Value) -> Report {
        report(json.to_string().as_bytes(), "Dockerfile").unwrap()
    }

    #[test]
    fn buildx_check_warnings_become_findings_with_a_severity() {
        let json = read(serde_json::json!({
            "warnings": [
                {"ruleName": "FromAsCasing", "description": "The 'as' keyword should match the case of the 'from' keyword",
                 "detail": "'as' and 'FROM' keywords' casing do not match",
                 "location": {"ranges": [{"start": {"line": 3}, "end": {"line": 3}}]}},
                {"ruleName": "SecretsUsedInArgOrEnv", "description": "Sensitive data should not be used in the ARG or ENV commands",
                 "detail": "Do not use ARG or ENV instructions for sensitive data (ENV \"API_TOKEN\")",
                 "location": {"ranges": [{"start": {"line": 7}}]}}
            ],
            "sources": [{"filename": "Dockerfile", "data": "RlJPTSBzY3JhdGNo", "language": "Dockerfile"}]
        }));
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
        let clean = read(serde_json::json!({"warnings": null, "sources": []}));
        assert!(findings(&clean, "Dockerfile").is_empty(), "no warnings, no findings");
    }

    #[test]
    fn output_of_another_shape_or_a_dockerfile_buildx_cannot_evaluate_is_an_error() {
        let broken = serde_json::json!({"warnings": null, "buildError": {
            "message": "dockerfile parse error on line 2: unknown instruction: FOO",
            "location": {"ranges": [{"start": {"line": 2}, "end": {"line": 2}}]}}});
        let error = report(broken.to_string().as_bytes(), "docker/Dockerfile").unwrap_err();
        assert!(error.contains("buildx could not evaluate docker/Dockerfile: dockerfile parse error"), "{error}");
        assert!(report(b"{}", "Dockerfile").unwrap_err().contains("missing field `warnings`"));
        let nameless = br#"{"warnings": [{"detail": "x"}]}"#;
        assert!(report(nameless, "Dockerfile").unwrap_err().contains("missing field `ruleName`"));
        assert!(report(b"ERROR: unknown flag: --call", "Dockerfile")
            .unwrap_err()
            .contains("not buildx's check output"));
        let kept = read(serde_json::json!({"warnings": [{"ruleName": "JSONArgsRecommended", "detail": "CMD"}]}));
        let stored = serde_json::to_value(&kept).unwrap();
        assert_eq!(serde_json::from_value::<Report>(stored).unwrap(), kept, "a verdict's outcome reads back");
    }

    #[test]
    fn the_scan_policy_severities_gate_them() {
        let policy = ScanPolicy { severities: vec![Severity::High, Severity::Critical], ..ScanPolicy::default() };
        let json = read(serde_json::json!({"warnings": [
            {"ruleName": "SecretsUsedInArgOrEnv", "detail": "ENV API_TOKEN"},
            {"ruleName": "JSONArgsRecommended", "detail": "CMD"}
        ]}));
        let found = findings(&json, "Dockerfile");
        assert!(blocking(&policy, &found[0]));
        assert!(!blocking(&policy, &found[1]), "low: listed, not blocking");
        let strict = ScanPolicy { severities: vec![Severity::Low], ..policy };
        assert!(blocking(&strict, &found[1]));
    }
}
