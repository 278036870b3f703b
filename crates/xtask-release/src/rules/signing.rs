//! How a release signs, decided before anything is built (pure: the environment comes in as a
//! lookup). A key from the environment (`COSIGN_PRIVATE_KEY`, `COSIGN_PASSWORD`), or keyless with
//! GitHub Actions' OIDC token — and keyless only with the transparency log: a keyless signature is
//! made with a certificate that lives ten minutes, so once it has expired only a Rekor entry (a
//! signed timestamp of when it was made) lets anyone verify it. A key-signed release verifies with
//! the public key whenever, so it may sign offline (`tlog-upload = false`).

use anyhow::{bail, Context, Result};

/// The OIDC issuer of GitHub Actions' identity tokens, which keyless certificates name.
pub const GITHUB_OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `COSIGN_PRIVATE_KEY` / `COSIGN_PASSWORD`; verified with the derived public key.
    Key,
    /// Fulcio certificate for this workflow's identity (`id-token: write`).
    Keyless { repository: String },
}

/// How to sign, from the environment.
pub fn mode(env: impl Fn(&str) -> Option<String>) -> Result<Mode> {
    if env("COSIGN_PRIVATE_KEY").is_some_and(|k| !k.is_empty()) {
        if env("COSIGN_PASSWORD").is_none() {
            bail!("COSIGN_PRIVATE_KEY is set but COSIGN_PASSWORD is not: set it (empty if the key has no password)");
        }
        return Ok(Mode::Key);
    }
    let on_actions = env("GITHUB_ACTIONS").as_deref() == Some("true");
    if on_actions && env("ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
        let repository = env("GITHUB_REPOSITORY").context("GITHUB_REPOSITORY is not set under GitHub Actions")?;
        return Ok(Mode::Keyless { repository });
    }
    bail!(
        "signing is enabled but there is no key: set COSIGN_PRIVATE_KEY and COSIGN_PASSWORD (`cosign generate-key-pair`), \
         run under GitHub Actions with `permissions: id-token: write` for keyless signing, \
         or set enabled = false in [workspace.metadata.xtask.signing]"
    )
}

/// Refuses a signing setup whose signatures would stop verifying: keyless without the
/// transparency log. Key-based signing is allowed either way.
pub fn check_durable(mode: &Mode, tlog_upload: bool) -> Result<()> {
    if matches!(mode, Mode::Keyless { .. }) && !tlog_upload {
        bail!(
            "workspace.metadata.xtask.signing.tlog-upload is false, but this run signs keyless (GitHub Actions' \
             OIDC identity, no COSIGN_PRIVATE_KEY): its certificate expires ten minutes after signing, and \
             without a transparency-log entry nobody could verify the signatures after that. Set \
             tlog-upload = true under [workspace.metadata.xtask.signing] in the root Cargo.toml, or sign with a \
             key (COSIGN_PRIVATE_KEY and COSIGN_PASSWORD from the workflow's secrets)"
        );
    }
    Ok(())
}

/// The `cosign verify` options that check a signature made in `mode`: the public key, or the
/// workflow identity and issuer of the certificate; the transparency log is skipped only when
/// nothing was uploaded to it (key mode offline).
pub fn verify_options(mode: &Mode, tlog_upload: bool, public_key: &str) -> Vec<String> {
    let mut args = Vec::new();
    if !tlog_upload {
        args.push("--insecure-ignore-tlog=true".into());
    }
    match mode {
        Mode::Key => args.extend(["--key".into(), public_key.to_owned()]),
        Mode::Keyless { repository } => args.extend([
            "--certificate-identity-regexp".into(),
            format!("^https://github.com/{repository}/"),
            "--certificate-oidc-issuer".into(),
            GITHUB_OIDC_ISSUER.into(),
        ]),
    }
    args
}

