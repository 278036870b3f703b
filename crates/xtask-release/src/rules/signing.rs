//! How a release signs, decided before anything is built (pure: the environment comes in as a
//! lookup). A key from the environment (`COSIGN_PRIVATE_KEY`, `COSIGN_PASSWORD`), or keyless with
//! GitHub Actions' OIDC token — and keyless only with the transparency log: a keyless signature is
//! made with a certificate that lives ten minutes, so once it has expired only a Rekor entry (a
//! signed timestamp of when it was made) lets anyone verify it. A key-signed release verifies with
//! the public key whenever, so it may sign offline (`tlog-upload = false`).
//!
//! A keyless signature verifies only by the exact signer it must have (`Identity`), never by the
//! repository alone: the run that signs verifies its own workflow file and ref
//! (`GITHUB_WORKFLOW_REF`, `--certificate-identity`); the audit and the release notes accept a
//! release workflow at a release tag of the tag pattern, or `ci.yml` at the edge branch
//! (`identity_regexp`), and GitHub's OIDC issuer. Any other workflow file, ref, branch or
//! repository (a fork) does not verify.

use anyhow::{bail, Context, Result};

use crate::rules::versioning::TagPattern;

/// The OIDC issuer of GitHub Actions' identity tokens, which keyless certificates name.
pub const GITHUB_OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The workflow files that sign a release at its tag: this repository's and the generated one.
pub const RELEASE_WORKFLOWS: [&str; 2] = ["release.yml", "xtask-release.yml"];
/// The workflow file whose edge job signs `edge` and `sha-…` at the edge branch.
pub const EDGE_WORKFLOW: &str = "ci.yml";
/// The workflow files that attest a retraction (verified by the retraction run itself).
pub const RETRACT_WORKFLOWS: [&str; 2] = ["retract.yml", "xtask-retract.yml"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `COSIGN_PRIVATE_KEY` / `COSIGN_PASSWORD`; verified with the derived public key.
    Key,
    /// A Fulcio certificate of a GitHub workflow (`id-token: write`), verified by its identity.
    Keyless(Identity),
}

/// Whose keyless signatures verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// This run's workflow (`GITHUB_WORKFLOW_REF`: `owner/repo/.github/workflows/FILE@REF`; empty
    /// when unset, which `check_signer` refuses): what it signs, it verifies by exactly that.
    Run { repository: String, workflow_ref: String },
    /// The releases of a repository, read back later (audit, release notes).
    Releases(Signers),
}

