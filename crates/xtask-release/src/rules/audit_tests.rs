//! Unit tests of `rules::audit` and `rules::audit_report`.

use semver::Version;

use crate::rules::audit::*;
use crate::rules::audit_report;
use crate::rules::config::Severity;
use crate::rules::policy::{Finding, FindingKind, Listed};

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

fn vs(texts: &[&str]) -> Vec<Version> {
    texts.iter().map(|t| v(t)).collect()
}

fn listed(id: &str, package: &str, blocking: bool) -> Listed {
    Listed {
        finding: Finding {
            kind: FindingKind::Vuln,
            id: id.into(),
            severity: if blocking { Severity::High } else { Severity::Medium },
            target: "app".into(),
            line: None,
            package: Some(package.into()),
            installed: Some("1.0.18".into()),
            fixed: Some("1.0.19".into()),
            title: format!("{package}: test advisory"),
        },
        platforms: vec!["linux/amd64".into()],
        blocking,
    }
}

#[test]
fn live_tags_are_the_versions_then_the_floating_tags_over_them() {
    assert_eq!(live_tags(&vs(&["1.0.0", "1.0.1", "0.9.0"])), ["1.0.1", "1.0.0", "0.9.0", "1.0", "1", "latest", "0.9"]);
    assert_eq!(live_tags(&vs(&["2.0.0-rc.1"])), ["2.0.0-rc.1"], "a pre-release has no floating tag");
    assert!(live_tags(&[]).is_empty());
}

#[test]
fn notes_compare_with_the_previous_release_of_the_same_line() {
    let live = vs(&["1.0.0", "1.0.1", "1.1.0", "2.0.0", "1.2.0-rc.1"]);
    assert_eq!(previous(&v("1.0.1"), &live), Some(v("1.0.0")), "the X.Y line first");
    assert_eq!(previous(&v("1.1.0"), &live), Some(v("1.0.1")), "then the X line");
    assert_eq!(previous(&v("2.0.0"), &live), Some(v("1.1.0")), "then any older release, pre-releases skipped");
    assert_eq!(previous(&v("1.0.0"), &live), None, "the first release has none");
    // A hotfix of an old line compares with its own line, not with newer lines.
    assert_eq!(previous(&v("1.0.2"), &live), Some(v("1.0.1")));
}

#[test]
fn a_floating_tag_names_the_release_with_its_digest() {
    let versioned = vec![(v("1.0.0"), "sha256:a".to_owned()), (v("1.0.1"), "sha256:b".to_owned())];
    assert_eq!(version_at("sha256:b", &versioned), Some(&v("1.0.1")));
    assert_eq!(version_at("sha256:c", &versioned), None, "a digest no live release has");
}

#[test]
fn findings_are_new_or_known_and_fixed_in_a_newer_release_or_not() {
    let found = vec![listed("A", "itoa", true), listed("B", "libc", false)];
    let newer =
        vec![(v("1.0.1"), vec![("B".to_owned(), Some("libc".to_owned()))]), (v("1.0.2"), vec![]), (v("0.9.0"), vec![])];
    let known = vec!["B".to_owned()];
    let audited = classify(found.clone(), Some(&known), Some(&v("1.0.0")), &newer);
    assert_eq!(audited[0].new_since_release, Some(true));
    assert_eq!(audited[0].fixed_in_release.as_deref(), Some("1.0.1"), "the lowest newer release without it");
    assert_eq!(audited[1].new_since_release, Some(false), "its release's scan had it");
    assert_eq!(audited[1].fixed_in_release.as_deref(), Some("1.0.2"), "1.0.1 still has it");
    let unrecorded = classify(found, None, Some(&v("1.0.2")), &newer);
    assert_eq!((unrecorded[0].new_since_release, unrecorded[0].fixed_in_release.as_deref()), (None, None));
}

fn tag(name: &str, findings: Vec<Audited>) -> TagAudit {
    let passed = findings.iter().all(|f| !f.listed.blocking);
    TagAudit {
        image: "beacon".into(),
        repository: "registry.example/acme/beacon".into(),
        tag: name.into(),
        version: Some("1.0.0".into()),
        digest: "sha256:0123456789abcdef0123".into(),
        sboms: vec![("linux/amd64".into(), SbomSource::Attestation)],
        ignored: Vec::new(),
        findings,
        passed,
    }
}