/// The predicate type of cosign 3's signature bundles (every other bundle is an attestation).
const SIGNATURE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What each referrer line of a `cosign tree` (cosign 3) says: the kind it is listed under (the
/// bundle's predicate type), and the referrer `repo@digest`; with the whole line.
fn tree_entries(tree: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    tree.lines().filter_map(|line| {
        let (kind, reference) = line.split_once(" artifacts via OCI referrer: ")?;
        Some((line, kind, reference.trim()))
    })
}

/// The referrers `cosign tree` (cosign 3) lists: its signatures (`SIGNATURE`) or else its
/// attestations (any other predicate type), `repo@digest` each.
pub fn bundle_referrers(tree: &str, attestations: bool) -> Vec<String> {
    tree_entries(tree)
        .filter(|(_, kind, _)| kind.contains(SIGNATURE) != attestations)
        .map(|(_, _, reference)| reference.to_owned())
        .collect()
}

/// A referrer `cosign tree` (cosign 3) lists under the bare Sigstore bundle type rather than the
/// predicate type cosign annotates every bundle with: it could not read the bundle's manifest.
pub fn unnamed_bundle(tree: &str) -> Option<&str> {
    tree_entries(tree).find(|(_, kind, _)| kind.contains("vnd.dev.sigstore.bundle")).map(|(line, _, _)| line)
}

/// Whether a `cosign tree` (cosign 3) lists a bundle of `what` for its subject: its signature
/// (`signature`), or its attestation of a predicate type (`cyclonedx`, `slsaprovenance`).
pub fn lists_bundle(tree: &str, what: &str) -> bool {
    let marker = match what {
        "signature" => SIGNATURE,
        "cyclonedx" => "https://cyclonedx.org/bom",
        "slsaprovenance" => "https://slsa.dev/provenance/",
        other => other,
    };
    tree_entries(tree).any(|(_, kind, _)| kind.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::credentials::lookup;

    const ACTIONS: [(&str, &str); 3] = [
        ("GITHUB_ACTIONS", "true"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
        ("GITHUB_REPOSITORY", "acme/beacon"),
    ];

    #[test]
    fn the_mode_comes_from_the_environment() {
        let key = [("COSIGN_PRIVATE_KEY", "-----BEGIN"), ("COSIGN_PASSWORD", "")];
        assert_eq!(mode(lookup(&key)).unwrap(), Mode::Key);
        assert_eq!(mode(lookup(&ACTIONS)).unwrap(), Mode::Keyless { repository: "acme/beacon".into() });
        let both = [ACTIONS.as_slice(), key.as_slice()].concat();
        assert_eq!(mode(lookup(&both)).unwrap(), Mode::Key, "a key wins over the OIDC identity");
        let err = mode(lookup(&[("COSIGN_PRIVATE_KEY", "k")])).unwrap_err().to_string();
        assert!(err.contains("COSIGN_PASSWORD"), "{err}");
        let err = mode(lookup(&[("GITHUB_ACTIONS", "true")])).unwrap_err().to_string();
        assert!(err.contains("id-token: write") && err.contains("enabled = false"), "{err}");
    }

    #[test]
    fn keyless_needs_the_transparency_log_a_key_does_not() {
        let keyless = mode(lookup(&ACTIONS)).unwrap();
        let err = check_durable(&keyless, false).unwrap_err().to_string();
        assert!(err.contains("workspace.metadata.xtask.signing.tlog-upload"), "names the key: {err}");
        assert!(err.contains("tlog-upload = true") && err.contains("COSIGN_PRIVATE_KEY"), "names both fixes: {err}");
        check_durable(&keyless, true).unwrap();
        check_durable(&Mode::Key, false).unwrap();
        check_durable(&Mode::Key, true).unwrap();
    }

    #[test]
    fn verify_options_match_what_was_written() {
        let keyless = Mode::Keyless { repository: "acme/beacon".into() };
        assert_eq!(
            verify_options(&keyless, true, "cosign.pub"),
            [
                "--certificate-identity-regexp",
                "^https://github.com/acme/beacon/",
                "--certificate-oidc-issuer",
                GITHUB_OIDC_ISSUER
            ]
        );
        assert_eq!(verify_options(&Mode::Key, true, "cosign.pub"), ["--key", "cosign.pub"]);
        assert_eq!(
            verify_options(&Mode::Key, false, "cosign.pub"),
            ["--insecure-ignore-tlog=true", "--key", "cosign.pub"]
        );
    }

    #[test]
    fn cosign_3_referrers_are_read_from_its_tree() {
        let tree = "📦 Supply Chain Security Related artifacts for an image: r/img@sha256:c7\n\
                    └── 🔗 https://slsa.dev/provenance/v0.2 artifacts via OCI referrer: r/img@sha256:25\n\
                    \x20  └── 🍒 sha256:e7\n\
                    └── 🔗 https://cyclonedx.org/bom artifacts via OCI referrer: r/img@sha256:26\n\
                    └── 🔗 https://sigstore.dev/cosign/sign/v1 artifacts via OCI referrer: r/img@sha256:e0\n\
                    \x20  └── 🍒 sha256:1d\n";
        assert_eq!(bundle_referrers(tree, false), ["r/img@sha256:e0"]);
        assert_eq!(bundle_referrers(tree, true), ["r/img@sha256:25", "r/img@sha256:26"]);
        assert!(bundle_referrers("No Supply Chain Security Related Artifacts found", false).is_empty());
        assert!(["signature", "cyclonedx", "slsaprovenance"].iter().all(|what| lists_bundle(tree, what)));
        let signed_only: Vec<&str> =
            tree.lines().filter(|l| !l.contains("/bom") && !l.contains("/provenance/")).collect();
        let signed_only = signed_only.join("\n");
        assert!(lists_bundle(&signed_only, "signature"));
        assert!(!lists_bundle(&signed_only, "cyclonedx") && !lists_bundle(&signed_only, "slsaprovenance"));

        assert_eq!(unnamed_bundle(tree), None);
        let unread = "└── 🔗 application/vnd.dev.sigstore.bundle.v0.3+json artifacts via OCI referrer: r/img@sha256:e0";
        assert_eq!(unnamed_bundle(&format!("{tree}{unread}\n")), Some(unread));
    }
}
