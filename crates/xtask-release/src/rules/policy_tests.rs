//! Unit tests of the scan gate: findings from trivy's JSON, the gate, the per-ID listing, accepted ones.

use super::*;
use crate::rules::config::Scanner;

fn policy(severities: &[Severity]) -> ScanPolicy {
    ScanPolicy {
        scanners: vec![Scanner::Secret, Scanner::Misconfig],
        severities: severities.to_vec(),
        ..ScanPolicy::default()
    }
}

fn report() -> Report {
    let json = serde_json::json!({
        "SchemaVersion": 2,
        "ArtifactName": "layout",
        "ArtifactType": "container_image",
        "Results": [
            {"Target": "/etc/leak.env", "Class": "secret", "Secrets": [
                {"RuleID": "github-pat", "Severity": "CRITICAL", "Title": "GitHub Personal Access Token", "StartLine": 2, "Match": "GITHUB=****"}
            ]},
            {"Target": "beacon", "Class": "lang-pkgs", "Vulnerabilities": [
                {"VulnerabilityID": "RUSTSEC-2099-0001", "PkgName": "libc", "InstalledVersion": "0.2.1", "FixedVersion": "0.2.9", "Severity": "MEDIUM", "Title": "t"},
                {"VulnerabilityID": "RUSTSEC-2099-0002", "PkgName": "libc", "InstalledVersion": "0.2.1", "Severity": "LOW", "Title": "no fix"}
            ],
             "ExperimentalModifiedFindings": [
                {"Type": "vulnerability", "Status": "ignored", "Source": ".trivyignore", "Finding":
                    {"VulnerabilityID": "RUSTSEC-2099-0003", "PkgName": "libc", "InstalledVersion": "0.2.1", "FixedVersion": "0.2.5", "Severity": "HIGH", "Title": "accepted"}},
                {"Type": "vulnerability", "Status": "not_affected", "Finding": {"VulnerabilityID": "VEX-1"}}
            ]},
            {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [
                {"ID": "DS002", "Severity": "HIGH", "Status": "FAIL", "Title": "root user", "CauseMetadata": {"StartLine": 7}},
                {"ID": "DS026", "Severity": "LOW", "Status": "PASS", "Title": "healthcheck"}
            ]}
        ]
    });
    crate::rules::trivy_report::parse(&json.to_string()).unwrap()
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
            ("RUSTSEC-2099-0001", Severity::Medium, None),
            ("RUSTSEC-2099-0002", Severity::Low, None),
        ]
    );
    assert!(!format!("{found:?}").contains("****"), "the match text must not be carried");
    let vuln = &found[2];
    assert_eq!(
        (vuln.target.as_str(), vuln.package.as_deref(), vuln.installed.as_deref(), vuln.fixed.as_deref()),
        ("beacon", Some("libc"), Some("0.2.1"), Some("0.2.9"))
    );
    assert_eq!(found[3].fixed, None, "no fix");
    assert_eq!((found[0].package.as_ref(), found[0].installed.as_ref()), (None, None), "a secret has no package");
    let json = serde_json::to_value(&found[0]).unwrap();
    assert!(json.get("package").is_none() && json.get("fixed").is_none(), "{json}");
}

#[test]
fn the_gate_blocks_only_on_the_policy_severities() {
    let found = findings(&report());
    let gate = |severities: &[Severity]| {
        found.iter().filter(|f| blocks(&policy(severities), f)).map(|f| f.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(gate(&[Severity::High, Severity::Critical]), ["github-pat", "DS002"]);
    assert_eq!(gate(&[Severity::Critical]), ["github-pat"]);
    assert_eq!(
        gate(&[Severity::Medium, Severity::High, Severity::Critical]),
        ["github-pat", "DS002", "RUSTSEC-2099-0001"]
    );
    let clean = r#"{"SchemaVersion": 2, "ArtifactName": "a", "ArtifactType": "container_image", "Results": []}"#;
    assert!(findings(&crate::rules::trivy_report::parse(clean).unwrap()).is_empty());
}

#[test]
fn severities_are_counted_including_zeros() {
    let counts = count_by_severity(&findings(&report()));
    assert_eq!(counts[&Severity::Critical], 1);
    assert_eq!(counts[&Severity::High], 1);
    assert_eq!(counts[&Severity::Medium], 1);
    assert_eq!(counts[&Severity::Low], 1);
    assert_eq!(counts[&Severity::Unknown], 0);
}

#[test]
fn findings_are_listed_once_with_their_platforms_blocking_first() {
    let found = findings(&report());
    let vulns: Vec<Finding> = found.iter().filter(|f| f.kind == FindingKind::Vuln).cloned().collect();
    let dockerfile: Vec<Finding> = found.iter().filter(|f| f.target == "Dockerfile").cloned().collect();
    let arm_only = vec![vulns[0].clone()];
    let targets = [
        (Some("linux/amd64"), vulns.as_slice()),
        (Some("linux/arm64"), arm_only.as_slice()),
        (None, dockerfile.as_slice()),
    ];
    let listed = listed(&policy(&[Severity::Medium, Severity::High]), &targets);
    let rows: Vec<_> = listed.iter().map(|l| (l.finding.id.as_str(), l.platforms.join(" "), l.blocking)).collect();
    assert_eq!(
        rows,
        [
            ("DS002", String::new(), true),
            ("RUSTSEC-2099-0001", "linux/amd64 linux/arm64".to_owned(), true),
            ("RUSTSEC-2099-0002", "linux/amd64".to_owned(), false),
        ]
    );
    let json = serde_json::to_value(&listed[1]).unwrap();
    assert_eq!(json["package"], "libc");
    assert_eq!(json["platforms"], serde_json::json!(["linux/amd64", "linux/arm64"]));
}

#[test]
fn suppressed_findings_are_accepted_with_their_exception() {
    let suppressed = suppressed(&report());
    assert_eq!(suppressed.len(), 1, "only what the ignore file suppressed: {suppressed:?}");
    let exceptions = [Exception {
        line: 3,
        id: "RUSTSEC-2099-0003".into(),
        expires: "2099-01-01".into(),
        vex: Vex::Affected { action: "upgrade".into() },
    }];
    let accepted = accepted(&exceptions, &[(Some("linux/amd64"), &suppressed), (Some("linux/arm64"), &suppressed)]);
    assert_eq!(accepted.len(), 1);
    let a = &accepted[0];
    assert_eq!((a.finding.id.as_str(), a.until.as_str(), a.line), ("RUSTSEC-2099-0003", "2099-01-01", 3));
    assert_eq!((a.finding.severity, a.finding.fixed.as_deref()), (Severity::High, Some("0.2.5")));
    assert_eq!(a.platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(a.vex, Vex::Affected { action: "upgrade".into() }, "the exception's VEX claim travels with it");
}