#[test]
fn the_reports_name_each_affected_tag_and_fix() {
    let finding = classify(vec![listed("A", "itoa", true)], Some(&[]), Some(&v("1.0.0")), &[(v("1.0.1"), vec![])]);
    let tags = vec![tag("1.0.0", finding.clone()), tag("latest", finding), tag("1.0", Vec::new())];
    assert!(!passed(&tags));
    let table = audit_report::table(&tags);
    assert!(
        table.contains(
            "A (HIGH) in itoa 1.0.18, linux/amd64: new since release, fixed upstream in 1.0.19; release 1.0.1 ships the fix [blocks]"
        ),
        "{table}"
    );
    let markdown = audit_report::markdown(&tags, Some("mirror/trivy-db:2@sha256:1"));
    assert!(markdown.starts_with("## Audit of live tags: 2 of 3 affected"), "{markdown}");
    assert!(markdown.contains("| beacon | `1.0` | 1.0.0 | `sha256:0123456789ab` | clean | 0 |"), "{markdown}");
    let sarif = audit_report::sarif(&tags, "0.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 1, "one rule per advisory");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "one result per affected tag");
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[0]["ruleIndex"], 0);
    assert_ne!(results[0]["partialFingerprints"], results[1]["partialFingerprints"], "each tag its own alert");
    assert_eq!(run["automationDetails"]["id"], audit_report::SARIF_CATEGORY);
}

#[test]
fn a_tag_scanned_by_digest_says_so() {
    let mut scanned = tag("1.0.0", Vec::new());
    scanned.sboms = vec![("linux/amd64".into(), SbomSource::ScannedByDigest)];
    assert!(audit_report::table(&[scanned]).contains("note: no SBOM attestation on linux/amd64: scanned by digest"));
}

#[test]
fn an_attestation_that_does_not_verify_is_ignored_and_named() {
    let stored = [
        ("sha256:a", "https://cyclonedx.org/bom"),
        ("sha256:b", "https://cyclonedx.org/bom"),
        ("sha256:p", "https://slsa.dev/provenance/v0.2"),
        ("sha256:b", "https://cyclonedx.org/bom"),
    ];
    assert_eq!(unverified(&["sha256:a"], &stored, "https://cyclonedx.org/bom"), ["sha256:b"], "once, of its type only");
    assert!(unverified(&["sha256:a", "sha256:b"], &stored, "https://cyclonedx.org/bom").is_empty());
    let mut with = tag("1.0.0", Vec::new());
    with.ignored =
        vec!["a cyclonedx attestation sha256:b on r/beacon@sha256:1: not signed with the release's key".into()];
    let table = audit_report::table(&[with.clone()]);
    assert!(table.contains("    note: ignored: a cyclonedx attestation sha256:b on r/beacon@sha256:1"), "{table}");
    assert!(audit_report::markdown(&[with.clone()], None).contains("- note: ignored: a cyclonedx attestation"));
    assert_eq!(serde_json::to_value(&with).unwrap()["ignored"][0].as_str(), Some(with.ignored[0].as_str()));
    assert!(serde_json::to_value(tag("1.0", Vec::new())).unwrap().get("ignored").is_none(), "none: not written");
}

#[test]
fn a_floating_tag_on_a_digest_no_live_release_has_is_not_trusted() {
    let versioned = [(v("1.0.0"), "sha256:aa".to_owned()), (v("1.0.1"), "sha256:bb".to_owned())];
    assert_eq!(unknown_digest("r/beacon:latest", "sha256:bb", &versioned), None);
    assert_eq!(
        unknown_digest("r/beacon:1.0.2", "sha256:cc", &versioned),
        None,
        "a version is checked by its signature"
    );
    let problem = unknown_digest("localhost:5000/r/beacon:latest", "sha256:cc", &versioned).unwrap();
    assert!(
        problem.starts_with("localhost:5000/r/beacon:latest is on sha256:cc, which no live release has"),
        "{problem}"
    );
    assert!(problem.contains("release a version (which moves it), or move it back"), "{problem}");
}