/// The signers of a repository's releases: a release workflow (`RELEASE_WORKFLOWS`) at a tag of
/// the tag pattern, and `EDGE_WORKFLOW` at the edge branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signers {
    /// `owner/name` (`GITHUB_REPOSITORY`).
    pub repository: String,
    pub tag_pattern: TagPattern,
    pub edge_branch: String,
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
        let workflow_ref = env("GITHUB_WORKFLOW_REF").unwrap_or_default();
        return Ok(Mode::Keyless(Identity::Run { repository, workflow_ref }));
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
    if matches!(mode, Mode::Keyless(_)) && !tlog_upload {
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

/// Refuses to sign keyless from a workflow whose signatures the audit and the release notes would
/// not accept (preflight, before anything is built): a release workflow (`RELEASE_WORKFLOWS`) at a
/// release tag, `EDGE_WORKFLOW` at a branch (the edge), a retraction workflow
/// (`RETRACT_WORKFLOWS`) at a `retracted/` tag or, started by hand, a branch.
pub fn check_signer(mode: &Mode) -> Result<()> {
    let Mode::Keyless(Identity::Run { repository, workflow_ref }) = mode else { return Ok(()) };
    if workflow_ref.is_empty() {
        bail!(
            "GITHUB_WORKFLOW_REF is not set, but this run signs keyless under GitHub Actions: its signatures are \
             verified by the workflow file and ref that made them, which GitHub names there"
        );
    }
    let (file, git_ref) = workflow_ref
        .strip_prefix(&format!("{repository}/.github/workflows/"))
        .and_then(|rest| rest.split_once('@'))
        .unwrap_or_default();
    let retraction = git_ref.starts_with("refs/tags/retracted/");
    let signs = if RELEASE_WORKFLOWS.contains(&file) {
        git_ref.starts_with("refs/tags/") && !retraction
    } else if file == EDGE_WORKFLOW {
        git_ref.starts_with("refs/heads/")
    } else if RETRACT_WORKFLOWS.contains(&file) {
        retraction || git_ref.starts_with("refs/heads/")
    } else {
        false
    };
    if !signs {
        bail!(
            "this run's workflow {workflow_ref} is not one whose keyless signatures verify: a release is signed by \
             .github/workflows/{} of {repository} at its release tag ({EDGE_WORKFLOW} at the edge branch, {} at a \
             retraction tag), and the audit accepts no other file or ref. Run it from one of those files \
             (`cargo xtask init --workflows` writes xtask-release.yml and xtask-retract.yml), or sign with a key \
             (COSIGN_PRIVATE_KEY and COSIGN_PASSWORD)",
            RELEASE_WORKFLOWS.join(" or "),
            RETRACT_WORKFLOWS.join(" or ")
        );
    }
    Ok(())
}

/// The certificate identity (RE2, anchored: what `--certificate-identity-regexp` gets) of
/// `signers`' releases: `https://github.com/OWNER/NAME/.github/workflows/FILE@REF` with FILE one of
/// `RELEASE_WORKFLOWS` and REF a tag of the tag pattern, or FILE `EDGE_WORKFLOW` and REF the edge
/// branch. The repository, file and branch names are matched literally.
pub fn identity_regexp(signers: &Signers) -> String {
    const SEMVER: &str = r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?";
    const PACKAGE: &str = "[A-Za-z0-9_-]+";
    let tag = match signers.tag_pattern {
        TagPattern::Bare => SEMVER.to_owned(),
        TagPattern::V => format!("v{SEMVER}"),
        TagPattern::PackageV => format!("{PACKAGE}-v{SEMVER}"),
        TagPattern::PackageDash => format!("{PACKAGE}-{SEMVER}"),
    };
    let release: Vec<String> = RELEASE_WORKFLOWS.iter().map(|file| literal(file)).collect();
    format!(
        r"^https://github\.com/{}/\.github/workflows/(?:(?:{})@refs/tags/{tag}|{}@refs/heads/{})$",
        literal(&signers.repository),
        release.join("|"),
        literal(EDGE_WORKFLOW),
        literal(&signers.edge_branch)
    )
}

/// `text` matched literally in an RE2 (and Rust `regex`) expression.
fn literal(text: &str) -> String {
    text.chars().flat_map(|c| if r"\.+*?()|[]{}^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

/// The `cosign verify` options that check a signature made in `mode`: the public key, or the
/// certificate's exact identity (`Identity`) and GitHub's OIDC issuer; the transparency log is
/// skipped only when nothing was uploaded to it (key mode offline).
pub fn verify_options(mode: &Mode, tlog_upload: bool, public_key: &str) -> Vec<String> {
    let mut args = Vec::new();
    if !tlog_upload {
        args.push("--insecure-ignore-tlog=true".into());
    }
    match mode {
        Mode::Key => args.extend(["--key".into(), public_key.to_owned()]),
        Mode::Keyless(identity) => {
            args.extend(match identity {
                Identity::Run { workflow_ref, .. } => {
                    ["--certificate-identity".into(), format!("https://github.com/{workflow_ref}")]
                }
                Identity::Releases(signers) => ["--certificate-identity-regexp".into(), identity_regexp(signers)],
            });
            args.extend(["--certificate-oidc-issuer".into(), GITHUB_OIDC_ISSUER.into()]);
        }
    }
    args
}

/// cosign's options for a registry that speaks plain HTTP (none for any other): sign, attest, tree
/// and verify-attestation honour `--allow-http-registry`, but `verify` reaches the registry over
/// HTTPS unless it also gets `--allow-insecure-registry` (`verify_signature`).
pub fn http_options(plain_http: bool, verify_signature: bool) -> Vec<String> {
    match (plain_http, verify_signature) {
        (false, _) => Vec::new(),
        (true, false) => vec!["--allow-http-registry=true".to_owned()],
        (true, true) => vec!["--allow-http-registry=true".to_owned(), "--allow-insecure-registry=true".to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::credentials::lookup;

    const ACTIONS: [(&str, &str); 4] = [
        ("GITHUB_ACTIONS", "true"),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"),
        ("GITHUB_REPOSITORY", "acme/beacon"),
        ("GITHUB_WORKFLOW_REF", "acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3"),
    ];

    /// The identity docs/src/signing.md shows, and the audit of `acme/beacon` passes cosign
    /// (xtask/tests/workflows.rs checks the page shows exactly this).
    const RELEASES_OF_ACME_BEACON: &str = r"^https://github\.com/acme/beacon/\.github/workflows/(?:(?:release\.yml|xtask-release\.yml)@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?|ci\.yml@refs/heads/main)$";

    fn run(workflow_ref: &str) -> Mode {
        Mode::Keyless(Identity::Run { repository: "acme/beacon".into(), workflow_ref: workflow_ref.into() })
    }

    fn releases(tag_pattern: TagPattern, edge_branch: &str) -> Mode {
        let repository = "acme/beacon".into();
        Mode::Keyless(Identity::Releases(Signers { repository, tag_pattern, edge_branch: edge_branch.into() }))
    }

    #[test]
    fn the_mode_comes_from_the_environment() {
        let key = [("COSIGN_PRIVATE_KEY", "-----BEGIN"), ("COSIGN_PASSWORD", "")];
        assert_eq!(mode(lookup(&key)).unwrap(), Mode::Key);
        assert_eq!(mode(lookup(&ACTIONS)).unwrap(), run("acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3"));
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
    fn a_signing_run_verifies_exactly_its_own_workflow_file_and_ref() {
        let release = run("acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3");
        assert_eq!(
            verify_options(&release, true, "cosign.pub"),
            [
                "--certificate-identity",
                "https://github.com/acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3",
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
    fn only_the_workflows_whose_signatures_verify_may_sign_keyless() {
        let workflows = "acme/beacon/.github/workflows";
        for signs in [
            "release.yml@refs/tags/v1.2.3",
            "xtask-release.yml@refs/tags/ledger-v1.2.3-rc.1",
            "ci.yml@refs/heads/main",
            "retract.yml@refs/tags/retracted/v1.2.3",
            "retract.yml@refs/heads/main",
            "xtask-retract.yml@refs/tags/retracted/v1.2.3",
        ] {
            check_signer(&run(&format!("{workflows}/{signs}"))).unwrap();
        }
        for refused in [
            "deploy.yml@refs/tags/v1.2.3",
            "release.yml@refs/heads/feature",
            "release.yml@refs/tags/retracted/v1.2.3",
            "ci.yml@refs/tags/v1.2.3",
            "retract.yml@refs/tags/v1.2.3",
            "release.yml@refs/pull/7/merge",
        ] {
            let err = check_signer(&run(&format!("{workflows}/{refused}"))).unwrap_err().to_string();
            assert!(err.contains("is not one whose keyless signatures verify"), "{refused}: {err}");
            assert!(err.contains("release.yml or xtask-release.yml") && err.contains("with a key"), "{err}");
        }
        let fork = run("mallory/beacon/.github/workflows/release.yml@refs/tags/v1.2.3");
        assert!(check_signer(&fork).is_err(), "another repository's workflow");
        let err = check_signer(&run("")).unwrap_err().to_string();
        assert!(err.contains("GITHUB_WORKFLOW_REF is not set"), "{err}");
        check_signer(&Mode::Key).unwrap();
    }

    /// What cosign does with `--certificate-identity-regexp` (Go's RE2; the `regex` crate reads the
    /// same syntax): a signature verifies when the certificate's identity matches.
    fn verifies(mode: &Mode, identity: &str) -> bool {
        let options = verify_options(mode, true, "");
        let [flag, pattern, issuer_flag, issuer] = options.as_slice() else { panic!("{options:?}") };
        assert_eq!(
            (flag.as_str(), issuer_flag.as_str(), issuer.as_str()),
            ("--certificate-identity-regexp", "--certificate-oidc-issuer", GITHUB_OIDC_ISSUER)
        );
        regex::Regex::new(pattern).unwrap().is_match(identity)
    }

    #[test]
    fn the_audit_accepts_only_the_release_workflow_at_a_release_tag_and_ci_at_the_edge_branch() {
        let audit = releases(TagPattern::V, "main");
        assert_eq!(verify_options(&audit, true, "")[1], RELEASES_OF_ACME_BEACON);
        let at = |path: &str| format!("https://github.com/acme/beacon/.github/workflows/{path}");
        for verifies_ in
            ["release.yml@refs/tags/v1.2.3", "xtask-release.yml@refs/tags/v1.2.3-rc.1", "ci.yml@refs/heads/main"]
        {
            assert!(verifies(&audit, &at(verifies_)), "{verifies_}");
        }
        for (shape, identity) in [
            ("another workflow file", at("audit.yml@refs/tags/v1.2.3")),
            ("a retraction's workflow", at("retract.yml@refs/tags/retracted/v1.2.3")),
            ("another ref", at("release.yml@refs/heads/main")),
            ("a tag of another shape", at("release.yml@refs/tags/nightly")),
            ("a tag with more after it", at("release.yml@refs/tags/v1.2.3/x")),
            ("a feature branch", at("ci.yml@refs/heads/feature/x")),
            ("a branch named like the edge", at("ci.yml@refs/heads/main-x")),
            ("a pull request", at("ci.yml@refs/pull/7/merge")),
            ("a fork", "https://github.com/mallory/beacon/.github/workflows/release.yml@refs/tags/v1.2.3".into()),
            (
                "a name extended",
                "https://github.com/acme/beacon-x/.github/workflows/release.yml@refs/tags/v1.2.3".into(),
            ),
            (
                "another host",
                "https://github.com.evil/acme/beacon/.github/workflows/release.yml@refs/tags/v1.2.3".into(),
            ),
            ("a file whose dot is any character", at("releaseXyml@refs/tags/v1.2.3")),
        ] {
            assert!(!verifies(&audit, &identity), "{shape} must not verify: {identity}");
        }
        // The tag pattern and the edge branch decide the refs; names are matched literally.
        let independent = releases(TagPattern::PackageV, "trunk");
        assert!(verifies(&independent, &at("release.yml@refs/tags/beacon-v1.2.3")));
        assert!(verifies(&independent, &at("ci.yml@refs/heads/trunk")));
        assert!(!verifies(&independent, &at("release.yml@refs/tags/v1.2.3")));
        assert!(!verifies(&independent, &at("ci.yml@refs/heads/main")));
        let bare = releases(TagPattern::Bare, "release+1.x");
        assert!(
            verifies(&bare, &at("release.yml@refs/tags/1.2.3"))
                && !verifies(&bare, &at("release.yml@refs/tags/v1.2.3"))
        );
        assert!(
            verifies(&bare, &at("ci.yml@refs/heads/release+1.x"))
                && !verifies(&bare, &at("ci.yml@refs/heads/releasee1.x"))
        );
    }
}
