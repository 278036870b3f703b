//! What cosign prints, typed (pure: the text comes in). Two documents are read:
//!
//! - an attestation, one JSON document per line: a DSSE envelope (cosign 2's download, and every
//!   `verify-attestation`) or a Sigstore bundle holding one (`dsseEnvelope`, cosign 3's download),
//!   and the in-toto statement its payload decodes to (`Statement`). The envelope's `payload` and
//!   `signatures` and the statement's `_type`, `predicateType` and `predicate` must be there; the
//!   predicate itself (an SBOM, a provenance) is handed on untouched, to its own reader.
//! - cosign 3's `tree` (`Tree`): a header, then one line per legacy tag or OCI referrer and per
//!   layer of it. A line of another shape is an error, never skipped: a tree read as listing
//!   nothing would send a verification that failed on to "not signed".
//!
//! Either, unreadable, is an error naming cosign and what it ran, for the caller to add the image:
//! this engine reads cosign 2 and 3 (`rules::toolset::RANGES`); a newer one may print otherwise.

use serde::Deserialize;

/// A DSSE envelope: the base64 payload and its signatures.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvelopeSignature {
    pub sig: String,
}

/// One line cosign printed: a Sigstore bundle (its `dsseEnvelope`), or the envelope itself.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Printed {
    dsse_envelope: Option<Envelope>,
    payload: Option<String>,
    signatures: Option<Vec<EnvelopeSignature>>,
}

/// An in-toto statement. `predicate` is passed on untouched: the SBOM or provenance it holds is
/// read typed by its own reader (`rules::sbom`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub predicate_type: String,
    pub predicate: serde_json::Value,
}

/// What to tell a reader of cosign's output that it did not read: it may be a newer cosign's.
pub fn unreadable(tool: &str, command: &str, problem: &str) -> String {
    format!(
        "{tool} printed what this engine cannot read (`{command}`): {problem}. This engine reads cosign 2 and 3's \
         output: install a supported cosign (`cargo xtask doctor`), or upgrade xtask-release, or report it"
    )
}

/// The DSSE envelope of one line cosign printed (a bare envelope, or a Sigstore bundle's); the
/// problem in words otherwise.
pub fn envelope(line: &str) -> Result<Envelope, String> {
    let printed: Printed = serde_json::from_str(line)
        .map_err(|e| format!("a line that is not a DSSE envelope or a Sigstore bundle: {e}"))?;
    match printed {
        Printed { dsse_envelope: Some(envelope), .. } => Ok(envelope),
        Printed { payload: Some(payload), signatures: Some(signatures), .. } => Ok(Envelope { payload, signatures }),
        Printed { payload: None, .. } => Err("a DSSE envelope without `payload` (and no `dsseEnvelope`)".into()),
        Printed { signatures: None, .. } => Err("a DSSE envelope without `signatures`".into()),
    }
}

impl Envelope {
    /// The attestation's identity: the digest of the payload and its signatures, the same
    /// whichever command printed it (the same statement signed by two keys is two attestations).
    pub fn id(&self) -> String {
        let signed: Vec<&str> =
            std::iter::once(self.payload.as_str()).chain(self.signatures.iter().map(|s| s.sig.as_str())).collect();
        crate::rules::digest::sha256(signed.join("\n").as_bytes())
    }
}

/// The in-toto statement of a decoded payload; the problem in words otherwise.
pub fn statement(decoded: &[u8]) -> Result<Statement, String> {
    let statement: Statement =
        serde_json::from_slice(decoded).map_err(|e| format!("a payload that is not an in-toto statement: {e}"))?;
    if !statement.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(format!("a payload of `_type` {:?}, not an in-toto statement", statement.kind));
    }
    Ok(statement)
}

/// What cosign 3's `tree` lists for an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Each OCI referrer: the kind it is listed under (the bundle's predicate type, or a bare
    /// media type when cosign could not read its manifest), the referrer `repo@digest`, the line.
    pub referrers: Vec<Referrer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub kind: String,
    pub reference: String,
    pub line: String,
}

/// The predicate type of cosign 3's signature bundles (every other bundle is an attestation).
const SIGNATURE: &str = "https://sigstore.dev/cosign/sign/v1";
const HEADER: &str = "📦 Supply Chain Security Related artifacts for an image: ";
const NOTHING: &str = "No Supply Chain Security Related Artifacts found for image ";
const REFERRER: &str = " artifacts via OCI referrer: ";

