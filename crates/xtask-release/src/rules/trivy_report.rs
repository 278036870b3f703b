//! trivy's JSON report (`trivy image|config|sbom --format json`), typed: what the scan gate and the
//! audit read of it, and when a report is complete enough to be believed. Unknown fields are
//! ignored (trivy adds some in most releases), but what the gate rests on must be there, or the
//! report is refused and the scan fails closed — never read as "no findings":
//!
//! - `SchemaVersion` 2, the one this engine reads;
//! - `ArtifactName` and `ArtifactType`: what was scanned;
//! - `Results`: trivy leaves it out when it found nothing at all to read in the artifact (no OS
//!   packages, no lock file, no binary it could read, no file), so a missing `Results` is a blind
//!   scan, not a clean one; an empty array only when trivy wrote one;
//! - every result's `Target` and a `Class` of trivy's (`os-pkgs`, `lang-pkgs`, `config`, `secret`,
//!   `license`, `license-file`, `custom`);
//! - every finding's ID and `Severity` (one of trivy's five); a vulnerability's package and installed
//!   version; a misconfiguration's `Status`; a finding the ignore file suppressed, typed like the
//!   others.

use serde::Deserialize;

use crate::rules::config::Severity;
use crate::rules::json::nullable;

/// The report schema this engine reads.
pub const SCHEMA_VERSION: u32 = 2;

/// trivy's result classes.
pub const CLASSES: [&str; 7] = ["os-pkgs", "lang-pkgs", "config", "secret", "license", "license-file", "custom"];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub schema_version: u32,
    pub artifact_name: String,
    pub artifact_type: String,
    #[serde(default)]
    pub results: Option<Vec<Target>>,
}

/// One scanned target: an OS, a binary or lock file, a file with a secret, a Dockerfile.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub target: String,
    pub class: String,
    #[serde(default, deserialize_with = "nullable")]
    pub vulnerabilities: Vec<Vulnerability>,
    #[serde(default, deserialize_with = "nullable")]
    pub secrets: Vec<Secret>,
    #[serde(default, deserialize_with = "nullable")]
    pub misconfigurations: Vec<Misconfiguration>,
    /// What a VEX statement or the ignore file changed (`--show-suppressed`).
    #[serde(default, deserialize_with = "nullable")]
    pub experimental_modified_findings: Vec<Modified>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    pub vulnerability_id: String,
    pub pkg_name: String,
    pub installed_version: String,
    #[serde(default)]
    pub fixed_version: Option<String>,
    pub severity: Severity,
    #[serde(default)]
    pub title: Option<String>,
}

/// A secret, without its match: only the rule, where, and how bad.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    #[serde(rename = "RuleID")]
    pub rule_id: String,
    pub severity: Severity,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub start_line: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Misconfiguration {
    #[serde(rename = "ID")]
    pub id: String,
    pub severity: Severity,
    /// `FAIL`, `PASS` or `EXCEPTION`.
    pub status: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub cause_metadata: Option<Cause>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cause {
    #[serde(default)]
    pub start_line: Option<u64>,
}

/// A finding a VEX statement or the ignore file modified: its type and status, and the finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Modified {
    #[serde(rename = "Type")]
    pub kind: String,
    pub status: String,
    /// Typed by its `Type` in `Target::suppressed`, which `parse` runs on every result: a suppressed
    /// finding that is not one of its type refuses the report.
    pub finding: serde_json::Value,
}

/// A finding the ignore file suppressed (status `ignored`), typed.
#[derive(Debug, Clone)]
pub enum Suppressed {
    Vuln(Vulnerability),
    Secret(Secret),
    Misconfig(Misconfiguration),
}

impl Report {
    /// The results (empty for a report `parse` has not checked).
    pub fn targets(&self) -> &[Target] {
        self.results.as_deref().unwrap_or_default()
    }
}

impl Target {
    /// The findings the ignore file suppressed, typed; an error naming the first that is not a
    /// finding of its type.
    pub fn suppressed(&self) -> Result<Vec<Suppressed>, String> {
        let mut found = Vec::new();
        for modified in self.experimental_modified_findings.iter().filter(|m| m.status == "ignored") {
            let finding = modified.finding.clone();
            let typed = match modified.kind.as_str() {
                "vulnerability" => serde_json::from_value(finding).map(Suppressed::Vuln),
                "secret" => serde_json::from_value(finding).map(Suppressed::Secret),
                "misconfiguration" => serde_json::from_value(finding).map(Suppressed::Misconfig),
                _ => continue,
            };
            found.push(
                typed.map_err(|e| format!("a suppressed {} in {} is incomplete: {e}", modified.kind, self.target))?,
            );
        }
        Ok(found)
    }
}

