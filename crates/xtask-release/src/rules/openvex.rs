//! The release's OpenVEX document, pure: each vulnerability the ignore file accepted becomes one
//! statement on the image (`pkg:oci/NAME@DIGEST?repository_url=REPOSITORY`, for the index and each
//! platform manifest, in every repository it was pushed to), with the status, justification, impact
//! or action statement the ignore file's line gives it (`rules::ignorefile::Vex`). A statement
//! names no subcomponent: like the ignore-file line it comes from, it covers the vulnerability ID
//! in the whole image. OpenVEX has no expiry, so the date travels in the statement's
//! `status_notes` (`expires YYYY-MM-DD`), where `cargo xtask audit` reads it back ([`suppressing`]):
//! after that date the audit reports the finding again. An image with no accepted vulnerability
//! gets no document (an empty one says nothing).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::rules::ignorefile::Vex;
use crate::rules::policy::{Accepted, FindingKind};

/// The OpenVEX context of the documents written here.
pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";
/// The phrase before the expiry date in a statement's `status_notes`.
const EXPIRES: &str = "expires ";

/// The image a document speaks of: its name, the repositories (`host/path`) it was pushed to, its
/// index digest and its platform manifests' digests.
pub struct Image<'a> {
    pub name: &'a str,
    pub repositories: &'a [String],
    pub index_digest: &'a str,
    pub manifests: &'a [String],
}

/// The package URL of `digest` in `repository` (`host/path`): `pkg:oci/LAST@sha256%3AHEX?repository_url=…`.
pub fn purl(repository: &str, digest: &str) -> String {
    let name = repository.rsplit('/').next().unwrap_or(repository).to_lowercase();
    format!("pkg:oci/{name}@{}?repository_url={repository}", digest.replacen(':', "%3A", 1))
}

/// The document for `image`'s accepted findings (`None` without an accepted vulnerability: secrets
/// and misconfigurations are not VEX's), by `author` at `timestamp` (RFC 3339), the ignore file
/// named `ignorefile` in its notes.
pub fn document(
    image: &Image<'_>,
    accepted: &[Accepted],
    author: &str,
    timestamp: &str,
    ignorefile: &str,
) -> Option<Value> {
    let products: Vec<Value> = image
        .repositories
        .iter()
        .flat_map(|r| {
            std::iter::once(image.index_digest)
                .chain(image.manifests.iter().map(String::as_str))
                .map(move |d| json!({"@id": purl(r, d)}))
        })
        .collect();
    let statements: Vec<Value> = accepted
        .iter()
        .filter(|a| a.finding.kind == FindingKind::Vuln)
        .map(|a| {
            let mut statement = json!({
                "vulnerability": {"name": a.finding.id},
                "timestamp": timestamp,
                "products": products,
                "status_notes": format!(
                    "Accepted in {ignorefile} (line {}) until {}: {EXPIRES}{}. After that date this statement no \
                     longer holds.",
                    a.line, a.until, a.until
                ),
            });
            let fields = match &a.vex {
                Vex::UnderInvestigation => json!({"status": "under_investigation"}),
                Vex::NotAffected { justification, impact: None } => {
                    json!({"status": "not_affected", "justification": justification})
                }
                Vex::NotAffected { justification, impact: Some(impact) } => {
                    json!({"status": "not_affected", "justification": justification, "impact_statement": impact})
                }
                Vex::Affected { action } => json!({"status": "affected", "action_statement": action}),
            };
            statement
                .as_object_mut()
                .into_iter()
                .for_each(|s| s.extend(fields.as_object().cloned().unwrap_or_default()));
            statement
        })
        .collect();
    if statements.is_empty() {
        return None;
    }
    Some(json!({
        "@context": CONTEXT,
        "@id": format!("urn:xtask-release:vex:{}@{}", image.name, image.index_digest),
        "author": author,
        "timestamp": timestamp,
        "version": 1,
        "tooling": format!("xtask-release {}", env!("CARGO_PKG_VERSION")),
        "statements": statements,
    }))
}