/// Reads what `cosign tree` printed: the header, then referrers (`└── 🔗 KIND artifacts via OCI
/// referrer: REF`), legacy tags (`└── 🔐`/`💾`/`📦 … for an image tag: TAG`), their layers
/// (`├── 🍒`/`└── 🍒 DIGEST`), or cosign's words that there is nothing (and how to sign). Any other
/// line is the problem, in words.
pub fn tree(text: &str) -> Result<Tree, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    match lines.next() {
        Some(first) if first.starts_with(HEADER) => {}
        Some(first) => return Err(format!("its first line is {first:?}, not {:?}", HEADER.trim_end())),
        None => return Err("it printed nothing".into()),
    }
    let mut listed = Tree::default();
    let mut nothing = false;
    for line in lines {
        let entry = line.trim_start().trim_start_matches(['└', '├', '─', ' ']);
        if let Some((kind, reference)) = entry.strip_prefix("🔗 ").and_then(|e| e.split_once(REFERRER)) {
            let (kind, reference) = (kind.trim().to_owned(), reference.trim().to_owned());
            if kind.is_empty() || !reference.contains("@sha256:") {
                return Err(format!("a referrer line without its kind or digest: {line:?}"));
            }
            listed.referrers.push(Referrer { kind, reference, line: line.to_owned() });
        } else if entry.starts_with("🍒 sha256:") || entry.contains(" for an image tag: ") {
            // A layer of the entry above, or a legacy tag (cosign 2's signatures): not a referrer.
        } else if line.starts_with(NOTHING) {
            nothing = true;
        } else if !nothing {
            return Err(format!("a line of no shape it knows: {line:?}"));
        }
    }
    Ok(listed)
}

/// Whether cosign's words say it fetched a bundle, checked it against the key or identity, and it
/// did not verify (cosign 3: `accepted signatures do not match threshold, Found: 0, Expected 1`,
/// for signatures and attestations alike): another signer's bundle. One it could not fetch it skips
/// without a word and then finds nothing (`no signatures found`, `no matching attestations: `).
pub fn refused_by_key(said: &str) -> bool {
    said.contains("accepted signatures do not match threshold")
}

impl Tree {
    /// The referrers listed as signatures (`SIGNATURE`) or else as attestations (any other
    /// predicate type), `repo@digest` each.
    pub fn bundle_referrers(&self, attestations: bool) -> Vec<String> {
        self.referrers
            .iter()
            .filter(|r| r.kind.contains(SIGNATURE) != attestations)
            .map(|r| r.reference.clone())
            .collect()
    }

    /// A referrer listed under the bare Sigstore bundle type rather than the predicate type cosign
    /// annotates every bundle with: cosign could not read the bundle's manifest.
    pub fn unnamed_bundle(&self) -> Option<&str> {
        self.referrers.iter().find(|r| r.kind.contains("vnd.dev.sigstore.bundle")).map(|r| r.line.as_str())
    }