/// Reads a report and checks it is complete (the module's list); the problem in words otherwise.
pub fn parse(text: &str) -> Result<Report, String> {
    let report: Report = serde_json::from_str(text).map_err(|e| format!("it is not a complete trivy report: {e}"))?;
    if report.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "its SchemaVersion is {}, and this engine reads only {SCHEMA_VERSION}",
            report.schema_version
        ));
    }
    let Some(results) = &report.results else {
        return Err(format!(
            "it has no Results: trivy found nothing it could read in {} ({}), not even a package list, so \
             nothing was checked",
            report.artifact_name, report.artifact_type
        ));
    };
    for result in results {
        if result.target.is_empty() {
            return Err(format!("a result of class {:?} names no Target", result.class));
        }
        if !CLASSES.contains(&result.class.as_str()) {
            return Err(format!(
                "the result for {} has the class {:?}, which this engine does not know (it knows {})",
                result.target,
                result.class,
                CLASSES.join(", ")
            ));
        }
        result.suppressed()?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: serde_json::Value) -> String {
        value.to_string()
    }

    fn image(results: serde_json::Value) -> serde_json::Value {
        json!({"SchemaVersion": 2, "Trivy": {"Version": "0.76.0"}, "ArtifactName": "layout",
               "ArtifactType": "container_image", "Metadata": {"OS": {"Family": "debian"}}, "Results": results})
    }

    #[test]
    fn a_complete_report_is_read_with_fields_trivy_may_add() {
        let report = parse(&text(image(json!([
            {"Target": "layout (debian 13.8)", "Class": "os-pkgs", "Type": "debian", "Packages": [{"Name": "ca-certificates"}]},
            {"Target": "app", "Class": "lang-pkgs", "Type": "rustbinary", "NewField": 1, "Vulnerabilities": [
                {"VulnerabilityID": "XTASK-1", "PkgName": "libc", "InstalledVersion": "0.2.191",
                 "FixedVersion": "0.2.999", "Severity": "HIGH", "Title": "t", "CVSS": {}}
            ], "Secrets": null}
        ]))))
        .unwrap();
        let app = &report.targets()[1];
        assert_eq!((app.vulnerabilities.len(), app.secrets.len()), (1, 0));
        assert_eq!(app.vulnerabilities[0].severity, Severity::High);
        // Clean: trivy lists what it read, with no findings.
        let clean = parse(&text(image(json!([{"Target": "app", "Class": "lang-pkgs"}])))).unwrap();
        assert!(clean.targets()[0].vulnerabilities.is_empty());
        assert!(parse(&text(image(json!([])))).unwrap().targets().is_empty(), "an empty list trivy wrote");
    }

    #[test]
    fn an_incomplete_or_unknown_report_is_refused_saying_why() {
        let refused = |value: serde_json::Value, needle: &str| {
            let problem = parse(&text(value)).unwrap_err();
            assert!(problem.contains(needle), "{needle:?} in: {problem}");
        };
        let mut no_results = image(json!([]));
        no_results.as_object_mut().unwrap().remove("Results");
        refused(no_results, "it has no Results: trivy found nothing it could read in layout (container_image)");
        refused(json!({}), "missing field `SchemaVersion`");
        refused(json!({"SchemaVersion": 2, "Results": []}), "missing field `ArtifactName`");
        let mut future = image(json!([]));
        future["SchemaVersion"] = json!(3);
        refused(future, "its SchemaVersion is 3, and this engine reads only 2");
        refused(image(json!([{"Class": "lang-pkgs"}])), "missing field `Target`");
        refused(image(json!([{"Target": "app"}])), "missing field `Class`");
        refused(image(json!([{"Target": "app", "Class": "sbom-magic"}])), "the class \"sbom-magic\"");
        refused(image(json!([{"Target": "", "Class": "lang-pkgs"}])), "names no Target");
        let vuln =
            |v: serde_json::Value| image(json!([{"Target": "app", "Class": "lang-pkgs", "Vulnerabilities": [v]}]));
        refused(vuln(json!({"VulnerabilityID": "X", "PkgName": "libc", "InstalledVersion": "1"})), "`Severity`");
        refused(vuln(json!({"VulnerabilityID": "X", "PkgName": "libc", "Severity": "HIGH"})), "`InstalledVersion`");
        refused(
            vuln(json!({"VulnerabilityID": "X", "PkgName": "libc", "InstalledVersion": "1", "Severity": "SEVERE"})),
            "unknown variant `SEVERE`",
        );
        let misconfig = json!([{"Target": "Dockerfile", "Class": "config", "Misconfigurations": [{"ID": "DS002", "Severity": "HIGH"}]}]);
        refused(image(misconfig), "missing field `Status`");
        let ignored = json!([{"Target": "app", "Class": "lang-pkgs", "ExperimentalModifiedFindings": [
            {"Type": "vulnerability", "Status": "ignored", "Finding": {"VulnerabilityID": "X"}}]}]);
        refused(image(ignored), "a suppressed vulnerability in app is incomplete");
        refused(json!("truncated"), "it is not a complete trivy report");
        assert!(parse("{\"SchemaVersion\": 2, \"Results\": [").is_err(), "a truncated file");
    }
}
