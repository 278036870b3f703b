//! The audit's outputs, pure: a table for people, Markdown for the GitHub step summary and SARIF
//! 2.1.0 for code scanning (one result per finding and tag, its rule the advisory; located at
//! `Cargo.lock`, where the fix is made; the live tag in its message and fingerprint).

use serde_json::{json, Value};

use crate::rules::audit::{Audited, SbomSource, TagAudit};
use crate::rules::config::Severity;
use crate::rules::overrides::names;

/// The SARIF run's category, so that code scanning keeps the audit apart from the release scans.
pub const SARIF_CATEGORY: &str = "xtask-audit/";

fn state(tag: &TagAudit) -> &'static str {
    if tag.passed {
        "clean"
    } else {
        "AFFECTED"
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn since(f: &Audited) -> &'static str {
    match f.new_since_release {
        Some(true) => "new since release",
        Some(false) => "known at release",
        None => "no release record",
    }
}

fn fix(f: &Audited) -> String {
    let upstream = match &f.listed.finding.fixed {
        Some(fixed) => format!("fixed upstream in {fixed}"),
        None => "no fix upstream".to_owned(),
    };
    match &f.fixed_in_release {
        Some(release) => format!("{upstream}; release {release} ships the fix"),
        None => format!("{upstream}; no live release ships it yet"),
    }
}

fn line(f: &Audited) -> String {
    let finding = &f.listed.finding;
    let package = finding.package.as_deref().unwrap_or(&finding.target);
    let installed = finding.installed.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    let gate = if f.listed.blocking { "blocks" } else { "listed" };
    format!(
        "{} ({}) in {package}{installed}, {}: {}, {} [{gate}]",
        finding.id,
        severity_name(finding.severity),
        f.listed.platforms.join(", "),
        since(f),
        fix(f)
    )
}

fn severity_name(severity: Severity) -> String {
    names(&[severity]).concat()
}

fn fallback_note(tag: &TagAudit) -> Option<String> {
    let scanned: Vec<&str> =
        tag.sboms.iter().filter(|(_, s)| *s == SbomSource::ScannedByDigest).map(|(p, _)| p.as_str()).collect();
    (!scanned.is_empty()).then(|| format!("no SBOM attestation on {}: scanned by digest", scanned.join(", ")))
}

/// The tag's notes: an SBOM scanned by digest, and each attestation ignored.
fn notes(tag: &TagAudit) -> Vec<String> {
    fallback_note(tag).into_iter().chain(tag.ignored.iter().map(|i| format!("ignored: {i}"))).collect()
}

/// The table for the terminal: one row per live tag, then its findings.
pub fn table(tags: &[TagAudit]) -> String {
    let mut out =
        format!("{:<12} {:<10} {:<8} {:<19} {:<8} {}\n", "image", "tag", "version", "digest", "state", "findings");
    for tag in tags {
        let version = tag.version.as_deref().unwrap_or("?");
        out += &format!(
            "{:<12} {:<10} {:<8} {:<19} {:<8} {}\n",
            tag.image,
            tag.tag,
            version,
            short(&tag.digest),
            state(tag),
            tag.findings.len()
        );
        for note in notes(tag) {
            out += &format!("    note: {note}\n");
        }
        for f in &tag.findings {
            out += &format!("    {}\n", line(f));
        }
    }
    out
}

/// The Markdown summary (for `$GITHUB_STEP_SUMMARY`).
pub fn markdown(tags: &[TagAudit], db: Option<&str>) -> String {
    let affected = tags.iter().filter(|t| !t.passed).count();
    let mut out = format!("## Audit of live tags: {affected} of {} affected\n\n", tags.len());
    if let Some(db) = db {
        out += &format!("Judged by the vulnerability DB {db}.\n\n");
    }
    out += "| image | tag | version | digest | state | findings |\n|---|---|---|---|---|---|\n";
    for tag in tags {
        out += &format!(
            "| {} | `{}` | {} | `{}` | {} | {} |\n",
            tag.image,
            tag.tag,
            tag.version.as_deref().unwrap_or("?"),
            short(&tag.digest),
            state(tag),
            tag.findings.len()
        );
    }
    for tag in tags.iter().filter(|t| !t.findings.is_empty() || !notes(t).is_empty()) {
        out += &format!("\n### {}:{}\n\n", tag.repository, tag.tag);
        for note in notes(tag) {
            out += &format!("- note: {note}\n");
        }
        for f in &tag.findings {
            out += &format!("- {}\n", line(f));
        }
    }
    out
}

fn level(severity: Severity, blocking: bool) -> &'static str {
    match (blocking, severity) {
        (true, _) => "error",
        (false, Severity::High | Severity::Critical | Severity::Medium) => "warning",
        _ => "note",
    }
}

/// SARIF 2.1.0: one run, one rule per advisory, one result per finding and live tag.
pub fn sarif(tags: &[TagAudit], tool_version: &str) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut results = Vec::new();
    for tag in tags {
        for f in &tag.findings {
            let finding = &f.listed.finding;
            let index = match rules.iter().position(|r| r["id"] == finding.id.as_str()) {
                Some(index) => index,
                None => {
                    rules.push(json!({
                        "id": finding.id,
                        "shortDescription": {"text": finding.title},
                        "properties": {"security-severity": security_severity(finding.severity), "tags": ["security", "vulnerability"]}
                    }));
                    rules.len() - 1
                }
            };
            results.push(json!({
                "ruleId": finding.id,
                "ruleIndex": index,
                "level": level(finding.severity, f.listed.blocking),
                "message": {"text": format!("{}:{}: {}", tag.repository, tag.tag, line(f))},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "Cargo.lock"},
                    "region": {"startLine": 1}
                }}],
                "partialFingerprints": {"xtaskAudit/v1": format!("{}:{}:{}:{}", tag.repository, tag.tag, finding.id, finding.package.as_deref().unwrap_or(""))}
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cargo xtask audit", "version": tool_version, "rules": rules}},
            "automationDetails": {"id": SARIF_CATEGORY},
            "results": results
        }]
    })
}

/// GitHub's `security-severity` (a CVSS-like score) for a severity.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Unknown => "0.0",
    }
}