    /// Whether a bundle of `what` is listed: the signature (`signature`), or an attestation of a
    /// predicate type (`cyclonedx`, `slsaprovenance`, or the type's URI).
    pub fn lists_bundle(&self, what: &str) -> bool {
        let marker = match what {
            "signature" => SIGNATURE,
            "cyclonedx" => "https://cyclonedx.org/bom",
            "slsaprovenance" => "https://slsa.dev/provenance/",
            other => other,
        };
        self.referrers.iter().any(|r| r.kind.contains(marker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_of_another_key_is_told_from_one_not_fetched() {
        // cosign 3.1's words, verifying with another key than the one that signed (signature and
        // attestation alike), and when it fetched nothing.
        let other_key = "Error: no matching attestations: failed to verify signature: could not verify envelope: \
            accepted signatures do not match threshold, Found: 0, Expected 1";
        assert!(refused_by_key(other_key));
        assert!(!refused_by_key("Error: no signatures found"));
        assert!(!refused_by_key("Error: no matching attestations: "));
    }

    const TREE: &str = "📦 Supply Chain Security Related artifacts for an image: r/img@sha256:c7\n\
                        └── 🔗 https://slsa.dev/provenance/v0.2 artifacts via OCI referrer: r/img@sha256:25\n\
                        \x20  └── 🍒 sha256:e7\n\
                        └── 🔗 https://cyclonedx.org/bom artifacts via OCI referrer: r/img@sha256:26\n\
                        \x20  ├── 🍒 sha256:a1\n\
                        \x20  └── 🍒 sha256:a2\n\
                        └── 🔗 https://sigstore.dev/cosign/sign/v1 artifacts via OCI referrer: r/img@sha256:e0\n\
                        \x20  └── 🍒 sha256:1d\n";

    #[test]
    fn cosign_3_referrers_are_read_from_its_tree() {
        let tree = tree(TREE).unwrap();
        assert_eq!(tree.bundle_referrers(false), ["r/img@sha256:e0"]);
        assert_eq!(tree.bundle_referrers(true), ["r/img@sha256:25", "r/img@sha256:26"]);
        assert!(["signature", "cyclonedx", "slsaprovenance"].iter().all(|what| tree.lists_bundle(what)));
        let signed_only: Vec<&str> =
            TREE.lines().filter(|l| !l.contains("/bom") && !l.contains("/provenance/")).collect();
        let signed_only = super::tree(&signed_only.join("\n")).unwrap();
        assert!(signed_only.lists_bundle("signature"));
        assert!(!signed_only.lists_bundle("cyclonedx") && !signed_only.lists_bundle("slsaprovenance"));

        assert_eq!(tree.unnamed_bundle(), None);
        let unread = "└── 🔗 application/vnd.dev.sigstore.bundle.v0.3+json artifacts via OCI referrer: r/img@sha256:e0";
        assert_eq!(super::tree(&format!("{TREE}{unread}\n")).unwrap().unnamed_bundle(), Some(unread));
    }

    #[test]
    fn a_tree_with_nothing_or_legacy_tags_lists_no_referrer() {
        let nothing = "📦 Supply Chain Security Related artifacts for an image: r/img@sha256:c7\n\
                       No Supply Chain Security Related Artifacts found for image r/img@sha256:c7,\n \
                       start creating one with simply running$ cosign sign <img>";
        assert_eq!(tree(nothing).unwrap(), Tree::default());
        let legacy = "📦 Supply Chain Security Related artifacts for an image: r/img@sha256:c7\n\
                      └── 🔐 Signatures for an image tag: r/img:sha256-c7.sig\n\
                      \x20  └── 🍒 sha256:84\n";
        assert!(tree(legacy).unwrap().bundle_referrers(false).is_empty());
    }

    #[test]
    fn a_tree_of_another_shape_is_refused_not_read_as_empty() {
        assert!(tree("").unwrap_err().contains("printed nothing"));
        assert!(tree("Error: GET https://r/v2/: 500\n").unwrap_err().contains("its first line is"));
        let changed = format!("{TREE}└── ✨ https://cyclonedx.org/bom via referrer r/img@sha256:27\n");
        assert!(tree(&changed).unwrap_err().contains("no shape it knows"), "a newer cosign's line");
        let bare = "📦 Supply Chain Security Related artifacts for an image: r/img@sha256:c7\n\
                    └── 🔗  artifacts via OCI referrer: r/img:latest\n";
        assert!(tree(bare).unwrap_err().contains("without its kind or digest"));
        let said = unreadable("cosign 3", "cosign tree r/img@sha256:c7", "a line of no shape it knows");
        assert!(said.contains("cosign 3") && said.contains("upgrade xtask-release, or report it"), "{said}");
    }

    #[test]
    fn an_envelope_is_read_bare_or_out_of_a_bundle() {
        let bare = r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"MEU"}]}"#;
        let bundle = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},
            "dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEU"}]}}"#;
        let (bare, bundle) = (envelope(bare).unwrap(), envelope(&bundle.replace('\n', "")).unwrap());
        assert_eq!((bare.payload.as_str(), bare.signatures[0].sig.as_str()), ("e30=", "MEU"));
        assert_eq!(bare.id(), bundle.id(), "the same attestation, whichever command printed it");
        assert!(envelope(r#"{"signatures":[]}"#).unwrap_err().contains("without `payload`"));
        assert!(envelope(r#"{"payload":"e30="}"#).unwrap_err().contains("without `signatures`"));
        assert!(envelope(r#"{"dsseEnvelope":{"payload":"e30="}}"#).unwrap_err().contains("missing field `signatures`"));
        assert!(envelope("Verification for r/img --").unwrap_err().contains("not a DSSE envelope"));
    }

    #[test]
    fn a_statement_needs_its_type_predicate_type_and_predicate() {
        let sbom = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://cyclonedx.org/bom",
            "subject":[{"name":"r/img","digest":{"sha256":"c7"}}],"predicate":{"bomFormat":"CycloneDX"}}"#;
        let read = statement(sbom).unwrap();
        assert_eq!(read.predicate_type, "https://cyclonedx.org/bom");
        assert_eq!(read.predicate["bomFormat"], "CycloneDX", "the predicate, untouched");
        let no_type = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicate":{}}"#;
        assert!(statement(no_type).unwrap_err().contains("missing field `predicateType`"));
        let no_predicate =
            br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://cyclonedx.org/bom"}"#;
        assert!(statement(no_predicate).unwrap_err().contains("missing field `predicate`"));
        let other = br#"{"_type":"https://example.com/Claim","predicateType":"x","predicate":{}}"#;
        assert!(statement(other).unwrap_err().contains("not an in-toto statement"));
    }
}