/// An OpenVEX document as read back from a release's attestation: the statements, each with what
/// [`suppressing`] needs. `statements`, each statement's `vulnerability.name` and `status` are
/// required (the spec's own minimum); a document without them is unreadable, never an empty one.
#[derive(Debug, Clone, Deserialize)]
pub struct Read {
    pub statements: Vec<ReadStatement>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReadStatement {
    pub vulnerability: ReadVulnerability,
    pub status: String,
    #[serde(default)]
    pub status_notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReadVulnerability {
    pub name: String,
}

/// A document attested as `openvex`, read; what is wrong with it otherwise.
pub fn read(document: Value) -> Result<Read, String> {
    serde_json::from_value(document).map_err(|e| format!("it is not an OpenVEX document: {e}"))
}

/// The expiry (`YYYY-MM-DD`) a statement's `status_notes` carries, if it carries one.
pub fn expiry(status_notes: Option<&str>) -> Option<&str> {
    let notes = status_notes?;
    let at = notes.find(EXPIRES)? + EXPIRES.len();
    notes.get(at..at + 10)
}

/// The vulnerability IDs `documents` say the image is not affected by (or fixed in) as of `today`,
/// each with its expiry: a statement past its date says nothing any more, and neither does one
/// without a date (it was not written by a release).
pub fn suppressing(documents: &[Read], today: &str) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for statement in documents.iter().flat_map(|d| &d.statements) {
        let Some(until) = expiry(statement.status_notes.as_deref()) else { continue };
        if ["not_affected", "fixed"].contains(&statement.status.as_str()) && until >= today {
            ids.push((statement.vulnerability.name.clone(), until.to_owned()));
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::config::Severity;
    use crate::rules::policy::Finding;

    fn accepted(id: &str, kind: FindingKind, vex: Vex) -> Accepted {
        let finding = Finding {
            kind,
            id: id.into(),
            severity: Severity::High,
            target: "ledger".into(),
            line: None,
            package: Some("libc".into()),
            installed: Some("0.2.1".into()),
            fixed: None,
            title: String::new(),
        };
        Accepted { finding, platforms: vec!["linux/amd64".into()], until: "2099-12-31".into(), line: 4, vex }
    }

    #[test]
    fn each_accepted_vulnerability_is_a_statement_on_every_digest_of_the_image() {
        let repositories = ["127.0.0.1:5000/acme/Ledger".to_owned(), "ghcr.io/acme/ledger".to_owned()];
        let manifests = ["sha256:aa".to_owned(), "sha256:bb".to_owned()];
        let image =
            Image { name: "ledger", repositories: &repositories, index_digest: "sha256:ii", manifests: &manifests };
        let not_affected =
            Vex::NotAffected { justification: "component_not_present".into(), impact: Some("no TLS".into()) };
        let all = [
            accepted("CVE-1", FindingKind::Vuln, not_affected),
            accepted("CVE-2", FindingKind::Vuln, Vex::Affected { action: "upgrade".into() }),
            accepted("CVE-3", FindingKind::Vuln, Vex::UnderInvestigation),
            accepted("DS-0002", FindingKind::Misconfig, Vex::UnderInvestigation),
        ];
        let doc = document(&image, &all, "acme", "2026-12-06T10:00:00Z", ".trivyignore").unwrap();
        assert_eq!((doc["@context"].as_str(), doc["version"].as_u64()), (Some(CONTEXT), Some(1)));
        let statements = doc["statements"].as_array().unwrap();
        assert_eq!(statements.len(), 3, "the misconfiguration is not VEX's");
        let products: Vec<&str> =
            statements[0]["products"].as_array().unwrap().iter().map(|p| p["@id"].as_str().unwrap()).collect();
        assert_eq!(products.len(), 6);
        assert_eq!(products[0], "pkg:oci/ledger@sha256%3Aii?repository_url=127.0.0.1:5000/acme/Ledger");
        assert_eq!(products[5], "pkg:oci/ledger@sha256%3Abb?repository_url=ghcr.io/acme/ledger");
        let s = &statements[0];
        assert_eq!(
            (s["status"].as_str(), s["justification"].as_str()),
            (Some("not_affected"), Some("component_not_present"))
        );
        assert_eq!((s["impact_statement"].as_str(), s["action_statement"].as_str()), (Some("no TLS"), None));
        assert_eq!(
            (statements[1]["status"].as_str(), statements[1]["action_statement"].as_str()),
            (Some("affected"), Some("upgrade"))
        );
        assert_eq!(statements[2]["status"], "under_investigation");
        assert!(statements[2].get("justification").is_none());
        assert_eq!(expiry(s["status_notes"].as_str()), Some("2099-12-31"));
        assert!(s["status_notes"].as_str().unwrap().contains(".trivyignore (line 4)"));
        let misconfig_only = [accepted("DS-0002", FindingKind::Misconfig, Vex::UnderInvestigation)];
        assert!(document(&image, &misconfig_only, "acme", "t", ".trivyignore").is_none(), "no empty document");
    }

    #[test]
    fn only_unexpired_not_affected_statements_suppress() {
        let statement = |id: &str, status: &str, notes: &str| json!({"vulnerability": {"name": id}, "status": status, "status_notes": notes});
        let doc = json!({"statements": [
            statement("CVE-1", "not_affected", "Accepted until 2026-12-31: expires 2026-12-31."),
            statement("CVE-2", "not_affected", "Accepted until 2026-12-05: expires 2026-12-05."),
            statement("CVE-3", "affected", "expires 2099-01-01"),
            statement("CVE-4", "fixed", "expires 2026-12-06"),
            statement("CVE-5", "not_affected", "no date"),
            statement("CVE-6", "under_investigation", "expires 2099-01-01"),
        ]});
        let ids = suppressing(&[read(doc).unwrap()], "2026-12-06");
        assert_eq!(ids, [("CVE-1".to_owned(), "2026-12-31".to_owned()), ("CVE-4".to_owned(), "2026-12-06".to_owned())]);
    }

    #[test]
    fn a_document_without_statements_or_their_fields_is_unreadable() {
        assert!(read(json!({"@context": CONTEXT})).unwrap_err().contains("statements"));
        let nameless = json!({"statements": [{"vulnerability": {}, "status": "not_affected"}]});
        assert!(read(nameless).unwrap_err().contains("name"));
        assert!(read(json!({"statements": []})).unwrap().statements.is_empty());
    }
}
